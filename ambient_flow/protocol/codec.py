"""Bytes <-> messages for protocol v1. Pure functions, no I/O.

A data message is either two ZeroMQ message parts (frames, in ZeroMQ's word)
`[JSON header][payload]` or one part holding the envelope
`[u32 BE header_len][u32 BE payload_len][header][payload]`; the same envelopes back to
back form the raw-TCP stream (`EnvelopeStream`).
"""

from __future__ import annotations

import json
import struct
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ambient_flow.errors import ProtocolError
from ambient_flow.protocol import constants as C
from ambient_flow.protocol.jsontext import loads_bounded, wire_text
from ambient_flow.protocol.messages import PCM16, PCM16_SCALE, AudioChunk, VideoFrame

__all__ = [
    "EnvelopeStream",
    "audio_header",
    "check_prefix",
    "decode_envelope",
    "decode_tcp_record",
    "encode_envelope",
    "encode_header",
    "encode_multipart",
    "parse_audio",
    "parse_header",
    "parse_video",
    "split_parts",
    "video_header",
]

_PREFIX = struct.Struct(">II")


def encode_header(header: Mapping[str, Any]) -> bytes:
    """Compact UTF-8 JSON, keys in the order given (what the vectors pin down)."""
    return json.dumps(dict(header), separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def encode_envelope(header: Mapping[str, Any] | bytes, payload: bytes) -> bytes:
    """One frame: `[u32 BE header_len][u32 BE payload_len][header][payload]`."""
    head = header if isinstance(header, bytes) else encode_header(header)
    return _PREFIX.pack(len(head), len(payload)) + head + payload


def encode_multipart(header: Mapping[str, Any] | bytes, payload: bytes) -> list[bytes]:
    """Two parts: `[header][payload]`."""
    head = header if isinstance(header, bytes) else encode_header(header)
    return [head, payload]


def audio_header(
    ts: int,
    seq: int,
    *,
    sr: int = C.AUDIO_SAMPLE_RATE,
    ch: int = C.AUDIO_CHANNELS,
    fmt: str = C.AUDIO_FORMAT,
    **extra: Any,
) -> dict[str, Any]:
    return {"type": "audio", "ts": ts, "seq": seq, "sr": sr, "ch": ch, "fmt": fmt, **extra}


def video_header(
    ts: int,
    seq: int,
    *,
    w: int = C.VIDEO_WIDTH,
    h: int = C.VIDEO_HEIGHT,
    fmt: str = C.VIDEO_FORMAT,
    quality: int | None = C.VIDEO_QUALITY,
    **extra: Any,
) -> dict[str, Any]:
    head: dict[str, Any] = {"type": "video", "ts": ts, "seq": seq, "w": w, "h": h, "fmt": fmt}
    if quality is not None:
        head["quality"] = quality
    head.update(extra)
    return head


def decode_envelope(buf: bytes) -> tuple[bytes, bytes]:
    """Split one envelope into (header bytes, payload); the lengths must add up exactly."""
    if len(buf) < C.ENVELOPE_PREFIX_BYTES:
        raise ProtocolError("envelope_short", f"{len(buf)} bytes, the prefix alone is 8")
    header_len, payload_len = _PREFIX.unpack_from(buf)
    expected = C.ENVELOPE_PREFIX_BYTES + header_len + payload_len
    if len(buf) < expected:
        raise ProtocolError(
            "envelope_short",
            f"prefix announces {header_len}+{payload_len} bytes, frame has {len(buf) - 8}",
        )
    if len(buf) > expected:
        raise ProtocolError(
            "envelope_trailing",
            f"{len(buf) - expected} bytes after header ({header_len}) and payload ({payload_len})",
        )
    return buf[8 : 8 + header_len], buf[8 + header_len :]


def check_prefix(header_len: int, payload_len: int, max_payload: int) -> None:
    """The TCP stream's rule: lengths that can never be a valid record break the stream.

    Raises `ProtocolError` with the reason the connection is closed for.
    """
    if header_len == 0:
        raise ProtocolError("envelope_short", "header length 0: no JSON header")
    if header_len > C.MAX_HEADER_BYTES:
        raise ProtocolError(
            "header_too_large", f"header length {header_len} > {C.MAX_HEADER_BYTES}"
        )
    if payload_len > max_payload:
        raise ProtocolError("payload_too_large", f"payload length {payload_len} > {max_payload}")


def decode_tcp_record(buf: bytes, max_payload: int = C.MAX_MESSAGE_BYTES) -> tuple[bytes, bytes]:
    """`decode_envelope` for a record cut from the TCP stream.

    The prefix is judged first, as the stream decoder judged it, so the bytes a TCP
    source keeps of a stream it had to close (the bad prefix and what followed) are
    rejected for the same reason the connection was closed for.
    """
    if len(buf) >= C.ENVELOPE_PREFIX_BYTES:
        header_len, payload_len = _PREFIX.unpack_from(buf)
        check_prefix(header_len, payload_len, max_payload)
    return decode_envelope(buf)


def split_parts(parts: Sequence[bytes]) -> tuple[bytes, bytes]:
    """Accept both encodings: 2 parts (header, payload) or 1 envelope part."""
    if len(parts) == 2:
        return parts[0], parts[1]
    if len(parts) == 1:
        return decode_envelope(parts[0])
    raise ProtocolError("frame_count", f"{len(parts)} parts; expected 1 (envelope) or 2")


def parse_header(raw: bytes) -> dict[str, Any]:
    """Decode the JSON header; it must be an object, at most 64 KiB and 32 levels deep."""
    header = loads_bounded(raw, "header")
    if not isinstance(header, dict):
        raise ProtocolError("header_not_object", f"header is a JSON {type(header).__name__}")
    return header


def _int_field(
    header: Mapping[str, Any], key: str, *, minimum: int = 0, maximum: int = C.MAX_SEQ
) -> int:
    if key not in header:
        raise ProtocolError("missing_field", f"header has no {key!r}")
    value = header[key]
    # bool is an int subclass in Python; `true` is not a timestamp.
    if isinstance(value, bool) or not isinstance(value, int):
        raise ProtocolError("bad_field", f"{key!r} must be an integer, got {value!r:.40}")
    if not minimum <= value <= maximum:
        shown = f"{value}" if abs(value) < 10**40 else f"an integer of {len(str(value))} digits"
        raise ProtocolError("bad_field", f"{key!r} must be {minimum}..{maximum}, got {shown}")
    return value


def _opt_str(header: Mapping[str, Any], key: str) -> str | None:
    value = header.get(key)
    if value is None:
        return None
    text = wire_text(value)
    if text is None:
        raise ProtocolError(
            "bad_field",
            f"{key!r} must be a string of at most {C.MAX_TEXT_FIELD} characters of valid "
            f"Unicode, got {value!r:.40}",
        )
    return text


def message_type(header: Mapping[str, Any]) -> str:
    kind = header.get("type")
    if kind not in C.MESSAGE_TYPES:
        raise ProtocolError("unknown_type", f"type {kind!r:.40} is not one of {C.MESSAGE_TYPES}")
    return str(kind)


def parse_audio(
    header: Mapping[str, Any],
    payload: bytes,
    *,
    client: str,
    received_ns: int,
    max_payload: int = C.MAX_MESSAGE_BYTES,
    max_seconds: float = float("inf"),
) -> AudioChunk:
    """Validate an audio message; stereo is downmixed here, the rate converted later.

    `max_seconds` bounds the audio one message may carry (`audio_too_long` above it).
    """
    ts = _int_field(header, "ts", maximum=C.MAX_TS_MS)
    seq = _int_field(header, "seq")
    sr = header.get("sr", C.AUDIO_SAMPLE_RATE)
    ch = header.get("ch", C.AUDIO_CHANNELS)
    fmt = header.get("fmt", C.AUDIO_FORMAT)
    if fmt != "int16":
        raise ProtocolError("unsupported_fmt", f"audio fmt {fmt!r:.40}; only 'int16' is accepted")
    if isinstance(sr, bool) or sr not in C.ACCEPTED_SAMPLE_RATES:
        raise ProtocolError("unsupported_sr", f"sr {sr!r:.40} not in {C.ACCEPTED_SAMPLE_RATES}")
    if isinstance(ch, bool) or ch not in C.ACCEPTED_CHANNELS:
        raise ProtocolError("unsupported_ch", f"ch {ch!r:.40}; 1 or 2 channels are accepted")
    if len(payload) > max_payload:
        raise ProtocolError("payload_too_large", f"{len(payload)} bytes > {max_payload}")
    if not payload:
        raise ProtocolError("empty_payload", "audio message with no samples")
    if len(payload) % (2 * ch):
        raise ProtocolError(
            "odd_pcm", f"{len(payload)} bytes is not a whole number of {ch}-channel int16 frames"
        )
    seconds = len(payload) / (2 * ch * sr)
    if seconds > max_seconds:
        raise ProtocolError(
            "audio_too_long", f"{seconds:.2f} s of audio in one message > {max_seconds:g} s"
        )
    samples = None  # mono: decoded from `pcm` when a stage first reads `samples`
    if ch == 2:
        # int16 times a float32 scalar is float32 (exact: int16 / 2**15)
        pairs = (np.frombuffer(payload, dtype=PCM16) * PCM16_SCALE).reshape(-1, 2)
        samples = pairs.mean(axis=1, dtype=np.float32)
    return AudioChunk(
        client=client,
        timestamp_ms=ts,
        sequence=seq,
        sample_rate=int(sr),
        channels=1,
        received_ns=received_ns,
        session=_opt_str(header, "session"),
        source=_opt_str(header, "source"),
        source_channels=int(ch),
        pcm=bytes(payload) if ch == 1 else None,
        float_samples=samples,
    )


def parse_video(
    header: Mapping[str, Any],
    payload: bytes,
    *,
    client: str,
    received_ns: int,
    max_payload: int = C.MAX_MESSAGE_BYTES,
) -> VideoFrame:
    """Validate a video message without decoding the image."""
    ts = _int_field(header, "ts", maximum=C.MAX_TS_MS)
    seq = _int_field(header, "seq")
    w = _int_field(header, "w", minimum=1)
    h = _int_field(header, "h", minimum=1)
    if w > C.MAX_VIDEO_SIDE or h > C.MAX_VIDEO_SIDE:
        raise ProtocolError("bad_field", f"{w}x{h} exceeds {C.MAX_VIDEO_SIDE} per side")
    fmt = header.get("fmt", C.VIDEO_FORMAT)
    if fmt not in C.VIDEO_FORMATS:
        raise ProtocolError("unsupported_fmt", f"video fmt {fmt!r:.40} not in {C.VIDEO_FORMATS}")
    quality = header.get("quality")
    if quality is not None and (
        isinstance(quality, bool) or not isinstance(quality, int) or not 0 <= quality <= 100
    ):
        raise ProtocolError(
            "bad_field", f"'quality' must be an integer 0..100, got {quality!r:.40}"
        )
    if len(payload) > max_payload:
        raise ProtocolError("payload_too_large", f"{len(payload)} bytes > {max_payload}")
    if not payload:
        raise ProtocolError("empty_payload", "video message with no image")
    if fmt == "jpeg" and not payload.startswith(b"\xff\xd8"):
        raise ProtocolError(
            "bad_jpeg", f"JPEG must start with FF D8, starts with {payload[:2].hex()}"
        )
    if fmt == "rgb" and len(payload) != w * h * 3:
        raise ProtocolError("rgb_size", f"rgb {w}x{h} needs {w * h * 3} bytes, got {len(payload)}")
    return VideoFrame(
        client=client,
        timestamp_ms=ts,
        sequence=seq,
        width=w,
        height=h,
        format=str(fmt),
        payload=bytes(payload),
        received_ns=received_ns,
        quality=quality,
        session=_opt_str(header, "session"),
        source=_opt_str(header, "source"),
    )


class EnvelopeStream:
    """Incremental decoder for the raw-TCP transport: envelopes back to back.

    `feed()` returns every complete envelope (prefix included, exactly as sent) and
    never raises. A prefix whose lengths can never be valid breaks the stream:
    `error` is set (a `ProtocolError`), `feed()` returns nothing more, and the
    caller closes that connection, since a byte stream cannot be resynchronised
    after a bad prefix. Envelopes completed before the bad prefix are still returned.
    """

    def __init__(self, max_message: int = C.MAX_MESSAGE_BYTES) -> None:
        self._buf = bytearray()
        self._max = max_message
        self.error: ProtocolError | None = None

    @property
    def pending(self) -> int:
        """Bytes received that do not yet form a whole envelope."""
        return len(self._buf)

    def peek(self, n: int = 64) -> bytes:
        """The first `n` buffered bytes (what broke the stream, for the record)."""
        return bytes(self._buf[:n])

    def feed(self, data: bytes) -> list[bytes]:
        if self.error is not None:
            return []
        self._buf += data
        records: list[bytes] = []
        while len(self._buf) >= C.ENVELOPE_PREFIX_BYTES:
            header_len, payload_len = _PREFIX.unpack_from(self._buf)
            try:
                check_prefix(header_len, payload_len, self._max)
            except ProtocolError as exc:
                self.error = exc
                break
            total = C.ENVELOPE_PREFIX_BYTES + header_len + payload_len
            if len(self._buf) < total:
                break
            records.append(bytes(self._buf[:total]))
            del self._buf[:total]
        return records
