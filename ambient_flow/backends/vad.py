"""Speech probability per 32 ms block: the VAD models (interface: `models.vad`).

Backends:

- `SileroVad` (default): the Silero VAD v6 ONNX model shipped inside the ``silero-vad``
  wheel, run directly with onnxruntime (the ``silero_vad`` package itself is never
  imported: its import pulls in torch and sets torch's process-wide thread count to 1).
  The state and context handling replicate silero-vad's own ``OnnxWrapper``. Silero is
  recurrent, so each client's `VadStream` carries its LSTM state; `probabilities_many`
  runs one block of each of several streams through one model call.
- `EnergyVad`: block RMS in dBFS mapped through a logistic curve. No weights, no state,
  no dependencies; it cannot tell speech from any other loud sound.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from ambient_flow.backends.base import check_sha256_option, require_file, verify_sha256
from ambient_flow.errors import ConfigError, StartupError
from ambient_flow.models.identity import ModelIdentity
from ambient_flow.models.lazy import LazyModel
from ambient_flow.models.vad import BLOCK_SAMPLES, Blocks, Probabilities, VadStream
from ambient_flow.protocol.constants import AUDIO_SAMPLE_RATE

if TYPE_CHECKING:
    import onnxruntime

__all__ = [
    "CONTEXT_SAMPLES",
    "SILERO_ONNX_SHA256",
    "EnergyVad",
    "EnergyVadOptions",
    "SileroVad",
    "SileroVadOptions",
    "silero_wheel_model_path",
]

CONTEXT_SAMPLES = 64
"""Samples of the previous block Silero prepends to each block (as ``OnnxWrapper`` does)."""

SILERO_ONNX_SHA256 = "1a153a22f4509e292a94e67d6f9b85e8deb25b4988682b7e174c65279d8788e3"
"""sha256 of ``silero_vad/data/silero_vad.onnx`` in the silero-vad 6.2.3 wheel."""

_STATE_SHAPE = (2, 1, 128)


def _as_blocks(blocks: npt.ArrayLike, block_samples: int) -> Blocks:
    arr = np.asarray(blocks, dtype=np.float32)
    if arr.ndim == 1:
        arr = arr.reshape(1, -1)
    if arr.ndim != 2 or arr.shape[1] != block_samples:
        raise ValueError(f"VAD blocks must have shape (n, {block_samples}), got {arr.shape}")
    return arr


def _as_block(block: npt.ArrayLike, block_samples: int) -> Blocks:
    arr = np.asarray(block, dtype=np.float32)
    if arr.shape != (block_samples,):
        raise ValueError(f"a VAD block must have shape ({block_samples},), got {arr.shape}")
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
        threads: onnxruntime intra-op threads. One is plenty: a block costs well under
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
        check_sha256_option("SileroVadOptions.expected_sha256", self.expected_sha256)

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

    def probability(self, block: npt.ArrayLike) -> float:
        return float(self._model.probabilities_many([self], _as_block(block, BLOCK_SAMPLES))[0])

    def probabilities(self, blocks: npt.ArrayLike) -> Probabilities:
        arr = _as_blocks(blocks, BLOCK_SAMPLES)
        out = np.empty(arr.shape[0], dtype=np.float32)
        for i in range(arr.shape[0]):
            out[i] = self._model.probabilities_many([self], arr[i : i + 1])[0]
        return out


class SileroVad(LazyModel["onnxruntime.InferenceSession"]):
    """Silero VAD on onnxruntime: the default speech-probability model.

    Loads lazily (on the first block or on `load`); thread-safe (onnxruntime's ``run``
    is). Per-client state lives in the `VadStream` objects, never in this object.
    """

    describes = "Silero VAD model"

    def __init__(self, options: SileroVadOptions | None = None) -> None:
        super().__init__()
        self.options = options or SileroVadOptions()

    @property
    def block_samples(self) -> int:
        """512 samples (32 ms at 16 kHz)."""
        return BLOCK_SAMPLES

    @property
    def measures_loudness(self) -> bool:
        """False: Silero judges speech, so a quiet talker brought up is still heard as speech
        and noise brought up is still noise (its input may be level-normalised)."""
        return False

    def _path(self) -> Path:
        return self.options.model_path or silero_wheel_model_path()

    def describe(self) -> str:
        return f"Silero VAD model {self._path()}"

    def _load(self) -> tuple[onnxruntime.InferenceSession, ModelIdentity]:
        """Check the file's digest, open the onnxruntime session, check Silero's inputs."""
        opts = self.options
        path = self._path()
        expected = opts.expected_sha256 or (None if opts.model_path else SILERO_ONNX_SHA256)
        require_file(path, "Silero VAD model")
        digest = verify_sha256(path, expected, "Silero VAD model")
        import onnxruntime

        so = onnxruntime.SessionOptions()
        so.intra_op_num_threads = opts.threads
        so.inter_op_num_threads = 1
        so.log_severity_level = 3
        session = onnxruntime.InferenceSession(
            str(path), sess_options=so, providers=["CPUExecutionProvider"]
        )
        names = {i.name for i in session.get_inputs()}
        if names != {"input", "state", "sr"}:
            raise StartupError(
                f"Silero VAD model {path}: inputs {sorted(names)} are not Silero's "
                "['input', 'sr', 'state'] (a v5/v6 model is needed)"
            )
        identity = ModelIdentity(
            kind="vad",
            name="silero-vad",
            path=str(path),
            sha256={path.name: digest},
            options=opts.to_dict(),
        )
        return session, identity

    def new_stream(self) -> VadStream:
        """Fresh per-client state (zero LSTM state, zero context)."""
        return _SileroStream(self)

    def probabilities(self, blocks: npt.ArrayLike) -> Probabilities:
        """Probabilities of consecutive blocks of one fresh stream."""
        return self.new_stream().probabilities(blocks)

    def probabilities_many(
        self, streams: Sequence[VadStream], blocks: npt.ArrayLike
    ) -> Probabilities:
        """The next block of each of several streams through one model call.

        Args:
            streams: Streams made by this model's `new_stream`, each at most once.
            blocks: ``(len(streams), 512)`` float32, row ``i`` the next block of ``streams[i]``.

        Returns:
            ``(len(streams),)`` float32 speech probabilities.
        """
        arr = _as_blocks(blocks, BLOCK_SAMPLES)
        if arr.shape[0] != len(streams):
            raise ValueError(f"{arr.shape[0]} blocks for {len(streams)} streams")
        own: list[_SileroStream] = []
        for s in streams:
            if not isinstance(s, _SileroStream) or s._model is not self:
                raise ValueError("probabilities_many takes streams made by this model's new_stream")
            own.append(s)
        if len({id(s) for s in own}) != len(own):
            raise ValueError("a stream may appear only once per probabilities_many call")
        if not own:
            return np.zeros(0, dtype=np.float32)
        session = self.loaded
        contexts = np.stack([s._context for s in own])
        x = np.concatenate([contexts, arr], axis=1)
        state = np.concatenate([s._state for s in own], axis=1)
        out, new_state = session.run(
            None, {"input": x, "state": state, "sr": np.array(AUDIO_SAMPLE_RATE, dtype=np.int64)}
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
    block's RMS relative to full scale 1.0 (a full-scale sine is -3 dBFS). So the
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

    def probability(self, block: npt.ArrayLike) -> float:
        return float(self._model.probabilities(_as_block(block, BLOCK_SAMPLES))[0])

    def probabilities(self, blocks: npt.ArrayLike) -> Probabilities:
        return self._model.probabilities(blocks)


class EnergyVad(LazyModel[bool]):
    """Loudness as speech probability: no model, no state, any loud sound counts."""

    describes = "energy VAD"

    def __init__(self, options: EnergyVadOptions | None = None) -> None:
        super().__init__()
        self.options = options or EnergyVadOptions()

    @property
    def block_samples(self) -> int:
        """512 samples, the same blocks as Silero so the two are interchangeable."""
        return BLOCK_SAMPLES

    @property
    def measures_loudness(self) -> bool:
        """True: loudness is all it measures, so its input is never level-normalised."""
        return True

    def _load(self) -> tuple[bool, ModelIdentity]:
        """Nothing to load: ``energy`` with its curve, no weights."""
        identity = ModelIdentity(
            kind="vad", name="energy", path=None, sha256={}, options=asdict(self.options)
        )
        return True, identity

    def new_stream(self) -> VadStream:
        """A stream (stateless; kept for the common interface)."""
        return _EnergyStream(self)

    def probabilities(self, blocks: npt.ArrayLike) -> Probabilities:
        """Logistic of each block's RMS level in dBFS (see `EnergyVadOptions`)."""
        arr = _as_blocks(blocks, BLOCK_SAMPLES).astype(np.float64)
        rms = np.sqrt(np.mean(arr * arr, axis=1))
        dbfs = 20.0 * np.log10(np.maximum(rms, 1e-10))
        z = (dbfs - self.options.threshold_dbfs) / self.options.slope_db
        p: Probabilities = (1.0 / (1.0 + np.exp(-np.clip(z, -60.0, 60.0)))).astype(np.float32)
        return p

    def probabilities_many(
        self, streams: Sequence[VadStream], blocks: npt.ArrayLike
    ) -> Probabilities:
        """One block per stream; the streams carry no state, so this is `probabilities`."""
        arr = _as_blocks(blocks, BLOCK_SAMPLES)
        if arr.shape[0] != len(streams):
            raise ValueError(f"{arr.shape[0]} blocks for {len(streams)} streams")
        return self.probabilities(arr)
