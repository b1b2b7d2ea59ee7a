"""Sender processes for the benchmark (spawned, so they never share the host's GIL).

Only the standard library and pyzmq are imported here, so a spawned sender starts
fast. Every sender builds real single-frame envelopes
(`[u32 BE header_len][u32 BE payload_len][JSON header][payload]`), connects, puts
`("ready", idx)` on the result queue, waits for `go`, sends, and puts its report.
Every loop is bounded in count and in time.
"""

from __future__ import annotations

import resource
import socket
import struct
import time
from typing import Any

import zmq

__all__ = ["blast", "envelope", "imagezmq_send", "paced_audio", "paced_clients"]

_PREFIX = struct.Struct(">II")
_AUDIO = b'{"type":"audio","ts":%d,"seq":%d,"sr":16000,"ch":1,"fmt":"int16","client":"%s"}'
_VIDEO = b'{"type":"video","ts":%d,"seq":%d,"w":%d,"h":%d,"fmt":"jpeg","quality":70,"client":"%s"}'
#: How long a sender waits for `go`, and how long close() may wait to deliver what is queued.
GO_TIMEOUT_S = 60.0
LINGER_MS = 15_000


def envelope(
    kind: str, client: bytes, seq: int, ts_ms: int, payload: bytes, wh: tuple[int, int]
) -> bytes:
    if kind == "audio":
        head = _AUDIO % (ts_ms, seq, client)
    else:
        head = _VIDEO % (ts_ms, seq, wh[0], wh[1], client)
    return _PREFIX.pack(len(head), len(payload)) + head + payload


def _cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _push(ctx: zmq.Context[Any], endpoint: str) -> zmq.Socket[Any]:
    sock: zmq.Socket[Any] = ctx.socket(zmq.PUSH)
    sock.setsockopt(zmq.LINGER, LINGER_MS)  # deliver what is queued, but never hang forever
    sock.connect(endpoint)
    return sock


def blast(
    idx: int,
    endpoint: str,
    kind: str,
    client: str,
    count: int,
    payloads: list[bytes],
    wh: tuple[int, int],
    go: Any,
    results: Any,
) -> None:
    """Send `count` messages as fast as ZeroMQ takes them (PUSH blocks at its HWM: no loss)."""
    ctx = zmq.Context()
    sock = _push(ctx, endpoint)
    name = client.encode()
    results.put(("ready", idx))
    if not go.wait(GO_TIMEOUT_S):
        results.put(("error", idx, "no go signal"))
        sock.close(linger=0)
        ctx.term()
        return
    cpu0, t0 = _cpu_s(), time.time_ns()
    base_ms = t0 // 1_000_000
    step = 100 if kind == "audio" else 200
    npay = len(payloads)
    deadline = time.monotonic() + 120.0
    sent = 0
    copy = len(payloads[0]) < 16384  # zero-copy only pays for big frames
    for seq in range(count):
        sock.send(
            envelope(kind, name, seq, base_ms + step * seq, payloads[seq % npay], wh), 0, copy
        )
        sent += 1
        if not seq & 1023 and time.monotonic() > deadline:
            break
    t1 = time.time_ns()
    sock.close()  # waits (bounded by LINGER) until the queue is handed to the peer
    ctx.term()
    results.put(("done", idx, {"sent": sent, "send_s": (t1 - t0) / 1e9, "cpu_s": _cpu_s() - cpu0}))


def paced_clients(
    idx: int,
    audio_ep: str,
    video_ep: str,
    clients: list[str],
    duration: float,
    audio_payload: bytes,
    video_payload: bytes,
    wh: tuple[int, int],
    audio_hz: int,
    video_hz: int,
    go: Any,
    results: Any,
) -> None:
    """Many clients in real time: each sends `audio_hz` audio and `video_hz` video msgs/s.

    The clients of this process share one PUSH socket per channel; each has its own
    `client` name, sequence numbers and send times (`ts` = unix ms at send). Sends are
    spread over 10 ms slots so the load is smooth; lateness against the schedule is
    reported, since a blocked PUSH (host not keeping up) shows up as lag, not loss.
    """
    ctx = zmq.Context()
    asock, vsock = _push(ctx, audio_ep), _push(ctx, video_ep)
    names = [c.encode() for c in clients]
    slot_s = 0.01
    slots = 100  # a 1 s cycle of 10 ms slots
    a_every, v_every = slots // audio_hz, slots // video_hz
    plan: list[list[tuple[int, int]]] = [[] for _ in range(slots)]  # slot -> [(client, kind)]
    for i in range(len(names)):
        for k in range(audio_hz):
            plan[(i * 7 + k * a_every) % slots].append((i, 0))
        for k in range(video_hz):
            plan[(i * 7 + 3 + k * v_every) % slots].append((i, 1))
    aseq = [0] * len(names)
    vseq = [0] * len(names)
    results.put(("ready", idx))
    if not go.wait(GO_TIMEOUT_S):
        results.put(("error", idx, "no go signal"))
        asock.close(linger=0)
        vsock.close(linger=0)
        ctx.term()
        return
    cpu0, t0 = _cpu_s(), time.monotonic()
    nslots = int(duration / slot_s)
    max_lag = 0.0
    lag_sum = 0.0
    sent_a = sent_v = 0
    hard_stop = t0 + duration * 3 + 10
    for n in range(nslots):
        due = t0 + n * slot_s
        now = time.monotonic()
        if now < due:
            time.sleep(due - now)
        else:
            lag = now - due
            max_lag = max(max_lag, lag)
            lag_sum += lag
            if now > hard_stop:
                break
        ts = time.time_ns() // 1_000_000
        for i, kind in plan[n % slots]:
            if kind == 0:
                asock.send(envelope("audio", names[i], aseq[i], ts, audio_payload, wh))
                aseq[i] += 1
                sent_a += 1
            else:
                vsock.send(envelope("video", names[i], vseq[i], ts, video_payload, wh))
                vseq[i] += 1
                sent_v += 1
    elapsed = time.monotonic() - t0
    asock.close()
    vsock.close()
    ctx.term()
    results.put(
        (
            "done",
            idx,
            {
                "audio": sent_a,
                "video": sent_v,
                "send_s": elapsed,
                "max_lag_s": max_lag,
                "mean_lag_s": lag_sum / max(1, nslots),
                "cpu_s": _cpu_s() - cpu0,
            },
        )
    )


