"""Send -> ingest latency (ZeroMQ, raw TCP, a plain PULL peer), and ingest stall behind
a slow downstream step (inline `op.map` vs `offload`)."""

from __future__ import annotations

import threading
import time
from typing import Any

import zmq

from ambient_flow.protocol.messages import AudioChunk, VideoFrame
from ambient_flow.testing.harness import free_port
from bench.core.host import BenchHost, LatencyTap, Tap
from bench.core.media import audio_pcm, camera_jpegs
from bench.core.procs import SenderGroup, temp_dir, wait_for
from bench.core.stats import median, percentile, rounded
from bench.ingest import senders as snd
from bench.ingest.plan import Plan

__all__ = ["latency", "stall"]


# -- 3. latency ---------------------------------------------------------------------------
def _offsets(group: SenderGroup) -> dict[str, Any]:
    """How late the sender really sent after the ms its `ts` names (bias of e2e)."""
    rep = next(iter(group.reports.values()), {})
    return {
        "ts_offset_ms_p50": rounded(rep.get("ts_offset_us_p50", 0) / 1e3, 3),
        "ts_offset_ms_p99": rounded(rep.get("ts_offset_us_p99", 0) / 1e3, 3),
    }


def _latency_flow(transport: str, rate: int, seconds: float) -> dict[str, Any]:
    lat = LatencyTap((AudioChunk,))
    with temp_dir("af-bench-lat-") as tmp:
        host = BenchHost(tmp)
        host.tap("bench_lat", host.streams.audio, lat)
        host.start()
        try:
            if transport == "zmq":
                endpoint = host.endpoint("audio")
            else:
                endpoint = f"127.0.0.1:{host.settings.tcp_port}"
            args = [(transport, endpoint, f"lat-{transport}", rate, seconds, audio_pcm())]
            with SenderGroup(snd.paced_audio, args) as group:
                group.wait_ready()
                group.start()
                group.wait_done(seconds * 3 + 20)
            sent = sum(r["sent"] for r in group.reports.values())
            wait_for(lambda: lat.n >= sent, 5.0)
        finally:
            host.stop()
    return {
        "sent": sent,
        "received": lat.n,
        "source_to_flow_ms_p50": rounded(percentile(lat.source_ms, 50), 3),
        "source_to_flow_ms_p99": rounded(percentile(lat.source_ms, 99), 3),
        "e2e_ms_p50": rounded(percentile(lat.e2e_ms, 50), 2),
        "e2e_ms_p99": rounded(percentile(lat.e2e_ms, 99), 2),
        **_offsets(group),
    }


def _latency_peer(rate: int, seconds: float) -> dict[str, Any]:
    """Plain pyzmq PULL: now - sender ts, the floor any ZeroMQ receiver pays."""
    ctx = zmq.Context()
    sock = ctx.socket(zmq.PULL)
    sock.setsockopt(zmq.LINGER, 0)
    endpoint = f"tcp://127.0.0.1:{free_port()}"
    sock.bind(endpoint)
    e2e: list[float] = []
    expected = int(rate * seconds)
    try:
        args = [("zmq", endpoint, "lat-peer", rate, seconds, audio_pcm())]
        with SenderGroup(snd.paced_audio, args) as group:
            group.wait_ready()
            group.start()
            deadline = time.monotonic() + seconds * 3 + 10
            while len(e2e) < expected and time.monotonic() < deadline:
                if not sock.poll(2000):
                    break
                msg = sock.recv()
                now_ms = time.time_ns() / 1e6
                head_len = int.from_bytes(msg[:4], "big")
                ts = int(msg[8 : 8 + head_len].split(b'"ts":', 1)[1].split(b",", 1)[0])
                e2e.append(now_ms - ts)
            group.wait_done(20)
    finally:
        sock.close(linger=0)
        ctx.term()
    return {
        "sent": expected,
        "received": len(e2e),
        "e2e_ms_p50": rounded(percentile(e2e, 50), 2),
        "e2e_ms_p99": rounded(percentile(e2e, 99), 2),
        **_offsets(group),
    }


