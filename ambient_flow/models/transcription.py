"""Speech to text: what a transcriber returns for one utterance.

Every time is in seconds on the client's stream clock (the utterance's start sample / 16
kHz plus the model's offset inside it), so a segment or a word can be placed against
the diarizer's speaker turns on the same timeline.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Protocol, runtime_checkable

import numpy.typing as npt

from ambient_flow.models.identity import ModelIdentity

__all__ = ["Segment", "Transcriber", "Transcript", "Word"]


@dataclass(frozen=True)
class Word:
    """One word with its time (from the decoder's cross-attention alignment).

    Attributes:
        word: The word as decoded (keeps Whisper's leading space).
        start_s: Start on the stream clock.
        end_s: End, ``>= start_s``.
        probability: The decoder's probability of the word's tokens, in [0, 1].
    """

    word: str
    start_s: float
    end_s: float
    probability: float

    def __post_init__(self) -> None:
        if self.end_s < self.start_s:
            raise ValueError(f"word ends ({self.end_s}) before it starts ({self.start_s})")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return asdict(self)


@dataclass(frozen=True)
class Segment:
    """A stretch of a transcript, times in seconds on the client's stream clock.

    Attributes:
        start_s: Start (``offset_s`` + the model's time, clipped to the clip).
        end_s: End, ``>= start_s``, never past the clip's end.
        text: The words, stripped of surrounding spaces.
        avg_logprob: Mean log-probability of the segment's tokens.
        no_speech_prob: Whisper's probability that the window holds no speech.
        words: The segment's words with times, when the transcriber was asked for them.
    """

    start_s: float
    end_s: float
    text: str
    avg_logprob: float
    no_speech_prob: float
    words: tuple[Word, ...] = ()

    def __post_init__(self) -> None:
        if self.end_s < self.start_s:
            raise ValueError(f"segment ends ({self.end_s}) before it starts ({self.start_s})")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return asdict(self)


@dataclass(frozen=True)
class Transcript:
    """What one utterance said.

    Attributes:
        text: The kept segments' text joined by spaces; empty when nothing was said.
        segments: The kept segments, in order.
        avg_logprob: Duration-weighted mean of the segments' ``avg_logprob`` (0.0 if none).
        no_speech_prob: Duration-weighted mean ``no_speech_prob`` of the kept segments, or
            the highest of the dropped ones when none was kept (1.0 for an empty clip).
        confidence: ``exp(avg_logprob) * (1 - no_speech_prob)`` in [0, 1]; 0.0 for no text.
        language: Language code the model decoded in.
        model: Which model and options made it.
        beam_size: The beam of the decode that was kept (1: greedy; 0: not decoded).
        attempts: Decodes tried before one passed Whisper's checks (the fallback ladder).
        prompt: The text the decode was conditioned on, if any.
        context_s: Seconds of the stream's audio before the utterance decoded with it
            (only the utterance's own words are here); 0.0 for none.
    """

    text: str
    segments: tuple[Segment, ...]
    avg_logprob: float
    no_speech_prob: float
    confidence: float
    language: str
    model: ModelIdentity
    beam_size: int = 1
    attempts: int = 1
    prompt: str | None = None
    context_s: float = 0.0

    @property
    def words(self) -> tuple[Word, ...]:
        """Every word of every kept segment, in order (empty without word timestamps)."""
        return tuple(w for s in self.segments for w in s.words)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (the model as its identity dict)."""
        return {
            "text": self.text,
            "segments": [s.to_dict() for s in self.segments],
            "avg_logprob": self.avg_logprob,
            "no_speech_prob": self.no_speech_prob,
            "confidence": self.confidence,
            "language": self.language,
            "model": self.model.to_dict(),
            "beam_size": self.beam_size,
            "attempts": self.attempts,
            "prompt": self.prompt,
            "context_s": self.context_s,
        }


@runtime_checkable
class Transcriber(Protocol):
    """A speech-to-text model shared by all clients."""

    @property
    def identity(self) -> ModelIdentity:
        """Which model and options (loads the model)."""
        ...

    def load(self) -> None:
        """Load now (at start-up); raises `StartupError`."""
        ...

    def transcribe(
        self,
        audio: npt.ArrayLike,
        *,
        offset_s: float,
        prompt: str | None = None,
        context: npt.ArrayLike | None = None,
    ) -> Transcript:
        """Transcribe one utterance of 16 kHz mono float32 audio starting at `offset_s`.

        `prompt`: earlier text to condition the decode on (Whisper's `initial_prompt`);
        None for none. `context`: the stream's audio just before the utterance, decoded
        with it as left context; the transcript holds only the utterance's own words
        (None or empty: none).
        """
        ...
