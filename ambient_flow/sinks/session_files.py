"""The files of one open session: `audio.wav`, `metadata.json`, `session.json`,
`events.jsonl`, and the saved video frames in `frames/`.

`SessionFiles` writes one session's directory (layout in `sinks.session`); the
`SessionWriter` there routes each client's items to it.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np

from ambient_flow.operators.events import ClientEvent
from ambient_flow.protocol.constants import AUDIO_SAMPLE_RATE
from ambient_flow.protocol.messages import AudioChunk, Rejected, VideoFrame
from ambient_flow.sinks.wav import StreamingWavWriter
from ambient_flow.telemetry import RateLimitedLog
from ambient_flow.timefmt import iso_utc

__all__ = [
    "AUDIO_FILE",
    "COUNTER_NAMES",
    "EVENTS_FILE",
    "FRAMES_DIR",
    "METADATA_FILE",
    "RECORDING_MODES",
    "SESSIONS_DIR",
    "SESSION_FILE",
    "UPSTREAM_METADATA_KEYS",
    "SessionFiles",
    "SessionOptions",
    "dumps",
    "safe_session_name",
]

logger = logging.getLogger(__name__)

SESSIONS_DIR: Final = "sessions"
AUDIO_FILE: Final = "audio.wav"
METADATA_FILE: Final = "metadata.json"
SESSION_FILE: Final = "session.json"
#: The keys of `metadata.json`, exactly: the upstream consumer's `SessionMetadata` fields.
UPSTREAM_METADATA_KEYS: Final = (
    "session_id",
    "device_name",
    "recording_mode",
    "started_at",
    "ended_at",
    "duration_seconds",
    "frame_count",
    "storage_path",
    "audio_path",
)
#: What `recording_mode` says unless the client's hello names one (upstream's modes).
RECORDING_MODES: Final = ("ambient", "meeting", "focus")
#: Most `.N` suffixes tried for a saved frame whose sequence number repeats.
_MAX_RENAMES: Final = 1000
EVENTS_FILE: Final = "events.jsonl"
FRAMES_DIR: Final = "frames"


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
    "video_frames",
    "video_frames_saved",
    "video_frames_renamed",  # a video frame with that sequence number was already saved
    "events",  # lines written to events.jsonl (rejects included)
    "rejected",  # Rejected items of a client with an open session
    "rejected_not_logged",  # ... past max_rejected_lines, counted but not in events.jsonl
    "rejected_unrouted",  # Rejected items with no client or no open session
    "orphan_audio",  # audio for a client with no open session
    "orphan_video",
    "orphan_events",  # an event (or session_end) not of the client's open session
    "unknown_items",  # not one of sinks.session.SessionItem
    "write_errors",  # OSError while writing (disk full, permissions); counted, logged
    "frame_counts_unrouted",  # a session's enrichment count for a session not known (any more)
)


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
            "video_frames": 0,
            "video_frames_saved": 0,
            "enrichments": None,
            "recording_mode": RECORDING_MODES[0],
            "events": 0,
            "rejected": 0,
            "files": {
                "audio": AUDIO_FILE,
                "events": EVENTS_FILE,
                "metadata": METADATA_FILE,
                "video_frames": FRAMES_DIR if options.save_frames else None,
            },
        }
        self._last_ns = start.at_ns
        self._next_sample: int | None = None
        self._meta_samples = 0
        self._meta_frames = 0
        self._frames_dir = path / FRAMES_DIR
        self._wav = StreamingWavWriter(path / AUDIO_FILE, options.sample_rate)
        try:
            # backslashreplace: text that is not Unicode (a lone surrogate) is written
            # escaped rather than failing the write; the protocol refuses it first.
            self._events = open(  # noqa: SIM115
                path / EVENTS_FILE, "a", encoding="utf-8", errors="backslashreplace"
            )
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
            for stale in (AUDIO_FILE, EVENTS_FILE, METADATA_FILE, SESSION_FILE):  # ours only
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
        self._meta["video_frames"] += 1
        self._counters["video_frames"] += 1
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
                self._counters["video_frames_renamed"] += 1
            self._meta["video_frames_saved"] += 1
            self._counters["video_frames_saved"] += 1
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
        mode = event.data.get("recording_mode") if event.kind == "hello" else None
        if isinstance(mode, str) and mode in RECORDING_MODES:
            self._meta["recording_mode"] = mode
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
        self._events.write(dumps(record) + "\n")
        self._meta["events"] += 1
        self._counters["events"] += 1

    def _seen(self, ns: int) -> None:
        self._last_ns = max(self._last_ns, ns)

    # -- persisting -------------------------------------------------------------------
    @property
    def metadata(self) -> dict[str, Any]:
        """A copy of what session.json holds (or will hold at the next rewrite)."""
        return json.loads(dumps(self._meta))  # type: ignore[no-any-return]

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
            or self._meta["video_frames"] - self._meta_frames >= due_frames
        ):
            self._write_metadata()

    def upstream_metadata(self) -> dict[str, Any]:
        """`metadata.json`: exactly `UPSTREAM_METADATA_KEYS` (loaded with
        `SessionMetadata(**json)` by the upstream consumer; the rest is in session.json)."""
        meta = self._meta
        return {
            "session_id": self.session,
            "device_name": self.client,
            "recording_mode": meta["recording_mode"],
            "started_at": meta["started_at"],
            "ended_at": meta["ended_at"],
            "duration_seconds": round(meta["samples"] / self._options.sample_rate, 3),
            "frame_count": meta["enrichments"] or 0,
            "storage_path": str(self.path),
            "audio_path": str(self.path / AUDIO_FILE),
        }

    def set_enrichments(self, count: int) -> None:
        """The session's enrichment count (`frame_count`), known once the enrichment has
        finished it — possibly after the session's files were closed."""
        self._meta["enrichments"] = count
        self._write_metadata()

    def _write_metadata(self) -> None:
        self._meta["audio_seconds"] = round(self._meta["samples"] / self._options.sample_rate, 6)
        for name, doc in ((SESSION_FILE, self._meta), (METADATA_FILE, self.upstream_metadata())):
            tmp = self.path / (name + ".tmp")
            tmp.write_text(dumps(doc, indent=2) + "\n", encoding="utf-8", errors="backslashreplace")
            os.replace(tmp, self.path / name)
        self._meta_samples = self._meta["samples"]
        self._meta_frames = self._meta["video_frames"]

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
            self._meta["video_frames"],
        )


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


def dumps(obj: object, indent: int | None = None) -> str:
    """JSON for our files: numpy values as numbers, bytes as their size, never a crash."""
    return json.dumps(obj, default=_json_default, ensure_ascii=False, indent=indent)
