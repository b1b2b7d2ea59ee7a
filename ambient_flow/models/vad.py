"""Speech probability per 32 ms block: the only thing a VAD model contributes.

The decisions (threshold with hysteresis, minimum speech and silence, pre-roll, maximum
utterance length) are pure operator code over these numbers (`operators.segmenter`),
so a model can be swapped without touching them.

A block is `block_samples` (512) samples of 16 kHz mono float32 audio in [-1, 1]. A
recurrent model's output for a block depends on the blocks before it *of the same
client*, so every client gets its own `VadStream`, fed its blocks in order; the model
itself is shared.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from ambient_flow.models.identity import ModelIdentity

__all__ = ["BLOCK_SAMPLES", "Blocks", "Probabilities", "SpeechProbability", "VadStream"]

BLOCK_SAMPLES = 512
"""Samples per VAD block: 32 ms at 16 kHz, the block size Silero v5+ is trained on."""

Blocks = npt.NDArray[np.float32]
Probabilities = npt.NDArray[np.float32]


@runtime_checkable
class VadStream(Protocol):
    """One client's view of a VAD model: its blocks, in order, with its own memory."""

    def probability(self, block: npt.ArrayLike) -> float:
        """Speech probability of the next block of this stream."""
        ...

    def probabilities(self, blocks: npt.ArrayLike) -> Probabilities:
        """Speech probabilities of the next ``n`` consecutive blocks, shape ``(n, 512)``."""
        ...

    def reset(self) -> None:
        """Forget everything (a new session of the same client)."""
        ...


@runtime_checkable
class SpeechProbability(Protocol):
    """A VAD model: speech probability per 32 ms block, shared by all clients."""

    @property
    def block_samples(self) -> int:
        """Samples per block (512 at 16 kHz)."""
        ...

    @property
    def measures_loudness(self) -> bool:
        """Whether the probability is a loudness measure (an energy VAD): then its input
        is never level-normalised, which would turn noise into "speech"."""
        ...

    @property
    def identity(self) -> ModelIdentity:
        """Which model and options produce the probabilities (loads the model)."""
        ...

    def load(self) -> None:
        """Load now (at start-up) instead of on the first block; raises `StartupError`."""
        ...

    def new_stream(self) -> VadStream:
        """Fresh per-client state."""
        ...

    def probabilities(self, blocks: npt.ArrayLike) -> Probabilities:
        """Probabilities of consecutive blocks ``(n, 512)`` of one new stream -> ``(n,)``."""
        ...

    def probabilities_many(
        self, streams: Sequence[VadStream], blocks: npt.ArrayLike
    ) -> Probabilities:
        """The next block of each stream ``(k, 512)`` in one model call -> ``(k,)``.

        Each stream's state advances as if `VadStream.probability` had been called.
        """
        ...
