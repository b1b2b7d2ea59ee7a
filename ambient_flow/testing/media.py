"""Real inputs for tests: PCM, JPEGs and (with espeak-ng) speech."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import wave
from pathlib import Path

import numpy as np
import numpy.typing as npt

from ambient_flow.protocol.constants import AUDIO_SAMPLE_RATE

__all__ = ["jpeg", "sine_pcm", "speech", "write_wav"]


def sine_pcm(
    freq: float = 440.0,
    ms: int = 100,
    sr: int = AUDIO_SAMPLE_RATE,
    ch: int = 1,
    amplitude: float = 0.3,
    phase_samples: int = 0,
) -> bytes:
    """Little-endian int16 PCM of a sine (channels interleaved, identical)."""
    n = sr * ms // 1000
    t = (np.arange(n) + phase_samples) / sr
    mono = np.round(np.sin(2 * np.pi * freq * t) * amplitude * 32767).astype("<i2")
    return np.repeat(mono, ch).astype("<i2").tobytes() if ch > 1 else mono.tobytes()


def jpeg(width: int = 640, height: int = 480, quality: int = 70, seed: int = 0) -> bytes:
    """A real JPEG of a gradient with a seeded rectangle (distinct per seed)."""
    import cv2

    img = np.zeros((height, width, 3), np.uint8)
    img[:, :, 0] = np.linspace(0, 255, width, dtype=np.uint8)[None, :]
    img[:, :, 1] = np.linspace(0, 255, height, dtype=np.uint8)[:, None]
    rng = np.random.default_rng(seed)
    x, y = int(rng.integers(0, max(1, width - 40))), int(rng.integers(0, max(1, height - 40)))
    cv2.rectangle(img, (x, y), (x + 40, y + 40), (255, 255, 255), -1)
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise RuntimeError("cv2.imencode failed")
    return bytes(buf.tobytes())


def write_wav(path: str | Path, pcm: bytes, sr: int = AUDIO_SAMPLE_RATE, ch: int = 1) -> Path:
    path = Path(path)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(ch)
        w.setsampwidth(2)
        w.setframerate(sr)
        w.writeframes(pcm)
    return path


def speech(text: str, voice: str = "en", sr: int = AUDIO_SAMPLE_RATE) -> npt.NDArray[np.int16]:
    """Speak `text` with espeak-ng and return int16 mono at `sr` (needs espeak-ng and sox)."""
    if shutil.which("espeak-ng") is None or shutil.which("sox") is None:
        raise FileNotFoundError("speech() needs espeak-ng and sox (apt-get install espeak-ng sox)")
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "raw.wav"
        out = Path(tmp) / "out.wav"
        subprocess.run(
            ["espeak-ng", "-v", voice, "-w", str(raw), text], check=True, capture_output=True
        )
        subprocess.run(
            ["sox", "-R", "-D", str(raw), "-r", str(sr), "-c", "1", "-b", "16", str(out)],
            check=True,
            capture_output=True,
        )
        with wave.open(str(out), "rb") as w:
            return np.frombuffer(w.readframes(w.getnframes()), "<i2").copy()
