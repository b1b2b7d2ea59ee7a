"""Drawn pedestrians on synthetic and real backgrounds: measured, but weighted as nothing
(HOG, trained on photos, finds almost none of them)."""

from __future__ import annotations

from collections.abc import Iterator

import cv2
import numpy as np

from bench.detector.draw import (
    Box,
    H,
    Item,
    W,
    background,
    rcolor,
    sensor_noise,
)
from bench.detector.negatives import (
    gen_fractal,
)
from bench.detector.photos import (
    transform_boxes,
)


def draw_figure(
    img: np.ndarray, rng: np.random.Generator, cx: float, top: float, height: float
) -> Box:
    """A rendered pedestrian (head, torso, arms, legs, shoes), shaded; returns its box."""
    hgt = height
    u = hgt / 8.0  # head units
    skin = rcolor(rng, 60, 230)
    skin = (int(skin[0] * 0.6), int(skin[1] * 0.8), skin[2])
    shirt, trousers, shoes = rcolor(rng), rcolor(rng, 0, 160), rcolor(rng, 0, 60)
    stride = rng.uniform(-0.35, 0.35)
    sw = u * rng.uniform(1.7, 2.2)  # shoulder half-width
    neck_y = top + u * 1.1
    hip_y = top + u * 4.2
    foot_y = top + hgt
    pts_torso = np.array(
        [
            [cx - sw, neck_y + 0.3 * u],
            [cx + sw, neck_y + 0.3 * u],
            [cx + sw * 0.75, hip_y],
            [cx - sw * 0.75, hip_y],
        ],
        np.int32,
    )
    lw = max(2, int(u * 0.75))
    # legs
    for side in (-1, 1):
        hx = cx + side * sw * 0.4
        fx = hx + side * stride * u * 2.0 + side * u * 0.2
        kx = (hx + fx) / 2 + rng.uniform(-0.2, 0.2) * u
        ky = (hip_y + foot_y) / 2
        cv2.line(img, (int(hx), int(hip_y)), (int(kx), int(ky)), trousers, lw + 2, cv2.LINE_AA)
        cv2.line(
            img, (int(kx), int(ky)), (int(fx), int(foot_y - 0.2 * u)), trousers, lw, cv2.LINE_AA
        )
        cv2.ellipse(
            img,
            (int(fx + side * 0.2 * u), int(foot_y - 0.15 * u)),
            (int(0.55 * u), int(0.2 * u)),
            0,
            0,
            360,
            shoes,
            -1,
            cv2.LINE_AA,
        )
    cv2.fillPoly(img, [pts_torso], shirt, cv2.LINE_AA)
    # arms
    for side in (-1, 1):
        sx, sy = cx + side * sw * 0.9, neck_y + 0.5 * u
        ex = sx + side * u * rng.uniform(0.1, 0.5) + stride * u * -side
        ey = sy + u * 1.5
        hx, hy = ex + stride * u * side * 0.8, ey + u * 1.4
        cv2.line(
            img, (int(sx), int(sy)), (int(ex), int(ey)), shirt, max(2, int(u * 0.55)), cv2.LINE_AA
        )
        cv2.line(
            img, (int(ex), int(ey)), (int(hx), int(hy)), shirt, max(2, int(u * 0.45)), cv2.LINE_AA
        )
        cv2.circle(img, (int(hx), int(hy)), max(2, int(u * 0.25)), skin, -1, cv2.LINE_AA)
    cv2.rectangle(
        img,
        (int(cx - 0.25 * u), int(top + 0.8 * u)),
        (int(cx + 0.25 * u), int(neck_y + 0.4 * u)),
        skin,
        -1,
    )
    cv2.ellipse(
        img,
        (int(cx), int(top + 0.5 * u)),
        (int(0.42 * u), int(0.55 * u)),
        0,
        0,
        360,
        skin,
        -1,
        cv2.LINE_AA,
    )
    cv2.ellipse(
        img,
        (int(cx), int(top + 0.25 * u)),
        (int(0.45 * u), int(0.3 * u)),
        0,
        180,
        360,
        rcolor(rng, 0, 90),
        -1,
        cv2.LINE_AA,
    )
    half = max(sw + u * 0.3, abs(stride) * u * 2 + sw * 0.4 + 0.8 * u)
    return [round(cx - half, 1), round(top, 1), round(cx + half, 1), round(foot_y, 1), "full"]


def rendered_items(
    rng: np.random.Generator, backgrounds: list[np.ndarray], count: int
) -> Iterator[Item]:
    for i in range(count):
        kind = int(rng.integers(3))
        if kind == 0 or not backgrounds:
            img = background(rng, W, H)
        elif kind == 1:
            img = gen_fractal(rng)
            img = cv2.resize(img, (W, H))
        else:
            b = backgrounds[int(rng.integers(len(backgrounds)))]
            img = cv2.resize(b, (W, H), interpolation=cv2.INTER_AREA)
        boxes = []
        for _ in range(int(rng.integers(1, 3))):
            height = rng.uniform(0.35, 0.85) * H
            cx = rng.uniform(0.15, 0.85) * W
            top = rng.uniform(0.02, 0.98 * H - height)
            boxes.append(draw_figure(img, rng, cx, top, height))
        img = cv2.GaussianBlur(img, (0, 0), float(rng.uniform(0.5, 1.5)))
        img = sensor_noise(img, rng, float(rng.uniform(1, 6)))
        kept, ign = transform_boxes(boxes, 1, 1, 0, 0, W, H)
        yield Item(
            img,
            "positive",
            "rendered_figure",
            f"rendered:{i % 2}",
            "drawn by bench.detector",
            "generated",
            kept,
            [],
            ign,
            [],
            split="tune" if i % 2 == 0 else "heldout",
        )
