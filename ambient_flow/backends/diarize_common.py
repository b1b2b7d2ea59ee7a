"""What both diarizers share: speech masks, window checks, and the step cursor."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from ambient_flow.models.diarization import Audio, Mask

__all__ = ["StepCursor", "check_window", "energy_speech_mask", "runs", "speech_mask_per_sample"]


def speech_mask_per_sample(speech: npt.ArrayLike, num_samples: int) -> Mask:
    """Stretch evenly spaced speech flags to one flag per sample.

    Args:
        speech: n >= 1 booleans covering `num_samples` samples evenly.
        num_samples: Length of the window the flags cover.

    Raises:
        ValueError: The flags are not a non-empty 1-D array.
    """
    flags = np.asarray(speech, dtype=np.bool_).reshape(-1)
    if flags.size == 0:
        raise ValueError("speech mask is empty")
    if num_samples == 0:
        return np.zeros(0, np.bool_)
    index = (np.arange(num_samples, dtype=np.int64) * flags.size) // num_samples
    result: Mask = flags[index]
    return result


def energy_speech_mask(
    window: Audio, threshold_db: float = -40.0, frame_samples: int = 320
) -> Mask:
    """Per-sample speech flags from frame energy: a stand-in when no VAD mask is given.

    A frame of `frame_samples` (20 ms) counts as speech when its RMS is above
    `threshold_db` dBFS. Adequate for clean close-talk audio and generated speech; noise
    above the threshold counts as speech, so the flow passes the Silero VAD mask instead.
    """
    n = window.shape[0]
    frames = -(-n // frame_samples)
    padded = np.zeros(frames * frame_samples, np.float32)
    padded[:n] = window
    rms = np.sqrt(np.mean(np.square(padded.reshape(frames, frame_samples)), axis=1) + 1e-12)
    speech = 20.0 * np.log10(rms) > threshold_db
    return np.repeat(speech, frame_samples)[:n]


def check_window(window: Audio, max_samples: int) -> Audio:
    """A step's window is 1-D float32, 1..`max_samples` long, finite (else an operator bug)."""
    audio = np.asarray(window)
    if audio.ndim != 1:
        raise ValueError(f"window must be 1-D mono, got shape {audio.shape}")
    if audio.dtype != np.float32:
        raise ValueError(f"window must be float32, got {audio.dtype}")
    if audio.shape[0] == 0 or audio.shape[0] > max_samples:
        raise ValueError(f"window must hold 1..{max_samples} samples, got {audio.shape[0]}")
    if not np.all(np.isfinite(audio)):
        raise ValueError("window holds non-finite samples")
    return audio


def runs(mask: Mask) -> list[tuple[int, int]]:
    """[start, end) index runs where `mask` is True."""
    if mask.size == 0:
        return []
    edges = np.diff(np.concatenate(([0], mask.astype(np.int8), [0])))
    starts = np.flatnonzero(edges == 1)
    ends = np.flatnonzero(edges == -1)
    return [(int(s), int(e)) for s, e in zip(starts, ends, strict=True)]


@dataclass
class StepCursor:
    """Where a stream's previous step ended, and its label bookkeeping."""

    last_end: int | None = None
    decided_end: int | None = None
    labels: dict[int, str] = field(default_factory=dict)

    def label(self, index: int) -> tuple[str, bool]:
        known = index in self.labels
        if not known:
            self.labels[index] = f"speaker{len(self.labels)}"
        return self.labels[index], not known

    def closing_at(self, end: int) -> int:
        """Where a `last` request's empty step stands: the end of what was decided
        (`end`, where the stream stopped, when nothing was)."""
        return end if self.decided_end is None else self.decided_end

    def advance(self, start: int, end: int, delay: int = 0) -> tuple[int, int]:
        """Check the window moved forward; return the span `[s, e)` this step decides.

        The span ends `delay` samples before the window's end and starts where the
        previous span ended (or at the window's start), so spans tile the stream.
        """
        if self.last_end is not None and end <= self.last_end:
            raise ValueError(
                f"windows must move forward: window ends at {end}, previous at {self.last_end}"
            )
        self.last_end = end
        decided_end = max(end - delay, start)
        decided_start = start if self.decided_end is None else max(start, self.decided_end)
        decided_start = min(decided_start, decided_end)
        self.decided_end = max(decided_end, self.decided_end or 0)
        return decided_start, decided_end
