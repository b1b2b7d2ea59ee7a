"""One directory per client session: streaming WAV, metadata, events and (optionally) frames.

```
<data_dir>/sessions/<YYYYmmdd_HHMMSS>_<client>_<id8>/
    audio.wav        16 kHz mono int16, written as it streams (valid for any WAV reader
                     while live, to within 1 s; readable after a crash)
    metadata.json    exactly the upstream consumer's SessionMetadata keys (session_id,
                     device_name, recording_mode, started_at, ended_at, duration_seconds,
                     frame_count, storage_path, audio_path)
    session.json     everything else: client, peer, config, counters, sample positions...
                     (both replaced atomically at start, every few seconds, and at the end)
    events.jsonl     one JSON object per line: session_start ... session_end, gaps, rejects
    frames/          <seq:08d>.jpg per video frame, only with save_frames=True
```
(`frames.jsonl`, `enrichment.jsonl` and `models.json` in the same directory belong to the
enrichment sink.)

`SessionWriter` routes the items of per-client ingest to the session currently
open for their client; the enrichment's `SessionBoundary` at a session's close gives
its `frame_count`. All times written come from the data (`at_ns`, `received_ns`), never
from the wall clock, so a replay writes the same files.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from pathlib import Path
from types import TracebackType
from typing import Any, Final

from bytewax.outputs import DynamicSink, StatelessSinkPartition
from typing_extensions import override

from ambient_flow.errors import StartupError
from ambient_flow.operators.attribution import SessionBoundary
from ambient_flow.operators.budget import TokenBucket
from ambient_flow.operators.events import ClientEvent
from ambient_flow.protocol.messages import AudioChunk, Rejected, VideoFrame
from ambient_flow.sinks.disk_budget import DiskBudget
from ambient_flow.sinks.session_files import SessionFiles
from ambient_flow.sinks.session_layout import (
    COUNTER_NAMES,
    SESSIONS_DIR,
    SessionOptions,
    safe_session_name,
)
from ambient_flow.sinks.session_thread import FLUSH_SECONDS, SessionWriterThread
from ambient_flow.telemetry import RateLimitedLog, Telemetry

__all__ = [
    "COUNTER_NAMES",
    "SESSIONS_DIR",
    "SessionFiles",
    "SessionItem",
    "SessionObserver",
    "SessionOptions",
    "SessionSink",
    "SessionStatusPublisher",
    "SessionWriter",
    "StatusObserver",
    "safe_session_name",
]

logger = logging.getLogger(__name__)

#: What per-client ingest (and the enrichment's session boundaries) hand to this sink.
SessionItem = ClientEvent | AudioChunk | VideoFrame | Rejected | SessionBoundary
#: Closed sessions whose `frame_count` can still arrive (the enrichment finishes after ingest).
MAX_CLOSED_SESSIONS = 1024
#: Called by a `SessionSink` partition after each batch with (worker_index, counters).
SessionObserver = Callable[[int, dict[str, int]], None]
#: Called likewise with (worker_index, the writer's whole `status()`).
StatusObserver = Callable[[int, dict[str, Any]], None]
#: Session counters also shown as drops (counter -> drop reason).
_STATUS_DROPS: Final = {
    "write_errors": "session_write_errors",
    "audio_not_written_chunks": "session_audio_not_written",
    "video_frames_not_saved": "session_frames_not_saved",
    "sessions_refused": "sessions_refused",
}


class SessionStatusPublisher:
    """A `StatusObserver` that puts every worker's sessions into the status document:
    the `sessions` section (counters summed over workers, open sessions, disk) and, as
    drops, write errors and what the disk budgets kept off the disk, so a client whose
    audio is received but not written shows it."""

    def __init__(self, telemetry: Telemetry) -> None:
        self._telemetry = telemetry
        self._lock = threading.Lock()
        self._workers: dict[int, dict[str, Any]] = {}
        self._reported: dict[str, int] = {}

    def __call__(self, worker: int, status: dict[str, Any]) -> None:
        with self._lock:
            self._workers[worker] = status
            merged = _merge([self._workers[w] for w in sorted(self._workers)])
            deltas = {
                drop: merged.get(key, 0) - self._reported.get(key, 0)
                for key, drop in _STATUS_DROPS.items()
            }
            self._reported = {key: merged.get(key, 0) for key in _STATUS_DROPS}
        self._telemetry.section("sessions", merged)
        for drop, n in deltas.items():
            if n > 0:
                self._telemetry.drop(drop, n)


def _merge(statuses: list[dict[str, Any]]) -> dict[str, Any]:
    """Sum numbers, merge mappings (recursively); what is neither, the last one wins."""
    out: dict[str, Any] = {}
    for status in statuses:
        for key, value in status.items():
            if isinstance(value, bool) or not isinstance(value, int | float | dict):
                out[key] = value
            elif isinstance(value, dict):
                out[key] = (
                    _merge([out.get(key, {}), value])
                    if key != "sessions"
                    else {
                        **out.get(key, {}),
                        **value,
                    }
                )
            elif key == "free_bytes":
                out[key] = value  # the same file system: not a sum
            else:
                out[key] = out.get(key, 0) + value
    return out


class SessionWriter:
    """Route per-client items to each client's open session and keep its files.

    Items of one client must arrive in order (per-client ingest guarantees it);
    items of different clients may interleave freely. Nothing here raises while
    streaming: an item without an open session, an unsafe session name or a failed
    write is counted (`counters`) and logged at a limited rate.

    Args:
        data_dir: Root data directory; sessions go to `<data_dir>/sessions/`.
        save_frames: Save video frames as JPEG files.
        options: Everything else (`save_frames` overrides `options.save_frames`).

    Raises:
        StartupError: `<data_dir>/sessions/` cannot be created.
    """

    def __init__(
        self,
        data_dir: str | os.PathLike[str],
        save_frames: bool = False,
        *,
        options: SessionOptions | None = None,
        clock: Callable[[], int] = time.monotonic_ns,
    ) -> None:
        base = options or SessionOptions()
        self._clock = clock
        self._options = replace(base, save_frames=save_frames or base.save_frames)
        self.sessions_dir = Path(data_dir) / SESSIONS_DIR
        try:
            self.sessions_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StartupError(f"cannot create {self.sessions_dir}: {exc}") from exc
        if not os.access(self.sessions_dir, os.W_OK | os.X_OK):
            raise StartupError(f"{self.sessions_dir} is not writable")
        self._open: dict[str, SessionFiles] = {}
        self._closed: OrderedDict[str, SessionFiles] = OrderedDict()  # session -> its files
        self._counters = dict.fromkeys(COUNTER_NAMES, 0)
        self._log = RateLimitedLog(logger)
        self.disk = DiskBudget(self._options.disk, self.sessions_dir)
        rate = self._options.metadata_rewrites_per_second
        # Paced by the wall clock: when a live session's metadata is refreshed is I/O
        # pacing, not data (a session's start and end are always written).
        self._rewrites = TokenBucket(rate, period_ns=1_000_000_000) if rate > 0 else None

    # -- reading ----------------------------------------------------------------------
    @property
    def counters(self) -> dict[str, int]:
        """A copy of the counters (see `COUNTER_NAMES`), for status and metrics."""
        return dict(self._counters)

    @property
    def open_sessions(self) -> dict[str, Path]:
        """Client -> directory of its open session (safe to read from another thread)."""
        return {client: files.path for client, files in list(self._open.items())}

    def status(self) -> dict[str, Any]:
        """The `sessions` section of the status document."""
        return {
            "open": len(self._open),
            "sessions": {c: p.name for c, p in sorted(self.open_sessions.items())},
            **self._counters,
            "disk": self.disk.status(),
        }

    # -- writing ----------------------------------------------------------------------
    def write_batch(self, items: Iterable[object]) -> None:
        """Write items, then flush every session so a crash loses at most this batch."""
        touched: dict[str, SessionFiles] = {}
        for item in items:
            files = self.write(item)
            if files is not None:
                touched[files.client] = files
        self.flush_sessions(touched)

    def flush_sessions(self, touched: Mapping[str, SessionFiles]) -> None:
        """Flush these sessions (client -> files) if they are still open, and rewrite the
        metadata of those due (`metadata_every_s` of new audio, and as long since their
        last rewrite), within `metadata_rewrites_per_second`."""
        now_ns = self._clock()
        every_ns = int(self._options.metadata_every_s * 1e9)
        for client, files in touched.items():
            if self._open.get(client) is not files:
                continue
            # a live rewrite also waits `metadata_every_s` of wall time, so a client sending
            # faster than real time (a catch-up, a blast) does not rewrite two files every
            # 50 chunks
            rewrite = files.metadata_due() and now_ns - files.metadata_written_ns >= every_ns
            if rewrite and self._rewrites is not None and not self._rewrites.take_one(now_ns):
                rewrite = False
                self._counters["metadata_rewrites_deferred"] += 1
            self._guard(files, files.flush, metadata=rewrite)
            if rewrite:
                self._counters["metadata_rewrites"] += 1
                files.metadata_written_ns = now_ns

    def write(self, item: object) -> SessionFiles | None:
        """Write one item without flushing; returns the session it went to, if any."""
        if isinstance(item, AudioChunk):  # most items: the shortest way
            files = self._open.get(item.client)
            if files is None:
                return self._route(item.client, "orphan_audio")
            if self._recording(files, item, 2 * item.num_samples):
                try:
                    files.write_audio(item)
                except OSError as exc:
                    self._write_failed(files, exc)
            return files
        if isinstance(item, ClientEvent):
            return self._event(item)
        if isinstance(item, VideoFrame):
            files = self._route(item.client, "orphan_video")
            saved = len(item.payload) if self._options.save_frames else 0
            if files is not None and self._recording(files, item, saved):
                self._guard(files, files.write_frame, item)
            return files
        if isinstance(item, Rejected):
            files = self._open.get(item.client) if item.client is not None else None
            if files is None:
                self._counters["rejected_unrouted"] += 1
            else:
                self._guard(files, files.write_rejected, item)
            return files
        if isinstance(item, SessionBoundary):
            self._boundary(item)
            return None
        self._counters["unknown_items"] += 1
        self._log.log(logging.WARNING, "unknown", "ignored %s item", type(item).__name__)
        return None

    def _recording(self, files: SessionFiles, item: AudioChunk | VideoFrame, nbytes: int) -> bool:
        """Whether the disk budgets let `item` be written; if not, it is counted instead."""
        if not nbytes:
            return True
        scope = self.disk.refusal(files.client, nbytes, item.received_ns)
        if scope is None:
            if files.paused:  # (every chunk asks: the call only when there is a pause to end)
                self._guard(files, files.resume, item.received_ns)
            return True
        self._guard(files, files.not_written, item, scope)
        return False

    def close_all(self, reason: str) -> None:
        """End every open session with `reason` (e.g. `shutdown`), at its last data time."""
        for client in list(self._open):
            files = self._open.pop(client)
            self._guard(files, files.close, reason)
            self._remember(files)

    def _remember(self, files: SessionFiles) -> None:
        """Keep a closed session's writer for its `frame_count`, which comes later."""
        self._closed[files.session] = files
        while len(self._closed) > MAX_CLOSED_SESSIONS:
            self._closed.popitem(last=False)

    def _boundary(self, boundary: SessionBoundary) -> None:
        if boundary.kind != "close":
            return  # the session opened with ingest's session_start already
        files = self._closed.pop(boundary.session_id, None)
        if files is None:
            current = self._open.get(boundary.client)
            files = (
                current if current is not None and current.session == boundary.session_id else None
            )
        if files is None:
            self._counters["frame_counts_unrouted"] += 1
            return
        self._guard(files, files.set_enrichments, boundary.enrichments)

    def __enter__(self) -> SessionWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close_all("shutdown" if exc_type is None else "error")

    # -- internals --------------------------------------------------------------------
    def _event(self, event: ClientEvent) -> SessionFiles | None:
        current = self._open.get(event.client)
        if event.kind == "session_start":
            if current is not None:
                self._counters["sessions_superseded"] += 1
                self._log.log(
                    logging.WARNING,
                    "superseded",
                    "client %s started %s with %s still open",
                    event.client,
                    event.session,
                    current.session,
                )
                del self._open[event.client]
                self._guard(current, current.close, "superseded", at_ns=event.at_ns)
                self._remember(current)
            if not self.disk.admit_session(event.at_ns):
                self._counters["sessions_refused"] += 1
                self._log.log(
                    logging.WARNING,
                    "session_rate",
                    "refused session %s of %s: more than %g new sessions a minute on this host",
                    event.session,
                    event.client,
                    self.disk.limits.sessions_per_minute,
                )
                return None
            try:
                files = SessionFiles.create(
                    self.sessions_dir, event, self._options, self._counters, self._log
                )
            except OSError as exc:
                self._counters["sessions_refused"] += 1
                self._counters["write_errors"] += 1
                self._log.log(
                    logging.ERROR, "open", "cannot open session %s: %s", event.session, exc
                )
                return None
            if files is not None:
                self._open[event.client] = files
                files.metadata_written_ns = self._clock()  # written at its start
            return files
        if current is None or current.session != event.session:
            self._counters["orphan_events"] += 1
            self._log.log(
                logging.WARNING,
                "orphan_event",
                "%s event of %s for session %r, which is not open",
                event.kind,
                event.client,
                event.session,
            )
            return None
        if event.kind == "session_end":
            del self._open[event.client]
            reason = str(event.data.get("reason", "end"))
            counters = event.data.get("counters")
            self._guard(
                current,
                current.close,
                reason,
                at_ns=event.at_ns,
                counters=counters if isinstance(counters, Mapping) else None,
                end=event,
            )
            self._remember(current)
            return None
        self._guard(current, current.write_event, event)
        return current

    def _route(self, client: str, orphan_key: str) -> SessionFiles | None:
        files = self._open.get(client)
        if files is None:
            self._counters[orphan_key] += 1
            self._log.log(
                logging.WARNING,
                orphan_key,
                "%s for client %r with no open session",
                orphan_key.removeprefix("orphan_"),
                client,
            )
        return files

    def _guard(
        self, files: SessionFiles, fn: Callable[..., None], *args: Any, **kwargs: Any
    ) -> None:
        """Run a write; an OSError is counted and logged, never raised while streaming."""
        try:
            fn(*args, **kwargs)
        except OSError as exc:
            self._write_failed(files, exc)

    def _write_failed(self, files: SessionFiles, exc: OSError) -> None:
        self._counters["write_errors"] += 1
        self._log.log(
            logging.ERROR, "write_error", "session %s: write failed: %s", files.session, exc
        )


