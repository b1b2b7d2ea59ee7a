"""What is in a `.zmqcap` file: a summary to read before replaying or debugging one.

`summarize()` reads a capture once, parses every record with the same parser the
flow uses (`parse_raw`, with the peer host as the fallback client, so legacy
clients show up by address), and counts what a person asks first: who sent what,
how much, how fast, with which gaps and rejects, and whether the file is damaged.
`format_summary()` turns that into a table for a terminal; `to_dict()` into JSON.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from ambient_flow.capture.format import CaptureReader, Problem
from ambient_flow.protocol.messages import AudioChunk, ControlEvent, VideoFrame
from ambient_flow.protocol.parse import parse_raw

__all__ = [
    "ArrivalGap",
    "CaptureSummary",
    "ClientSummary",
    "SequenceStats",
    "format_summary",
    "summarize",
]

#: A sequence number this far below the last one is a restart, not a late message.
_RESTART_DISTANCE: Final = 16
_NS: Final = 1_000_000_000


@dataclass(frozen=True, slots=True)
class SequenceStats:
    """Sequence numbers of one client on one channel, in arrival order.

    Attributes:
        first: The first sequence number seen.
        last: The last sequence number seen.
        gaps: How many times the sequence jumped forward by more than one.
        missing: Messages those jumps skipped (the gap sizes added up).
        backwards: Duplicates, late arrivals and restarts (a number not above the last).
    """

    first: int
    last: int
    gaps: int
    missing: int
    backwards: int


@dataclass(frozen=True, slots=True)
class ClientSummary:
    """One client's share of a capture (named by its header `client`, else its peer host).

    Attributes:
        client: The sanitized client name the parser gave its messages.
        audio_chunks: Audio messages that parsed.
        audio_seconds: Their duration at the sender's sample rate.
        sample_rates: Audio chunks per sender sample rate.
        video_frames: Video messages that parsed.
        video_fps: Frames per second between its first and last frame (None under 2 frames).
        control: Control requests from it.
        rejects: Its messages that were rejected.
        sequences: Sequence statistics per channel (`audio`, `video`).
    """

    client: str
    audio_chunks: int
    audio_seconds: float
    sample_rates: Mapping[int, int]
    video_frames: int
    video_fps: float | None
    control: int
    rejects: int
    sequences: Mapping[str, SequenceStats]


@dataclass(frozen=True, slots=True)
class ArrivalGap:
    """A stretch with no record at all, longer than the summary's threshold.

    Attributes:
        after_ns: Arrival time (unix ns) of the last record before the gap.
        seconds: How long nothing arrived.
        offset: File offset of the first record after the gap (resume point).
    """

    after_ns: int
    seconds: float
    offset: int


@dataclass(frozen=True, slots=True)
class CaptureSummary:
    """Everything `summarize` found; `to_dict()` is JSON-able.

    Attributes:
        path: The file summarized.
        version: Its format version.
        meta: The file header (who recorded it, when, with which settings).
        file_bytes: Size of the file.
        records: Records read intact.
        message_bytes: Bytes of wire frames in those records.
        first_ns: Earliest arrival (unix ns), None for an empty capture.
        last_ns: Latest arrival (unix ns), None for an empty capture.
        duration_s: First to last arrival.
        msgs_per_s: Records per second over that duration (0 when it is 0).
        mb_per_s: Megabytes (10^6) of frames per second over that duration.
        channels: Records per channel (`audio`, `video`, `control`, `tcp`).
        types: Parse results per kind (`audio`, `video`, `control`, `rejected`).
        clients: Per-client summaries, sorted by name.
        rejects: Rejected messages per reason.
        control_commands: Control requests per command.
        gap_threshold_s: The silence that counts as an arrival gap.
        arrival_gap_count: How many arrival gaps there were.
        arrival_gaps: The first of them (at most `max_listed_gaps`), in file order.
        problems: Damaged stretches the reader skipped (corrupt or truncated).
    """

    path: str
    version: int
    meta: Mapping[str, Any]
    file_bytes: int
    records: int
    message_bytes: int
    first_ns: int | None
    last_ns: int | None
    duration_s: float
    msgs_per_s: float
    mb_per_s: float
    channels: Mapping[str, int]
    types: Mapping[str, int]
    clients: tuple[ClientSummary, ...]
    rejects: Mapping[str, int]
    control_commands: Mapping[str, int]
    gap_threshold_s: float
    arrival_gap_count: int
    arrival_gaps: tuple[ArrivalGap, ...]
    problems: tuple[Problem, ...]

    def client(self, name: str) -> ClientSummary:
        """The summary of one client; KeyError if it sent nothing."""
        for summary in self.clients:
            if summary.client == name:
                return summary
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types only (mapping keys become strings)."""
        out: dict[str, Any] = asdict(self)
        return _jsonable(out)  # type: ignore[no-any-return]


