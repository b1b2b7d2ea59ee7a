"""Who is speaking: what a diarizer returns for each step of a client's audio.

The operator keeps, per client, a ring buffer of 16 kHz audio and, every `step_s` (0.5 s)
of audio, hands the last `window_s` (5 s) to the client's `DiarizationStream`, with the
VAD's verdict on each block of it (`SpeechBlocks`). Each step returns the speaker activity
of the part of the stream it is responsible for (its *decided span*), labelled
`speaker0`, `speaker1`, ... for the whole session. The per-client memory lives in the
stream object; the model lives in the `Diarizer`, shared by all clients, and
`Diarizer.step_many` runs several clients' due steps through one model call. Positions
are samples on the client's 16 kHz clock.

A step may also correct what earlier steps said (`SpeakerRelabel`: audio labelled `old`
in a span is `new` now — history is never rewritten silently, principle 9) and say where
it believes one voice gave way to another (`ChangeHint`: the utterance segmenter closes
an utterance there). `apply_relabels` is the consumer's rule for the corrections.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from ambient_flow.models.identity import ModelIdentity

__all__ = [
    "RELABEL_REASONS",
    "Audio",
    "ChangeHint",
    "DiarizationStep",
    "DiarizationStream",
    "Diarizer",
    "Mask",
    "SpeakerRelabel",
    "SpeakerSegment",
    "SpeechBlocks",
    "StepRequest",
    "apply_relabels",
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


@dataclass(frozen=True, eq=False)
class SpeechBlocks:
    """The VAD's verdict on consecutive blocks of a client's stream.

    Attributes:
        start_sample: First sample of the first block on the client's sample clock.
        block_samples: Samples per block (512).
        probabilities: Speech probability of each block (of the level-normalised audio).
        speech: The speech flag of each block (the probability through the segmenter's
            hysteresis): one definition of speech for utterances and speakers.
    """

    start_sample: int
    block_samples: int
    probabilities: npt.NDArray[np.float32]
    speech: Mask

    def __post_init__(self) -> None:
        if self.block_samples <= 0:
            raise ValueError(f"block_samples must be > 0, got {self.block_samples}")
        if np.shape(self.probabilities) != np.shape(self.speech) or np.ndim(self.speech) != 1:
            raise ValueError("probabilities and speech must be 1-D and of one length")

    def __len__(self) -> int:
        return int(np.shape(self.speech)[0])

    @property
    def end_sample(self) -> int:
        """One past the last block's last sample."""
        return self.start_sample + len(self) * self.block_samples


@dataclass(frozen=True)
class ChangeHint:
    """The diarizer believes a different voice starts at `sample` (confidence in [0, 1])."""

    sample: int
    confidence: float

    def __post_init__(self) -> None:
        if not 0.0 <= self.confidence <= 1.0:
            raise ValueError(f"confidence must be in [0, 1], got {self.confidence}")


#: Why a label changed after it was emitted.
RELABEL_REASONS = ("new_speaker", "recluster", "turn_edge")


@dataclass(frozen=True)
class SpeakerRelabel:
    """Audio labelled `old` within `[start_sample, end_sample)` is `new` from now on.

    Decided at stream sample `at_sample`. `reason`: `new_speaker` (a voice gathered enough
    speech to be a speaker of its own, and takes back the speech it was provisionally
    given to another), `recluster` (the session-level pass over all the session's
    speech) or `turn_edge` (the first speech of a turn, labelled by an embedding that also
    heard the turn before, goes with the next one, which heard it alone). It concerns
    only labels emitted *before* it; everything emitted after it already carries its
    decision (`apply_relabels`).
    """

    start_sample: int
    end_sample: int
    old: str
    new: str
    at_sample: int
    reason: str

    def __post_init__(self) -> None:
        if self.end_sample <= self.start_sample:
            raise ValueError(f"empty relabel span [{self.start_sample}, {self.end_sample})")
        if self.old == self.new:
            raise ValueError(f"a relabel must change the label, got {self.old!r} twice")
        if self.reason not in RELABEL_REASONS:
            raise ValueError(f"reason must be one of {RELABEL_REASONS}, got {self.reason!r}")

    def covers(self, label: str | None, sample: int) -> bool:
        """Whether audio at `sample` labelled `label` (before this event) is now `new`."""
        return label == self.old and self.start_sample <= sample < self.end_sample

    def to_dict(self) -> dict[str, Any]:
        """Plain values for JSON output."""
        return {
            "start_sample": self.start_sample,
            "end_sample": self.end_sample,
            "old": self.old,
            "new": self.new,
            "at_sample": self.at_sample,
            "reason": self.reason,
        }


