"""Live ingest: `python -m bytewax.run flows.live` (settings from AMBIENT_FLOW_* / a TOML file).

Binds audio PULL :5555, video PULL :5556, control REP :5557 and raw TCP :5558 on all
interfaces by default, writes sessions under `data/`, and serves metrics on :9108.
"""

from __future__ import annotations

import dataclasses
import logging

from bytewax.dataflow import Dataflow
from bytewax.inputs import Source

from ambient_flow.config import Settings
from ambient_flow.protocol.messages import RawMessage
from ambient_flow.sources import ControlSource, HostRuntime, TcpSource, ZmqPullSource
from flows.enrich import build_enrichment
from flows.ingest import IngestStreams, build_ingest

__all__ = ["build", "flow", "live_sources"]


def live_sources(runtime: HostRuntime) -> dict[str, Source[RawMessage]]:
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


def build(runtime: HostRuntime) -> tuple[Dataflow, IngestStreams]:
    """The live dataflow for `runtime` and the streams the next stages attach to."""
    dataflow = Dataflow("ambient_live")
    streams = build_ingest(dataflow, runtime, live_sources(runtime))
    if runtime.settings.enrich:
        streams = dataclasses.replace(streams, enrich=build_enrichment(runtime, streams))
    return dataflow, streams


def flow(config: str | None = None) -> Dataflow:
    """Factory for `python -m bytewax.run flows.live` (or `"flows.live:flow('x.toml')"`)."""
    settings = Settings.load(config_file=config)
    if not logging.getLogger().handlers:  # bytewax.run configures no logging of its own
        logging.basicConfig(
            level=settings.log_level.upper(),
            format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        )
    # No port preflight here: with `-i/-a` a sibling process may already hold a port
    # legitimately. A taken port still fails at start with our StartupError (naming the
    # port and the fix) at the bottom of Bytewax's traceback; `ambient-flow live`
    # checks first and prints just that line.
    runtime = HostRuntime(settings=settings)
    runtime.stop_on_signals()
    dataflow, _ = build(runtime)
    return dataflow
