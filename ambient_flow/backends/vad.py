"""Speech probability per 32 ms frame: the only thing a VAD model contributes.

The decision logic (threshold with hysteresis, minimum speech and silence, pre-roll,
maximum utterance length) is pure operator code over these numbers, so a model can be
swapped without touching it and the logic can be tested on a fake clock.

A frame is 512 samples of 16 kHz mono float32 audio in [-1, 1]. Silero is recurrent: its
output for a frame depends on the frames before it *of the same client*, so every client
gets its own `VadStream` from `SpeechProbability.new_stream()`, fed its frames in order.
The model itself is shared; `SpeechProbability.probabilities_many` runs one frame of
each of several streams through one model call (cross-client batching) while still
advancing each stream's own state.

Backends:

- `SileroVad` (default): the Silero VAD v6 ONNX model shipped inside the ``silero-vad``
  wheel, run directly with onnxruntime (the ``silero_vad`` package itself is never
  imported: its import pulls in torch and sets torch's process-wide thread count to 1).
  The state and context handling replicate silero-vad's own ``OnnxWrapper``.
- `EnergyVad`: frame RMS in dBFS mapped through a logistic curve. No weights, no state,
  no dependencies; it cannot tell speech from any other loud sound.
"""

from __future__ import annotations

import importlib.util
import logging
import threading
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from ambient_flow.backends.base import LazyLoaded, ModelIdentity, verify_sha256
from ambient_flow.errors import ConfigError, StartupError

if TYPE_CHECKING:
    import onnxruntime

__all__ = [
    "CONTEXT_SAMPLES",
    "FRAME_SAMPLES",
    "SAMPLE_RATE",
    "SILERO_ONNX_SHA256",
    "EnergyVad",
    "EnergyVadOptions",
    "SileroVad",
    "SileroVadOptions",
    "SpeechProbability",
    "VadStream",
    "silero_wheel_model_path",
]

logger = logging.getLogger(__name__)

SAMPLE_RATE = 16_000
"""The only sample rate the VAD accepts (the ingest layer resamples)."""

FRAME_SAMPLES = 512
"""Samples per VAD frame: 32 ms at 16 kHz, the frame size Silero v5+ is trained on."""

CONTEXT_SAMPLES = 64
"""Samples of the previous frame Silero prepends to each frame (as ``OnnxWrapper`` does)."""

SILERO_ONNX_SHA256 = "1a153a22f4509e292a94e67d6f9b85e8deb25b4988682b7e174c65279d8788e3"
"""sha256 of ``silero_vad/data/silero_vad.onnx`` in the silero-vad 6.2.3 wheel."""

_STATE_SHAPE = (2, 1, 128)

Frames = npt.NDArray[np.float32]


@runtime_checkable
class VadStream(Protocol):
    """One client's view of a VAD model: its frames, in order, with its own memory."""

    def probability(self, frame: npt.ArrayLike) -> float:
        """Speech probability of the next 512-sample frame of this stream."""
        ...

    def probabilities(self, frames: npt.ArrayLike) -> Frames:
        """Speech probabilities of the next ``n`` consecutive frames, shape ``(n, 512)``."""
        ...

    def reset(self) -> None:
        """Forget everything (a new session of the same client)."""
        ...


@runtime_checkable
class SpeechProbability(Protocol):
    """A VAD model: speech probability per 32 ms frame, shared by all clients."""

    @property
    def frame_samples(self) -> int:
        """Samples per frame (512 at 16 kHz)."""
        ...

    @property
    def identity(self) -> ModelIdentity:
        """Which model and options produce the probabilities (loads the model)."""
        ...

    def load(self) -> None:
        """Load now (at start-up) instead of on the first frame; raises `StartupError`."""
        ...

    def new_stream(self) -> VadStream:
        """Fresh per-client state."""
        ...

    def probabilities(self, frames: npt.ArrayLike) -> Frames:
        """Probabilities of consecutive frames ``(n, 512)`` of one new stream -> ``(n,)``."""
        ...

    def probabilities_many(self, streams: Sequence[VadStream], frames: npt.ArrayLike) -> Frames:
        """The next frame of each stream ``(k, 512)`` in one model call -> ``(k,)``.

        Each stream's state advances as if `VadStream.probability` had been called.
        """
        ...


