"""The benchmark sections. Each returns a JSON-able dict; the runner catches failures.

Every figure that has a peer is measured next to it in the same run, and repeated
sections report medians (the host has 2 shared, noisy cores).
"""

from __future__ import annotations

import json
import resource
import shutil
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import zmq

from bench import _senders as snd
from bench._host import BenchHost, LatencyTap, Tap
from bench._media import audio_pcm, camera_jpegs
from bench._procs import SenderGroup

__all__ = ["SECTIONS", "Plan"]


@dataclass(frozen=True)
class Plan:
    """Sizes of one run (`full` by default, `quick` for about a minute)."""

    repeats: int = 5
    audio_count: int = 60_000
    video_count: int = 10_000
    blast_senders: tuple[int, ...] = (1, 2)
    client_levels: tuple[int, ...] = (10, 100, 500, 1000, 2000)
    client_seconds: float = 6.0
    latency_rate: int = 200
    latency_seconds: float = 5.0
    stall_seconds: float = 6.0
    replay_minutes: float = 20.0
    imagezmq_count: int = 4_000
    idle_seconds: float = 5.0

    @classmethod
    def quick(cls) -> Plan:
        return cls(
            repeats=1,
            audio_count=10_000,
            video_count=1_000,
            blast_senders=(1,),
            client_levels=(10, 100, 500),
            client_seconds=4.0,
            latency_seconds=3.0,
            stall_seconds=4.0,
            replay_minutes=2.0,
            imagezmq_count=1_000,
            idle_seconds=3.0,
        )


# -- small helpers ------------------------------------------------------------------------
def _cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)  # all threads of this process, no children
    return r.ru_utime + r.ru_stime


class _Machine:
    """System-wide CPU over a window (all cores, in % of one core): who else was busy.

    The 2 cores are shared with other work; `steal` and a busy machine with an idle
    host explain a slow run better than guessing.
    """

    def __init__(self) -> None:
        import psutil

        self._psutil = psutil
        self._t0 = psutil.cpu_times()

    def pct(self, wall: float, own_cpu_s: float) -> dict[str, float]:
        t1 = self._psutil.cpu_times()

        def d(name: str) -> float:
            return float(getattr(t1, name, 0.0) - getattr(self._t0, name, 0.0))

        busy = d("user") + d("system") + d("nice") + d("irq") + d("softirq")
        return {
            "busy_pct": round(100 * busy / wall, 1),
            # /proc/stat ticks vs getrusage: about +-10 points of noise, so clamp at 0
            "others_pct": round(max(0.0, 100 * (busy - own_cpu_s) / wall), 1),
            "steal_pct": round(100 * d("steal") / wall, 1),
            "iowait_pct": round(100 * d("iowait") / wall, 1),
        }


def _pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(q / 100 * (len(s) - 1))))]


def _med(values: list[float | None]) -> float | None:
    vals = [v for v in values if v is not None]
    return statistics.median(vals) if vals else None


def _r(x: float | None, nd: int = 2) -> float | None:
    return None if x is None else round(x, nd)


class _TmpDir:
    def __init__(self, prefix: str) -> None:
        self.path = Path(tempfile.mkdtemp(prefix=prefix))

    def __enter__(self) -> Path:
        return self.path

    def __exit__(self, *exc: object) -> None:
        shutil.rmtree(self.path, ignore_errors=True)


def _wait(cond: Callable[[], bool], timeout: float, step: float = 0.02) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(step)
    return cond()


def _free_port() -> int:
    from ambient_flow.testing.harness import free_port

    return free_port()


def _payloads(kind: str, big: bool = True) -> tuple[list[bytes], tuple[int, int]]:
    if kind == "audio":
        return [audio_pcm()], (0, 0)
    wh = (640, 480) if big else (320, 240)
    return camera_jpegs(*wh), wh


def _envelope_bytes(kind: str, payloads: list[bytes], wh: tuple[int, int]) -> float:
    sample = snd.envelope(kind, b"blast-0", 12345, 1_700_000_000_000, payloads[0], wh)
    return float(len(sample))


