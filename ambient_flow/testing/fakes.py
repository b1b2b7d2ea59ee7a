"""Fake models for tests: the enrichment graph without the `[audio]` extra.

Each fake implements the same interface as a real backend (`ambient_flow.models`) and
follows the same loading template (`LazyModel`), deterministically and in microseconds,
so a test can run the whole graph — speech analysis, the model stage, attribution, the
enrichment sinks — and assert on what comes out (as httpx's `MockTransport` lets a test
run a real client without a network)::

    from ambient_flow.testing import fakes, run_messages

    models = fakes.models(turns=[(0.0, 2.0, "alice"), (2.0, 4.0, "bob")])
    out = run_messages(messages, tmp_path, settings=Settings(enrich=True), models=models)
    assert {e.speaker_prediction for e in out.lines("utterance")} == {"speaker0", "speaker1"}

- `EnergyVad` (a fake only in that it ignores what speech sounds like): loud is speech;
- `ScriptedTranscriber`: the text you give per utterance (a function of its time span);
- `ScriptedDiarizer`: who speaks when, from a list of turns (seconds on the stream clock),
  with a change hint where each turn starts, and scripted corrections (relabels);
- `ScriptedDetector`: what is in view, from a function of the image.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from ambient_flow.models.bundle import Models
from ambient_flow.models.detection import Detection, Image
from ambient_flow.models.diarization import (
    ChangeHint,
    DiarizationStep,
    SpeakerRelabel,
    SpeakerSegment,
    SpeechBlocks,
    StepRequest,
)
from ambient_flow.models.identity import ModelIdentity
from ambient_flow.models.lazy import LazyModel
from ambient_flow.models.transcription import Segment, Transcript, Word
from ambient_flow.models.vad import BLOCK_SAMPLES, Probabilities, VadStream
from ambient_flow.protocol.constants import AUDIO_SAMPLE_RATE as SR

__all__ = [
    "EnergyVad",
    "ScriptedDetector",
    "ScriptedDiarizer",
    "ScriptedTranscriber",
    "models",
]

#: A turn: (start s, end s, who) on the stream clock.
Turn = tuple[float, float, str]


def _identity(kind: str, name: str, **options: Any) -> ModelIdentity:
    return ModelIdentity(kind=kind, name=f"fake-{name}", path=None, options=options)


class _Stateless:
    def __init__(self, vad: EnergyVad) -> None:
        self._vad = vad

    def probability(self, block: npt.ArrayLike) -> float:
        return float(self._vad.probabilities(np.asarray(block, np.float32).reshape(1, -1))[0])

    def probabilities(self, blocks: npt.ArrayLike) -> Probabilities:
        return self._vad.probabilities(blocks)

    def reset(self) -> None:
        """Nothing to forget."""


class EnergyVad(LazyModel[bool]):
    """Speech probability 1.0 for blocks louder than `threshold` RMS, else 0.0."""

    describes = "fake VAD"

    def __init__(self, threshold: float = 0.01) -> None:
        super().__init__()
        self.threshold = threshold

    @property
    def block_samples(self) -> int:
        return BLOCK_SAMPLES

    @property
    def measures_loudness(self) -> bool:
        return True

    def _load(self) -> tuple[bool, ModelIdentity]:
        return True, _identity("vad", "energy", threshold=self.threshold)

    def new_stream(self) -> VadStream:
        return _Stateless(self)

    def probabilities(self, blocks: npt.ArrayLike) -> Probabilities:
        arr = np.asarray(blocks, np.float32).reshape(-1, BLOCK_SAMPLES)
        rms = np.sqrt(np.mean(arr.astype(np.float64) ** 2, axis=1))
        probabilities: Probabilities = (rms > self.threshold).astype(np.float32)
        return probabilities

    def probabilities_many(
        self, streams: Sequence[VadStream], blocks: npt.ArrayLike
    ) -> Probabilities:
        return self.probabilities(blocks)


class ScriptedTranscriber(LazyModel[bool]):
    """Transcribes an utterance as `script(start_s, end_s)`: one segment, one word per token.

    The default says where the utterance was (`"words from 1.0 to 2.5"`), which is enough
    to check that every utterance reached the model and came back in order.
    """

    describes = "fake transcriber"

    def __init__(self, script: Callable[[float, float], str] | None = None) -> None:
        super().__init__()
        self._script = script or (lambda start, end: f"words from {start:.1f} to {end:.1f}")

    def _load(self) -> tuple[bool, ModelIdentity]:
        return True, _identity("transcription", "scripted")

    def transcribe(
        self,
        audio: npt.ArrayLike,
        *,
        offset_s: float,
        prompt: str | None = None,
        context: npt.ArrayLike | None = None,
    ) -> Transcript:
        n = int(np.asarray(audio).shape[0])
        end = offset_s + n / SR
        text = self._script(offset_s, end).strip()
        tokens = text.split()
        step = (end - offset_s) / max(1, len(tokens))
        words = tuple(
            Word(f" {t}", offset_s + i * step, offset_s + (i + 1) * step, 0.9)
            for i, t in enumerate(tokens)
        )
        segments = (Segment(offset_s, end, text, -0.1, 0.01, words),) if text else ()
        return Transcript(
            text=text,
            segments=segments,
            avg_logprob=-0.1 if text else 0.0,
            no_speech_prob=0.01 if text else 1.0,
            confidence=0.9 if text else 0.0,
            language="en",
            model=self.identity,
            prompt=prompt,
            context_s=0.0 if context is None else int(np.asarray(context).shape[0]) / SR,
        )


class _ScriptedStream:
    def __init__(self, owner: ScriptedDiarizer) -> None:
        self._owner = owner
        self.labels: dict[str, str] = {}  # who -> speakerN, in order of first appearance
        self.decided_end: int | None = None
        self.corrected: set[int] = set()  # corrections already made (their index)

    def step(
        self,
        window: npt.NDArray[np.float32],
        window_start_sample: int,
        speech: npt.NDArray[np.bool_] | None = None,
        blocks: SpeechBlocks | None = None,
    ) -> DiarizationStep:
        request = StepRequest(self, window, window_start_sample, speech, blocks)
        return self._owner.step_many([request])[0]


class ScriptedDiarizer(LazyModel[bool]):
    """Decides each window's new span from a list of turns (no model), where the VAD
    flags say someone speaks.

    Labels are `speaker0`, `speaker1`, ... in order of first appearance per session, as
    the real diarizers name them. A step hints at a speaker change where a turn of a
    different speaker starts inside its span (`hints`). `corrections` are scripted
    second thoughts: `(at_s, wrong, right)` says that once the stream passes `at_s`, the
    speech of `wrong` before it is `right`'s (one `recluster` relabel), and `wrong` is
    `right` from then on.
    """

    describes = "fake diarizer"

    def __init__(
        self,
        turns: Sequence[Turn] = (),
        *,
        hints: bool = True,
        corrections: Sequence[tuple[float, str, str]] = (),
    ) -> None:
        super().__init__()
        self.turns = [(round(s * SR), round(e * SR), who) for s, e, who in turns]
        self.hints = hints
        self.corrections = [(round(t * SR), wrong, right) for t, wrong, right in corrections]

    def _load(self) -> tuple[bool, ModelIdentity]:
        return True, _identity("diarization", "scripted", turns=len(self.turns))

    def new_stream(self) -> _ScriptedStream:
        return _ScriptedStream(self)

    def step_many(self, requests: Sequence[StepRequest]) -> list[DiarizationStep]:
        return [self._step(r) for r in requests]

    def _step(self, request: StepRequest) -> DiarizationStep:
        stream = request.stream
        if not isinstance(stream, _ScriptedStream):
            raise ValueError("stream was not made by this diarizer's new_stream()")
        if request.last:  # the script has nothing left to correct
            at = request.window_start_sample if stream.decided_end is None else stream.decided_end
            return DiarizationStep.closing(at, tuple(dict.fromkeys(stream.labels.values())))
        start = int(request.window_start_sample)
        end = start + int(request.window.shape[0])
        # Spans tile the stream: each step decides what the previous one did not.
        lo = min(end, start if stream.decided_end is None else max(start, stream.decided_end))
        stream.decided_end = end
        segments: list[SpeakerSegment] = []
        opened: list[str] = []
        relabels: list[SpeakerRelabel] = []
        for i, (at, wrong, right) in enumerate(self.corrections):
            if at <= end and i not in stream.corrected and wrong in stream.labels:
                stream.corrected.add(i)
                old = stream.labels[wrong]
                new = stream.labels.setdefault(right, f"speaker{len(stream.labels)}")
                relabels.append(SpeakerRelabel(0, at, old, new, end, "recluster"))
                stream.labels[wrong] = new
        for s, e in _speech_runs(request, lo, end):
            for ts, te, who in self.turns:
                a, b = max(s, ts), min(e, te)
                if b <= a:
                    continue
                if who not in stream.labels:
                    stream.labels[who] = f"speaker{len(stream.labels)}"
                    opened.append(stream.labels[who])
                segments.append(SpeakerSegment(a, b, stream.labels[who], 1.0))
        segments.sort(key=lambda seg: seg.start_sample)
        hints = [
            ChangeHint(ts, 1.0)
            for k, (ts, _te, who) in enumerate(self.turns)
            if self.hints and lo <= ts < end and k > 0 and self.turns[k - 1][2] != who
        ]
        return DiarizationStep(
            window_start_sample=start,
            window_end_sample=end,
            decided_start_sample=lo,
            decided_end_sample=end,
            segments=tuple(segments),
            speakers=tuple(dict.fromkeys(stream.labels.values())),
            new_speakers=tuple(opened),
            relabels=tuple(relabels),
            change_hints=tuple(hints),
        )


def _speech_runs(request: StepRequest, lo: int, hi: int) -> list[tuple[int, int]]:
    """Stream-sample runs of [lo, hi) the caller's VAD flags call speech (all, without flags):
    like the real diarizers, nobody speaks in silence."""
    if request.speech is None:
        return [(lo, hi)] if hi > lo else []
    flags = np.asarray(request.speech, dtype=bool).reshape(-1)
    start = int(request.window_start_sample)
    n = int(request.window.shape[0])
    if flags.size == 0 or n == 0:
        return []
    per_sample = flags[(np.arange(n) * flags.size) // n][lo - start : hi - start]
    edges = np.diff(np.concatenate(([0], per_sample.astype(np.int8), [0])))
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    return [(lo + int(a), lo + int(b)) for a, b in zip(starts, ends, strict=True)]


class ScriptedDetector(LazyModel[bool]):
    """Detects `found(image)` in each image (default: nothing)."""

    describes = "fake detector"

    def __init__(self, found: Callable[[Image], Sequence[Detection]] | None = None) -> None:
        super().__init__()
        self._found = found or (lambda image: ())

    def _load(self) -> tuple[bool, ModelIdentity]:
        return True, _identity("detection", "scripted")

    def detect(self, images: Sequence[Image]) -> list[tuple[Detection, ...]]:
        return [tuple(self._found(image)) for image in images]


def models(
    *,
    turns: Sequence[Turn] = (),
    script: Callable[[float, float], str] | None = None,
    found: Callable[[Image], Sequence[Detection]] | None = None,
    detect: bool = True,
    vad_threshold: float = 0.01,
    hints: bool = True,
    corrections: Sequence[tuple[float, str, str]] = (),
) -> Models:
    """A full set of fakes (loaded), ready for `run_messages(..., models=...)`."""
    bundle = Models(
        vad=EnergyVad(vad_threshold),
        transcriber=ScriptedTranscriber(script),
        diarizer=ScriptedDiarizer(turns, hints=hints, corrections=corrections),
        detector=ScriptedDetector(found) if detect else None,
    )
    bundle.load()
    return bundle
