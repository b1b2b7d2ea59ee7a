"""Off the live path: replay speed with the models, and DER/WER/cpWER via `evaluate`."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any

from bench.core.procs import temp_dir
from bench.core.stats import median, rounded
from bench.enrich.context import ROOT, Ctx
from bench.enrich.live import stage_rows
from bench.enrich.speech import SR

__all__ = ["accuracy", "replay"]

SAMPLE = ROOT / "recordings" / "sample.zmqcap"


def replay(ctx: Ctx) -> dict[str, Any]:
    """recordings/sample.zmqcap through the replay graph with the enrichment, models loaded."""
    from ambient_flow.config import Settings
    from ambient_flow.graph import build_replay, replay_settings
    from ambient_flow.runtime import HostRuntime, run_dataflow

    runs = []
    for _ in range(ctx.plan.replay_repeats):
        with temp_dir("af-bench-replay-") as tmp:
            recorded = replay_settings(SAMPLE, Settings(), str(tmp / "data"))
            settings = dataclasses.replace(recorded, enrich=True, realtime=False)
            runtime = HostRuntime(settings=settings, replay=True)
            graph = build_replay(runtime, SAMPLE, ctx.loaded)
            t = time.perf_counter()
            try:
                run_dataflow(graph.dataflow)
            finally:
                runtime.close()
            elapsed = time.perf_counter() - t
            doc = runtime.telemetry.status()
            lines = sum(
                len(f.read_text().splitlines()) for f in (tmp / "data").rglob("frames.jsonl")
            )
        audio_s = doc["audio"]["samples"] / SR
        runs.append(
            {
                "seconds": round(elapsed, 2),
                "audio_s": round(audio_s, 1),
                "x_realtime": round(audio_s / elapsed, 2),
                "enrichments": lines,
                "stages": stage_rows(doc, 0.0),
            }
        )
    seconds = median([r["seconds"] for r in runs]) or 0.0
    return {
        "capture": str(SAMPLE.relative_to(ROOT)),
        "x_realtime": rounded(median([r["x_realtime"] for r in runs]), 2),
        "x_realtime_with_model_load": rounded(runs[0]["audio_s"] / (seconds + ctx.load_s), 2),
        "runs": runs,
    }


def accuracy(ctx: Ctx) -> dict[str, Any]:
    """`ambient_flow.cli.evaluate.evaluate` on pyannote's sample and on ours."""
    import pyannote.audio

    from ambient_flow.cli.evaluate import evaluate

    sample = Path(pyannote.audio.__file__).parent / "sample"
    out: dict[str, Any] = {}
    cases = {
        "pyannote_sample": (sample / "sample.wav", sample / "sample.rttm", None),
        "our_sample": (SAMPLE, SAMPLE.with_suffix(".rttm"), SAMPLE.with_suffix(".txt")),
    }
    for name, (inp, rttm, txt) in cases.items():
        res = evaluate(inp, rttm=rttm, transcript=txt)
        out[name] = {
            "input": str(inp.relative_to(ROOT)) if inp.is_relative_to(ROOT) else inp.name,
            "duration_s": round(res.duration_s, 1),
            "der": rounded(res.der, 4),
            "der_components": {k: round(v, 4) for k, v in res.der_components.items()},
            "wer": rounded(res.wer, 4),
            "cpwer": rounded(res.cpwer, 4),
            "speakers_found": res.speakers_hypothesis,
            "speakers_reference": res.speakers_reference,
            "utterances": res.utterances,
            "processing_s_incl_model_load": round(res.processing_s, 1),
        }
    return out
