"""Payloads for the benchmark: real PCM and camera-like JPEGs (noise makes them realistic size)."""

from __future__ import annotations

import numpy as np

from ambient_flow.testing.media import sine_pcm

__all__ = ["audio_pcm", "camera_jpegs"]


def audio_pcm() -> bytes:
    """100 ms of 16 kHz mono int16: 3200 bytes, what a real client sends per chunk."""
    return sine_pcm(440.0, ms=100)


def camera_jpegs(width: int, height: int, count: int = 4, quality: int = 70) -> list[bytes]:
    """`count` distinct JPEGs with sensor-like noise (640x480 q70: about 35 KB each).

    A clean gradient compresses to ~12 KB, far smaller than a webcam frame, so noise
    at two scales is added to land on a realistic size.
    """
    import cv2

    out = []
    for seed in range(count):
        rng = np.random.default_rng(seed)
        img = np.zeros((height, width, 3), np.float64)
        img[:, :, 0] = np.linspace(0, 255, width)[None, :]
        img[:, :, 1] = np.linspace(0, 255, height)[:, None]
        img[:, :, 2] = 128
        coarse = cv2.resize(rng.normal(0, 12, (height // 4, width // 4, 3)), (width, height))
        img = np.clip(img + coarse + rng.normal(0, 6, (height, width, 3)), 0, 255).astype(np.uint8)
        ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, quality])
        if not ok:
            raise RuntimeError("cv2.imencode failed")
        out.append(bytes(buf.tobytes()))
    return out