def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


@dataclass
class _SeqTracker:
    first: int
    last: int
    gaps: int = 0
    missing: int = 0
    backwards: int = 0

    def see(self, seq: int) -> None:
        if seq == self.last + 1:
            self.last = seq
        elif seq > self.last:
            self.gaps += 1
            self.missing += seq - self.last - 1
            self.last = seq
        else:
            self.backwards += 1
            if self.last - seq > _RESTART_DISTANCE:
                self.last = seq  # a restart: count from here

    def freeze(self) -> SequenceStats:
        return SequenceStats(self.first, self.last, self.gaps, self.missing, self.backwards)


@dataclass
class _ClientTally:
    audio_chunks: int = 0
    audio_seconds: float = 0.0
    sample_rates: Counter[int] = field(default_factory=Counter)
    video_frames: int = 0
    video_first_ns: int | None = None
    video_last_ns: int | None = None
    control: int = 0
    rejects: int = 0
    sequences: dict[str, _SeqTracker] = field(default_factory=dict)

    def sequence(self, channel: str, seq: int) -> None:
        tracker = self.sequences.get(channel)
        if tracker is None:
            self.sequences[channel] = _SeqTracker(seq, seq)
        else:
            tracker.see(seq)

    def freeze(self, name: str) -> ClientSummary:
        fps = None
        first, last = self.video_first_ns, self.video_last_ns
        if self.video_frames >= 2 and first is not None and last is not None:
            span = (last - first) / _NS
            fps = (self.video_frames - 1) / span if span > 0 else None
        return ClientSummary(
            client=name,
            audio_chunks=self.audio_chunks,
            audio_seconds=self.audio_seconds,
            sample_rates=dict(sorted(self.sample_rates.items())),
            video_frames=self.video_frames,
            video_fps=fps,
            control=self.control,
            rejects=self.rejects,
            sequences={k: v.freeze() for k, v in sorted(self.sequences.items())},
        )


def summarize(
    path: str | os.PathLike[str], *, gap_threshold_s: float = 1.0, max_listed_gaps: int = 20
) -> CaptureSummary:
    """Read a capture once and count what is in it.

    Args:
        path: The `.zmqcap` file.
        gap_threshold_s: Silence longer than this between two records is an arrival gap.
        max_listed_gaps: How many arrival gaps to list (all are counted).

    Raises:
        CaptureError: The file is missing or its header is not a capture's. Damage
            after the header is not an error; it is listed in `problems`.
    """
    reader = CaptureReader(path)
    channels: Counter[str] = Counter(dict.fromkeys(("audio", "video", "control", "tcp"), 0))
    types: Counter[str] = Counter(dict.fromkeys(("audio", "video", "control", "rejected"), 0))
    rejects: Counter[str] = Counter()
    commands: Counter[str] = Counter()
    tallies: dict[str, _ClientTally] = {}
    gaps: list[ArrivalGap] = []
    gap_count = 0
    records = message_bytes = 0
    first_ns: int | None = None
    last_ns: int | None = None
    prev_ns: int | None = None
    threshold_ns = gap_threshold_s * _NS
    offset = reader.data_offset

    for raw, end in reader.records():
        records += 1
        message_bytes += raw.size
        channels[raw.channel] += 1
        at = raw.received_ns
        first_ns = at if first_ns is None else min(first_ns, at)
        last_ns = at if last_ns is None else max(last_ns, at)
        if prev_ns is not None and at - prev_ns > threshold_ns:
            gap_count += 1
            if len(gaps) < max_listed_gaps:
                gaps.append(ArrivalGap(prev_ns, (at - prev_ns) / _NS, offset))
        prev_ns = at
        offset = end

        parsed = parse_raw(raw, fallback_client=raw.peer_host)
        tally = tallies.setdefault(parsed.client or raw.peer_host, _ClientTally())
        if isinstance(parsed, AudioChunk):
            types["audio"] += 1
            tally.audio_chunks += 1
            tally.audio_seconds += parsed.duration_s
            tally.sample_rates[parsed.sample_rate] += 1
            tally.sequence("audio", parsed.sequence)
        elif isinstance(parsed, VideoFrame):
            types["video"] += 1
            tally.video_frames += 1
            tally.video_first_ns = at if tally.video_first_ns is None else tally.video_first_ns
            tally.video_last_ns = at
            tally.sequence("video", parsed.sequence)
        elif isinstance(parsed, ControlEvent):
            types["control"] += 1
            tally.control += 1
            commands[parsed.command] += 1
        else:
            types["rejected"] += 1
            tally.rejects += 1
            rejects[parsed.reason] += 1

    duration = (last_ns - first_ns) / _NS if first_ns is not None and last_ns is not None else 0.0
    return CaptureSummary(
        path=str(path),
        version=reader.version,
        meta=dict(reader.meta),
        file_bytes=Path(path).stat().st_size,
        records=records,
        message_bytes=message_bytes,
        first_ns=first_ns,
        last_ns=last_ns,
        duration_s=duration,
        msgs_per_s=records / duration if duration > 0 else 0.0,
        mb_per_s=message_bytes / 1e6 / duration if duration > 0 else 0.0,
        channels=dict(channels),
        types=dict(types),
        clients=tuple(tallies[name].freeze(name) for name in sorted(tallies)),
        rejects=dict(sorted(rejects.items())),
        control_commands=dict(sorted(commands.items())),
        gap_threshold_s=gap_threshold_s,
        arrival_gap_count=gap_count,
        arrival_gaps=tuple(gaps),
        problems=tuple(reader.problems),
    )


