"""The same-work peer: a plain pyzmq PULL loop doing what ingest does with audio.

Per message: split the envelope (`[u32 header_len][u32 payload_len][JSON header]
[payload]`), parse and check the header (type, rate, channels, format, seq, client),
check the payload's length; per client: sequence numbers (in order, gap filled with
silence and counted, duplicate or late counted), and the PCM appended to the client's
`audio.wav` (header at open, sizes at close), files flushed every 250 ms. No Bytewax,
no metrics, no status, no events: the work itself, written the plain way, so the flow's
ratio to it is its overhead (issue 13's "same-work peer").
"""

from __future__ import annotations

import json
import struct
import time
from pathlib import Path
from typing import Any, BinaryIO

import zmq

__all__ = ["SameWorkPeer"]

_PREFIX = struct.Struct(">II")
_RIFF = struct.Struct("<4sI4s4sIHHIIHH4sI")
FLUSH_S = 0.25


def _wav_header(data_bytes: int) -> bytes:
    return _RIFF.pack(
        b"RIFF",
        36 + data_bytes,
        b"WAVE",
        b"fmt ",
        16,
        1,
        1,
        16000,
        32000,
        2,
        16,
        b"data",
        data_bytes,
    )


class _Client:
    __slots__ = ("dups", "file", "gaps", "next_seq", "written")

    def __init__(self, file: BinaryIO) -> None:
        self.file = file
        self.next_seq = -1
        self.gaps = 0
        self.dups = 0
        self.written = 0


class SameWorkPeer:
    """Receive until `expected` audio messages were handled (or nothing came for 5 s)."""

    def __init__(self, endpoint: str, data_dir: Path) -> None:
        self.ctx = zmq.Context()
        self.sock = self.ctx.socket(zmq.PULL)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.setsockopt(zmq.RCVHWM, 10000)
        self.sock.bind(endpoint)
        self.data_dir = data_dir
        self.clients: dict[str, _Client] = {}
        self.rejects = 0

    def _client(self, name: str) -> _Client:
        c = self.clients.get(name)
        if c is None:
            d = self.data_dir / name
            d.mkdir(parents=True, exist_ok=True)
            f = open(d / "audio.wav", "wb")  # noqa: SIM115  # closed in close()
            f.write(_wav_header(0))
            c = self.clients[name] = _Client(f)
        return c

    def handle(self, msg: bytes) -> None:
        if len(msg) < 8:
            self.rejects += 1
            return
        hl, pl = _PREFIX.unpack_from(msg)
        if 8 + hl + pl != len(msg):
            self.rejects += 1
            return
        try:
            h = json.loads(msg[8 : 8 + hl])
        except ValueError:
            self.rejects += 1
            return
        seq, name = h.get("seq"), h.get("client")
        ok = (
            h.get("type") == "audio"
            and h.get("sr") == 16000
            and h.get("ch") == 1
            and h.get("fmt") == "int16"
            and isinstance(seq, int)
            and 0 <= seq < 2**53
            and isinstance(name, str)
            and 0 < len(name) <= 64
            and pl % 2 == 0
        )
        if not ok:
            self.rejects += 1
            return
        c = self._client(name)
        if c.next_seq < 0:
            c.next_seq = seq
        if seq < c.next_seq:
            c.dups += 1
            return
        if seq > c.next_seq:  # a gap: silence for the missing chunks, counted
            c.gaps += seq - c.next_seq
            c.file.write(bytes(pl * (seq - c.next_seq)))
        c.file.write(msg[8 + hl :])
        c.written += 1
        c.next_seq = seq + 1

    def run(self, expected: int, deadline_s: float = 120.0) -> dict[str, Any]:
        n = first = last = 0
        flushed = time.monotonic()
        deadline = time.monotonic() + deadline_s
        while n < expected and time.monotonic() < deadline:
            if not self.sock.poll(5000):
                break
            self.handle(self.sock.recv())
            if not n:
                first = time.time_ns()
            n += 1
            if not n & 255 and time.monotonic() - flushed >= FLUSH_S:
                for c in self.clients.values():
                    c.file.flush()
                flushed = time.monotonic()
        last = time.time_ns()
        return {
            "n": n,
            "first_ns": first,
            "last_ns": last,
            "written": sum(c.written for c in self.clients.values()),
            "gaps": sum(c.gaps for c in self.clients.values()),
            "rejects": self.rejects,
        }

    def close(self) -> None:
        for c in self.clients.values():
            data = c.file.tell() - 44
            c.file.seek(0)
            c.file.write(_wav_header(data))
            c.file.close()
        self.sock.close(linger=0)
        self.ctx.term()
