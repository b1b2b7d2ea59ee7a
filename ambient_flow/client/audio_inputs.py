"""Audio inputs for the sender: a tone, a WAV file, the microphone.

Chunks are little-endian int16 PCM, interleaved when `channels == 2`. Heavy imports
(soxr, sounddevice) happen when a source is built, not when this module is imported.
"""

from __future__ import annotations

import logging
import math
import wave
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ambient_flow.errors import ConfigError, StartupError

if TYPE_CHECKING:
    pass

from ambient_flow.client.media_options import (
    AudioOptions,
    AudioSource,
    MicOptions,
    ToneOptions,
    WavOptions,
    chunk_samples,
    to_int16,
)

__all__ = [
    "MicAudio",
    "ToneAudio",
    "WavAudio",
    "open_audio",
]

logger = logging.getLogger(__name__)

_WAV_BLOCK_FRAMES = 16384


class ToneAudio:
    """An endless sine or chirp, phase-continuous across chunks (no clicks at chunk edges)."""

    source = "synthetic"
    live = False

    def __init__(self, options: ToneOptions, *, sample_rate: int, chunk_ms: int) -> None:
        self.options = options
        self.sample_rate = sample_rate
        self.channels = options.channels
        self.chunk_samples = chunk_samples(sample_rate, chunk_ms)

    def __iter__(self) -> Iterator[bytes]:
        opts, sr, n = self.options, self.sample_rate, self.chunk_samples
        phase = 0.0
        index = 0  # absolute sample index, for the chirp's position in its sweep
        sweep = max(1, round(opts.sweep_s * sr))
        while True:
            if opts.kind == "sine":
                freq = np.full(n, opts.frequency_hz)
            else:
                pos = (np.arange(index, index + n) % sweep) / sweep
                freq = opts.frequency_hz + (opts.chirp_to_hz - opts.frequency_hz) * pos
            steps = 2.0 * math.pi * freq / sr
            phases = phase + np.concatenate(([0.0], np.cumsum(steps[:-1])))
            phase = float((phases[-1] + steps[-1]) % (2.0 * math.pi))
            index += n
            pcm = to_int16(opts.amplitude * np.sin(phases))
            if self.channels == 2:
                pcm = np.repeat(pcm, 2)
            yield pcm.tobytes()

    def close(self) -> None:
        """Nothing to release."""


class WavAudio:
    """A WAV file, downmixed to mono and resampled to `sample_rate` with soxr (HQ filter).

    Only 16-bit integer PCM is read (stdlib `wave`); anything else raises `ConfigError`
    at construction, so a bad file fails before streaming starts. The stream ends with
    the file; the last chunk may be shorter than `chunk_samples`.
    """

    source = "file"
    live = False
    channels = 1

    def __init__(self, options: WavOptions, *, sample_rate: int, chunk_ms: int) -> None:
        self.path = Path(options.path)
        self.sample_rate = sample_rate
        self.chunk_samples = chunk_samples(sample_rate, chunk_ms)
        with self._open() as reader:
            self.source_rate = reader.getframerate()
            self.source_channels = reader.getnchannels()
            self.source_frames = reader.getnframes()
            width = reader.getsampwidth()
        if width != 2:
            raise ConfigError(
                f"{self.path}: {8 * width}-bit WAV; only 16-bit PCM is supported "
                "(convert with e.g. `sox in.wav -b 16 out.wav`)"
            )
        if self.source_channels < 1 or self.source_rate < 1:
            raise ConfigError(
                f"{self.path}: {self.source_channels} channels at {self.source_rate} Hz"
            )

    def _open(self) -> wave.Wave_read:
        try:
            return wave.open(str(self.path), "rb")
        except FileNotFoundError as exc:
            raise ConfigError(f"{self.path}: no such WAV file") from exc
        except (wave.Error, EOFError) as exc:
            # wave.Error: "unknown format: 3" is IEEE float, 65534 is WAVE_FORMAT_EXTENSIBLE.
            raise ConfigError(
                f"{self.path}: not a WAV file this reader supports ({exc}); use 16-bit integer PCM"
            ) from exc
        except OSError as exc:
            raise ConfigError(f"{self.path}: cannot read ({exc.strerror})") from exc

    def __iter__(self) -> Iterator[bytes]:
        import soxr  # heavy; only WAV input pays for it

        resampler = None
        if self.source_rate != self.sample_rate:
            resampler = soxr.ResampleStream(
                self.source_rate, self.sample_rate, 1, dtype="float32", quality="HQ"
            )
        pending = np.zeros(0, dtype=np.int16)
        with self._open() as reader:
            while True:
                raw = reader.readframes(_WAV_BLOCK_FRAMES)
                last = len(raw) < _WAV_BLOCK_FRAMES * 2 * self.source_channels
                pcm = np.frombuffer(raw[: len(raw) - len(raw) % (2 * self.source_channels)], "<i2")
                if self.source_channels == 1 and resampler is None:
                    mono = pcm.astype(np.int16)
                else:
                    floats = pcm.reshape(-1, self.source_channels).astype(np.float32) / 32768.0
                    down = floats.mean(axis=1, dtype=np.float32)
                    if resampler is not None:
                        down = resampler.resample_chunk(down, last=last)
                    mono = to_int16(down)
                pending = np.concatenate((pending, mono))
                while len(pending) >= self.chunk_samples:
                    yield pending[: self.chunk_samples].tobytes()
                    pending = pending[self.chunk_samples :]
                if last:
                    break
        if len(pending):
            yield pending.tobytes()

    def close(self) -> None:
        """Nothing held open between iterations."""


