"""Who sent it: parse raw messages and give each one a client name.

A header's `client` field names its sender. Real clients today send none, so
their messages are told apart by connection: for each host, connections are
grouped into *slots* by channel in order of appearance (a client's first audio,
video and control connections form slot 0; a second client on the same host, with
its own connections, slot 1), and a slot is named after the host (`10.0.0.7`,
`10.0.0.7-2`, ...) until a `hello` sent over that slot's control connection
gives it a name. Two legacy clients therefore never mix, and a client that says
hello first streams under its own name from its first chunk.

The step is keyed by peer host and uses only data (arrival times, connection ids),
so replaying a capture reproduces the same names.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass, field

from bytewax.operators import StatefulLogic
from typing_extensions import override

from ambient_flow.protocol.control import FLOW_COMMANDS
from ambient_flow.protocol.identity import sanitize_client_name
from ambient_flow.protocol.messages import ControlEvent, Parsed, RawMessage
from ambient_flow.protocol.parse import parse_raw

__all__ = ["HostState", "IdentifyLogic"]

#: Marks "the header named nobody" in `parse_raw`'s fallback; replaced below.
_UNNAMED = "\x00unnamed"


@dataclass
class _Slot:
    conns: dict[str, tuple[str, int]] = field(default_factory=dict)  # channel -> (conn, last ns)
    name: str | None = None


@dataclass
class HostState:
    """Connection slots of one host (small; this is also the snapshot)."""

    host: str
    slots: list[_Slot] = field(default_factory=list)


class IdentifyLogic(StatefulLogic[RawMessage, tuple[str, Parsed], HostState]):
    """Per-host logic: raw message in, `(client, parsed message)` out."""

    def __init__(
        self,
        state: HostState | None,
        *,
        max_payload: int,
        conn_ttl_ns: int,
        max_audio_seconds: float = float("inf"),
    ) -> None:
        # Bytewax hands a builder only the resume state, not the key: a new host's
        # state learns its name from the first message.
        self.state = state or HostState("")
        self._max_payload = max_payload
        self._max_audio_seconds = max_audio_seconds
        self._ttl = conn_ttl_ns

    @override
    def on_item(self, value: RawMessage) -> tuple[Iterable[tuple[str, Parsed]], bool]:
        if not self.state.host:
            self.state.host = value.peer_host
        parsed = parse_raw(
            value,
            fallback_client=_UNNAMED,
            max_payload=self._max_payload,
            max_audio_seconds=self._max_audio_seconds,
        )
        if isinstance(parsed, ControlEvent) and parsed.command not in FLOW_COMMANDS:
            return [], StatefulLogic.RETAIN  # get_config/stats ask the server; no client state
        is_hello = isinstance(parsed, ControlEvent) and parsed.command == "hello"
        if parsed.client != _UNNAMED and not is_hello:
            return [(str(parsed.client), parsed)], StatefulLogic.RETAIN
        slot_index = self._slot_for(value)
        slot = self.state.slots[slot_index]
        if is_hello and parsed.client != _UNNAMED:
            # The hello names the slot of its connection: this client's unnamed data
            # (same host, paired connections) streams under that name from now on.
            slot.name = str(parsed.client)
        client = slot.name or self._default_name(slot_index)
        return [(client, dataclasses.replace(parsed, client=client))], StatefulLogic.RETAIN

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
            if held is None or now - held[1] > self._ttl:
                slot.conns[channel] = (conn, now)
                return i
        slots.append(_Slot({channel: (conn, now)}))
        return len(slots) - 1

    @override
    def snapshot(self) -> HostState:
        return dataclasses.replace(
            self.state,
            slots=[_Slot(dict(s.conns), s.name) for s in self.state.slots],
        )
