"""Model backends: the implementations of `ambient_flow.models`' interfaces.

Importing this package (or any module in it) imports no model library: the heavy
imports and the loading happen in `load()` (`models.lazy.LazyModel`), at start-up. A
load failure raises `ambient_flow.errors.StartupError` naming the path and what was
wrong; nothing falls back silently to another model. `registry.build_models` chooses and
builds them from the settings.

Modules: `base` (digests, offline mode, thread guard), `vad` (Silero, energy),
`whisper_text` / `whisper_ct2` / `whisper_torch` (transcription), `diarize_common` /
`diarize_embedded` / `diarize_diart` and `cluster` (diarization), `detect` (OpenCV, YOLO),
`registry`.
"""

from __future__ import annotations

from ambient_flow.backends.base import (
    offline_environment,
    sha256_file,
    torch_threads,
    verify_sha256,
)
from ambient_flow.backends.registry import build_models, check_installed

__all__ = [
    "build_models",
    "check_installed",
    "offline_environment",
    "sha256_file",
    "torch_threads",
    "verify_sha256",
]
