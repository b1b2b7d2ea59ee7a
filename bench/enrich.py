"""Enrichment benchmark of the live and replay flows (a script, not a test).

    .venv/bin/python -m bench.enrich                 # full run, about 8 minutes
    .venv/bin/python -m bench.enrich --quick         # about 4 minutes
    .venv/bin/python -m bench.enrich --json          # machine-readable
    .venv/bin/python -m bench.enrich --only live --only whisperlive
    .venv/bin/python -m bench.enrich --setup-peer    # once: WhisperLive's own venv

Sections: direct model timings (real-time factor of VAD, transcription, diarization,
detection); live runs with 1, 2 and 4 clients speaking espeak-ng phrases in real time
(end of speech -> transcript on the PUB stream, speaker-label latency, per-stage RTF in
the flow, ingest stall at `streams.items`, against the same senders with the enrichment
off); WhisperLive on the same audio at the same pace; the most real-time clients the
embedded models sustain, batchers on and off; replay speed of recordings/sample.zmqcap;
DER/WER/cpWER through `ambient_flow.cli.evaluate`. Everything is on 127.0.0.1, every
loop is bounded, senders are separate processes, and nothing is downloaded (local model
paths, HF_HUB_OFFLINE=1). See bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import sys
import tempfile
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as `python bench/enrich.py`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

ORDER = ("models", "live", "whisperlive", "capacity", "replay", "accuracy")


def _offline() -> None:
    """No hub, ever: set before any model library is imported."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("YOLO_OFFLINE", "1")
    os.environ.setdefault("YOLO_AUTOINSTALL", "0")
    os.environ.setdefault("YOLO_CONFIG_DIR", str(Path(tempfile.gettempdir()) / "af-bench-yolo"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.enrich",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--quick", action="store_true", help="fewer phrases, levels and repeats")
    parser.add_argument("--json", action="store_true", help="print JSON instead of the report")
    parser.add_argument("--only", action="append", choices=ORDER, help="run only these sections")
    parser.add_argument("--out", help="also write the JSON result to this file")
    parser.add_argument("--wl-venv", help="WhisperLive's virtualenv (default: .venv-wl)")
    parser.add_argument(
        "--setup-peer", action="store_true", help="create the WhisperLive venv and exit"
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="show the host's INFO logs")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    _offline()

    from bench._enrich_report import render
    from bench._enrich_sections import SECTIONS, WL_VENV, Ctx, Plan, setup_peer

    venv = Path(args.wl_venv) if args.wl_venv else WL_VENV
    if args.setup_peer:
        return setup_peer(venv)
    plan = Plan.quick() if args.quick else Plan()
    ctx = Ctx(plan=plan, wl_venv=venv)
    result: dict[str, Any] = {
        "command": " ".join(["python", "-m", "bench.enrich", *sys.argv[1:]]),
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "processor": _cpu_model(),
        },
        "mode": "quick" if args.quick else "full",
        "plan": dict(plan.__dict__),
        "sections": {},
    }
    t_all = time.monotonic()
    if not args.json:
        print("... loading models", file=sys.stderr, flush=True)
    ctx.load()
    for name in ORDER:
        if args.only and name not in args.only:
            continue
        if not args.json:
            print(f"... {name}", file=sys.stderr, flush=True)
        t = time.monotonic()
        try:
            section = SECTIONS[name](ctx)
        except Exception as exc:  # a broken section is reported; the others still run
            section = {"error": repr(exc), "traceback": traceback.format_exc(limit=8)}
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