def paced_audio(
    idx: int,
    transport: str,
    endpoint: str,
    client: str,
    rate: int,
    duration: float,
    payload: bytes,
    go: Any,
    results: Any,
) -> None:
    """One client's audio at `rate` msgs/s over ZeroMQ (`tcp://h:p`) or raw TCP (`h:p`)."""
    ctx: zmq.Context[Any] | None = None
    zsock: zmq.Socket[Any] | None = None
    tsock: socket.socket | None = None
    if transport == "zmq":
        ctx = zmq.Context()
        zsock = _push(ctx, endpoint)
    else:
        host, port = endpoint.rsplit(":", 1)
        tsock = socket.create_connection((host, int(port)), timeout=10)
        tsock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    name = client.encode()
    results.put(("ready", idx))
    ok = go.wait(GO_TIMEOUT_S)
    sent = 0
    t0 = time.monotonic()
    if ok:
        # Send exactly on whole-millisecond boundaries of the wall clock, so that the
        # header's ms `ts` is the true send time to within a few microseconds (a plain
        # floor would add an unknown 0..1 ms offset to every latency).
        step_ms = max(1, round(1000 / rate))
        late_us: list[float] = []
        start_ms = time.time_ns() // 1_000_000 + 20
        for seq in range(int(rate * duration)):
            due_ms = start_ms + seq * step_ms
            due_ns = due_ms * 1_000_000
            ahead = (due_ns - time.time_ns()) / 1e9 - 0.0004
            if ahead > 0:
                time.sleep(ahead)
            while time.time_ns() < due_ns:  # spin the last ~0.4 ms: sleep overshoots
                pass
            late_us.append((time.time_ns() - due_ns) / 1e3)
            msg = envelope("audio", name, seq, due_ms, payload, (0, 0))
            if zsock is not None:
                zsock.send(msg)
            elif tsock is not None:
                tsock.sendall(msg)
            sent += 1
    elapsed = time.monotonic() - t0
    if zsock is not None and ctx is not None:
        zsock.close()
        ctx.term()
    if tsock is not None:
        time.sleep(0.5)  # let the host read the tail before the FIN
        tsock.close()
    late = sorted(late_us) if ok else [0.0]
    results.put(
        (
            "done",
            idx,
            {
                "sent": sent,
                "send_s": elapsed,
                "ts_offset_us_p50": late[len(late) // 2],
                "ts_offset_us_p99": late[int(len(late) * 0.99)],
            },
        )
    )


def imagezmq_send(
    idx: int, endpoint: str, jpgs: list[bytes], count: int, go: Any, results: Any
) -> None:
    """imagezmq's own PUB sender (`REQ_REP=False` binds `endpoint`): `send_jpg` flat out."""
    import imagezmq

    sender = imagezmq.ImageSender(connect_to=endpoint, REQ_REP=False)
    results.put(("ready", idx))
    if not go.wait(GO_TIMEOUT_S):
        sender.close()
        results.put(("error", idx, "no go signal"))
        return
    cpu0, t0 = _cpu_s(), time.time_ns()
    n = len(jpgs)
    for i in range(count):
        sender.send_jpg("cam", jpgs[i % n])
    t1 = time.time_ns()
    time.sleep(1.0)  # PUB has no linger-until-delivered guarantee; give the hub time to drain
    sender.zmq_socket.setsockopt(zmq.LINGER, 0)
    sender.close()
    results.put(("done", idx, {"sent": count, "send_s": (t1 - t0) / 1e9, "cpu_s": _cpu_s() - cpu0}))
