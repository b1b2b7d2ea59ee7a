"""The `.zmqcap` recording format (specified in `docs/zmqcap.md`).

```
file    := file_header record*
file_header := "ZMQCAP" u16 version u32 meta_len meta_json u32 crc32(meta_json)
record  := "RC" u32 body_len body u32 crc32(body)
body    := u64 received_ns u64 monotonic_ns u8 channel u16 peer_len peer
           u8 n_parts (u32 part_len)*n_parts part_bytes*
```
All integers big-endian. Records are appended and flushed one batch at a time, so
a process killed mid-write leaves at most one partial record at the tail; the
reader reports it (and any corrupt record in the middle, after which it
resynchronises on the next record that passes its CRC) and replays everything else.
"""

from __future__ import annotations

import json
import os
import socket
import struct
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Final

from ambient_flow.errors import CaptureError, CorruptRecord
from ambient_flow.protocol.constants import CHANNELS, MAX_MESSAGE_BYTES
from ambient_flow.protocol.messages import Channel, RawMessage

__all__ = ["FORMAT_VERSION", "CaptureReader", "CaptureWriter", "Problem", "encode_record"]

MAGIC: Final = b"ZMQCAP"
FORMAT_VERSION: Final = 1
RECORD_MARK: Final = b"RC"
_FILE_HEAD = struct.Struct(">6sHI")
_REC_HEAD = struct.Struct(">2sI")
_BODY_FIXED = struct.Struct(">QQBH")
_CRC = struct.Struct(">I")
#: A record body can never be larger than this (parts are bounded by the sources).
MAX_BODY: Final = 4 * MAX_MESSAGE_BYTES + 65536
_CHANNEL_CODES: Final = {name: i for i, name in enumerate(CHANNELS)}


def encode_record(msg: RawMessage) -> bytes:
    # An authenticated sender's name rides after the connection id: `host#conn@user`
    # (names never hold `@` or `#`; a reader that does not know this sees a longer id).
    peer = (msg.peer + (f"@{msg.user}" if msg.user else "")).encode("utf-8")[:65535]
    parts = [
        _BODY_FIXED.pack(msg.received_ns, msg.monotonic_ns, _CHANNEL_CODES[msg.channel], len(peer)),
        peer,
        struct.pack(">B", len(msg.parts)),
        b"".join(struct.pack(">I", len(f)) for f in msg.parts),
        *msg.parts,
    ]
    body = b"".join(parts)
    return _REC_HEAD.pack(RECORD_MARK, len(body)) + body + _CRC.pack(zlib.crc32(body))


def _decode_body(body: bytes) -> RawMessage:
    received_ns, monotonic_ns, code, peer_len = _BODY_FIXED.unpack_from(body)
    pos = _BODY_FIXED.size
    peer = body[pos : pos + peer_len].decode("utf-8", "replace")
    pos += peer_len
    (count,) = struct.unpack_from(">B", body, pos)
    pos += 1
    lengths = struct.unpack_from(f">{count}I", body, pos)
    pos += 4 * count
    parts = []
    for n in lengths:
        parts.append(body[pos : pos + n])
        pos += n
    if pos != len(body) or code >= len(CHANNELS):
        raise ValueError("part lengths do not add up to the body")
    # The writer stores `host#conn`; split at the last `#` (a host may be empty or hold `#`).
    host, sep, conn = peer.rpartition("#")
    if not sep:
        host, conn = peer, ""
    conn, _, user = conn.partition("@")
    channel: Channel = CHANNELS[code]
    return RawMessage(channel, tuple(parts), received_ns, monotonic_ns, host, conn, user)


class CaptureWriter:
    """Appends records to a new capture file. Not thread-safe: one writer per file."""

    def __init__(self, path: str | os.PathLike[str], meta: dict[str, Any] | None = None) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        header = {
            "created_at": time.time(),
            "host": socket.gethostname(),
            "tool": "ambient-flow",
            **(meta or {}),
        }
        blob = json.dumps(header, sort_keys=True).encode("utf-8")
        self._fh: IO[bytes] = self.path.open("wb")
        self._fh.write(_FILE_HEAD.pack(MAGIC, FORMAT_VERSION, len(blob)) + blob)
        self._fh.write(_CRC.pack(zlib.crc32(blob)))
        self._fh.flush()
        self.records = 0
        self.bytes = self._fh.tell()

    def write(self, msg: RawMessage) -> None:
        rec = encode_record(msg)
        self._fh.write(rec)
        self.records += 1
        self.bytes += len(rec)

    def flush(self) -> None:
        """Hand buffered records to the OS: after this a kill -9 loses nothing written."""
        self._fh.flush()

    def close(self) -> None:
        if not self._fh.closed:
            self._fh.flush()
            os.fsync(self._fh.fileno())
            self._fh.close()

    def __enter__(self) -> CaptureWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass(frozen=True, slots=True)
