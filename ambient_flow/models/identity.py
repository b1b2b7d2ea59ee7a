"""Which model made a result: recorded in session metadata (`models.json`) and status."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["ModelIdentity"]


@dataclass(frozen=True)
class ModelIdentity:
    """Which model made a result.

    Attributes:
        kind: What the model does: ``"vad"``, ``"transcription"``, ``"diarization"``,
            ``"detection"``.
        name: Human-readable model name (``"silero-vad"``, ``"whisper-tiny.en"``).
        path: Where the weights were loaded from (file or directory), or ``None`` for a model
            without weights (an energy threshold, a test fake).
        sha256: Digest of each weight file, keyed by file name (or a role such as
            ``"segmentation"`` when a model has several files).
        options: The backend options that shaped its output, JSON-serialisable.
    """

    kind: str
    name: str
    path: str | None
    sha256: dict[str, str] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.kind:
            raise ValueError("ModelIdentity.kind must not be empty")
        if not self.name:
            raise ValueError("ModelIdentity.name must not be empty")
        # Copy so that a caller mutating its dict cannot change a recorded identity.
        object.__setattr__(self, "sha256", dict(self.sha256))
        object.__setattr__(self, "options", dict(self.options))

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready copy for session metadata."""
        return {
            "kind": self.kind,
            "name": self.name,
            "path": self.path,
            "sha256": dict(self.sha256),
            "options": _jsonable(self.options),
        }


def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)
