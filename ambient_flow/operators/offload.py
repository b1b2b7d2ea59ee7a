"""Run slow per-client work off the Bytewax worker thread, in order (principle 5).

A synchronous model call inside `map` holds every item on its worker — sources,
timers, other clients — for as long as it runs. Here each item is handed to a thread
pool (or a cross-client `MicroBatcher`) as it arrives, and results are emitted from the
step's timer in the order the items came in, so ingest keeps flowing while Whisper or
YOLO run and the steps after this one see the same sequence on every run.

Items are routed to *lanes*; a lane says how its work starts (a submit function made
per key, which may hold per-key state such as a diarization stream) and what happens
when a key falls behind, always counted:

- `keep`: nothing is dropped (utterances; and everything in a replay, where the file
  waits for the models);
- `bounded`: past `max_pending` unfinished items of the lane, a new one is dropped and
  counted as `<lane>_behind`;
- `latest`: while one item of the lane is in flight only the newest waits; replaced
  ones are counted as `<lane>_superseded` (a detector wants the current frame).

A failed item is counted as `<lane>_error`, logged at a limited rate, and skipped.
`offload()` is the public operator for one lane; the enrichment's model stage
(`operators.model_stage`) routes three.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import Future, wait
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Generic, Literal, TypeVar

import bytewax.operators as op
from bytewax.dataflow import Stream
from bytewax.operators import StatefulLogic
from typing_extensions import override

from ambient_flow.runtime import HostRuntime
from ambient_flow.telemetry import RateLimitedLog

__all__ = ["Lane", "OffloadLogic", "OffloadOptions", "Policy", "Submit", "offload"]

logger = logging.getLogger(__name__)

V = TypeVar("V")
W = TypeVar("W")

Policy = Literal["keep", "bounded", "latest"]
#: Starts the work for one value and returns its future result (None: emit nothing).
Submit = Callable[[V], "Future[W | None]"]


@dataclass(frozen=True)
class Lane(Generic[V, W]):
    """How one kind of item is offloaded.

    Attributes:
        name: Counter prefix and stage name (`transcription`, `detection`, ...).
        submit_factory: Makes one submit function per key (and per session, see
            `OffloadLogic.boundary`), so per-key state can live in its closure.
        policy: What happens when the key falls behind (module docstring).
        max_pending: The bound of the `bounded` policy.
        on_done: Told each finished item and when it was submitted (monotonic s), for
            stage metrics.
        hold: Later items wait for this lane's unfinished items (strict order). False:
            later items of other lanes that `OffloadLogic.may_overtake` allows are
            emitted past them (this lane's own items stay in order).
    """

    name: str
    submit_factory: Callable[[], Submit[V, W]]
    policy: Policy = "keep"
    max_pending: int = 64
    on_done: Callable[[V, float], None] | None = None
    hold: bool = True

    def __post_init__(self) -> None:
        if self.policy not in ("keep", "bounded", "latest"):
            raise ValueError(f"policy must be keep, bounded or latest, got {self.policy!r}")
        if self.max_pending < 1:
            raise ValueError("max_pending must be >= 1")


@dataclass
class _Entry(Generic[V, W]):
    item: V
    lane: Lane[V, W] | None  # None: pass-through, ready at once
    future: Future[W | None] | None = None
    submitted: float = field(default_factory=time.monotonic)


class OffloadLogic(StatefulLogic[V, W, None]):
    """One key's ordered, pipelined work in front of shared pools or batchers.

    Args:
        route: The lane for an item, or None to pass it through (in order) as
            `passthrough(item)` (nothing is emitted when that is None).
        runtime: For telemetry (drops, queue depth).
        poll_interval: How often the timer looks for finished work while some is pending.
        passthrough: What a routed-around item becomes in the output.
        boundary: Items that start a new session: per-key submit functions are made
            afresh after one (work in flight keeps its own).
        last: Items after which the key is done: its state is released once the work
            before them has been emitted.
        may_overtake: Items that may be emitted past unfinished items of a lane that
            does not hold (`Lane.hold=False`); None: none may.
    """

    def __init__(
        self,
        route: Callable[[V], Lane[V, W] | None],
        runtime: HostRuntime,
        *,
        poll_interval: float = 0.005,
        passthrough: Callable[[V], W | None] | None = None,
        boundary: Callable[[V], bool] | None = None,
        last: Callable[[V], bool] | None = None,
        queue_name: str = "offload",
        may_overtake: Callable[[V], bool] | None = None,
    ) -> None:
        self._route = route
        self._may_overtake = may_overtake
        self._runtime = runtime
        self._poll = poll_interval
        self._passthrough = passthrough
        self._boundary = boundary
        self._last = last
        self._queue_name = queue_name
        self._submits: dict[str, Submit[V, W]] = {}
        self._queue: deque[_Entry[V, W]] = deque()
        self._waiting: dict[str, _Entry[V, W]] = {}  # lane -> newest item of a `latest` lane
        self._finished = False
        self._log = RateLimitedLog(logger)

    # -- Bytewax hooks ----------------------------------------------------------------
    @override
    def on_item(self, value: V) -> tuple[Iterable[W], bool]:
        if self._boundary is not None and self._boundary(value):
            self._submits.clear()  # a new session: new per-key state
            self._finished = False
        if self._last is not None and self._last(value):
            self._finished = True
        lane = self._route(value)
        if lane is None:
            self._queue.append(_Entry(value, None))
        elif lane.policy == "bounded" and self._pending(lane) >= lane.max_pending:
            self._runtime.telemetry.drop(f"{lane.name}_behind")
        elif lane.policy == "latest" and self._busy(lane):
            if lane.name in self._waiting:
                self._runtime.telemetry.drop(f"{lane.name}_superseded")
            self._waiting[lane.name] = _Entry(value, lane)
        else:
            self._queue.append(self._start(lane, value))
        return self._drain(), self._retain()

    @override
    def on_notify(self) -> tuple[Iterable[W], bool]:
        return self._drain(), self._retain()

    @override
    def notify_at(self) -> datetime | None:
        if not self._queue and not self._waiting:
            return None
        return datetime.now(UTC) + timedelta(seconds=self._poll)

    @override
    def on_eof(self) -> tuple[Iterable[W], bool]:
        out: list[W] = []
        while self._queue or self._waiting:
            head = self._queue[0].future if self._queue else None
            if head is not None:
                wait([head])  # end of input: waiting for the work is all that is left
            out += self._drain()
        return out, StatefulLogic.DISCARD

    @override
    def snapshot(self) -> None:
        return None  # work in flight is not recoverable; its inputs replay from the capture

    # -- internals --------------------------------------------------------------------
    def _retain(self) -> bool:
        idle = not self._queue and not self._waiting
        return StatefulLogic.DISCARD if self._finished and idle else StatefulLogic.RETAIN

    def _pending(self, lane: Lane[V, W]) -> int:
        return sum(1 for e in self._queue if e.lane is lane and not _done(e))

    def _busy(self, lane: Lane[V, W]) -> bool:
        return any(e.lane is lane and not _done(e) for e in self._queue)

    def _start(self, lane: Lane[V, W], item: V) -> _Entry[V, W]:
        submit = self._submits.get(lane.name)
        if submit is None:
            submit = self._submits[lane.name] = lane.submit_factory()
        return _Entry(item, lane, submit(item))

    def _drain(self) -> list[W]:
        out: list[W] = []
        overtaken: list[_Entry[V, W]] = []  # unfinished entries of lanes that do not hold
        while self._queue:
            head = self._queue[0]
            if not _done(head):
                if head.lane is None or head.lane.hold or self._may_overtake is None:
                    break
                overtaken.append(self._queue.popleft())
                continue
            if overtaken and (
                self._may_overtake is None
                or not self._may_overtake(head.item)
                or any(e.lane is head.lane for e in overtaken)
            ):
                break
            self._queue.popleft()
            lane = head.lane
            if lane is None or head.future is None:
                passed = self._passthrough(head.item) if self._passthrough is not None else None
                if passed is not None:
                    out.append(passed)
                continue
            exc = head.future.exception()
            if exc is not None:
                self._runtime.telemetry.drop(f"{lane.name}_error")
                self._log.log(logging.ERROR, lane.name, "%s failed: %r (counted as %s_error)",
                              lane.name, exc, lane.name)  # fmt: skip
                continue
            result = head.future.result()
            if lane.on_done is not None:
                lane.on_done(head.item, head.submitted)
            if result is not None:
                out.append(result)
        self._queue.extendleft(reversed(overtaken))
        for name, waiting in list(self._waiting.items()):
            if waiting.lane is not None and not self._busy(waiting.lane):
                del self._waiting[name]
                self._queue.append(self._start(waiting.lane, waiting.item))
        self._runtime.telemetry.queue(self._queue_name, len(self._queue))
        return out


def _done(entry: _Entry[Any, Any]) -> bool:
    return entry.future is None or entry.future.done()


@dataclass(frozen=True)
class OffloadOptions:
    """Options of the public `offload` operator (one lane for every item).

    `policy="queue"` keeps up to `max_backlog` unfinished items per key (past it, new
    ones are dropped and counted as `<step>_behind`); `"latest"` keeps only the newest
    waiting item (`<step>_superseded`).
    """

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

    lane: Lane[V, W] = Lane(
        step_id,
        submit_factory,
        policy="latest" if opts.policy == "latest" else "bounded",
        max_pending=opts.max_backlog,
    )

    def build(_state: Any) -> OffloadLogic[V, W]:
        return OffloadLogic(
            lambda _v: lane, runtime, poll_interval=opts.poll_interval, queue_name=step_id
        )

    return op.stateful(step_id, up, build)
