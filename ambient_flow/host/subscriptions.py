"""Enrichments handed from the flow to the embedding program, never holding the flow up.

The flow's worker calls `FrameHub.publish` with each batch; every subscriber has its own
bounded queue. A subscriber that reads too slowly loses its *oldest* waiting frames
(a copilot wants what is happening now), counted per subscriber and in the host's
`drops` (`host_frames_dropped`). `close()` (the host stopped, after the flow flushed)
ends every subscription once its queue is read.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Generic, TypeVar

from ambient_flow.telemetry import RateLimitedLog, Telemetry

__all__ = ["AsyncSubscription", "FrameHub", "Subscription"]

logger = logging.getLogger(__name__)

T = TypeVar("T")

DROP_REASON = "host_frames_dropped"


class _Queue(Generic[T]):
    """A bounded deque that keeps the newest items; counts what it lets go."""

    def __init__(self, maxsize: int, telemetry: Telemetry) -> None:
        if maxsize < 1:
            raise ValueError(f"maxsize must be >= 1, got {maxsize}")
        self._items: deque[T] = deque()
        self._maxsize = maxsize
        self._telemetry = telemetry
        self.dropped = 0
        self.closed = False

    def put_all(self, items: list[T]) -> int:
        """Append `items` (caller holds the lock); returns how many old ones were let go."""
        self._items.extend(items)
        over = len(self._items) - self._maxsize
        for _ in range(max(0, over)):
            self._items.popleft()
        if over > 0:
            self.dropped += over
            self._telemetry.drop(DROP_REASON, over)
        return max(0, over)


class Subscription(Generic[T]):
    """A blocking, bounded subscription: `get(timeout)`, or iterate until the host stops."""

    def __init__(self, hub: FrameHub[T], maxsize: int) -> None:
        self._hub = hub
        self._cond = threading.Condition()
        self._queue: _Queue[T] = _Queue(maxsize, hub.telemetry)

    @property
    def dropped(self) -> int:
        """Frames this subscriber lost because it read too slowly (oldest first)."""
        with self._cond:
            return self._queue.dropped

    def _push(self, items: list[T]) -> None:
        with self._cond:
            if self._queue.closed:
                return
            self._queue.put_all(items)
            self._cond.notify_all()

    def _end(self) -> None:
        with self._cond:
            self._queue.closed = True
            self._cond.notify_all()

    def get(self, timeout: float | None = None) -> T | None:
        """The next frame; None when `timeout` passed first. Raises `EOFError` once the
        host has stopped and every frame was read."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while not self._queue._items:
                if self._queue.closed:
                    raise EOFError("the host stopped")
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return None
                self._cond.wait(left)
            return self._queue._items.popleft()

    def iterate(self, timeout: float | None = None) -> Iterator[T]:
        """Frames as they come; ends when the host stops, or after `timeout` s without one."""
        while True:
            try:
                item = self.get(timeout)
            except EOFError:
                return
            if item is None:
                return
            yield item

    def __iter__(self) -> Iterator[T]:
        return self.iterate()

    def close(self) -> None:
        """Stop receiving (the hub forgets this subscriber)."""
        self._hub._unsubscribe(self)
        self._end()