def apply_relabels(
    segments: Sequence[SpeakerSegment], relabels: Sequence[SpeakerRelabel]
) -> list[SpeakerSegment]:
    """What a consumer that honours relabel events shows: `relabels` applied in order.

    An event changes only audio that carries `old` inside `[start_sample, end_sample)`; a
    segment reaching out of the span is split at its bounds. Give it the segments emitted
    before the events (later ones already carry the decisions).
    """
    out = list(segments)
    for ev in relabels:
        nxt: list[SpeakerSegment] = []
        for seg in out:
            if (
                seg.speaker != ev.old
                or seg.end_sample <= ev.start_sample
                or seg.start_sample >= ev.end_sample
            ):
                nxt.append(seg)
                continue
            lo, hi = max(seg.start_sample, ev.start_sample), min(seg.end_sample, ev.end_sample)
            if seg.start_sample < lo:
                nxt.append(SpeakerSegment(seg.start_sample, lo, seg.speaker, seg.confidence))
            nxt.append(SpeakerSegment(lo, hi, ev.new, seg.confidence))
            if hi < seg.end_sample:
                nxt.append(SpeakerSegment(hi, seg.end_sample, seg.speaker, seg.confidence))
        out = nxt
    return out


@dataclass(frozen=True)
class DiarizationStep:
    """What one step decided.

    Attributes:
        window_start_sample: Start of the window the step saw.
        window_end_sample: End (exclusive) of that window.
        decided_start_sample: Start of the span this step is responsible for: segments
            lie inside `[decided_start_sample, decided_end_sample)`, and no two steps'
            segments overlap (the embedded default decides the newest audio, and may
            reach back for speech no earlier step labelled: the pause inside a turn, a
            blip too short to judge alone; diart decides the audio `latency` behind the
            window's end, and its spans tile the stream).
        decided_end_sample: End (exclusive) of that span.
        segments: Speaker activity inside the decided span, sorted by start.
        speakers: The labels in use in this session, in order of opening.
        new_speakers: Labels opened by this step (a speaker-change event source).
        relabels: Corrections of labels earlier steps emitted, in the order to apply
            them; this step's own segments already carry them.
        change_hints: Where this step believes one voice gave way to another.
    """

    window_start_sample: int
    window_end_sample: int
    decided_start_sample: int
    decided_end_sample: int
    segments: tuple[SpeakerSegment, ...]
    speakers: tuple[str, ...]
    new_speakers: tuple[str, ...] = ()
    relabels: tuple[SpeakerRelabel, ...] = ()
    change_hints: tuple[ChangeHint, ...] = ()

    @classmethod
    def closing(
        cls,
        at_sample: int,
        speakers: tuple[str, ...] = (),
        relabels: tuple[SpeakerRelabel, ...] = (),
    ) -> DiarizationStep:
        """The answer to a `last` request: an empty span at the stream's end, and the
        corrections the diarizer still had to make."""
        return cls(at_sample, at_sample, at_sample, at_sample, (), speakers, (), relabels)

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
            "relabels": [r.to_dict() for r in self.relabels],
            "change_hints": [
                {"sample": h.sample, "confidence": h.confidence} for h in self.change_hints
            ],
        }


@runtime_checkable
class DiarizationStream(Protocol):
    """Per-client diarization state; the operator keeps one per client session."""

    def step(
        self,
        window: Audio,
        window_start_sample: int,
        speech: Mask | None = None,
        blocks: SpeechBlocks | None = None,
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
        blocks: The VAD's blocks inside the window on the VAD's own block grid (what the
            embedded default follows speech by; it takes `speech` when absent).
        last: The stream's session is over: no new audio (`window` may be empty,
            `window_start_sample` is where the stream ends). A diarizer makes its last
            corrections (the embedded default runs its session pass over the speech no
            pass has seen) and decides nothing new.
    """

    stream: DiarizationStream
    window: Audio
    window_start_sample: int
    speech: Mask | None = None
    blocks: SpeechBlocks | None = None
    last: bool = False


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
