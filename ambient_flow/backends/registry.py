"""Which backend each setting names, and how to build it: the one place models are chosen.

Each role (`vad`, `transcriber`, `diarizer`, `detector`) has a table from the setting's
value to a `Backend`: the Python modules it needs (checked before anything loads, so a
missing extra is one clear line) and a function that builds it from `Settings`. A
setting that a backend requires but the user left empty (`--whisper-model` for
openai-whisper, the diart checkpoints, `--yolo-model`) is a `ConfigError` naming it.

`build_models` loads and warms every chosen model at start-up; a model that fails is
one `StartupError` line naming the setting that chose it and its value
(`whisper_model='/x' (--whisper-model, AMBIENT_FLOW_WHISPER_MODEL): ...`).
"""

from __future__ import annotations

import dataclasses
import importlib.util
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Generic, TypeVar

from ambient_flow.backends.base import offline_environment
from ambient_flow.config import ENV_PREFIX, Settings
from ambient_flow.errors import ConfigError, StartupError
from ambient_flow.models.bundle import Models
from ambient_flow.models.detection import Detector
from ambient_flow.models.diarization import Diarizer
from ambient_flow.models.transcription import Transcriber
from ambient_flow.models.vad import SpeechProbability

if TYPE_CHECKING:
    from ambient_flow.backends.whisper_decode import DecodeOptions

__all__ = ["DETECTORS", "DIARIZERS", "TRANSCRIBERS", "VADS", "Backend", "build_models",
           "check_installed", "setting_of"]  # fmt: skip

logger = logging.getLogger(__name__)

T = TypeVar("T", covariant=True)


@dataclass(frozen=True)
class Backend(Generic[T]):
    """One choice for a role: the modules it imports, how settings make it, and the
    settings that hold the paths it loads (named when loading fails)."""

    needs: tuple[str, ...]
    build: Callable[[Settings], T]
    paths: tuple[str, ...] = ()


def _required(value: str, message: str) -> Path:
    if not value:
        raise ConfigError(message)
    return Path(value)


def _silero(s: Settings) -> SpeechProbability:
    from ambient_flow.backends.vad import SileroVad, SileroVadOptions

    return SileroVad(SileroVadOptions(threads=s.model_threads))


def _energy(s: Settings) -> SpeechProbability:
    from ambient_flow.backends.vad import EnergyVad

    return EnergyVad()


def _decoding(s: Settings) -> DecodeOptions:
    from ambient_flow.backends.whisper_decode import DecodeOptions

    return DecodeOptions(
        language=s.language or None,
        beam_size=s.beam_size,
        fallback_beam_size=s.fallback_beam_size,
    )


def _faster_whisper(s: Settings) -> Transcriber:
    from ambient_flow.backends.whisper_ct2 import FasterWhisperOptions, FasterWhisperTranscriber

    return FasterWhisperTranscriber(
        FasterWhisperOptions(
            model_path=Path(s.whisper_model) if s.whisper_model else None,
            compute_type=s.compute_type,
            cpu_threads=s.whisper_threads,
            workers=s.whisper_workers,
            decode=_decoding(s),
        )
    )


def _openai_whisper(s: Settings) -> Transcriber:
    from ambient_flow.backends.whisper_torch import OpenAIWhisperOptions, OpenAIWhisperTranscriber

    path = _required(s.whisper_model, "openai-whisper needs --whisper-model (a local .pt file)")
    return OpenAIWhisperTranscriber(
        OpenAIWhisperOptions(model_path=path, threads=s.whisper_threads, decode=_decoding(s))
    )


def _embedded(s: Settings) -> Diarizer:
    from ambient_flow.backends.diarize_embedded import EmbeddedDiarizer, EmbeddedDiarizerOptions
    from ambient_flow.backends.tracker_options import TrackerOptions

    tracker = TrackerOptions(max_speakers=s.max_speakers, num_speakers=s.num_speakers or None)
    if s.cluster_threshold:
        tracker = dataclasses.replace(
            tracker,
            new_threshold=s.cluster_threshold,
            join_threshold=min(tracker.join_threshold, s.cluster_threshold),
        )
    return EmbeddedDiarizer(
        EmbeddedDiarizerOptions(
            window_s=s.diarization_window,
            step_s=s.diarization_step,
            tracker=tracker,
            threads=s.model_threads,
        )
    )


def _diart(s: Settings) -> Diarizer:
    from ambient_flow.backends.diarize_diart import DiartDiarizer, DiartOptions

    need = "diart needs --segmentation-model and --embedding-model (local files)"
    options = DiartOptions(
        segmentation=_required(s.segmentation_model, need),
        embedding=_required(s.embedding_model, need),
        window_s=s.diarization_window,
        step_s=s.diarization_step,
        max_speakers=s.max_speakers,
        threads=s.model_threads,
    )
    if s.diarization_latency:
        options = dataclasses.replace(options, latency_s=s.diarization_latency)
    return DiartDiarizer(options)


