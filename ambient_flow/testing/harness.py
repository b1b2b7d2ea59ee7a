"""Run the host's graphs in-process: live on real sockets, over a capture, or over a list."""

from __future__ import annotations

import dataclasses
import socket
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import bytewax.operators as op
import zmq
from bytewax.dataflow import Dataflow
from bytewax.testing import TestingSink, TestingSource

from ambient_flow.auth import IssuedCredential
from ambient_flow.client.transport import CurveKeys
from ambient_flow.config import Settings
from ambient_flow.graph.enrich import build_enrichment
from ambient_flow.graph.host import HostGraph
from ambient_flow.graph.ingest import attach_sessions, build_ingest
from ambient_flow.graph.replay import build_replay, replay_settings
from ambient_flow.graph.spacetimedb import attach_spacetimedb
from ambient_flow.host import Host
from ambient_flow.models.bundle import Models
from ambient_flow.operators.attribution import Enrichment
from ambient_flow.operators.events import ClientEvent
from ambient_flow.operators.ingest import IngestItem
from ambient_flow.protocol.messages import AudioChunk, RawMessage, Rejected, VideoFrame
from ambient_flow.runtime import HostRuntime, run_dataflow

__all__ = [
    "FlowOutputs",
    "LiveHost",
    "free_port",
    "free_ports",
    "run_capture",
    "run_messages",
    "test_settings",
]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    return free_ports(1)[0]


def free_ports(n: int) -> list[int]:
    """`n` distinct free ports (all held open while choosing, so none repeats)."""
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [int(s.getsockname()[1]) for s in socks]
    finally:
        for s in socks:
            s.close()


def test_settings(data_dir: str | Path, **overrides: Any) -> Settings:
    """Settings for a test host: loopback, free ports, no metrics port, data under `data_dir`."""
    audio, video, control, tcp, pub = free_ports(5)
    base: dict[str, Any] = {
        "bind": "127.0.0.1",
        "audio_port": audio,
        "video_port": video,
        "control_port": control,
        "tcp_port": tcp,
        "pub_port": pub,
        "metrics_port": 0,
        "enrich": False,  # tests of ingest opt in to the models with enrich=True
        "data_dir": str(data_dir),
        "status_interval": 0.2,
    }
    base.update(overrides)
    return Settings(**base)


test_settings.__test__ = False  # type: ignore[attr-defined]  # not a pytest test


@dataclass
class FlowOutputs:
    """Everything ingest emitted, as `(client, item)` pairs in emission order, and the
    enrichments when the enrichment ran."""

    items: list[tuple[str, IngestItem]] = field(default_factory=list)
    enrichments: list[tuple[str, Enrichment]] = field(default_factory=list)
    #: The status document at the end of the run (`run_capture` / `run_messages`).
    status: dict[str, Any] = field(default_factory=dict)

    def audio(self, client: str | None = None) -> list[AudioChunk]:
        return [i for c, i in self.items if isinstance(i, AudioChunk) and client in (None, c)]

    def video(self, client: str | None = None) -> list[VideoFrame]:
        return [i for c, i in self.items if isinstance(i, VideoFrame) and client in (None, c)]

    def events(self, kind: str | None = None, client: str | None = None) -> list[ClientEvent]:
        return [
            i
            for c, i in self.items
            if isinstance(i, ClientEvent) and kind in (None, i.kind) and client in (None, c)
        ]

    def rejects(self, reason: str | None = None) -> list[Rejected]:
        return [i for _, i in self.items if isinstance(i, Rejected) and reason in (None, i.reason)]

    def lines(self, event_type: str | None = None, client: str | None = None) -> list[Enrichment]:
        """The enrichments (lines of frames.jsonl), optionally of one type or client."""
        return [
            e
            for c, e in self.enrichments
            if event_type in (None, e.event_type) and client in (None, c)
        ]

    def clients(self) -> list[str]:
        return sorted({c for c, _ in self.items})

    def records(self) -> dict[str, list[dict[str, Any]]]:
        """Per client, each item as a JSON-able record, in order: what replays must reproduce.

        Across clients, order depends on worker scheduling; within a client it is fixed.
        """
        out: dict[str, list[dict[str, Any]]] = {}
        for client, item in self.items:
            out.setdefault(client, []).append(item.to_record())
        return dict(sorted(out.items()))


def _attach(graph: HostGraph, out: FlowOutputs) -> None:
    op.output("test_tap", graph.ingest.items, TestingSink(out.items))
    if graph.enrich is not None:
        op.output("test_enrichments", graph.enrich.enrichments, TestingSink(out.enrichments))


def _collect(graph: HostGraph, runtime: HostRuntime, workers: int) -> FlowOutputs:
    """Run `graph` to its end, collecting every ingest output and the final status."""
    out = FlowOutputs()
    _attach(graph, out)
    try:
        run_dataflow(graph.dataflow, workers)
    finally:
        runtime.close()
    out.status = runtime.telemetry.status()
    return out


def run_capture(
    path: str | Path,
    data_dir: str | Path | None = None,
    *,
    workers: int = 1,
    settings: Settings | None = None,
    models: Models | None = None,
) -> FlowOutputs:
    """Replay a capture through the replay graph (as fast as possible) and collect outputs.

    By default with the settings recorded in the capture, as `flows.replay` does, and
    without the enrichment (pass settings with `enrich=True` to run the models, and
    `models` to use given ones, e.g. `testing.fakes`).
    """
    data = Path(data_dir) if data_dir is not None else Path(tempfile.mkdtemp(prefix="af-replay-"))
    runtime = HostRuntime(
        settings=settings or replay_settings(path, Settings(enrich=False), str(data)),
        replay=True,
    )
    return _collect(build_replay(runtime, path, models), runtime, workers)


