"""Utterance segmentation: pure decisions over a per-block speech probability.

The model (Silero, or the energy VAD) only says how likely each 32 ms block is to be
speech; everything else — hysteresis, minimum speech, minimum silence, pre-roll, the
maximum length and where to split — is here, on the client's sample clock, so the same
audio always gives the same utterances whatever the pace (principle 1).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from ambient_flow.protocol.constants import AUDIO_SAMPLE_RATE as SAMPLE_RATE

__all__ = ["SegmenterOptions", "Utterance", "UtteranceSegmenter"]


@dataclass(frozen=True)
class SegmenterOptions:
    """Bounds of an utterance, in seconds (stored as samples once validated).

    Attributes:
        threshold: Probability at which speech starts.
        neg_threshold: Probability below which a block counts as silence (hysteresis:
            between the two, the current state holds).
        min_speech_s: Utterances shorter than this are dropped (counted by the caller).
        min_silence_s: Silence that ends an utterance.
        pre_roll_s: Audio kept before the first speech block (word onsets are quiet).
        max_utterance_s: Longer speech is split at its quietest block.
        block_samples: Samples per VAD block (512 = 32 ms at 16 kHz, Silero's size).
    """

    threshold: float = 0.5
    neg_threshold: float = 0.35
    min_speech_s: float = 0.5
    min_silence_s: float = 0.8
    pre_roll_s: float = 0.3
    max_utterance_s: float = 30.0
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

    def samples(self, seconds: float) -> int:
        return round(seconds * SAMPLE_RATE)


@dataclass(frozen=True, slots=True)
class Utterance:
    """A stretch of one client's timeline judged to be speech: samples [start, end)."""

    start_sample: int
    end_sample: int
    reason: Literal["silence", "max_length", "flush"]

    @property
    def duration_s(self) -> float:
        return (self.end_sample - self.start_sample) / SAMPLE_RATE


@dataclass
class UtteranceSegmenter:
    """Per-client state machine; `push` block probabilities in order, get utterances.

    Blocks are addressed by the absolute sample at which they start; a block that
    does not follow the previous one (the timeline jumped) is treated as silence up to it.
    """

    options: SegmenterOptions = field(default_factory=SegmenterOptions)
    in_speech: bool = False
    start: int = 0  # utterance start (with pre-roll)
    speech_start: int = 0  # first speech block, without pre-roll
    last_speech_end: int = 0  # end of the last block above neg_threshold
    floor: int = 0  # nothing before this can be part of a new utterance
    next_block: int | None = None
    probs: list[float] = field(default_factory=list)  # blocks of the current utterance
    dropped_short: int = 0

    def push(self, block_start: int, probability: float) -> list[Utterance]:
        opt = self.options
        out: list[Utterance] = []
        if self.next_block is not None and block_start != self.next_block and self.in_speech:
            # A jump in the timeline is silence: close what was open.
            out += self._close(self.last_speech_end, "silence")
        self.next_block = block_start + opt.block_samples
        block_end = block_start + opt.block_samples
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
            out += self._close(self.last_speech_end, "silence")
            return out
        if block_end - self.start >= opt.samples(opt.max_utterance_s):
            out += self._split()
        return out

    def flush(self) -> list[Utterance]:
        """End of stream or a stale client: emit what is open (if long enough)."""
        if not self.in_speech:
            return []
        return self._close(self.last_speech_end, "flush")

    def _close(
        self, end: int, reason: Literal["silence", "max_length", "flush"]
    ) -> list[Utterance]:
        self.in_speech = False
        self.floor = end
        self.probs = []
        if end - self.speech_start < self.options.samples(self.options.min_speech_s):
            self.dropped_short += 1
            return []
        return [Utterance(self.start, end, reason)]

    def _split(self) -> list[Utterance]:
        """Cut at the quietest block of the second half, keep the rest open."""
        block = self.options.block_samples
        # probs[i] belongs to the block that starts at speech_start + i * block.
        half = len(self.probs) // 2
        i = half + int(np.argmin(np.asarray(self.probs[half:], dtype=np.float64)))
        cut = self.speech_start + i * block
        utterance = Utterance(self.start, cut, "max_length")
        self.start = cut
        self.speech_start = cut
        self.probs = self.probs[i:]
        return [utterance]
