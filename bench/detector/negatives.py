"""Frames without people, generated: what a sender streams (its `TestPattern`, boxes and
balls with a clock, colour bars) and what HOG tends to mistake for a person (text, UI,
shapes, stripes, textures). `SYNTHETIC`: each generator and how many frames it makes."""

from __future__ import annotations

import math
from collections.abc import Callable

import cv2
import numpy as np

from ambient_flow.client.media import PatternOptions, TestPattern
from bench.detector.draw import (
    FONTS,
    background,
    fractal_noise,
    hue_sweep,
    linear_gradient,
    overlay_timestamp,
    put_text,
    radial_gradient,
    rcolor,
    rsize,
    sensor_noise,
    smpte_bars,
    words,
)

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
    """Frame `n` of the project's Python sender's test pattern (`client.media.TestPattern`)."""
    pattern = TestPattern(PatternOptions(label=label), width=width, height=height, quality=70)
    return np.asarray(pattern.render(n))


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
