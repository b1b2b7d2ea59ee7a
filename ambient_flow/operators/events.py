"""What per-client ingest says about a client besides its audio and video."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final, Literal

__all__ = ["EVENT_KINDS", "ClientEvent", "EventKind"]

EventKind = Literal[
    "session_start",  # data: dir, peer, source, capabilities, session (client's own id)
    "session_end",  # data: reason (bye | eof | new_session), counters
    "hello",  # data: capabilities, recording_mode (when the client names one)
    "bye",
    "gap",  # data: channel, from_seq, to_seq, missing, filled_samples
    "duplicate",  # data: channel, seq
    "reordered",  # data: channel, seq (arrived late, put back in order)
    "late",  # data: channel, seq (arrived after its place was filled; dropped, counted)
    "rejects",  # data: by_reason (summary of this session's rejected messages, at its end)
    "restart",  # data: channel, from_seq, to_seq (sequence went back, e.g. to 0)
    "converted",  # data: sr, ch (once per client: audio is resampled / downmixed)
    "stale",  # data: silent_for_s (nothing for stale_after heartbeats)
    "resumed",  # data: silent_for_s
    "overflow",  # data: channel, dropped (a bound was hit)
]
EVENT_KINDS: Final = EventKind.__args__  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True)
class ClientEvent:
    """Something that happened to one client's stream, in its session.

    `at_ns` is a unix time taken from the data (arrival times, recorded in
    captures), never from the wall clock at processing time, so replays agree.
    """

    client: str
    kind: EventKind
    at_ns: int
    session: str
    data: dict[str, Any] = field(default_factory=dict)

    def to_record(self) -> dict[str, Any]:
        return {
            "kind": "event",
            "event": self.kind,
            "client": self.client,
            "session": self.session,
            "at_ns": self.at_ns,
            **self.data,
        }