def run_messages(
    messages: Iterable[RawMessage],
    data_dir: str | Path | None = None,
    *,
    settings: Settings | None = None,
    workers: int = 1,
    models: Models | None = None,
) -> FlowOutputs:
    """Run raw messages (e.g. from `testing.messages`) through the ingest graph (and the
    enrichment when `settings.enrich`)."""
    data = Path(data_dir) if data_dir is not None else Path(tempfile.mkdtemp(prefix="af-msgs-"))
    base = settings or Settings(data_dir=str(data), metrics_port=0, enrich=False)
    runtime = HostRuntime(
        settings=dataclasses.replace(base, data_dir=str(data), record=""), replay=True
    )
    flow = Dataflow("ambient_test")
    ingest = build_ingest(
        flow, runtime, {"messages_in": TestingSource(list(messages))}, write_sessions=False
    )
    enrich = build_enrichment(runtime, ingest, models) if runtime.settings.enrich else None
    attach_sessions(runtime, ingest, enrich.boundaries if enrich is not None else None)
    attach_spacetimedb(runtime, ingest, enrich)
    return _collect(HostGraph(flow, ingest, enrich), runtime, workers)


class LiveHost(Host):
    """The live graph on real sockets in a background thread; a context manager.

    An `ambient_flow.Host` on loopback and free ports, with everything ingest (and the
    enrichment) emits collected in `outputs`. The graph is built at construction, so a
    test can attach steps (`extend`, or `graph` / `streams` directly) before `start()`.
    `stop()` (or leaving the `with` block) ends the sources, lets every stateful step
    flush, joins the thread and closes the ZeroMQ contexts, so nothing leaks.
    """

    def __init__(
        self,
        data_dir: str | Path,
        *,
        settings: Settings | None = None,
        workers: int = 1,
        clock: Callable[[], int] | None = None,
        models: Models | None = None,
        extend: Callable[[HostGraph, HostRuntime], None] | None = None,
        credentials: IssuedCredential | None = None,
        **overrides: Any,
    ) -> None:
        #: What `request` authenticates with (`--auth token|curve`).
        self.credentials = credentials
        self.outputs = FlowOutputs()

        def attach(graph: HostGraph, runtime: HostRuntime) -> None:
            if extend is not None:
                extend(graph, runtime)
            _attach(graph, self.outputs)

        super().__init__(
            settings or test_settings(data_dir, **overrides),
            models=models,
            workers=workers,
            clock=clock,
            extend=attach,
        )
        self.graph: HostGraph
        self.runtime: HostRuntime
        graph = self.prepare()
        self.flow = graph.dataflow
        self.streams = graph.ingest
        self.error: BaseException | None = None
        self._ctx: zmq.Context[Any] | None = None

    # -- lifecycle --------------------------------------------------------------------
    def start(self, timeout: float = 10.0) -> LiveHost:
        try:
            super().start(timeout)
        except BaseException as exc:  # raised again by stop(), as a flow's error is
            self.error = exc
            raise
        return self

    def stop(self, timeout: float = 10.0) -> FlowOutputs:  # type: ignore[override]
        try:
            super().stop(timeout)
        except BaseException as exc:
            self.error = self.error or exc
        finally:
            if self._ctx is not None:
                self._ctx.destroy(linger=0)  # closes any client socket a test left open
                self._ctx = None
        if self.error is not None:
            raise self.error
        return self.outputs

    def __enter__(self) -> LiveHost:
        return self.start()

    # -- talking to it ----------------------------------------------------------------
    @property
    def context(self) -> zmq.Context[Any]:
        """A client-side context, separate from the host's (as a real client would have)."""
        if self._ctx is None:
            self._ctx = zmq.Context()
        return self._ctx

    def endpoint(self, channel: str) -> str:
        port = getattr(self.settings, f"{channel}_port")
        return f"tcp://127.0.0.1:{port}"

    def request(self, body: dict[str, Any], timeout: float = 2.0) -> dict[str, Any]:
        """One control request on a fresh REQ socket; TimeoutError if no reply. With
        `credentials`, as that client (its keys under `--auth curve`, else its token)."""
        sock = self.context.socket(zmq.REQ)
        sock.setsockopt(zmq.LINGER, 0)
        cred = self.credentials
        if cred is not None and self.settings.auth == "curve":
            CurveKeys(cred.server_public, cred.curve_public, cred.curve_secret).apply(sock)
        elif cred is not None and "token" not in body:
            body = {**body, "token": cred.token}
        try:
            sock.connect(self.endpoint("control"))
            sock.send_json(body)
            if not sock.poll(int(timeout * 1000)):
                raise TimeoutError(f"no reply to {body}")
            reply = sock.recv_json()
            if not isinstance(reply, dict):
                raise TypeError(f"control reply is not an object: {reply!r:.100}")
            return reply
        finally:
            sock.close(linger=0)

    def push(self, channel: str) -> zmq.Socket[Any]:
        """A connected PUSH socket to the audio or video port (caller closes it)."""
        sock: zmq.Socket[Any] = self.context.socket(zmq.PUSH)
        sock.setsockopt(zmq.LINGER, 0)
        sock.connect(self.endpoint(channel))
        return sock

    def wait_for(self, predicate: Callable[[FlowOutputs], bool], timeout: float = 5.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            error = self.error or self._error
            if error is not None:
                raise error
            if predicate(self.outputs):
                return
            time.sleep(0.01)
        raise TimeoutError(f"condition not met within {timeout} s")