def _as_frames(frames: npt.ArrayLike, frame_samples: int) -> Frames:
    arr = np.asarray(frames, dtype=np.float32)
    if arr.ndim == 1:
        arr = arr.reshape(1, -1)
    if arr.ndim != 2 or arr.shape[1] != frame_samples:
        raise ValueError(f"VAD frames must have shape (n, {frame_samples}), got {arr.shape}")
    return arr


def _as_frame(frame: npt.ArrayLike, frame_samples: int) -> Frames:
    arr = np.asarray(frame, dtype=np.float32)
    if arr.shape != (frame_samples,):
        raise ValueError(f"a VAD frame must have shape ({frame_samples},), got {arr.shape}")
    return arr


# --------------------------------------------------------------------------------------
# Silero


def silero_wheel_model_path() -> Path:
    """Where the ``silero-vad`` wheel keeps ``silero_vad.onnx``, found without importing it.

    Raises:
        StartupError: The ``silero-vad`` package is not installed.
    """
    spec = importlib.util.find_spec("silero_vad")
    if spec is None or not spec.submodule_search_locations:
        raise StartupError(
            "the silero-vad package is not installed; install silero-vad==6.2.3 "
            "or give SileroVadOptions.model_path"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "data" / "silero_vad.onnx"


@dataclass(frozen=True)
class SileroVadOptions:
    """How to load Silero.

    Attributes:
        model_path: An ONNX Silero VAD (v5/v6 interface: inputs ``input``, ``state``,
            ``sr``). ``None`` uses the file inside the silero-vad wheel, checked against
            `SILERO_ONNX_SHA256`.
        expected_sha256: Digest to require of `model_path` (``None``: record only).
        threads: onnxruntime intra-op threads. One is plenty: a frame costs well under
            a millisecond, and more threads only contend with the other models.
    """

    model_path: Path | None = None
    expected_sha256: str | None = None
    threads: int = 1

    def __post_init__(self) -> None:
        if self.model_path is not None and not isinstance(self.model_path, Path):
            object.__setattr__(self, "model_path", Path(self.model_path))
        if self.threads < 1:
            raise ConfigError(f"SileroVadOptions.threads must be >= 1, got {self.threads}")
        if self.expected_sha256 is not None and (
            len(self.expected_sha256) != 64
            or any(c not in "0123456789abcdef" for c in self.expected_sha256.lower())
        ):
            raise ConfigError(
                "SileroVadOptions.expected_sha256 must be 64 hex digits, "
                f"got {self.expected_sha256!r}"
            )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready options for `ModelIdentity`."""
        d = asdict(self)
        d["model_path"] = None if self.model_path is None else str(self.model_path)
        return d


class _SileroStream:
    """One client's Silero state: LSTM state ``(2, 1, 128)`` and the last 64 samples."""

    __slots__ = ("_context", "_model", "_state")

    def __init__(self, model: SileroVad) -> None:
        self._model = model
        self._state = np.zeros(_STATE_SHAPE, dtype=np.float32)
        self._context = np.zeros(CONTEXT_SAMPLES, dtype=np.float32)

    def reset(self) -> None:
        self._state = np.zeros(_STATE_SHAPE, dtype=np.float32)
        self._context = np.zeros(CONTEXT_SAMPLES, dtype=np.float32)

    def probability(self, frame: npt.ArrayLike) -> float:
        return float(self._model.probabilities_many([self], _as_frame(frame, FRAME_SAMPLES))[0])

    def probabilities(self, frames: npt.ArrayLike) -> Frames:
        arr = _as_frames(frames, FRAME_SAMPLES)
        out = np.empty(arr.shape[0], dtype=np.float32)
        for i in range(arr.shape[0]):
            out[i] = self._model.probabilities_many([self], arr[i : i + 1])[0]
        return out


class SileroVad(LazyLoaded):
    """Silero VAD on onnxruntime: the default speech-probability model.

    Loads lazily (on the first frame or on `load`); thread-safe (onnxruntime's ``run``
    is). Per-client state lives in the `VadStream` objects, never in this object.
    """

    def __init__(self, options: SileroVadOptions | None = None) -> None:
        self.options = options or SileroVadOptions()
        self._lock = threading.Lock()
        self._session: onnxruntime.InferenceSession | None = None
        self._identity: ModelIdentity | None = None

    @property
    def frame_samples(self) -> int:
        """512 samples (32 ms at 16 kHz)."""
        return FRAME_SAMPLES

    def load(self) -> None:
        """Check the file's digest and open the onnxruntime session.

        Raises:
            StartupError: Missing file, digest mismatch, not an ONNX model, or an ONNX
                model without Silero's inputs; the message names the path.
        """
        with self._lock:
            if self._session is not None:
                return
            opts = self.options
            if opts.model_path is None:
                path = silero_wheel_model_path()
                expected: str | None = opts.expected_sha256 or SILERO_ONNX_SHA256
            else:
                path = opts.model_path
                expected = opts.expected_sha256
            if not path.is_file():
                raise StartupError(f"Silero VAD model {path}: no such file")
            digest = verify_sha256(path, expected, "Silero VAD model")
            try:
                import onnxruntime
            except ImportError as exc:
                raise StartupError(
                    f"Silero VAD model {path}: onnxruntime is not installed"
                ) from exc
            so = onnxruntime.SessionOptions()
            so.intra_op_num_threads = opts.threads
            so.inter_op_num_threads = 1
            so.log_severity_level = 3
            try:
                session = onnxruntime.InferenceSession(
                    str(path), sess_options=so, providers=["CPUExecutionProvider"]
                )
            except Exception as exc:
                raise StartupError(
                    f"Silero VAD model {path}: not a loadable ONNX model "
                    f"({type(exc).__name__}: {exc})"
                ) from exc
            names = {i.name for i in session.get_inputs()}
            if names != {"input", "state", "sr"}:
                raise StartupError(
                    f"Silero VAD model {path}: inputs {sorted(names)} are not Silero's "
                    "['input', 'sr', 'state'] (a v5/v6 model is needed)"
                )
            self._identity = ModelIdentity(
                kind="vad",
                name="silero-vad",
                path=str(path),
                sha256={path.name: digest},
                options=opts.to_dict(),
            )
            self._session = session
            logger.info("loaded Silero VAD from %s (%d threads)", path, opts.threads)

    def new_stream(self) -> VadStream:
        """Fresh per-client state (zero LSTM state, zero context)."""
        return _SileroStream(self)

    def probabilities(self, frames: npt.ArrayLike) -> Frames:
        """Probabilities of consecutive frames of one fresh stream."""
        return self.new_stream().probabilities(frames)

    def probabilities_many(self, streams: Sequence[VadStream], frames: npt.ArrayLike) -> Frames:
        """The next frame of each of several streams through one model call.

        Args:
            streams: Streams made by this model's `new_stream`, each at most once.
            frames: ``(len(streams), 512)`` float32, row ``i`` the next frame of ``streams[i]``.

        Returns:
            ``(len(streams),)`` float32 speech probabilities.
        """
        arr = _as_frames(frames, FRAME_SAMPLES)
        if arr.shape[0] != len(streams):
            raise ValueError(f"{arr.shape[0]} frames for {len(streams)} streams")
        own: list[_SileroStream] = []
        for s in streams:
            if not isinstance(s, _SileroStream) or s._model is not self:
                raise ValueError("probabilities_many takes streams made by this model's new_stream")
            own.append(s)
        if len({id(s) for s in own}) != len(own):
            raise ValueError("a stream may appear only once per probabilities_many call")
        if not own:
            return np.zeros(0, dtype=np.float32)
        self.load()
        session = self._session
        if session is None:  # pragma: no cover - load() always sets it
            raise StartupError("Silero VAD did not load")
        contexts = np.stack([s._context for s in own])
        x = np.concatenate([contexts, arr], axis=1)
        state = np.concatenate([s._state for s in own], axis=1)
        out, new_state = session.run(
            None, {"input": x, "state": state, "sr": np.array(SAMPLE_RATE, dtype=np.int64)}
        )
        new_state = np.asarray(new_state, dtype=np.float32)
        for i, s in enumerate(own):
            s._state = np.ascontiguousarray(new_state[:, i : i + 1, :])
            s._context = x[i, -CONTEXT_SAMPLES:].copy()
        return np.asarray(out, dtype=np.float32).reshape(-1)


# --------------------------------------------------------------------------------------
# Energy


@dataclass(frozen=True)
class EnergyVadOptions:
    """The energy VAD's curve.

    ``p = 1 / (1 + exp(-(dBFS - threshold_dbfs) / slope_db))`` where ``dBFS`` is the
    frame's RMS relative to full scale 1.0 (a full-scale sine is -3 dBFS). So the
    probability is 0.5 at `threshold_dbfs`, ~0.73 one `slope_db` above it and ~0.95
    three above. The default -45 dBFS sits above a quiet room through a laptop
    microphone (~-60) and below conversational speech at arm's length (~-30 to -20);
    tune it to the microphone.
    """

    threshold_dbfs: float = -45.0
    slope_db: float = 3.0

    def __post_init__(self) -> None:
        if not -120.0 < self.threshold_dbfs < 0.0:
            raise ConfigError(
                f"EnergyVadOptions.threshold_dbfs must be in (-120, 0), got {self.threshold_dbfs}"
            )
        if not self.slope_db > 0.0:
            raise ConfigError(f"EnergyVadOptions.slope_db must be > 0, got {self.slope_db}")


class _EnergyStream:
    __slots__ = ("_model",)

    def __init__(self, model: EnergyVad) -> None:
        self._model = model

    def reset(self) -> None:
        """Nothing to forget: the energy VAD has no memory."""

    def probability(self, frame: npt.ArrayLike) -> float:
        return float(self._model.probabilities(_as_frame(frame, FRAME_SAMPLES))[0])

    def probabilities(self, frames: npt.ArrayLike) -> Frames:
        return self._model.probabilities(frames)


class EnergyVad:
    """Loudness as speech probability: no model, no state, any loud sound counts."""

    def __init__(self, options: EnergyVadOptions | None = None) -> None:
        self.options = options or EnergyVadOptions()

    @property
    def frame_samples(self) -> int:
        """512 samples, the same framing as Silero so the two are interchangeable."""
        return FRAME_SAMPLES

    @property
    def identity(self) -> ModelIdentity:
        """``energy`` with its curve; no weights."""
        return ModelIdentity(
            kind="vad", name="energy", path=None, sha256={}, options=asdict(self.options)
        )

    def load(self) -> None:
        """Nothing to load."""

    def new_stream(self) -> VadStream:
        """A stream (stateless; kept for the common interface)."""
        return _EnergyStream(self)

    def probabilities(self, frames: npt.ArrayLike) -> Frames:
        """Logistic of each frame's RMS level in dBFS (see `EnergyVadOptions`)."""
        arr = _as_frames(frames, FRAME_SAMPLES).astype(np.float64)
        rms = np.sqrt(np.mean(arr * arr, axis=1))
        dbfs = 20.0 * np.log10(np.maximum(rms, 1e-10))
        z = (dbfs - self.options.threshold_dbfs) / self.options.slope_db
        p: Frames = (1.0 / (1.0 + np.exp(-np.clip(z, -60.0, 60.0)))).astype(np.float32)
        return p

    def probabilities_many(self, streams: Sequence[VadStream], frames: npt.ArrayLike) -> Frames:
        """One frame per stream; the streams carry no state, so this is `probabilities`."""
        arr = _as_frames(frames, FRAME_SAMPLES)
        if arr.shape[0] != len(streams):
            raise ValueError(f"{arr.shape[0]} frames for {len(streams)} streams")
        return self.probabilities(arr)
