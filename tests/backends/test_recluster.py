"""The session pass's pieces: NME-SC count and partition, k-means, smoothing, names."""

from __future__ import annotations

import numpy as np
import pytest

from ambient_flow.backends.recluster import (
    ReclusterOptions,
    kmeans,
    map_labels,
    merge_small,
    nme_spectral,
    refine_edges,
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


def test_a_cluster_with_too_little_speech_joins_the_nearest_one() -> None:
    x, truth = voices(3, 6, spread=0.05, seed=3)
    x[12:] = 0.8 * x[6] + 0.2 * x[12:]  # the third voice's few units lie near the second's
    weights = [1.0] * 12 + [0.25] * 6  # 6 s, 6 s and 1.5 s of speech
    merged = merge_small(x, truth, weights, 2.0)
    assert merged.tolist() == [0] * 6 + [1] * 12
    assert np.array_equal(merge_small(x, truth, weights, 1.5), truth)  # enough: kept
    assert merge_small(x, truth, weights, 100.0).tolist() == [0] * 18  # until one is left
    # time order numbering holds after a merge: the first unit's cluster is 0
    assert merge_small(x[::-1], truth[::-1], weights[::-1], 2.0)[0] == 0


def test_names_are_kept_and_fresh_ones_continue_the_numbering() -> None:
    current = ["speaker1", "speaker1", "speaker0", "speaker0", "speaker0"]
    names = map_labels([0, 0, 1, 1, 2], current, [1, 1, 1, 1, 0.5], ["speaker0", "speaker1"], 2)
    assert names[:4] == ["speaker1", "speaker1", "speaker0", "speaker0"]
    assert names[4] == "speaker2"


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v)


def test_a_voice_that_came_back_takes_back_its_anchored_label() -> None:
    """Cluster 1 is speaker1's voice (its anchor) under a label born in the window."""
    rng = np.random.default_rng(3)
    a, b = _unit(rng.standard_normal(16)), _unit(rng.standard_normal(16))
    anchors = {"speaker0": a, "speaker1": b}
    cents = {0: _unit(a + 0.05 * rng.standard_normal(16)),
             1: _unit(b + 0.05 * rng.standard_normal(16))}  # fmt: skip
    current = ["speaker0", "speaker0", "speaker2", "speaker2"]
    order = ["speaker0", "speaker1", "speaker2"]
    plain = map_labels([0, 0, 1, 1], current, [1, 1, 1, 1], order, 3)
    assert plain == current  # shared speech alone keeps the label born in the window
    named = map_labels([0, 0, 1, 1], current, [1, 1, 1, 1], order, 3, cents, anchors, join=0.04)
    assert named == ["speaker0", "speaker0", "speaker1", "speaker1"]
    # too far from every anchor: shared speech decides as before
    far = {0: cents[0], 1: _unit(rng.standard_normal(16))}
    assert map_labels([0, 0, 1, 1], current, [1] * 4, order, 3, far, anchors, 0.04) == current


def test_a_label_does_not_drift_onto_a_voice_far_from_its_anchor() -> None:
    """Cluster 1 carries speaker0's name by shared speech, but not speaker0's voice."""
    rng = np.random.default_rng(4)
    a = _unit(rng.standard_normal(16))
    cents = {0: _unit(a + 0.05 * rng.standard_normal(16)), 1: _unit(rng.standard_normal(16))}
    current = ["speaker0", "speaker1", "speaker0", "speaker0", "speaker0"]
    args = ([0, 1, 1, 1, 1], current, [1] * 5, ["speaker0", "speaker1"], 2, cents, {"speaker0": a})
    assert map_labels(*args)[1:] == ["speaker0"] * 4  # most shared speech wins the name
    vetoed = map_labels(*args, join=None, veto=0.12)
    assert vetoed[0] == "speaker0" and vetoed[1:] == ["speaker1"] * 4


def test_a_turn_starts_where_the_embedding_that_covers_it_alone_says() -> None:
    rng = np.random.default_rng(3)
    a, b = np.abs(rng.standard_normal((2, 32)))
    straddle = a + b  # the 1 s of a unit whose new 0.5 s begins b's turn: half a, half b
    emb = np.stack([a, a, a, straddle, b, b, b])
    names = ["s0", "s0", "s0", "s0", "s1", "s1", "s1"]  # the straddling unit went with a
    weights = [1.0] * 7
    pauses = [True] + [False] * 6  # no pause between the units
    out = refine_edges(emb, names, weights, pauses)
    assert out == ["s0", "s0", "s0", "s1", "s1", "s1", "s1"]
    # the straddling unit on the later side of the change: its label stays
    later = np.stack([a, a, a, a, straddle, b, b])
    assert refine_edges(later, names, weights, pauses) == names
    # across a pause the units do not cover each other's speech: nothing moves
    paused = [True, False, False, False, True, False, False]
    assert refine_edges(emb, names, weights, paused) == names
    # one unit per change, decided on the labels as given (no cascade)
    assert refine_edges(emb, ["s0", "s0", "s1", "s1", "s1", "s1", "s1"], weights,
                        pauses)[:2] == ["s0", "s0"]  # fmt: skip


def test_options_are_validated() -> None:
    for bad in ({"prune": 0.0}, {"every_s": 0.0}, {"max_units": 2}, {"temperature": 0.0},
                {"anchor_join": 0.0}, {"anchor_veto": 2.0}, {"max_anchors": 0},
                {"anchor_min_s": -1.0}, {"min_cluster_s": -0.5}):  # fmt: skip
        with pytest.raises(ValueError, match="must be"):
            ReclusterOptions(**bad)  # type: ignore[arg-type]
