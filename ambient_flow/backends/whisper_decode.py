"""How both Whisper backends decode one utterance: options, Whisper's checks, the fallback ladder.

Whisper's own fallback re-decodes a clip at rising temperatures when the result looks
wrong: a gzip compression ratio above 2.4 (a repetition loop) or a mean token
log-probability below -1.0 (low confidence) that is not silence. Sampling at a
temperature breaks byte-identical replays, and reseeding does not rescue it with
CTranslate2 4.8.5: three temperature-1.0 decodes of one clip, each after
`ctranslate2.set_random_seed(1)`, gave three different texts (its generator is per thread
and seeded once). So our ladder keeps Whisper's checks but each rung *changes the beam*
(`beam_size`, then `fallback_beam_size`): deterministic, and when no rung passes, the
attempt with the best mean log-probability that is not a loop wins.

The default ladder is beam 5, then greedy when beam 5 fails the checks. Beam search hears
more (Whisper's own default is beam 5), but on tiny.en it sometimes loops, and greedy is
the cure for exactly those utterances. Measured with `python -m bench.speech --quick`
(2026-12-02, WER / cpWER, the same utterances):

| ladder | real call | dev (12 clips) | held-out (6 clips) |
|---|---|---|---|
| greedy, then beam 5 (before) | 0.222 / 0.494 | 0.448 / 0.682 | 0.707 / 0.740 |
| beam 5 alone | 0.198 / 0.469 | 0.547 / 0.783 | 0.962 / 0.992 |
| beam 5, then greedy (default) | 0.198 / 0.469 | 0.424 / 0.661 | 0.666 / 0.700 |

A decode costs 20-45 % more CPU (ms per utterance: real call 299 -> 441, dev 384 -> 464);
live, the end-of-speech -> transcript p90 did not move (1 client 825 -> 866 ms, 4 clients
1,645 -> 1,629 ms, `--only live`, idle machine; bench/README.md has the alternated runs).

Prompting (Whisper's `initial_prompt`) is the caller's choice per utterance; the
operators offer the same speaker's previous text only when asked (`prompt` knob), because
it hurts tiny.en: greedy WER 0.281 -> 0.495 on four dev clips (it repeats the prompt).

Left context is audio, not text: the caller may give the stream's audio just before the
utterance (`context`), decoded together with it so a short utterance is heard after what
led to it. Only the utterance's own part of that decode is kept (`after_context`: the
words whose middle lies at or after the utterance's start, moved onto its clock), so
Whisper's checks, the transcript's words, segments and confidence describe that part
alone; the context's words were emitted with the utterances they belong to. tiny.en
sometimes loops or loses the utterance's words after a context, so the context decode
is only kept when it passes the checks and says something; otherwise the utterance is
decoded alone, as without context (`decode_with_context`).
Measured with 10 s of context (`--context-seconds 10`, `python -m bench.speech --quick`):
WER / cpWER dev 0.448 / 0.682 -> 0.397 / 0.632, held-out 0.707 / 0.740 -> 0.664 / 0.699,
long sessions better too, but pyannote's real call 0.222 / 0.494 -> 0.247 / 0.531 (2-3 of
81 words: a context word timed past the boundary, a phrase re-heard), and the decode costs
about 1.5-2x per utterance; off by default until real recordings say it helps.
The boundary is already where the previous utterance's decode stopped: an utterance never
starts before the previous one's end (its pre-roll stops there), and nothing is decoded past
an utterance's end. The call's repeat sits at a maximum-length cut inside speech: the
previous utterance heard "what can I say?" as "we'll call", the context decode heard it as
"kind of thing?" timed 0.04-0.18 s past the cut. Rules that keep fewer words (none from a
pre-roll that touches the previous utterance; none within 0.15 or 0.3 s of the boundary;
a Whisper segment astride the boundary kept whole on its larger side) did not beat this
one on dev (12 clips, 1702 words: 0.391 vs 0.391 to 0.405); the bands drop as many real
words as repeated ones.
"""

from __future__ import annotations

