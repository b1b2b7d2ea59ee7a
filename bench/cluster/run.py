"""The phases of the cluster benchmark (see `bench.cluster`), each measured, none asserted."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.cluster.netns import Namespaces
from bench.cluster.sessions import read_sessions
from bench.core.hostproc import HostProcess, read_status

__all__ = ["Ctx", "capacity", "cluster_run", "independent_failover"]

_ROOT = Path(__file__).resolve().parents[2]
_CLUSTER_PORT = 2101
_LOAD_KEYS = ("wall_s", "host_cpu_pct", "blocked", "max_lag_s", "errors")


class Ctx:
    """What every phase shares: the namespaces, a scratch dir, the sizes, a JPEG."""

    def __init__(self, ns: Namespaces, tmp: Path, clients: int, seconds: float, jpeg: Path):
        self.ns, self.tmp, self.clients, self.seconds, self.jpeg = ns, tmp, clients, seconds, jpeg
        self.hosts: list[HostProcess] = []  # every host ever started (closed at the end)
        self.loads: list[subprocess.Popen[bytes]] = []
        self._n = 0

    def dir(self, name: str) -> Path:
        import tempfile

        return Path(tempfile.mkdtemp(prefix=f"{name}-", dir=self.tmp))

    def host(self, name: str, root: Path, **kw: Any) -> HostProcess:
        h = HostProcess(self.ns.prefix([], name), self.ns.ip(name), root / f"host-{name}", **kw)
        self.hosts.append(h)
        return h

    def cluster(self, root: Path, workers: int = 1) -> dict[str, HostProcess]:
        addrs = [f"{self.ns.ip(n)}:{_CLUSTER_PORT}" for n in self.ns.names]
        return {
            n: self.host(n, root, process_id=i, addresses=addrs, workers=workers)
            for i, n in enumerate(self.ns.names)
        }

    def independent(self, root: Path, workers: int = 1) -> dict[str, HostProcess]:
        return {n: self.host(n, root, workers=workers) for n in self.ns.names}

    def close(self) -> None:
        for p in self.loads:
            if p.poll() is None:
                p.kill()
                p.wait(5)
        for h in self.hosts:
            h.close()


def _cpu_s(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    import os

    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_loads(
    ctx: Ctx,
    root: Path,
    hosts: dict[str, HostProcess],
    specs: dict[str, dict[str, Any]],
    during: Callable[[float], None] | None = None,
) -> dict[str, Any]:
    """One load process per namespace in `specs` (client lists etc.), started together.

    `during(elapsed_s)` is called every 50 ms while they run (to kill a host, say).
    Returns the merged reports and the hosts' CPU seconds over the window.
    """
    order = list(hosts)
    start_at = time.time() + 4.0  # each load connects and waits for this moment
    procs = {}
    for ns_name, spec in specs.items():
        spec = {
            # No ZMTP heartbeats unless a phase asks: a host that applies back-pressure
            # stops reading its socket, the sender's PINGs wait behind the data, and a
            # sender that then gives up on the connection loses what was queued on it
            # (seen: gaps and loss with a 0.6 s timeout on a busy host).
            "heartbeat_ms": 0,
            "hosts": [hosts[n].endpoints for n in order],
            "jpeg": str(ctx.jpeg),
            "seconds": ctx.seconds,
            "start_at_unix": start_at,
            **spec,
        }
        tag = ns_name.replace(":", "-")
        sp, rp = root / f"load-{tag}.json", root / f"report-{tag}.json"
        sp.write_text(json.dumps(spec))
        cmd = [sys.executable, "-m", "bench.cluster.load", str(sp), str(rp)]
        where = ns_name.split(":")[0]  # "a:2": a second load process in namespace a
        p = subprocess.Popen(ctx.ns.prefix(cmd, where), cwd=_ROOT, stderr=subprocess.PIPE)
        ctx.loads.append(p)
        procs[ns_name] = (p, rp)
    time.sleep(max(0.0, start_at - time.time()))
    cpu0 = {n: _cpu_s(h.proc.pid) for n, h in hosts.items()}
    t0 = time.monotonic()
    while any(p.poll() is None for p, _ in procs.values()):
        if time.monotonic() - t0 > ctx.seconds * 3 + 30:
            break
        if during is not None:
            during(time.monotonic() - t0)
        time.sleep(0.05)
    wall = time.monotonic() - t0
    cpu = {n: _cpu_s(h.proc.pid) - cpu0[n] for n, h in hosts.items() if h.alive()}
    merged: dict[str, Any] = {
        "clients": {},
        "events": [],
        "blocked": 0,
        "max_lag_s": 0.0,
        "errors": [],
    }
    for ns_name, (p, rp) in procs.items():
        if p.poll() is None:
            p.kill()
        p.wait(5)
        try:
            r = json.loads(rp.read_text())
        except (OSError, ValueError):
            err = (p.stderr.read() if p.stderr else b"").decode(errors="replace")[-300:]
            merged["errors"].append(f"load in {ns_name}: no report ({err})")
            continue
        merged["clients"].update(r["clients"])
        merged["events"] += r["events"]
        merged["blocked"] += r["blocked"]
        merged["max_lag_s"] = max(merged["max_lag_s"], r["max_lag_s"])
    merged["wall_s"] = round(wall, 2)
    merged["host_cpu_pct"] = {n: round(100 * c / wall, 1) for n, c in cpu.items()}
    return merged


def _names(prefix: str, n: int) -> list[str]:
    return [f"{prefix}{i:05d}" for i in range(n)]


def _split_clients(names: list[str], hosts: list[str]) -> dict[str, list[dict[str, Any]]]:
    """Clients spread over the hosts; each lists its own host first, the others after."""
    out: dict[str, list[dict[str, Any]]] = {h: [] for h in hosts}
    for i, name in enumerate(names):
        k = i % len(hosts)
        rest = [j for j in range(len(hosts)) if j != k]
        out[hosts[k]].append({"name": name, "hosts": [k, *rest]})
    return out


def _account(load: dict[str, Any], written: dict[str, list[Any]]) -> dict[str, Any]:
    """Sent vs written for every client: chunks, sessions, who wrote them."""
    sent = sum(c["audio"] for c in load["clients"].values())
    sent_ok = sum(p["audio"] for c in load["clients"].values() for p in c["per_host"].values())
    blocked = sum(p["blocked"] for c in load["clients"].values() for p in c["per_host"].values())
    rec = sum(w.chunks for ws in written.values() for w in ws)
    by_writer: dict[str, int] = {}
    for ws in written.values():
        for w in ws:
            by_writer[w.host] = by_writer.get(w.host, 0) + 1
    multi = sum(1 for c in load["clients"] if len(written.get(c, [])) > 1)
    missing = sum(1 for c in load["clients"] if not written.get(c))
    return {
        "audio_generated": sent,
        "audio_sent": sent_ok,
        "audio_not_sent_blocked": blocked,
        "audio_written_chunks": round(rec, 1),
        # sent but not in any session file: lost in flight, or still queued when the run
        # ended (a host that fell behind; the loads wait 2 s, the hosts stop 20 s later)
        "audio_sent_not_written": round(sent_ok - rec, 1),
        "sessions_by_writer": by_writer,
        "clients_with_more_than_one_session": multi,
        "clients_without_session": missing,
    }


def _via_writer(
    load: dict[str, Any], written: dict[str, list[Any]], order: list[str]
) -> dict[str, int]:
    """How many clients that sent to host X had their session written by host Y ("X->Y")."""
    out: dict[str, int] = {}
    for name, c in load["clients"].items():
        via = {order[int(h)] for h in c["per_host"]}
        for w in written.get(name, []):
            for v in via:
                key = f"{v}->{w.host}"
                out[key] = out.get(key, 0) + 1
    return out


def _stop_all(hosts: dict[str, HostProcess]) -> dict[str, Any]:
    """SIGINT to every process first (a cluster stops together), then wait for each."""
    for h in hosts.values():
        h.interrupt()
    return {n: h.stop(30) for n, h in hosts.items()}


def _wait_up(hosts: dict[str, HostProcess], timeout: float = 40.0) -> dict[str, bool]:
    """Until every host wrote status.json once (its reporter runs) or `timeout` passed."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if all(read_status(h.data_dir) is not None for h in hosts.values()):
            break
        if not all(h.alive() for h in hosts.values()):
            break
        time.sleep(0.2)
    time.sleep(0.5)
    return {n: read_status(h.data_dir) is not None for n, h in hosts.items()}


