"""Capacity: the most real-time clients that pass, with the batchers on and off.

The live section's levels (batched, same criteria) are the first rungs; then the
plan's levels batched until one fails; unbatched (`batch_max=1`) from the largest
batched level one rung up or down; where the two modes disagree, that level runs
once more in both modes and a mode keeps it only if every run of it passed.
"""

from __future__ import annotations

from typing import Any

from bench.enrich.context import Ctx
from bench.enrich.live import live_run

__all__ = ["capacity"]


def capacity(ctx: Ctx) -> dict[str, Any]:
    """Most real-time clients that pass, with the batchers on and off (batch_max=1)."""
    plan = ctx.plan
    rows: list[dict[str, Any]] = []
    tally: dict[tuple[int, bool], list[bool]] = {}  # (clients, batching) -> pass per run

    def run(n: int, batching: bool) -> bool:
        try:
            row = live_run(ctx, ctx.tracks(n, plan.capacity_phrases), batching=batching)
        except Exception as exc:  # a level that cannot run fails
            row = {"clients": n, "batching": batching, "pass": False, "error": repr(exc)}
        rows.append(row)
        tally.setdefault((n, batching), []).append(bool(row.get("pass")))
        return bool(row.get("pass"))

    best: dict[bool, int] = {True: 0, False: 0}
    # the live section's levels (batched, same criteria) are the first rungs of the ladder
    seeded = [r for r in ctx.live_rows if "pass" in r and r.get("batching")]
    for r in sorted(seeded, key=lambda r: int(r["clients"])):
        if not r["pass"]:
            break
        best[True] = int(r["clients"])
    ladder = sorted({*(int(r["clients"]) for r in seeded), *plan.capacity_levels})
    if best[True] == max((int(r["clients"]) for r in seeded), default=0):
        for n in [n for n in ladder if n > best[True]]:
            if not run(n, True):
                break
            best[True] = n
    # batching off: the largest batched level, then one rung up (if it passes) or down
    start = best[True] or ladder[0]
    i = ladder.index(start)
    if run(start, False):
        best[False] = start
        if i + 1 < len(ladder) and run(ladder[i + 1], False):
            best[False] = ladder[i + 1]
    elif i > 0 and run(ladder[i - 1], False):
        best[False] = ladder[i - 1]
    # where the two modes disagree, run that level once more in both modes (the box is
    # noisy): a mode keeps a level only if every run of it passed
    if plan.capacity_repeat and best[True] != best[False]:
        top = max(best.values())
        for batching in (False, True):
            run(top, batching)
        for batching in (True, False):
            if best[batching] == top and not all(tally[(top, batching)]):
                lower = [n for n in ladder if n < top and all(tally.get((n, batching), [True]))]
                best[batching] = max(lower, default=0)
    return {
        "criteria": (
            f"no audio lost, senders on schedule, >= 90 % of phrases transcribed, transcript "
            f"p90 <= {plan.latency_bound_ms:g} ms, last-third median <= first-third + 500 ms, "
            "no diarization window dropped, speaker-label p90 (2nd half) <= 1500 ms"
        ),
        "phrases_per_client": plan.capacity_phrases,
        "video_fps": plan.video_fps,
        "seeded_from_live": [
            {"clients": r["clients"], "pass": r["pass"], "why": r["why"]} for r in seeded
        ],
        "rows": rows,
        "passes": {f"{n} {'on' if b else 'off'}": v for (n, b), v in sorted(tally.items())},
        "largest_passing_batched": best[True],
        "largest_passing_unbatched": best[False],
    }
