"""What every enrichment section is given: the plan, and the models loaded once.

The models are loaded once and shared by every live host, replay and direct timing,
exactly as one host process shares them between its clients; each live host gets its
own micro-batchers and transcription pool (made by the graph's model stage).
"""

from __future__ import annotations

import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ambient_flow.models.bundle import Models
from bench.core.media import camera_jpegs
from bench.enrich.speech import SR, Track, build_tracks

__all__ = ["ROOT", "Ctx", "Plan", "camera_frame", "offline"]

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Plan:
    """Sizes of one run (the default takes about 7 minutes, `quick` about 3)."""

    phrases: int = 6  # per client in the 1/2/4-client latency runs (~30 s of audio)
    levels: tuple[int, ...] = (1, 2, 4)
    capacity_levels: tuple[int, ...] = (1, 2, 4, 6, 8, 12)
    capacity_phrases: int = 4
    video_fps: float = 1.0  # camera frames per client per second (640x480 JPEG)
    repeats: int = 3  # direct model timings
    replay_repeats: int = 2
    capacity_repeat: bool = True  # re-run the level where batching on/off disagree
    wl_final_wait_s: float = 15.0
    #: A level passes when transcript latency p90 stays under this (and see `live.passes`):
    #: issue 13's criterion, 2 s (2.5 s before it).
    latency_bound_ms: float = 2000.0
    #: The capacity ladder runs with these Bytewax worker counts (`-w`), in one run.
    capacity_workers: tuple[int, ...] = (1, 2)

    @classmethod
    def quick(cls) -> Plan:
        return cls(
            phrases=3,
            capacity_levels=(2,),
            capacity_phrases=3,
            repeats=1,
            replay_repeats=1,
            capacity_repeat=False,
            wl_final_wait_s=10.0,
        )

    @classmethod
    def of(cls, quick: bool) -> Plan:
        return cls.quick() if quick else cls()


def offline() -> None:
    """No hub, ever: set before any model library is imported."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("YOLO_OFFLINE", "1")
    os.environ.setdefault("YOLO_AUTOINSTALL", "0")
    os.environ.setdefault("YOLO_CONFIG_DIR", str(Path(tempfile.gettempdir()) / "af-bench-yolo"))


def camera_frame() -> tuple[bytes, tuple[int, int]]:
    """One camera-like 640x480 JPEG (about 35 KB) and its size."""
    return camera_jpegs(640, 480, count=1)[0], (640, 480)


@dataclass
class Ctx:
    """The plan, the loaded models, the WhisperLive venv, and what sections pass on."""

    plan: Plan
    wl_venv: Path
    models: Models | None = None
    load_s: float = 0.0
    speech_cache: dict[Any, Any] = field(default_factory=dict)
    #: The live section's rows: the first rungs of the capacity ladder.
    live_rows: list[dict[str, Any]] = field(default_factory=list)
    #: Knobs every live host is built with besides the test defaults (`bench.speech`
    #: passes the ones its settings change).
    host_overrides: dict[str, Any] = field(default_factory=dict)

    def tracks(self, n: int, phrases: int) -> list[Track]:
        return build_tracks(n, phrases, cache=self.speech_cache)

    @property
    def loaded(self) -> Models:
        if self.models is None:
            raise RuntimeError("the models are not loaded (Ctx.load)")
        return self.models

    def load(self) -> Ctx:
        """Build and load the default models (`backends.registry`), then warm them."""
        from ambient_flow.backends.registry import build_models
        from ambient_flow.config import Settings

        scratch = Path(tempfile.gettempdir()) / "af-bench-enrich"  # the registry's cache dir
        scratch.mkdir(parents=True, exist_ok=True)
        t = time.perf_counter()
        self.models = build_models(Settings(enrich=True, data_dir=str(scratch)))
        self.load_s = time.perf_counter() - t
        self._warm(self.models)
        return self

    def _warm(self, models: Models) -> None:
        """First calls allocate (Whisper, resemblyzer, OpenCV): not what a run measures."""
        from ambient_flow.models.diarization import StepRequest

        audio = np.frombuffer(self.tracks(1, 1)[0].pcm, "<i2").astype(np.float32) / 32768.0
        models.transcriber.transcribe(audio, offset_s=0.0)
        stream = models.diarizer.new_stream()
        models.diarizer.step_many([StepRequest(stream, audio[: 5 * SR], 0, None)])
        if models.detector is not None:
            models.detector.detect([np.zeros((480, 640, 3), np.uint8)])