def latency(plan: Plan) -> dict[str, Any]:
    """One client's audio at `latency_rate` msgs/s: the peer, then the flow over ZeroMQ and TCP."""
    rows: dict[str, list[dict[str, Any]]] = {"zmq": [], "tcp": [], "peer_pull": []}
    for _ in range(plan.repeats):
        rows["peer_pull"].append(_latency_peer(plan.latency_rate, plan.latency_seconds))
        rows["zmq"].append(_latency_flow("zmq", plan.latency_rate, plan.latency_seconds))
        rows["tcp"].append(_latency_flow("tcp", plan.latency_rate, plan.latency_seconds))
    out: dict[str, Any] = {"rate_msgs_per_s": plan.latency_rate, "seconds": plan.latency_seconds}
    for name, runs in rows.items():
        keys = [k for k in runs[0] if k not in ("sent", "received")]
        out[name] = {k: rounded(median([r[k] for r in runs]), 3) for k in keys}
        out[name]["received/sent"] = [f"{r['received']}/{r['sent']}" for r in runs]
    return out


# -- 4. ingest stall behind a slow step --------------------------------------------------
def _stall(mode: str, seconds: float) -> dict[str, Any]:
    import bytewax.operators as op

    from ambient_flow.operators.offload import OffloadOptions, offload

    done = threading.Event()
    processed = [0]

    def slow(value: Any) -> Any:
        if not done.is_set():
            done.wait(0.3)  # a 300 ms model call, cut short once the measurement is over
        processed[0] += 1
        return value

    def extend(streams: Any, runtime: Any) -> None:
        if mode == "inline":
            op.map("slow_inline", streams.audio, lambda kv: (kv[0], slow(kv[1])))
        else:
            offload("slow_offload", streams.audio, slow, runtime, OffloadOptions(policy="queue"))

    lat = LatencyTap((VideoFrame,))
    video = Tap()
    with temp_dir("af-bench-stall-") as tmp:
        host = BenchHost(tmp, extend=extend)
        host.tap("bench_items_lat", host.streams.items, lat)
        host.tap("bench_items_video", host.streams.video, video)
        host.start()
        try:
            jpg = camera_jpegs(320, 240, count=1)[0]
            endpoints = (host.endpoint("audio"), host.endpoint("video"))
            clients = ["s0", "s1", "s2"]  # 10 audio + 5 video msgs/s each
            args = [(*endpoints, clients, seconds, audio_pcm(), jpg, (320, 240), 10, 5)]
            with SenderGroup(snd.paced_clients, args) as group:
                group.wait_ready()
                group.start()
                group.wait_done(seconds * 3 + 20)
            sent_v = sum(r["video"] for r in group.reports.values())
            in_window = processed[0]
            done.set()
            wait_for(lambda: video.n >= sent_v, 20.0)
            status = host.runtime.telemetry.status()
        finally:
            done.set()
            host.stop()
    return {
        "mode": mode,
        "video_sent": sent_v,
        "video_at_tap": video.n,
        "slow_step_items_done_in_window": in_window,
        "stall_e2e_ms_p99": rounded(percentile(lat.e2e_ms, 99), 1),
        "stall_e2e_ms_max": rounded(max(lat.e2e_ms), 1) if lat.e2e_ms else None,
        "stall_e2e_ms_p50": rounded(percentile(lat.e2e_ms, 50), 1),
        "after_arrival_ms_p99": rounded(percentile(lat.source_ms, 99), 2),
        "after_arrival_ms_max": rounded(max(lat.source_ms), 2) if lat.source_ms else None,
        "queues": status["queues"],
        "drops": status["drops"],
    }


def stall(plan: Plan) -> dict[str, Any]:
    """Video latency at `streams.items` while a 300 ms step runs on `streams.audio`."""
    return {
        "inline_map": _stall("inline", plan.stall_seconds),
        "offload_queue": _stall("offload", plan.stall_seconds),
    }
