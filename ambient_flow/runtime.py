"""What the sources, operators and sinks of one process share: settings, telemetry,
one `zmq.Context`, a stop signal and the clock. Created by the flow, passed down."""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable, Collection
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any

import zmq
from bytewax.dataflow import Dataflow

from ambient_flow.auth import Authenticator
from ambient_flow.backchannel import BackChannel
from ambient_flow.config import Settings
from ambient_flow.telemetry import Telemetry

__all__ = ["HostRun", "HostRuntime", "run_dataflow"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class HostRun:
    """This run's start and, if there was one, how the previous run ended.

    Attributes:
        started_ns: This run's start (unix ns).
        previous_alive_ns: The previous run's last sign of life (None: no previous run).
        previous_stopped_ns: When the previous run stopped cleanly (None: it did not,
            or there was none).
    """

    started_ns: int
    previous_alive_ns: int | None = None
    previous_stopped_ns: int | None = None

    @property
    def down_s(self) -> float | None:
        """How long no host ran before this one (None: no previous run known)."""
        if self.previous_alive_ns is None:
            return None
        last = self.previous_stopped_ns or self.previous_alive_ns
        return round(max(0, self.started_ns - last) / 1e9, 3)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "down_s": self.down_s}

    @classmethod
    def from_dict(cls, data: object) -> HostRun | None:
        """From a capture's header (None if it holds none or a damaged one)."""
        if not isinstance(data, dict):
            return None
        try:
            return cls(
                started_ns=int(data["started_ns"]),
                previous_alive_ns=_opt_int(data.get("previous_alive_ns")),
                previous_stopped_ns=_opt_int(data.get("previous_stopped_ns")),
            )
        except (KeyError, TypeError, ValueError):
            return None


def _opt_int(value: object) -> int | None:
    return None if value is None else int(value)  # type: ignore[call-overload]


