"""A `SessionWriter` on a thread of its own, so session disk I/O is off the worker.

The worker hands each batch over (`put`, a bounded queue: when the disk falls that far
behind, the worker waits — back-pressure, never loss) and goes on; the thread writes
the items in order, and flushes the sessions it touched at most every `flush_s`
seconds (one flush per session per interval instead of one per batch). Opening a
session (mkdir, four files) happens there too, so a thousand clients arriving in the
same second no longer hold the worker.

Crash-loss window: a process killed with SIGKILL loses what it had not yet flushed —
at most the last `flush_s` seconds of written items plus the batches still queued
(`max_batches`; normally none: the thread keeps up) — and leaves readable files.
A clean stop (`close`) writes and flushes everything.

Status: the writer's counters are handed to `on_counters` after every flush, its whole
`status()` (O(open sessions)) to `on_status` at most every `status_s` seconds and at
close — never per batch.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from typing import Any, Final

from ambient_flow.sinks.session_files import SessionFiles

__all__ = ["FLUSH_SECONDS", "SessionWriterThread"]

#: Default flush interval: the crash-loss window of session files, in seconds.
FLUSH_SECONDS: Final = 0.25
_STOP: Final = object()


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
        self._queue: queue.Queue[object] = queue.Queue(maxsize=max_batches)
        self._error: BaseException | None = None
        self._closed = False
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def put(self, items: list[object]) -> None:
        """Hand a batch over; waits while `max_batches` are queued (the disk is behind)."""
        while True:
            self._raise()
            try:
                self._queue.put(items, timeout=0.5)
                return
            except queue.Full:
                continue

    def close(self, timeout: float | None = None) -> None:
        """Write and flush everything queued, then stop the thread."""
        if self._closed:
            return
        self._closed = True
        if self._thread.is_alive():
            self._queue.put(_STOP)
            self._thread.join(timeout)
        self._raise()

    def _raise(self) -> None:
        if self._error is not None:
            raise RuntimeError("the session writer thread failed") from self._error

    def _run(self) -> None:
        touched: dict[str, SessionFiles] = {}
        due = 0.0  # when what was written first since the last flush must be flushed
        status_due = time.monotonic() + self._status_s
        try:
            while True:
                timeout = max(0.0, due - time.monotonic()) if touched else None
                try:
                    batch = self._queue.get(timeout=timeout)
                except queue.Empty:
                    batch = ()
                if batch is _STOP:
                    break
                for item in batch:  # type: ignore[attr-defined]
                    files = self._writer.write(item)
                    if files is not None:
                        if not touched:
                            due = time.monotonic() + self._flush_s
                        touched[files.client] = files
                now = time.monotonic()
                if touched and now >= due:
                    self._flush(touched)
                    touched = {}
                    if self._on_status is not None and now >= status_due:
                        self._on_status(self._writer.status())
                        status_due = now + self._status_s
            self._flush(touched)
        except BaseException as exc:  # raised on the worker by the next put/close
            self._error = exc

    def _flush(self, touched: dict[str, SessionFiles]) -> None:
        self._writer.flush_sessions(touched)
        if self._on_counters is not None:
            self._on_counters(self._writer.counters)
