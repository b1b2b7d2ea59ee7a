"""Words attributed to speakers, and an utterance split into speaker-homogeneous runs.

WhisperX's `assign_word_speakers` idea on our sample clock: each word (Whisper's
cross-attention word times) goes to the speaker turn that overlaps it most; a word no
turn overlaps goes to the nearest turn within `max_gap_s`; what is still unattributed
takes the utterance's majority speaker (None when nobody was heard). Consecutive words of
one speaker form a `WordRun`, so an utterance that spans a turn change becomes two
speaker-attributed pieces of text. Measured on pyannote's real call: cpWER 0.679 -> 0.481
against one speaker per utterance, on the same utterances.

Two details that matter on real timings: Whisper gives some words (almost) no duration,
so a word is widened to `min_word_s` around its middle before overlaps are measured; and
a single word between two runs of one speaker whose own turn covers at most half of it
joins its neighbours (a word timed across a boundary is not a turn).

Pure code: no model, no clock; turns may overlap.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ambient_flow.models.diarization import SpeakerSegment
from ambient_flow.models.transcription import Word
from ambient_flow.protocol.constants import AUDIO_SAMPLE_RATE as SAMPLE_RATE

__all__ = ["AttributedWord", "WordOptions", "WordRun", "assign_words", "speaker_runs"]


@dataclass(frozen=True)
class WordOptions:
    """Attribution knobs.

    Attributes:
        max_gap_s: A word no turn overlaps goes to the nearest turn within this distance.
        min_word_s: Words are widened to at least this span around their middle.
        absorb_max_words: A run of at most this many words between two runs of one
            speaker, none overlapping its own speaker's turns by more than half, joins
            its neighbours.
    """

    max_gap_s: float = 1.0
    min_word_s: float = 0.1
    absorb_max_words: int = 1

    def __post_init__(self) -> None:
        if self.max_gap_s < 0 or self.min_word_s < 0 or self.absorb_max_words < 0:
            raise ValueError("WordOptions values must be >= 0")


@dataclass(frozen=True)
class AttributedWord:
    """A word, its span in samples, its speaker and how it was found.

    `how`: `overlap`, `nearest`, `majority`, `absorbed` or `none` (nobody to give it to).
    """

    word: Word
    start_sample: int
    end_sample: int
    speaker: str | None
    how: str

    def to_dict(self) -> dict[str, object]:
        """The word as the `words` list of `enrichment.jsonl` carries it (seconds)."""
        return {
            "word": self.word.word,
            "start": round(self.word.start_s, 3),
            "end": round(self.word.end_s, 3),
            "probability": round(self.word.probability, 4),
            "speaker": self.speaker,
        }


@dataclass(frozen=True)
class WordRun:
    """Consecutive words of one speaker; `text` joins them as Whisper spaced them."""

    speaker: str | None
    words: tuple[AttributedWord, ...]

    @property
    def start_sample(self) -> int:
        return self.words[0].start_sample

    @property
    def end_sample(self) -> int:
        return self.words[-1].end_sample

    @property
    def text(self) -> str:
        return "".join(w.word.word for w in self.words).strip()


def _samples(seconds: float) -> int:
    return round(seconds * SAMPLE_RATE)


def _span(start: int, end: int, min_samples: int) -> tuple[int, int]:
    if end - start >= min_samples:
        return start, end
    mid = (start + end) // 2
    return mid - min_samples // 2, mid + min_samples - min_samples // 2


def assign_words(
    words: Sequence[Word], turns: Sequence[SpeakerSegment], options: WordOptions | None = None
) -> list[AttributedWord]:
    """A speaker per word: largest overlap, else nearest turn within `max_gap_s`, else majority."""
    o = options or WordOptions()
    min_s, gap = _samples(o.min_word_s), _samples(o.max_gap_s)
    out: list[AttributedWord] = []
    for w in words:
        start, end = _samples(w.start_s), max(_samples(w.start_s), _samples(w.end_s))
        a, b = _span(start, end, min_s)
        cover: dict[str, int] = {}
        for t in turns:
            overlap = min(b, t.end_sample) - max(a, t.start_sample)
            if overlap > 0:
                cover[t.speaker] = cover.get(t.speaker, 0) + overlap
        if cover:
            best = max(sorted(cover), key=lambda k: cover[k])
            out.append(AttributedWord(w, start, end, best, "overlap"))
            continue
        mid = (a + b) // 2
        near: tuple[int, str] | None = None
        for t in turns:
            d = t.start_sample - mid if mid < t.start_sample else mid - t.end_sample
            if d <= gap and (near is None or (d, t.speaker) < near):
                near = (d, t.speaker)
        speaker, how = (near[1], "nearest") if near else (None, "none")
        out.append(AttributedWord(w, start, end, speaker, how))
    counts: dict[str, int] = {}
    for aw in out:
        if aw.speaker is not None:
            counts[aw.speaker] = counts.get(aw.speaker, 0) + 1
    if counts:
        major = max(sorted(counts), key=lambda k: counts[k])
        out = [
            aw
            if aw.speaker is not None
            else AttributedWord(aw.word, aw.start_sample, aw.end_sample, major, "majority")
            for aw in out
        ]
    return _absorb(out, turns, o, min_s)


def _own_share(aw: AttributedWord, turns: Sequence[SpeakerSegment], min_s: int) -> float:
    a, b = _span(aw.start_sample, aw.end_sample, min_s)
    own = sum(
        max(0, min(b, t.end_sample) - max(a, t.start_sample))
        for t in turns
        if t.speaker == aw.speaker
    )
    return own / max(1, b - a)


def _absorb(
    words: list[AttributedWord], turns: Sequence[SpeakerSegment], o: WordOptions, min_s: int
) -> list[AttributedWord]:
    if o.absorb_max_words == 0 or len(words) < 3:
        return words
    runs = _group(words)
    for i in range(1, len(runs) - 1):
        prev, cur, nxt = runs[i - 1], runs[i], runs[i + 1]
        if (
            len(cur) <= o.absorb_max_words
            and prev[0].speaker == nxt[0].speaker
            and cur[0].speaker != prev[0].speaker
            and all(_own_share(aw, turns, min_s) <= 0.5 for aw in cur)
        ):
            runs[i] = [
                AttributedWord(aw.word, aw.start_sample, aw.end_sample, prev[0].speaker, "absorbed")
                for aw in cur
            ]
    return [aw for run in runs for aw in run]


def _group(words: Sequence[AttributedWord]) -> list[list[AttributedWord]]:
    runs: list[list[AttributedWord]] = []
    for aw in words:
        if runs and runs[-1][0].speaker == aw.speaker:
            runs[-1].append(aw)
        else:
            runs.append([aw])
    return runs


def speaker_runs(words: Sequence[AttributedWord]) -> list[WordRun]:
    """Consecutive words of one speaker joined into runs, in order."""
    return [WordRun(group[0].speaker, tuple(group)) for group in _group(words)]
