"""What every sender process does the same way (standard library and pyzmq only).

A sender builds real single-part envelopes
(`[u32 BE header_len][u32 BE payload_len][JSON header][payload]`), connects, says
`("ready", idx)` on the result queue, waits for `go`, sends, and puts
`("done", idx, report)` (or `("error", idx, why)`). Every loop is bounded in time.
"""

from __future__ import annotations

import struct
import time
from typing import Any

import zmq

__all__ = [
    "GO_TIMEOUT_S",
    "LINGER_MS",
    "await_go",
    "envelope",
    "push_socket",
    "sleep_until_ns",
]

_PREFIX = struct.Struct(">II")
_AUDIO = b'{"type":"audio","ts":%d,"seq":%d,"sr":16000,"ch":1,"fmt":"int16","client":"%s"}'
_VIDEO = b'{"type":"video","ts":%d,"seq":%d,"w":%d,"h":%d,"fmt":"jpeg","quality":70,"client":"%s"}'
#: How long a sender waits for `go`, and how long close() may wait to deliver what is queued.
GO_TIMEOUT_S = 60.0
LINGER_MS = 15_000


def envelope(
    kind: str, client: bytes, seq: int, ts_ms: int, payload: bytes, wh: tuple[int, int]
) -> bytes:
    """One audio (int16 16 kHz mono) or video (JPEG `wh`) message, as a client sends it."""
    if kind == "audio":
        head = _AUDIO % (ts_ms, seq, client)
    else:
        head = _VIDEO % (ts_ms, seq, wh[0], wh[1], client)
    return _PREFIX.pack(len(head), len(payload)) + head + payload


def push_socket(ctx: zmq.Context[Any], endpoint: str) -> zmq.Socket[Any]:
    """A connected PUSH socket that delivers what is queued at close, but never hangs."""
    sock: zmq.Socket[Any] = ctx.socket(zmq.PUSH)
    sock.setsockopt(zmq.LINGER, LINGER_MS)
    sock.connect(endpoint)
    return sock


def await_go(idx: int, go: Any, results: Any) -> bool:
    """Say ready, then wait for `go`; False (reported as an error) if it never came."""
    results.put(("ready", idx))
    if go.wait(GO_TIMEOUT_S):
        return True
    results.put(("error", idx, "no go signal"))
    return False


def sleep_until_ns(due_ns: int) -> None:
    """Return at wall-clock `due_ns` to within microseconds: sleep, then spin ~0.4 ms
    (a sleep alone overshoots), so a header's ms `ts` is the true send time."""
    ahead = (due_ns - time.time_ns()) / 1e9 - 0.0004
    if ahead > 0:
        time.sleep(ahead)
    while time.time_ns() < due_ns:
        pass
