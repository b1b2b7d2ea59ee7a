"""What per-client ingest says about a client besides its audio and video."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final, Literal

__all__ = ["EVENT_KINDS", "ClientEvent", "EventKind"]

EventKind = Literal[
    "session_start",  # data: dir, peer, source, capabilities, session (client's own id)
    "session_end",  # data: reason (bye | eof | new_session | restart | evicted), counters
    "hello",  # data: capabilities, recording_mode (when the client names one)
    "bye",
    "gap",  # data: channel, from_seq, to_seq, missing, filled_samples (audio: gap_fill_s,
    #         unfilled_s, seq_jump)
    "duplicate",  # data: channel, seq
    "reordered",  # data: channel, seq (arrived late, put back in order)
    "late",  # data: channel, seq (arrived after its place was filled; dropped, counted)
    "rejects",  # data: by_reason (summary of this session's rejected messages, at its end)
    "restart",  # data: channel, from_seq, to_seq, gap_s (sequence went back, e.g. to 0;
    #             the client's stream then continues in a new session)
    "converted",  # data: sr, ch (once per client: audio is resampled / downmixed)
    "stale",  # data: silent_for_s (nothing for stale_after heartbeats)
    "resumed",  # data: silent_for_s
    "overflow",  # data: channel, dropped (a bound was hit)
    "host_restart",  # data: down_s, host_stopped_ns (the host was down before this session)
    "disk_budget",  # data: scope (client | host | free_space), limit_bytes (recording stopped)
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
