"""Processes of the enrichment benchmark: speech senders, the PUB listener, WhisperLive clients.

Spawned (never forked: the parent runs Bytewax and ZeroMQ threads). Each sender plays
its clients' tracks at real-time pace — 100 ms chunks sent on whole milliseconds of the
wall clock, so a chunk's `ts` is its send time — and reports the send time of every
chunk, which is what end-of-speech latency is measured from. Only the standard library,
numpy, pyzmq, websocket-client and `bench.core.wire`/`stats` are imported. Every loop is
bounded in time; see `bench.core.wire` for what a sender says and when.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from typing import Any

import zmq

from bench.core.wire import await_go, envelope, push_socket, sleep_until_ns

__all__ = ["enrichment_listener", "speech_clients", "wl_clients", "wl_options"]

CHUNK_BYTES = 3200  # 100 ms of int16 at 16 kHz


def _schedule(
    clients: list[tuple[str, bytes, float]], video_fps: float, t0_ms: int
) -> list[tuple[int, int, int, int]]:
    """(due_ms, client index, kind 0=audio 1=video, seq), in send order."""
    events: list[tuple[int, int, int, int]] = []
    for ci, (_name, pcm, offset) in enumerate(clients):
        start = t0_ms + round(offset * 1000)
        chunks = len(pcm) // CHUNK_BYTES
        events += [(start + 100 * k, ci, 0, k) for k in range(chunks)]
        if video_fps > 0:
            every = round(1000 / video_fps)
            events += [(start + 50 + every * v, ci, 1, v) for v in range(chunks * 100 // every)]
    events.sort()
    return events


def speech_clients(
    idx: int,
    audio_ep: str,
    video_ep: str,
    clients: list[tuple[str, bytes, float]],
    jpg: bytes,
    wh: tuple[int, int],
    video_fps: float,
    go: Any,
    results: Any,
) -> None:
    """Clients `(name, int16 pcm, start offset s)` over ZeroMQ PUSH, with camera frames."""
    ctx = zmq.Context()
    asock, vsock = push_socket(ctx, audio_ep), push_socket(ctx, video_ep)
    names = [c[0].encode() for c in clients]
    sends: list[list[int]] = [[0] * (len(c[1]) // CHUNK_BYTES) for c in clients]
    videos = [0] * len(clients)
    if not await_go(idx, go, results):
        asock.close(linger=0)
        vsock.close(linger=0)
        ctx.term()
        return
    t0_ms = time.time_ns() // 1_000_000 + 300
    events = _schedule(clients, video_fps, t0_ms)
    hard_stop = time.monotonic() + (events[-1][0] - t0_ms) / 1000 * 2 + 30 if events else 0
    max_lag_ms = 0.0
    for due_ms, ci, kind, seq in events:
        sleep_until_ns(due_ms * 1_000_000)
        now = time.time_ns()
        max_lag_ms = max(max_lag_ms, (now - due_ms * 1_000_000) / 1e6)
        if kind == 0:
            pcm = clients[ci][1]
            payload = pcm[seq * CHUNK_BYTES : (seq + 1) * CHUNK_BYTES]
            sends[ci][seq] = now
            asock.send(envelope("audio", names[ci], seq, due_ms, payload, (0, 0)))
        else:
            vsock.send(envelope("video", names[ci], seq, due_ms, jpg, wh))
            videos[ci] += 1
        if time.monotonic() > hard_stop:
            break
    asock.close()
    vsock.close()
    ctx.term()
    report = {
        "clients": {
            c[0]: {"sends_ns": sends[i], "audio": sum(1 for s in sends[i] if s), "video": videos[i]}
            for i, c in enumerate(clients)
        },
        "max_lag_s": max_lag_ms / 1000,
    }
    results.put(("done", idx, report))


def enrichment_listener(endpoint: str, stop: Any, out: Any, max_s: float) -> None:
    """Subscribe to the enrichment PUB stream: each enrichment (frame and detail merged)
    with its arrival (unix ns)."""
    ctx = zmq.Context()
    sub = ctx.socket(zmq.SUB)
    sub.setsockopt(zmq.LINGER, 0)
    sub.setsockopt(zmq.RCVHWM, 100_000)
    sub.connect(endpoint)
    sub.setsockopt(zmq.SUBSCRIBE, b"")
    time.sleep(0.5)  # slow joiner: let the subscription reach the publisher
    out.put(("ready",))
    got: list[tuple[int, dict[str, Any]]] = []
    deadline = time.monotonic() + max_s
    try:
        while not stop.is_set() and time.monotonic() < deadline:
            if not sub.poll(100):
                continue
            while True:
                try:
                    parts = sub.recv_multipart(zmq.NOBLOCK)
                except zmq.Again:
                    break
                now = time.time_ns()
                env = parts[-1]
                head_len = int.from_bytes(env[:4], "big")
                header = json.loads(env[8 : 8 + head_len])
                # the header is {"frame": upstream keys, "detail": ours} (sinks.publish)
                fields = {**(header.get("detail") or {}), **(header.get("frame") or header)}
                got.append((now, fields))  # all of it: bench.speech scores the lines
    finally:
        sub.close(linger=0)
        ctx.term()
    out.put(("enrichments", got))


# -- WhisperLive -----------------------------------------------------------------------
def wl_options(uid: str) -> str:
    """What WhisperLive's own `TranscriptionClient` sends on open (its defaults, VAD on)."""
    return json.dumps(
        {
            "uid": uid,
            "language": "en",
            "task": "transcribe",
            "model": "tiny.en",  # replaced by the server's custom model path
            "use_vad": True,
            "send_last_n_segments": 10,
            "no_speech_thresh": 0.45,
            "clip_audio": False,
            "same_output_threshold": 10,
            "enable_translation": False,
        }
    )


