"""One call per model on synthetic input at start-up, so a client's first call is not the slow one.

Loading a model is not the whole cost of its first call: the first resemblyzer step
imports librosa and compiles its mel filters (~2.7 s here), ONNX Runtime and
CTranslate2 allocate their buffers on the first run. Warming runs each model once,
through the same interface the operators use, on input made here (a voiced, syllable-
modulated tone and a test pattern: no files, no randomness), and throws the result
away. It also proves that a model which loaded can run: a checkpoint that loads but
fails on input is a start-up error, not a failure on the first client's audio.

Warming touches no client state: every stream it uses is a fresh one, dropped after.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
import numpy.typing as npt

from ambient_flow.errors import StartupError
from ambient_flow.models.detection import Detector
from ambient_flow.models.diarization import Diarizer, StepRequest
from ambient_flow.models.transcription import Transcriber
from ambient_flow.models.vad import SpeechProbability

__all__ = [
    "run_warm_up",
    "synthetic_image",
    "synthetic_voice",
    "warm_detector",
    "warm_diarizer",
    "warm_transcriber",
    "warm_vad",
]

_RATE = 16_000


def synthetic_voice(seconds: float) -> npt.NDArray[np.float32]:
    """A voice-like test signal: harmonics of a gliding 110-180 Hz pitch, 4 syllables/s.

    Deterministic (no random numbers), float32 in [-0.5, 0.5], 16 kHz mono.
    """
    n = max(1, round(seconds * _RATE))
    t = np.arange(n) / _RATE
    f0 = 145.0 + 35.0 * np.sin(2 * np.pi * 0.7 * t)
    phase = 2 * np.pi * np.cumsum(f0) / _RATE
    voice = sum(np.sin(k * phase) / k for k in range(1, 12))
    syllables = 0.5 * (1.0 - np.cos(2 * np.pi * 4.0 * t))
    out = voice * syllables
    peak = float(np.max(np.abs(out))) or 1.0
    return np.asarray(0.5 * out / peak, dtype=np.float32)


def synthetic_image(width: int = 640, height: int = 480) -> npt.NDArray[np.uint8]:
    """A BGR test pattern (two gradients and a grey bar), the size clients send by default."""
    img = np.zeros((height, width, 3), np.uint8)
    img[:, :, 0] = np.linspace(0, 255, width, dtype=np.uint8)[None, :]
    img[:, :, 1] = np.linspace(0, 255, height, dtype=np.uint8)[:, None]
    img[height // 3 : height // 2, :, :] = 128
    return img


def warm_vad(model: SpeechProbability) -> None:
    """One second of voice through a fresh stream, and one block through the batched call."""
    size = model.block_samples
    audio = synthetic_voice(1.0)
    blocks = audio[: audio.size // size * size].reshape(-1, size)
    model.probabilities(blocks)
    model.probabilities_many([model.new_stream()], blocks[:1])


def warm_transcriber(model: Transcriber) -> None:
    """Two seconds of voice (decoded to whatever text; discarded)."""
    model.transcribe(synthetic_voice(2.0), offset_s=0.0)


def warm_diarizer(model: Diarizer, window_s: float) -> None:
    """One window of voice, all of it marked speech, so the embedding model runs."""
    window = synthetic_voice(window_s)
    speech = np.ones(max(1, window.size // 512), np.bool_)
    model.step_many([StepRequest(model.new_stream(), window, 0, speech)])


def warm_detector(model: Detector) -> None:
    """One 640x480 test pattern."""
    model.detect([synthetic_image()])


def run_warm_up(role: str, call: Callable[[], None]) -> float:
    """Run one model's warm-up call; its seconds.

    Raises:
        StartupError: The model failed on the synthetic input (it loaded, but cannot run).
    """
    started = time.perf_counter()
    try:
        call()
    except StartupError:
        raise
    except Exception as exc:
        raise StartupError(
            f"the {role} model loaded but failed on a test input ({type(exc).__name__}: {exc})"
        ) from exc
    return time.perf_counter() - started
