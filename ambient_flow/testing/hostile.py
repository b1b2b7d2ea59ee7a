"""Hostile input: a seeded generator of mutated wire messages, for fuzz tests and soaks.

`Mutator(seed)` starts from valid messages of every kind (audio and video as envelope
and multipart, control requests, TCP records) and breaks them the ways a probe of the
host did: numbers out of range (`1e309`, `2**63`, negative, floats, NaN), wrong JSON
types, deep nesting, huge strings, unknown fields and types, random bytes flipped,
truncated or appended, wrong part counts, odd PCM, lying prefixes, sequence numbers
and timestamps that jump, repeat and go back, and names from a small pool so state
piles up per client. The same seed gives the same messages.
"""

from __future__ import annotations

import json
import random
import struct
from collections.abc import Iterator
from dataclasses import dataclass

from ambient_flow.protocol.messages import Channel, RawMessage
from ambient_flow.testing.media import jpeg, sine_pcm

__all__ = ["HOSTILE_VALUES", "Mutator", "WireMessage"]

#: JSON texts that break naive readers (inserted verbatim as a field's value).
HOSTILE_VALUES: tuple[str, ...] = (
    "1" + "0" * 309,  # 1e309: an integer no float holds
    "-" + "1" + "0" * 40,
    str(2**63),
    str(2**64 + 1),
    str(2**53),
    "-1",
    "0",
    "1e309",  # a float that overflows to inf
    "1.5",
    "-0.0",
    "NaN",
    "Infinity",
    "true",
    "null",
    '""',
    '"0"',
    '"' + "x" * 5000 + '"',
    '"\\u0000\\ud800"',
    '"../../etc/passwd"',
    "[]",
    "{}",
    "[" * 40 + "]" * 40,
    '{"a":' * 40 + "1" + "}" * 40,
    "[1,2,3]",
    '{"cmd":"bye"}',
)
_FIELDS = ("type", "ts", "seq", "sr", "ch", "fmt", "w", "h", "quality", "client", "session",
           "source", "cmd", "capabilities", "token", "v")  # fmt: skip
_TYPES = ('"audio"', '"video"', '"control"', '"text"', "1", "null")
_CMDS = ('"hello"', '"heartbeat"', '"bye"', '"stats"', '"get_config"', '"reboot"', "7")
_NAMES = (*(f'"fuzz-{i}"' for i in range(24)), '"José"', '"a/b"', '"..\\\\x"', '"  "')


@dataclass(frozen=True, slots=True)
class WireMessage:
    """One message as it goes on the wire: the port and its ZeroMQ parts (or TCP bytes)."""

    channel: Channel
    parts: tuple[bytes, ...]

    def raw(self, at_ns: int, host: str = "192.0.2.7", conn: str = "fd9") -> RawMessage:
        """As a source would emit it (for graph tests without sockets)."""
        return RawMessage(self.channel, self.parts, at_ns, at_ns, host, conn)


def _envelope(header: bytes, payload: bytes) -> bytes:
    return struct.pack(">II", len(header), len(payload)) + header + payload


def _obj(fields: dict[str, str]) -> bytes:
    """A JSON object from raw JSON value texts (so 1e309 stays an integer literal)."""
    return ("{" + ",".join(f"{json.dumps(k)}:{v}" for k, v in fields.items()) + "}").encode()


