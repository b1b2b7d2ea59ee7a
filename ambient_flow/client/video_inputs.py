"""Video inputs for the sender: a moving test pattern, image files, a webcam.

Frames are JPEG bytes of exactly `width` x `height`. OpenCV is imported when a source
is built, not when this module is imported.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ambient_flow.errors import ConfigError, StartupError
from ambient_flow.protocol import constants

if TYPE_CHECKING:
    pass

from ambient_flow.client.media_options import (
    IMAGE_SUFFIXES,
    ImageOptions,
    PatternOptions,
    UInt8Image,
    VideoOptions,
    VideoSource,
    WebcamOptions,
)

__all__ = [
    "ImageFiles",
    "TestPattern",
    "Webcam",
    "encode_jpeg",
    "open_video",
]

logger = logging.getLogger(__name__)

_MAX_CACHED_IMAGES = 128
_MAX_WEBCAM_FAILURES = 25


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


def open_video(options: VideoOptions, *, width: int, height: int, quality: int) -> VideoSource:
    """Build the video source `options` describes, producing `width` x `height` JPEGs."""
    if isinstance(options, PatternOptions):
        return TestPattern(options, width=width, height=height, quality=quality)
    if isinstance(options, ImageOptions):
        return ImageFiles(options, width=width, height=height, quality=quality)
    return Webcam(options, width=width, height=height, quality=quality)
