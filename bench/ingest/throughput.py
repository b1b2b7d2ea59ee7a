"""Idle CPU, blast throughput against a plain pyzmq PULL loop, and imagezmq.

Every figure that has a peer is measured next to it in the same run, alternated
repeat by repeat so both see the same noise, and repeats report medians.
"""

from __future__ import annotations

import time
from typing import Any

import zmq

from ambient_flow.testing.harness import free_port
from bench.core.host import BenchHost, Tap
from bench.core.media import audio_pcm, camera_jpegs
from bench.core.procs import SenderGroup, temp_dir
from bench.core.stats import cpu_seconds, median, rounded
from bench.core.wire import envelope
from bench.ingest import senders as snd
from bench.ingest.peer import SameWorkPeer
from bench.ingest.plan import Plan

__all__ = ["flow_blast", "idle", "imagezmq_peer", "payloads", "steady_same_work", "throughput"]


def payloads(kind: str, big: bool = True) -> tuple[list[bytes], tuple[int, int]]:
    """One 100 ms PCM chunk, or four camera-like JPEGs (640x480, or 320x240)."""
    if kind == "audio":
        return [audio_pcm()], (0, 0)
    wh = (640, 480) if big else (320, 240)
    return camera_jpegs(*wh), wh


def _envelope_bytes(kind: str, payloads: list[bytes], wh: tuple[int, int]) -> float:
    return float(len(envelope(kind, b"blast-0", 12345, 1_700_000_000_000, payloads[0], wh)))


# -- idle ------------------------------------------------------------------------------------
def idle(plan: Plan) -> dict[str, Any]:
    """CPU of the host process (all threads) with no traffic."""
    with temp_dir("af-bench-idle-") as tmp:
        host = BenchHost(tmp).start()
        try:
            time.sleep(0.5)
            c0, t0 = cpu_seconds(), time.monotonic()
            time.sleep(plan.idle_seconds)
            cpu, wall = cpu_seconds() - c0, time.monotonic() - t0
        finally:
            host.stop()
    return {"seconds": round(wall, 2), "host_cpu_pct": round(100 * cpu / wall, 1)}


# -- 1. throughput and its pyzmq peer ----------------------------------------------------------
def _blast_args(
    endpoint: str,
    kind: str,
    count: int,
    senders: int,
    payloads: list[bytes],
    wh: tuple[int, int],
    clients: int = 1,
) -> list[tuple[Any, ...]]:
    per = count // senders
    return [(endpoint, kind, f"blast-{i}", per, payloads, wh, clients) for i in range(senders)]


def _rate(
    n: int, expected: int, first: int, last: int, cpu: float, msg_bytes: float
) -> dict[str, Any]:
    secs = max((last - first) / 1e9, 1e-9)
    return {
        "messages": n,
        "expected": expected,
        "seconds": round(secs, 3),
        "msgs_per_s": round(n / secs, 1),
        "MB_per_s": round(n * msg_bytes / secs / 1e6, 2),
        "cpu_pct": round(100 * cpu / secs, 1),
    }


