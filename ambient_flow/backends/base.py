"""What every model backend shares: file checks and digests, offline mode, thread count.

A weight file must be the one we expect (a truncated download must fail at start-up,
not look like silence), nothing may reach a model hub at run time, and one library must
not silently change another's thread count (ultralytics' `predict()` sets torch's
process-wide count). These helpers are that contract; they import nothing heavy at module
import. Loading itself follows one template, `models.lazy.LazyModel`.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

from ambient_flow.errors import ConfigError, StartupError

__all__ = [
    "check_sha256_option",
    "offline_environment",
    "require_file",
    "sha256_file",
    "torch_threads",
    "verify_sha256",
]

_CHUNK = 1 << 20


def require_file(path: Path, what: str) -> None:
    """Raise `StartupError` unless `path` is an existing regular file (the message names it)."""
    if not path.exists():
        raise StartupError(f"{what} {path}: no such file")
    if not path.is_file():
        raise StartupError(f"{what} {path}: not a regular file")


def check_sha256_option(name: str, value: str | None) -> None:
    """Options validation: an expected digest is None or 64 hex digits (`ConfigError`)."""
    if value is not None and (
        len(value) != 64 or any(c not in "0123456789abcdef" for c in value.lower())
    ):
        raise ConfigError(f"{name} must be 64 hex digits, got {value!r}")


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
