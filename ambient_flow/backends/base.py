"""What every model backend shares: its identity, file digests, offline mode, thread count.

A model that produced a result must be nameable afterwards (session metadata records which
weights and options made each transcript), a weight file must be the one we expect (a
truncated download must fail at start-up, not look like silence), nothing may reach a model
hub at run time, and one library must not silently change another's thread count
(ultralytics' `predict()` sets torch's process-wide count). These four helpers are that
contract; they import nothing heavy at module import.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ambient_flow.errors import StartupError

__all__ = [
    "LazyLoaded",
    "ModelIdentity",
    "offline_environment",
    "sha256_file",
    "torch_threads",
    "verify_sha256",
]

_CHUNK = 1 << 20


@dataclass(frozen=True)
class ModelIdentity:
    """Which model made a result, recorded in session metadata.

    Attributes:
        kind: What the model does: ``"vad"``, ``"transcription"``, ``"diarization"``,
            ``"detection"``.
        name: Human-readable model name (``"silero-vad"``, ``"whisper-tiny.en"``).
        path: Where the weights were loaded from (file or directory), or ``None`` for a model
            without weights (an energy threshold).
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
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


def sha256_file(path: str | os.PathLike[str]) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks.

    Raises:
        StartupError: The file is missing or unreadable (the message names the path).
    """
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as fh:
            while chunk := fh.read(_CHUNK):
                digest.update(chunk)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise StartupError(f"cannot read model file {os.fspath(path)}: {reason}") from exc
    return digest.hexdigest()


def verify_sha256(path: str | os.PathLike[str], expected: str | None, what: str) -> str:
    """Hash `path` and, when `expected` is given, insist it matches.

    Args:
        path: The weight file.
        expected: Hex digest to require, or ``None`` to only record the digest.
        what: What the file is, for the error message (``"Silero VAD model"``).

    Returns:
        The file's hex digest (for `ModelIdentity.sha256`).

    Raises:
        StartupError: Missing/unreadable file or digest mismatch; the message names the path.
    """
    digest = sha256_file(path)
    if expected is not None and digest != expected.lower():
        raise StartupError(
            f"{what} {os.fspath(path)}: sha256 {digest} "
            f"does not match the expected {expected.lower()}"
        )
    return digest


def _default_config_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "ambient-flow" / "ultralytics"


def offline_environment(config_dir: Path | None = None) -> contextlib.AbstractContextManager[None]:
    """Make the model libraries work without network; call before importing them.

    Sets ``HF_HUB_OFFLINE=1``, ``TRANSFORMERS_OFFLINE=1``, ``YOLO_OFFLINE=1``,
    ``YOLO_AUTOINSTALL=0`` (ultralytics must not ``pip install`` at run time) and
    ``YOLO_CONFIG_DIR`` (ultralytics writes ``settings.json`` there; a directory we own
    instead of the user's home config). huggingface_hub reads ``HF_HUB_OFFLINE`` when it is
    first imported, so this must run before the first heavy import. Idempotent: the values
    are the same on every call, and they are deliberately *not* restored afterwards (going
    back online mid-process is never wanted).

    The variables are set immediately; the return value is a no-op context manager so
    that ``with offline_environment(d): ...`` reads naturally too.

    Args:
        config_dir: Directory for ultralytics' settings. ``None`` keeps an existing
            ``YOLO_CONFIG_DIR`` or uses ``$XDG_CACHE_HOME/ambient-flow/ultralytics``.

    Raises:
        StartupError: The config directory cannot be created.
    """
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    os.environ["YOLO_OFFLINE"] = "1"
    os.environ["YOLO_AUTOINSTALL"] = "0"
    if config_dir is None and os.environ.get("YOLO_CONFIG_DIR"):
        return contextlib.nullcontext()
    target = Path(config_dir) if config_dir is not None else _default_config_dir()
    try:
        target.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StartupError(f"cannot create model config directory {target}: {exc}") from exc
    os.environ["YOLO_CONFIG_DIR"] = str(target)
    return contextlib.nullcontext()


@contextlib.contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """Run a block with torch's intra-op thread count set to `n`, then restore it.

    torch's thread count is process-wide and other libraries change it behind our back
    (ultralytics' ``predict()``), so every backend wraps each of its torch calls in this
    guard instead of setting the count once at start-up. The previous count is restored on
    exit. Two threads using the guard at once may see each other's count for the length of
    a call; the next call of each sets its own again.

    Args:
        n: Threads for the block (>= 1), or ``None`` to leave torch's count alone.
    """
    if n is None:
        yield
        return
    if n < 1:
        raise ValueError(f"torch thread count must be >= 1, got {n}")
    import torch

    previous = torch.get_num_threads()
    if previous != n:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        if torch.get_num_threads() != previous:
            torch.set_num_threads(previous)


class LazyLoaded:
    """The `identity` of a model that loads on first use: load, then say what was loaded.

    Backends set `self._identity` in their `load()`; this is the one place that turns
    "load() returned without recording it" into an error rather than a None.
    """

    _identity: ModelIdentity | None

    def load(self) -> None:
        raise NotImplementedError

    @property
    def identity(self) -> ModelIdentity:
        """What was loaded (path, sha256, options); loads the model first if needed."""
        self.load()
        if self._identity is None:  # pragma: no cover - every load() sets it or raises
            raise StartupError(f"{type(self).__name__} did not record what it loaded")
        return self._identity
