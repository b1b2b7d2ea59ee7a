"""The one way ambient-flow writes a time: ISO 8601, UTC, microseconds, `Z`.

Every time written to a file or a stream (`frames.jsonl`, `events.jsonl`,
`metadata.json`, status) is a unix time in nanoseconds taken from the data, turned into
text here, so all of them sort and parse alike (`datetime.fromisoformat` reads them).
"""

from __future__ import annotations

from datetime import UTC, datetime

__all__ = ["iso_utc"]


def iso_utc(ns: int) -> str:
    """Unix nanoseconds as `2026-12-01T12:00:00.123456Z`."""
    dt = datetime.fromtimestamp(ns // 1_000_000_000, UTC).replace(
        microsecond=(ns % 1_000_000_000) // 1000
    )
    return dt.isoformat(timespec="microseconds").replace("+00:00", "Z")
