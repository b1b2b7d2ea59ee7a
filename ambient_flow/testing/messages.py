"""Build wire messages and raw items the way clients and sources make them."""

from __future__ import annotations

import time
from typing import Any

from ambient_flow.protocol.codec import (
    audio_header,
    encode_envelope,
    encode_multipart,
    video_header,
)
from ambient_flow.protocol.messages import Channel, RawMessage
from ambient_flow.testing.media import jpeg, sine_pcm

__all__ = ["audio_parts", "audio_raw", "control_raw", "raw", "video_parts", "video_raw"]

T0_MS = 1_700_000_000_000


def audio_parts(
    seq: int = 0,
    *,
    ts: int | None = None,
    client: str | None = None,
    envelope: bool = True,
    pcm: bytes | None = None,
    **header: Any,
) -> list[bytes]:
    """One audio message as ZeroMQ message parts (envelope by default, like real clients)."""
    extra = dict(header)
    if client is not None:
        extra["client"] = client
    head = audio_header(T0_MS + 100 * seq if ts is None else ts, seq, **extra)
    body = sine_pcm(phase_samples=1600 * seq) if pcm is None else pcm
    return [encode_envelope(head, body)] if envelope else encode_multipart(head, body)


def video_parts(
    seq: int = 0,
    *,
    ts: int | None = None,
    client: str | None = None,
    envelope: bool = True,
    payload: bytes | None = None,
    **header: Any,
) -> list[bytes]:
    extra = dict(header)
    if client is not None:
        extra["client"] = client
    head = video_header(T0_MS + 200 * seq if ts is None else ts, seq, **extra)
    body = jpeg(int(head["w"]), int(head["h"]), seed=seq) if payload is None else payload
    return [encode_envelope(head, body)] if envelope else encode_multipart(head, body)


def raw(
    channel: Channel,
    parts: list[bytes],
    *,
    at_ns: int | None = None,
    host: str = "127.0.0.1",
    conn: str = "fd10",
) -> RawMessage:
    at = time.time_ns() if at_ns is None else at_ns
    return RawMessage(channel, tuple(parts), at, at, host, conn)


def audio_raw(
    seq: int = 0, *, at_ns: int | None = None, conn: str = "fd10", **kw: Any
) -> RawMessage:
    """An audio RawMessage; arrival defaults to 5 ms after the header's ts."""
    ts = kw.get("ts", T0_MS + 100 * seq)
    at = (ts + 5) * 1_000_000 if at_ns is None else at_ns
    return raw("audio", audio_parts(seq, **kw), at_ns=at, conn=conn)


def video_raw(
    seq: int = 0, *, at_ns: int | None = None, conn: str = "fd11", **kw: Any
) -> RawMessage:
    ts = kw.get("ts", T0_MS + 200 * seq)
    at = (ts + 8) * 1_000_000 if at_ns is None else at_ns
    return raw("video", video_parts(seq, **kw), at_ns=at, conn=conn)


def control_raw(cmd: str, *, at_ns: int, conn: str = "fd12", **body: Any) -> RawMessage:
    import json

    return raw("control", [json.dumps({"cmd": cmd, **body}).encode()], at_ns=at_ns, conn=conn)