class AsyncSubscription(Generic[T]):
    """The `asyncio` counterpart: `async for frame in sub`, on the loop that made it."""

    def __init__(self, hub: FrameHub[T], maxsize: int, loop: asyncio.AbstractEventLoop) -> None:
        self._hub = hub
        self._loop = loop
        self._lock = threading.Lock()
        self._queue: _Queue[T] = _Queue(maxsize, hub.telemetry)
        self._ready = asyncio.Event()  # set while frames wait or the end has come

    @property
    def dropped(self) -> int:
        with self._lock:
            return self._queue.dropped

    def _wake(self) -> None:
        try:  # one wake-up per empty -> non-empty transition: the loop's queue stays small
            self._loop.call_soon_threadsafe(self._ready.set)
        except RuntimeError:  # the loop is closed: nobody listens any more
            self._hub._unsubscribe(self)

    def _push(self, items: list[T]) -> None:
        with self._lock:
            if self._queue.closed:
                return
            was_empty = not self._queue._items
            self._queue.put_all(items)
        if was_empty:
            self._wake()

    def _end(self) -> None:
        with self._lock:
            self._queue.closed = True
        self._wake()

    async def get(self) -> T:
        """The next frame; raises `EOFError` once the host stopped and all were read."""
        while True:
            with self._lock:
                if self._queue._items:
                    return self._queue._items.popleft()
                if self._queue.closed:
                    raise EOFError("the host stopped")
                self._ready.clear()
            await self._ready.wait()

    async def __aiter__(self) -> AsyncIterator[T]:
        while True:
            try:
                yield await self.get()
            except EOFError:
                return

    def close(self) -> None:
        self._hub._unsubscribe(self)
        self._end()


class _Callback(Generic[T]):
    """A subscriber that calls a function for each frame on a thread of its own."""

    def __init__(self, hub: FrameHub[T], fn: Callable[[T], object], maxsize: int) -> None:
        self.subscription: Subscription[T] = Subscription(hub, maxsize)
        self._fn = fn
        self._log = RateLimitedLog(logger)
        self._hub = hub
        self.thread = threading.Thread(target=self._run, name="af-host-callback", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        for item in self.subscription:
            try:
                self._fn(item)
            except Exception as exc:  # the embedding program's bug: counted, never fatal
                self._hub.telemetry.drop("host_callback_errors")
                self._log.log(logging.ERROR, "callback", "frame callback raised: %r", exc)


class FrameHub(Generic[T]):
    """Fans the flow's frames out to subscribers; `publish` never blocks."""

    def __init__(self, telemetry: Telemetry) -> None:
        self.telemetry = telemetry
        self._lock = threading.Lock()
        self._subs: list[Subscription[T] | AsyncSubscription[T]] = []
        self._callbacks: list[_Callback[T]] = []
        self._closed = False

    def publish(self, items: list[T]) -> None:
        """Called on the worker with each batch."""
        with self._lock:
            subs = list(self._subs)
        for sub in subs:
            sub._push(items)

    def subscribe(self, maxsize: int = 1000) -> Subscription[T]:
        sub: Subscription[T] = Subscription(self, maxsize)
        self._add(sub)
        return sub

    def subscribe_async(self, maxsize: int = 1000) -> AsyncSubscription[T]:
        sub = AsyncSubscription(self, maxsize, asyncio.get_running_loop())
        self._add(sub)
        return sub

    def on_frame(self, fn: Callable[[T], object], maxsize: int = 1000) -> Subscription[T]:
        callback = _Callback(self, fn, maxsize)
        with self._lock:
            self._callbacks.append(callback)
        self._add(callback.subscription)
        return callback.subscription

    def _add(self, sub: Subscription[T] | AsyncSubscription[T]) -> None:
        with self._lock:
            closed = self._closed
            if not closed:
                self._subs.append(sub)
        if closed:
            sub._end()

    def _unsubscribe(self, sub: Subscription[T] | AsyncSubscription[T]) -> None:
        with self._lock:
            if sub in self._subs:
                self._subs.remove(sub)

    def count(self) -> int:
        with self._lock:
            return len(self._subs)

    def close(self, timeout: float = 5.0) -> None:
        """End every subscription (each reads what it still has first); join callbacks."""
        with self._lock:
            self._closed = True
            subs, self._subs = self._subs, []
            callbacks, self._callbacks = self._callbacks, []
        for sub in subs:
            sub._end()
        deadline = time.monotonic() + timeout
        for callback in callbacks:
            callback.thread.join(max(0.0, deadline - time.monotonic()))
            if callback.thread.is_alive():
                logger.error("a frame callback did not return within %g s of stop()", timeout)
