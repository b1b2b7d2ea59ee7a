"""The model stage: each client's work items go to their models off the worker thread,
and come back in the order they went in.

Per client, items are submitted as they arrive (so transcription, diarization and
detection of one client overlap) and emitted strictly in input order once done, so the
join after this step sees the same sequence on every run (principle 1). Many clients'
diarization windows or frames meet in a `MicroBatcher` and share one model call.

Falling behind, live: a client's diarization windows beyond `max_pending` are dropped
(counted `diarization_behind`); of its video frames only the newest waits while one is
being detected (counted `detection_superseded`); utterances are never dropped. In a
replay nothing is dropped: the file waits for the models, so the output is complete and
the same every time.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import Future, wait
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Generic, Protocol, TypeVar

from bytewax.operators import StatefulLogic
from typing_extensions import override

from ambient_flow.operators.events import ClientEvent
from ambient_flow.operators.speech import AnalysisItem, DiarizationWindow, PlacedFrame
from ambient_flow.sources.runtime import HostRuntime
from ambient_flow.telemetry import RateLimitedLog

__all__ = ["Done", "Handler", "ModelStageLogic", "ModelStageOptions"]

logger = logging.getLogger(__name__)

ItemT = TypeVar("ItemT")


class Handler(Protocol):
    """Starts the model work for one kind of item of one client."""

    name: str

    def new_context(self) -> Any:
        """Per-client state the work needs (e.g. a diarization stream); None if none."""
        ...

    def submit(self, context: Any, item: Any) -> Future[Any]: ...


@dataclass(frozen=True, slots=True)
class Done(Generic[ItemT]):
    """An item and what its model made of it (`result` is None for pass-through items)."""

    item: ItemT
    result: Any
    stage: str


@dataclass(frozen=True)
class ModelStageOptions:
    live: bool = True
    max_pending: int = 64
    poll_interval: float = 0.005
    step_s: float = 0.5  # audio one diarization window adds


@dataclass
class _Entry:
    item: Any
    stage: str
    future: Future[Any] | None  # None: pass-through, ready at once
    submitted: float = 0.0  # monotonic time of submission (stage metrics)


class ModelStageLogic(StatefulLogic[AnalysisItem, Done[Any], None]):
    """Per-client ordered, pipelined model calls."""

    def __init__(
        self,
        handlers: dict[type, Handler],
        runtime: HostRuntime,
        options: ModelStageOptions,
    ) -> None:
        self._handlers = handlers
        self._contexts: dict[str, Any] = {}
        self._runtime = runtime
        self._opt = options
        self._step_s = options.step_s
        self._queue: deque[_Entry] = deque()
        self._waiting_frame: _Entry | None = None  # live: the newest frame not yet submitted
        self._log = RateLimitedLog(logger)

    @override
    def on_item(self, value: AnalysisItem) -> tuple[Iterable[Done[Any]], bool]:
        if isinstance(value, ClientEvent) and value.kind == "session_start":
            self._contexts.clear()  # new session: new speakers (work in flight keeps its own)
        handler = self._handlers.get(type(value))
        if handler is None:
            self._queue.append(_Entry(value, "pass", None))
            return self._drain(), StatefulLogic.RETAIN
        if self._opt.live and isinstance(value, DiarizationWindow):
            pending = sum(1 for e in self._queue if isinstance(e.item, DiarizationWindow))
            if pending >= self._opt.max_pending:
                self._runtime.telemetry.drop("diarization_behind")
                return self._drain(), StatefulLogic.RETAIN
        if self._opt.live and isinstance(value, PlacedFrame) and self._frame_busy():
            if self._waiting_frame is not None:
                self._runtime.telemetry.drop("detection_superseded")
            self._waiting_frame = _Entry(value, handler.name, None)
            return self._drain(), StatefulLogic.RETAIN
        self._queue.append(self._start(handler, value))
        return self._drain(), StatefulLogic.RETAIN

    @override
    def on_notify(self) -> tuple[Iterable[Done[Any]], bool]:
        return self._drain(), StatefulLogic.RETAIN

    @override
    def notify_at(self) -> datetime | None:
        if not self._queue and self._waiting_frame is None:
            return None
        return datetime.now(UTC) + timedelta(seconds=self._opt.poll_interval)

    @override
    def on_eof(self) -> tuple[Iterable[Done[Any]], bool]:
        out: list[Done[Any]] = []
        while self._queue or self._waiting_frame is not None:
            head = self._queue[0].future if self._queue else None
            if head is not None:
                wait([head])  # end of input: waiting for the models is all that is left
            out += self._drain()
        return out, StatefulLogic.DISCARD

    @override
    def snapshot(self) -> None:
        return None  # work in flight is not recoverable; its inputs replay from the capture

    def _measure(self, entry: _Entry) -> None:
        """Latency from the data being ready to its result, and the audio it covered.

        Live, "ready" is the arrival of the chunk that completed the item (speaker label
        latency = window's last chunk -> label). In a replay arrival times are from the
        recording, so the latency is measured from submission instead.
        """
        now = time.monotonic()
        item = entry.item
        audio_s = 0.0
        if isinstance(item, DiarizationWindow):
            ready_ns = item.received_ns
            audio_s = self._step_s
        elif isinstance(item, PlacedFrame):
            ready_ns = item.frame.received_ns
        else:
            ready_ns = getattr(item, "ended_ns", 0)
            audio_s = float(getattr(item, "duration_s", 0.0))
        latency = time.time() - ready_ns / 1e9 if self._opt.live else now - entry.submitted
        self._runtime.telemetry.stage(entry.stage, latency, audio_s)

    def _frame_busy(self) -> bool:
        return any(
            isinstance(e.item, PlacedFrame) and e.future is not None and not e.future.done()
            for e in self._queue
        )

    def _start(self, handler: Handler, item: Any) -> _Entry:
        if handler.name not in self._contexts:
            self._contexts[handler.name] = handler.new_context()
        future = handler.submit(self._contexts[handler.name], item)
        return _Entry(item, handler.name, future, time.monotonic())

    def _drain(self) -> list[Done[Any]]:
        out: list[Done[Any]] = []
        while self._queue:
            head = self._queue[0]
            if head.future is not None and not head.future.done():
                break
            self._queue.popleft()
            if head.future is None:
                out.append(Done(head.item, None, head.stage))
                continue
            exc = head.future.exception()
            if exc is not None:
                self._runtime.telemetry.drop(f"{head.stage}_error")
                self._log.log(logging.ERROR, head.stage, "%s failed: %r (counted as %s_error)",
                              head.stage, exc, head.stage)  # fmt: skip
                continue
            out.append(Done(head.item, head.future.result(), head.stage))
            self._measure(head)
        waiting = self._waiting_frame
        if waiting is not None and not self._frame_busy():
            self._waiting_frame = None
            handler = self._handlers[type(waiting.item)]
            self._queue.append(self._start(handler, waiting.item))
        self._runtime.telemetry.queue("models", len(self._queue))
        return out


def model_stage_builder(
    handlers_factory: Callable[[], dict[type, Handler]],
    runtime: HostRuntime,
    options: ModelStageOptions,
) -> Callable[[Any], ModelStageLogic]:
    """Builder for `op.stateful`: handlers (and their models) are made once, lazily."""
    made: list[dict[type, Handler]] = []

    def build(_state: Any) -> ModelStageLogic:
        if not made:
            made.append(handlers_factory())
        return ModelStageLogic(made[0], runtime, options)

    return build