import math
import re
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import numpy.typing as npt

from ambient_flow.backends.whisper_text import (
    RawSegment,
    RawWord,
    as_audio,
    assemble,
    check_threshold,
    wordlike,
)
from ambient_flow.errors import ConfigError
from ambient_flow.models.identity import ModelIdentity
from ambient_flow.models.transcription import Transcript
from ambient_flow.protocol.constants import AUDIO_SAMPLE_RATE

__all__ = [
    "Attempt",
    "DecodeOptions",
    "Decoded",
    "Rung",
    "after_context",
    "choose_attempt",
    "compression_ratio",
    "decode_with_context",
    "decode_with_fallback",
    "judge",
    "needs_fallback",
    "transcript_of",
    "with_context",
]

#: One rung of the ladder: decode with this beam -> (the decoder's segments, language).
Rung = Callable[[int], tuple[Sequence[RawSegment], str]]


@dataclass(frozen=True)
class DecodeOptions:
    """How an utterance is decoded (both Whisper backends).

    Attributes:
        language: Language code to decode in; None to detect per utterance
            (multilingual models only; costs an extra pass).
        beam_size: The first rung (1 is greedy, the fastest).
        fallback_beam_size: The second rung, tried when Whisper's checks fail the first
            (0: no fallback). The default ladder is beam 5, then greedy (module docstring).
        no_speech_threshold: With `logprob_threshold`, Whisper's rule for "this segment
            is silence" (dropped); alone, text above it asks for the next rung
            (`needs_fallback`); None disables both.
        logprob_threshold: Mean token log-probability below which a decode is unsure (a
            fallback), and with `no_speech_threshold` silence; None disables.
        compression_ratio_threshold: gzip ratio above which a decode is a repetition loop
            (a fallback); None disables.
        word_timestamps: Time every word (needed to attribute words to speakers).
    """

    language: str | None = "en"
    beam_size: int = 5
    fallback_beam_size: int = 1
    no_speech_threshold: float | None = 0.6
    logprob_threshold: float | None = -1.0
    compression_ratio_threshold: float | None = 2.4
    word_timestamps: bool = True

    def __post_init__(self) -> None:
        if self.language is not None and not re.fullmatch(r"[a-z]{2,3}", self.language):
            raise ConfigError(f"language {self.language!r} is not a language code")
        if self.beam_size < 1:
            raise ConfigError(f"beam_size must be >= 1, got {self.beam_size}")
        if self.fallback_beam_size < 0:
            raise ConfigError(f"fallback_beam_size must be >= 0, got {self.fallback_beam_size}")
        check_threshold("no_speech_threshold", self.no_speech_threshold, 0.0, 1.0)
        check_threshold("logprob_threshold", self.logprob_threshold, -100.0, 0.0)
        check_threshold("compression_ratio_threshold", self.compression_ratio_threshold, 0, 100)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, for `ModelIdentity` (models.json records how text was decoded)."""
        return {
            "language": self.language,
            "beam_size": self.beam_size,
            "fallback_beam_size": self.fallback_beam_size,
            "temperature": 0.0,
            "no_speech_threshold": self.no_speech_threshold,
            "logprob_threshold": self.logprob_threshold,
            "compression_ratio_threshold": self.compression_ratio_threshold,
            "word_timestamps": self.word_timestamps,
        }

    @property
    def beams(self) -> tuple[int, ...]:
        """The rungs of the ladder, in order."""
        if self.fallback_beam_size and self.fallback_beam_size != self.beam_size:
            return (self.beam_size, self.fallback_beam_size)
        return (self.beam_size,)


@dataclass(frozen=True)
class Attempt:
    """One decode of one utterance with one beam: the segments Whisper's rules keep."""

    beam: int
    kept: tuple[RawSegment, ...]
    dropped_no_speech: float  # the highest no-speech probability among dropped segments
    language: str

    @property
    def text(self) -> str:
        return " ".join(s.text.strip() for s in self.kept).strip()

    def mean(self, attr: str) -> float:
        """Duration-weighted mean of a kept-segment score (0.0 when none was kept)."""
        if not self.kept:
            return 0.0
        weights = [max(s.end - s.start, 0.02) for s in self.kept]
        total = sum(weights)
        return (
            sum(w * float(getattr(s, attr)) for w, s in zip(weights, self.kept, strict=True))
            / total
        )

    @property
    def compression_ratio(self) -> float:
        return compression_ratio(self.text)


