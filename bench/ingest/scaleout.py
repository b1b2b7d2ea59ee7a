"""Scale out on Bytewax: the same host as 1 process, as 1 process with `-w 2`, and as a
2-process cluster (`-i/-a`, one process bound to 127.0.0.1 and one to 127.0.0.2, each
binding its own ports, docs/cluster.md) — blast throughput and real-time clients.

Every host here is the real entry point in its own process (`bench.core.hostproc`), so
all three are measured the same way, from outside: messages counted by the hosts'
`stats` (control port), CPU from /proc. Senders are split evenly over the processes'
addresses. The in-process figures of sections 1 and 2 (taps on the worker thread) are
not comparable with these; the ratios within this section are.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import zmq

from ambient_flow.testing.harness import free_ports
from bench.core.hostproc import HostProcess
from bench.core.media import audio_pcm, camera_jpegs
from bench.core.procs import SenderGroup, temp_dir
from bench.ingest import senders as snd
from bench.ingest.plan import Plan

__all__ = ["scaleout"]

MODES = ("1 process", "-w 2", "2 processes")


def _cpu_s(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _received(ctx: zmq.Context[Any], hosts: list[HostProcess]) -> tuple[int, int] | None:
    """Audio and video messages all hosts counted (None if one did not answer)."""
    audio = video = 0
    for h in hosts:
        sock = ctx.socket(zmq.REQ)
        sock.setsockopt(zmq.LINGER, 0)
        try:
            sock.connect(h.endpoint(h.CONTROL))
            sock.send_json({"cmd": "stats"})
            if not sock.poll(2000):
                return None
            doc = sock.recv_json()["stats"]  # type: ignore[index,call-overload]
        finally:
            sock.close(linger=0)
        audio += doc["audio"]["chunks_received"]
        video += doc["video"]["frames_received"]
    return audio, video


def _hosts(mode: str, root: Path) -> list[HostProcess]:
    ports = tuple(free_ports(3))
    if mode == "2 processes":
        addrs = [f"127.0.0.1:{p}" for p in free_ports(2)]
        return [
            HostProcess([], ip, root / f"host{i}", process_id=i, addresses=addrs, ports=ports)
            for i, ip in enumerate(("127.0.0.1", "127.0.0.2"))
        ]
    workers = 2 if mode == "-w 2" else 1
    return [HostProcess([], "127.0.0.1", root / "host0", workers=workers, ports=ports)]


def _wait_up(ctx: zmq.Context[Any], hosts: list[HostProcess], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not all(h.alive() for h in hosts):
            raise RuntimeError(f"a host exited: {[h.log_tail(3) for h in hosts]}")
        if _received(ctx, hosts) is not None:
            return
        time.sleep(0.3)
    raise TimeoutError("hosts did not answer stats")


def _run(mode: str, work: str, plan: Plan) -> dict[str, Any]:
    ctx: zmq.Context[Any] = zmq.Context()
    with temp_dir("af-bench-scale-") as tmp:
        hosts = _hosts(mode, tmp)
        try:
            _wait_up(ctx, hosts)
            n = len(hosts)
            if work == "blast":
                per = plan.audio_count // n
                args = [
                    (h.endpoints["audio"], "audio", f"b{i}", per, [audio_pcm()], (0, 0), 50)
                    for i, h in enumerate(hosts)
                ]
                target, expected_v, seconds = snd.blast, 0, 0.0
            else:
                clients = plan.scaleout_clients
                names = [f"c{i:05d}" for i in range(clients)]
                jpg = camera_jpegs(320, 240, count=1)[0]
                procs = 2 * n
                args = [
                    (
                        hosts[p % n].endpoints["audio"],
                        hosts[p % n].endpoints["video"],
                        names[p::procs],
                        plan.client_seconds,
                        audio_pcm(),
                        jpg,
                        (320, 240),
                        10,
                        5,
                    )
                    for p in range(procs)
                ]
                target, seconds = snd.paced_clients, plan.client_seconds
            with SenderGroup(target, args) as group:
                group.wait_ready()
                cpu0 = sum(_cpu_s(h.proc.pid) for h in hosts)
                t0 = time.monotonic()
                group.start()
                group.wait_done(max(seconds * 3, 60) + 30)
                sent_a = sum(r.get("sent", r.get("audio", 0)) for r in group.reports.values())
                expected_v = sum(r.get("video", 0) for r in group.reports.values())
                t_sent = time.monotonic()
                got: tuple[int, int] | None = None
                while time.monotonic() - t_sent < 30:
                    got = _received(ctx, hosts)
                    if got is not None and got[0] >= sent_a and got[1] >= expected_v:
                        break
                    time.sleep(0.05)
                t1 = time.monotonic()
                cpu = sum(_cpu_s(h.proc.pid) for h in hosts) - cpu0
            max_lag = max((r.get("max_lag_s", 0.0) for r in group.reports.values()), default=0.0)
        finally:
            for h in hosts:
                h.interrupt()
            for h in hosts:
                h.stop(30)
                h.close()
            ctx.destroy(linger=0)
    audio, video = got or (0, 0)
    wall = t1 - t0
    out: dict[str, Any] = {
        "mode": mode,
        "processes": len(hosts),
        "audio_sent": sent_a,
        "audio_received": audio,
        "video_sent": expected_v,
        "video_received": video,
        "seconds": round(wall, 2),
        "host_cpu_pct": round(100 * cpu / wall, 1),
        "sender_errors": group.errors,
    }
    if work == "blast":
        out["msgs_per_s"] = round(audio / wall, 1)
    else:
        drain = t1 - t_sent
        out.update(
            clients=plan.scaleout_clients,
            drain_s=round(drain, 2),
            sender_max_lag_s=round(max_lag, 3),
            cpu_per_1000_clients_pct=round(100 * cpu / wall * 1000 / plan.scaleout_clients, 1),
            # within 0.5 s of the last send every message was counted: the hosts kept up
            **{"pass": audio == sent_a and max_lag < 1.0 and drain < 0.5},
        )
    return out


def scaleout(plan: Plan) -> dict[str, Any]:
    """Blast audio and real-time clients into each mode; ratios to 1 process."""
    out: dict[str, Any] = {"blast": [], "clients": []}
    for mode in plan.scaleout_modes:
        for work in ("blast", "clients"):
            try:
                row = _run(mode, work, plan)
            except Exception as exc:  # one mode that cannot run is reported, the others run
                row = {"mode": mode, "error": repr(exc)}
            out[work].append(row)
    base = out["blast"][0].get("msgs_per_s")
    for row in out["blast"]:
        if base and row.get("msgs_per_s"):
            row["ratio_to_1_process"] = round(row["msgs_per_s"] / base, 2)
    return out
