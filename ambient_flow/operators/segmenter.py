"""Utterances that end where a turn ends: pure decisions over numbers on the sample clock.

The VAD supplies a speech probability per 32 ms block and the diarizer supplies
speaker-change hints (a sample where one voice gives way to another, with a confidence);
everything else is decided here, so the same audio always gives the same utterances
whatever the pace (principle 1). An open utterance closes at the first of:

- **silence**: `min_silence_s` below `neg_threshold` (hysteresis: speech starts at
  `threshold` and continues while the probability stays at or above `neg_threshold`);
- **speaker change**: a hint with `confidence >= change_confidence` inside the utterance
  and at least `min_change_s` after its start; the utterance is cut there, after the
  fact (a hint comes once the diarizer has heard enough of the new voice), and the rest
  continues as a new utterance (contiguous audio: no pre-roll);
- **maximum length**: at `max_utterance_s` the utterance is cut in the middle of the
  longest pause of `[split_window_s, max_utterance_s]` after its speech start, or at
  the least speech-like 3-block stretch when it has no pause, so continuous talk
  yields a transcript every `max_utterance_s` at most (the longest pause, not the
  quietest single block, which is often a stop consonant inside a word);
- **flush**: end of stream, a stale client, a jump in the timeline.

Pre-roll: an utterance that starts after silence begins `pre_roll_s` before its first
speech block (never before the end of the previous one): word onsets are quiet.

`SpeechGate` is the same hysteresis without the utterance bookkeeping: the per-block
speech flag the diarizer follows, so both see one definition of speech.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import numpy.typing as npt

from ambient_flow.models.diarization import ChangeHint
from ambient_flow.protocol.constants import AUDIO_SAMPLE_RATE as SAMPLE_RATE

__all__ = ["Reason", "SegmenterOptions", "SpeechGate", "Utterance", "UtteranceSegmenter"]

Reason = Literal["silence", "speaker_change", "max_length", "flush"]


@dataclass(frozen=True)
class SegmenterOptions:
    """Bounds of an utterance (seconds; probabilities in [0, 1]).

    Attributes:
        threshold: Probability at which speech starts.
        neg_threshold: Below this a block is silence (between the two, the state holds).
        min_speech_s: Utterances with less speech than this are dropped (counted).
        min_silence_s: Silence that ends an utterance.
        pre_roll_s: Audio kept before the first speech block after silence.
        max_utterance_s: Longest utterance; longer speech is cut (see the module).
        split_window_s: A maximum-length cut is searched from this far after the
            utterance's speech start on.
        speaker_change_cuts: Close utterances at the diarizer's change hints.
        change_confidence: Hints below this confidence are ignored.
        min_change_s: A change cut leaves at least this much before it (shorter pieces
            decode badly; word attribution splits them instead).
        block_samples: Samples per VAD block (512 = 32 ms at 16 kHz, Silero's size).
    """

    threshold: float = 0.5
    neg_threshold: float = 0.35
    min_speech_s: float = 0.3
    min_silence_s: float = 0.3
    pre_roll_s: float = 0.5
    max_utterance_s: float = 5.0
    split_window_s: float = 2.0
    speaker_change_cuts: bool = True
    change_confidence: float = 0.5
    min_change_s: float = 1.0
    block_samples: int = 512

    def __post_init__(self) -> None:
        if not 0 < self.neg_threshold <= self.threshold < 1:
            raise ValueError("need 0 < neg_threshold <= threshold < 1")
        if min(self.min_speech_s, self.min_silence_s, self.max_utterance_s) <= 0:
            raise ValueError("min_speech_s, min_silence_s and max_utterance_s must be > 0")
        if self.pre_roll_s < 0 or self.block_samples <= 0:
            raise ValueError("pre_roll_s must be >= 0 and block_samples > 0")
        if self.max_utterance_s <= 2 * self.min_speech_s:
            raise ValueError("max_utterance_s must exceed twice min_speech_s")
        if not 0 < self.split_window_s < self.max_utterance_s:
            raise ValueError("need 0 < split_window_s < max_utterance_s")
        if not 0.0 <= self.change_confidence <= 1.0 or self.min_change_s < 0:
            raise ValueError("change_confidence must be in [0, 1] and min_change_s >= 0")

    def samples(self, seconds: float) -> int:
        return round(seconds * SAMPLE_RATE)


@dataclass(frozen=True, slots=True)
class Utterance:
    """A stretch `[start_sample, end_sample)` of one client's timeline, and why it closed.

    `speech` holds the runs of speech blocks inside it (`[start, end)` samples, the
    hysteresis' verdict): where in the utterance someone spoke.
    """

    start_sample: int
    end_sample: int
    reason: Reason
    speech: tuple[tuple[int, int], ...] = ()

    @property
    def duration_s(self) -> float:
        return (self.end_sample - self.start_sample) / SAMPLE_RATE


@dataclass
class SpeechGate:
    """Causal hysteresis: `push(p) -> bool` says whether this block is speech."""

    threshold: float = 0.5
    neg_threshold: float = 0.35
    active: bool = False

    def push(self, probability: float) -> bool:
        limit = self.neg_threshold if self.active else self.threshold
        self.active = probability >= limit
        return self.active


@dataclass
class UtteranceSegmenter:
    """Per-client state machine: push block probabilities in order, give hints, get utterances.

    Blocks are addressed by the absolute sample at which they start; a block that does
    not follow the previous one (the timeline jumped) closes what is open, as silence.
    State: the open utterance's bounds and its blocks' probabilities (at most
    `max_utterance_s` of them).
    """

    options: SegmenterOptions = field(default_factory=SegmenterOptions)
    in_speech: bool = False
    start: int = 0  # utterance start (with pre-roll)
    speech_start: int = 0  # first block of this utterance's speech (or where it was cut)
    last_speech_end: int = 0  # end of the last block at or above neg_threshold
    floor: int = 0  # nothing before this can belong to a new utterance
    next_block: int | None = None
    probs: list[float] = field(default_factory=list)  # blocks from speech_start on
    dropped_short: int = 0

    def push(self, block_start: int, probability: float) -> list[Utterance]:
        """One block's speech probability (blocks in order)."""
        opt = self.options
        out: list[Utterance] = []
        if self.next_block is not None and block_start != self.next_block and self.in_speech:
            out += self._close(self.last_speech_end, "silence")
        block_end = block_start + opt.block_samples
        self.next_block = block_end
        if not self.in_speech:
            if probability >= opt.threshold:
                self.in_speech = True
                self.speech_start = block_start
                self.start = max(self.floor, block_start - opt.samples(opt.pre_roll_s))
                self.last_speech_end = block_end
                self.probs = [probability]
            return out
        self.probs.append(probability)
        if probability >= opt.neg_threshold:
            self.last_speech_end = block_end
        elif block_end - self.last_speech_end >= opt.samples(opt.min_silence_s):
            return out + self._close(self.last_speech_end, "silence")
        if block_end - self.speech_start >= opt.samples(opt.max_utterance_s):
            out += self._split()
        return out

    def hint(self, change: ChangeHint) -> list[Utterance]:
        """A speaker-change hint: closes the open utterance at the change when it applies."""
        opt = self.options
        if not opt.speaker_change_cuts or not self.in_speech:
            return []
        if change.confidence < opt.change_confidence:
            return []
        i = (change.sample - self.speech_start) // opt.block_samples  # onto the block grid
        cut = self.speech_start + i * opt.block_samples
        if cut - self.start < opt.samples(max(opt.min_speech_s, opt.min_change_s)):
            return []
        if cut >= self.last_speech_end:
            return []
        return [self._cut(i, "speaker_change")]

    def flush(self) -> list[Utterance]:
        """End of stream or a stale client: emit what is open (if long enough)."""
        return self._close(self.last_speech_end, "flush") if self.in_speech else []

    def _speech_runs(self, upto: int) -> tuple[tuple[int, int], ...]:
        """Runs of blocks of the open utterance judged speech (hysteresis), before `upto`."""
        opt = self.options
        runs: list[list[int]] = []
        active = True  # the utterance is in speech where it starts (or was cut)
        for i, p in enumerate(self.probs):
            s = self.speech_start + i * opt.block_samples
            if s >= upto:
                break
            active = p >= (opt.neg_threshold if active else opt.threshold)
            if not active:
                continue
            e = min(s + opt.block_samples, upto)
            if runs and runs[-1][1] == s:
                runs[-1][1] = e
            else:
                runs.append([s, e])
        return tuple((a, b) for a, b in runs)

    def _close(self, end: int, reason: Reason) -> list[Utterance]:
        speech = self._speech_runs(end)
        self.in_speech = False
        self.floor = end
        spoken = end - self.speech_start
        self.probs = []
        if spoken < self.options.samples(self.options.min_speech_s):
            self.dropped_short += 1
            return []
        return [Utterance(self.start, end, reason, speech)]

    def _cut(self, i: int, reason: Reason) -> Utterance:
        """Close at block `i` of the open utterance; the rest stays open from there."""
        cut = self.speech_start + i * self.options.block_samples
        utterance = Utterance(self.start, cut, reason, self._speech_runs(cut))
        self.start = cut
        self.speech_start = cut
        self.probs = self.probs[i:]
        return utterance

    def _split(self) -> list[Utterance]:
        opt = self.options
        lo = opt.samples(opt.split_window_s) // opt.block_samples
        window = np.asarray(self.probs[lo:], dtype=np.float64)
        if window.size == 0:
            return []
        return [self._cut(lo + _pause_cut(window, opt.neg_threshold), "max_length")]


def _pause_cut(window: npt.NDArray[np.float64], neg_threshold: float) -> int:
    """Index to cut at: the middle of the longest sub-threshold run (latest on a tie),
    else the middle of the least speech-like 3-block stretch (latest on a tie)."""
    quiet = window < neg_threshold
    best: tuple[int, int] | None = None  # (length, start)
    i = 0
    while i < quiet.size:
        if not quiet[i]:
            i += 1
            continue
        j = i
        while j < quiet.size and quiet[j]:
            j += 1
        if best is None or j - i >= best[0]:
            best = (j - i, i)
        i = j
    if best is not None:
        return best[1] + best[0] // 2
    if window.size < 3:
        return int(np.argmin(window))
    smooth = np.convolve(window, np.ones(3) / 3, mode="valid")
    return int(smooth.size - 1 - np.argmin(smooth[::-1])) + 1
