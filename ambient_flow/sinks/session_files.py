"""The files of one open session: `audio.wav`, `metadata.json`, `session.json`,
`events.jsonl`, and the saved video frames in `frames/`.

`SessionFiles` writes one session's directory (layout in `sinks.session`); the
`SessionWriter` there routes each client's items to it.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

from ambient_flow.operators.events import ClientEvent
from ambient_flow.protocol.messages import AudioChunk, Rejected, VideoFrame
from ambient_flow.sinks.session_layout import (
    AUDIO_FILE,
    EVENTS_FILE,
    FRAMES_DIR,
    METADATA_FILE,
    PER_MESSAGE_EVENTS,
    RECORDING_MODES,
    SESSION_FILE,
    SessionOptions,
    dumps,
    safe_session_name,
)
from ambient_flow.sinks.wav import StreamingWavWriter
from ambient_flow.telemetry import RateLimitedLog
from ambient_flow.timefmt import iso_utc

__all__ = ["SessionFiles"]

logger = logging.getLogger(__name__)

#: Most `.N` suffixes tried for a saved frame whose sequence number repeats.
_MAX_RENAMES: Final = 1000


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
            "events_not_logged": 0,
            "rejected": 0,
            "disk_pauses": 0,
            "audio_not_written_samples": 0,
            "video_frames_not_saved": 0,
            "files": {
                "audio": AUDIO_FILE,
                "events": EVENTS_FILE,
                "metadata": METADATA_FILE,
                "video_frames": FRAMES_DIR if options.save_frames else None,
            },
        }
        self._last_ns = start.at_ns
        self._paused: str | None = None  # the disk budget's scope while not recording
        self._per_message_lines = 0
        self._paused_samples = 0
        self._next_sample: int | None = None
        self._meta_samples = 0
        self._meta_frames = 0
        #: When metadata.json was last written, on the writer's clock (the writer sets it:
        #: a live rewrite also waits `metadata_every_s` of it).
        self.metadata_written_ns = 0
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
        # The enrichment sink may have made the directory (its frames.jsonl) first.
        replaced = any((path / ours).exists() for ours in (AUDIO_FILE, EVENTS_FILE))
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
        pcm = chunk.pcm  # the bytes as they arrived: no float -> int16 trip, no decoding
        decoded = chunk.float_samples
        if pcm is None or (decoded is not None and 2 * decoded.shape[0] != len(pcm)):
            pcm, decoded = None, chunk.samples
        if chunk.sample_rate != self._options.sample_rate or (
            decoded is not None and decoded.ndim != 1
        ):
            self._counters["audio_refused"] += 1
            self._log.log(
                logging.WARNING,
                "audio_refused",
                "session %s: refused audio seq %d (shape %s, %d Hz)",
                self.session,
                chunk.sequence,
                (chunk.num_samples,) if decoded is None else decoded.shape,
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
        if pcm is not None:
            written = self._wav.write_pcm16(pcm)
        else:
            assert decoded is not None
            written = self._wav.write(decoded)
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

    # -- the disk budget ---------------------------------------------------------------
    def not_written(self, item: AudioChunk | VideoFrame, scope: str) -> None:
        """A disk budget refused `item` (`scope`: client, host, free_space): count it, and
        mark the start of the pause in events.jsonl."""
        if self._paused is None:
            self._paused = scope
            self._paused_samples = 0
            self._meta["disk_pauses"] += 1
            self._counters["disk_pauses"] += 1
            self._disk_event(item.received_ns, scope=scope, paused=True)
            self._log.log(
                logging.WARNING,
                f"disk:{scope}",
                "session %s: not recording (%s disk budget)",
                self.session,
                scope,
            )
        self._seen(item.received_ns)
        if isinstance(item, AudioChunk):
            self._meta["audio_not_written_samples"] += item.num_samples
            self._counters["audio_not_written_samples"] += item.num_samples
            self._counters["audio_not_written_chunks"] += 1
            self._paused_samples += item.num_samples
        else:
            self._meta["video_frames"] += 1
            self._meta["video_frames_not_saved"] += 1
            self._counters["video_frames_not_saved"] += 1

    @property
    def paused(self) -> bool:
        """A disk budget stopped the recording (`not_written`) and it has not resumed."""
        return self._paused is not None

    def resume(self, at_ns: int) -> None:
        """Recording is allowed again: mark the end of the pause with what it cost."""
        if self._paused is None:
            return
        scope, self._paused = self._paused, None
        lost_s = round(self._paused_samples / self._options.sample_rate, 3)
        self._disk_event(at_ns, scope=scope, paused=False, not_written_s=lost_s)

    def _disk_event(self, at_ns: int, **data: Any) -> None:
        start = self._meta["last_start_sample"]
        event = ClientEvent(self.client, "disk_budget", at_ns, self.session, data)
        self._append({**event.to_record(), "time": iso_utc(at_ns), "after_sample": start})

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
        if event.kind in PER_MESSAGE_EVENTS:
            if self._per_message_lines >= self._options.max_event_lines:
                self._meta["events_not_logged"] += 1
                self._counters["events_not_logged"] += 1
                self._seen(event.at_ns)
                return
            self._per_message_lines += 1
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
        """Push audio and events to the OS; with `metadata`, rewrite metadata.json too (the
        writer asks when `metadata_due` and within its rewrite budget)."""
        self._wav.flush()
        self._events.flush()
        if metadata:
            self._write_metadata()

    def metadata_due(self) -> bool:
        """`metadata_every_s` of new audio (or 5x as many new frames) since the last rewrite."""
        every = self._options.metadata_every_s
        samples: int = self._meta["samples"] - self._meta_samples
        frames: int = self._meta["video_frames"] - self._meta_frames
        return samples >= every * self._options.sample_rate or frames >= every * 5

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
        if self._meta["ended_at"] is not None:
            self._log_closed()

    def _write_metadata(self) -> None:
        self._meta["audio_seconds"] = round(self._meta["samples"] / self._options.sample_rate, 6)
        for name, doc in ((SESSION_FILE, self._meta), (METADATA_FILE, self.upstream_metadata())):
            path = os.path.join(self.path, name)
            text = dumps(doc, indent=2) + "\n"
            _write_file(path + ".tmp", text.encode("utf-8", "backslashreplace"))
            os.replace(path + ".tmp", path)
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
        if not self._options.enriched or self._meta["enrichments"] is not None:
            self._log_closed()

    def _log_closed(self) -> None:
        """The one "closed" line: at the end of the files, or (with the enrichment) once
        the enrichment has finished the session, so it follows its last transcript."""
        enrichments = self._meta["enrichments"]
        logger.info(
            "session %s of %s closed (%s): %.1f s audio, %d video frames%s",
            self.session,
            self.client,
            self._meta["end_reason"],
            self._meta["audio_seconds"],
            self._meta["video_frames"],
            "" if enrichments is None else f", {enrichments} enrichments",
        )


def _write_file(path: str, data: bytes) -> None:
    """`Path.write_bytes` without the file object (the same file, created like `open`
    creates it; a few times less CPU, and these rewrites come every few seconds a session)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o666)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
    finally:
        os.close(fd)
