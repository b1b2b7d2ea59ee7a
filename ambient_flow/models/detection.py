"""What is in view: what a detector returns for each video frame.

`Detector.detect` takes a batch of BGR uint8 images (several clients' latest frames, or
one) and returns, per image, a tuple of `Detection`s; boxes are in pixels of the image as
given.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from ambient_flow.models.identity import ModelIdentity

__all__ = ["Detection", "Detector", "Image", "detections_to_dicts"]

Image = npt.NDArray[np.uint8]


@dataclass(frozen=True)
class Detection:
    """One object in a frame.

    Attributes:
        class_name: What it is (`person`, `face`, or the YOLO checkpoint's class name).
        bbox: `(x1, y1, x2, y2)` in pixels of the frame, x1 < x2, y1 < y2.
        confidence: In [0, 1] (see each backend for what it means).
    """

    class_name: str
    bbox: tuple[float, float, float, float]
    confidence: float

    def __post_init__(self) -> None:
        x1, y1, x2, y2 = self.bbox
        if not (x1 < x2 and y1 < y2):
            raise ValueError(f"degenerate bbox {self.bbox}")
        if not 0.0 <= self.confidence <= 1.0:
            raise ValueError(f"confidence must be in [0, 1], got {self.confidence}")

    def to_dict(self) -> dict[str, Any]:
        """The downstream shape: `{"class", "bbox": [x1, y1, x2, y2], "confidence"}`."""
        return {
            "class": self.class_name,
            "bbox": [float(v) for v in self.bbox],
            "confidence": float(self.confidence),
        }


def detections_to_dicts(detections: Sequence[Detection]) -> list[dict[str, Any]]:
    """One frame's detections in the downstream JSON shape."""
    return [d.to_dict() for d in detections]


@runtime_checkable
class Detector(Protocol):
    """A detection model shared by all clients."""

    @property
    def identity(self) -> ModelIdentity:
        """What was loaded (path, sha256, options) for session metadata."""
        ...

    def load(self) -> None:
        """Import and load the model now (at worker start-up); raises StartupError."""
        ...

    def detect(self, images: Sequence[Image]) -> list[tuple[Detection, ...]]:
        """Detect objects in each BGR uint8 image (H, W, 3); one tuple per image, in order."""
        ...
