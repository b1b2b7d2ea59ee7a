"""Capacity: the most real-time clients that pass, with 1 worker and `-w 2`, batching on/off.

One worker: the live section's levels (batched, same criteria) are the first rungs;
then the plan's levels batched until one fails; unbatched (`batch_max=1`) from the
largest batched level one rung up or down; where the two modes disagree, that level
runs once more in both modes and a mode keeps it only if every run of it passed.
`-w 2` (two Bytewax worker threads in this one process, sharing the model stage as
`bytewax.run -w 2` does): batched, from one worker's largest level up until a level
fails (or down until one passes); its largest level runs once more and is kept only
if both runs passed. Where the time goes: each worker count's largest passing level
and first failing one, split into the model stages' busy time and the rest.
"""

from __future__ import annotations

from typing import Any

from bench.enrich.context import Ctx
from bench.enrich.live import live_run

__all__ = ["capacity", "where_time_goes"]

Key = tuple[int, int, bool]  # (workers, clients, batching)


def where_time_goes(row: dict[str, Any]) -> dict[str, Any]:
    """A level's time: each model stage's busy time (wall time inside its model calls, so
    on a saturated box it includes waiting for a core) per second of the run and as a
    share of all model-call time, and the host process's CPU (cores: seconds per second)."""
    seconds = float(row["seconds"]) or 1.0
    busy = {name: float(st.get("busy_s", 0.0)) for name, st in row.get("stages", {}).items()}
    total = sum(busy.values()) or 1.0
    return {
        "workers": row.get("workers", 1),
        "clients": row["clients"],
        "pass": row.get("pass"),
        "seconds": row["seconds"],
        "stage_busy_per_s": {k: round(v / seconds, 3) for k, v in busy.items()},
        "stage_busy_share": {k: round(v / total, 3) for k, v in busy.items()},
        "host_cpu_cores": round(float(row.get("host_cpu_s", 0.0)) / seconds, 3),
        "machine_busy_pct": row.get("machine", {}).get("busy_pct"),
        "transcript_p90_ms": row.get("transcript", {}).get("latency_ms_p90"),
        "why": row.get("why", []),
    }


def capacity(ctx: Ctx) -> dict[str, Any]:
    """Most real-time clients that pass: 1 worker batched and unbatched, `-w 2` batched."""
    plan = ctx.plan
    rows: list[dict[str, Any]] = []
    tally: dict[Key, list[bool]] = {}

    def run(n: int, batching: bool, workers: int = 1) -> bool:
        try:
            row = live_run(
                ctx, ctx.tracks(n, plan.capacity_phrases), batching=batching, workers=workers
            )
        except Exception as exc:  # a level that cannot run fails
            row = {
                "clients": n,
                "workers": workers,
                "batching": batching,
                "pass": False,
                "error": repr(exc),
            }
        rows.append(row)
        tally.setdefault((workers, n, batching), []).append(bool(row.get("pass")))
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
            if best[batching] == top and not all(tally[(1, top, batching)]):
                lower = [n for n in ladder if n < top and all(tally.get((1, n, batching), [True]))]
                best[batching] = max(lower, default=0)
    multi = {
        w: _climb(w, best[True] or ladder[0], ladder, run, tally, plan.capacity_repeat)
        for w in plan.capacity_workers
        if w > 1
    }
    largest = {1: best[True], **multi}
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
        "passes": {
            f"{'-w ' + str(w) + ' ' if w > 1 else ''}{n} {'on' if b else 'off'}": v
            for (w, n, b), v in sorted(tally.items())
        },
        "largest_passing_batched": best[True],
        "largest_passing_unbatched": best[False],
        "largest_passing_by_workers": {str(w): n for w, n in largest.items()},
        "where_time_goes": _where(rows, largest),
    }


def _climb(
    workers: int,
    start: int,
    ladder: list[int],
    run: Any,
    tally: dict[Key, list[bool]],
    repeat: bool,
) -> int:
    """Batched with `workers`: from `start` up while levels pass, else down until one does;
    with `repeat`, the largest level runs once more and stays only if both runs passed."""
    i = ladder.index(start)
    best = 0
    if run(start, True, workers):
        best = start
        for n in ladder[i + 1 :]:
            if not run(n, True, workers):
                break
            best = n
    else:
        for n in reversed(ladder[:i]):
            if run(n, True, workers):
                best = n
                break
    if repeat and best and not run(best, True, workers):
        lower = [n for n in ladder if n < best and all(tally.get((workers, n, True), [False]))]
        best = max(lower, default=0)
    return best


def _where(rows: list[dict[str, Any]], largest: dict[int, int]) -> list[dict[str, Any]]:
    """Per worker count (batched): the last run of its largest passing level and of the
    first level above it that failed (the smallest level's last run if none passed)."""
    out = []
    for workers, top in largest.items():
        mine = [
            r
            for r in rows
            if r.get("workers", 1) == workers and r.get("batching") and "error" not in r
        ]
        passing = [r for r in mine if r["clients"] == top]
        failing = sorted(
            (r for r in mine if r["clients"] > top and not r.get("pass")),
            key=lambda r: r["clients"],
        )
        for r in passing[-1:] + failing[:1]:
            out.append(where_time_goes(r))
    return out
