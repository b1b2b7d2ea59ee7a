"""Load a model once, on first use or at start-up: the one template every backend follows.

Every backend used to repeat the same routine — take a lock, load at most once, check
the weights, import the library, turn its errors into ours, record what was loaded.
`LazyModel` is that routine; a backend only says how to load (`_load`) and what it is
(`describes`). Loading is explicit at start-up (`load()`, so a bad path fails before the
ports take traffic) and implicit on first use (so a library that builds a model by hand
still works). Nothing heavy is imported here.
"""

from __future__ import annotations

import logging
import threading
from typing import Generic, Protocol, TypeVar, runtime_checkable

from ambient_flow.errors import StartupError
from ambient_flow.models.identity import ModelIdentity

__all__ = ["LazyModel", "Model"]

logger = logging.getLogger(__name__)

LoadedT = TypeVar("LoadedT")


@runtime_checkable
class Model(Protocol):
    """What every model offers besides its own calls: loading now, and saying what it is."""

    @property
    def identity(self) -> ModelIdentity:
        """Which weights and options (loads the model first if needed)."""
        ...

    def load(self) -> None:
        """Load now; raises `StartupError` naming the path and what was wrong."""
        ...


class LazyModel(Generic[LoadedT]):
    """Base class: thread-safe load-once with errors as `StartupError` and a recorded identity.

    Subclasses implement `_load()`, returning the loaded object (whatever the library
    gives: a session, a model, a tuple of them) and its `ModelIdentity`, and may
    override `describe()` to name the path in error messages. A `StartupError` raised by
    `_load` passes through unchanged; any other exception becomes one, chained
    (`from exc`), so a library's error never escapes as a bare traceback.
    """

    #: What the model is, in error messages (`"Silero VAD model"`).
    describes = "model"

    def __init__(self) -> None:
        self._load_lock = threading.Lock()
        self._loaded: LoadedT | None = None
        self._identity: ModelIdentity | None = None

    def _load(self) -> tuple[LoadedT, ModelIdentity]:
        """Load the model (check files, import the library, build it); called once."""
        raise NotImplementedError

    def describe(self) -> str:
        """What failed, for error messages; backends add their path."""
        return self.describes

    def load(self) -> None:
        """Load now (idempotent, thread-safe)."""
        if self._loaded is not None:
            return
        with self._load_lock:
            if self._loaded is not None:
                return
            try:
                loaded, identity = self._load()
            except StartupError:
                raise
            except Exception as exc:
                raise StartupError(
                    f"{self.describe()}: cannot load ({type(exc).__name__}: {exc})"
                ) from exc
            self._identity = identity
            self._loaded = loaded
        logger.info("loaded %s %s from %s", identity.kind, identity.name, identity.path or "-")

    @property
    def loaded(self) -> LoadedT:
        """The loaded object (loads first if needed)."""
        self.load()
        if self._loaded is None:  # pragma: no cover - load() sets it or raises
            raise StartupError(f"{self.describe()}: did not load")
        return self._loaded

    @property
    def identity(self) -> ModelIdentity:
        """What was loaded (path, sha256, options); loads the model first if needed."""
        self.load()
        if self._identity is None:  # pragma: no cover - load() sets it or raises
            raise StartupError(f"{self.describe()}: did not record what it loaded")
        return self._identity
