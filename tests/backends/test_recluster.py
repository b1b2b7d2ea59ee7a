"""The session pass's pieces: NME-SC count and partition, k-means, smoothing, names."""

from __future__ import annotations

import numpy as np
import pytest

from ambient_flow.backends.recluster import (
    ReclusterOptions,
    kmeans,
    map_labels,
    nme_spectral,
    smooth_labels,
)


def voices(k: int, per: int, dim: int = 32, spread: float = 0.25, seed: int = 0):  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((k, dim))
    x = np.concatenate([c + spread * rng.standard_normal((per, dim)) for c in centres])
    return x, np.repeat(np.arange(k), per)


def agreement(a: np.ndarray, b: np.ndarray) -> float:
    from scipy.optimize import linear_sum_assignment

    m = np.zeros((a.max() + 1, b.max() + 1))
    for i, j in zip(a, b, strict=True):
        m[i, j] += 1
    r, c = linear_sum_assignment(-m)
    return float(m[r, c].sum() / len(a))


@pytest.mark.parametrize("k", [1, 2, 3, 4])
def test_nme_finds_the_count_and_the_partition(k: int) -> None:
    x, truth = voices(k, 20, seed=k)
    labels = nme_spectral(x, max_k=8, prune=0.2)
    assert labels.max() + 1 == k
    assert agreement(labels, truth) == 1.0
    assert labels[0] == 0  # numbered in time order


def test_a_known_count_wins_and_the_output_is_deterministic() -> None:
    x, _ = voices(3, 15)
    a, b = nme_spectral(x, 8, 0.2, k=2), nme_spectral(x, 8, 0.2, k=2)
    assert a.max() + 1 == 2 and np.array_equal(a, b)
    assert nme_spectral(x[:2], 8, 0.2).tolist() == [0, 0]


def test_kmeans_needs_no_seed() -> None:
    x, truth = voices(3, 10, dim=3, spread=0.05)
    assert np.array_equal(kmeans(x, 3), kmeans(x, 3))
    assert agreement(kmeans(x, 3), truth) == 1.0


def test_smoothing_removes_a_one_unit_flip_but_keeps_real_turns() -> None:
    x, truth = voices(2, 10, spread=0.05)
    noisy = truth.copy()
    noisy[3] = 1  # a one-unit flip inside speaker 0's turn
    x[3] = x[2]  # ...whose embedding really is speaker 0's
    out = smooth_labels(x, noisy, [False] * len(x), ReclusterOptions())
    assert np.array_equal(out, truth)


def test_names_are_kept_and_fresh_ones_continue_the_numbering() -> None:
    current = ["speaker1", "speaker1", "speaker0", "speaker0", "speaker0"]
    names = map_labels([0, 0, 1, 1, 2], current, [1, 1, 1, 1, 0.5], ["speaker0", "speaker1"], 2)
    assert names[:4] == ["speaker1", "speaker1", "speaker0", "speaker0"]
    assert names[4] == "speaker2"


def test_options_are_validated() -> None:
    for bad in ({"prune": 0.0}, {"every_s": 0.0}, {"max_units": 2}, {"temperature": 0.0}):
        with pytest.raises(ValueError, match="must be"):
            ReclusterOptions(**bad)  # type: ignore[arg-type]
