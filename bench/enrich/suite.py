"""Enrichment benchmark of the live and replay flows (a script, not a test).

    python -m bench.enrich                 # full run, about 7 minutes
    python -m bench.enrich --quick         # about 3 minutes
    python -m bench.enrich --json          # machine-readable
    python -m bench.enrich --only live --only whisperlive
    python -m bench.enrich --setup-peer    # once: WhisperLive's own venv (.venv-wl)

Sections: direct model timings (real-time factor of VAD, transcription, diarization,
detection); live runs with 1, 2 and 4 clients speaking espeak-ng phrases in real time
(end of speech -> transcript on the PUB stream, speaker-label latency, per-stage RTF in
the flow, ingest stall at `streams.items`, against the same senders with the enrichment
off); WhisperLive on the same audio at the same pace; the most real-time clients the
embedded models sustain (transcript p90 <= 2 s), 1 worker batching on and off and
`-w 2`, with where the time goes; replay speed of recordings/sample.zmqcap;
DER/WER/cpWER through `ambient_flow.cli.evaluate`. Everything is on 127.0.0.1, every
loop is bounded, senders are separate processes, and nothing is downloaded (local model
paths, HF_HUB_OFFLINE=1). See bench/README.md.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from bench.core.runner import Section, Suite
from bench.enrich.capacity import capacity
from bench.enrich.context import Ctx, Plan, offline
from bench.enrich.live import live
from bench.enrich.model_timings import model_timings
from bench.enrich.offline import accuracy, replay
from bench.enrich.report import BODIES, TITLES
from bench.enrich.whisperlive import WL_VENV, setup_peer, whisperlive

__all__ = ["SUITE"]

_RUNS = (
    ("models", model_timings),
    ("live", live),
    ("whisperlive", whisperlive),
    ("capacity", capacity),  # after live: its levels are the first rungs
    ("replay", replay),
    ("accuracy", accuracy),
)


def _arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--wl-venv", help=f"WhisperLive's virtualenv (default: {WL_VENV})")
    parser.add_argument(
        "--setup-peer", action="store_true", help="create the WhisperLive venv and exit"
    )


def _venv(args: argparse.Namespace) -> Path:
    return Path(args.wl_venv) if args.wl_venv else WL_VENV


def _instead(args: argparse.Namespace) -> int | None:
    offline()  # before any model library is imported, whatever runs next
    return setup_peer(_venv(args)) if args.setup_peer else None


def _prepare(plan: Plan, args: argparse.Namespace) -> Ctx:
    return Ctx(plan=plan, wl_venv=_venv(args)).load()


SUITE = Suite(
    name="enrich",
    description=__doc__ or "",
    heading="enrichment benchmark",
    note=(
        "note: senders, the host and the peer share these cores with whatever else runs;",
        "      the peer runs in the same session on the same audio; compare ratios.",
    ),
    sections=tuple(Section(n, run, TITLES[n], BODIES[n]) for n, run in _RUNS),
    plan=Plan.of,
    prepare=_prepare,
    prepare_label="loading models",
    add_arguments=_arguments,
    instead=_instead,
)
