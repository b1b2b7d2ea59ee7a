"""One directory per client session: streaming WAV, metadata, events and (optionally) frames.

```
<data_dir>/sessions/<YYYYmmdd_HHMMSS>_<client>_<id8>/
    audio.wav        16 kHz mono int16, written as it streams (readable after a crash)
    metadata.json    who, when, config, counts; replaced atomically at start, every
                     few seconds of audio, and at the end
    events.jsonl     one JSON object per line: session_start ... session_end, gaps, rejects
    frames/          <seq:08d>.jpg per video frame, only with save_frames=True
```

`SessionWriter` routes the items of per-client ingest to the session currently
open for their client. All times written come from the data (`at_ns`,
`received_ns`), never from the wall clock, so a replay writes the same files.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Final

import numpy as np
from bytewax.outputs import DynamicSink, StatelessSinkPartition
from typing_extensions import override

from ambient_flow.errors import StartupError
from ambient_flow.operators.events import ClientEvent
from ambient_flow.protocol.constants import AUDIO_SAMPLE_RATE
from ambient_flow.protocol.messages import AudioChunk, Rejected, VideoFrame
from ambient_flow.sinks.wav import StreamingWavWriter
from ambient_flow.telemetry import RateLimitedLog

__all__ = [
    "COUNTER_NAMES",
    "SESSIONS_DIR",
    "SessionFiles",
    "SessionItem",
    "SessionObserver",
    "SessionOptions",
    "SessionSink",
    "SessionWriter",
    "iso_utc",
    "safe_session_name",
]

logger = logging.getLogger(__name__)

SESSIONS_DIR: Final = "sessions"
AUDIO_FILE: Final = "audio.wav"
METADATA_FILE: Final = "metadata.json"
#: Most `.N` suffixes tried for a saved frame whose sequence number repeats.
_MAX_RENAMES: Final = 1000
EVENTS_FILE: Final = "events.jsonl"
FRAMES_DIR: Final = "frames"

#: What per-client ingest hands to this sink.
SessionItem = ClientEvent | AudioChunk | VideoFrame | Rejected
#: Called by a `SessionSink` partition after each batch with (worker_index, counters).
SessionObserver = Callable[[int, dict[str, int]], None]

# One path component, never hidden, never `.`/`..`: what `sanitize_client_name` and the
# session naming upstream produce. Anything else is refused, not repaired.
_SAFE_NAME: Final = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,199}")

#: Every counter `SessionWriter.counters` reports (all start at 0, so status shows them).
COUNTER_NAMES: Final = (
    "sessions_opened",  # a directory was created
    "sessions_closed",  # by session_end or close_all
    "sessions_superseded",  # session_start while the client still had one open (closed first)
    "sessions_replaced",  # the directory existed (an earlier run of the same capture)
    "sessions_refused",  # unsafe name, or the directory could not be created
    "audio_chunks",
    "audio_samples",  # written to audio.wav
    "audio_discontinuities",  # start_sample not where the previous chunk ended (appended)
    "audio_refused",  # not 1-D, or not at the session's sample rate
    "frames",
    "frames_saved",
    "frames_renamed",  # a frame with that sequence number was already saved
    "events",  # lines written to events.jsonl (rejects included)
    "rejected",  # Rejected items of a client with an open session
    "rejected_not_logged",  # ... past max_rejected_lines, counted but not in events.jsonl
    "rejected_unrouted",  # Rejected items with no client or no open session
    "orphan_audio",  # audio for a client with no open session
    "orphan_video",
    "orphan_events",  # an event (or session_end) not of the client's open session
    "unknown_items",  # not one of SessionItem
    "write_errors",  # OSError while writing (disk full, permissions); counted, logged
)


def iso_utc(ns: int) -> str:
    """Unix nanoseconds as an ISO 8601 UTC time with microseconds (`...T12:00:00.123456Z`)."""
    dt = datetime.fromtimestamp(ns // 1_000_000_000, UTC).replace(
        microsecond=(ns % 1_000_000_000) // 1000
    )
    return dt.isoformat(timespec="microseconds").replace("+00:00", "Z")


def safe_session_name(name: object) -> str | None:
    """`name` if it is one safe path component (`[A-Za-z0-9_-][A-Za-z0-9._-]*`), else None.

    The session name comes from upstream, which builds it from a sanitized client
    name; this check is the sink's own guarantee that nothing is written outside
    `<data_dir>/sessions/`, whatever upstream does.
    """
    if isinstance(name, str) and _SAFE_NAME.fullmatch(name):
        return name
    return None


@dataclass(frozen=True, slots=True)
class SessionOptions:
    """How sessions are written.

    Attributes:
        save_frames: Save every video frame as `frames/<seq:08d>.jpg`.
        metadata_every_s: Rewrite metadata.json after this much new audio (or
            `metadata_every_s * 5` new frames in a session without audio).
        sample_rate: Rate of the audio written (per-client ingest emits 16 kHz).
        jpeg_quality: Quality used when a raw rgb frame is encoded for saving.
        max_rejected_lines: Rejected messages written to one session's events.jsonl;
            more are only counted (a client sending garbage must not fill the disk;
            upstream's `rejects` event at the end summarizes them all by reason).
    """

    save_frames: bool = False
    metadata_every_s: float = 5.0
    sample_rate: int = AUDIO_SAMPLE_RATE
    jpeg_quality: int = 90
    max_rejected_lines: int = 1000

    def __post_init__(self) -> None:
        if not isinstance(self.save_frames, bool):
            raise ValueError(f"save_frames={self.save_frames!r} must be a bool")
        if not self.metadata_every_s > 0:
            raise ValueError(f"metadata_every_s={self.metadata_every_s} must be > 0")
        if isinstance(self.sample_rate, bool) or self.sample_rate <= 0:
            raise ValueError(f"sample_rate={self.sample_rate} must be > 0")
        if not 1 <= self.jpeg_quality <= 100:
            raise ValueError(f"jpeg_quality={self.jpeg_quality} must be 1..100")
        if self.max_rejected_lines < 0:
            raise ValueError(f"max_rejected_lines={self.max_rejected_lines} must be >= 0")


class SessionFiles:
    """The files of one open session; created by `SessionFiles.create`.

    Audio chunks are appended at their place on the client's sample clock: sample
    `i` of audio.wav is sample `first_start_sample + i` of the stream.
    """

    def __init__(
        self,
        path: Path,
        start: ClientEvent,
        options: SessionOptions,
        counters: dict[str, int],
        log: RateLimitedLog,
    ) -> None:
        """Open the files in an existing, empty directory `path` (use `create`)."""
        self.path = path
        self.session = start.session
        self.client = start.client
        self._options = options
        self._counters = counters
        self._log = log
        data = start.data
        self._meta: dict[str, Any] = {
            "session": start.session,
            "dir": path.name,
            "client": start.client,
            "peer": data.get("peer"),
            "source": data.get("source"),
            "capabilities": data.get("capabilities"),
            "client_session": data.get("client_session", data.get("session")),
            "config": data.get("config"),
            "start_sample": data.get("start_sample"),
            "end_sample": None,
            "started_at": iso_utc(start.at_ns),
            "started_at_ns": start.at_ns,
            "ended_at": None,
            "ended_at_ns": None,
            "end_reason": None,
            "counters": None,
            "sample_rate": options.sample_rate,
            "samples": 0,
            "audio_seconds": 0.0,
            "audio_chunks": 0,
            "first_start_sample": None,
            "last_start_sample": None,
            "discontinuities": 0,
            "frames": 0,
            "frames_saved": 0,
            "events": 0,
            "rejected": 0,
            "files": {
                "audio": AUDIO_FILE,
                "events": EVENTS_FILE,
                "frames": FRAMES_DIR if options.save_frames else None,
            },
        }
        self._last_ns = start.at_ns
        self._next_sample: int | None = None
        self._meta_samples = 0
        self._meta_frames = 0
        self._frames_dir = path / FRAMES_DIR
        self._wav = StreamingWavWriter(path / AUDIO_FILE, options.sample_rate)
        try:
            self._events = open(path / EVENTS_FILE, "a", encoding="utf-8")  # noqa: SIM115
        except OSError:
            self._wav.close()
            raise
        try:
            if options.save_frames:
                self._frames_dir.mkdir(exist_ok=True)
            self.write_event(start)
            self.flush(metadata=True)
        except OSError:
            self._wav.close()
            self._events.close()
            raise

    @classmethod
    def create(
        cls,
        sessions_dir: Path,
        start: ClientEvent,
        options: SessionOptions,
        counters: dict[str, int],
        log: RateLimitedLog,
    ) -> SessionFiles | None:
        """Make the session's directory and open its files; None (counted) if refused.

        A directory that already exists (the same capture replayed twice into one
        data dir) is reused and its files replaced.
        """
        name = safe_session_name(start.session)
        if name is None:
            counters["sessions_refused"] += 1
            log.log(
                logging.WARNING,
                "unsafe",
                "refused session name %r of client %r",
                start.session,
                start.client,
            )
            return None
        path = sessions_dir / name
        replaced = path.is_dir()
        path.mkdir(exist_ok=True)
        if path.resolve().parent != sessions_dir.resolve():  # pragma: no cover - paranoia
            counters["sessions_refused"] += 1
            log.log(logging.ERROR, "escape", "session dir %s resolves outside %s", path,
                    sessions_dir)  # fmt: skip
            return None
        if replaced:
            # Names come from the data (client + first arrival time), so an existing
            # directory is this same session from an earlier run of the same capture:
            # its outputs are replaced, which keeps replays reproducible.
            for stale in (AUDIO_FILE, EVENTS_FILE, METADATA_FILE):  # this sink's own files
                (path / stale).unlink(missing_ok=True)
            shutil.rmtree(path / FRAMES_DIR, ignore_errors=True)
            counters["sessions_replaced"] += 1
            log.log(logging.WARNING, "replaced", "session dir %s existed (an earlier run of "
                    "the same capture?): its files are replaced", path)  # fmt: skip
        files = cls(path, start, options, counters, log)
        counters["sessions_opened"] += 1
        logger.info("session %s of %s opened in %s", name, start.client, path)
        return files

    # -- writing ----------------------------------------------------------------------
    def write_audio(self, chunk: AudioChunk) -> None:
        samples = chunk.samples
        if samples.ndim != 1 or chunk.sample_rate != self._options.sample_rate:
            self._counters["audio_refused"] += 1
            self._log.log(
                logging.WARNING,
                "audio_refused",
                "session %s: refused audio seq %d (shape %s, %d Hz)",
                self.session,
                chunk.sequence,
                samples.shape,
                chunk.sample_rate,
            )
            return
        meta = self._meta
        start = chunk.start_sample
        if start is not None:
            if meta["first_start_sample"] is None:
                meta["first_start_sample"] = start
                self._next_sample = start
            elif start != self._next_sample:
                self._discontinuity(chunk, start)
            meta["last_start_sample"] = start
        written = self._wav.write(samples)
        if self._next_sample is not None:
            self._next_sample += written
        meta["samples"] += written
        meta["audio_chunks"] += 1
        self._counters["audio_chunks"] += 1
        self._counters["audio_samples"] += written
        self._seen(chunk.received_ns)

    def _discontinuity(self, chunk: AudioChunk, start: int) -> None:
        """Per-client ingest hands over a contiguous timeline (it fills gaps itself), so
        this only happens after a Bytewax recovery: count it, say so, append as is."""
        expected = self._next_sample if self._next_sample is not None else start
        self._meta["discontinuities"] += 1
        self._counters["audio_discontinuities"] += 1
        self._log.log(
            logging.WARNING,
            "discontinuity",
            "session %s: audio seq %d starts at sample %d, expected %d (appended as is)",
            self.session,
            chunk.sequence,
            start,
            expected,
        )
        self._next_sample = start  # the file follows the stream from here

    def write_frame(self, frame: VideoFrame) -> None:
        self._meta["frames"] += 1
        self._counters["frames"] += 1
        self._seen(frame.received_ns)
        if not self._options.save_frames:
            return
        if frame.format == "rgb":
            data = self._encode_rgb(frame)
            if data is None:
                return
        else:
            data = frame.payload
        base = f"{frame.sequence:08d}"
        for n in range(_MAX_RENAMES):
            name = f"{base}.jpg" if n == 0 else f"{base}.{n}.jpg"
            try:
                with open(self._frames_dir / name, "xb") as fh:
                    fh.write(data)
            except FileExistsError:
                continue
            if n:
                self._counters["frames_renamed"] += 1
            self._meta["frames_saved"] += 1
            self._counters["frames_saved"] += 1
            return

    def _encode_rgb(self, frame: VideoFrame) -> bytes | None:
        import cv2  # only sessions that save raw frames pay for OpenCV

        try:
            bgr = frame.image()
        except ValueError as exc:
            self._counters["write_errors"] += 1
            self._log.log(
                logging.WARNING, "rgb", "frame %d of %s: %s", frame.sequence, frame.client, exc
            )
            return None
        ok, buf = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, self._options.jpeg_quality])
        if not ok:
            self._counters["write_errors"] += 1
            return None
        return bytes(buf)

    def write_event(self, event: ClientEvent) -> None:
        self._append({**event.to_record(), "time": iso_utc(event.at_ns)})
        self._seen(event.at_ns)

    def write_rejected(self, rejected: Rejected) -> None:
        self._meta["rejected"] += 1
        self._counters["rejected"] += 1
        self._seen(rejected.received_ns)
        if self._meta["rejected"] > self._options.max_rejected_lines:
            self._counters["rejected_not_logged"] += 1
            return
        self._append({**rejected.to_record(), "time": iso_utc(rejected.received_ns)})

    def _append(self, record: Mapping[str, Any]) -> None:
        self._events.write(_dumps(record) + "\n")
        self._meta["events"] += 1
        self._counters["events"] += 1

    def _seen(self, ns: int) -> None:
        self._last_ns = max(self._last_ns, ns)

    # -- persisting -------------------------------------------------------------------
    @property
    def metadata(self) -> dict[str, Any]:
        """A copy of what metadata.json holds (or will hold at the next rewrite)."""
        return json.loads(_dumps(self._meta))  # type: ignore[no-any-return]

    @property
    def last_seen_ns(self) -> int:
        """Latest data time seen in this session (what `close` uses when none is given)."""
        return self._last_ns

    def flush(self, *, metadata: bool = False) -> None:
        """Push audio and events to the OS; rewrite metadata.json if due or asked."""
        self._wav.flush()
        self._events.flush()
        rate = self._options.sample_rate
        due_samples = self._options.metadata_every_s * rate
        due_frames = self._options.metadata_every_s * 5
        if (
            metadata
            or self._meta["samples"] - self._meta_samples >= due_samples
            or self._meta["frames"] - self._meta_frames >= due_frames
        ):
            self._write_metadata()

    def _write_metadata(self) -> None:
        self._meta["audio_seconds"] = round(self._meta["samples"] / self._options.sample_rate, 6)
        tmp = self.path / (METADATA_FILE + ".tmp")
        tmp.write_text(_dumps(self._meta, indent=2) + "\n", encoding="utf-8")
        os.replace(tmp, self.path / METADATA_FILE)
        self._meta_samples = self._meta["samples"]
        self._meta_frames = self._meta["frames"]

    def close(
        self,
        reason: str,
        *,
        at_ns: int | None = None,
        counters: Mapping[str, Any] | None = None,
        end: ClientEvent | None = None,
    ) -> None:
        """Record the end (with `end` appended to events.jsonl if given) and close the files."""
        if end is not None:
            self.write_event(end)
            self._meta["end_sample"] = end.data.get("end_sample")
        ended = self._last_ns if at_ns is None else at_ns
        self._meta.update(
            ended_at=iso_utc(ended),
            ended_at_ns=ended,
            end_reason=reason,
            counters=dict(counters) if counters is not None else None,
        )
        try:
            self._wav.close()
            self._events.close()
        finally:
            self._write_metadata()
        self._counters["sessions_closed"] += 1
        logger.info(
            "session %s of %s closed (%s): %.1f s audio, %d frames",
            self.session,
            self.client,
            reason,
            self._meta["audio_seconds"],
            self._meta["frames"],
        )


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
    ) -> None:
        base = options or SessionOptions()
        self._options = replace(base, save_frames=save_frames or base.save_frames)
        self.sessions_dir = Path(data_dir) / SESSIONS_DIR
        try:
            self.sessions_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StartupError(f"cannot create {self.sessions_dir}: {exc}") from exc
        if not os.access(self.sessions_dir, os.W_OK | os.X_OK):
            raise StartupError(f"{self.sessions_dir} is not writable")
        self._open: dict[str, SessionFiles] = {}
        self._counters = dict.fromkeys(COUNTER_NAMES, 0)
        self._log = RateLimitedLog(logger)

    # -- reading ----------------------------------------------------------------------
    @property
    def counters(self) -> dict[str, int]:
        """A copy of the counters (see `COUNTER_NAMES`), for status and metrics."""
        return dict(self._counters)

    @property
    def open_sessions(self) -> dict[str, Path]:
        """Client -> directory of its open session."""
        return {client: files.path for client, files in self._open.items()}

    def status(self) -> dict[str, Any]:
        """The `sessions` section of the status document."""
        return {
            "open": len(self._open),
            "sessions": {c: p.name for c, p in sorted(self.open_sessions.items())},
            **self._counters,
        }

    # -- writing ----------------------------------------------------------------------
    def write_batch(self, items: Iterable[object]) -> None:
        """Write items, then flush every session so a crash loses at most this batch."""
        touched: dict[str, SessionFiles] = {}
        for item in items:
            files = self.write(item)
            if files is not None:
                touched[files.client] = files
        for client, files in touched.items():
            if self._open.get(client) is files:
                self._guard(files, files.flush)

    def write(self, item: object) -> SessionFiles | None:
        """Write one item without flushing; returns the session it went to, if any."""
        if isinstance(item, ClientEvent):
            return self._event(item)
        if isinstance(item, AudioChunk):
            files = self._route(item.client, "orphan_audio")
            if files is not None:
                self._guard(files, files.write_audio, item)
            return files
        if isinstance(item, VideoFrame):
            files = self._route(item.client, "orphan_video")
            if files is not None:
                self._guard(files, files.write_frame, item)
            return files
        if isinstance(item, Rejected):
            files = self._open.get(item.client) if item.client is not None else None
            if files is None:
                self._counters["rejected_unrouted"] += 1
            else:
                self._guard(files, files.write_rejected, item)
            return files
        self._counters["unknown_items"] += 1
        self._log.log(logging.WARNING, "unknown", "ignored %s item", type(item).__name__)
        return None

    def close_all(self, reason: str) -> None:
        """End every open session with `reason` (e.g. `shutdown`), at its last data time."""
        for client in list(self._open):
            files = self._open.pop(client)
            self._guard(files, files.close, reason)

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
            self._counters["write_errors"] += 1
            self._log.log(
                logging.ERROR, "write_error", "session %s: write failed: %s", files.session, exc
            )


class _SessionSinkPartition(StatelessSinkPartition[object]):
    def __init__(
        self, writer: SessionWriter, worker_index: int, observer: SessionObserver | None
    ) -> None:
        self._writer = writer
        self._worker_index = worker_index
        self._observer = observer

    @override
    def write_batch(self, items: list[object]) -> None:
        self._writer.write_batch(_unkey(item) for item in items)
        self._notify()

    @override
    def close(self) -> None:
        self._writer.close_all("shutdown")
        self._notify()

    def _notify(self) -> None:
        if self._observer is not None:
            self._observer(self._worker_index, self._writer.counters)


class SessionSink(DynamicSink[object]):
    """Write each client's session to `<data_dir>/sessions/<session>/` (see module doc).

    Unit of parallelism: one `SessionWriter` per worker. That is safe because the
    items come out of a stateful step keyed by client: all items of one client
    are on the same worker, in order, so no two workers ever write one session.
    Items may be bare (`ClientEvent`, `AudioChunk`, `VideoFrame`, `Rejected`) or
    still keyed (`(client, item)`).

    Delivery: every item is written as it arrives and flushed after every batch;
    a process killed with SIGKILL loses at most its last batch and leaves readable
    files (sessions it had open keep `ended_at: null`). On a clean end of input the
    open sessions are closed with reason `shutdown`. There is no resume state
    (a `DynamicSink` has none): after a Bytewax recovery resume, items of a session
    opened before the resume count as orphans until their client starts a new one.

    Args:
        data_dir: Root data directory (`Settings.data_dir`).
        save_frames: Also save every video frame as a JPEG.
        options: Finer settings (`SessionOptions`).
        observer: Called after every batch (and at close) with the worker index
            and a copy of that worker's counters, e.g. to publish them to status.
            It runs on the worker thread and should be quick; what it raises
            stops the flow.
    """

    def __init__(
        self,
        data_dir: str | os.PathLike[str],
        save_frames: bool = False,
        *,
        options: SessionOptions | None = None,
        observer: SessionObserver | None = None,
    ) -> None:
        if not isinstance(data_dir, str | os.PathLike) or not os.fspath(data_dir):
            raise ValueError(f"data_dir={data_dir!r} must be a non-empty path")
        if not isinstance(save_frames, bool):
            raise ValueError(f"save_frames={save_frames!r} must be a bool")
        self._data_dir = Path(data_dir)
        self._save_frames = save_frames
        self._options = options
        self._observer = observer

    @override
    def build(self, step_id: str, worker_index: int, worker_count: int) -> _SessionSinkPartition:
        writer = SessionWriter(self._data_dir, self._save_frames, options=self._options)
        return _SessionSinkPartition(writer, worker_index, self._observer)


def _unkey(item: object) -> object:
    """`(client, item)` -> `item`, so the sink can follow a keyed step directly."""
    if isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], str):
        return item[1]
    return item


def _json_default(obj: object) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, bytes | bytearray | memoryview):
        return {"bytes": len(obj)}
    if isinstance(obj, set | frozenset):
        return sorted(obj, key=repr)
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    return repr(obj)


def _dumps(obj: object, indent: int | None = None) -> str:
    return json.dumps(obj, default=_json_default, ensure_ascii=False, indent=indent)
