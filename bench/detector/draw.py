"""What every frame of the detector set is made of: its record (`Item`), sizes, colours,
text, gradients and noise, and the JPEG round trip at the wire's quality."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

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


def jpeg(img: np.ndarray, quality: int = JPEG_QUALITY) -> bytes:
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    return buf.tobytes()


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
