"""Sender processes of the ingest benchmark (spawned, so they never share the host's GIL).

Only the standard library, pyzmq and `bench.core.wire`/`stats` are imported here, so a
spawned sender starts fast; see `bench.core.wire` for what a sender says and when.
"""

from __future__ import annotations

import socket
import time
from typing import Any

import zmq

from bench.core.stats import cpu_seconds
from bench.core.wire import await_go, envelope, push_socket, sleep_until_ns

__all__ = ["blast", "imagezmq_send", "paced_audio", "paced_clients"]


def blast(
    idx: int,
    endpoint: str,
    kind: str,
    client: str,
    count: int,
    payloads: list[bytes],
    wh: tuple[int, int],
    clients: int,
    go: Any,
    results: Any,
) -> None:
    """Send `count` messages as fast as ZeroMQ takes them (PUSH blocks at its HWM: no loss).

    Message i is client `i % clients`'s message `i // clients` (names `client-k`), so
    many clients' sequences interleave as they would on a busy host.
    """
    ctx = zmq.Context()
    sock = push_socket(ctx, endpoint)
    names = [f"{client}-{k}".encode() for k in range(clients)]
    if not await_go(idx, go, results):
        sock.close(linger=0)
        ctx.term()
        return
    cpu0, t0 = cpu_seconds(), time.time_ns()
    base_ms = t0 // 1_000_000
    step = 100 if kind == "audio" else 200
    npay = len(payloads)
    deadline = time.monotonic() + 120.0
    sent = 0
    copy = len(payloads[0]) < 16384  # zero-copy only pays for big messages
    for i in range(count):
        seq = i // clients
        msg = envelope(kind, names[i % clients], seq, base_ms + step * seq, payloads[i % npay], wh)
        sock.send(msg, 0, copy)
        sent += 1
        if not i & 1023 and time.monotonic() > deadline:
            break
    t1 = time.time_ns()
    sock.close()  # waits (bounded by LINGER) until the queue is handed to the peer
    ctx.term()
    report = {"sent": sent, "send_s": (t1 - t0) / 1e9, "cpu_s": cpu_seconds() - cpu0}
    results.put(("done", idx, report))


def _slot_plan(
    clients: int, audio_hz: int, video_hz: int, slots: int
) -> list[list[tuple[int, int]]]:
    """For each 10 ms slot of a 1 s cycle, the (client, kind 0=audio 1=video) sends due."""
    a_every, v_every = slots // audio_hz, slots // video_hz
    plan: list[list[tuple[int, int]]] = [[] for _ in range(slots)]
    for i in range(clients):
        for k in range(audio_hz):
            plan[(i * 7 + k * a_every) % slots].append((i, 0))
        for k in range(video_hz):
            plan[(i * 7 + 3 + k * v_every) % slots].append((i, 1))
    return plan


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
    asock, vsock = push_socket(ctx, audio_ep), push_socket(ctx, video_ep)
    names = [c.encode() for c in clients]
    slot_s, slots = 0.01, 100
    plan = _slot_plan(len(names), audio_hz, video_hz, slots)
    aseq = [0] * len(names)
    vseq = [0] * len(names)
    if not await_go(idx, go, results):
        asock.close(linger=0)
        vsock.close(linger=0)
        ctx.term()
        return
    cpu0, t0 = cpu_seconds(), time.monotonic()
    nslots = int(duration / slot_s)
    max_lag = lag_sum = 0.0
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
    report = {
        "audio": sent_a,
        "video": sent_v,
        "send_s": elapsed,
        "max_lag_s": max_lag,
        "mean_lag_s": lag_sum / max(1, nslots),
        "cpu_s": cpu_seconds() - cpu0,
    }
    results.put(("done", idx, report))


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
    """One client's audio at `rate` msgs/s over ZeroMQ (`tcp://h:p`) or raw TCP (`h:p`).

    Sent exactly on whole-millisecond boundaries of the wall clock, so the header's ms
    `ts` is the true send time to within a few microseconds (a plain floor would add an
    unknown 0..1 ms to every latency); the real lateness is reported.
    """
    ctx: zmq.Context[Any] | None = None
    zsock: zmq.Socket[Any] | None = None
    tsock: socket.socket | None = None
    if transport == "zmq":
        ctx = zmq.Context()
        zsock = push_socket(ctx, endpoint)
    else:
        host, port = endpoint.rsplit(":", 1)
        tsock = socket.create_connection((host, int(port)), timeout=10)
        tsock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    name = client.encode()
    ok = await_go(idx, go, results)
    late_us: list[float] = []
    t0 = time.monotonic()
    if ok:
        step_ms = max(1, round(1000 / rate))
        start_ms = time.time_ns() // 1_000_000 + 20
        for seq in range(int(rate * duration)):
            due_ms = start_ms + seq * step_ms
            sleep_until_ns(due_ms * 1_000_000)
            late_us.append((time.time_ns() - due_ms * 1_000_000) / 1e3)
            msg = envelope("audio", name, seq, due_ms, payload, (0, 0))
            if zsock is not None:
                zsock.send(msg)
            elif tsock is not None:
                tsock.sendall(msg)
    elapsed = time.monotonic() - t0
    if zsock is not None and ctx is not None:
        zsock.close(linger=None if ok else 0)
        ctx.term()
    if tsock is not None:
        if ok:
            time.sleep(0.5)  # let the host read the tail before the FIN
        tsock.close()
    if not ok:
        return
    late = sorted(late_us) or [0.0]
    report = {
        "sent": len(late_us),
        "send_s": elapsed,
        "ts_offset_us_p50": late[len(late) // 2],
        "ts_offset_us_p99": late[int(len(late) * 0.99)],
    }
    results.put(("done", idx, report))


def imagezmq_send(
    idx: int, endpoint: str, jpgs: list[bytes], count: int, go: Any, results: Any
) -> None:
    """imagezmq's own PUB sender (`REQ_REP=False` binds `endpoint`): `send_jpg` flat out."""
    import imagezmq

    sender = imagezmq.ImageSender(connect_to=endpoint, REQ_REP=False)
    if not await_go(idx, go, results):
        sender.close()
        return
    cpu0, t0 = cpu_seconds(), time.time_ns()
    n = len(jpgs)
    for i in range(count):
        sender.send_jpg("cam", jpgs[i % n])
    t1 = time.time_ns()
    time.sleep(1.0)  # PUB has no linger-until-delivered guarantee; give the hub time to drain
    sender.zmq_socket.setsockopt(zmq.LINGER, 0)
    sender.close()
    report = {"sent": count, "send_s": (t1 - t0) / 1e9, "cpu_s": cpu_seconds() - cpu0}
    results.put(("done", idx, report))
