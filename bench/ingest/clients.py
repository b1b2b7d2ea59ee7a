"""Many real-time clients: the largest level the host sustains with nothing lost.

Levels rise until one fails, then one bisection step, then the failing level once more
without the session sink (a diagnostic of what the sink costs, not the product).
"""

from __future__ import annotations

import json
import time
from typing import Any

from ambient_flow.protocol.messages import AudioChunk
from bench.core.host import BenchHost, LatencyTap, Tap
from bench.core.media import audio_pcm, camera_jpegs
from bench.core.procs import SenderGroup, temp_dir, wait_for
from bench.core.stats import MachineLoad, cpu_seconds, percentile, rounded
from bench.ingest import senders as snd
from bench.ingest.plan import Plan

__all__ = ["MAX_SENDER_LAG_S", "MAX_STEADY_P99_MS", "clients", "clients_w2"]

#: A level passes with no audio lost, senders on schedule (a blocked PUSH turns an
#: overloaded host into sender lag, not loss), and a host that keeps up once every
#: client's session is open: audio p99 over the second half of the run under 500 ms.
MAX_SENDER_LAG_S = 1.0
MAX_STEADY_P99_MS = 500.0


def _sender_procs(n: int) -> int:
    return 1 if n <= 100 else 2 if n <= 1000 else 4 if n <= 3000 else 6


def _client_level(
    n: int,
    seconds: float,
    pcm: bytes,
    jpg: bytes,
    wh: tuple[int, int],
    *,
    sessions: bool = True,
    workers: int = 1,
) -> dict[str, Any]:
    procs = _sender_procs(n)
    names = [f"c{i:05d}" for i in range(n)]
    audio_tap, video_tap = Tap(), Tap()
    lat = LatencyTap((AudioChunk,), limit=100_000)
    with temp_dir("af-bench-clients-") as tmp:
        host = BenchHost(tmp, sessions=sessions, workers=workers)
        host.tap("bench_audio", host.streams.audio, audio_tap)
        host.tap("bench_audio_lat", host.streams.audio, lat)
        host.tap("bench_video", host.streams.video, video_tap)
        host.start()
        try:
            endpoints = (host.endpoint("audio"), host.endpoint("video"))
            args = [
                (*endpoints, names[p::procs], seconds, pcm, jpg, wh, 10, 5) for p in range(procs)
            ]
            with SenderGroup(snd.paced_clients, args) as group:
                group.wait_ready()
                c0, t0, machine = cpu_seconds(), time.monotonic(), MachineLoad()
                group.start()
                group.wait_done(seconds * 3 + 30)
                cpu, wall = cpu_seconds() - c0, time.monotonic() - t0
                sender_cpu = sum(r["cpu_s"] for r in group.reports.values())
                box = machine.pct(wall, cpu + sender_cpu)
            sent_a = sum(r["audio"] for r in group.reports.values())
            sent_v = sum(r["video"] for r in group.reports.values())
            drained = wait_for(lambda: audio_tap.n >= sent_a and video_tap.n >= sent_v, 5.0)
            t = time.perf_counter()
            status = host.runtime.telemetry.status()
            doc_bytes = len(json.dumps(status, indent=1, default=str))  # what status.json costs
            status_ms = (time.perf_counter() - t) * 1e3
        finally:
            host.stop()
    max_lag = max((r["max_lag_s"] for r in group.reports.values()), default=None)
    loss = sent_a - audio_tap.n
    realtime = max_lag is not None and max_lag < MAX_SENDER_LAG_S
    steady_p99 = percentile(lat.e2e_ms[len(lat.e2e_ms) // 2 :], 99)
    steady = steady_p99 is not None and steady_p99 < MAX_STEADY_P99_MS
    return {
        "clients": n,
        "workers": workers,
        "sessions_written": sessions,
        "sender_procs": procs,
        "seconds": round(wall, 2),
        "audio_sent": sent_a,
        "audio_delivered": audio_tap.n,
        "audio_lost": loss,
        "video_sent": sent_v,
        "video_delivered": video_tap.n,
        "drained_within_5s": drained,
        "filled_chunks": audio_tap.filled,
        "host_cpu_pct": round(100 * cpu / wall, 1),
        "cpu_per_1000_clients_pct": round(100 * cpu / wall * 1000 / n, 1),
        "sender_cpu_pct": round(100 * sender_cpu / wall, 1),
        "machine": box,
        "sender_max_lag_s": rounded(max_lag, 3),
        "audio_e2e_ms_p50": rounded(percentile(lat.e2e_ms, 50), 1),
        "audio_e2e_ms_p99": rounded(percentile(lat.e2e_ms, 99), 1),
        "audio_e2e_ms_p99_2nd_half": rounded(steady_p99, 1),
        "status_doc_ms": round(status_ms, 1),
        "status_doc_kB": round(doc_bytes / 1e3, 1),
        "status": {
            "audio.chunks_received": status["audio"]["chunks_received"],
            "video.frames_received": status["video"]["frames_received"],
            "client_count": status["client_count"],
            "drops": status["drops"],
            "rejects": status["rejects"],
        },
        "sender_errors": group.errors,
        "pass": loss == 0 and not group.errors and realtime and steady,
    }


def clients(plan: Plan) -> dict[str, Any]:
    """10 audio + 5 video (320x240) msgs/s per client, rising levels (see the module doc)."""
    return _search(plan, plan.client_levels, workers=1)


def clients_w2(plan: Plan) -> dict[str, Any]:
    """The same with `-w 2` (two worker threads in the one process)."""
    return _search(plan, plan.w2_levels, workers=2)


def _search(plan: Plan, client_levels: tuple[int, ...], workers: int) -> dict[str, Any]:
    pcm = audio_pcm()
    jpg = camera_jpegs(320, 240, count=1)[0]
    levels: list[dict[str, Any]] = []

    def level(n: int, sessions: bool = True) -> dict[str, Any]:
        try:
            row = _client_level(
                n, plan.client_seconds, pcm, jpg, (320, 240), sessions=sessions, workers=workers
            )
        except Exception as exc:  # a level that cannot run is a failed level, reported
            row = {"clients": n, "sessions_written": sessions, "pass": False, "error": repr(exc)}
        levels.append(row)
        return row

    best = 0
    failed = None
    for n in client_levels:
        if not level(n)["pass"]:
            failed = n
            break
        best = n
    if failed is not None:
        if best and failed > best * 1.2:  # one bisection step between the pass and the fail
            mid = (best + failed) // 2
            if level(mid)["pass"]:
                best = mid
        if workers == 1:  # the failing level again without the session sink: what it costs
            level(failed, sessions=False)
    return {
        "video": f"320x240 JPEG q70, {len(jpg)} B",
        "rates": "10 audio + 5 video msgs/s per client",
        "workers": workers,
        "levels": levels,
        "largest_passing": best,
        "first_failing": failed,
    }
