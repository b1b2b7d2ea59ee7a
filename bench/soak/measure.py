"""What the soak measures of the host process, and its verdict (standard library and pyzmq).

RSS and open descriptors from /proc, the data directory's size in allocated blocks, the
host's own status document (the `stats` control command), and a least-squares trend.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import zmq

__all__ = ["Sample", "disk_mb", "fds", "rss_mb", "stats", "summary_line", "verdict"]

#: What a session's other files (events, metadata) may add to its audio.
SESSION_OVERHEAD = 64 * 1024


@dataclass
class Sample:
    t: float
    rss_mb: float
    fds: int
    disk_mb: float
    stats: dict[str, Any]


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
        f"  clients {clients:3d}  table {st.get('clients_in_state', 0):4d}"
        f"/{st.get('client_count', 0):3d} shown"
        f"  audio {st.get('audio', {}).get('chunks_received', 0):8d}"
        f"  rejects {sum(st.get('rejects', {}).values()):8d}"
        f"  drops {sum(st.get('drops', {}).values()):8d}"
        f"  tcp {tcp.get('connections', 0):3d} open"
        f"/{tcp.get('closed', {}).get('idle', 0)} idle-closed"
    )


def verdict(samples: list[Sample], fd_swing: int = 0) -> tuple[bool, list[str]]:
    """RSS, descriptors and the client table (clients with state in the flow) flat after
    warm-up (descriptors within 40 plus `fd_swing`, what the load opens and closes by
    design, e.g. idle connections the host times out); the disk growing steadily (not
    faster as time goes on) and by no more than the audio the host accepted (no
    amplification)."""
    warm = max(2, len(samples) // 5)
    # The last sample is taken as the load processes end (they run as long as the
    # sampling): their idle connections and clients are going, so it would read as a
    # drop in descriptors and clients. Flatness is judged while the load ran; the disk
    # total below still uses the last sample.
    steady = samples[warm:-1]
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
    fd_flat = max(fd) - min(fd) <= 40 + fd_swing and fd_slope < 30
    lines.append(
        f"fds after warm-up: {min(fd)}..{max(fd)}, trend {fd_slope:+.1f}/h"
        f" -> {'flat' if fd_flat else 'GROWING'}"
    )
    table = [int(s.stats.get("clients_in_state", 0)) for s in steady]
    table_slope = slope_per_hour([(s.t, n) for s, n in zip(steady, table, strict=True)])
    table_flat = max(table) - min(table) <= 60 and table_slope < 30
    lines.append(
        f"clients in state after warm-up: {min(table)}..{max(table)}, trend {table_slope:+.1f}/h"
        f" -> {'flat' if table_flat else 'GROWING'}"
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
    return rss_flat and fd_flat and table_flat and steady_disk and bounded, lines
