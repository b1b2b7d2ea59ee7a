from __future__ import annotations

import numpy as np
import pytest

from ambient_flow.operators.ringbuffer import AudioRing


def ramp(start: int, n: int) -> np.ndarray:
    return np.arange(start, start + n, dtype=np.float32)


def test_accumulates_then_wraps_keeping_absolute_positions() -> None:
    ring = AudioRing(10)
    assert ring.write(ramp(0, 7)) == 0
    assert (ring.start, ring.end) == (0, 7)
    assert ring.write(ramp(7, 7)) == 7  # wraps around the end of the array
    assert (ring.start, ring.end) == (4, 14)
    np.testing.assert_array_equal(ring.range(4, 14), ramp(4, 10))
    np.testing.assert_array_equal(ring.last(3), ramp(11, 3))


def test_write_longer_than_capacity_keeps_the_newest() -> None:
    ring = AudioRing(8)
    ring.write(ramp(0, 3))
    ring.write(ramp(3, 20))
    assert (ring.start, ring.end) == (15, 23)
    np.testing.assert_array_equal(ring.last(100), ramp(15, 8))


def test_ranges_outside_what_is_held_are_refused() -> None:
    ring = AudioRing(10, start=1000)
    ring.write(ramp(1000, 15))
    with pytest.raises(ValueError, match="not held"):
        ring.range(1000, 1010)  # overwritten already
    with pytest.raises(ValueError, match="not held"):
        ring.range(1010, 1016)  # not written yet
    np.testing.assert_array_equal(ring.range(1005, 1015), ramp(1005, 10))


def test_many_small_writes_match_a_plain_array() -> None:
    rng = np.random.default_rng(1)
    ring = AudioRing(1000)
    everything = rng.standard_normal(50_000).astype(np.float32)
    pos = 0
    while pos < everything.size:
        n = int(rng.integers(1, 400))
        ring.write(everything[pos : pos + n])
        pos += n
    np.testing.assert_array_equal(ring.last(1000), everything[-1000:])
    np.testing.assert_array_equal(ring.range(49_500, 49_800), everything[49_500:49_800])
