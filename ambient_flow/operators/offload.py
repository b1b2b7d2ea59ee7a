"""Run slow per-client work off the Bytewax worker thread (principle 5).

A synchronous model call inside `map` holds every item on its worker — sources,
timers, other clients — for as long as it runs. `offload` hands each item to a
thread pool instead and emits results from `on_notify` as they finish, so ingest
keeps flowing while Whisper or YOLO run. Per client, one item is in flight at a
time (results stay in order); what waits is bounded, with a counted policy:

- `queue` (audio): keep everything up to `max_backlog` items; past it the oldest is
  dropped, counted as `offload_overflow` and logged. Audio is never dropped silently.
- `latest` (video): keep only the newest waiting item; replaced ones are counted
  as `offload_superseded` (a detector wants the current frame, not a backlog).
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import Future, wait
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Generic, Literal, TypeVar

import bytewax.operators as op
from bytewax.dataflow import Stream
from bytewax.operators import StatefulLogic
from typing_extensions import override

from ambient_flow.sources.runtime import HostRuntime
from ambient_flow.telemetry import RateLimitedLog

__all__ = ["OffloadLogic", "OffloadOptions", "Submit", "offload"]

logger = logging.getLogger(__name__)

V = TypeVar("V")
W = TypeVar("W")

#: Starts the work for one value and returns its future result (None: emit nothing).
Submit = Callable[[V], "Future[W | None]"]


@dataclass(frozen=True)
class OffloadOptions:
    policy: Literal["queue", "latest"] = "queue"
    max_backlog: int = 600  # 60 s of 100 ms audio chunks
    poll_interval: float = 0.005
    pool: str = "offload"
    threads: int = 1

    def __post_init__(self) -> None:
        if self.policy not in ("queue", "latest"):
            raise ValueError(f"policy must be 'queue' or 'latest', got {self.policy!r}")
        if self.max_backlog < 1 or self.poll_interval <= 0 or self.threads < 1:
            raise ValueError("max_backlog and threads must be >= 1, poll_interval > 0")


class OffloadLogic(StatefulLogic[V, W, None], Generic[V, W]):
    """One key's queue in front of a shared thread pool."""

    def __init__(
        self, name: str, submit: Submit[V, W], runtime: HostRuntime, options: OffloadOptions
    ) -> None:
        self._name = name
        self._submit = submit
        self._runtime = runtime
        self._opt = options
        self._waiting: deque[V] = deque()
        self._running: Future[W | None] | None = None
        self._log = RateLimitedLog(logger)

    @override
    def on_item(self, value: V) -> tuple[Iterable[W], bool]:
        if self._opt.policy == "latest" and self._waiting:
            self._waiting.clear()
            self._runtime.telemetry.drop(f"{self._name}_superseded")
        elif len(self._waiting) >= self._opt.max_backlog:
            self._waiting.popleft()
            self._runtime.telemetry.drop(f"{self._name}_overflow")
            self._log.log(
                logging.WARNING,
                "overflow",
                "%s is %d items behind: dropping the oldest (offload_overflow is counted)",
                self._name,
                len(self._waiting),
            )
        self._waiting.append(value)
        return self._step(), StatefulLogic.RETAIN

    @override
    def on_notify(self) -> tuple[Iterable[W], bool]:
        return self._step(), StatefulLogic.RETAIN

    @override
    def notify_at(self) -> datetime | None:
        if self._running is None and not self._waiting:
            return None
        return datetime.now(UTC) + timedelta(seconds=self._opt.poll_interval)

    @override
    def on_eof(self) -> tuple[Iterable[W], bool]:
        out: list[W] = []
        while self._running is not None or self._waiting:
            if self._running is not None:
                wait([self._running])  # end of input: finishing the work is all that is left
            out += self._step()
        return out, StatefulLogic.DISCARD

    @override
    def snapshot(self) -> None:
        return None  # work in flight is not recoverable; its inputs replay from the capture

    def _step(self) -> list[W]:
        out: list[W] = []
        running = self._running
        if running is not None and running.done():
            self._running = None
            exc = running.exception()
            if exc is not None:
                self._runtime.telemetry.drop(f"{self._name}_error")
                self._log.log(
                    logging.ERROR,
                    "error",
                    "%s failed: %r (counted as %s_error)",
                    self._name,
                    exc,
                    self._name,
                )
            else:
                result = running.result()
                if result is not None:
                    out.append(result)
        if self._running is None and self._waiting:
            self._running = self._submit(self._waiting.popleft())
        self._runtime.telemetry.queue(self._name, len(self._waiting))
        return out


def offload(
    step_id: str,
    up: Stream[tuple[str, V]],
    fn: Callable[[V], W | None] | None,
    runtime: HostRuntime,
    options: OffloadOptions | None = None,
    *,
    submit_factory: Callable[[], Submit[V, W]] | None = None,
) -> Stream[tuple[str, W]]:
    """Apply `fn` to each value on a thread pool, per key in order, without stalling the flow.

    Instead of `fn`, `submit_factory` makes one submit function per key: it can hold
    per-key state (a client's diarization stream) and hand work to a shared
    `MicroBatcher`, so many clients' steps go through one model call.
    """
    opts = options or OffloadOptions()
    if submit_factory is None:
        if fn is None:
            raise ValueError("offload needs fn or submit_factory")
        pool = runtime.executor(opts.pool, opts.threads)
        work = fn

        def submit_factory() -> Submit[V, W]:
            return lambda value: pool.submit(work, value)

    factory = submit_factory
    return op.stateful(step_id, up, lambda _state: OffloadLogic(step_id, factory(), runtime, opts))