# -- the person-readable form ----------------------------------------------------------------
def _when(ns: int | None) -> str:
    if ns is None:
        return "-"
    return datetime.fromtimestamp(ns / _NS, tz=UTC).isoformat(timespec="milliseconds")


def _size(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"  # unreachable; keeps the type checker sure of a return


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _short(value: Any, limit: int = 60) -> str:
    text = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _counts(counts: Mapping[Any, int]) -> str:
    return "  ".join(f"{k} {v}" for k, v in counts.items()) or "none"


def _table(header: list[str], rows: Iterable[list[str]]) -> list[str]:
    body = [header, *rows]
    widths = [max(len(row[i]) for row in body) for i in range(len(header))]
    lines = []
    for row in body:
        rest = [c.rjust(w) for c, w in zip(row[1:], widths[1:], strict=True)]
        cells = [row[0].ljust(widths[0]), *rest]
        lines.append("  " + "  ".join(cells).rstrip())
    return lines


def _seq_cell(stats: SequenceStats | None) -> str:
    if stats is None:
        return "-"
    return f"{stats.gaps}/{stats.missing}/{stats.backwards}"


def format_summary(summary: CaptureSummary) -> str:
    """A multi-line report for a terminal (what `ambient-flow inspect` prints)."""
    meta = "  ".join(
        f"{k}={_when(int(v * _NS)) if k == 'created_at' and _is_number(v) else _short(v)}"
        for k, v in sorted(summary.meta.items())
    )
    lines = [
        f"capture   {summary.path}  (format v{summary.version}, {_size(summary.file_bytes)})",
        f"meta      {meta or '-'}",
        f"time      {_when(summary.first_ns)} -> {_when(summary.last_ns)}"
        f"  ({summary.duration_s:.2f} s)",
        f"records   {summary.records}  ({_size(summary.message_bytes)} of messages)  "
        f"{summary.msgs_per_s:.1f} msg/s  {summary.mb_per_s:.3f} MB/s",
        f"channels  {_counts(summary.channels)}",
        f"types     {_counts(summary.types)}",
        "",
        "clients (seq = gaps/missing/backwards)",
    ]
    rows = [
        [
            c.client,
            f"{c.audio_seconds:.2f}",
            str(c.audio_chunks),
            "/".join(str(sr) for sr in c.sample_rates) or "-",
            _seq_cell(c.sequences.get("audio")),
            str(c.video_frames),
            "-" if c.video_fps is None else f"{c.video_fps:.2f}",
            _seq_cell(c.sequences.get("video")),
            str(c.control),
            str(c.rejects),
        ]
        for c in summary.clients
    ]
    header = [
        "client",
        "audio_s",
        "chunks",
        "sr",
        "audio_seq",
        "frames",
        "fps",
        "video_seq",
        "control",
        "rejects",
    ]
    lines += _table(header, rows) if rows else ["  none"]
    lines += [
        "",
        f"rejects   {_counts(summary.rejects)}",
        f"control   {_counts(summary.control_commands)}",
        f"arrival gaps > {summary.gap_threshold_s:g} s: {summary.arrival_gap_count}",
    ]
    lines += [
        f"  {gap.seconds:.2f} s after {_when(gap.after_ns)} (next record at byte {gap.offset})"
        for gap in summary.arrival_gaps
    ]
    if summary.arrival_gap_count > len(summary.arrival_gaps):
        lines.append(f"  ... and {summary.arrival_gap_count - len(summary.arrival_gaps)} more")
    lines.append(f"problems  {len(summary.problems) or 'none'}")
    lines += [f"  byte {p.offset}, {p.length} bytes skipped: {p.detail}" for p in summary.problems]
    return "\n".join(lines)
