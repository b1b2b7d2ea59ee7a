"""Who sent it: parse raw messages and give each one a client name.

A header's `client` field names its sender. Real clients today send none, so
their messages are told apart by connection: for each host, connections are
grouped into *slots* by channel in order of appearance (a client's first audio,
video and control connections form slot 0; a second client on the same host, with
its own connections, slot 1), and a slot is named after the host (`10.0.0.7`,
`10.0.0.7-2`, ...) until a `hello` sent over that slot's control connection
gives it a name. Two legacy clients therefore never mix.

One client, one session: a real client's first audio chunk often arrives before
its hello (they travel on different sockets). So unnamed data of a slot that has
no name yet is held back, up to `name_wait_s` of arrival time (and a byte bound):
a hello in that time names the slot and the held data streams under that name,
first; otherwise it is released under the host's name. Held data adds latency only
to a legacy client that never says hello, and only once.

The step is keyed by peer host and decides from data (arrival times of that host's
messages, connection ids), so replaying a capture reproduces the same names. Live,
a timer also ends a wait when the host sends nothing more (a quarter second after
the data clock would, so a hello already on its way is not overtaken).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from bytewax.operators import StatefulLogic
from typing_extensions import override

from ambient_flow.protocol.control import FLOW_COMMANDS
from ambient_flow.protocol.identity import sanitize_client_name
from ambient_flow.protocol.messages import (
    AudioChunk,
    Channel,
    ControlEvent,
    Parsed,
    RawMessage,
    Rejected,
    VideoFrame,
)
from ambient_flow.protocol.parse import parse_raw

__all__ = ["HostState", "IdentifyLogic", "IdentifyOptions"]

#: Marks "the header named nobody" in `parse_raw`'s fallback; replaced below.
_UNNAMED = "\x00unnamed"
#: The live timer ends a wait this much later than the data clock would: a hello stamped
#: just in time is then through this step before the timer decides (so replays agree).
_TIMER_MARGIN_NS = 250_000_000

Named = tuple[str, Parsed]


@dataclass(frozen=True)
class IdentifyOptions:
    """How `IdentifyLogic` parses and names.

    Attributes:
        max_payload: Largest accepted payload (bytes).
        max_audio_seconds: Most audio one message may carry.
        conn_ttl_ns: A slot's connection on a channel is free again after this much
            silence on it (a reconnecting client takes its slot back).
        name_wait_ns: How long unnamed data of an unnamed slot waits for a hello.
        max_held_bytes: Most bytes held per host while waiting; past it, held data
            is released under the host's name at once.
        on_arrival: Called with each message's arrival time (the runtime's data clock).
        on_parsed: Called with what each message parsed as (`audio`, `video`, `control`,
            `query` for get_config/stats, `rejected`): every raw message exactly once,
            so the status document can show that the counts add up.
        clock: The wall clock (unix ns) of the live timer; None in a replay, where the
            wait ends only by arrival times.
        authenticated: `--auth token|curve`: names come from the credentials the sources
            checked (`parse_raw`), never from slots.
        max_names: Most client names one host may stream as at once (names heard from
            within `name_ttl_ns`); a message under a further name is rejected
            (`too_many_clients`). Bounds what one machine can open (sessions, state).
        name_ttl_ns: How long a name keeps its place (the eviction time).
    """

    max_payload: int
    max_audio_seconds: float = float("inf")
    conn_ttl_ns: int = 15_000_000_000
    name_wait_ns: int = 1_000_000_000
    max_held_bytes: int = 4 * 1024 * 1024
    on_arrival: Callable[[int], None] | None = None
    on_parsed: Callable[[str], None] | None = None
    clock: Callable[[], int] | None = None
    authenticated: bool = False
    max_names: int = 64
    name_ttl_ns: int = 600_000_000_000


def _channel_of(parsed: Parsed) -> Channel:
    if isinstance(parsed, ControlEvent | Rejected):
        return parsed.channel
    return "audio" if isinstance(parsed, AudioChunk) else "video"


#: The kind of every other member of `Parsed`, by exact type (one dict look-up a message).
_DATA_KINDS: dict[type, str] = {AudioChunk: "audio", VideoFrame: "video", Rejected: "rejected"}


def _kind(parsed: Parsed) -> str:
    if isinstance(parsed, ControlEvent):
        return "control" if parsed.command in FLOW_COMMANDS else "query"
    return _DATA_KINDS[type(parsed)]


@dataclass
class _Slot:
    conns: dict[str, tuple[str, int]] = field(default_factory=dict)  # channel -> (conn, last ns)
    name: str | None = None
    #: The slot's name is settled (named by hello, or its wait is over): nothing is held.
    settled: bool = False
    held: list[Parsed] = field(default_factory=list)
    held_since_ns: int = 0
    held_bytes: int = 0


@dataclass
class HostState:
    """Connection slots of one host (small; this is also the snapshot)."""

    host: str
    slots: list[_Slot] = field(default_factory=list)
    #: Client names this host streams as, with the last arrival under each.
    names: dict[str, int] = field(default_factory=dict)


class IdentifyLogic(StatefulLogic[RawMessage, Named, HostState]):
    """Per-host logic: raw message in, `(client, parsed message)` out."""

    def __init__(self, state: HostState | None, options: IdentifyOptions) -> None:
        # Bytewax hands a builder only the resume state, not the key: a new host's
        # state learns its name from the first message.
        self.state = state or HostState("")
        self._opt = options

    @override
    def on_item(self, value: RawMessage) -> tuple[Iterable[Named], bool]:
        opt = self._opt
        if opt.on_arrival is not None:
            opt.on_arrival(value.received_ns)
        state = self.state
        if not state.host:
            state.host = value.peer_host
        # (A host whose clients name themselves has no slots: nothing can be held.)
        out = self._release_expired(value.received_ns) if state.slots else []
        parsed = parse_raw(
            value,
            fallback_client=_UNNAMED,
            max_payload=opt.max_payload,
            max_audio_seconds=opt.max_audio_seconds,
            authenticated=opt.authenticated,
        )
        if opt.on_parsed is not None:
            opt.on_parsed(_kind(parsed))
        is_hello = False
        if isinstance(parsed, ControlEvent):
            if parsed.command not in FLOW_COMMANDS:
                return out, StatefulLogic.RETAIN  # get_config/stats ask the server: no state
            is_hello = parsed.command == "hello"
        if opt.authenticated:  # the checked credential names it; no credential: the host
            client = parsed.client or self._default_name(0)
            return [*out, self._named(client, parsed, value)], StatefulLogic.RETAIN
        if parsed.client != _UNNAMED and not is_hello:
            return [*out, self._named(str(parsed.client), parsed, value)], StatefulLogic.RETAIN
        index = self._slot_for(value)
        slot = self.state.slots[index]
        if is_hello:
            if parsed.client != _UNNAMED:
                # The hello names the slot of its connection: this client's unnamed data
                # (same host, paired connections) streams under that name from now on,
                # what was held for it first.
                slot.name = str(parsed.client)
            out += self._settle(index)
        elif not slot.settled and (slot.held or not isinstance(parsed, Rejected)):
            # (A reject is held only behind held data, to keep the client's order.)
            self._hold(slot, parsed, value.size)
            if slot.held_bytes > opt.max_held_bytes or self._held_bytes() > opt.max_held_bytes:
                out += self._settle(index)
            return out, StatefulLogic.RETAIN
        client = slot.name or self._default_name(index)
        return [*out, self._named(client, parsed, value)], StatefulLogic.RETAIN

    def _named(self, client: str, parsed: Parsed, raw: RawMessage | None) -> Named:
        """`(client, parsed)`, within the number of names one host may stream as."""
        kind = type(parsed)
        if (kind is AudioChunk or kind is VideoFrame) and client in self.state.names:
            self.state.names[client] = parsed.received_ns  # the usual case, in short
        elif isinstance(parsed, ControlEvent) and parsed.command == "bye":
            self.state.names.pop(client, None)  # gone: its place is free again
        elif not isinstance(parsed, Rejected):
            names, now = self.state.names, parsed.received_ns
            if client not in names and len(names) >= self._opt.max_names:
                for name, last in list(names.items()):  # names gone quiet give way
                    if now - last > self._opt.name_ttl_ns:
                        del names[name]
            if client in names or len(names) < self._opt.max_names:
                names[client] = now
            else:
                parsed = Rejected(
                    reason="too_many_clients",
                    detail=f"host {self.state.host} streams as {len(names)} clients already "
                    f"(max_clients_per_host)",
                    channel=raw.channel if raw is not None else _channel_of(parsed),
                    peer=raw.peer if raw is not None else self.state.host,
                    received_ns=parsed.received_ns,
                    size=raw.size if raw is not None else 0,
                )
        if parsed.client == client:  # the header named it (the usual case): nothing to change
            return client, parsed
        return client, dataclasses.replace(parsed, client=client)

    @override
    def on_notify(self) -> tuple[Iterable[Named], bool]:
        """Live only: a slot that waited its time with no more messages from its host."""
        clock = self._opt.clock
        if clock is None:
            return [], StatefulLogic.RETAIN
        return self._release_expired(clock() - _TIMER_MARGIN_NS), StatefulLogic.RETAIN

    @override
    def notify_at(self) -> datetime | None:
        if self._opt.clock is None:
            return None
        due = [s.held_since_ns for s in self.state.slots if s.held]
        if not due:
            return None
        at_ns = min(due) + self._opt.name_wait_ns + _TIMER_MARGIN_NS + 1
        return datetime.fromtimestamp(at_ns / 1e9, tz=UTC)

    @override
    def on_eof(self) -> tuple[Iterable[Named], bool]:
        out: list[Named] = []
        for index in range(len(self.state.slots)):
            out += self._settle(index)
        return out, StatefulLogic.RETAIN

    # -- holding unnamed data for its hello -------------------------------------------------
    @staticmethod
    def _hold(slot: _Slot, parsed: Parsed, size: int) -> None:
        if not slot.held:
            slot.held_since_ns = parsed.received_ns
        slot.held.append(parsed)
        slot.held_bytes += size

    def _held_bytes(self) -> int:
        return sum(s.held_bytes for s in self.state.slots)

    def _settle(self, index: int) -> list[Named]:
        """The slot's name is decided: release what it held under it, in arrival order."""
        slot = self.state.slots[index]
        slot.settled = True
        client = slot.name or self._default_name(index)
        out = [self._named(client, p, None) for p in slot.held]
        slot.held, slot.held_bytes = [], 0
        return out

    def _release_expired(self, now_ns: int) -> list[Named]:
        """Slots whose wait is over by this host's arrival times release under the host name."""
        out: list[Named] = []
        for index, slot in enumerate(self.state.slots):
            if slot.held and now_ns - slot.held_since_ns > self._opt.name_wait_ns:
                out += self._settle(index)
        return out

    # -- slots ------------------------------------------------------------------------------
    def _default_name(self, index: int) -> str:
        host = self.state.host
        return sanitize_client_name(host if index == 0 else f"{host}-{index + 1}")

    def _slot_for(self, raw: RawMessage) -> int:
        channel, conn, now = raw.channel, raw.peer_conn, raw.received_ns
        slots = self.state.slots
        for i, slot in enumerate(slots):
            held = slot.conns.get(channel)
            if held is not None and held[0] == conn:
                slot.conns[channel] = (conn, now)
                return i
        for i, slot in enumerate(slots):  # first slot whose connection on this channel is free
            held = slot.conns.get(channel)
            if held is None or now - held[1] > self._opt.conn_ttl_ns:
                if held is not None:
                    # A new connection took over (a client restarted or reconnected): its
                    # data waits for a hello again, which may rename the slot.
                    slot.settled = False
                slot.conns[channel] = (conn, now)
                return i
        slots.append(_Slot({channel: (conn, now)}))
        return len(slots) - 1

    @override
    def snapshot(self) -> HostState:
        return dataclasses.replace(
            self.state,
            slots=[
                dataclasses.replace(s, conns=dict(s.conns), held=list(s.held))
                for s in self.state.slots
            ],
            names=dict(self.state.names),
        )
