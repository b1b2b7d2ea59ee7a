"""Build the labelled evaluation set for the default OpenCV detector (issue 9: no invented people).

Seeded and reproducible: the same seed, the same asset files and the same OpenCV build give
the same frames byte for byte. Every frame goes through a JPEG round trip at the wire's
default quality (70), as clients' frames do.

    python -m bench._detector_set [--seed 9] [--out DIR] [--assets DIR] [--small]
    (`python -m bench.detector` builds it when needed, then measures the detector on it)

Writes OUT/images/<id>.jpg and OUT/labels.jsonl, one JSON object per frame:

    id, file, split ("tune" | "heldout"), label ("negative" | "positive"), category,
    group (source image / generator: the split is made per group, never per frame),
    source, licence, width, height, persons, faces, ignore_persons, ignore_faces, notes

`persons` / `faces` are boxes [x1, y1, x2, y2, kind] in pixels of the frame as written;
kind is "full" (whole body visible) or "partial" (upper body, occluded, truncated) for
persons and "frontal" for faces. `ignore_*` are regions where a detection is neither a
hit nor a false detection (a profile face, a crowd, a person cut by the frame edge).

Assets (provenance and licence of each: `REAL_NEGATIVES_*` and `REAL_POSITIVES` below,
and every frame's `licence` in labels.jsonl) are read from ASSETS, filled by
`bench/detector_assets.sh` from packages: scikit-image 0.25.2 and scipy 1.11.4 wheels
(PyPI), opencv-doc 4.6.0+dfsg-12 (Debian), ultralytics / matplotlib / scikit-learn as
installed in the project venv. Nothing of them is in this repository. Missing assets are
skipped with a warning (synthetic frames need none).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

HERE = Path(__file__).resolve().parent
#: Where the set and its assets go by default (ignored by git, like all of data/).
DATA = HERE.parent / "data" / "bench" / "detector"
W, H = 640, 480
JPEG_QUALITY = 70
Box = list[Any]  # [x1, y1, x2, y2, kind]

FONTS = [
    cv2.FONT_HERSHEY_SIMPLEX,
    cv2.FONT_HERSHEY_PLAIN,
    cv2.FONT_HERSHEY_DUPLEX,
    cv2.FONT_HERSHEY_COMPLEX,
    cv2.FONT_HERSHEY_TRIPLEX,
    cv2.FONT_HERSHEY_COMPLEX_SMALL,
    cv2.FONT_HERSHEY_SCRIPT_SIMPLEX,
    cv2.FONT_HERSHEY_SCRIPT_COMPLEX,
]
WORDS = [
    "the",
    "of",
    "and",
    "stream",
    "frame",
    "video",
    "client",
    "host",
    "server",
    "audio",
    "latency",
    "status",
    "ok",
    "error",
    "connect",
    "session",
    "speaker",
    "detect",
    "person",
    "face",
    "model",
    "queue",
    "buffer",
    "sync",
    "ping",
    "retry",
    "settings",
    "profile",
    "camera",
    "screen",
    "microphone",
    "record",
    "pause",
    "play",
    "stop",
    "export",
    "import",
    "window",
    "file",
    "edit",
    "view",
    "help",
    "tools",
    "options",
    "about",
    "update",
    "version",
    "build",
    "test",
    "debug",
    "ambient",
    "flow",
    "capture",
    "godot",
    "redot",
    "scene",
    "node",
    "signal",
    "packet",
    "header",
    "chunk",
    "jpeg",
    "pcm",
]
SIZES = [(640, 480)] * 6 + [(1280, 720), (320, 240), (960, 540), (800, 600)]


@dataclass
class Item:
    image: np.ndarray
    label: str
    category: str
    group: str
    source: str
    licence: str
    persons: list[Box] = field(default_factory=list)
    faces: list[Box] = field(default_factory=list)
    ignore_persons: list[Box] = field(default_factory=list)
    ignore_faces: list[Box] = field(default_factory=list)
    notes: str = ""
    split: str | None = None  # None: decided by the group


def rcolor(rng: np.random.Generator, lo: int = 0, hi: int = 256) -> tuple[int, int, int]:
    c = rng.integers(lo, hi, 3)
    return int(c[0]), int(c[1]), int(c[2])


def rsize(rng: np.random.Generator) -> tuple[int, int]:
    return SIZES[int(rng.integers(len(SIZES)))]


def words(rng: np.random.Generator, n: int) -> str:
    return " ".join(WORDS[int(i)] for i in rng.integers(0, len(WORDS), n))


def put_text(
    img: np.ndarray,
    text: str,
    org: tuple[int, int],
    rng: np.random.Generator,
    scale: float,
    color: tuple[int, int, int] | None = None,
    outline: bool | None = None,
    font: int | None = None,
) -> None:
    font = FONTS[int(rng.integers(len(FONTS)))] if font is None else font
    color = rcolor(rng) if color is None else color
    thick = max(1, round(scale * rng.uniform(1.0, 2.5)))
    if outline if outline is not None else rng.random() < 0.4:
        cv2.putText(img, text, org, font, scale, (0, 0, 0), thick + 2, cv2.LINE_AA)
    cv2.putText(img, text, org, font, scale, color, thick, cv2.LINE_AA)


def timestamp(rng: np.random.Generator) -> str:
    t = int(rng.integers(0, 86_400_000))
    kind = int(rng.integers(4))
    if kind == 0:
        return f"{t // 3_600_000:02d}:{t // 60_000 % 60:02d}:{t // 1000 % 60:02d}.{t % 1000:03d}"
    if kind == 1:
        day = f"2025-{rng.integers(1, 13):02d}-{rng.integers(1, 29):02d}"
        return f"{day} {t // 3_600_000:02d}:{t // 60_000 % 60:02d}:{t // 1000 % 60:02d}"
    if kind == 2:
        return f"frame {int(rng.integers(0, 10**6)):06d}"
    return f"{t / 1000:.3f} s  fps {rng.uniform(4, 30):.1f}"


def overlay_timestamp(img: np.ndarray, rng: np.random.Generator) -> None:
    h, w = img.shape[:2]
    scale = rng.uniform(0.4, 2.0) * h / 480
    x = int(rng.uniform(0.01, 0.5) * w)
    y = int(rng.choice([rng.uniform(0.06, 0.15), rng.uniform(0.85, 0.97)]) * h)
    if rng.random() < 0.3:  # a box behind the text, as timeoverlay does
        (tw, th), _ = cv2.getTextSize("00:00:00.000", cv2.FONT_HERSHEY_SIMPLEX, scale, 2)
        cv2.rectangle(img, (x - 4, y - th - 6), (x + tw + 8, y + 8), (0, 0, 0), -1)
    put_text(img, timestamp(rng), (x, y), rng, scale)


def linear_gradient(rng: np.random.Generator, w: int, h: int) -> np.ndarray:
    angle = rng.uniform(0, 2 * math.pi)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    t = (xx * math.cos(angle) + yy * math.sin(angle)).astype(np.float32)
    t = (t - t.min()) / max(1e-6, float(t.max() - t.min()))
    stops = int(rng.integers(2, 4))
    cols = np.array([rcolor(rng) for _ in range(stops)], np.float32)
    pos = np.linspace(0, 1, stops)
    out = np.stack([np.interp(t, pos, cols[:, c]) for c in range(3)], axis=2)
    return out.astype(np.uint8)


def radial_gradient(rng: np.random.Generator, w: int, h: int) -> np.ndarray:
    cx, cy = rng.uniform(0, w), rng.uniform(0, h)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    r = np.sqrt((xx - cx) ** 2 + (yy - cy) ** 2)
    r = r / max(1e-6, float(r.max()))
    a, b = np.array(rcolor(rng), np.float32), np.array(rcolor(rng), np.float32)
    return (a * (1 - r[..., None]) + b * r[..., None]).astype(np.uint8)


def hue_sweep(rng: np.random.Generator, w: int, h: int) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    hue = ((xx / w * rng.uniform(0.5, 2) + yy / h * rng.uniform(-1, 1)) * 180) % 180
    sat = np.full_like(hue, rng.uniform(120, 255))
    val = 255 - yy / h * rng.uniform(0, 200)
    hsv = np.stack([hue, sat, val], axis=2).astype(np.uint8)
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)


def background(rng: np.random.Generator, w: int, h: int) -> np.ndarray:
    kind = int(rng.integers(4))
    if kind == 0:
        return np.full((h, w, 3), rcolor(rng), np.uint8)
    if kind == 1:
        return linear_gradient(rng, w, h)
    if kind == 2:
        return radial_gradient(rng, w, h)
    return smpte_bars(rng, w, h)


def sensor_noise(img: np.ndarray, rng: np.random.Generator, sigma: float) -> np.ndarray:
    if sigma <= 0:
        return img
    noise = rng.normal(0, sigma, img.shape).astype(np.float32)
    return np.clip(img.astype(np.float32) + noise, 0, 255).astype(np.uint8)


def fractal_noise(rng: np.random.Generator, w: int, h: int, beta: float) -> np.ndarray:
    """1/f^beta noise in [0, 1] (beta 1..3: from grainy to cloud-like)."""
    white = rng.normal(size=(h, w))
    fy = np.fft.fftfreq(h)[:, None]
    fx = np.fft.rfftfreq(w)[None, :]
    f = np.sqrt(fx**2 + fy**2)
    f[0, 0] = 1.0
    spec = np.fft.rfft2(white) / f ** (beta / 2)
    out = np.fft.irfft2(spec, s=(h, w))
    out = (out - out.min()) / max(1e-9, float(out.max() - out.min()))
    return out.astype(np.float32)


# ------------------------------------------------------------------ negative generators


def gen_solid(rng: np.random.Generator) -> np.ndarray:
    w, h = rsize(rng)
    img = np.full((h, w, 3), rcolor(rng), np.uint8)
    return sensor_noise(img, rng, float(rng.choice([0, 0, 2, 5])))


def gen_sender_shapes(rng: np.random.Generator) -> np.ndarray:
    """A simple upstream sender: plain background, a moving box and/or ball, a timestamp."""
    w, h = rsize(rng)
    img = background(rng, w, h) if rng.random() < 0.5 else np.full((h, w, 3), rcolor(rng), np.uint8)
    for _ in range(int(rng.integers(1, 4))):
        color = rcolor(rng)
        if rng.random() < 0.5:
            bw = int(rng.uniform(0.05, 0.4) * w)
            # tall boxes (a person's 1:2 .. 1:4 shape) on purpose, half the time
            bh = int(bw * (rng.uniform(1.5, 4.0) if rng.random() < 0.5 else rng.uniform(0.3, 1.5)))
            x, y = int(rng.uniform(-0.1, 0.9) * w), int(rng.uniform(-0.1, 0.9) * h)
            cv2.rectangle(img, (x, y), (x + bw, y + bh), color, -1 if rng.random() < 0.8 else 3)
        else:
            r = int(rng.uniform(0.03, 0.25) * min(w, h))
            c = (int(rng.uniform(0, w)), int(rng.uniform(0, h)))
            cv2.circle(img, c, r, color, -1, cv2.LINE_AA)
    if rng.random() < 0.8:
        overlay_timestamp(img, rng)
    return img


def smpte_bars(rng: np.random.Generator, w: int, h: int) -> np.ndarray:
    level = int(rng.choice([191, 255]))
    top = [
        (level, level, level),
        (0, level, level),
        (level, level, 0),
        (0, level, 0),
        (level, 0, level),
        (0, 0, level),
        (level, 0, 0),
    ]  # BGR: white yellow cyan green magenta red blue
    img = np.zeros((h, w, 3), np.uint8)
    kind = int(rng.integers(3))
    cols = (np.arange(w) * 7) // w
    if kind == 0:  # SMPTE: bars, castellations, PLUGE
        y1, y2 = int(h * 0.67), int(h * 0.75)
        img[:y1] = np.array(top, np.uint8)[cols][None]
        mid = [
            (level, 0, 0),
            (0, 0, 0),
            (level, 0, level),
            (0, 0, 0),
            (level, level, 0),
            (0, 0, 0),
            (level, level, level),
        ]
        img[y1:y2] = np.array(mid, np.uint8)[cols][None]
        bottom = np.zeros((w, 3), np.uint8)
        q = w * 5 // 28
        bottom[:q] = (106, 52, 0)
        bottom[q : 2 * q] = (255, 255, 255)
        bottom[2 * q : 3 * q] = (106, 0, 75)
        bottom[5 * w // 7 : 5 * w // 7 + w // 21] = (10, 10, 10)
        bottom[5 * w // 7 + 2 * w // 21 : 6 * w // 7] = (29, 29, 29)
        img[y2:] = bottom[None]
    elif kind == 1:  # EBU / plain vertical bars, 8 with black
        bars = np.array([*top, (16, 16, 16)], np.uint8)
        img[:] = bars[(np.arange(w) * 8) // w][None]
    else:  # horizontal bars
        bars = np.array(top, np.uint8)
        img[:] = bars[(np.arange(h) * 7) // h][:, None]
    return img


def gen_bars(rng: np.random.Generator) -> np.ndarray:
    w, h = rsize(rng)
    img = smpte_bars(rng, w, h)
    if rng.random() < 0.5:
        img = np.roll(img, int(rng.integers(0, w)), axis=1)
    if rng.random() < 0.6:
        box = int(min(w, h) * rng.uniform(0.08, 0.25))
        x, y = int(rng.uniform(0, w - box)), int(rng.uniform(0, h - box))
        cv2.rectangle(img, (x, y), (x + box, y + box), rcolor(rng), -1)
    if rng.random() < 0.7:
        overlay_timestamp(img, rng)
    return img


def sender_pattern(n: int, width: int, height: int, label: str) -> np.ndarray:
    """Copy of ambient_flow.client.media.TestPattern.render (the project's Python sender)."""
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
    w, h = width, height
    columns = (np.arange(w) * len(bars)) // w
    base = np.ascontiguousarray(np.broadcast_to(bars[columns], (h, w, 3)))
    img = np.roll(base, (n * 4) % w, axis=1)
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
    if label:
        top = (org[0], max(12, int(30 * scale)))
        cv2.putText(
            img,
            label[:40],
            top,
            cv2.FONT_HERSHEY_SIMPLEX,
            scale * 0.7,
            (0, 0, 0),
            thick,
            cv2.LINE_AA,
        )
    return img


def gen_sender_pattern(rng: np.random.Generator) -> np.ndarray:
    w, h = rsize(rng)
    label = str(rng.choice(["ambient-flow", "", "client-7", "synthetic test pattern"]))
    return sender_pattern(int(rng.integers(0, 20000)), w, h, label)


def gen_gradient(rng: np.random.Generator) -> np.ndarray:
    w, h = rsize(rng)
    img = [linear_gradient, radial_gradient, hue_sweep][int(rng.integers(3))](rng, w, h)
    if rng.random() < 0.3:  # banding
        q = int(rng.choice([8, 16, 32]))
        img = (img // q * q).astype(np.uint8)
    if rng.random() < 0.3:
        overlay_timestamp(img, rng)
    return img


def gen_noise(rng: np.random.Generator) -> np.ndarray:
    w, h = rsize(rng)
    kind = int(rng.integers(5))
    if kind == 0:
        return rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    if kind == 1:
        g = np.clip(rng.normal(128, rng.uniform(10, 80), (h, w)), 0, 255).astype(np.uint8)
        return cv2.cvtColor(g, cv2.COLOR_GRAY2BGR)
    if kind == 2:  # salt and pepper on a plain frame
        img = np.full((h, w, 3), rcolor(rng), np.uint8)
        m = rng.random((h, w))
        p = rng.uniform(0.01, 0.2)
        img[m < p / 2] = 0
        img[m > 1 - p / 2] = 255
        return img
    if kind == 3:  # blocky (upsampled) noise
        b = int(rng.choice([4, 8, 16, 32]))
        small = rng.integers(0, 256, (h // b + 1, w // b + 1, 3), dtype=np.uint8)
        return cv2.resize(small, (w, h), interpolation=cv2.INTER_NEAREST)
    small = rng.integers(0, 256, (h // 8 + 1, w // 8 + 1, 3), dtype=np.uint8)
    return cv2.GaussianBlur(cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC), (0, 0), 2)


def gen_checker(rng: np.random.Generator) -> np.ndarray:
    w, h = rsize(rng)
    cell = int(rng.integers(6, 90))
    yy, xx = np.mgrid[0:h, 0:w]
    mask = ((xx // cell + yy // cell) % 2).astype(bool)
    a, b = (rcolor(rng), rcolor(rng)) if rng.random() < 0.5 else ((255, 255, 255), (0, 0, 0))
    img = np.empty((h, w, 3), np.uint8)
    img[mask], img[~mask] = a, b
    if rng.random() < 0.6:  # rotate / perspective, like a board held to a camera
        src = np.float32([[0, 0], [w, 0], [w, h], [0, h]])
        dst = src + rng.uniform(-0.2, 0.2, (4, 2)).astype(np.float32) * np.float32([w, h])
        m = cv2.getPerspectiveTransform(src, dst)
        img = cv2.warpPerspective(img, m, (w, h), borderValue=rcolor(rng))
    return img


def gen_stripes(rng: np.random.Generator) -> np.ndarray:
    """Stripes, grids and line clutter: HOG's favourite non-person structure."""
    w, h = rsize(rng)
    kind = int(rng.integers(3))
    img = np.full((h, w, 3), rcolor(rng), np.uint8)
    if kind == 0:
        period = rng.uniform(6, 120)
        angle = float(rng.choice([0, 90, rng.uniform(0, 180)]))
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        t = xx * math.cos(math.radians(angle)) + yy * math.sin(math.radians(angle))
        wave = np.sin(2 * math.pi * t / period)
        if rng.random() < 0.5:
            wave = np.sign(wave)
        a, b = np.array(rcolor(rng), np.float32), np.array(rcolor(rng), np.float32)
        img = (a + (b - a) * ((wave[..., None] + 1) / 2)).astype(np.uint8)
    elif kind == 1:
        step = int(rng.integers(10, 80))
        col = rcolor(rng)
        for x in range(0, w, step):
            cv2.line(img, (x, 0), (x, h), col, int(rng.integers(1, 4)))
        for y in range(0, h, step):
            cv2.line(img, (0, y), (w, y), col, int(rng.integers(1, 4)))
    else:
        for _ in range(int(rng.integers(10, 80))):
            p1 = (int(rng.uniform(0, w)), int(rng.uniform(0, h)))
            if rng.random() < 0.5:  # vertical-ish
                p2 = (p1[0] + int(rng.normal(0, 10)), p1[1] + int(rng.uniform(-h, h)))
            else:
                p2 = (int(rng.uniform(0, w)), int(rng.uniform(0, h)))
            cv2.line(img, p1, p2, rcolor(rng), int(rng.integers(1, 8)), cv2.LINE_AA)
    return img


def random_shapes(img: np.ndarray, rng: np.random.Generator, n: int) -> None:
    h, w = img.shape[:2]
    for _ in range(n):
        kind = int(rng.integers(4))
        color = rcolor(rng)
        if kind == 0:
            c = (int(rng.uniform(0, w)), int(rng.uniform(0, h)))
            axes = (int(rng.uniform(5, w / 3)), int(rng.uniform(5, h / 3)))
            cv2.ellipse(img, c, axes, float(rng.uniform(0, 180)), 0, 360, color, -1, cv2.LINE_AA)
        elif kind == 1:
            x, y = int(rng.uniform(0, w)), int(rng.uniform(0, h))
            cv2.rectangle(
                img,
                (x, y),
                (x + int(rng.uniform(5, w / 2)), y + int(rng.uniform(5, h / 2))),
                color,
                -1,
            )
        elif kind == 2:
            pts = (rng.uniform(0, 1, (int(rng.integers(3, 7)), 2)) * [w, h]).astype(np.int32)
            cv2.fillPoly(img, [pts], color, cv2.LINE_AA)
        else:  # a tall thin object: pole, door, bottle
            x, y = int(rng.uniform(0, w)), int(rng.uniform(0, h * 0.6))
            bw = int(rng.uniform(0.02, 0.12) * w)
            bh = int(rng.uniform(0.3, 0.9) * h)
            cv2.rectangle(img, (x, y), (x + bw, y + bh), color, -1)
            if rng.random() < 0.5:
                cv2.circle(img, (x + bw // 2, y), max(3, bw), color, -1, cv2.LINE_AA)


def gen_shapes(rng: np.random.Generator) -> np.ndarray:
    w, h = rsize(rng)
    img = background(rng, w, h)
    random_shapes(img, rng, int(rng.integers(3, 25)))
    return img


def gen_blurred_shapes(rng: np.random.Generator) -> np.ndarray:
    img = gen_shapes(rng)
    sigma = float(rng.uniform(2, 15))
    return cv2.GaussianBlur(img, (0, 0), sigma)


def gen_fractal(rng: np.random.Generator) -> np.ndarray:
    w, h = rsize(rng)
    beta = float(rng.uniform(1.0, 3.2))
    t = fractal_noise(rng, w, h, beta)
    kind = int(rng.integers(3))
    if kind == 0:  # a colour map (terrain, clouds, ...)
        maps = [
            cv2.COLORMAP_BONE,
            cv2.COLORMAP_OCEAN,
            cv2.COLORMAP_SUMMER,
            cv2.COLORMAP_AUTUMN,
            cv2.COLORMAP_PINK,
            cv2.COLORMAP_VIRIDIS,
            cv2.COLORMAP_CIVIDIS,
            cv2.COLORMAP_TWILIGHT,
        ]
        return cv2.applyColorMap((t * 255).astype(np.uint8), maps[int(rng.integers(len(maps)))])
    if kind == 1:  # grass / foliage-like: green-brown blend + fine texture
        fine = fractal_noise(rng, w, h, 1.0)
        a, b = np.array([20, 90, 30], np.float32), np.array([60, 160, 90], np.float32)
        m = (0.6 * t + 0.4 * fine)[..., None]
        return (a + (b - a) * m).astype(np.uint8)
    a, b = np.array(rcolor(rng), np.float32), np.array(rcolor(rng), np.float32)
    out = a + (b - a) * t[..., None]
    if rng.random() < 0.5:  # marble-like turbulence
        _yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        s = (np.sin(xx / w * rng.uniform(4, 20) + t * rng.uniform(5, 20)) + 1) / 2
        out = a + (b - a) * s[..., None]
    return out.astype(np.uint8)


def gen_text(rng: np.random.Generator) -> np.ndarray:
    w, h = rsize(rng)
    dark = rng.random() < 0.5
    bg = rcolor(rng, 0, 60) if dark else rcolor(rng, 190, 256)
    fg = rcolor(rng, 180, 256) if dark else rcolor(rng, 0, 80)
    img = np.full((h, w, 3), bg, np.uint8)
    kind = int(rng.integers(3))
    font = FONTS[int(rng.integers(len(FONTS)))]
    if kind == 0:  # a paragraph
        scale = rng.uniform(0.35, 1.2) * h / 480
        step = int(30 * scale) + 6
        y = step
        while y < h:
            put_text(img, words(rng, 12), (int(rng.uniform(2, 40)), y), rng, scale, fg, False, font)
            y += step
    elif kind == 1:  # a few huge words (a title card)
        for _ in range(int(rng.integers(1, 4))):
            scale = rng.uniform(2.0, 6.0) * h / 480
            put_text(
                img,
                words(rng, int(rng.integers(1, 3))).upper(),
                (int(rng.uniform(0, w * 0.3)), int(rng.uniform(0.2, 0.95) * h)),
                rng,
                scale,
                fg,
                None,
                font,
            )
    else:  # text of mixed sizes everywhere
        for _ in range(int(rng.integers(5, 30))):
            scale = float(rng.choice([0.4, 0.7, 1.0, 1.5, 2.5, 4.0])) * h / 480
            put_text(
                img,
                words(rng, int(rng.integers(1, 5))),
                (int(rng.uniform(-0.1, 0.9) * w), int(rng.uniform(0.05, 1.0) * h)),
                rng,
                scale,
            )
    if rng.random() < 0.3:
        m = cv2.getRotationMatrix2D((w / 2, h / 2), float(rng.uniform(-30, 30)), 1.0)
        img = cv2.warpAffine(img, m, (w, h), borderValue=bg)
    return img


def gen_ui(rng: np.random.Generator) -> np.ndarray:
    """A screenshot-like UI: title bar, sidebar, buttons, text lines, a chart, empty call tiles."""
    w, h = rsize(rng)
    dark = rng.random() < 0.5
    bg = rcolor(rng, 20, 60) if dark else rcolor(rng, 220, 256)
    panel = tuple(min(255, c + 25) for c in bg) if dark else tuple(max(0, c - 25) for c in bg)
    fg = (230, 230, 230) if dark else (30, 30, 30)
    accent = rcolor(rng)
    img = np.full((h, w, 3), bg, np.uint8)
    s = h / 480
    bar = int(28 * s)
    cv2.rectangle(img, (0, 0), (w, bar), panel, -1)
    put_text(
        img,
        words(rng, 3),
        (int(10 * s), int(20 * s)),
        rng,
        0.5 * s,
        fg,
        False,
        cv2.FONT_HERSHEY_SIMPLEX,
    )
    for i in range(3):
        cv2.circle(
            img, (w - int((20 + 22 * i) * s), bar // 2), int(7 * s), rcolor(rng), -1, cv2.LINE_AA
        )
    side = int(rng.uniform(0.15, 0.3) * w) if rng.random() < 0.7 else 0
    if side:
        cv2.rectangle(img, (0, bar), (side, h), panel, -1)
        y = bar + int(30 * s)
        while y < h - 10:
            cv2.rectangle(img, (int(10 * s), y - int(12 * s)), (int(24 * s), y + 2), accent, -1)
            put_text(
                img,
                words(rng, 2),
                (int(32 * s), y),
                rng,
                0.45 * s,
                fg,
                False,
                cv2.FONT_HERSHEY_SIMPLEX,
            )
            y += int(rng.uniform(24, 40) * s)
    x0 = side + int(15 * s)
    content = int(rng.integers(3))
    if content == 0:  # text + buttons
        y = bar + int(35 * s)
        while y < h - 60 * s:
            put_text(img, words(rng, 8), (x0, y), rng, 0.5 * s, fg, False, cv2.FONT_HERSHEY_SIMPLEX)
            y += int(22 * s)
        for i in range(int(rng.integers(1, 4))):
            bx = x0 + int(i * 110 * s)
            cv2.rectangle(
                img, (bx, h - int(50 * s)), (bx + int(100 * s), h - int(20 * s)), accent, -1
            )
            put_text(
                img,
                words(rng, 1),
                (bx + int(10 * s), h - int(29 * s)),
                rng,
                0.5 * s,
                (255, 255, 255),
                False,
                cv2.FONT_HERSHEY_SIMPLEX,
            )
    elif content == 1:  # a chart
        n = int(rng.integers(5, 25))
        cw = (w - x0 - 20) / n
        base = h - int(40 * s)
        for i in range(n):
            bh = int(rng.uniform(0.1, 0.75) * (base - bar - 20))
            cv2.rectangle(
                img,
                (int(x0 + i * cw + 2), base - bh),
                (int(x0 + (i + 1) * cw - 2), base),
                accent,
                -1,
            )
        cv2.line(img, (x0, base), (w - 10, base), fg, 1)
    else:  # a video-call grid of empty tiles with name labels (no people in them)
        cols, rows = int(rng.integers(2, 4)), int(rng.integers(1, 3))
        tw, th = (w - x0 - 10) // cols, (h - bar - 10) // rows
        for r in range(rows):
            for c in range(cols):
                x, y = x0 + c * tw, bar + 5 + r * th
                cv2.rectangle(
                    img, (x + 4, y + 4), (x + tw - 4, y + th - 4), rcolor(rng, 30, 120), -1
                )
                cv2.circle(
                    img,
                    (x + tw // 2, y + th // 2),
                    int(min(tw, th) * 0.18),
                    rcolor(rng),
                    -1,
                    cv2.LINE_AA,
                )
                put_text(
                    img,
                    words(rng, 1).upper()[:2],
                    (x + tw // 2 - int(14 * s), y + th // 2 + int(8 * s)),
                    rng,
                    0.8 * s,
                    (255, 255, 255),
                    False,
                    cv2.FONT_HERSHEY_SIMPLEX,
                )
                put_text(
                    img,
                    words(rng, 2),
                    (x + 10, y + th - 12),
                    rng,
                    0.45 * s,
                    (255, 255, 255),
                    True,
                    cv2.FONT_HERSHEY_SIMPLEX,
                )
    return img


SYNTHETIC: dict[str, tuple[Callable[[np.random.Generator], np.ndarray], int]] = {
    # category: (generator, frames)
    "sender_pattern": (gen_sender_pattern, 80),
    "sender_shapes": (gen_sender_shapes, 80),
    "color_bars": (gen_bars, 50),
    "solid": (gen_solid, 30),
    "gradient": (gen_gradient, 50),
    "noise": (gen_noise, 50),
    "checkerboard": (gen_checker, 40),
    "stripes_lines": (gen_stripes, 60),
    "shapes": (gen_shapes, 50),
    "blurred_shapes": (gen_blurred_shapes, 40),
    "fractal_texture": (gen_fractal, 60),
    "text": (gen_text, 60),
    "ui_layout": (gen_ui, 60),
}


# ------------------------------------------------------------------ real images

# (file under assets, group, source, licence)
REAL_NEGATIVES_OPENCV = [
    "000.jpg",
    "001.jpg",
    "002.jpg",
    "Blender_Suzanne1.jpg",
    "HappyFish.jpg",
    "aero1.jpg",
    "aero3.jpg",
    "aloeL.jpg",
    "apple.jpg",
    "baboon.jpg",
    "blox.jpg",
    "board.jpg",
    "box.png",
    "box_in_scene.png",
    "building.jpg",
    "butterfly.jpg",
    "cards.png",
    "chessboard.png",
    "chicky_512.png",
    "detect_blob.png",
    "ela_original.jpg",
    "ellipses.jpg",
    "fruits.jpg",
    "gradient.png",
    "graf1.png",
    "graf3.png",
    "home.jpg",
    "imageTextN.png",
    "leuvenA.jpg",
    "leuvenB.jpg",
    "licenseplate_motion.jpg",
    "ml.png",
    "notes.png",
    "opencv-logo.png",
    "orange.jpg",
    "pic1.png",
    "pic2.png",
    "pic3.png",
    "pic4.png",
    "pic5.png",
    "pic6.png",
    "plant.jpg",
    "rubberwhale1.png",
    "scenetext02.jpg",
    "scenetext04.jpg",
    "scenetext05.jpg",
    "smarties.png",
    "squirrel_cls.jpg",
    "stanford.png",
    "starry_night.jpg",
    "stuff.jpg",
    "sudoku.png",
    "text_defocus.jpg",
    "text_motion.jpg",
    "LinuxLogo.jpg",
    "WindowsLogo.jpg",
    "pca_test1.jpg",
    "left.jpg",
    "right.jpg",
]
OPENCV_DOC = (
    "Debian opencv-doc 4.6.0+dfsg-12 (examples/data etc., from OpenCV's samples/data)",
    "Debian main; debian/copyright 'Files: *' = Apache-2.0 AND BSD-3-Clause (OpenCV's own "
    "licence); original photographers not recorded",
)
SKIMAGE = "scikit-image 0.25.2 wheel (PyPI), skimage/data"
REAL_NEGATIVES_OTHER = [
    ("skimage/coffee.png", SKIMAGE, "CC0 (Rachel Michetti), per skimage.data docstring"),
    ("skimage/chelsea.png", SKIMAGE, "CC0 (Stefan van der Walt), per skimage.data docstring"),
    ("skimage/rocket.jpg", SKIMAGE, "public domain (SpaceX), per skimage.data docstring"),
    ("skimage/brick.png", SKIMAGE, "CC0, per skimage.data docstring"),
    ("skimage/grass.png", SKIMAGE, "CC0 / public domain, per skimage.data docstring"),
    ("skimage/gravel.png", SKIMAGE, "CC0, per skimage.data docstring"),
    ("skimage/hubble_deep_field.jpg", SKIMAGE, "public domain (NASA), per skimage.data docstring"),
    ("skimage/moon.png", SKIMAGE, "public domain / skimage BSD-3, per skimage.data docstring"),
    (
        "skimage/coins.png",
        SKIMAGE,
        "public domain (Walters Art Museum), per skimage.data docstring",
    ),
    (
        "skimage/motorcycle_left.png",
        SKIMAGE,
        "Middlebury stereo 2014 (research use), per skimage.data docstring",
    ),
    ("skimage/page.png", SKIMAGE, "scikit-image BSD-3"),
    ("skimage/text.png", SKIMAGE, "public domain (Wikipedia), per skimage.data docstring"),
    ("skimage/color.png", SKIMAGE, "scikit-image BSD-3"),
    ("skimage/retina.jpg", SKIMAGE, "CC-BY (Häggström), per skimage.data docstring"),
    ("skimage/horse.png", SKIMAGE, "CC0 (openclipart), per skimage.data docstring"),
    ("skimage/logo.png", SKIMAGE, "scikit-image BSD-3"),
    ("skimage/clock_motion.png", SKIMAGE, "scikit-image BSD-3"),
    ("skimage/ihc.png", SKIMAGE, "public domain (Wikimedia), per skimage.data docstring"),
    (
        "scipy/face_raccoon.png",
        "scipy 1.11.4 wheel (PyPI), scipy/misc/face.dat",
        "public-domain-image.com (public domain), per scipy.misc.face docstring",
    ),
    (
        "sklearn/china.jpg",
        "scikit-learn (project venv), sklearn/datasets/images",
        "CC-BY 2.0 (danielbuechele)",
    ),
    (
        "sklearn/flower.jpg",
        "scikit-learn (project venv), sklearn/datasets/images",
        "CC-BY 2.0 (vultilion)",
    ),
]

ULTRA = (
    "ultralytics 8.4.190 (project venv), ultralytics/assets",
    "shipped in an AGPL-3.0 package; photo's own licence not stated (zidane.jpg is a press photo)",
)
# file: (source, licence, persons, faces, ignore_persons, ignore_faces, split)
REAL_POSITIVES: dict[
    str, tuple[tuple[str, str], list[Box], list[Box], list[Box], list[Box], str]
] = {
    "bus.jpg": (
        ULTRA,
        [[50, 398, 245, 905, "full"], [222, 405, 345, 860, "full"]],
        [[95, 410, 160, 476, "frontal"], [260, 420, 320, 480, "frontal"]],
        [[668, 480, 810, 880, "partial"], [0, 555, 78, 875, "partial"]],
        [[0, 570, 70, 640]],
        "tune",
    ),
    "zidane.jpg": (
        ULTRA,
        [[125, 200, 1150, 720, "partial"], [750, 40, 1110, 720, "partial"]],
        [[915, 105, 1070, 262, "frontal"]],
        [],
        [[470, 195, 670, 455], [0, 0, 1280, 720]],
        "heldout",
    ),
    "opencv_doc/basketball1.png": (
        (OPENCV_DOC[0], OPENCV_DOC[1]),
        [[35, 80, 192, 475, "full"], [425, 25, 640, 480, "partial"]],
        [[68, 86, 116, 136, "frontal"]],
        [],
        [[425, 25, 640, 480]],
        "tune",
    ),
    "opencv_doc/basketball2.png": (
        (OPENCV_DOC[0], OPENCV_DOC[1]),
        [[35, 80, 195, 475, "full"], [425, 25, 640, 480, "partial"]],
        [[68, 86, 116, 136, "frontal"]],
        [],
        [[425, 25, 640, 480]],
        "heldout",
    ),
    "opencv_doc/messi5.jpg": (
        (OPENCV_DOC[0], OPENCV_DOC[1]),
        [[70, 60, 460, 335, "full"]],
        [[222, 88, 268, 135, "frontal"]],
        [[0, 0, 548, 250, "crowd"]],
        [[0, 0, 548, 250]],
        "heldout",
    ),
    "skimage/camera.png": (
        (SKIMAGE, "CC0 (Lav Varshney), per skimage.data docstring"),
        [[0, 65, 335, 512, "partial"]],
        [],
        [],
        [[165, 75, 270, 205]],
        "heldout",
    ),
    "skimage/astronaut.png": (
        (SKIMAGE, "public domain (NASA), per skimage.data docstring"),
        [[25, 15, 370, 512, "partial"]],
        [[174, 63, 275, 164, "frontal"]],
        [],
        [],
        "tune",
    ),
    "grace_hopper.jpg": (
        (
            "matplotlib 3.8.4 (project venv), mpl-data/sample_data",
            "public domain (US Navy photo), per matplotlib's sample_data",
        ),
        [[20, 25, 512, 600, "partial"]],
        [[150, 103, 380, 333, "frontal"]],
        [],
        [],
        "heldout",
    ),
    "scipy/ascent.png": (
        (
            "scipy 1.11.4 wheel (PyPI), scipy/misc/ascent.dat",
            "public domain (public-domain-image.com), per scipy.misc.ascent docstring",
        ),
        [[398, 240, 512, 510, "partial"], [148, 285, 208, 440, "partial"]],
        [],
        [],
        [],
        "tune",
    ),
}
VTEST = (
    "Debian opencv-doc 4.6.0+dfsg-12, examples/data/vtest.avi (OpenCV samples/data)",
    OPENCV_DOC[1],
)


def group_split(group: str) -> str:
    digest = hashlib.sha256(group.encode()).digest()
    return "tune" if digest[0] % 2 == 0 else "heldout"


def jpeg(img: np.ndarray, quality: int = JPEG_QUALITY) -> bytes:
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    return buf.tobytes()


def read_asset(assets: Path, name: str) -> np.ndarray | None:
    path = assets / name
    if not path.is_file():
        print(f"warning: {path} missing, skipped", file=sys.stderr)
        return None
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    return None if img is None else img


def transform_boxes(
    boxes: list[Box],
    sx: float,
    sy: float,
    dx: float,
    dy: float,
    w: int,
    h: int,
    flip: bool = False,
    min_keep: float = 0.75,
) -> tuple[list[Box], list[Box]]:
    """Scale + shift boxes into a new frame; boxes cut by the frame edge below min_keep go to
    ignore."""
    kept, ignored = [], []
    for b in boxes:
        x1, y1, x2, y2 = b[0] * sx + dx, b[1] * sy + dy, b[2] * sx + dx, b[3] * sy + dy
        if flip:
            x1, x2 = w - x2, w - x1
        cx1, cy1, cx2, cy2 = max(0, x1), max(0, y1), min(w, x2), min(h, y2)
        if cx2 <= cx1 or cy2 <= cy1:
            continue
        frac = (cx2 - cx1) * (cy2 - cy1) / max(1e-6, (x2 - x1) * (y2 - y1))
        nb = [round(cx1, 1), round(cy1, 1), round(cx2, 1), round(cy2, 1), *list(b[4:])]
        (kept if frac >= min_keep else ignored).append(nb)
    return kept, ignored


def place(photo: np.ndarray, canvas: np.ndarray, scale: float, x: int, y: int) -> None:
    ph, pw = photo.shape[:2]
    small = cv2.resize(
        photo,
        (max(1, int(pw * scale)), max(1, int(ph * scale))),
        interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR,
    )
    h, w = canvas.shape[:2]
    sh, sw = small.shape[:2]
    x2, y2 = min(w, x + sw), min(h, y + sh)
    canvas[y:y2, x:x2] = small[: y2 - y, : x2 - x]


def real_positive_variants(
    rng: np.random.Generator, name: str, img: np.ndarray, spec: tuple[Any, ...]
) -> Iterator[Item]:
    (source, licence), persons, faces, ign_p, ign_f, split = spec
    ign_p_boxes = [[*list(b[:4]), "ignore"] for b in ign_p]
    ign_f_boxes = [[*list(b[:4]), "ignore"] for b in ign_f]
    group = "real:" + name
    ih, iw = img.shape[:2]
    variants: list[tuple[str, np.ndarray, float, float, float, float, bool]] = []
    variants.append(("native", img, 1, 1, 0, 0, False))
    variants.append(("native_flip", img[:, ::-1].copy(), 1, 1, 0, 0, True))
    # letterboxed into 640x480 at a few scales (the wire's default size)
    for k, s in enumerate((1.0, 0.8, 0.6)):
        base = min(W / iw, H / ih) * s
        canvas = np.full(
            (H, W, 3), rcolor(rng, 0, 80) if rng.random() < 0.5 else (0, 0, 0), np.uint8
        )
        x, y = int((W - iw * base) / 2), int((H - ih * base) / 2)
        place(img, canvas, base, x, y)
        variants.append((f"letterbox{k}", canvas, base, base, x, y, False))
    # picture-in-picture over a synthetic sender frame
    for k in range(2):
        canvas = (
            sender_pattern(int(rng.integers(0, 5000)), W, H, "ambient-flow")
            if k == 0
            else smpte_bars(rng, W, H)
        )
        base = min(W / iw, H / ih) * rng.uniform(0.6, 0.9)
        x, y = int(rng.uniform(0, W - iw * base)), int(rng.uniform(0, H - ih * base))
        place(img, canvas, base, x, y)
        variants.append((f"pip{k}", canvas, base, base, x, y, False))
    # brightness / blur changes at native size
    dim = np.clip(
        img.astype(np.float32) * rng.uniform(0.5, 0.8) + rng.uniform(-10, 10), 0, 255
    ).astype(np.uint8)
    variants.append(("dim", dim, 1, 1, 0, 0, False))
    variants.append(("blur", cv2.GaussianBlur(img, (0, 0), 1.5), 1, 1, 0, 0, False))
    for vname, frame, sx, sy, dx, dy, flip in variants:
        h, w = frame.shape[:2]
        p, pi = transform_boxes(persons, sx, sy, dx, dy, w, h, flip)
        f, fi = transform_boxes(faces, sx, sy, dx, dy, w, h, flip)
        ip, _ = transform_boxes(ign_p_boxes, sx, sy, dx, dy, w, h, flip, 0)
        jf, _ = transform_boxes(ign_f_boxes, sx, sy, dx, dy, w, h, flip, 0)
        yield Item(
            frame,
            "positive",
            "real_photo",
            group,
            source,
            licence,
            p,
            f,
            ip + pi,
            jf + fi,
            notes=vname,
            split=split,
        )


def vtest_frames(assets: Path) -> tuple[list[np.ndarray], np.ndarray] | None:
    path = assets / "opencv_doc" / "vtest.avi"
    if not path.is_file():
        print(f"warning: {path} missing, vtest skipped", file=sys.stderr)
        return None
    cap = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, f = cap.read()
        if not ok:
            break
        frames.append(f)
    bg = np.median(np.stack(frames[::5]), axis=0).astype(np.uint8)
    return frames, bg


def moving_boxes(frame: np.ndarray, bg: np.ndarray) -> list[list[int]]:
    """People in vtest.avi by background subtraction (static camera; checked by eye on samples)."""
    d = cv2.absdiff(frame, bg).max(axis=2)
    m = (d > 40).astype(np.uint8) * 255
    m = cv2.morphologyEx(m, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
    m = cv2.dilate(m, np.ones((9, 5), np.uint8))
    n, _, st, _ = cv2.connectedComponentsWithStats(m)
    out = []
    for k in range(1, n):
        x, y, w, h, a = (int(v) for v in st[k])
        if h >= 30 and a >= 300 and 0.15 < w / h < 1.2:
            out.append([x, y, x + w, y + h])
    return out


def vtest_items(
    rng: np.random.Generator, frames: list[np.ndarray], bg: np.ndarray
) -> Iterator[Item]:
    n = len(frames)
    half = n // 2
    for idx in range(3, n, 9):
        split = "tune" if idx < half else "heldout"
        group = f"vtest:{'A' if idx < half else 'B'}"
        frame = frames[idx]
        fh, fw = frame.shape[:2]
        raw = moving_boxes(frame, bg)
        boxes = []
        ignore = []
        for b in raw:
            touches = b[0] <= 1 or b[1] <= 1 or b[2] >= fw - 1 or b[3] >= fh - 1
            (ignore if touches or (b[3] - b[1]) < 45 else boxes).append([*b, "full"])
        # the full frame: people 50-150 px tall (small for HOG at max_side 640)
        yield Item(
            frame,
            "positive",
            "vtest_full",
            group,
            VTEST[0],
            VTEST[1],
            boxes,
            [],
            ignore,
            [],
            notes=f"frame {idx}",
            split=split,
        )
        # a 2x / 1.5x zoom around one person (a closer camera)
        if boxes:
            b = boxes[int(rng.integers(len(boxes)))]
            zoom = float(rng.choice([1.5, 2.0, 2.5]))
            cw, ch = int(fw / zoom), int(fh / zoom)
            cx, cy = (b[0] + b[2]) / 2, (b[1] + b[3]) / 2
            x0 = int(np.clip(cx - cw * rng.uniform(0.3, 0.7), 0, fw - cw))
            y0 = int(np.clip(cy - ch * rng.uniform(0.3, 0.7), 0, fh - ch))
            crop = cv2.resize(
                frame[y0 : y0 + ch, x0 : x0 + cw], (fw, fh), interpolation=cv2.INTER_CUBIC
            )
            p, pi = transform_boxes(boxes, zoom, zoom, -x0 * zoom, -y0 * zoom, fw, fh)
            ip, _ = transform_boxes(ignore, zoom, zoom, -x0 * zoom, -y0 * zoom, fw, fh, False, 0)
            yield Item(
                crop,
                "positive",
                "vtest_zoom",
                group,
                VTEST[0],
                VTEST[1],
                p,
                [],
                ip + pi,
                [],
                notes=f"frame {idx} zoom {zoom}",
                split=split,
            )
    # the median background: the same scene without people (a real negative)
    for k in range(16):
        zoom = float(rng.choice([1.0, 1.5, 2.0, 2.5]))
        fh, fw = bg.shape[:2]
        cw, ch = int(fw / zoom), int(fh / zoom)
        x0, y0 = int(rng.uniform(0, fw - cw + 1)), int(rng.uniform(0, fh - ch + 1))
        crop = cv2.resize(bg[y0 : y0 + ch, x0 : x0 + cw], (fw, fh), interpolation=cv2.INTER_CUBIC)
        yield Item(
            sensor_noise(crop, rng, 2),
            "negative",
            "real_photo_no_people",
            f"vtest_bg:{k % 2}",
            VTEST[0],
            VTEST[1],
            notes=f"median background zoom {zoom}",
            split="tune" if k % 2 == 0 else "heldout",
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
            "drawn by make_eval_set.py",
            "generated",
            kept,
            [],
            ign,
            [],
            split="tune" if i % 2 == 0 else "heldout",
        )


def build(seed: int, out: Path, assets: Path, small: bool) -> None:
    rng = np.random.default_rng(seed)
    images = out / "images"
    images.mkdir(parents=True, exist_ok=True)
    for old in images.glob("*.jpg"):
        old.unlink()
    rows = []

    def emit(item: Item) -> None:
        data = jpeg(np.ascontiguousarray(item.image))  # the frame as a client sends it
        idx = f"{len(rows):05d}_{item.category}"
        (images / f"{idx}.jpg").write_bytes(data)
        h, w = item.image.shape[:2]
        rows.append(
            {
                "id": idx,
                "file": f"images/{idx}.jpg",
                "split": item.split or group_split(item.group),
                "label": item.label,
                "category": item.category,
                "group": item.group,
                "source": item.source,
                "licence": item.licence,
                "width": w,
                "height": h,
                "persons": item.persons,
                "faces": item.faces,
                "ignore_persons": item.ignore_persons,
                "ignore_faces": item.ignore_faces,
                "notes": item.notes,
            }
        )

    for cat, (gen, count) in SYNTHETIC.items():
        count = max(4, count // 5) if small else count
        for i in range(count):
            sub = np.random.default_rng([seed, hash_str(cat), i])
            emit(
                Item(
                    gen(sub),
                    "negative",
                    cat,
                    f"{cat}:{i % 2}",
                    "generated by make_eval_set.py",
                    "generated",
                    split="tune" if i % 2 == 0 else "heldout",
                )
            )
    # real photos without people: the whole image (letterboxed) and random 640x480 crops / rescales
    real_bgs = []
    negs = [
        (f"opencv_doc/{f}", OPENCV_DOC[0], OPENCV_DOC[1]) for f in REAL_NEGATIVES_OPENCV
    ] + REAL_NEGATIVES_OTHER
    for name, source, licence in negs:
        img = read_asset(assets, name)
        if img is None:
            continue
        real_bgs.append(img)
        sub = np.random.default_rng([seed, hash_str(name)])
        group = "realneg:" + name
        emit(Item(img, "negative", "real_photo_no_people", group, source, licence, notes="native"))
        ih, iw = img.shape[:2]
        s = max(W / iw, H / ih) * sub.uniform(1.0, 1.6)
        big = cv2.resize(img, (int(iw * s) + 1, int(ih * s) + 1), interpolation=cv2.INTER_CUBIC)
        x0, y0 = (
            int(sub.uniform(0, big.shape[1] - W + 1)),
            int(sub.uniform(0, big.shape[0] - H + 1)),
        )
        emit(
            Item(
                big[y0 : y0 + H, x0 : x0 + W],
                "negative",
                "real_photo_no_people",
                group,
                source,
                licence,
                notes="crop 640x480",
            )
        )
    vt = vtest_frames(assets)
    if vt is not None:
        for item in vtest_items(np.random.default_rng([seed, 7]), *vt):
            if small and item.category != "real_photo_no_people" and rng.random() < 0.7:
                continue
            emit(item)
    for name, spec in REAL_POSITIVES.items():
        img = read_asset(assets, name)
        if img is None:
            continue
        for item in real_positive_variants(
            np.random.default_rng([seed, hash_str(name)]), name, img, spec
        ):
            emit(item)
    for item in rendered_items(np.random.default_rng([seed, 11]), real_bgs, 20 if small else 80):
        emit(item)
    with (out / "labels.jsonl").open("w") as fh:
        for row in rows:
            fh.write(json.dumps(row) + "\n")
    meta = {
        "seed": seed,
        "opencv": cv2.__version__,
        "numpy": np.__version__,
        "frames": len(rows),
        "jpeg_quality_wire": JPEG_QUALITY,
    }
    (out / "meta.json").write_text(json.dumps(meta, indent=1))
    counts: dict[tuple[str, str, str], int] = {}
    for r in rows:
        k = (r["split"], r["label"], r["category"])
        counts[k] = counts.get(k, 0) + 1
    for k in sorted(counts):
        print(*k, counts[k])
    print("frames", len(rows))


def hash_str(s: str) -> int:
    return int.from_bytes(hashlib.sha256(s.encode()).digest()[:4], "little")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=9)
    ap.add_argument("--out", type=Path, default=DATA / "evalset")
    ap.add_argument("--assets", type=Path, default=DATA / "assets")
    ap.add_argument(
        "--small", action="store_true", help="a fifth of the synthetic frames (smoke test)"
    )
    args = ap.parse_args()
    cv2.setNumThreads(1)
    build(args.seed, args.out, args.assets, args.small)


if __name__ == "__main__":
    main()