def wl_clients(
    idx: int,
    url: str,
    clients: list[tuple[str, bytes, float]],
    final_wait_s: float,
    go: Any,
    results: Any,
) -> None:
    """The same tracks to a WhisperLive server, one websocket per client, float32 frames.

    Every message the server sends is kept with its arrival time. After the track the
    connection stays open (up to `final_wait_s`) until the last segment is marked
    completed, then `END_OF_AUDIO` is sent, as WhisperLive's client does.
    """
    import numpy as np
    import websocket

    conns: list[Any] = []
    messages: list[list[tuple[int, list[dict[str, Any]]]]] = [[] for _ in clients]
    stop = threading.Event()
    try:
        for name, _pcm, _off in clients:
            ws = websocket.create_connection(url, timeout=60)
            conns.append(ws)
            ws.send(wl_options(name))
            deadline = time.monotonic() + 60
            while True:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{name}: no SERVER_READY within 60 s")
                msg = json.loads(ws.recv())
                if msg.get("message") == "SERVER_READY":
                    break
                if msg.get("status") in ("WAIT", "ERROR"):
                    raise RuntimeError(f"{name}: server said {msg}")
    except Exception as exc:  # reported to the parent, which reports the section as failed
        for ws in conns:
            ws.close()
        results.put(("error", idx, repr(exc)))
        return

    def receive(ci: int, ws: Any) -> None:
        ws.settimeout(0.5)
        while not stop.is_set():
            try:
                raw = ws.recv()
            except websocket.WebSocketTimeoutException:
                continue
            except (websocket.WebSocketException, OSError):
                return
            now = time.time_ns()
            try:
                msg = json.loads(raw)
            except (TypeError, ValueError):
                continue
            if "segments" in msg:
                messages[ci].append((now, msg["segments"]))

    threads = [
        threading.Thread(target=receive, args=(i, ws), daemon=True) for i, ws in enumerate(conns)
    ]
    for t in threads:
        t.start()
    floats = [np.frombuffer(c[1], "<i2").astype(np.float32) / 32768.0 for c in clients]
    sends: list[list[int]] = [[0] * (len(c[1]) // CHUNK_BYTES) for c in clients]
    ok = await_go(idx, go, results)
    max_lag_ms = 0.0
    if ok:
        t0_ms = time.time_ns() // 1_000_000 + 300
        for due_ms, ci, _kind, seq in _schedule(clients, 0, t0_ms):
            sleep_until_ns(due_ms * 1_000_000)
            now = time.time_ns()
            max_lag_ms = max(max_lag_ms, (now - due_ms * 1_000_000) / 1e6)
            sends[ci][seq] = now
            conns[ci].send_binary(floats[ci][seq * 1600 : (seq + 1) * 1600].tobytes())
        deadline = time.monotonic() + final_wait_s
        while time.monotonic() < deadline:
            time.sleep(0.2)
            settled = all(
                m and all(s.get("completed") for s in m[-1][1]) and time.time_ns() - m[-1][0] > 1e9
                for m in messages
            )
            if settled:
                break
        for ws in conns:  # the server may have closed first; what it sent is recorded
            with contextlib.suppress(websocket.WebSocketException, OSError):
                ws.send_binary(b"END_OF_AUDIO")
        time.sleep(0.5)
    stop.set()
    for t in threads:
        t.join(2)
    for ws in conns:
        ws.close()
    if not ok:
        return
    report = {
        "clients": {
            c[0]: {"sends_ns": sends[i], "messages": messages[i]} for i, c in enumerate(clients)
        },
        "max_lag_s": max_lag_ms / 1000,
    }
    results.put(("done", idx, report))
