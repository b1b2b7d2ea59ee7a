"""`ambient-flow eval`: run a capture or a WAV through the enrichment, score what it wrote.

The input goes through exactly the replay graph (`flows.replay`), and the scores come
from the session directory it writes, read as a consumer reads it (`sinks.consumer`:
`frames.jsonl` + `enrichment.jsonl`, `speaker_relabel` lines applied to the lines before
them). So what is scored is what users get:

- DER at collar 0 and at `--collar` (0.25 s), with missed speech, false alarm and
  confusion, for two readings of the session: *timeline* (the speaker turns the
  `speaker_change` lines draw, where the utterances say someone spoke) and *utterances*
  (each utterance line's speech with that line's speaker);
- WER of the utterances' text in stream order, against `--transcript`;
- cpWER of each speaker's words (words carry their own speaker), when the transcript
  names its speakers (`name: text` lines);
- speakers found (labels holding at least a second of speech in the timeline) against the
  reference, and words per speaker;
- with a reference and the embedded diarizer, how far apart the reference voices lie for
  its speaker encoder (`cli.voices`): on our clips, voices under 0.09 apart were always
  merged into one speaker, so a confusion there is the encoder's limit.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import tempfile
import time
import wave
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ambient_flow.cli.display import ProgressBar
from ambient_flow.cli.scoring import (
    DerScore,
    cp_wer,
    der,
    normalize,
    read_rttm,
    read_transcript,
    wer,
)
from ambient_flow.cli.voices import VoiceSeparation, voice_separation
from ambient_flow.config import Settings
from ambient_flow.models.bundle import Models
from ambient_flow.protocol.constants import AUDIO_SAMPLE_RATE as SR
from ambient_flow.runtime import HostRuntime, run_dataflow
from ambient_flow.sinks.consumer import SessionView, Span

__all__ = [
    "EvalResult",
    "cp_wer",
    "evaluate",
    "normalize",
    "read_rttm",
    "read_transcript",
    "score_session",
]


@dataclass
class EvalResult:
    """What `evaluate` measured (`der`: the timeline reading at collar 0)."""

    input: str
    duration_s: float
    der: float | None = None
    ders: dict[str, dict[str, dict[str, float]]] = field(default_factory=dict)
    wer: float | None = None
    cpwer: float | None = None
    speakers_reference: int | None = None
    speakers_hypothesis: int = 0
    words_by_speaker: dict[str, int] = field(default_factory=dict)
    utterances: int = 0
    relabels: int = 0
    processing_s: float = 0.0
    stages: dict[str, Any] = field(default_factory=dict)
    voices: VoiceSeparation | None = None
    lines: list[dict[str, Any]] = field(default_factory=list, repr=False)

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        del out["lines"]
        return out

    def format(self) -> str:
        def pct(v: float | None) -> str:
            return "-" if v is None else f"{100 * v:.1f} %"

        speed = self.duration_s / max(self.processing_s, 1e-9)
        lines = [
            f"input      {self.input} ({self.duration_s:.1f} s, processed in "
            f"{self.processing_s:.1f} s = {speed:.1f}x real time)",
            f"speakers   {self.speakers_hypothesis} found"
            + (f", {self.speakers_reference} in the reference" if self.speakers_reference else "")
            + (
                "  (words: " + ", ".join(f"{k} {v}" for k, v in self.words_by_speaker.items()) + ")"
                if self.words_by_speaker
                else ""
            ),
        ]
        for view, by_collar in self.ders.items():
            for collar, s in by_collar.items():
                lines.append(
                    f"DER        {pct(s['der'])}  {view}, collar {collar} s  (missed "
                    f"{pct(s['missed'])}, false alarm {pct(s['false_alarm'])}, confusion "
                    f"{pct(s['confusion'])})"
                )
        lines += [
            f"WER        {pct(self.wer)}",
            f"cpWER      {pct(self.cpwer)}",
            f"lines      {self.utterances} utterance lines, {self.relabels} speaker relabels",
        ]
        if self.voices is not None:
            lines += self.voices.format_lines()
        for name, st in self.stages.items():
            lines.append(f"stage      {name}: {st.get('items')} items, RTF {st.get('rtf')}")
        return "\n".join(lines)


def _to_capture(path: Path, workdir: Path) -> Path:
    if path.suffix.lower() != ".wav":
        return path
    from ambient_flow.client import SynthOptions, WavOptions, synthesize_capture

    with wave.open(str(path), "rb") as w:
        duration = w.getnframes() / w.getframerate()
    out = workdir / "input.zmqcap"
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
    out_dir: str | Path | None = None,
    models: Models | None = None,
) -> EvalResult:
    """Replay `input_path` through the enrichment and score the session it writes.

    `out_dir` keeps the data directory (sessions) there, and the capture a WAV was turned
    into (`input.zmqcap`); by default a temporary one is removed afterwards. `models`:
    loaded models to use (default: built from `settings`).
    """
    from ambient_flow.backends.registry import build_models
    from ambient_flow.graph.replay import build_replay, replay_settings
    from ambient_flow.sinks.enrichment import read_enrichments

    work = Path(tempfile.mkdtemp(prefix="af-eval-"))
    try:
        data = Path(out_dir) if out_dir is not None else work / "data"
        data.mkdir(parents=True, exist_ok=True)
        capture = _to_capture(Path(input_path), data if out_dir is not None else work)
        run_settings = dataclasses.replace(
            replay_settings(capture, settings or Settings(), str(data)), enrich=True
        )
        runtime = HostRuntime(settings=run_settings, replay=True)
        models = models if models is not None else build_models(run_settings)
        graph = build_replay(runtime, capture, models)
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
        sessions = sorted((data / "sessions").glob("*/"))
        lines = [ln for s in sessions for ln in read_enrichments(s)]
        reference = read_rttm(rttm) if rttm is not None else None
        voices = _voices(sessions, reference, models) if reference else None
    finally:
        shutil.rmtree(work, ignore_errors=True)
    result = score_session(
        lines,
        duration_s=doc["audio"]["samples"] / SR,
        reference=reference,
        transcript=read_transcript(transcript) if transcript is not None else None,
        collars=(0.0, collar) if collar else (0.0,),
    )
    result.input = str(input_path)
    result.processing_s = elapsed
    result.stages = doc.get("stages", {})
    result.voices = voices
    return result


def _voices(
    sessions: Sequence[Path], reference: Sequence[tuple[float, float, str]], models: Models
) -> VoiceSeparation | None:
    """The reference voices' separation in the one session's audio, when the diarizer is
    the embedded one (the diart path's encoder is the user's; it is not measured)."""
    from ambient_flow.backends.diarize_embedded import EmbeddedDiarizer
    from ambient_flow.sinks.wav import read_wav

    if not isinstance(models.diarizer, EmbeddedDiarizer) or len(sessions) != 1:
        return None
    audio, rate = read_wav(sessions[0] / "audio.wav")
    meta = json.loads((sessions[0] / "session.json").read_text())
    offset = meta.get("first_start_sample") or 0
    return voice_separation(
        audio, reference, models.diarizer.embed, sample_rate=rate, offset_samples=int(offset)
    )


#: Speech a label must hold in the timeline to count as a speaker found (s).
_FOUND_S = 1.0


def _turns(spans: Sequence[Span]) -> list[tuple[float, float, str]]:
    return [(s.start / SR, s.end / SR, str(s.speaker)) for s in spans if s.speaker is not None]


def score_session(
    lines: Sequence[dict[str, Any]],
    *,
    duration_s: float,
    reference: Sequence[tuple[float, float, str]] | None = None,
    transcript: Sequence[tuple[str | None, str]] | None = None,
    collars: Sequence[float] = (0.0, 0.25),
) -> EvalResult:
    """Score one session's lines (in file order) as a consumer reads them."""
    view = SessionView.from_lines(lines)
    timeline = _turns(view.timeline())
    said = view.text_by_speaker()
    held: dict[str, float] = {}
    for start, end, label in timeline:
        held[label] = held.get(label, 0.0) + end - start
    res = EvalResult(
        input="",
        duration_s=duration_s,
        # a label is a speaker found once it holds a second of speech (a few blocks at a
        # turn's edge, between a correction's end and the next turn, are not a person)
        speakers_hypothesis=sum(1 for s in held.values() if s >= _FOUND_S),
        words_by_speaker={k: len(normalize(v).split()) for k, v in sorted(said.items())},
        utterances=len(view.utterances),
        relabels=view.relabels,
        lines=list(lines),
    )
    if reference is not None:
        res.speakers_reference = len({who for _, _, who in reference})
        readings = {"timeline": timeline, "utterances": _turns(view.by_utterance())}
        for name, hyp in readings.items():
            scores: dict[str, DerScore] = {
                f"{c:g}": der(reference, hyp, duration_s, c) for c in collars
            }
            res.ders[name] = {k: v.to_dict() for k, v in scores.items()}
        res.der = res.ders["timeline"]["0"]["der"]
    if transcript is not None:
        res.wer = wer(" ".join(t for _, t in transcript), view.text())
        if transcript and all(talker is not None for talker, _ in transcript):
            ref: dict[str, str] = {}
            for talker, text in transcript:
                ref[str(talker)] = (ref.get(str(talker), "") + " " + text).strip()
            res.cpwer = cp_wer(ref, said)
    return res


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
        out_dir=args.out,
    )
    print(json.dumps(result.to_dict(), indent=2) if args.json else result.format())
    return 0