def _status_totals(hosts: dict[str, HostProcess]) -> dict[str, Any]:
    out = {}
    for n, h in hosts.items():
        s = read_status(h.data_dir)
        out[n] = (
            None
            if s is None
            else {
                "pid": s.get("pid"),
                "audio": s["audio"].get("chunks_received"),
                "video": s["video"].get("frames_received"),
                "clients": s.get("client_count"),
                "drops": s.get("drops"),
            }
        )
    return out


def cluster_run(ctx: Ctx, *, kill_at: float | None = None, workers: int = 1) -> dict[str, Any]:
    """A 2-process Bytewax cluster, one process per namespace, clients spread over both.

    Three extra clients carry the same tone stream: twin-a only via a, twin-b only via b,
    twin-ab via a then b (it reconnects elsewhere halfway). With `kill_at`, host b is
    SIGKILLed that many seconds in.
    """
    root = ctx.dir("cluster-kill" if kill_at is not None else "cluster")
    hosts = ctx.cluster(root, workers)
    up = _wait_up(hosts)
    order = list(hosts)
    spread = _split_clients(_names("c", ctx.clients), order)
    spread["a"] += [{"name": "twin-a", "hosts": [0, 1]}, {"name": "twin-ab", "hosts": [0, 1]}]
    spread["b"] += [{"name": "twin-b", "hosts": [1, 0]}]
    specs = {n: {"clients": cl} for n, cl in spread.items()}
    specs["a"]["switch"] = [{"name": "twin-ab", "at_s": ctx.seconds / 2, "to": 1}]
    seen: dict[str, Any] = {}

    def during(t: float) -> None:
        if kill_at is not None and t >= kill_at and "killed" not in seen:
            hosts["b"].kill()
            seen["killed"] = t
        if "killed" in seen and "a_exit_s" not in seen and not hosts["a"].alive():
            seen["a_exit_s"] = round(t - seen["killed"], 2)
            seen["a_exit_code"] = hosts["a"].proc.returncode

    load = run_loads(ctx, root, hosts, specs, during)
    status = _status_totals(hosts)
    if kill_at is not None and "killed" in seen and hosts["a"].alive():
        time.sleep(3)  # does the survivor live on?
        during(ctx.seconds + 3)
    a_alive_after = hosts["a"].alive() if kill_at is not None else None
    codes = _stop_all(hosts)
    written = read_sessions({n: h.data_dir for n, h in hosts.items()})
    names = ("twin-a", "twin-b", "twin-ab")
    twins = {t: [(w.host, len(w.audio)) for w in written.get(t, [])] for t in names}
    ref = written.get("twin-a", [])
    same = {
        t: bool(ref) and len(written.get(t, [])) == 1 and written[t][0].audio == ref[0].audio
        for t in ("twin-b", "twin-ab")
    }
    out = {
        "hosts": {n: {"cmd": " ".join(h.cmd), "ip": h.ip} for n, h in hosts.items()},
        "up": up,
        "connected_at_start": "see load errors" if load["errors"] else True,
        "load": {k: load[k] for k in (*_LOAD_KEYS, "events")},
        "status": status,
        "account": _account(load, written),
        "sent_via_to_written_by": _via_writer(load, written, order),
        "twins": twins,
        "twin_audio_identical_to_twin_a": same,
        "exit_codes": codes,
        "logs": {n: h.log_tail(4) for n, h in hosts.items()},
    }
    if kill_at is not None:
        out["kill"] = {**seen, "a_alive_3s_after_run": a_alive_after}
    return out