def _opencv(s: Settings) -> Detector:
    from ambient_flow.backends.detect import OpenCVDetector, OpenCVDetectorOptions

    return OpenCVDetector(
        OpenCVDetectorOptions(
            confidence=s.detect_confidence, max_side=s.detect_size, threads=s.model_threads
        )
    )


def _yolo(s: Settings) -> Detector:
    from ambient_flow.backends.detect import YoloDetector, YoloOptions

    weights = _required(s.yolo_model, "the yolo detector needs --yolo-model (a local .pt file)")
    return YoloDetector(
        YoloOptions(
            weights=weights,
            confidence=s.detect_confidence,
            imgsz=s.detect_size,
            threads=max(1, s.model_threads),
        )
    )


VADS: Mapping[str, Backend[SpeechProbability]] = {
    "silero": Backend(("onnxruntime", "numpy"), _silero),
    "energy": Backend(("numpy",), _energy),
}
TRANSCRIBERS: Mapping[str, Backend[Transcriber]] = {
    "faster-whisper": Backend(("faster_whisper",), _faster_whisper, ("whisper_model",)),
    "openai-whisper": Backend(("whisper",), _openai_whisper, ("whisper_model",)),
}
DIARIZERS: Mapping[str, Backend[Diarizer]] = {
    "embedded": Backend(("resemblyzer", "torch"), _embedded),
    "diart": Backend(("diart",), _diart, ("segmentation_model", "embedding_model")),
}
#: `none` turns detection off.
DETECTORS: Mapping[str, Backend[Detector] | None] = {
    "opencv": Backend(("cv2",), _opencv),
    "yolo": Backend(("ultralytics",), _yolo, ("yolo_model",)),
    "none": None,
}


def _chosen(settings: Settings) -> list[Backend[object] | None]:
    return list(_by_role(settings).values())


def _by_role(settings: Settings) -> dict[str, Backend[object] | None]:
    """The chosen backend of each role; the role is also the setting that chooses it."""
    return {
        "vad": VADS[settings.vad],
        "transcriber": TRANSCRIBERS[settings.transcriber],
        "diarizer": DIARIZERS[settings.diarizer],
        "detector": DETECTORS[settings.detector],
    }


def _setting(name: str, value: object) -> str:
    flag = "--" + name.replace("_", "-")
    return f"{name}={value!r} ({flag}, {ENV_PREFIX}{name.upper()})"


def setting_of(role: str, settings: Settings, error: str) -> str:
    """The setting to blame for `role`'s load failure: the path setting the error names
    (or the first one given), else the setting that chose the backend."""
    backend = _by_role(settings)[role]
    given = [p for p in (backend.paths if backend else ()) if getattr(settings, p)]
    named = [p for p in given if str(getattr(settings, p)) in error]
    name = (named or given or [role])[0]
    return _setting(name, getattr(settings, name))


def check_installed(settings: Settings) -> None:
    """Fail in one clear line, before anything loads, when the model stack is missing."""
    needed = [name for b in _chosen(settings) if b is not None for name in b.needs]
    missing = sorted({name for name in needed if importlib.util.find_spec(name) is None})
    if missing:
        raise ConfigError(
            f"the enrichment needs {', '.join(missing)} (the [audio] extra; see the README's "
            "install command), or turn it off with --no-enrich / AMBIENT_FLOW_ENRICH=0"
        )


def build_models(settings: Settings, *, load: bool = True) -> Models:
    """Build the configured backends and (by default) load and warm them now.

    Loading at construction means a bad path fails at start-up with the setting and
    the path in the message; warming (one call per model on synthetic input,
    `models.warmup`) means the first client's first call is not the slow one, and that
    a model which loads but cannot run fails here too.

    Raises:
        ConfigError: A required path setting is empty, or the model stack is missing.
        StartupError: A model failed to load or to run; the message names its setting.
    """
    check_installed(settings)
    offline_environment(Path(settings.data_dir) / ".cache" / "ultralytics")  # never a hub
    detector = DETECTORS[settings.detector]
    models = Models(
        vad=VADS[settings.vad].build(settings),
        transcriber=TRANSCRIBERS[settings.transcriber].build(settings),
        diarizer=DIARIZERS[settings.diarizer].build(settings),
        detector=detector.build(settings) if detector is not None else None,
    )
    if load:
        for role, model in models.roles().items():
            try:
                model.load()
                seconds = models.warm_up(role, window_s=settings.diarization_window)
            except StartupError as exc:
                raise StartupError(f"{setting_of(role, settings, str(exc))}: {exc}") from exc
            logger.info("%s ready (first call %.0f ms)", role, seconds * 1000)
    return models