def _peer_same_work(count: int, senders: int, payload: bytes, clients: int) -> dict[str, Any]:
    """`peer.SameWorkPeer` on the same senders and messages (audio only)."""
    endpoint = f"tcp://127.0.0.1:{free_port()}"
    expected = (count // senders) * senders
    with temp_dir("af-bench-same-") as tmp:
        peer = SameWorkPeer(endpoint, tmp)
        try:
            args = _blast_args(endpoint, "audio", count, senders, [payload], (0, 0), clients)
            with SenderGroup(snd.blast, args) as group:
                group.wait_ready()
                c0 = cpu_seconds()
                group.start()
                got = peer.run(expected)
                cpu = cpu_seconds() - c0
                group.wait_done(30)
        finally:
            peer.close()
    size = _envelope_bytes("audio", [payload], (0, 0))
    out = _rate(got["n"], expected, got["first_ns"], got["last_ns"], cpu, size)
    out.update(written=got["written"], gaps=got["gaps"], rejects=got["rejects"])
    return out


def _peer_pull(
    kind: str, count: int, senders: int, payloads: list[bytes], wh: tuple[int, int]
) -> dict[str, Any]:
    """A plain pyzmq PULL loop: recv and nothing else, same senders, same messages."""
    ctx = zmq.Context()
    sock = ctx.socket(zmq.PULL)
    sock.setsockopt(zmq.LINGER, 0)
    sock.setsockopt(zmq.RCVHWM, 10000)
    endpoint = f"tcp://127.0.0.1:{free_port()}"
    sock.bind(endpoint)
    expected = (count // senders) * senders
    n = first = last = 0
    try:
        args = _blast_args(endpoint, kind, count, senders, payloads, wh)
        with SenderGroup(snd.blast, args) as group:
            group.wait_ready()
            c0 = cpu_seconds()
            group.start()
            deadline = time.monotonic() + 120
            while n < expected and time.monotonic() < deadline:
                if not sock.poll(5000):
                    break
                sock.recv()
                if not n:
                    first = time.time_ns()
                n += 1
            last = time.time_ns()
            cpu = cpu_seconds() - c0
            group.wait_done(30)
    finally:
        sock.close(linger=0)
        ctx.term()
    return _rate(n, expected, first, last, cpu, _envelope_bytes(kind, payloads, wh))


def flow_blast(
    kind: str,
    count: int,
    senders: int,
    payloads: list[bytes],
    wh: tuple[int, int],
    clients: int = 1,
    workers: int = 1,
) -> dict[str, Any]:
    """The same senders into the live flow; timed from first to last item at the ingest tap."""
    tap = Tap()
    expected = (count // senders) * senders
    with temp_dir("af-bench-tp-") as tmp:
        host = BenchHost(tmp, workers=workers)
        host.tap("bench_tap", host.streams.audio if kind == "audio" else host.streams.video, tap)
        host.start()
        try:
            args = _blast_args(host.endpoint(kind), kind, count, senders, payloads, wh, clients)
            with SenderGroup(snd.blast, args) as group:
                group.wait_ready()
                c0 = cpu_seconds()
                group.start()
                last_n, last_change = 0, time.monotonic()
                deadline = time.monotonic() + 180
                while tap.n < expected and time.monotonic() < deadline:
                    time.sleep(0.02)
                    if tap.n != last_n:
                        last_n, last_change = tap.n, time.monotonic()
                    elif time.monotonic() - last_change > 10:
                        break  # nothing new for 10 s: report what arrived
                cpu = cpu_seconds() - c0
                group.wait_done(30)
            status = host.runtime.telemetry.status()
        finally:
            host.stop()
    size = _envelope_bytes(kind, payloads, wh)
    out = _rate(tap.n, expected, tap.first_ns, tap.last_ns, cpu, size)
    out["status"] = {
        "audio": status["audio"]["chunks_received"],
        "video": status["video"]["frames_received"],
        "drops": status["drops"],
        "rejects": status["rejects"],
    }
    return out


def _median_of(runs: list[dict[str, Any]], side: str, key: str) -> float | None:
    """Median over repeats of one side's figure (`flow`, `peer`, `imagezmq`)."""
    return median([r[side][key] for r in runs])


def throughput(plan: Plan) -> dict[str, Any]:
    """Audio and video envelopes flat out from 1 (and 2) senders: flow vs plain PULL."""
    out: dict[str, Any] = {}
    for kind, count in (("audio", plan.audio_count), ("video", plan.video_count)):
        pay, wh = payloads(kind)
        clients = plan.blast_clients if kind == "audio" else 1
        for senders in plan.blast_senders:
            runs: list[dict[str, Any]] = []
            for _ in range(plan.repeats):
                peer = _peer_pull(kind, count, senders, pay, wh)
                run: dict[str, Any] = {"peer": peer}
                if kind == "audio":
                    run["same"] = _peer_same_work(count, senders, pay[0], clients)
                flow = flow_blast(kind, count, senders, pay, wh, clients)
                run["flow"] = flow
                run["ratio"] = flow["msgs_per_s"] / max(peer["msgs_per_s"], 1e-9)
                if kind == "audio":
                    same_rate = max(run["same"]["msgs_per_s"], 1e-9)
                    run["ratio_same"] = flow["msgs_per_s"] / same_rate
                    if plan.workers2:
                        run["flow_w2"] = flow_blast(kind, count, senders, pay, wh, clients, 2)
                        run["ratio_w2_same"] = run["flow_w2"]["msgs_per_s"] / same_rate
                runs.append(run)
            row = out[f"{kind}_x{senders}"] = {
                "message_bytes": int(_envelope_bytes(kind, pay, wh)),
                "senders": senders,
                "clients": clients,
                "count": count,
                "flow_msgs_per_s": rounded(_median_of(runs, "flow", "msgs_per_s"), 1),
                "flow_MB_per_s": rounded(_median_of(runs, "flow", "MB_per_s")),
                "flow_cpu_pct": rounded(_median_of(runs, "flow", "cpu_pct"), 1),
                "peer_msgs_per_s": rounded(_median_of(runs, "peer", "msgs_per_s"), 1),
                "peer_MB_per_s": rounded(_median_of(runs, "peer", "MB_per_s")),
                "ratio_flow_to_peer": rounded(median([r["ratio"] for r in runs]), 3),
                "complete": all(r["flow"]["messages"] == r["flow"]["expected"] for r in runs),
                "runs": runs,
            }
            if kind == "audio":
                row["same_msgs_per_s"] = rounded(_median_of(runs, "same", "msgs_per_s"), 1)
                row["ratio_flow_to_same_work"] = rounded(median([r["ratio_same"] for r in runs]), 3)
                if plan.workers2:
                    w2 = _median_of(runs, "flow_w2", "msgs_per_s")
                    row["flow_w2_msgs_per_s"] = rounded(w2, 1)
                    row["ratio_w2_to_same_work"] = rounded(
                        median([r["ratio_w2_same"] for r in runs]), 3
                    )
    if plan.steady_count:
        out["audio_steady"] = steady_same_work(plan)
    return out


def steady_same_work(plan: Plan) -> dict[str, Any]:
    """Flow vs the same-work peer on long sessions (`steady_count` messages over
    `blast_clients` clients, 1 sender), alternated `steady_repeats` times.

    With 100 messages a client the peer spends much of its time creating each client's
    directory and file (0.4-1.2 ms each on a slow disk), which the flow does too but on
    its writer thread; with 600 it does almost nothing but the messages, so this is the
    per-message ratio.
    """
    pay, wh = payloads("audio")
    runs = []
    for _ in range(plan.steady_repeats):
        same = _peer_same_work(plan.steady_count, 1, pay[0], plan.blast_clients)
        flow = flow_blast("audio", plan.steady_count, 1, pay, wh, plan.blast_clients)
        ratio = flow["msgs_per_s"] / max(same["msgs_per_s"], 1e-9)
        runs.append({"same": same, "flow": flow, "ratio_same": ratio})
    return {
        "count": plan.steady_count,
        "clients": plan.blast_clients,
        "messages_per_client": plan.steady_count // plan.blast_clients,
        "same_msgs_per_s": rounded(_median_of(runs, "same", "msgs_per_s"), 1),
        "flow_msgs_per_s": rounded(_median_of(runs, "flow", "msgs_per_s"), 1),
        "ratio_flow_to_same_work": rounded(median([r["ratio_same"] for r in runs]), 3),
        "ratios": [rounded(r["ratio_same"], 3) for r in runs],
        "complete": all(r["flow"]["messages"] == r["flow"]["expected"] for r in runs),
        "runs": runs,
    }


# -- 6. imagezmq --------------------------------------------------------------------------------
def _imagezmq(count: int, jpgs: list[bytes]) -> dict[str, Any]:
    """imagezmq PUB -> ImageHub SUB (`REQ_REP=False`), `send_jpg`/`recv_jpg` on 127.0.0.1."""
    import imagezmq

    endpoint = f"tcp://127.0.0.1:{free_port()}"
    hub = imagezmq.ImageHub(open_port=endpoint, REQ_REP=False)
    hub.zmq_socket.setsockopt(zmq.LINGER, 0)
    n = first = last = nbytes = 0
    try:
        with SenderGroup(snd.imagezmq_send, [(endpoint, jpgs, count)]) as group:
            group.wait_ready()
            time.sleep(0.7)  # PUB/SUB slow joiner: let the subscription reach the PUB
            c0 = cpu_seconds()
            group.start()
            deadline = time.monotonic() + 120
            while n < count and time.monotonic() < deadline:
                if not hub.zmq_socket.poll(3000):
                    break
                _msg, jpg = hub.recv_jpg()
                if not n:
                    first = time.time_ns()
                last = time.time_ns()
                nbytes += len(jpg)
                n += 1
            cpu = cpu_seconds() - c0
            group.wait_done(30)
    finally:
        hub.close()
    out = _rate(n, count, first, last, cpu, nbytes / max(n, 1))
    out["lost_pubsub"] = count - n
    return out


def imagezmq_peer(plan: Plan) -> dict[str, Any]:
    """imagezmq frames/s next to our whole-flow video, alternated so both see the same noise."""
    jpgs, wh = payloads("video")
    runs = []
    for _ in range(plan.repeats):
        iz = _imagezmq(plan.imagezmq_count, jpgs)
        flow = flow_blast("video", plan.imagezmq_count, 1, jpgs, wh)
        ratio = flow["msgs_per_s"] / max(iz["msgs_per_s"], 1e-9)
        runs.append({"imagezmq": iz, "flow": flow, "ratio": ratio})
    return {
        "jpeg_bytes": len(jpgs[0]),
        "count": plan.imagezmq_count,
        "imagezmq_fps": rounded(_median_of(runs, "imagezmq", "msgs_per_s"), 1),
        "imagezmq_MB_per_s": rounded(_median_of(runs, "imagezmq", "MB_per_s")),
        "imagezmq_lost": [r["imagezmq"]["lost_pubsub"] for r in runs],
        "flow_fps": rounded(_median_of(runs, "flow", "msgs_per_s"), 1),
        "flow_MB_per_s": rounded(_median_of(runs, "flow", "MB_per_s")),
        "ratio_flow_to_imagezmq": rounded(median([r["ratio"] for r in runs]), 3),
        "runs": runs,
    }