def independent_failover(ctx: Ctx, *, kill_at: float, unplug: bool = False) -> dict[str, Any]:
    """Two independent hosts (no -a); clients list both; b is lost at `kill_at` s.

    Lost = SIGKILL (the kernel closes its sockets, so clients see the connection drop at
    once), or with `unplug` its link goes down first (a machine that loses power or
    network: nothing tells the clients, only unanswered heartbeats do), then SIGKILL.
    Both load processes run in namespace a, so pulling b's link cuts only host b off.
    """
    root = ctx.dir("unplug" if unplug else "failover")
    hosts = ctx.independent(root)
    up = _wait_up(hosts)
    order = list(hosts)
    spread = _split_clients(_names("c", ctx.clients), order)
    # heartbeats only where nothing else tells the client: a link pulled
    hb = {"heartbeat_ms": 200, "heartbeat_timeout_ms": 600} if unplug else {}
    specs = {f"a:{n}": {"clients": cl, "failover": True, **hb} for n, cl in spread.items()}
    seen: dict[str, Any] = {}

    def during(t: float) -> None:
        if t >= kill_at and "killed" not in seen:
            if unplug:
                ctx.ns.link_down("b")
            hosts["b"].kill()
            seen["killed"] = round(t, 2)

    try:
        load = run_loads(ctx, root, hosts, specs, during)
    finally:
        if unplug:
            ctx.ns.link_up("b")  # for the phases after this one
    a_alive = hosts["a"].alive()
    status = _status_totals(hosts)
    codes = _stop_all(hosts)
    written = read_sessions({n: h.data_dir for n, h in hosts.items()})
    moved = [e for e in load["events"] if "to" in e]
    detect = sorted(round(e["t_s"] - seen.get("killed", 0), 3) for e in moved)
    b_clients = [c for c in load["clients"].values() if "1" in c["per_host"]]
    sent_to_b = sum(c["per_host"]["1"]["audio"] for c in b_clients)
    names_b = [n for n, c in load["clients"].items() if "1" in c["per_host"]]
    rec_b = sum(w.chunks for n in names_b for w in written.get(n, []) if w.host == "b")
    rec_b_on_a = sum(w.chunks for n in names_b for w in written.get(n, []) if w.host == "a")
    a_only = [n for n, c in load["clients"].items() if "1" not in c["per_host"]]
    sent_a_only = sum(load["clients"][n]["audio"] for n in a_only)
    rec_a_only = sum(w.chunks for n in a_only for w in written.get(n, []))
    return {
        "hosts": {n: {"cmd": " ".join(h.cmd), "ip": h.ip} for n, h in hosts.items()},
        "lost_by": "link down, then SIGKILL" if unplug else "SIGKILL",
        "up": up,
        "load": {k: load[k] for k in _LOAD_KEYS},
        "status_before_stop": status,
        "a_alive_after_b_killed": a_alive,
        "killed_b_at_s": seen.get("killed"),
        "failovers": len(moved),
        "failover_detect_s": {"min": min(detect, default=None), "max": max(detect, default=None)},
        "b_clients": {
            "count": len(b_clients),
            "generated": sum(c["audio"] for c in b_clients),
            "sent_to_b": sent_to_b,
            "written_by_b": round(rec_b, 1),
            "lost_in_flight_at_b": round(sent_to_b - rec_b, 1),
            "not_sent_while_detecting": sum(c["per_host"]["1"]["blocked"] for c in b_clients),
            "sent_to_a_after_failover": sum(
                c["per_host"].get("0", {}).get("audio", 0) for c in b_clients
            ),
            "written_by_a_after_failover": round(rec_b_on_a, 1),
            "sessions_per_client": sorted({len(written.get(n, [])) for n in names_b}),
        },
        "a_clients": {"count": len(a_only), "sent": sent_a_only, "written": round(rec_a_only, 1)},
        "account": _account(load, written),
        "exit_codes": codes,
        "logs": {n: h.log_tail(3) for n, h in hosts.items()},
    }


