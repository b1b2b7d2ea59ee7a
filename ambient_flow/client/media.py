"""Media sources for the sender: iterators of wire-ready audio chunks and JPEG frames.

A source only produces data; it never sleeps to keep time (the `Pacer` does
that), so the same source feeds a real-time sender, an as-fast-as-possible
sender and `synthesize_capture`. Live devices (microphone, webcam) are the
exception by nature: their reads block until the device has data, and they say
so with `live = True` so that the sender does not pace them a second time.

Audio chunks are little-endian int16 PCM, interleaved when `channels == 2`.
Video frames are JPEG bytes of exactly `width` x `height`.

Heavy imports (OpenCV, soxr, sounddevice) happen when a source is built, not when
this module is imported.
"""

from __future__ import annotations

import logging
import math
import wave
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

import numpy as np
import numpy.typing as npt

from ambient_flow.errors import ConfigError, StartupError
from ambient_flow.protocol import constants

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = [
    "IMAGE_SUFFIXES",
    "AudioOptions",
    "AudioSource",
    "ImageFiles",
    "ImageOptions",
    "MicAudio",
    "MicOptions",
    "PatternOptions",
    "TestPattern",
    "ToneAudio",
    "ToneOptions",
    "VideoOptions",
    "VideoSource",
    "WavAudio",
    "WavOptions",
    "Webcam",
    "WebcamOptions",
    "chunk_samples",
    "describe",
    "encode_jpeg",
    "open_audio",
    "open_video",
]

logger = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
_WAV_BLOCK_FRAMES = 16384
_MAX_CACHED_IMAGES = 128
_MAX_WEBCAM_FAILURES = 25

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


def _to_int16(samples: npt.NDArray[np.floating[Any]]) -> Int16Array:
    scaled = np.round(np.asarray(samples, dtype=np.float64) * 32768.0)
    clipped: Int16Array = np.clip(scaled, -32768, 32767).astype("<i2")
    return clipped


# -- audio ----------------------------------------------------------------------------


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
            pcm = _to_int16(opts.amplitude * np.sin(phases))
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
                    mono = _to_int16(down)
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
                f"microphone capture needs sounddevice and PortAudio ({exc}); "
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


# -- video ----------------------------------------------------------------------------


def encode_jpeg(image: UInt8Image, quality: int) -> bytes:
    """BGR image -> JPEG bytes at `quality` (1..100)."""
    import cv2

    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise ValueError(f"OpenCV could not encode a {image.shape} image as JPEG")
    return bytes(buf.tobytes())


def _fit(image: UInt8Image, width: int, height: int) -> UInt8Image:
    """Stretch to exactly width x height: the header announces that size."""
    import cv2

    if image.shape[1] == width and image.shape[0] == height:
        return image
    shrink = image.shape[1] > width or image.shape[0] > height
    interp = cv2.INTER_AREA if shrink else cv2.INTER_LINEAR
    return np.asarray(cv2.resize(image, (width, height), interpolation=interp), dtype=np.uint8)


def _check_video(width: int, height: int, quality: int) -> None:
    if not (1 <= width <= constants.MAX_VIDEO_SIDE and 1 <= height <= constants.MAX_VIDEO_SIDE):
        raise ConfigError(f"{width}x{height}: each side must be 1..{constants.MAX_VIDEO_SIDE}")
    if not 1 <= quality <= 100:
        raise ConfigError(f"quality={quality} must be 1..100")