class Problem:
    """A stretch of the file that could not be read as records (reported, then skipped)."""

    offset: int
    length: int
    detail: str


@dataclass
class CaptureReader:
    """Reads a capture: header first (raises `CaptureError` if it is not one), then records.

    Iterating never raises for damage after the header: bad stretches are appended
    to `problems` and skipped, so everything intact replays.
    """

    path: Path
    meta: dict[str, Any] = field(init=False)
    version: int = field(init=False)
    data_offset: int = field(init=False)
    problems: list[Problem] = field(init=False, default_factory=list)

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.problems = []
        try:
            with self.path.open("rb") as fh:
                head = fh.read(_FILE_HEAD.size)
                if len(head) < _FILE_HEAD.size:
                    raise CaptureError(f"{self.path}: too short to be a .zmqcap file")
                magic, version, meta_len = _FILE_HEAD.unpack(head)
                if magic != MAGIC:
                    raise CaptureError(f"{self.path}: not a .zmqcap file (magic {magic!r})")
                if version != FORMAT_VERSION:
                    raise CaptureError(
                        f"{self.path}: format version {version}, this reader knows 1"
                    )
                if meta_len > 16 * 1024 * 1024:
                    raise CaptureError(f"{self.path}: header length {meta_len} is impossible")
                blob = fh.read(meta_len)
                crc = fh.read(4)
        except OSError as exc:
            raise CaptureError(f"{self.path}: cannot read ({exc.strerror})") from exc
        if len(blob) != meta_len or len(crc) != 4 or _CRC.unpack(crc)[0] != zlib.crc32(blob):
            raise CaptureError(f"{self.path}: file header is truncated or corrupt")
        try:
            self.meta = json.loads(blob)
        except ValueError as exc:
            raise CaptureError(f"{self.path}: file header is not JSON") from exc
        self.version = version
        self.data_offset = _FILE_HEAD.size + meta_len + 4

    def __iter__(self) -> Iterator[RawMessage]:
        for msg, _ in self.records():
            yield msg

    def records(self, start: int | None = None) -> Iterator[tuple[RawMessage, int]]:
        """Yield `(message, offset_after_it)`; resume by passing that offset as `start`."""
        offset = self.data_offset if start is None else max(start, self.data_offset)
        with self.path.open("rb") as fh:
            fh.seek(offset)
            data = fh.read()  # captures are replayed whole; mmap would be no faster here
        pos = 0
        while pos < len(data):
            try:
                msg, size = self._record_at(data, pos, offset)
            except CorruptRecord as exc:
                nxt = self._resync(data, pos + 1)
                self.problems.append(Problem(offset + pos, nxt - pos, exc.detail))
                pos = nxt
                continue
            pos += size
            yield msg, offset + pos

    @staticmethod
    def _record_at(data: bytes, pos: int, base: int) -> tuple[RawMessage, int]:
        if len(data) - pos < _REC_HEAD.size:
            raise CorruptRecord(base + pos, "truncated record header at end of file")
        mark, body_len = _REC_HEAD.unpack_from(data, pos)
        if mark != RECORD_MARK:
            raise CorruptRecord(base + pos, "no record mark")
        if body_len > MAX_BODY:
            raise CorruptRecord(base + pos, f"impossible record length {body_len}")
        end = pos + _REC_HEAD.size + body_len
        if end + 4 > len(data):
            raise CorruptRecord(base + pos, "record truncated at end of file")
        body = data[pos + _REC_HEAD.size : end]
        if _CRC.unpack_from(data, end)[0] != zlib.crc32(body):
            raise CorruptRecord(base + pos, "CRC32 mismatch")
        try:
            msg = _decode_body(body)
        except (ValueError, struct.error, IndexError) as exc:
            raise CorruptRecord(base + pos, f"record body does not parse ({exc})") from exc
        return msg, end + 4 - pos

    @classmethod
    def _resync(cls, data: bytes, pos: int) -> int:
        """Find the next offset where a whole record passes its CRC (or the end)."""
        while True:
            pos = data.find(RECORD_MARK, pos)
            if pos < 0:
                return len(data)
            try:
                cls._record_at(data, pos, 0)
                return pos
            except CorruptRecord:
                pos += 1