def capacity(ctx: Ctx, mode: str) -> dict[str, Any]:
    """N clients for the run on one host (`single`), a 2-process cluster, or 2 independent."""
    root = ctx.dir(f"capacity-{mode}")
    if mode == "single":
        hosts = {"a": ctx.host("a", root)}
    elif mode == "cluster":
        hosts = ctx.cluster(root)
    else:
        hosts = ctx.independent(root)
    up = _wait_up(hosts)
    names = _names("c", ctx.clients)
    spread = _split_clients(names, list(hosts))
    # the load always runs in both namespaces (same sender cost in every mode)
    if mode == "single":
        specs = {"a": {"clients": spread["a"][::2]}, "b": {"clients": spread["a"][1::2]}}
    else:
        specs = {n: {"clients": cl} for n, cl in spread.items()}
    load = run_loads(ctx, root, hosts, specs)
    t_end = time.monotonic()
    generated = sum(c["audio"] for c in load["clients"].values())
    drained_after = None
    while time.monotonic() - t_end < 20:
        tot = sum((s or {}).get("audio") or 0 for s in _status_totals(hosts).values())
        if tot >= generated:
            drained_after = round(time.monotonic() - t_end, 2)
            break
        time.sleep(0.1)
    status = _status_totals(hosts)
    codes = _stop_all(hosts)
    written = read_sessions({n: h.data_dir for n, h in hosts.items()})
    acc = _account(load, written)
    return {
        "mode": mode,
        "up": up,
        "clients": ctx.clients,
        "load": {k: load[k] for k in _LOAD_KEYS},
        "counted_all_within_s_of_end": drained_after,
        "status": status,
        "account": acc,
        "pass": acc["audio_sent_not_written"] == 0
        and acc["audio_not_sent_blocked"] == 0
        and load["max_lag_s"] < 1.0
        and drained_after is not None
        and drained_after < 2.0,
        "exit_codes": codes,
    }