class TestPattern:
    """Colour bars that scroll, a bouncing box and the frame number, all from the frame index.

    Frame `n` depends only on `n`, the size and the label, so two runs produce the same
    JPEG bytes (what makes `synthesize_capture` reproducible), and consecutive frames
    always differ (what makes a frozen stream visible).
    """

    __test__ = False  # not a pytest test class, despite the name
    source = "synthetic"
    live = False

    def __init__(self, options: PatternOptions, *, width: int, height: int, quality: int) -> None:
        _check_video(width, height, quality)
        self.options = options
        self.width, self.height, self.quality = width, height, quality
        bars = np.array(
            [
                [255, 255, 255],
                [0, 255, 255],
                [255, 255, 0],
                [0, 255, 0],
                [255, 0, 255],
                [0, 0, 255],
                [255, 0, 0],
                [16, 16, 16],
            ],
            dtype=np.uint8,
        )
        columns = (np.arange(width) * len(bars)) // width
        self._base = np.ascontiguousarray(np.broadcast_to(bars[columns], (height, width, 3)))

    def render(self, n: int) -> UInt8Image:
        """The BGR image of frame `n`."""
        import cv2

        w, h = self.width, self.height
        img = np.roll(self._base, (n * 4) % w, axis=1)
        box = max(4, min(w, h) // 6)
        span_x, span_y = max(1, w - box), max(1, h - box)
        x = abs((n * 7) % (2 * span_x) - span_x)
        y = abs((n * 5) % (2 * span_y) - span_y)
        cv2.rectangle(img, (x, y), (x + box, y + box), (0, 0, 0), thickness=-1)
        scale = max(0.3, h / 480.0)
        thick = max(1, round(2 * scale))
        org = (max(2, w // 32), h - max(4, h // 16))
        cv2.putText(
            img,
            f"frame {n:06d}",
            org,
            cv2.FONT_HERSHEY_SIMPLEX,
            scale,
            (0, 0, 0),
            thick + 2,
            cv2.LINE_AA,
        )
        cv2.putText(
            img,
            f"frame {n:06d}",
            org,
            cv2.FONT_HERSHEY_SIMPLEX,
            scale,
            (255, 255, 255),
            thick,
            cv2.LINE_AA,
        )
        if self.options.label:
            top = (org[0], max(12, int(30 * scale)))
            cv2.putText(
                img,
                self.options.label[:40],
                top,
                cv2.FONT_HERSHEY_SIMPLEX,
                scale * 0.7,
                (0, 0, 0),
                thick,
                cv2.LINE_AA,
            )
        return img

    def __iter__(self) -> Iterator[bytes]:
        n = 0
        while True:
            yield encode_jpeg(self.render(n), self.quality)
            n += 1

    def close(self) -> None:
        """Nothing to release."""


def _list_images(path: Path) -> list[Path]:
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise ConfigError(f"{path}: no {'/'.join(IMAGE_SUFFIXES)} files in this folder")
        return files
    if path.is_file():
        if path.suffix.lower() not in IMAGE_SUFFIXES:
            raise ConfigError(f"{path}: not a {'/'.join(IMAGE_SUFFIXES)} file")
        return [path]
    raise ConfigError(f"{path}: no such file or folder")


class ImageFiles:
    """Still images re-encoded to JPEG at the configured size and quality, in a loop.

    Images that do not decode are skipped, counted in `skipped` and logged; if a whole
    pass yields nothing the stream ends instead of spinning. The first image is decoded
    at construction so that a wrong path fails before streaming starts.
    """

    source = "file"
    live = False

    def __init__(self, options: ImageOptions, *, width: int, height: int, quality: int) -> None:
        _check_video(width, height, quality)
        self.width, self.height, self.quality = width, height, quality
        self.loop = options.loop
        self.files = _list_images(Path(options.path))
        self.skipped = 0
        self._cache: dict[Path, bytes] = {}
        if self._encode(self.files[0]) is None:
            raise ConfigError(f"{self.files[0]}: OpenCV cannot decode this image")

    def _encode(self, path: Path) -> bytes | None:
        cached = self._cache.get(path)
        if cached is not None:
            return cached
        import cv2

        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is None:
            return None
        jpeg = encode_jpeg(_fit(np.asarray(image, np.uint8), self.width, self.height), self.quality)
        if len(self._cache) < _MAX_CACHED_IMAGES:
            self._cache[path] = jpeg
        return jpeg

    def __iter__(self) -> Iterator[bytes]:
        while True:
            produced = 0
            for path in self.files:
                jpeg = self._encode(path)
                if jpeg is None:
                    self.skipped += 1
                    logger.warning("skipping %s: OpenCV cannot decode it", path)
                    continue
                produced += 1
                yield jpeg
            if not self.loop or not produced:
                return

    def close(self) -> None:
        self._cache.clear()


class Webcam:
    """A camera through `cv2.VideoCapture`; `StartupError` at construction if it cannot open.

    The stream ends after 25 consecutive failed reads (camera unplugged), with a log line.
    """

    source = "webcam"
    live = True

    def __init__(self, options: WebcamOptions, *, width: int, height: int, quality: int) -> None:
        import cv2

        _check_video(width, height, quality)
        self.width, self.height, self.quality = width, height, quality
        self.failed_reads = 0
        self._cap = cv2.VideoCapture(options.index)
        if not self._cap.isOpened():
            self._cap.release()
            raise StartupError(f"cannot open webcam {options.index} (no camera, or it is busy)")
        self._cap.set(cv2.CAP_PROP_FRAME_WIDTH, width)
        self._cap.set(cv2.CAP_PROP_FRAME_HEIGHT, height)

    def __iter__(self) -> Iterator[bytes]:
        failures = 0
        while failures < _MAX_WEBCAM_FAILURES:
            ok, frame = self._cap.read()
            if not ok or frame is None:
                failures += 1
                self.failed_reads += 1
                continue
            failures = 0
            yield encode_jpeg(
                _fit(np.asarray(frame, np.uint8), self.width, self.height), self.quality
            )
        logger.error("webcam: %d reads failed in a row; ending the video stream", failures)

    def close(self) -> None:
        self._cap.release()


# -- factories ------------------------------------------------------------------------


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


def open_video(options: VideoOptions, *, width: int, height: int, quality: int) -> VideoSource:
    """Build the video source `options` describes, producing `width` x `height` JPEGs."""
    if isinstance(options, PatternOptions):
        return TestPattern(options, width=width, height=height, quality=quality)
    if isinstance(options, ImageOptions):
        return ImageFiles(options, width=width, height=height, quality=quality)
    return Webcam(options, width=width, height=height, quality=quality)


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