class Mutator:
    """An endless, reproducible stream of hostile messages (`messages()`)."""

    def __init__(self, seed: int = 0) -> None:
        self._rng = random.Random(seed)
        self._seq: dict[str, int] = {}
        self._pcm = sine_pcm(ms=100)
        self._jpeg = jpeg(32, 24, seed=seed)

    # -- valid starting points -------------------------------------------------------------
    def _fields(self, kind: str) -> dict[str, str]:
        r = self._rng
        name = r.choice(_NAMES)
        seq = self._seq.get(name + kind, 0)
        self._seq[name + kind] = seq + 1
        ts = str(1_700_000_000_000 + 100 * seq)
        if kind == "audio":
            return {"type": '"audio"', "ts": ts, "seq": str(seq), "sr": "16000", "ch": "1",
                    "fmt": '"int16"', "client": name}  # fmt: skip
        if kind == "video":
            return {"type": '"video"', "ts": ts, "seq": str(seq), "w": "32", "h": "24",
                    "fmt": '"jpeg"', "client": name}  # fmt: skip
        return {"cmd": r.choice(_CMDS), "client": name, "capabilities": '["audio","video"]'}

    def _payload(self, kind: str) -> bytes:
        if kind == "audio":
            return self._pcm
        if kind == "video":
            return self._jpeg
        return b""

    # -- mutations ---------------------------------------------------------------------------
    def _mutate_fields(self, fields: dict[str, str]) -> None:
        r = self._rng
        for _ in range(r.choice((1, 1, 1, 2, 3))):
            key = r.choice(_FIELDS)
            roll = r.random()
            if roll < 0.5:
                fields[key] = r.choice(HOSTILE_VALUES)
            elif roll < 0.6:
                fields.pop(key, None)
            elif roll < 0.7 and key == "type":
                fields[key] = r.choice(_TYPES)
            elif roll < 0.85 and key in ("seq", "ts"):
                # Valid but hostile: jumps, repeats, restarts.
                fields[key] = str(r.choice((0, 1, 339, 340, 10**6, 2**40, 2**53 - 1)))
            else:
                fields[f"x{r.randrange(100)}"] = r.choice(HOSTILE_VALUES)

    def _mutate_bytes(self, data: bytes) -> bytes:
        r = self._rng
        buf = bytearray(data)
        roll = r.random()
        if roll < 0.3 and buf:
            for _ in range(r.randrange(1, 4)):
                buf[r.randrange(len(buf))] ^= 1 << r.randrange(8)
        elif roll < 0.5:
            del buf[r.randrange(len(buf) + 1) :]
        elif roll < 0.65:
            buf += bytes(r.randrange(256) for _ in range(r.randrange(1, 9)))
        elif roll < 0.8 and len(buf) >= 8:
            buf[:8] = struct.pack(">II", r.choice((0, 1, 65537, 2**32 - 1)), r.randrange(2**32))
        else:
            buf[r.randrange(len(buf) + 1) : r.randrange(len(buf) + 1)] = b""
        return bytes(buf)

    def _payload_mutation(self, kind: str, payload: bytes) -> bytes:
        r = self._rng
        roll = r.random()
        if roll < 0.25:
            return payload[: r.randrange(len(payload) + 1)]
        if roll < 0.35 and kind == "audio":
            return payload + b"\x00"  # odd PCM
        if roll < 0.45 and kind == "audio":
            return payload * r.choice((10, 100, 120))  # 1 s, 10 s, 12 s in one message
        if roll < 0.5:
            return b""
        return payload

    # -- the stream ----------------------------------------------------------------------------
    def message(self) -> WireMessage:
        """The next hostile message (about one in five is valid, to build up state)."""
        r = self._rng
        kind = r.choice(("audio", "audio", "video", "control", "tcp"))
        inner = r.choice(("audio", "video", "control")) if kind == "tcp" else kind
        fields = self._fields(inner)
        if inner == "control" and kind == "tcp":
            fields["type"] = '"control"'
        payload = self._payload(inner)
        valid = r.random() < 0.2
        if not valid:
            if r.random() < 0.7:
                self._mutate_fields(fields)
            if r.random() < 0.3:
                payload = self._payload_mutation(inner, payload)
        header = _obj(fields)
        channel: Channel = "tcp" if kind == "tcp" else inner  # type: ignore[assignment]
        if inner == "control" and kind != "tcp":
            parts: tuple[bytes, ...] = (header,)
            if not valid and r.random() < 0.1:
                parts = (header, b"extra")
        elif kind == "tcp" or r.random() < 0.7:
            parts = (_envelope(header, payload),)
        else:
            parts = (header, payload)
            if not valid and r.random() < 0.1:
                parts = (*parts, b"third")
        if not valid and r.random() < 0.35:
            i = r.randrange(len(parts))
            parts = (*parts[:i], self._mutate_bytes(parts[i]), *parts[i + 1 :])
        return WireMessage(channel, parts)

    def messages(self, n: int) -> Iterator[WireMessage]:
        for _ in range(n):
            yield self.message()
