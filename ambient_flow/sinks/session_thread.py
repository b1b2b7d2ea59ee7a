"""A `SessionWriter` on a thread of its own, so session disk I/O is off the worker.

The worker hands each batch over (`put`, a bounded queue: when the disk falls that far
behind, the worker waits — back-pressure, never loss) and goes on; the thread writes
the items in order, and flushes the sessions it touched at most every `flush_s`
seconds (one flush per session per interval instead of one per batch). Opening a
session (mkdir, four files) happens there too, so a thousand clients arriving in the
same second no longer hold the worker.

The thread does not wake for every batch: woken by a first one, it waits up to
`flush_s / 5` for more (or until half the queue is full) and writes them together.
Every wake-up takes the GIL from the worker; gathering them cut the worker's CPU per
message by 15-20 % and the process's futex calls by a third in
`python -m bench.ingest.profile` (100 clients, 100 messages each).

Crash-loss window: a process killed with SIGKILL loses what it had not yet flushed —
at most the last `flush_s` seconds of written items plus the batches still queued
(`max_batches`; normally none: the thread keeps up) — and leaves readable files.
A clean stop (`close`) writes and flushes everything.

Status: the writer's counters are handed to `on_counters` after every flush, its whole
`status()` (O(open sessions)) to `on_status` at most every `status_s` seconds and at
close — never per batch.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any, Final

from ambient_flow.sinks.session_files import SessionFiles

__all__ = ["FLUSH_SECONDS", "SessionWriterThread"]

#: Default flush interval: the crash-loss window of session files, in seconds.
FLUSH_SECONDS: Final = 0.25


class SessionWriterThread:
    """Writes batches with `writer` (a `SessionWriter`) on a daemon thread.

    `put` and `close` run on the worker; what the thread raised (a bug: write errors
    are counted by the writer, not raised) is raised there, so it stops the flow.
    """

    def __init__(
        self,
        writer: Any,
        *,
        name: str = "session-writer",
        flush_s: float = FLUSH_SECONDS,
        status_s: float = 1.0,
        max_batches: int = 256,
        on_counters: Callable[[dict[str, int]], None] | None = None,
        on_status: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        if not flush_s > 0:
            raise ValueError(f"flush_s={flush_s} must be > 0")
        self._writer = writer
        self._flush_s = flush_s
        self._status_s = status_s
        self._on_counters = on_counters
        self._on_status = on_status
        self._max_batches = max_batches
        self._wake_at = max(1, max_batches // 2)
        self._gather_s = flush_s / 5
        self._pending: deque[list[object]] = deque()
        self._cond = threading.Condition(threading.Lock())
        self._idle = False  # the thread waits for a first batch (no timeout)
        self._stopping = False
        self._error: BaseException | None = None
        self._closed = False
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def put(self, items: list[object]) -> None:
        """Hand a batch over; waits while `max_batches` are queued (the disk is behind)."""
        with self._cond:
            while True:
                self._raise()
                if len(self._pending) < self._max_batches:
                    break
                self._cond.wait(0.5)
            self._pending.append(items)
            if self._idle or len(self._pending) >= self._wake_at:
                self._cond.notify_all()

    def close(self, timeout: float | None = None) -> None:
        """Write and flush everything queued, then stop the thread."""
        if self._closed:
            return
        self._closed = True
        if self._thread.is_alive():
            with self._cond:
                self._stopping = True
                self._cond.notify_all()
            self._thread.join(timeout)
        self._raise()

    def _raise(self) -> None:
        if self._error is not None:
            raise RuntimeError("the session writer thread failed") from self._error

    def _take(self, flush_due: float | None) -> tuple[list[list[object]], float, bool]:
        """Everything queued, when the first of it came (at the latest), and whether the
        thread should stop.

        With nothing queued, sleep until `put` wakes us (or until `flush_due`, to flush
        what was written); woken by a first batch, wait up to `gather_s` for more, so a
        steady trickle of small batches wakes this thread a few times a second instead
        of once per batch (each wake-up takes the GIL from the worker). A thread that
        is behind takes what is queued at once.
        """
        with self._cond:
            if not self._pending and not self._stopping:
                self._idle = True  # `put` wakes us
                while not self._pending and not self._stopping:
                    if flush_due is None:
                        self._cond.wait()
                        continue
                    left = flush_due - time.monotonic()
                    if left <= 0:
                        break
                    self._cond.wait(left)
                self._idle = False
                woke = time.monotonic()
                deadline = woke + self._gather_s
                while self._pending and len(self._pending) < self._wake_at and not self._stopping:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        break
                    self._cond.wait(left)
            else:
                woke = time.monotonic()
            batches = list(self._pending)
            self._pending.clear()
            self._cond.notify_all()  # room again for a worker waiting in `put`
            return batches, woke, self._stopping

    def _run(self) -> None:
        touched: dict[str, SessionFiles] = {}
        flush_due: float | None = None  # when what was written first since the last flush
        status_due = time.monotonic() + self._status_s
        try:
            while True:
                batches, came, stop = self._take(flush_due)
                write = self._writer.write
                for batch in batches:
                    for item in batch:
                        files = write(item)
                        if files is not None:
                            if flush_due is None:  # the window counts from the batch's arrival
                                flush_due = came + self._flush_s
                            touched[files.client] = files
                now = time.monotonic()
                if stop or (flush_due is not None and now >= flush_due):
                    self._flush(touched)
                    touched, flush_due = {}, None
                    if self._on_status is not None and (stop or now >= status_due):
                        self._on_status(self._writer.status())
                        status_due = now + self._status_s
                if stop:
                    return
        except BaseException as exc:  # raised on the worker by the next put/close
            with self._cond:
                self._error = exc
                self._cond.notify_all()

    def _flush(self, touched: dict[str, SessionFiles]) -> None:
        self._writer.flush_sessions(touched)
        if self._on_counters is not None:
            self._on_counters(self._writer.counters)
