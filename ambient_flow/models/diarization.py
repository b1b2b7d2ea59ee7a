"""Who is speaking: what a diarizer returns for each step of a client's audio.

The operator keeps, per client, a ring buffer of 16 kHz audio and, every `step_s` (0.5 s)
of audio, hands the last `window_s` (5 s) to the client's `DiarizationStream`. Each step
returns the speaker activity of the part of the window it is responsible for (its
*decided span*), labelled `speaker0`, `speaker1`, ... stably for the whole session. The
per-client memory lives in the stream object; the model lives in the `Diarizer`, shared
by all clients, and `Diarizer.step_many` runs several clients' due steps through one
model call. Positions are samples on the client's 16 kHz clock.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from ambient_flow.models.identity import ModelIdentity

__all__ = [
    "Audio",
    "DiarizationStep",
    "DiarizationStream",
    "Diarizer",
    "Mask",
    "SpeakerSegment",
    "StepRequest",
]

Audio = npt.NDArray[np.float32]
Mask = npt.NDArray[np.bool_]


@dataclass(frozen=True)
class SpeakerSegment:
    """One speaker active over `[start_sample, end_sample)` of the client's stream.

    Attributes:
        start_sample: First sample on the client's sample clock.
        end_sample: One past the last sample.
        speaker: `speaker0`, `speaker1`, ... stable for the client's session.
        confidence: In [0, 1]; how sure the backend is of the label (see each backend).
    """

    start_sample: int
    end_sample: int
    speaker: str
    confidence: float

    def __post_init__(self) -> None:
        if self.end_sample <= self.start_sample:
            raise ValueError(f"empty segment [{self.start_sample}, {self.end_sample})")
        if not 0.0 <= self.confidence <= 1.0:
            raise ValueError(f"confidence must be in [0, 1], got {self.confidence}")

    def to_dict(self) -> dict[str, Any]:
        """Plain values for JSON output."""
        return {
            "start_sample": self.start_sample,
            "end_sample": self.end_sample,
            "speaker": self.speaker,
            "confidence": self.confidence,
        }


@dataclass(frozen=True)
class DiarizationStep:
    """What one step decided.

    Attributes:
        window_start_sample: Start of the window the step saw.
        window_end_sample: End (exclusive) of that window.
        decided_start_sample: Start of the span this step is responsible for: segments
            lie inside `[decided_start_sample, decided_end_sample)`, and consecutive
            steps' spans tile the stream (the embedded default decides the newest audio;
            diart decides the audio `latency` behind the window's end).
        decided_end_sample: End (exclusive) of that span.
        segments: Speaker activity inside the decided span, sorted by start.
        speakers: Every label opened so far in this session, in order of opening.
        new_speakers: Labels opened by this step (a speaker-change event source).
    """

    window_start_sample: int
    window_end_sample: int
    decided_start_sample: int
    decided_end_sample: int
    segments: tuple[SpeakerSegment, ...]
    speakers: tuple[str, ...]
    new_speakers: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """Plain values for JSON output."""
        return {
            "window_start_sample": self.window_start_sample,
            "window_end_sample": self.window_end_sample,
            "decided_start_sample": self.decided_start_sample,
            "decided_end_sample": self.decided_end_sample,
            "segments": [s.to_dict() for s in self.segments],
            "speakers": list(self.speakers),
            "new_speakers": list(self.new_speakers),
        }


@runtime_checkable
class DiarizationStream(Protocol):
    """Per-client diarization state; the operator keeps one per client session."""

    def step(
        self, window: Audio, window_start_sample: int, speech: Mask | None = None
    ) -> DiarizationStep:
        """Diarize one window (see `StepRequest` for the arguments)."""
        ...


@dataclass(frozen=True)
class StepRequest:
    """One client's due step, for `Diarizer.step_many`.

    Attributes:
        stream: The client's stream, made by the same diarizer's `new_stream()`.
        window: float32 mono 16 kHz samples in [-1, 1], at most `window_s` long; shorter
            only at the start of a stream (it is then left-padded with silence).
        window_start_sample: Position of `window[0]` on the client's sample clock.
            Windows of one stream must move forward (normally by `step_s`).
        speech: Optional speech flags covering the window evenly: flag `i` of `n` covers
            samples `[i*len/n, (i+1)*len/n)` (one per sample, per 16 ms, per VAD block
            resampled, ...). None means "no VAD available"; the embedded default then
            uses an energy gate, diart uses its own segmentation either way.
    """

    stream: DiarizationStream
    window: Audio
    window_start_sample: int
    speech: Mask | None = None


@runtime_checkable
class Diarizer(Protocol):
    """A diarization model shared by all clients; streams hold the per-client state."""

    @property
    def identity(self) -> ModelIdentity:
        """What was loaded (path, sha256, options) for session metadata."""
        ...

    def load(self) -> None:
        """Import and load the model now (at worker start-up); raises StartupError."""
        ...

    def new_stream(self) -> DiarizationStream:
        """Fresh per-client state (no speakers yet)."""
        ...

    def step_many(self, requests: Sequence[StepRequest]) -> list[DiarizationStep]:
        """Run several streams' steps, batching the model calls; results in order."""
        ...
