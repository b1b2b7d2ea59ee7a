"""The cluster benchmark's command line, clean-up and report."""

from __future__ import annotations

import argparse
import json
import shutil
import signal
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any

from bench.cluster.netns import Namespaces, cleanup_stale, require_root

__all__ = ["main"]

PHASES = ("cluster", "kill", "failover", "unplug", "capacity")


def _interrupt(signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.cluster", description=__doc__)
    p.add_argument("--clients", type=int, default=None, help="real-time clients (200; quick 60)")
    p.add_argument("--seconds", type=float, default=None, help="seconds sending (8; quick 5)")
    p.add_argument("--quick", action="store_true", help="fewer clients, shorter runs")
    p.add_argument("--only", action="append", choices=PHASES, help="run only these phases")
    p.add_argument(
        "--capacity-clients",
        type=int,
        action="append",
        help="client levels of the capacity phase (repeatable; default 400, 800)",
    )
    p.add_argument("--json", action="store_true", help="print the JSON instead of the report")
    p.add_argument("--out", help="also write the JSON here")
    p.add_argument("--keep", action="store_true", help="keep the data dirs (their path is printed)")
    args = p.parse_args(argv)
    why = require_root()
    if why:
        print(f"bench.cluster: skipped: {why}", file=sys.stderr)
        return 2
    clients = args.clients or (60 if args.quick else 200)
    seconds = args.seconds or (5.0 if args.quick else 8.0)
    levels = args.capacity_clients or ([300] if args.quick else [400, 800])
    for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(s, _interrupt)
    result: dict[str, Any] = {
        "command": " ".join(["python", "-m", "bench.cluster", *(argv or sys.argv[1:])]),
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "stale_namespaces_removed": cleanup_stale(),
        "clients": clients,
        "seconds": seconds,
        "phases": {},
    }
    from bench.cluster.run import Ctx, cluster_run, independent_failover
    from bench.core.media import camera_jpegs

    tmp = Path(tempfile.mkdtemp(prefix="af-bench-cluster-"))
    t_all = time.monotonic()
    try:
        jpeg = tmp / "frame.jpg"
        jpeg.write_bytes(camera_jpegs(320, 240, count=1)[0])
        with Namespaces() as ns:
            result["namespaces"] = {n: {"netns": ns.ns(n), "ip": ns.ip(n)} for n in ns.names}
            phases: list[tuple[str, str, Callable[[Ctx], Any]]] = [
                ("cluster", "cluster", lambda c: cluster_run(c)),
                ("kill", "kill", lambda c: cluster_run(c, kill_at=c.seconds / 2)),
                ("failover", "failover", lambda c: independent_failover(c, kill_at=c.seconds / 2)),
                (
                    "unplug",
                    "unplug",
                    lambda c: independent_failover(c, kill_at=c.seconds / 2, unplug=True),
                ),
            ]
            for n in levels:
                for mode in ("single", "cluster", "independent"):
                    phases.append(("capacity", f"capacity_{mode}_{n}", _cap(mode, n)))
            for group, name, fn in phases:
                if args.only and group not in args.only:
                    continue
                print(f"... {name}", file=sys.stderr, flush=True)
                ctx = Ctx(ns, tmp, clients, seconds, jpeg)
                t = time.monotonic()
                try:
                    out = fn(ctx)
                except KeyboardInterrupt:
                    raise
                except Exception as exc:  # reported in place; the other phases still run
                    out = {"error": repr(exc), "traceback": traceback.format_exc(limit=6)}
                finally:
                    ctx.close()
                out["phase_s"] = round(time.monotonic() - t, 1)
                result["phases"][name] = out
    except KeyboardInterrupt as exc:
        result["interrupted"] = str(exc) or "Ctrl-C"
    finally:
        if args.keep:
            result["data"] = str(tmp)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
        result["namespaces_left"] = cleanup_stale() + _ours_left()
    result["total_s"] = round(time.monotonic() - t_all, 1)
    text = json.dumps(result, indent=2, default=str)
    if args.out:
        Path(args.out).write_text(text)
    if args.json:
        print(text)
    else:
        from bench.cluster.report import render

        print(render(result))
    return 1 if "interrupted" in result else 0


def _cap(mode: str, n: int) -> Callable[[Any], Any]:
    def run(c: Any) -> Any:
        from bench.cluster.run import capacity

        c.clients = n
        return capacity(c, mode)

    return run


def _ours_left() -> list[str]:
    import os
    import subprocess

    text = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    return [ln.split()[0] for ln in text.splitlines() if f"-{os.getpid()}-" in ln]
