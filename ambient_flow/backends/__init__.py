"""Model backends: each sits behind a narrow `typing.Protocol` and loads lazily.

Importing this package (or any module in it) imports no model library: the heavy
imports and the loading happen on first use, on the worker that needs the model. A load
failure raises `ambient_flow.errors.StartupError` naming the path and what was wrong;
nothing falls back silently to another model. Every loaded model records its
`ModelIdentity` for the session metadata.

Modules: `base` (identity, digests, offline mode, thread guard), `vad` (speech
probability per 32 ms frame), `transcribe` (Whisper), `diarize`, `detect`.
"""

from __future__ import annotations

from ambient_flow.backends.base import (
    ModelIdentity,
    offline_environment,
    sha256_file,
    torch_threads,
    verify_sha256,
)

__all__ = [
    "ModelIdentity",
    "offline_environment",
    "sha256_file",
    "torch_threads",
    "verify_sha256",
]
