"""The live graph in a background thread, with no test tap, plus lightweight taps.

`ambient_flow.testing.harness.LiveHost` always keeps every ingest output in a list
(what tests want); a benchmark pushing 100k messages must not, so this host builds
the same live graph (`ambient_flow.graph.build_live`) and attaches only what a
section asks for.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import bytewax.operators as op
import zmq

from ambient_flow.graph import HostGraph, IngestStreams
from ambient_flow.models.bundle import Models
from ambient_flow.ports import startup_cause
from ambient_flow.protocol.messages import AudioChunk, VideoFrame
from ambient_flow.runtime import HostRuntime, run_dataflow
from ambient_flow.testing.harness import test_settings

__all__ = ["BenchHost", "LatencyTap", "Tap"]


class Tap:
    """Counts items and remembers first/last tap times (runs on the worker thread).

    Only the worker thread writes; readers on other threads see ints and floats
    whose updates are atomic under the GIL, which is all a progress check needs.
    Gap-filled audio chunks are counted apart (`filled`): they were not sent.
    """

    def __init__(self) -> None:
        self.n = 0
        self.filled = 0
        self.first_ns = 0
        self.last_ns = 0

    def __call__(self, _step: str, item: tuple[str, Any]) -> None:
        now = time.time_ns()
        value = item[1]
        if isinstance(value, AudioChunk) and value.filled:
            self.filled += 1
            return
        if not self.n:
            self.first_ns = now
        self.last_ns = now
        self.n += 1

    @property
    def seconds(self) -> float:
        return (self.last_ns - self.first_ns) / 1e9


class LatencyTap:
    """Per item: tap time minus arrival (`received_ns`) and minus the sender's `ts` (ms)."""

    def __init__(self, kinds: tuple[type, ...] = (AudioChunk, VideoFrame), limit: int = 200_000):
        self.kinds = kinds
        self.limit = limit
        self.source_ms: list[float] = []  # tap - received_ns: inside the flow
        self.e2e_ms: list[float] = []  # tap - sender ts: socket + flow
        self.n = 0

    def __call__(self, _step: str, item: tuple[str, Any]) -> None:
        now = time.time_ns()
        if not isinstance(item[1], self.kinds) or getattr(item[1], "filled", False):
            return
        value: Any = item[1]
        self.n += 1
        if len(self.source_ms) < self.limit:
            self.source_ms.append((now - value.received_ns) / 1e6)
            self.e2e_ms.append(now / 1e6 - value.timestamp_ms)


class BenchHost:
    """The live graph on loopback with free ports, data under `data_dir`; a context manager.

    `overrides` are `Settings` fields on top of `testing.harness.test_settings` (which
    picks distinct free ports) and `hostproc.SIMULATED_CLIENTS` (every simulated client
    shares 127.0.0.1). `workers` is Bytewax's `-w`. `models` (loaded) are used when
    `enrich=True`, so one run loads them once. `sessions=False` leaves out the session
    sink (a diagnostic peer, not the product). `extend(streams, runtime)` adds steps
    before the start.
    """

    def __init__(
        self,
        data_dir: str | Path,
        *,
        models: Models | None = None,
        sessions: bool = True,
        extend: Callable[[IngestStreams, HostRuntime], None] | None = None,
        workers: int = 1,
        **overrides: Any,
    ) -> None:
        from ambient_flow.graph import build_live
        from bench.core.hostproc import SIMULATED_CLIENTS

        self.workers = workers
        for key, value in SIMULATED_CLIENTS.items():  # the senders share one address
            overrides.setdefault(key, value)
        # The production status interval (test_settings uses 0.2 s for fast tests; writing
        # status.json costs O(clients) on the worker, so 0.2 s would skew big runs).
        overrides.setdefault("status_interval", 2.0)
        self.settings = test_settings(data_dir, **overrides)
        self.runtime = HostRuntime(settings=self.settings)
        self.graph = build_live(self.runtime, models) if sessions else self._no_sessions()
        self.flow = self.graph.dataflow
        self.streams = self.graph.ingest
        if extend is not None:
            extend(self.streams, self.runtime)
        self.error: BaseException | None = None
        self._thread: threading.Thread | None = None

    def _no_sessions(self) -> HostGraph:
        """`build_live` minus the session sink: only to measure what the sink costs."""
        from bytewax.dataflow import Dataflow

        from ambient_flow.graph import build_ingest, live_sources
        from ambient_flow.status.reporter import StatusReporter

        if self.settings.enrich:
            raise ValueError("the no-sessions diagnostic host has no enrichment")
        flow = Dataflow("ambient_live_no_sessions")
        op.input("status", flow, StatusReporter(self.runtime))
        ingest = build_ingest(flow, self.runtime, live_sources(self.runtime), write_sessions=False)
        return HostGraph(flow, ingest)

    def tap(self, name: str, stream: Any, fn: Callable[[str, Any], None]) -> None:
        """Attach an inspector to `stream` (call before `start`)."""
        op.inspect(name, stream, fn)

    def endpoint(self, channel: str) -> str:
        return f"tcp://127.0.0.1:{getattr(self.settings, f'{channel}_port')}"

    def start(self, timeout: float = 15.0) -> BenchHost:
        """Run the flow in a thread; return once the control port answers."""
        self._thread = threading.Thread(target=self._main, name="bench-live-host", daemon=True)
        self._thread.start()
        ctx = zmq.Context()
        try:
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                if self.error is not None:
                    raise self.error
                sock = ctx.socket(zmq.REQ)
                sock.setsockopt(zmq.LINGER, 0)
                try:
                    sock.connect(self.endpoint("control"))
                    sock.send_json({"cmd": "get_config"})
                    if sock.poll(300):
                        sock.recv()
                        time.sleep(0.05)  # the data partitions are built in the same activation
                        return self
                finally:
                    sock.close(linger=0)
            raise TimeoutError(f"live host did not come up within {timeout} s")
        finally:
            ctx.term()

    def _main(self) -> None:
        try:
            run_dataflow(self.flow, self.workers)
        except BaseException as exc:  # reported by start()/stop()
            self.error = startup_cause(exc) or exc

    def stop(self, timeout: float = 30.0) -> None:
        self.runtime.stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                raise TimeoutError(f"live host did not stop within {timeout} s")
        self.runtime.close()
        if self.error is not None:
            raise self.error

    def __enter__(self) -> BenchHost:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
