"""The layout of a session directory: file names, the keys upstream loads, the counters,
the options a session is written with, safe names and our JSON.

Shared by `session_files` (one session's files) and `session` (the writer and sink).
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np

from ambient_flow.protocol.constants import AUDIO_SAMPLE_RATE
from ambient_flow.sinks.disk_budget import DiskLimits

__all__ = [
    "AUDIO_FILE",
    "COUNTER_NAMES",
    "EVENTS_FILE",
    "FRAMES_DIR",
    "METADATA_FILE",
    "PER_MESSAGE_EVENTS",
    "RECORDING_MODES",
    "SESSIONS_DIR",
    "SESSION_FILE",
    "UPSTREAM_METADATA_KEYS",
    "SessionOptions",
    "dumps",
    "safe_session_name",
]

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
    "events_not_logged",  # per-message events past max_event_lines: counted, not written
    "audio_not_written_samples",  # disk budget: audio of an open session not written
    "audio_not_written_chunks",  # ... the same, in chunks (what `drops` counts)
    "video_frames_not_saved",  # disk budget: frames not saved
    "disk_pauses",  # a session stopped recording for a disk budget (events.jsonl says which)
    "metadata_rewrites",  # a live session's metadata.json/session.json rewritten
    "metadata_rewrites_deferred",  # due, but past metadata_rewrites_per_second: later
)
#: Events written for one message each (a hostile client makes one per message): these
#: are capped per session at `max_event_lines`; the others (the session's life) never are.
PER_MESSAGE_EVENTS: Final = ("duplicate", "late", "reordered", "gap", "converted")


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
            `metadata_every_s * 5` new frames in a session without audio) and as long
            on the wall clock since it was last written: a real-time client's files
            are refreshed at that pace, a faster one (a catch-up, a benchmark's blast)
            no more often.
        metadata_rewrites_per_second: At most this many of those rewrites a second,
            all sessions of a writer together (each is two files replaced atomically,
            ~0.2-0.6 ms of system time here): with many clients a live session's
            metadata is refreshed less often instead of the writer falling behind.
            A session's start and end are always written. 0 = no limit.
        sample_rate: Rate of the audio written (per-client ingest emits 16 kHz).
        jpeg_quality: Quality used when a raw rgb frame is encoded for saving.
        max_rejected_lines: Rejected messages written to one session's events.jsonl;
            more are only counted (a client sending garbage must not fill the disk;
            upstream's `rejects` event at the end summarizes them all by reason).
        max_event_lines: Per-message events (`PER_MESSAGE_EVENTS`: duplicates, late and
            reordered chunks, gaps) written to one session's events.jsonl; more are
            only counted (the session's counters have them all).
        disk: Disk budgets (`sinks.disk_budget`).
        enriched: The enrichment runs and reports each session's end (its
            `SessionBoundary`), after the session's last transcript: the "closed" log
            line waits for it and names the session's enrichment count.
    """

    save_frames: bool = False
    metadata_every_s: float = 5.0
    metadata_rewrites_per_second: float = 100.0
    sample_rate: int = AUDIO_SAMPLE_RATE
    jpeg_quality: int = 90
    max_rejected_lines: int = 1000
    max_event_lines: int = 10_000
    disk: DiskLimits = field(default_factory=DiskLimits)
    enriched: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.save_frames, bool):
            raise ValueError(f"save_frames={self.save_frames!r} must be a bool")
        if not self.metadata_every_s > 0:
            raise ValueError(f"metadata_every_s={self.metadata_every_s} must be > 0")
        if not self.metadata_rewrites_per_second >= 0:
            raise ValueError("metadata_rewrites_per_second must be >= 0 (0 = no limit)")
        if isinstance(self.sample_rate, bool) or self.sample_rate <= 0:
            raise ValueError(f"sample_rate={self.sample_rate} must be > 0")
        if not 1 <= self.jpeg_quality <= 100:
            raise ValueError(f"jpeg_quality={self.jpeg_quality} must be 1..100")
        if self.max_rejected_lines < 0 or self.max_event_lines < 0:
            raise ValueError("max_rejected_lines and max_event_lines must be >= 0")


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
