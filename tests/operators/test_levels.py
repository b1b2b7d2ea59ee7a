"""Level normalisation of the VAD's input: quiet speech up, noise not made loud, input kept."""

from __future__ import annotations

import numpy as np
import pytest

from ambient_flow.operators.levels import LevelNormalizer, LevelOptions, block_level_db


def blocks(level_db: float, n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 512)).astype(np.float32)
    return x * np.float32(10 ** (level_db / 20))


def test_quiet_speech_is_brought_up_to_the_target() -> None:
    norm = LevelNormalizer(LevelOptions(target_dbfs=-26, max_gain_db=30, noise_ceiling_dbfs=-35))
    norm.process(blocks(-80, 120))  # a very quiet room first (noise floor -80 dBFS)
    out = norm.process(blocks(-46, 10, seed=1))
    assert block_level_db(out)[-1] == pytest.approx(-26, abs=0.5)


def test_it_never_attenuates_and_its_gain_is_capped() -> None:
    norm = LevelNormalizer(LevelOptions(max_gain_db=12, noise_ceiling_dbfs=0))
    loud = norm.process(blocks(-6, 1))
    assert norm.gain_db == 0.0 and block_level_db(loud)[0] == pytest.approx(-6, abs=0.3)
    quiet = LevelNormalizer(LevelOptions(max_gain_db=12, noise_ceiling_dbfs=0))
    quiet.process(blocks(-70, 1))
    assert quiet.gain_db == pytest.approx(12)


def test_a_noise_floor_is_not_lifted_above_the_ceiling() -> None:
    norm = LevelNormalizer(LevelOptions(noise_ceiling_dbfs=-35))
    norm.process(blocks(-45, 200))  # steady noise at -45 dBFS: at most +10 dB
    assert norm.gain_db <= 10.5


def test_digital_silence_stays_silent_and_the_input_is_untouched() -> None:
    zeros = np.zeros((20, 512), np.float32)
    assert not LevelNormalizer().process(zeros).any()
    x = blocks(-40, 30)
    copy = x.copy()
    a, b = LevelNormalizer().process(x), LevelNormalizer().process(x)
    assert np.array_equal(x, copy) and np.array_equal(a, b)
    assert a.dtype == np.float32 and a.shape == x.shape


def test_options_are_validated() -> None:
    for bad in ({"target_dbfs": 3.0}, {"max_gain_db": -1.0}, {"lookback_s": 0.0},
                {"floor_percentile": 80.0}, {"block_samples": 0}):  # fmt: skip
        with pytest.raises(ValueError, match="must be"):
            LevelOptions(**bad)  # type: ignore[arg-type]
