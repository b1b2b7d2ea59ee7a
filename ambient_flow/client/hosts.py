"""The sender's host list: independent hosts, the next one when the current stops answering.

docs/cluster.md ("Independent hosts with a host list"): each client holds the list of
hosts, uses the first, and when its control requests (hello, heartbeat) get no reply
after the Lazy Pirate retries it moves to the next host with the same client name and
sequence numbers, where it starts a new session. What the dead host may not have
received is counted, never silently lost: the messages the transport could not send
are `drops`, and the ones handed to the dead host's sockets after its last control
reply are `unconfirmed` (they may or may not have arrived; the host's session says).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from ambient_flow.client.transport import ChannelCounters, TransportStats
from ambient_flow.errors import ConfigError

__all__ = ["Confirmed", "add_stats", "parse_hosts"]


def parse_hosts(spec: str) -> tuple[str, ...]:
    """`--server a,b,c`: the hosts in the order they are tried; ConfigError if one is
    empty or named twice."""
    hosts = tuple(h.strip() for h in spec.split(","))
    if any(not h for h in hosts):
        raise ConfigError(f"--server {spec!r}: an empty host in the list")
    if len(set(hosts)) != len(hosts):
        raise ConfigError(f"--server {spec!r}: a host is listed twice")
    return hosts


@dataclass(frozen=True, slots=True)
class Confirmed:
    """Media messages sent to the current host when its last control reply arrived.

    A reply shows the host was alive then; what was sent after it, if the host then
    stops answering, is counted as unconfirmed when the sender moves on.
    """

    replies: int = 0
    audio: int = 0
    video: int = 0

    def update(self, replies: int, stats: TransportStats) -> Confirmed:
        """A new mark when the control channel got another reply, else self."""
        if replies == self.replies:
            return self
        return Confirmed(replies, stats.audio.sent, stats.video.sent)

    def retire(self, stats: TransportStats) -> TransportStats:
        """The dead host's counters, with what it did not confirm added to `unconfirmed`."""
        out = stats.snapshot()
        out.audio.unconfirmed += max(0, out.audio.sent - self.audio)
        out.video.unconfirmed += max(0, out.video.sent - self.video)
        return out


def _add(a: ChannelCounters, b: ChannelCounters) -> ChannelCounters:
    return replace(
        a,
        sent=a.sent + b.sent,
        bytes=a.bytes + b.bytes,
        drops=a.drops + b.drops,
        unconfirmed=a.unconfirmed + b.unconfirmed,
    )


def add_stats(a: TransportStats, b: TransportStats) -> TransportStats:
    """Counters of two transports (hosts used one after the other), summed."""
    return TransportStats(
        audio=_add(a.audio, b.audio),
        video=_add(a.video, b.video),
        control=_add(a.control, b.control),
        reconnects=a.reconnects + b.reconnects,
        connect_failures=a.connect_failures + b.connect_failures,
    )