@dataclass(frozen=True)
class Decoded:
    """The attempt the ladder kept, and how many it tried."""

    segments: tuple[RawSegment, ...]
    dropped_no_speech: float
    language: str
    beam: int
    attempts: int


def compression_ratio(text: str) -> float:
    """gzip compression ratio, as Whisper computes it (repetition loops compress well)."""
    data = text.encode("utf-8")
    return len(data) / max(1, len(zlib.compress(data)))


def is_silence(segment: RawSegment, options: DecodeOptions) -> bool:
    """Whisper's rule: probably no speech, and not decoded with confidence."""
    return (
        options.no_speech_threshold is not None
        and segment.no_speech_prob > options.no_speech_threshold
        and (options.logprob_threshold is None or segment.avg_logprob < options.logprob_threshold)
    )


def needs_fallback(attempt: Attempt, options: DecodeOptions) -> bool:
    """Whisper's checks: too repetitive, or too unsure; and ours: text where the model
    hears no speech.

    The last one is for beam search: on silence or noise Whisper's no-speech probability
    stays high, but a beam finds a confident "You" or "Thank you" that escapes the
    silence rule (it needs a low log-probability too). Greedy, the next rung by default,
    decodes the same audio unsure, so the rule drops it and nothing is said.
    """
    if not attempt.text:
        return False
    limit = options.compression_ratio_threshold
    if limit is not None and attempt.compression_ratio > limit:
        return True
    if (
        options.no_speech_threshold is not None
        and attempt.mean("no_speech_prob") > options.no_speech_threshold
    ):
        return True
    lp = options.logprob_threshold
    if lp is None or not math.isfinite(attempt.mean("avg_logprob")):
        return False
    return attempt.mean("avg_logprob") < lp


def choose_attempt(attempts: Sequence[Attempt], options: DecodeOptions) -> Attempt:
    """The first attempt that passes; else the most confident one that is not a loop."""
    for a in attempts:
        if not needs_fallback(a, options):
            return a
    limit = options.compression_ratio_threshold
    ok = [a for a in attempts if limit is None or a.compression_ratio <= limit]
    return max(ok or list(attempts), key=lambda a: (a.mean("avg_logprob"), -a.beam))


def judge(beam: int, raw: Sequence[RawSegment], language: str, options: DecodeOptions) -> Attempt:
    """One decode as an `Attempt`: segments that are silence by Whisper's rule, or hold no
    letter or digit, are dropped before it is judged."""
    kept: list[RawSegment] = []
    dropped = 0.0
    for segment in raw:
        if is_silence(segment, options) or not wordlike(segment.text):
            dropped = max(dropped, segment.no_speech_prob)
            continue
        kept.append(segment)
    return Attempt(beam, tuple(kept), dropped, language)


def decode_with_fallback(run: Rung, options: DecodeOptions) -> Decoded:
    """Decode with each rung's beam (`run(beam) -> (segments, language)`) until one passes
    Whisper's checks (each attempt `judge`d)."""
    attempts: list[Attempt] = []
    for beam in options.beams:
        raw, language = run(beam)
        attempts.append(judge(beam, raw, language, options))
        if not needs_fallback(attempts[-1], options):
            break
    best = choose_attempt(attempts, options)
    return Decoded(best.kept, best.dropped_no_speech, best.language, best.beam, len(attempts))


