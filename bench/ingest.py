"""Ingest benchmark of the live Bytewax flow (a script, not a test).

    .venv/bin/python -m bench.ingest            # full run, about 6 minutes
    .venv/bin/python -m bench.ingest --quick    # about 1 minute
    .venv/bin/python -m bench.ingest --json     # machine-readable
    .venv/bin/python -m bench.ingest --only throughput --only latency

Sections: idle CPU; throughput of audio/video envelopes against a plain pyzmq PULL
loop; many real-time clients; arrival latency over ZeroMQ and raw TCP; ingest stall
behind a slow step (inline map vs offload); replay speed; imagezmq peer. Senders are
separate processes; every socket is on 127.0.0.1 with a free port; every loop is
bounded; a section that fails is reported and the run goes on. See bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import sys
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as `python bench/ingest.py`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

ORDER = ("idle", "throughput", "imagezmq", "latency", "stall", "replay", "clients")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.ingest",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--quick", action="store_true", help="about a minute instead of six")
    parser.add_argument("--json", action="store_true", help="print JSON instead of the report")
    parser.add_argument("--only", action="append", choices=ORDER, help="run only these sections")
    parser.add_argument("--out", help="also write the JSON result to this file")
    parser.add_argument("-v", "--verbose", action="store_true", help="show the host's INFO logs")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )

    from bench._report import render
    from bench._sections import SECTIONS, Plan

    plan = Plan.quick() if args.quick else Plan()
    result: dict[str, Any] = {
        "command": " ".join([Path(sys.executable).name, "-m", "bench.ingest", *sys.argv[1:]]),
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "processor": _cpu_model(),
        },
        "mode": "quick" if args.quick else "full",
        "sections": {},
    }
    t_all = time.monotonic()
    for name in ORDER:
        if args.only and name not in args.only:
            continue
        if not args.json:
            print(f"... {name}", file=sys.stderr, flush=True)
        t = time.monotonic()
        try:
            section = SECTIONS[name](plan)
        except Exception as exc:  # a broken section is reported; the others still run
            section = {"error": repr(exc), "traceback": traceback.format_exc(limit=6)}
        section["section_s"] = round(time.monotonic() - t, 1)
        result["sections"][name] = section
    result["total_s"] = round(time.monotonic() - t_all, 1)
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=2, default=str))
    print(json.dumps(result, indent=2, default=str) if args.json else render(result))
    return 0


def _cpu_model() -> str:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:  # not Linux: the platform string says enough
        return platform.processor()
    for line in text.splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor()


if __name__ == "__main__":
    sys.exit(main())
