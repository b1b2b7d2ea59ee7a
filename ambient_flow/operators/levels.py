"""Level normalisation of what the VAD hears; never of what is recorded or transcribed.

Silero VAD's speech probability depends on the absolute level, not only on the SNR.
Measured on espeak-ng speech (research for issue 11): a reverberant talker at -45 dBFS
RMS over -50 dBFS pink noise gets P(speech) > 0.5 on 0 % of its blocks; the same audio
10 dB louder on 95 %, 20 dB louder on 98 %. Pink noise alone stays below 0.08 at any
level from -60 to -25 dBFS. So a gain that brings active speech to a fixed level lets
the VAD hear distant and quiet talkers without making it hear noise (held-out missed
speech 0.111 -> 0.018 of reference speech, no new false alarm on noise bursts).

The rule, per 512-sample block, causal and deterministic (pure numpy over its RMS):

    level(t) = 10 log10(mean(x^2)) of the block, dBFS
    peak(t)  = max(level) over the last `lookback_s`             (holds through short pauses)
    floor(t) = `floor_percentile` of level over the last `floor_window_s` (the noise floor)
    gain(t)  = clip(target_dbfs - peak(t), 0, min(max_gain_db, noise_ceiling_dbfs - floor(t)))

- it never attenuates (loud speech is fine for the VAD) and adds at most `max_gain_db`;
- the noise floor after gain stays under `noise_ceiling_dbfs` (a quiet room is not
  turned into hiss the VAD has never heard);
- at an onset after silence the look-back peak is the onset itself, so the first blocks
  of a quiet talker are boosted at once.

The speaker encoder needs nothing of this: resemblyzer brings each chunk it embeds to
-30 dBFS itself (`normalize_volume`), and it embeds only what this VAD calls speech.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from ambient_flow.protocol.constants import AUDIO_SAMPLE_RATE as SAMPLE_RATE

__all__ = ["LevelNormalizer", "LevelOptions", "block_level_db"]

Blocks = npt.NDArray[np.float32]


def block_level_db(blocks: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """RMS level of each block `(n, size)` in dBFS (-120 for digital silence)."""
    x = np.asarray(blocks, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"blocks must be (n, size), got shape {x.shape}")
    if x.shape[1] == 0:
        return np.full(x.shape[0], -120.0)
    result: npt.NDArray[np.float64] = 10.0 * np.log10(np.mean(x * x, axis=1) + 1e-12)
    return result


@dataclass(frozen=True)
class LevelOptions:
    """Knobs of the normaliser (seconds and dB; chosen on the generated dev set).

    Attributes:
        target_dbfs: Block RMS the loudest recent block is brought to.
        max_gain_db: Most gain ever applied.
        noise_ceiling_dbfs: The noise floor after gain stays below this.
        lookback_s: Peak-hold window: longer holds the gain across pauses, shorter
            adapts faster from a loud talker to a quiet one.
        floor_window_s: Window of the noise-floor percentile.
        floor_percentile: Percentile of block levels taken as the noise floor.
        block_samples: Samples per block (the VAD's 512).
    """

    target_dbfs: float = -26.0
    max_gain_db: float = 30.0
    noise_ceiling_dbfs: float = -35.0
    lookback_s: float = 1.0
    floor_window_s: float = 4.0
    floor_percentile: float = 10.0
    block_samples: int = 512

    def __post_init__(self) -> None:
        if not -60.0 <= self.target_dbfs <= 0.0:
            raise ValueError(f"target_dbfs must be in [-60, 0], got {self.target_dbfs}")
        if not 0.0 <= self.max_gain_db <= 60.0:
            raise ValueError(f"max_gain_db must be in [0, 60], got {self.max_gain_db}")
        if self.lookback_s <= 0 or self.floor_window_s <= 0:
            raise ValueError("lookback_s and floor_window_s must be > 0")
        if not 0.0 <= self.floor_percentile <= 50.0:
            raise ValueError("floor_percentile must be in [0, 50]")
        if self.block_samples <= 0:
            raise ValueError("block_samples must be > 0")

    def blocks(self, seconds: float) -> int:
        """How many blocks `seconds` holds (at least one)."""
        return max(1, round(seconds * SAMPLE_RATE / self.block_samples))


class LevelNormalizer:
    """One client's normaliser: `process(blocks)` returns gained copies, blocks in order.

    State: the last `lookback_s` and `floor_window_s` of block levels (31 + 125 floats).
    """

    def __init__(self, options: LevelOptions | None = None) -> None:
        self.options = options or LevelOptions()
        self._recent: deque[float] = deque(maxlen=self.options.blocks(self.options.lookback_s))
        self._floor: deque[float] = deque(maxlen=self.options.blocks(self.options.floor_window_s))
        self.gain_db = 0.0

    def gain_for(self, level_db: float) -> float:
        """Push one block's level; the gain (dB) to apply to that block."""
        o = self.options
        self._recent.append(level_db)
        self._floor.append(level_db)
        peak = max(self._recent)
        floor = float(np.percentile(np.fromiter(self._floor, float), o.floor_percentile))
        cap = max(0.0, min(o.max_gain_db, o.noise_ceiling_dbfs - floor))
        self.gain_db = float(min(max(o.target_dbfs - peak, 0.0), cap))
        return self.gain_db

    def process(self, blocks: npt.ArrayLike) -> Blocks:
        """Consecutive blocks `(n, block_samples)` as the VAD should hear them (new arrays)."""
        arr = np.asarray(blocks, np.float32)
        levels = block_level_db(arr)
        gains = np.array([self.gain_for(float(level)) for level in levels], np.float64)
        out: Blocks = (arr * (10.0 ** (gains / 20.0))[:, None].astype(np.float32)).astype(
            np.float32
        )
        return out