def decode_with_context(
    run: Rung, with_context: Rung, context_s: float, options: DecodeOptions
) -> tuple[Decoded, float]:
    """(the decode kept, seconds of context it used): first the utterance after its
    context (the first rung's beam, `after_context`), kept when it says something and
    passes Whisper's checks; else the ladder over the utterance alone (`run`), so a
    context that sends the decoder into a loop, or hides the utterance's words, costs
    one decode and never the text."""
    beam = options.beam_size
    raw, language = with_context(beam)
    first = judge(beam, after_context(raw, context_s), language, options)
    if first.kept and not needs_fallback(first, options):
        return Decoded(first.kept, first.dropped_no_speech, language, beam, 1), context_s
    alone = decode_with_fallback(run, options)
    return replace(alone, attempts=alone.attempts + 1), 0.0


def after_context(segments: Sequence[RawSegment], boundary_s: float) -> list[RawSegment]:
    """The part of a decode that lies at or after `boundary_s`, on a clock starting there.

    A word belongs to the utterance when its middle lies at or after the boundary. The
    segmenter cuts in pauses, so the boundary usually falls in silence; a word astride a
    cut inside speech (a speaker change, the maximum length) may be heard by both
    utterances or neither, as without context. A segment keeps its words past the
    boundary (its text becomes theirs) and its scores; a segment without word times is
    kept whole when its middle is past the boundary. Times before the boundary are
    clipped to it. `boundary_s` 0: unchanged.
    """
    if boundary_s <= 0.0:
        return list(segments)
    out: list[RawSegment] = []
    for s in segments:
        if not s.words:
            if (s.start + s.end) / 2 >= boundary_s:
                out.append(replace(s, start=max(s.start - boundary_s, 0.0),
                                   end=max(s.end - boundary_s, 0.0)))  # fmt: skip
            continue
        own = [w for w in s.words if (w.start + w.end) / 2 >= boundary_s]
        if not own:
            continue
        words = tuple(_earlier(w, boundary_s) for w in own)
        text = "".join(w.word for w in own) if len(own) < len(s.words) else s.text
        end = max(s.end - boundary_s, words[-1].end)
        out.append(RawSegment(words[0].start, end, text, s.avg_logprob, s.no_speech_prob, words))
    return out


def _earlier(word: RawWord, by: float) -> RawWord:
    return RawWord(word.word, max(word.start - by, 0.0), max(word.end - by, 0.0), word.probability)


def with_context(
    audio: npt.NDArray[np.float32], context: npt.ArrayLike | None
) -> tuple[npt.NDArray[np.float32], float]:
    """(what to decode, seconds of context at its start): the context, then the utterance.

    No context, or an empty utterance (nothing of its own to say): the utterance alone.
    """
    left = as_audio(context) if context is not None else audio[:0]
    if not left.size or not audio.size:
        return audio, 0.0
    return np.concatenate([left, audio]), left.size / AUDIO_SAMPLE_RATE


def transcript_of(
    audio: npt.NDArray[np.float32],
    run: Rung,
    options: DecodeOptions,
    offset_s: float,
    prompt: str | None,
    identity: ModelIdentity,
    context: tuple[Rung, float] | None = None,
) -> Transcript:
    """A backend's `transcribe`: the ladder over `run`, assembled (empty audio: no text).

    `audio` is the utterance and `run` decodes it; `context`: (a rung that decodes the
    stream's audio before the utterance followed by it, the seconds of that audio), tried
    first (`decode_with_context`).
    """
    duration = audio.size / AUDIO_SAMPLE_RATE
    if not audio.size:
        return assemble((), duration_s=0.0, offset_s=offset_s, dropped_no_speech=1.0,
                        language=options.language or "", identity=identity,
                        beam_size=0, attempts=0, prompt=prompt)  # fmt: skip
    used = 0.0
    if context is not None and context[1] > 0.0:
        decoded, used = decode_with_context(run, context[0], context[1], options)
    else:
        decoded = decode_with_fallback(run, options)
    return assemble(
        decoded.segments,
        duration_s=duration,
        offset_s=offset_s,
        dropped_no_speech=decoded.dropped_no_speech,
        language=decoded.language,
        identity=identity,
        beam_size=decoded.beam,
        attempts=decoded.attempts,
        prompt=prompt,
        context_s=used,
    )