class MicAudio:
    """The default (or a chosen) input device through sounddevice/PortAudio.

    Raises `StartupError` at construction when sounddevice or PortAudio is missing or
    the device cannot be opened, with what to install or check.
    """

    source = "mic"
    live = True

    def __init__(self, options: MicOptions, *, sample_rate: int, chunk_ms: int) -> None:
        self.sample_rate = sample_rate
        self.channels = options.channels
        self.chunk_samples = chunk_samples(sample_rate, chunk_ms)
        #: Times the device delivered more than we read (samples were lost there).
        self.overflows = 0
        try:
            import sounddevice as sd
        except (ImportError, OSError) as exc:
            # OSError: the module imports but PortAudio itself is not installed.
            raise StartupError(
                f"microphone input needs sounddevice and PortAudio ({exc}); "
                "install `ambient-flow[mic]` and the system package libportaudio2"
            ) from exc
        try:
            self._stream = sd.RawInputStream(
                samplerate=sample_rate,
                channels=options.channels,
                dtype="int16",
                blocksize=self.chunk_samples,
                device=options.device,
            )
        except (sd.PortAudioError, ValueError) as exc:
            raise StartupError(f"cannot open microphone {options.device!r}: {exc}") from exc

    def __iter__(self) -> Iterator[bytes]:
        self._stream.start()
        while True:
            data, overflowed = self._stream.read(self.chunk_samples)
            if overflowed:
                self.overflows += 1
                logger.warning("microphone overflow #%d: samples were lost", self.overflows)
            yield bytes(data)

    def close(self) -> None:
        self._stream.stop()
        self._stream.close()


def open_audio(options: AudioOptions, *, chunk_ms: int, sample_rate: int) -> AudioSource:
    """Build the audio source `options` describes.

    Args:
        options: Which source and its own parameters.
        chunk_ms: Chunk length (the server's `audio_chunk_ms`, 100 by default).
        sample_rate: The rate to send when the options do not fix one (the server's).
    """
    if isinstance(options, ToneOptions):
        return ToneAudio(options, sample_rate=options.sample_rate or sample_rate, chunk_ms=chunk_ms)
    if isinstance(options, WavOptions):
        return WavAudio(options, sample_rate=sample_rate, chunk_ms=chunk_ms)
    return MicAudio(options, sample_rate=options.sample_rate or sample_rate, chunk_ms=chunk_ms)