# -- 0. idle --------------------------------------------------------------------------------
def idle(plan: Plan) -> dict[str, Any]:
    with _TmpDir("af-bench-idle-") as tmp:
        host = BenchHost(tmp).start()
        try:
            time.sleep(0.5)
            c0, t0 = _cpu_s(), time.monotonic()
            time.sleep(plan.idle_seconds)
            cpu, wall = _cpu_s() - c0, time.monotonic() - t0
        finally:
            host.stop()
    return {"seconds": round(wall, 2), "host_cpu_pct": round(100 * cpu / wall, 1)}


# -- 1 + 6. throughput, its pyzmq peer, and imagezmq -----------------------------------------
def _blast_args(
    endpoint: str, kind: str, count: int, senders: int, payloads: list[bytes], wh: tuple[int, int]
) -> list[tuple[Any, ...]]:
    per = count // senders
    return [(endpoint, kind, f"blast-{i}", per, payloads, wh) for i in range(senders)]


def _peer_pull(
    kind: str, count: int, senders: int, payloads: list[bytes], wh: tuple[int, int]
) -> dict[str, Any]:
    """A plain pyzmq PULL loop: recv and nothing else, same senders, same messages."""
    ctx = zmq.Context()
    sock = ctx.socket(zmq.PULL)
    sock.setsockopt(zmq.LINGER, 0)
    sock.setsockopt(zmq.RCVHWM, 10000)
    port = _free_port()
    sock.bind(f"tcp://127.0.0.1:{port}")
    expected = (count // senders) * senders
    n = 0
    first = last = 0
    try:
        with SenderGroup(
            snd.blast, _blast_args(f"tcp://127.0.0.1:{port}", kind, count, senders, payloads, wh)
        ) as group:
            group.wait_ready()
            c0 = _cpu_s()
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
            cpu = _cpu_s() - c0
            group.wait_done(30)
    finally:
        sock.close(linger=0)
        ctx.term()
    return _rate(n, expected, first, last, cpu, _envelope_bytes(kind, payloads, wh))


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


def _flow_blast(
    kind: str, count: int, senders: int, payloads: list[bytes], wh: tuple[int, int]
) -> dict[str, Any]:
    """The same senders into the live flow; timed from first to last item at the ingest tap."""
    tap = Tap()
    expected = (count // senders) * senders
    with _TmpDir("af-bench-tp-") as tmp:
        host = BenchHost(tmp)
        host.tap("bench_tap", host.streams.audio if kind == "audio" else host.streams.video, tap)
        host.start()
        try:
            args = _blast_args(host.endpoint(kind), kind, count, senders, payloads, wh)
            with SenderGroup(snd.blast, args) as group:
                group.wait_ready()
                c0 = _cpu_s()
                group.start()
                last_n, last_change = 0, time.monotonic()
                deadline = time.monotonic() + 180
                while tap.n < expected and time.monotonic() < deadline:
                    time.sleep(0.02)
                    if tap.n != last_n:
                        last_n, last_change = tap.n, time.monotonic()
                    elif time.monotonic() - last_change > 10:
                        break  # nothing new for 10 s: report what arrived
                cpu = _cpu_s() - c0
                group.wait_done(30)
            status = host.runtime.telemetry.status()
        finally:
            host.stop()
    out = _rate(
        tap.n, expected, tap.first_ns, tap.last_ns, cpu, _envelope_bytes(kind, payloads, wh)
    )
    out["status"] = {
        "audio": status["audio"]["chunks_received"],
        "video": status["video"]["frames_received"],
        "drops": status["drops"],
        "rejects": status["rejects"],
    }
    return out


def _imagezmq(count: int, jpgs: list[bytes]) -> dict[str, Any]:
    """imagezmq PUB -> ImageHub SUB (`REQ_REP=False`), `send_jpg`/`recv_jpg` on 127.0.0.1."""
    import imagezmq

    endpoint = f"tcp://127.0.0.1:{_free_port()}"
    hub = imagezmq.ImageHub(open_port=endpoint, REQ_REP=False)
    hub.zmq_socket.setsockopt(zmq.LINGER, 0)
    n = 0
    first = last = 0
    nbytes = 0
    try:
        with SenderGroup(snd.imagezmq_send, [(endpoint, jpgs, count)]) as group:
            group.wait_ready()
            time.sleep(0.7)  # PUB/SUB slow joiner: let the subscription reach the PUB
            c0 = _cpu_s()
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
            cpu = _cpu_s() - c0
            group.wait_done(30)
    finally:
        hub.close()
    out = _rate(n, count, first, last, cpu, nbytes / max(n, 1))
    out["lost_pubsub"] = count - n
    return out


def throughput(plan: Plan) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for kind, count in (("audio", plan.audio_count), ("video", plan.video_count)):
        payloads, wh = _payloads(kind)
        size = _envelope_bytes(kind, payloads, wh)
        for senders in plan.blast_senders:
            runs: list[dict[str, Any]] = []
            for _ in range(plan.repeats):
                peer = _peer_pull(kind, count, senders, payloads, wh)
                flow = _flow_blast(kind, count, senders, payloads, wh)
                runs.append(
                    {
                        "peer": peer,
                        "flow": flow,
                        "ratio": flow["msgs_per_s"] / max(peer["msgs_per_s"], 1e-9),
                    }
                )
            out[f"{kind}_x{senders}"] = {
                "message_bytes": int(size),
                "senders": senders,
                "count": count,
                "flow_msgs_per_s": _r(_med([r["flow"]["msgs_per_s"] for r in runs]), 1),
                "flow_MB_per_s": _r(_med([r["flow"]["MB_per_s"] for r in runs])),
                "flow_cpu_pct": _r(_med([r["flow"]["cpu_pct"] for r in runs]), 1),
                "peer_msgs_per_s": _r(_med([r["peer"]["msgs_per_s"] for r in runs]), 1),
                "peer_MB_per_s": _r(_med([r["peer"]["MB_per_s"] for r in runs])),
                "ratio_flow_to_peer": _r(_med([r["ratio"] for r in runs]), 3),
                "complete": all(r["flow"]["messages"] == r["flow"]["expected"] for r in runs),
                "runs": runs,
            }
    return out


def imagezmq_peer(plan: Plan) -> dict[str, Any]:
    """imagezmq frames/s next to our whole-flow video, alternated so both see the same noise."""
    jpgs, wh = _payloads("video")
    runs = []
    for _ in range(plan.repeats):
        iz = _imagezmq(plan.imagezmq_count, jpgs)
        flow = _flow_blast("video", plan.imagezmq_count, 1, jpgs, wh)
        runs.append(
            {
                "imagezmq": iz,
                "flow": flow,
                "ratio": flow["msgs_per_s"] / max(iz["msgs_per_s"], 1e-9),
            }
        )
    return {
        "jpeg_bytes": len(jpgs[0]),
        "count": plan.imagezmq_count,
        "imagezmq_fps": _r(_med([r["imagezmq"]["msgs_per_s"] for r in runs]), 1),
        "imagezmq_MB_per_s": _r(_med([r["imagezmq"]["MB_per_s"] for r in runs])),
        "imagezmq_lost": [r["imagezmq"]["lost_pubsub"] for r in runs],
        "flow_fps": _r(_med([r["flow"]["msgs_per_s"] for r in runs]), 1),
        "flow_MB_per_s": _r(_med([r["flow"]["MB_per_s"] for r in runs])),
        "ratio_flow_to_imagezmq": _r(_med([r["ratio"] for r in runs]), 3),
        "runs": runs,
    }


# -- 2. many clients in real time ----------------------------------------------------------
#: A level passes with no audio lost, senders on schedule (a blocked PUSH turns an
#: overloaded host into sender lag, not loss), and a host that keeps up once every
#: client's session is open: audio p99 over the second half of the run under 500 ms.
MAX_SENDER_LAG_S = 1.0
MAX_STEADY_P99_MS = 500.0


def _client_level(
    n: int,
    seconds: float,
    audio_pcm_: bytes,
    jpg: bytes,
    wh: tuple[int, int],
    *,
    sessions: bool = True,
) -> dict[str, Any]:
    procs = 1 if n <= 100 else 2 if n <= 1000 else 4
    names = [f"c{i:05d}" for i in range(n)]
    audio_tap, video_tap = Tap(), Tap()
    lat = LatencyTap((_audio_type(),), limit=100_000)
    with _TmpDir("af-bench-clients-") as tmp:
        host = BenchHost(tmp, sessions=sessions)
        host.tap("bench_audio", host.streams.audio, audio_tap)
        host.tap("bench_audio_lat", host.streams.audio, lat)
        host.tap("bench_video", host.streams.video, video_tap)
        host.start()
        try:
            args = [
                (
                    host.endpoint("audio"),
                    host.endpoint("video"),
                    names[p::procs],
                    seconds,
                    audio_pcm_,
                    jpg,
                    wh,
                    10,
                    5,
                )
                for p in range(procs)
            ]
            with SenderGroup(snd.paced_clients, args) as group:
                group.wait_ready()
                c0, t0, machine = _cpu_s(), time.monotonic(), _Machine()
                group.start()
                group.wait_done(seconds * 3 + 30)
                cpu, wall = _cpu_s() - c0, time.monotonic() - t0
                sender_cpu = sum(r["cpu_s"] for r in group.reports.values())
                box = machine.pct(wall, cpu + sender_cpu)
            sent_a = sum(r["audio"] for r in group.reports.values())
            sent_v = sum(r["video"] for r in group.reports.values())
            drained = _wait(lambda: audio_tap.n >= sent_a and video_tap.n >= sent_v, 5.0)
            t = time.perf_counter()
            status = host.runtime.telemetry.status()
            doc_bytes = len(json.dumps(status, indent=1, default=str))  # what status.json costs
            status_ms = (time.perf_counter() - t) * 1e3
        finally:
            host.stop()
    max_lag = max((r["max_lag_s"] for r in group.reports.values()), default=None)
    p99 = _pct(lat.e2e_ms, 99)
    loss = sent_a - audio_tap.n
    realtime = max_lag is not None and max_lag < MAX_SENDER_LAG_S
    steady_p99 = _pct(lat.e2e_ms[len(lat.e2e_ms) // 2 :], 99)
    steady = steady_p99 is not None and steady_p99 < MAX_STEADY_P99_MS
    return {
        "clients": n,
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
        "sender_cpu_pct": round(100 * sender_cpu / wall, 1),
        "machine": box,
        "sender_max_lag_s": _r(max_lag, 3),
        "audio_e2e_ms_p50": _r(_pct(lat.e2e_ms, 50), 1),
        "audio_e2e_ms_p99": _r(p99, 1),
        "audio_e2e_ms_p99_2nd_half": _r(steady_p99, 1),
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


def _audio_type() -> type:
    from ambient_flow.protocol.messages import AudioChunk

    return AudioChunk


def clients(plan: Plan) -> dict[str, Any]:
    pcm = audio_pcm()
    jpg = camera_jpegs(320, 240, count=1)[0]
    levels: list[dict[str, Any]] = []

    def level(n: int, sessions: bool = True) -> dict[str, Any]:
        try:
            row = _client_level(n, plan.client_seconds, pcm, jpg, (320, 240), sessions=sessions)
        except Exception as exc:  # a level that cannot run is a failed level, reported
            row = {"clients": n, "sessions_written": sessions, "pass": False, "error": repr(exc)}
        levels.append(row)
        return row

    best = 0
    failed = None
    for n in plan.client_levels:
        if not level(n)["pass"]:
            failed = n
            break
        best = n
    if failed is not None:
        if best and failed > best * 1.2:  # one bisection step between the pass and the fail
            mid = (best + failed) // 2
            if level(mid)["pass"]:
                best = mid
        # The failing level again without the session sink: how much of the cost is the sink.
        level(failed, sessions=False)
    return {
        "video": f"320x240 JPEG q70, {len(jpg)} B",
        "rates": "10 audio + 5 video msgs/s per client",
        "levels": levels,
        "largest_passing": best,
        "first_failing": failed,
    }


# -- 3. latency ---------------------------------------------------------------------------
def _latency_flow(transport: str, rate: int, seconds: float) -> dict[str, Any]:
    lat = LatencyTap((_audio_type(),))
    with _TmpDir("af-bench-lat-") as tmp:
        host = BenchHost(tmp)
        host.tap("bench_lat", host.streams.audio, lat)
        host.start()
        try:
            ep = (
                host.endpoint("audio")
                if transport == "zmq"
                else f"127.0.0.1:{host.settings.tcp_port}"
            )
            args = [(transport, ep, f"lat-{transport}", rate, seconds, audio_pcm())]
            with SenderGroup(snd.paced_audio, args) as group:
                group.wait_ready()
                group.start()
                group.wait_done(seconds * 3 + 20)
            sent = sum(r["sent"] for r in group.reports.values())
            _wait(lambda: lat.n >= sent, 5.0)
        finally:
            host.stop()
    return {**_lat_row(sent, lat.n, lat.source_ms, lat.e2e_ms), **_offsets(group)}


def _offsets(group: SenderGroup) -> dict[str, Any]:
    """How late the sender really sent after the ms its `ts` names (bias of e2e)."""
    rep = next(iter(group.reports.values()), {})
    return {
        "ts_offset_ms_p50": _r(rep.get("ts_offset_us_p50", 0) / 1e3, 3),
        "ts_offset_ms_p99": _r(rep.get("ts_offset_us_p99", 0) / 1e3, 3),
    }


def _lat_row(sent: int, got: int, source_ms: list[float], e2e_ms: list[float]) -> dict[str, Any]:
    return {
        "sent": sent,
        "received": got,
        "source_to_flow_ms_p50": _r(_pct(source_ms, 50), 3),
        "source_to_flow_ms_p99": _r(_pct(source_ms, 99), 3),
        "e2e_ms_p50": _r(_pct(e2e_ms, 50), 2),
        "e2e_ms_p99": _r(_pct(e2e_ms, 99), 2),
    }


def _latency_peer(rate: int, seconds: float) -> dict[str, Any]:
    """Plain pyzmq PULL: now - sender ts, the floor any ZeroMQ receiver pays."""
    ctx = zmq.Context()
    sock = ctx.socket(zmq.PULL)
    sock.setsockopt(zmq.LINGER, 0)
    port = _free_port()
    sock.bind(f"tcp://127.0.0.1:{port}")
    e2e: list[float] = []
    try:
        args = [("zmq", f"tcp://127.0.0.1:{port}", "lat-peer", rate, seconds, audio_pcm())]
        with SenderGroup(snd.paced_audio, args) as group:
            group.wait_ready()
            group.start()
            expected = int(rate * seconds)
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
        **_offsets(group),
        "sent": expected,
        "received": len(e2e),
        "e2e_ms_p50": _r(_pct(e2e, 50), 2),
        "e2e_ms_p99": _r(_pct(e2e, 99), 2),
    }


def latency(plan: Plan) -> dict[str, Any]:
    rows: dict[str, list[dict[str, Any]]] = {"zmq": [], "tcp": [], "peer_pull": []}
    for _ in range(plan.repeats):
        rows["peer_pull"].append(_latency_peer(plan.latency_rate, plan.latency_seconds))
        rows["zmq"].append(_latency_flow("zmq", plan.latency_rate, plan.latency_seconds))
        rows["tcp"].append(_latency_flow("tcp", plan.latency_rate, plan.latency_seconds))
    out: dict[str, Any] = {"rate_msgs_per_s": plan.latency_rate, "seconds": plan.latency_seconds}
    for name, runs in rows.items():
        keys = [k for k in runs[0] if k not in ("sent", "received")]
        out[name] = {k: _r(_med([r[k] for r in runs]), 3) for k in keys}
        out[name]["received/sent"] = [f"{r['received']}/{r['sent']}" for r in runs]
    return out


# -- 4. ingest stall behind a slow step --------------------------------------------------
def _stall(mode: str, seconds: float) -> dict[str, Any]:
    import bytewax.operators as op

    from ambient_flow.operators.offload import OffloadOptions, offload
    from ambient_flow.protocol.messages import VideoFrame

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
    with _TmpDir("af-bench-stall-") as tmp:
        host = BenchHost(tmp, extend=extend)
        host.tap("bench_items_lat", host.streams.items, lat)
        host.tap("bench_items_video", host.streams.video, video)
        host.start()
        try:
            jpg = camera_jpegs(320, 240, count=1)[0]
            args = [
                (
                    host.endpoint("audio"),
                    host.endpoint("video"),
                    [f"s{i}" for i in range(3)],
                    seconds,
                    audio_pcm(),
                    jpg,
                    (320, 240),
                    10,
                    5,
                )
            ]
            with SenderGroup(snd.paced_clients, args) as group:
                group.wait_ready()
                group.start()
                group.wait_done(seconds * 3 + 20)
            sent_v = sum(r["video"] for r in group.reports.values())
            in_window = processed[0]
            done.set()
            _wait(lambda: video.n >= sent_v, 20.0)
            status = host.runtime.telemetry.status()
        finally:
            done.set()
            host.stop()
    return {
        "mode": mode,
        "video_sent": sent_v,
        "video_at_tap": video.n,
        "slow_step_items_done_in_window": in_window,
        "stall_e2e_ms_p99": _r(_pct(lat.e2e_ms, 99), 1),
        "stall_e2e_ms_max": _r(max(lat.e2e_ms, default=None), 1) if lat.e2e_ms else None,
        "stall_e2e_ms_p50": _r(_pct(lat.e2e_ms, 50), 1),
        "after_arrival_ms_p99": _r(_pct(lat.source_ms, 99), 2),
        "after_arrival_ms_max": _r(max(lat.source_ms), 2) if lat.source_ms else None,
        "queues": status["queues"],
        "drops": status["drops"],
    }


def stall(plan: Plan) -> dict[str, Any]:
    return {
        "inline_map": _stall("inline", plan.stall_seconds),
        "offload_queue": _stall("offload", plan.stall_seconds),
    }


# -- 5. replay speed -----------------------------------------------------------------------
def _make_capture(path: Path, minutes: float, jpgs: list[bytes]) -> dict[str, Any]:
    from ambient_flow.capture.format import CaptureWriter
    from ambient_flow.protocol.messages import RawMessage

    pcm = audio_pcm()
    t0_ns = 1_760_000_000_000_000_000
    n_audio = int(minutes * 60 * 10)
    count = 0
    with CaptureWriter(path, {"tool": "bench", "clients": 1}) as cap:
        for k in range(n_audio):
            at_ms = 100 * k
            ts = t0_ns // 1_000_000 + at_ms
            at_ns = t0_ns + at_ms * 1_000_000 + 5_000_000
            cap.write(
                RawMessage(
                    "audio",
                    (snd.envelope("audio", b"replay-1", k, ts, pcm, (0, 0)),),
                    at_ns,
                    at_ns,
                    "127.0.0.1",
                    "fd10",
                )
            )
            count += 1
            if k % 2 == 0:
                v = k // 2
                frame = snd.envelope("video", b"replay-1", v, ts, jpgs[v % len(jpgs)], (640, 480))
                cap.write(
                    RawMessage(
                        "video", (frame,), at_ns + 3_000_000, at_ns + 3_000_000, "127.0.0.1", "fd11"
                    )
                )
                count += 1
    return {"records": count, "bytes": path.stat().st_size}


def replay(plan: Plan) -> dict[str, Any]:
    from ambient_flow.capture.format import CaptureReader
    from ambient_flow.testing.harness import run_capture

    jpgs, _ = _payloads("video")
    runs = []
    with _TmpDir("af-bench-replay-") as tmp:
        cap = tmp / "one_client.zmqcap"
        made = _make_capture(cap, plan.replay_minutes, jpgs)
        real_s = plan.replay_minutes * 60
        for i in range(max(2, plan.repeats)):
            t = time.perf_counter()
            n_read = sum(1 for _ in CaptureReader(cap))
            read_s = time.perf_counter() - t
            t = time.perf_counter()
            out = run_capture(cap, tmp / f"data{i}")
            flow_s = time.perf_counter() - t
            runs.append(
                {
                    "flow_s": round(flow_s, 3),
                    "read_only_s": round(read_s, 3),
                    "items": len(out.items),
                    "records_read": n_read,
                    "audio": len(out.audio()),
                    "video": len(out.video()),
                }
            )
            del out
            shutil.rmtree(tmp / f"data{i}", ignore_errors=True)
    flow_s = _med([r["flow_s"] for r in runs]) or 0.0
    read_s = _med([r["read_only_s"] for r in runs]) or 0.0
    return {
        "capture": f"{plan.replay_minutes:g} min, 1 client, 10 audio + 5 video (640x480) msgs/s",
        **made,
        "flow_s": _r(flow_s, 3),
        "x_realtime": _r(real_s / flow_s, 1) if flow_s else None,
        "records_per_s": _r(made["records"] / flow_s, 0) if flow_s else None,
        "read_only_s": _r(read_s, 3),
        "ratio_flow_to_read_only": _r(read_s / flow_s, 3) if flow_s else None,
        "runs": runs,
    }


SECTIONS: dict[str, Callable[[Plan], dict[str, Any]]] = {
    "idle": idle,
    "throughput": throughput,
    "latency": latency,
    "stall": stall,
    "replay": replay,
    "imagezmq": imagezmq_peer,
    "clients": clients,
}
