"""Soak: the live host for an hour with clients coming and going and a hostile sender.

Not a test. Starts `ambient-flow live` as a process of its own (loopback, free ports, a
temporary data directory, the enrichment off unless `--enrich`), then the load of
`bench/_soak_load.py` in two more processes: `--clients` well-behaved clients that come
and go (ZeroMQ and raw TCP, named by hello or not, bye or just gone), and a hostile
sender (`testing.hostile.Mutator` at `--rate` messages a second on every port, a flood
of large messages every minute, idle TCP connections). Every `--sample` seconds it
prints the host's RSS, open file descriptors, the data directory's size, and what the
host counted; at the end a verdict: RSS and descriptors flat after warm-up, the disk
growing steadily and by no more than the audio the host accepted (every client's,
the hostile one's within its budgets: no amplification).

    nice .venv/bin/python -m bench.soak                 # one hour
    nice .venv/bin/python -m bench.soak --minutes 10    # shorter
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import zmq

#: What a session's other files (events, metadata) may add to its audio.
SESSION_OVERHEAD = 64 * 1024


@dataclass
class Sample:
    t: float
    rss_mb: float
    fds: int
    disk_mb: float
    stats: dict[str, Any]


def free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def disk_mb(path: Path) -> float:
    total = 0
    for root, _, files in os.walk(path):
        for name in files:
            with contextlib.suppress(OSError):  # a file that went away meanwhile
                total += os.stat(os.path.join(root, name)).st_blocks * 512
    return total / 1e6


def stats(ctx: zmq.Context[Any], port: int) -> dict[str, Any]:
    sock = ctx.socket(zmq.REQ)
    sock.setsockopt(zmq.LINGER, 0)
    try:
        sock.connect(f"tcp://127.0.0.1:{port}")
        sock.send_json({"cmd": "stats"})
        if not sock.poll(5000):
            return {}
        reply = sock.recv_json()
        return reply.get("stats", {}) if isinstance(reply, dict) else {}
    finally:
        sock.close(linger=0)


def slope_per_hour(points: list[tuple[float, float]]) -> float:
    """Least-squares slope of (seconds, value), per hour."""
    if len(points) < 2:
        return 0.0
    n = len(points)
    mx = sum(p[0] for p in points) / n
    my = sum(p[1] for p in points) / n
    var = sum((p[0] - mx) ** 2 for p in points)
    if var == 0:
        return 0.0
    return 3600 * sum((p[0] - mx) * (p[1] - my) for p in points) / var


def summary_line(s: Sample) -> str:
    st = s.stats
    clients = sum(1 for c in st.get("clients", {}).values() if c.get("open"))
    tcp = st.get("tcp", {})
    return (
        f"{s.t / 60:6.1f} min  rss {s.rss_mb:7.1f} MB  fds {s.fds:4d}  disk {s.disk_mb:8.1f} MB"
        f"  clients {clients:3d}  table {st.get('client_count', 0):4d}"
        f"  audio {st.get('audio', {}).get('chunks_received', 0):8d}"
        f"  rejects {sum(st.get('rejects', {}).values()):8d}"
        f"  drops {sum(st.get('drops', {}).values()):8d}"
        f"  tcp {tcp.get('connections', 0):3d} open"
        f"/{tcp.get('closed', {}).get('idle', 0)} idle-closed"
    )


def verdict(samples: list[Sample]) -> tuple[bool, list[str]]:
    """RSS and descriptors flat after warm-up; the disk growing steadily (not faster as
    time goes on) and by no more than the audio the host accepted (no amplification)."""
    warm = max(2, len(samples) // 5)
    steady = samples[warm:]
    if len(steady) < 4:
        return False, ["too few samples after warm-up for a verdict (run longer)"]
    lines = []
    rss = [s.rss_mb for s in steady]
    rss_slope = slope_per_hour([(s.t, s.rss_mb) for s in steady])
    rss_flat = rss_slope < max(30.0, 0.05 * (sum(rss) / len(rss))) and max(rss) - min(rss) < 150
    lines.append(
        f"RSS after warm-up: {min(rss):.0f}..{max(rss):.0f} MB, trend {rss_slope:+.1f} MB/h"
        f" -> {'flat' if rss_flat else 'GROWING'}"
    )
    fd = [s.fds for s in steady]
    fd_slope = slope_per_hour([(s.t, s.fds) for s in steady])
    fd_flat = max(fd) - min(fd) <= 40 and fd_slope < 30
    lines.append(
        f"fds after warm-up: {min(fd)}..{max(fd)}, trend {fd_slope:+.1f}/h"
        f" -> {'flat' if fd_flat else 'GROWING'}"
    )
    half = len(steady) // 2
    first, second = steady[: half + 1], steady[half:]

    def rate(part: list[Sample]) -> float:
        return (part[-1].disk_mb - part[0].disk_mb) / max(1e-9, part[-1].t - part[0].t) * 60

    r1, r2 = rate(first), rate(second)
    steady_disk = r2 <= 1.5 * r1 + 1.0
    last = samples[-1].stats
    audio = last.get("audio", {})
    accepted_mb = (2 * audio.get("samples", 0) + 32_000 * audio.get("gap_fill_seconds", 0)) / 1e6
    sessions = last.get("sessions", {}).get("sessions_opened", 0)
    allowed = 1.3 * accepted_mb + sessions * SESSION_OVERHEAD / 1e6 + 20
    disk = samples[-1].disk_mb
    bounded = disk <= allowed
    lines.append(
        f"disk: {r1:.1f} then {r2:.1f} MB/min -> {'steady' if steady_disk else 'ACCELERATING'};"
        f" {disk:.0f} MB on disk for {accepted_mb:.0f} MB of audio accepted (and gap fill) in"
        f" {sessions} sessions (at most {allowed:.0f})"
        f" -> {'no amplification' if bounded else 'AMPLIFIED'}"
    )
    return rss_flat and fd_flat and steady_disk and bounded, lines


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="bench.soak", description=__doc__.split("\n\n")[0])
    p.add_argument("--minutes", type=float, default=60.0)
    p.add_argument("--clients", type=int, default=6)
    p.add_argument("--rate", type=float, default=300.0, help="hostile messages per second")
    p.add_argument("--sample", type=float, default=0.0, help="seconds between samples")
    p.add_argument("--enrich", action="store_true", help="run the enrichment too")
    p.add_argument("--keep", action="store_true", help="keep the data directory")
    args = p.parse_args(argv)
    seconds = args.minutes * 60
    every = args.sample or max(10.0, min(60.0, seconds / 40))
    data = Path(tempfile.mkdtemp(prefix="af-soak-"))
    audio, video, control, tcp, pub = free_ports(5)
    ports = ["--audio-port", str(audio), "--video-port", str(video),
             "--control-port", str(control), "--tcp-port", str(tcp)]  # fmt: skip
    host_cmd = [
        sys.executable, "-m", "ambient_flow.cli.main", "live", "--bind", "127.0.0.1",
        *ports, "--pub-port", str(pub), "--metrics-port", "0", "--data-dir", str(data / "host"),
        "--line-interval", "0", "--log-level", "ERROR",
        "--enrich" if args.enrich else "--no-enrich",
    ]  # fmt: skip
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    host = subprocess.Popen(host_cmd, env=env, stderr=subprocess.DEVNULL)
    ctx = zmq.Context()
    loads: list[subprocess.Popen[str]] = []
    samples: list[Sample] = []
    results: list[dict[str, Any]] = []
    try:
        deadline = time.monotonic() + 120
        while not stats(ctx, control):
            if host.poll() is not None or time.monotonic() > deadline:
                print("the host did not start", file=sys.stderr)
                return 2
        print(f"soak: host pid {host.pid}, {args.minutes:g} min, {args.clients} clients, "
              f"hostile {args.rate:g} msg/s, data in {data}", flush=True)  # fmt: skip
        load = [sys.executable, "-m", "bench._soak_load"]
        common = [*ports, "--seconds", str(seconds)]
        loads.append(subprocess.Popen([*load, "clients", *common, "--clients", str(args.clients)],
                                      env=env, stdout=subprocess.PIPE, text=True))  # fmt: skip
        loads.append(subprocess.Popen([*load, "hostile", *common, "--rate", str(args.rate)],
                                      env=env, stdout=subprocess.PIPE, text=True))  # fmt: skip
        start = time.monotonic()
        while True:
            now = time.monotonic() - start
            if host.poll() is not None:
                print(f"THE HOST DIED (exit {host.returncode})", flush=True)
                return 1
            sample = Sample(
                now, rss_mb(host.pid), fds(host.pid), disk_mb(data), stats(ctx, control)
            )
            samples.append(sample)
            print(summary_line(sample), flush=True)
            if now >= seconds:
                break
            time.sleep(min(every, max(0.0, seconds - now)))
        for proc in loads:
            out, _ = proc.communicate(timeout=300)
            for line in out.splitlines():
                if line.startswith("{"):
                    results.append(json.loads(line))
    finally:
        for proc in loads:
            if proc.poll() is None:
                proc.terminate()
                proc.wait(30)
        if host.poll() is None:
            host.send_signal(signal.SIGINT)
            try:
                host.wait(60)
            except subprocess.TimeoutExpired:
                host.kill()
        ctx.destroy(linger=0)
        if not args.keep:
            shutil.rmtree(data, ignore_errors=True)
    clients = next((r for r in results if r["role"] == "clients"), {})
    hostile = next((r for r in results if r["role"] == "hostile"), {})
    last = samples[-1].stats
    print()
    print(f"well-behaved: {clients.get('sessions', 0)} sessions, "
          f"{clients.get('audio_seconds', 0) / 60:.1f} min of audio, "
          f"{clients.get('video_sent', 0)} frames")  # fmt: skip
    print(f"hostile: {hostile.get('messages', 0)} messages + {hostile.get('flood_messages', 0)} "
          f"flood messages, {hostile.get('bytes', 0) / 1e6:.0f} MB sent")  # fmt: skip
    print(f"host counted: {sum(last.get('rejects', {}).values())} rejects, "
          f"{sum(last.get('drops', {}).values())} drops, "
          f"{last.get('client_events', {}).get('evicted', 0)} evictions, "
          f"tcp closed {last.get('tcp', {}).get('closed', {})}")  # fmt: skip
    ok, lines = verdict(samples)
    for line in lines:
        print(line)
    print("VERDICT:", "flat and bounded" if ok else "NOT flat")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
