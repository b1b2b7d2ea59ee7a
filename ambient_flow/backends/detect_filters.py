"""What the OpenCV detector keeps of HOG's and Haar's raw output (`backends.detect`).

HOG's false people fall on flat synthetic areas (test patterns, colour bars, UI, solid
shapes, large text); a person in a camera frame is textured (clothing, edges, sensor
noise). `textured_mask` and `box_fraction` measure that; `nms` drops nested boxes the
detectors' own grouping leaves. How the defaults were measured: `python -m bench.detector`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["TEXTURE_GRADIENT", "Box", "box_fraction", "nms", "textured_mask"]

#: A box in pixels: (x1, y1, x2, y2).
Box = tuple[float, float, float, float]

TEXTURE_GRADIENT = 8
"""Grey-level gradient (|Sobel x| + |Sobel y|, 8-bit input) at which a pixel counts as textured."""


def textured_mask(gray: npt.NDArray[Any]) -> npt.NDArray[np.uint8]:
    """1 where the grey image has an edge or texture, 0 where it is flat."""
    import cv2

    gx = np.asarray(cv2.Sobel(gray, cv2.CV_16S, 1, 0), np.int32)
    gy = np.asarray(cv2.Sobel(gray, cv2.CV_16S, 0, 1), np.int32)
    textured: npt.NDArray[np.uint8] = (np.abs(gx) + np.abs(gy) >= TEXTURE_GRADIENT).astype(np.uint8)
    return textured


def box_fraction(mask: npt.NDArray[np.uint8], x: int, y: int, w: int, h: int) -> float:
    """Mean of `mask` over the box, clipped to the image (0 for a box outside it)."""
    x0, y0 = max(0, x), max(0, y)
    x1, y1 = min(mask.shape[1], x + w), min(mask.shape[0], y + h)
    if x1 <= x0 or y1 <= y0:
        return 0.0
    return float(mask[y0:y1, x0:x1].mean())


def nms(boxes: list[Box], scores: list[float], iou: float) -> list[int]:
    """Greedy non-maximum suppression: indices kept, best score first."""
    keep: list[int] = []
    for i in sorted(range(len(boxes)), key=lambda k: -scores[k]):
        ax1, ay1, ax2, ay2 = boxes[i]
        for j in keep:
            bx1, by1, bx2, by2 = boxes[j]
            iw = max(0.0, min(ax2, bx2) - max(ax1, bx1))
            inter = iw * max(0.0, min(ay2, by2) - max(ay1, by1))
            union = (ax2 - ax1) * (ay2 - ay1) + (bx2 - bx1) * (by2 - by1) - inter
            if union > 0 and inter / union > iou:
                break
        else:
            keep.append(i)
    return keep
