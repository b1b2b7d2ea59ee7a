"""Object detection backends: what is in view in a client's latest video frame.

The interface and result type are `models.detection` (`Detector`, `Detection`).

- `OpenCVDetector` (default, ships with opencv-python-headless): the HOG people detector
  (class `person`) and the Haar frontal-face cascade (class `face`). Small and fast
  enough for a few frames a second on a CPU, far less accurate than a CNN.
- `YoloDetector` (production): ultralytics YOLO from a local `.pt` the user gives;
  class names come from the checkpoint.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from ambient_flow.backends.base import (
    offline_environment,
    require_file,
    torch_threads,
    verify_sha256,
)
from ambient_flow.backends.detect_filters import Box, box_fraction, nms, textured_mask
from ambient_flow.errors import ConfigError, StartupError
from ambient_flow.models.detection import Detection, Image
from ambient_flow.models.identity import ModelIdentity
from ambient_flow.models.lazy import LazyModel

__all__ = [
    "HAAR_FRONTALFACE_SHA256",
    "OpenCVDetector",
    "OpenCVDetectorOptions",
    "YoloDetector",
    "YoloOptions",
]

logger = logging.getLogger(__name__)

HAAR_FRONTALFACE_SHA256 = "0f7d4527844eb514d4a4948e822da90fbb16a34a0bbbbc6adc6498747a5aafb0"
"""sha256 of `haarcascade_frontalface_default.xml` in opencv-python-headless 4.11.0.86."""


def _check_image(image: Image) -> Image:
    array = np.asarray(image)
    if array.dtype != np.uint8 or array.ndim != 3 or array.shape[2] != 3:
        raise ValueError(f"expected a BGR uint8 (H, W, 3) image, got {array.dtype} {array.shape}")
    if array.shape[0] == 0 or array.shape[1] == 0:
        raise ValueError(f"empty image {array.shape}")
    return array


def _packaged_cascade() -> Path:
    """The frontal-face cascade inside opencv-python-headless (`cv2.data.haarcascades`)."""
    from cv2 import data as cv2_data

    return Path(str(cv2_data.haarcascades)) / "haarcascade_frontalface_default.xml"


def _logistic(score: float) -> float:
    return 1.0 / (1.0 + math.exp(-score))


# --------------------------------------------------------------------------- OpenCV default


@dataclass(frozen=True)
class OpenCVDetectorOptions:
    """Settings of the HOG person + Haar face detector.

    Attributes:
        confidence: Minimum confidence kept. Both detectors give unbounded scores (the
            HOG SVM margin, the cascade's last-stage weight); confidence is their logistic
            `1 / (1 + exp(-score))`, so 0.5 means "score above zero". The per-class floors
            below (`person_min_margin`, `face_min_weight`) apply as well; this one is the
            setting shared with the other detectors.
        people: Run the HOG people detector.
        faces: Run the Haar frontal-face cascade.
        max_side: Frames larger than this (longest side, pixels) are shrunk first (boxes
            are mapped back); HOG costs grow with the pixel count.
        hog_scale: HOG pyramid scale step (smaller finds more, costs more).
        hog_stride: HOG window stride in pixels.
        hog_hit_threshold: SVM margin a 64x128 window needs to count as a person window
            (OpenCV's `hitThreshold`).
        hog_group_threshold: A person needs more than this many overlapping person windows
            (OpenCV's `groupThreshold`; 0 = no grouping).
        person_min_margin: A grouped person's best window must reach this SVM margin
            (0.5 = confidence 0.62).
        min_person_fraction: Smallest person box height, as a fraction of the frame
            height (0 = any). HOG's smallest window is 128 px, 0.27 of a 480-line input;
            0.3 drops the two smallest pyramid levels, where text and UI false positives
            cluster, and with them people under about 115 px of a 480-line input.
        min_person_texture: Fraction of the pixels in the body part of a person box (the
            middle half across, 10-90 % down) that must be textured (grey gradient >=
            `detect_filters.TEXTURE_GRADIENT`). Flat synthetic areas (test patterns, UI,
            solid shapes) fail it, camera images of people pass; 0 disables the check.
        face_scale: Cascade pyramid scale step.
        face_min_neighbors: Cascade grouping threshold (higher: fewer false faces).
        face_min_size: Smallest face side in pixels (of the possibly shrunk frame).
        face_min_weight: A face's cascade last-stage weight must reach this (1.0 =
            confidence 0.73).
        nms_iou: Per class, a box overlapping a better one by more than this IoU is
            dropped (1.0 = off; HOG and Haar grouping can leave nested boxes).
        cascade_path: Haar cascade XML; None means the one in `cv2.data.haarcascades`.
        expected_sha256: Checked before loading; None with the packaged cascade means
            `HAAR_FRONTALFACE_SHA256`, None with a user file means "record, don't check".
        threads: OpenCV threads during a call (OpenCV's count is process-wide; it is set
            for the call and restored after).
    """

    confidence: float = 0.5
    people: bool = True
    faces: bool = True
    max_side: int = 640
    hog_scale: float = 1.1
    hog_stride: int = 8
    hog_hit_threshold: float = 0.0
    hog_group_threshold: int = 2
    person_min_margin: float = 0.5
    min_person_fraction: float = 0.0
    min_person_texture: float = 0.8
    face_scale: float = 1.1
    face_min_neighbors: int = 10
    face_min_size: int = 30
    face_min_weight: float = 1.0
    nms_iou: float = 0.5
    cascade_path: Path | None = None
    expected_sha256: str | None = None
    threads: int = 1

    def __post_init__(self) -> None:
        if not 0.0 <= self.confidence <= 1.0:
            raise ConfigError(f"confidence must be in [0, 1], got {self.confidence}")
        if not (self.people or self.faces):
            raise ConfigError("enable at least one of people / faces")
        if self.max_side < 64:
            raise ConfigError(f"max_side must be >= 64, got {self.max_side}")
        if not 1.0 < self.hog_scale <= 2.0 or not 1.0 < self.face_scale <= 2.0:
            raise ConfigError("hog_scale and face_scale must be in (1, 2]")
        if self.hog_stride < 1 or self.face_min_neighbors < 0 or self.face_min_size < 1:
            raise ConfigError("hog_stride, face_min_size must be >= 1, face_min_neighbors >= 0")
        if self.threads < 1:
            raise ConfigError(f"threads must be >= 1, got {self.threads}")
        scores = (self.hog_hit_threshold, self.person_min_margin, self.face_min_weight)
        if not all(math.isfinite(v) for v in scores):
            raise ConfigError(
                "hog_hit_threshold, person_min_margin and face_min_weight must be finite"
            )
        if self.hog_group_threshold < 0:
            raise ConfigError(f"hog_group_threshold must be >= 0, got {self.hog_group_threshold}")
        if not 0.0 <= self.min_person_fraction < 1.0 or not 0.0 <= self.min_person_texture <= 1.0:
            raise ConfigError("min_person_fraction must be in [0, 1), min_person_texture in [0, 1]")
        if not 0.0 < self.nms_iou <= 1.0:
            raise ConfigError(f"nms_iou must be in (0, 1], got {self.nms_iou}")
        if self.expected_sha256 is not None and len(self.expected_sha256) != 64:
            raise ConfigError("expected_sha256 must be 64 hex digits")

    def to_dict(self) -> dict[str, Any]:
        """Plain values for session metadata."""
        return {
            "confidence": self.confidence,
            "people": self.people,
            "faces": self.faces,
            "max_side": self.max_side,
            "hog_scale": self.hog_scale,
            "hog_stride": self.hog_stride,
            "hog_hit_threshold": self.hog_hit_threshold,
            "hog_group_threshold": self.hog_group_threshold,
            "person_min_margin": self.person_min_margin,
            "min_person_fraction": self.min_person_fraction,
            "min_person_texture": self.min_person_texture,
            "face_scale": self.face_scale,
            "face_min_neighbors": self.face_min_neighbors,
            "face_min_size": self.face_min_size,
            "face_min_weight": self.face_min_weight,
            "nms_iou": self.nms_iou,
            "threads": self.threads,
        }


@contextmanager
def _cv2_threads(n: int) -> Iterator[None]:
    import cv2

    previous = cv2.getNumThreads()
    cv2.setNumThreads(n)
    try:
        yield
    finally:
        cv2.setNumThreads(previous)


class OpenCVDetector(LazyModel[tuple[Any, Any]]):
    """OpenCV's HOG people detector and Haar frontal-face cascade (classes `person`, `face`).

    Images are processed one by one (OpenCV has no batch call); the batch API exists so
    the operator can treat every detector alike. Not safe to call from two threads at
    once (a lock serialises calls).
    """

    describes = "OpenCV detector"

    def __init__(self, options: OpenCVDetectorOptions | None = None) -> None:
        super().__init__()
        self.options = options or OpenCVDetectorOptions()
        self._call_lock = threading.Lock()

    def _load(self) -> tuple[tuple[Any, Any], ModelIdentity]:
        """Build the HOG detector and load the cascade, checking its sha256."""
        import cv2

        opts = self.options
        sha256: dict[str, str] = {}
        path: Path | None = None
        cascade = None
        if opts.faces:
            path = Path(opts.cascade_path) if opts.cascade_path is not None else _packaged_cascade()
            expected = opts.expected_sha256
            if expected is None and opts.cascade_path is None:
                expected = HAAR_FRONTALFACE_SHA256
            sha256[path.name] = verify_sha256(path, expected, "Haar cascade")
            cascade = cv2.CascadeClassifier()
            try:
                loaded = cascade.load(str(path))
            except cv2.error as exc:
                raise StartupError(f"Haar cascade {path}: not a valid cascade XML") from exc
            if not loaded or cascade.empty():
                raise StartupError(f"Haar cascade {path}: not a valid cascade XML")
        hog = None
        if opts.people:
            hog = cv2.HOGDescriptor()
            hog.setSVMDetector(np.asarray(cv2.HOGDescriptor.getDefaultPeopleDetector()))
        identity = ModelIdentity(
            kind="detection",
            name="opencv-hog-people+haar-frontalface",
            path=str(path) if path is not None else None,
            sha256=sha256,
            options=opts.to_dict(),
        )
        return (hog, cascade), identity

    def detect(self, images: Sequence[Image]) -> list[tuple[Detection, ...]]:
        """Detect people and faces in each image.

        Raises:
            ValueError: An image is not BGR uint8 (H, W, 3).
        """
        hog, cascade = self.loaded
        checked = [_check_image(i) for i in images]
        with self._call_lock, _cv2_threads(self.options.threads):
            return [self._detect_one(hog, cascade, image) for image in checked]

    def _detect_one(self, hog: Any, cascade: Any, image: Image) -> tuple[Detection, ...]:
        import cv2

        opts = self.options
        height, width = image.shape[:2]
        factor = min(1.0, opts.max_side / max(height, width))
        small: npt.NDArray[Any] = image
        if factor < 1.0:
            size = (max(1, round(width * factor)), max(1, round(height * factor)))
            small = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
        found: list[Detection] = []
        gray = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY)

        def add(name: str, boxes: list[tuple[int, int, int, int]], scores: list[float]) -> None:
            kept: list[Box] = []
            kept_scores: list[float] = []
            for (x, y, w, h), score in zip(boxes, scores, strict=True):
                if _logistic(score) < opts.confidence or w <= 0 or h <= 0:
                    continue
                x1, y1 = max(0.0, x / factor), max(0.0, y / factor)
                x2, y2 = min(float(width), (x + w) / factor), min(float(height), (y + h) / factor)
                if x1 < x2 and y1 < y2:
                    kept.append((x1, y1, x2, y2))
                    kept_scores.append(score)
            for i in nms(kept, kept_scores, opts.nms_iou):
                found.append(Detection(name, kept[i], _logistic(kept_scores[i])))

        if hog is not None and min(small.shape[:2]) >= 128:
            rects, weights = hog.detectMultiScale(
                small,
                hitThreshold=opts.hog_hit_threshold,
                winStride=(opts.hog_stride, opts.hog_stride),
                padding=(8, 8),
                scale=opts.hog_scale,
                groupThreshold=opts.hog_group_threshold,
            )
            textured = None
            people: list[tuple[int, int, int, int]] = []
            margins: list[float] = []
            for (x, y, w, h), margin in zip(rects, np.ravel(weights), strict=True):
                if margin < opts.person_min_margin or h < opts.min_person_fraction * small.shape[0]:
                    continue
                if opts.min_person_texture > 0:
                    textured = textured_mask(gray) if textured is None else textured
                    # the body: the middle half of HOG's window across, 10-90 % down
                    body = (x + w // 4, y + h // 10, w // 2, h * 8 // 10)
                    if box_fraction(textured, *body) < opts.min_person_texture:
                        continue
                people.append((int(x), int(y), int(w), int(h)))
                margins.append(float(margin))
            add("person", people, margins)
        if cascade is not None:
            rects, _, levels = cascade.detectMultiScale3(
                cv2.equalizeHist(gray),
                scaleFactor=opts.face_scale,
                minNeighbors=opts.face_min_neighbors,
                minSize=(opts.face_min_size, opts.face_min_size),
                outputRejectLevels=True,
            )
            faces = [
                ((int(x), int(y), int(w), int(h)), float(weight))
                for (x, y, w, h), weight in zip(rects, np.ravel(levels), strict=True)
                if weight >= opts.face_min_weight
            ]
            add("face", [box for box, _ in faces], [weight for _, weight in faces])
        found.sort(key=lambda d: -d.confidence)
        return tuple(found)


# --------------------------------------------------------------------------- YOLO (production)


@dataclass(frozen=True)
class YoloOptions:
    """Settings of an ultralytics YOLO detector on a local checkpoint.

    Attributes:
        weights: Local `.pt` file (never a hub name: a missing file is a start-up error,
            not a download).
        confidence: Minimum confidence kept (YOLO's class score).
        iou: Non-maximum suppression IoU threshold.
        imgsz: Inference size (longest side, multiple of 32).
        threads: torch intra-op threads during a call (restored after: ultralytics sets
            the process-wide count itself).
        classes: Keep only these class names (None: all).
        max_det: Most detections per image.
        config_dir: Directory for ultralytics' settings file (None: base's default).
    """

    weights: Path
    confidence: float = 0.25
    iou: float = 0.7
    imgsz: int = 640
    threads: int = 2
    classes: tuple[str, ...] | None = None
    max_det: int = 100
    config_dir: Path | None = None

    def __post_init__(self) -> None:
        if not str(self.weights).endswith(".pt"):
            raise ConfigError(f"YOLO weights must be a local .pt file, got {self.weights}")
        if not 0.0 <= self.confidence <= 1.0 or not 0.0 <= self.iou <= 1.0:
            raise ConfigError("confidence and iou must be in [0, 1]")
        if self.imgsz < 32 or self.imgsz % 32:
            raise ConfigError(f"imgsz must be a multiple of 32 >= 32, got {self.imgsz}")
        if self.threads < 1 or self.max_det < 1:
            raise ConfigError("threads and max_det must be >= 1")
        if self.classes is not None and not self.classes:
            raise ConfigError("classes must be None or non-empty")

    def to_dict(self) -> dict[str, Any]:
        """Plain values for session metadata."""
        return {
            "confidence": self.confidence,
            "iou": self.iou,
            "imgsz": self.imgsz,
            "threads": self.threads,
            "classes": list(self.classes) if self.classes is not None else None,
            "max_det": self.max_det,
        }


@dataclass(frozen=True)
class _Yolo:
    model: Any
    class_ids: list[int] | None


class YoloDetector(LazyModel[_Yolo]):
    """ultralytics YOLO on a local `.pt`, batched over the given frames, CPU."""

    describes = "YOLO weights"

    def __init__(self, options: YoloOptions) -> None:
        super().__init__()
        self.options = options
        self._call_lock = threading.Lock()

    def describe(self) -> str:
        return f"YOLO weights {self.options.weights}"

    @property
    def names(self) -> dict[int, str]:
        """Class index -> name, from the checkpoint."""
        return {int(k): str(v) for k, v in self.loaded.model.names.items()}

    def _load(self) -> tuple[_Yolo, ModelIdentity]:
        """Load the checkpoint offline and run one warm-up prediction."""
        opts = self.options
        path = Path(opts.weights)
        require_file(path, "YOLO weights")
        digest = verify_sha256(path, None, "YOLO weights")
        offline_environment(opts.config_dir)
        from ultralytics.models import YOLO
        from ultralytics.utils import SETTINGS

        settings: Any = SETTINGS
        settings.update({"sync": False})
        with torch_threads(opts.threads):
            model = YOLO(str(path), task="detect")
            if getattr(model, "task", None) != "detect":
                raise StartupError(f"YOLO weights {path}: a {model.task} model, not a detector")
            # The first predict builds the predictor (and sets torch's global thread
            # count, which the guard restores).
            model.predict(np.zeros((64, 64, 3), np.uint8), imgsz=opts.imgsz, device="cpu",
                          verbose=False)  # fmt: skip
        names = {int(k): str(v) for k, v in model.names.items()}
        class_ids = None
        if opts.classes is not None:
            unknown = [c for c in opts.classes if c not in names.values()]
            if unknown:
                raise StartupError(
                    f"YOLO weights {path}: unknown classes {unknown} "
                    f"(the checkpoint has {sorted(set(names.values()))[:20]}...)"
                )
            class_ids = sorted(i for i, n in names.items() if n in opts.classes)
        identity = ModelIdentity(
            kind="detection",
            name=f"yolo:{path.stem}",
            path=str(path),
            sha256={path.name: digest},
            options=opts.to_dict(),
        )
        return _Yolo(model, class_ids), identity

    def detect(self, images: Sequence[Image]) -> list[tuple[Detection, ...]]:
        """One batched predict over all images.

        Raises:
            ValueError: An image is not BGR uint8 (H, W, 3).
        """
        yolo = self.loaded
        checked = [_check_image(i) for i in images]
        if not checked:
            return []
        opts = self.options
        with self._call_lock, torch_threads(opts.threads):
            results = yolo.model.predict(
                checked,
                conf=opts.confidence,
                iou=opts.iou,
                imgsz=opts.imgsz,
                classes=yolo.class_ids,
                max_det=opts.max_det,
                device="cpu",
                verbose=False,
            )
        out: list[tuple[Detection, ...]] = []
        for result in results:
            boxes = result.boxes
            xyxy = boxes.xyxy.cpu().numpy().astype(float)
            conf = boxes.conf.cpu().numpy().astype(float)
            cls = boxes.cls.cpu().numpy().astype(int)
            frame: list[Detection] = []
            for (x1, y1, x2, y2), c, k in zip(xyxy, conf, cls, strict=True):
                if x1 < x2 and y1 < y2:
                    bbox = (float(x1), float(y1), float(x2), float(y2))
                    frame.append(Detection(str(result.names[int(k)]), bbox, float(c)))
            out.append(tuple(frame))
        return out