@dataclass(eq=False)
class HostRuntime:
    """Per-process context of a running flow (never a module global).

    Attributes:
        settings: The host's configuration.
        telemetry: Counters and status of this process.
        stop: Set it to end the flow: live sources end at their next batch, so the
            flow reaches EOF and every stateful step flushes (how tests and the CLI stop).
        clock: Wall clock in unix ns; only liveness timers read it (fake it in tests).
        replay: True when items come from a capture; timers then follow the
            recorded arrival times instead of the wall clock, so output is deterministic.
        host_run: This run's start and how the previous one ended: live from the
            host's run file (`status.host_run`), in a replay from the capture.
    """

    settings: Settings = field(default_factory=Settings)
    telemetry: Telemetry = field(default_factory=Telemetry)
    stop: threading.Event = field(default_factory=threading.Event)
    clock: Callable[[], int] = time.time_ns
    replay: bool = False
    host_run: HostRun | None = None
    _context: zmq.Context[Any] | None = field(default=None, init=False, repr=False)
    _auth: Authenticator | None = field(default=None, init=False, repr=False)
    _back_channel: BackChannel | None = field(default=None, init=False, repr=False)
    _executors: dict[str, ThreadPoolExecutor] = field(default_factory=dict, init=False, repr=False)
    _on_close: list[Callable[[], None]] = field(default_factory=list, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)
    _latest_arrival_ns: int = field(default=0, init=False, repr=False)
    _ready: set[str] = field(default_factory=set, init=False, repr=False)
    _ready_changed: threading.Condition = field(
        default_factory=threading.Condition, init=False, repr=False
    )

    @property
    def auth(self) -> Authenticator:
        """Who may connect (`--auth`); made on first use, which checks the credentials."""
        with self._lock:
            if self._auth is None:
                self._auth = Authenticator(self.settings, self.telemetry)
            return self._auth

    @property
    def context(self) -> zmq.Context[Any]:
        """The process's one ZeroMQ context, created on first use (on a worker, not at import).

        With `--auth token|curve` its ZAP handler starts with it, before any socket exists.
        """
        auth = self.auth
        with self._lock:
            if self._context is None:
                self._context = zmq.Context()
                auth.start(self._context)
            return self._context

    def note_arrival(self, received_ns: int) -> None:
        """Record a message's arrival time (the flow's first step calls it for every one)."""
        if received_ns > self._latest_arrival_ns:  # a benign race: only ever grows
            self._latest_arrival_ns = received_ns

    def latest_arrival_ns(self) -> int:
        """The latest arrival time of any message so far: the data's own clock. Decisions
        that wait for time to pass (eviction) read this, so a replay decides alike."""
        return self._latest_arrival_ns

    @property
    def back_channel(self) -> BackChannel:
        """Results waiting for the TCP connections that asked for them (`hello`)."""
        with self._lock:
            if self._back_channel is None:
                self._back_channel = BackChannel(self.telemetry)
                self.telemetry.section("results", self._back_channel.status)
            return self._back_channel

    def executor(self, name: str, workers: int = 1) -> ThreadPoolExecutor:
        """A named thread pool for work that must not run on a Bytewax worker thread."""
        with self._lock:
            pool = self._executors.get(name)
            if pool is None:
                pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=f"af-{name}")
                self._executors[name] = pool
            return pool

    def stop_on_signals(self) -> None:
        """First Ctrl-C / SIGTERM: stop cleanly (sources end, sessions flush); second: abort.

        Only from the main thread (Python delivers signals there); elsewhere a no-op.
        """
        if threading.current_thread() is not threading.main_thread():
            return

        def handle(signum: int, frame: object) -> None:
            if self.stop.is_set():
                raise KeyboardInterrupt
            logger.warning(
                "%s: stopping (flushing sessions); again to abort", signal.Signals(signum).name
            )
            self.stop.set()

        signal.signal(signal.SIGINT, handle)
        signal.signal(signal.SIGTERM, handle)

    def mark_ready(self, name: str) -> None:
        """Say that a part of the flow is up (a worker's inputs built, a port bound).

        Bytewax builds every input partition of a worker before it asks any of them for
        items, but a sink only when its first item arrives: whoever starts the flow in
        the background (`ambient_flow.Host`) waits on these names instead of guessing.
        """
        with self._ready_changed:
            self._ready.add(name)
            self._ready_changed.notify_all()

    def wait_ready(self, names: Collection[str], timeout: float) -> set[str]:
        """Wait up to `timeout` s for every name in `names`; returns those still missing."""
        deadline = time.monotonic() + timeout
        with self._ready_changed:
            while missing := set(names) - self._ready:
                left = deadline - time.monotonic()
                if left <= 0:
                    return missing
                self._ready_changed.wait(left)
        return set()

    def on_close(self, callback: Callable[[], None]) -> None:
        """Run `callback` in `close()` (threads a stage started, e.g. a batcher's)."""
        with self._lock:
            self._on_close.append(callback)

    def close(self) -> None:
        """Release the context and pools; call once the flow has returned."""
        with self._lock:
            callbacks, self._on_close = list(self._on_close), []
        for callback in callbacks:
            callback()
        with self._lock:
            pools, self._executors = list(self._executors.values()), {}
            ctx, self._context = self._context, None
            auth = self._auth
        for pool in pools:
            pool.shutdown(wait=True, cancel_futures=True)
        if auth is not None:
            auth.stop()  # its socket lives in the context: before term()
        if ctx is not None:
            ctx.term()


def run_dataflow(flow: Dataflow, workers: int = 1) -> None:
    """Run `flow` in this thread with `workers` worker threads (Bytewax's in-process runners)."""
    from bytewax.testing import cluster_main, run_main

    if workers <= 1:
        run_main(flow)  # type: ignore[no-untyped-call]
    else:
        cluster_main(flow, [], 0, worker_count_per_proc=workers)  # type: ignore[no-untyped-call]
