"""The live host: `python -m bytewax.run flows.live` and `ambient-flow live`.

Binds audio PULL :5555, video PULL :5556, control REP :5557 and raw TCP :5558 on all
interfaces by default, writes sessions under `data/`, status.json every 2 s, and serves
metrics on :9108.
"""

from __future__ import annotations

import ipaddress
import logging

import bytewax.operators as op
from bytewax.dataflow import Dataflow
from bytewax.inputs import Source

from ambient_flow.config import Settings
from ambient_flow.graph.enrich import build_enrichment
from ambient_flow.graph.host import HostGraph, configure_logging, one_of_several_processes
from ambient_flow.graph.ingest import attach_sessions, build_ingest
from ambient_flow.graph.spacetimedb import attach_spacetimedb
from ambient_flow.memory import MemoryKeeper
from ambient_flow.models.bundle import Models
from ambient_flow.ports import check_ports
from ambient_flow.protocol.messages import RawMessage
from ambient_flow.runtime import HostRuntime
from ambient_flow.sinks.results import ResultsSink
from ambient_flow.sources.control import ControlSource
from ambient_flow.sources.tcp import TcpSource
from ambient_flow.sources.zmq_pull import ZmqPullSource
from ambient_flow.status.host_run import HostRunFile
from ambient_flow.status.reporter import StatusReporter

__all__ = ["build_live", "is_loopback", "keep_memory", "live_flow", "live_sources", "warn_if_open"]

logger = logging.getLogger("ambient_flow.live")


def live_sources(runtime: HostRuntime) -> dict[str, Source[RawMessage]]:
    """The sources a live host binds: ZeroMQ audio/video, control, and raw TCP."""
    s = runtime.settings
    sources: dict[str, Source[RawMessage]] = {
        "zmq_in": ZmqPullSource(
            runtime, {"audio": s.endpoint(s.audio_port), "video": s.endpoint(s.video_port)}
        ),
        "control_in": ControlSource(runtime, s.endpoint(s.control_port)),
    }
    if s.tcp_port:
        sources["tcp_in"] = TcpSource(runtime, s.bind, s.tcp_port)
    return sources


def build_live(runtime: HostRuntime, models: Models | None = None) -> HostGraph:
    """The live dataflow for `runtime` (models built from its settings unless given)."""
    keep_memory(runtime)
    warn_if_open(runtime)
    if runtime.host_run is None:
        runtime.host_run = HostRunFile(runtime.settings.data_dir).start()
    runtime.telemetry.section("host_run", runtime.host_run.to_dict())
    dataflow = Dataflow("ambient_live")
    op.input("status", dataflow, StatusReporter(runtime))
    ingest = build_ingest(dataflow, runtime, live_sources(runtime), write_sessions=False)
    enrich = build_enrichment(runtime, ingest, models) if runtime.settings.enrich else None
    attach_sessions(runtime, ingest, enrich.boundaries if enrich is not None else None)
    attach_spacetimedb(runtime, ingest, enrich)
    if enrich is not None and runtime.settings.tcp_port:
        # Results back on the TCP connections that asked for them in their hello.
        op.output("results", enrich.enrichments, ResultsSink(runtime))
    return HostGraph(dataflow, ingest, enrich)


def keep_memory(runtime: HostRuntime) -> None:
    """Cap glibc's arenas before the flow's threads allocate, trim freed native memory
    every `malloc_trim_seconds`, and show the process's memory in status (`memory`)."""
    settings = runtime.settings
    keeper = MemoryKeeper(
        arena_max=settings.malloc_arena_max, trim_seconds=settings.malloc_trim_seconds
    )
    keeper.start()
    runtime.on_close(keeper.stop)
    runtime.telemetry.section("memory", keeper.status)


def warn_if_open(runtime: HostRuntime) -> None:
    """Check the credentials (`--auth token|curve`), or say loudly that anyone may talk."""
    settings = runtime.settings
    if runtime.auth.enabled or is_loopback(settings.bind):
        return
    logger.warning(
        "--auth off and --bind %s: anyone who can reach this host may stream as any client, "
        "end their sessions, read every client's status and subscribe to every transcript "
        "(ports %s). Use --auth token or curve (docs/security.md), or --bind 127.0.0.1.",
        settings.bind,
        ", ".join(
            str(p)
            for p in (
                settings.audio_port,
                settings.video_port,
                settings.control_port,
                settings.tcp_port,
                settings.pub_port if settings.enrich else 0,
                settings.metrics_port,
            )
            if p
        ),
    )


def is_loopback(bind: str) -> bool:
    """Whether an interface to bind is this machine only (`127.x`, `::1`, `localhost`)."""
    host = bind.strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # `*`, a host name, an interface name: assume it is reachable


def live_flow(config: str | None = None) -> Dataflow:
    """What `flows.live.flow` returns: settings from the file/environment, ports checked,
    models loaded and warmed, signals handled.

    The ports are checked first, as `ambient-flow live` does, unless Bytewax runs as one
    of several processes (`-a`): a sibling may then hold a port legitimately, and a
    taken port fails at start with our StartupError (naming the port and the fix) at
    the bottom of Bytewax's traceback.
    """
    settings = Settings.load(config_file=config)
    configure_logging(settings)
    if not one_of_several_processes():
        check_ports(settings)
    runtime = HostRuntime(settings=settings)
    runtime.stop_on_signals()
    return build_live(runtime).dataflow