class _SessionSinkPartition(StatelessSinkPartition[object]):
    """Hands each batch to the worker's `SessionWriterThread` (session I/O off the worker)."""

    def __init__(
        self,
        writer: SessionWriter,
        worker_index: int,
        observer: SessionObserver | None,
        on_status: StatusObserver | None,
        flush_s: float,
    ) -> None:
        self._writer = writer
        self._worker_index = worker_index
        self._observer = observer
        self._on_status = on_status
        self._thread = SessionWriterThread(
            writer,
            name=f"session-writer-{worker_index}",
            flush_s=flush_s,
            on_counters=(lambda c: observer(worker_index, c)) if observer is not None else None,
            on_status=(lambda s: on_status(worker_index, s)) if on_status is not None else None,
        )

    @override
    def write_batch(self, items: list[object]) -> None:
        self._thread.put([_unkey(item) for item in items])

    @override
    def close(self) -> None:
        self._thread.close()
        self._writer.close_all("shutdown")
        self._notify()

    def _notify(self) -> None:
        if self._observer is not None:
            self._observer(self._worker_index, self._writer.counters)
        if self._on_status is not None:
            self._on_status(self._worker_index, self._writer.status())


class SessionSink(DynamicSink[object]):
    """Write each client's session to `<data_dir>/sessions/<session>/` (see module doc).

    Unit of parallelism: one `SessionWriter` per worker. That is safe because the
    items come out of a stateful step keyed by client: all items of one client
    are on the same worker, in order, so no two workers ever write one session.
    Items may be bare (`ClientEvent`, `AudioChunk`, `VideoFrame`, `Rejected`) or
    still keyed (`(client, item)`).

    Delivery: each worker's writer runs on a thread of its own
    (`session_thread.SessionWriterThread`): items are written in order as they come and
    each session is flushed at most every `flush_s` seconds (0.25 by default); a
    process killed with SIGKILL loses at most its last `flush_s` seconds of items (plus
    batches still queued for the thread, normally none) and leaves readable files
    (sessions it had open keep `ended_at: null`). On a clean end of input the
    open sessions are closed with reason `shutdown`. There is no resume state
    (a `DynamicSink` has none): after a Bytewax recovery resume, items of a session
    opened before the resume count as orphans until their client starts a new one.

    Args:
        data_dir: Root data directory (`Settings.data_dir`).
        save_frames: Also save every video frame as a JPEG.
        options: Finer settings (`SessionOptions`).
        observer: Called after every flush (and at close) with the worker index
            and a copy of that worker's counters, e.g. to publish them to status.
            It runs on the writer thread and should be quick; what it raises
            stops the flow.
        on_status: Likewise with the writer's whole `status()` (e.g.
            `SessionStatusPublisher`), at most once a second and at close.
        flush_s: Longest time a written item waits for its flush (the crash-loss window).
    """

    def __init__(
        self,
        data_dir: str | os.PathLike[str],
        save_frames: bool = False,
        *,
        options: SessionOptions | None = None,
        observer: SessionObserver | None = None,
        on_status: StatusObserver | None = None,
        flush_s: float = FLUSH_SECONDS,
    ) -> None:
        if not flush_s > 0:
            raise ValueError(f"flush_s={flush_s} must be > 0")
        if not isinstance(data_dir, str | os.PathLike) or not os.fspath(data_dir):
            raise ValueError(f"data_dir={data_dir!r} must be a non-empty path")
        if not isinstance(save_frames, bool):
            raise ValueError(f"save_frames={save_frames!r} must be a bool")
        self._data_dir = Path(data_dir)
        self._save_frames = save_frames
        self._options = options
        self._observer = observer
        self._on_status = on_status
        self._flush_s = flush_s

    @override
    def build(self, step_id: str, worker_index: int, worker_count: int) -> _SessionSinkPartition:
        writer = SessionWriter(self._data_dir, self._save_frames, options=self._options)
        return _SessionSinkPartition(
            writer, worker_index, self._observer, self._on_status, self._flush_s
        )


def _unkey(item: object) -> object:
    """`(client, item)` -> `item`, so the sink can follow a keyed step directly."""
    if isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], str):
        return item[1]
    return item
