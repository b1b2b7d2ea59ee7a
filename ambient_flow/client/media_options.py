"""What a sender's media is: source options, the source protocols, chunk arithmetic.

A source only produces data; it never sleeps to keep time (the `Pacer` does that), so
the same source feeds a real-time sender, an as-fast-as-possible sender and
`synthesize_capture`. Live devices (microphone, webcam) are the exception by nature:
their reads block until the device has data, and they say so with `live = True` so
that the sender does not pace them a second time. The sources: `audio_inputs`,
`video_inputs`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

import numpy as np
import numpy.typing as npt

from ambient_flow.errors import ConfigError
from ambient_flow.protocol import constants

if TYPE_CHECKING:
    from collections.abc import Sequence


__all__ = [
    "IMAGE_SUFFIXES",
    "AudioOptions",
    "AudioSource",
    "ImageOptions",
    "Int16Array",
    "MicOptions",
    "PatternOptions",
    "ToneOptions",
    "UInt8Image",
    "VideoOptions",
    "VideoSource",
    "WavOptions",
    "WebcamOptions",
    "chunk_samples",
    "describe",
    "to_int16",
]

logger = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")

Int16Array = npt.NDArray[np.int16]
UInt8Image = npt.NDArray[np.uint8]


# -- options --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ToneOptions:
    """A synthetic tone: a steady sine or a repeating linear chirp.

    Attributes:
        kind: `sine` (steady `frequency_hz`) or `chirp` (sweeps `frequency_hz` ->
            `chirp_to_hz` every `sweep_s`, then starts again).
        amplitude: Peak level in (0, 1]; 0.3 leaves headroom like a normal voice.
        sample_rate: Samples per second; None takes the server's rate (16 kHz).
        channels: 1 or 2 (stereo repeats the tone on both channels).
    """

    kind: Literal["sine", "chirp"] = "sine"
    frequency_hz: float = 440.0
    chirp_to_hz: float = 2000.0
    sweep_s: float = 2.0
    amplitude: float = 0.3
    sample_rate: int | None = None
    channels: int = 1

    def __post_init__(self) -> None:
        if self.kind not in ("sine", "chirp"):
            raise ConfigError(f"tone kind {self.kind!r}: use 'sine' or 'chirp'")
        if not 0 < self.amplitude <= 1:
            raise ConfigError(f"amplitude={self.amplitude} must be in (0, 1]")
        if self.channels not in constants.ACCEPTED_CHANNELS:
            raise ConfigError(f"channels={self.channels}: the server accepts 1 or 2")
        if self.sample_rate is not None and self.sample_rate not in constants.ACCEPTED_SAMPLE_RATES:
            raise ConfigError(
                f"sample_rate={self.sample_rate} not in {constants.ACCEPTED_SAMPLE_RATES}"
            )
        if self.frequency_hz <= 0 or self.chirp_to_hz <= 0 or self.sweep_s <= 0:
            raise ConfigError("frequencies and sweep_s must be > 0")


@dataclass(frozen=True, slots=True)
class WavOptions:
    """A 16-bit PCM WAV file of any rate and channel count, sent as mono at the server's rate."""

    path: str

    def __post_init__(self) -> None:
        if not self.path:
            raise ConfigError("WAV path is empty")


@dataclass(frozen=True, slots=True)
class MicOptions:
    """The microphone (needs `sounddevice` and PortAudio: `pip install ambient-flow[mic]`).

    Attributes:
        device: A sounddevice device index or name substring; None is the default input.
        sample_rate: None takes the server's rate (16 kHz).
    """

    device: int | str | None = None
    sample_rate: int | None = None
    channels: int = 1

    def __post_init__(self) -> None:
        if self.channels not in constants.ACCEPTED_CHANNELS:
            raise ConfigError(f"channels={self.channels}: the server accepts 1 or 2")
        if self.sample_rate is not None and self.sample_rate not in constants.ACCEPTED_SAMPLE_RATES:
            raise ConfigError(
                f"sample_rate={self.sample_rate} not in {constants.ACCEPTED_SAMPLE_RATES}"
            )


@dataclass(frozen=True, slots=True)
class PatternOptions:
    """A moving test pattern with the frame counter drawn on it (and an optional label)."""

    label: str = "ambient-flow"


@dataclass(frozen=True, slots=True)
class ImageOptions:
    """A JPEG/PNG file or a folder of them (sorted by name), shown in a loop.

    Attributes:
        path: The file or folder.
        loop: Start again after the last image; False ends the video stream there.
    """

    path: str
    loop: bool = True

    def __post_init__(self) -> None:
        if not self.path:
            raise ConfigError("image path is empty")


@dataclass(frozen=True, slots=True)
class WebcamOptions:
    """A camera OpenCV can open (`cv2.VideoCapture(index)`)."""

    index: int = 0


AudioOptions = ToneOptions | WavOptions | MicOptions
VideoOptions = PatternOptions | ImageOptions | WebcamOptions


# -- source protocols -----------------------------------------------------------------


class AudioSource(Protocol):
    """Yields int16 LE PCM chunks of `chunk_samples` frames (the last one may be shorter)."""

    sample_rate: int
    channels: int
    chunk_samples: int
    #: The header's `source` field: mic, file or synthetic.
    source: str
    #: True when reads block on a device clock (no pacing needed).
    live: bool

    def __iter__(self) -> Iterator[bytes]: ...

    def close(self) -> None: ...


class VideoSource(Protocol):
    """Yields JPEG frames of exactly `width` x `height` at JPEG quality `quality`."""

    width: int
    height: int
    quality: int
    source: str
    live: bool

    def __iter__(self) -> Iterator[bytes]: ...

    def close(self) -> None: ...


def chunk_samples(sample_rate: int, chunk_ms: int) -> int:
    """Frames per chunk; the chunk must hold a whole number of samples."""
    if chunk_ms <= 0:
        raise ConfigError(f"chunk_ms={chunk_ms} must be > 0")
    n, rest = divmod(sample_rate * chunk_ms, 1000)
    if rest:
        raise ConfigError(f"{chunk_ms} ms at {sample_rate} Hz is not a whole number of samples")
    return n


def to_int16(samples: npt.NDArray[np.floating[Any]]) -> Int16Array:
    scaled = np.round(np.asarray(samples, dtype=np.float64) * 32768.0)
    clipped: Int16Array = np.clip(scaled, -32768, 32767).astype("<i2")
    return clipped


def describe(options: AudioOptions | VideoOptions | None) -> dict[str, Any] | None:
    """A JSON-able description of source options (kept in capture metadata)."""
    if options is None:
        return None
    fields: Sequence[str] = type(options).__slots__
    described = {"kind": type(options).__name__, **{f: getattr(options, f) for f in fields}}
    if isinstance(described.get("path"), str):
        # The file's name, not where it happened to be: captures stay reproducible.
        described["path"] = Path(described["path"]).name
    return described
