"""`ambient-flow eval`: run a capture or a WAV through the enrichment and score it.

DER with pyannote.metrics (against an RTTM), WER with jiwer (against a transcript) and,
when the transcript names its speakers (`name: text` lines), cpWER: each reference
speaker's words against the hypothesis speaker that fits them best. The input goes
through exactly the replay graph (`flows.replay`), so what is scored is what users get.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import re
import tempfile
import time
import wave
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import bytewax.operators as op
from bytewax.testing import TestingSink

from ambient_flow.cli.display import ProgressBar
from ambient_flow.config import Settings
from ambient_flow.protocol.constants import AUDIO_SAMPLE_RATE as SR
from ambient_flow.runtime import HostRuntime, run_dataflow

__all__ = ["EvalResult", "cp_wer", "evaluate", "read_rttm", "read_transcript"]


@dataclass
class EvalResult:
    input: str
    duration_s: float
    der: float | None = None
    der_components: dict[str, float] = field(default_factory=dict)
    wer: float | None = None
    cpwer: float | None = None
    speakers_reference: int | None = None
    speakers_hypothesis: int = 0
    utterances: int = 0
    processing_s: float = 0.0
    stages: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def format(self) -> str:
        def pct(v: float | None) -> str:
            return "-" if v is None else f"{100 * v:.1f} %"

        lines = [
            f"input      {self.input} ({self.duration_s:.1f} s, processed in "
            f"{self.processing_s:.1f} s = {self.duration_s / max(self.processing_s, 1e-9):.1f}x "
            "real time)",
            f"speakers   {self.speakers_hypothesis} found"
            + (f", {self.speakers_reference} in the reference" if self.speakers_reference else ""),
            f"DER        {pct(self.der)}"
            + (
                "  (" + ", ".join(f"{k} {pct(v)}" for k, v in self.der_components.items()) + ")"
                if self.der_components
                else ""
            ),
            f"WER        {pct(self.wer)}",
            f"cpWER      {pct(self.cpwer)}",
            f"utterances {self.utterances}",
        ]
        for name, st in self.stages.items():
            lines.append(f"stage      {name}: {st.get('items')} items, RTF {st.get('rtf')}")
        return "\n".join(lines)


def read_rttm(path: str | Path) -> list[tuple[float, float, str]]:
    """`(start_s, end_s, speaker)` turns of an RTTM file."""
    turns = []
    for line in Path(path).read_text().splitlines():
        fields = line.split()
        if len(fields) >= 8 and fields[0] == "SPEAKER":
            start, dur = float(fields[3]), float(fields[4])
            turns.append((start, start + dur, fields[7]))
    return turns


def read_transcript(path: str | Path) -> list[tuple[str | None, str]]:
    """Lines of `speaker: text`, or plain text (speaker None)."""
    out: list[tuple[str | None, str]] = []
    for line in Path(path).read_text().splitlines():
        if not line.strip():
            continue
        match = re.match(r"^\s*([\w.-]{1,40}):\s+(.*)$", line)
        out.append((match.group(1), match.group(2)) if match else (None, line.strip()))
    return out


def normalize(text: str) -> str:
    return " ".join(re.sub(r"[^\w\s']", " ", text.lower()).split())


def cp_wer(reference: dict[str, str], hypothesis: dict[str, str]) -> float:
    """Concatenated-minimum-permutation WER: the best one-to-one speaker mapping."""
    import jiwer

    refs = sorted(reference)
    hyps = sorted(hypothesis) + [""] * max(0, len(refs) - len(hypothesis))
    total = sum(len(normalize(reference[r]).split()) for r in refs)
    best = None
    for perm in itertools.permutations(hyps, len(refs)):
        errors = 0
        used = set(perm)
        for r, h in zip(refs, perm, strict=True):
            ref_text = normalize(reference[r])
            hyp_text = normalize(hypothesis.get(h, ""))
            out = jiwer.process_words(ref_text or "<empty>", hyp_text)
            errors += out.substitutions + out.deletions + out.insertions
        # words of hypothesis speakers nobody maps to are insertions
        errors += sum(len(normalize(hypothesis[h]).split()) for h in hypothesis if h not in used)
        best = errors if best is None else min(best, errors)
    return (best or 0) / max(1, total)


def _to_capture(path: Path, workdir: Path) -> Path:
    if path.suffix.lower() != ".wav":
        return path
    from ambient_flow.client import SynthOptions, WavOptions, synthesize_capture

    with wave.open(str(path), "rb") as w:
        duration = w.getnframes() / w.getframerate()
    out = workdir / (path.stem + ".zmqcap")
    synthesize_capture(
        out,
        SynthOptions(
            audio=WavOptions(path=str(path)), video=None, duration_s=duration, client="eval"
        ),
    )
    return out


def evaluate(
    input_path: str | Path,
    *,
    rttm: str | Path | None = None,
    transcript: str | Path | None = None,
    settings: Settings | None = None,
    collar: float = 0.25,
    workers: int = 1,
    progress: bool = False,
) -> EvalResult:
    from ambient_flow.graph.replay import build_replay, replay_settings
    from ambient_flow.operators.model_stage import Diarized

    work = Path(tempfile.mkdtemp(prefix="af-eval-"))
    capture = _to_capture(Path(input_path), work)
    run_settings = dataclasses.replace(
        replay_settings(capture, settings or Settings(), str(work / "data")), enrich=True
    )
    runtime = HostRuntime(settings=run_settings, replay=True)
    graph = build_replay(runtime, capture)
    if graph.enrich is None:  # pragma: no cover - enrich=True above
        raise RuntimeError("the replay graph has no enrichment")
    done: list[Any] = []
    frames: list[Any] = []
    op.output("eval_done", graph.enrich.results, TestingSink(done))
    op.output("eval_frames", graph.enrich.enrichments, TestingSink(frames))
    started = time.perf_counter()
    bar = ProgressBar(runtime.telemetry.status).start() if progress else None
    try:
        run_dataflow(graph.dataflow, workers)
    finally:
        if bar is not None:
            bar.stop()
        runtime.close()
    elapsed = time.perf_counter() - started
    doc = runtime.telemetry.status()
    duration = doc["audio"]["samples"] / SR

    turns: list[tuple[float, float, str]] = []
    for _client, result in done:
        if isinstance(result, Diarized):
            for seg in result.step.segments:
                turns.append((seg.start_sample / SR, seg.end_sample / SR, seg.speaker))
    utterances = [f for _c, f in frames if f.event_type == "utterance"]
    res = EvalResult(
        input=str(input_path),
        duration_s=duration,
        speakers_hypothesis=len({t[2] for t in turns}),
        utterances=len(utterances),
        processing_s=elapsed,
        stages=doc.get("stages", {}),
    )
    if rttm is not None:
        ref = read_rttm(rttm)
        res.speakers_reference = len({t[2] for t in ref})
        res.der, res.der_components = _der(ref, turns, collar)
    if transcript is not None:
        import jiwer

        lines = read_transcript(transcript)
        said = " ".join(f.text_hypothesis or "" for f in utterances)
        res.wer = float(jiwer.wer(normalize(" ".join(t for _, t in lines)), normalize(said)))
        if lines and all(s is not None for s, _ in lines):
            reference: dict[str, str] = {}
            for speaker, text in lines:
                reference[str(speaker)] = (reference.get(str(speaker), "") + " " + text).strip()
            hypothesis: dict[str, str] = {}
            for f in utterances:
                key = f.speaker_prediction or "unknown"
                hypothesis[key] = (
                    hypothesis.get(key, "") + " " + (f.text_hypothesis or "")
                ).strip()
            res.cpwer = cp_wer(reference, hypothesis)
    return res


def _der(
    reference: Sequence[tuple[float, float, str]],
    hypothesis: Sequence[tuple[float, float, str]],
    collar: float,
) -> tuple[float, dict[str, float]]:
    from pyannote.core import Annotation, Segment
    from pyannote.metrics.diarization import DiarizationErrorRate

    ref, hyp = Annotation(), Annotation()
    for i, (s, e, who) in enumerate(reference):
        ref[Segment(s, e), i] = who
    for i, (s, e, who) in enumerate(hypothesis):
        hyp[Segment(s, e), i] = who
    metric = DiarizationErrorRate(collar=collar, skip_overlap=False)
    details = metric(ref, hyp, detailed=True)
    total = max(details["total"], 1e-9)
    parts = {k: details[k] / total for k in ("missed detection", "false alarm", "confusion")}
    return float(details["diarization error rate"]), parts


def main_eval(args: Any) -> int:
    from ambient_flow.cli.settings_flags import settings_from_args

    settings = settings_from_args(args)
    result = evaluate(
        args.input,
        rttm=args.rttm,
        transcript=args.transcript,
        settings=settings,
        collar=args.collar,
        workers=args.workers,
        progress=True,
    )
    print(json.dumps(result.to_dict(), indent=2) if args.json else result.format())
    return 0
