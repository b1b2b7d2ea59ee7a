"""One model call for many clients: a per-process micro-batcher behind futures.

Per-client steps (a diarization window, a detector frame) are submitted from each
client's stateful logic as they fall due; a single thread gathers what is waiting —
up to `max_batch` items, or whatever arrived within `max_wait` of the first — and runs
one batched call. Each caller gets its own result through a `Future`, so the Bytewax
worker never waits (principle 5) and two hundred clients cost a few model calls per
step instead of two hundred.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Generic, TypeVar

__all__ = ["BatchStats", "MicroBatcher"]

logger = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")


@dataclass
class BatchStats:
    calls: int = 0
    items: int = 0
    errors: int = 0
    busy_s: float = 0.0

    @property
    def mean_batch(self) -> float:
        return self.items / self.calls if self.calls else 0.0


class MicroBatcher(Generic[T, R]):
    """Runs `fn(list_of_items) -> list_of_results` on batches gathered from many callers.

    Args:
        fn: The batched call; must return one result per item, in order.
        max_batch: Most items per call.
        max_wait: Seconds to wait for more items after the first one of a batch.
        name: For the thread and the logs.
        on_call: Told the duration and size of every call (stage metrics).
    """

    def __init__(
        self,
        fn: Callable[[Sequence[T]], Sequence[R]],
        *,
        max_batch: int = 16,
        max_wait: float = 0.01,
        name: str = "batcher",
        on_call: Callable[[float, int], None] | None = None,
    ) -> None:
        if max_batch < 1 or max_wait < 0:
            raise ValueError("max_batch must be >= 1 and max_wait >= 0")
        self._fn = fn
        self._max_batch = max_batch
        self._max_wait = max_wait
        self._queue: queue.SimpleQueue[tuple[T, Future[R]] | None] = queue.SimpleQueue()
        self.stats = BatchStats()
        self._thread = threading.Thread(target=self._run, name=f"af-{name}", daemon=True)
        self._name = name
        self._on_call = on_call
        self._started = False
        self._lock = threading.Lock()

    def submit(self, item: T) -> Future[R]:
        with self._lock:
            if not self._started:
                self._thread.start()
                self._started = True
        future: Future[R] = Future()
        self._queue.put((item, future))
        return future

    def close(self) -> None:
        """Finish what was submitted, then stop the thread."""
        with self._lock:
            started = self._started
        if started:
            self._queue.put(None)
            self._thread.join()

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            deadline = time.monotonic() + self._max_wait
            stop = False
            while len(batch) < self._max_batch:
                timeout = deadline - time.monotonic()
                try:
                    nxt = (
                        self._queue.get(timeout=max(0.0, timeout))
                        if timeout > 0
                        else (self._queue.get_nowait())
                    )
                except queue.Empty:
                    break
                if nxt is None:
                    stop = True
                    break
                batch.append(nxt)
            self._call(batch)
            if stop:
                return

    def _call(self, batch: list[tuple[T, Future[R]]]) -> None:
        started = time.perf_counter()
        try:
            results = self._fn([item for item, _ in batch])
            if len(results) != len(batch):
                raise RuntimeError(f"{self._name}: {len(results)} results for {len(batch)} items")
        except Exception as exc:  # handed to every caller; their logic counts and logs it
            self.stats.errors += 1
            for _, future in batch:
                future.set_exception(exc)
            return
        finally:
            busy = time.perf_counter() - started
            self.stats.busy_s += busy
            if self._on_call is not None:
                self._on_call(busy, len(batch))
        self.stats.calls += 1
        self.stats.items += len(batch)
        for (_, future), result in zip(batch, results, strict=True):
            future.set_result(result)
