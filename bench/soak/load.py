"""The soak's load, in processes of their own: `python -m bench.soak.load clients|hostile`.

`clients` runs `bench.soak.clients`, `hostile` runs `bench.soak.hostile`; each prints one
JSON line of what it sent when its time is up (or on SIGTERM).
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="bench.soak.load")
    p.add_argument("role", choices=["clients", "hostile"])
    for name in ("audio", "video", "control", "tcp"):
        p.add_argument(f"--{name}-port", type=int, required=True)
    p.add_argument("--seconds", type=float, required=True)
    p.add_argument("--clients", type=int, default=6)
    p.add_argument("--rate", type=float, default=300.0)
    p.add_argument("--seed", type=int, default=1)
    args = p.parse_args(argv)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    if args.role == "clients":
        from bench.soak.clients import run_clients

        result = run_clients(args, stop)
    else:
        from bench.soak.hostile import run_hostile

        result = run_hostile(args, stop)
    print(json.dumps({"role": args.role, **result}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
