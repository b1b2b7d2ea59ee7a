"""Who said what on real and generated conversation: the issue 11 targets (a script, not a test).

    python -m bench.speech                 # full run, about 31 minutes here
    python -m bench.speech --quick         # about 10 minutes
    python -m bench.speech --json --out r.json --only real --only live
    python -m bench.speech --data DIR      # where the generated sets are kept (default: tmp)

Sections: the generated sets (dev and held-out, seeded; made once, then reused); pyannote's
real two-speaker call, the same call after 8 offsets of silence (pooled: one clip's
figures move with where its speech falls on the host's grids), the dev set, the held-out
set and long sessions (4-5 min, talkers who leave for over a minute and come back; dev and
held-out), each replayed through the real
replay graph on the embedded defaults and scored from the session directories as a
consumer reads them (`ambient-flow eval`): DER at collar 0 and 0.25 with missed / false
alarm / confusion, speakers found, WER, cpWER, first-label latency, transcript waits
during continuous talk, per-step costs; the same with speaker-change cuts off (the
ablation that chose the default); live runs at real-time pace: end of speech -> final
transcript with 1 and 4 clients, speaker-label latency, the real call streamed live.
Nothing is downloaded (wheel models, HF_HUB_OFFLINE=1). See bench/README.md.
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path
from typing import Any

from bench.core.runner import Section, Suite
from bench.speech.context import DEFAULT_DATA, Ctx, Plan
from bench.speech.devset import build_set
from bench.speech.live import live_call, live_phrases
from bench.speech.longset import build_long_set
from bench.speech.measure import measure_set, real_call, refs_of, shifted_calls, spread
from bench.speech.report import BODIES, TITLES

__all__ = ["SUITE"]


def _set_dir(ctx: Ctx, split: str) -> Path:
    seed = ctx.plan.dev_seed if split == "dev" else ctx.plan.heldout_seed
    return ctx.data / f"{split}-{seed}"


def sets(ctx: Ctx) -> dict[str, Any]:
    """Generate (or reuse) the dev and held-out sets."""
    out: dict[str, Any] = {}
    plan = ctx.plan
    splits = (
        ("dev", plan.dev_seed, plan.dev_count),
        ("heldout", plan.heldout_seed, plan.heldout_count),
    )
    for split, seed, count in splits:
        records = build_set(_set_dir(ctx, split), split, seed, count, ctx.data / "espeak-cache")
        kinds: dict[str, int] = {}
        for r in records:
            kinds[str(r["kind"])] = kinds.get(str(r["kind"]), 0) + 1
        out[split] = {
            "dir": str(_set_dir(ctx, split)),
            "clips": len(records),
            "seconds": round(sum(float(r["duration_s"]) for r in records), 1),  # type: ignore[arg-type]
            "kinds": kinds,
        }
    return out


def _run(ctx: Ctx, split: str, cuts: bool = True) -> dict[str, Any]:
    settings = dataclasses.replace(ctx.settings, speaker_change_cuts=cuts)
    if split == "real":
        refs = [real_call()]
    else:
        count = ctx.plan.dev_run if split == "dev" else ctx.plan.heldout_run
        folder = _set_dir(ctx, split)
        if not (folder / "manifest.jsonl").exists():
            sets(ctx)
        refs = refs_of(folder)[:count]
    return measure_set(refs, ctx.models, settings)


def shifts(ctx: Ctx) -> dict[str, Any]:
    """The real call after 0-0.875 s of silence: its figures pooled, and their spread."""
    out = measure_set(shifted_calls(ctx.data / "real-shifts"), ctx.models, ctx.settings)
    out["spread"] = spread(out["clips"])
    return out


def long_sessions(ctx: Ctx) -> dict[str, Any]:
    """Long clips (4-5 min) whose talkers leave for over a minute and come back."""
    plan = ctx.plan
    out: dict[str, Any] = {}
    for split, seed in (("dev", plan.long_dev_seed), ("heldout", plan.long_heldout_seed)):
        folder = ctx.data / f"long-{split}-{seed}"
        build_long_set(folder, split, seed, plan.long_count, ctx.data / "espeak-cache")
        out[split] = measure_set(refs_of(folder)[: plan.long_run], ctx.models, ctx.settings)
    return out


def ablation(ctx: Ctx) -> dict[str, Any]:
    """Every set with speaker-change cuts off (the default has them on)."""
    if not ctx.plan.ablation:
        return {"skipped": "not in --quick"}
    splits = ("real", "dev", "heldout")
    return {split: _run(ctx, split, cuts=False)["aggregate"] for split in splits}


def live(ctx: Ctx) -> dict[str, Any]:
    enrich = ctx.enrich()
    return {"phrases": live_phrases(enrich, ctx.plan.live_levels),
            "call": live_call(enrich, real_call())}  # fmt: skip


_RUNS = (
    ("sets", sets),
    ("real", lambda ctx: _run(ctx, "real")),
    ("shifts", shifts),
    ("dev", lambda ctx: _run(ctx, "dev")),
    ("heldout", lambda ctx: _run(ctx, "heldout")),
    ("long", long_sessions),
    ("ablation", ablation),
    ("live", live),
)


def _arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", help=f"where the generated sets live (default {DEFAULT_DATA})")


def _prepare(plan: Plan, args: argparse.Namespace) -> Ctx:
    return Ctx.load(plan, Path(args.data) if args.data else DEFAULT_DATA)


SUITE = Suite(
    name="speech",
    description=__doc__ or "",
    heading="speech benchmark (who said what)",
    note=(
        "note: replays are scored from the session files as a consumer reads them; their",
        "      latencies are algorithmic (recorded arrival times); the live section adds compute.",
    ),
    sections=tuple(Section(n, run, TITLES[n], BODIES[n]) for n, run in _RUNS),
    plan=Plan.of,
    prepare=_prepare,
    prepare_label="loading models",
    add_arguments=_arguments,
)
