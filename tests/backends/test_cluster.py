"""The online centroid clusterer on synthetic embeddings with a known geometry."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest

from ambient_flow.backends.cluster import CentroidClusterer, ClusterOptions
from ambient_flow.errors import ConfigError

DIM = 32


def voices(count: int, seed: int = 0) -> npt.NDArray[np.float64]:
    """`count` orthogonal unit 'voice' directions (cosine distance 1 between voices)."""
    q, _ = np.linalg.qr(np.random.default_rng(seed).standard_normal((DIM, DIM)))
    return q[:count]


def sample(
    voice: npt.NDArray[np.float64], rng: np.random.Generator, spread: float = 0.05
) -> npt.NDArray[np.float64]:
    """An embedding of `voice`: cosine distance to it ~ spread**2 * DIM / 2 (small)."""
    return voice + spread * rng.standard_normal(DIM)


def test_opens_first_speaker_only_after_enough_speech() -> None:
    clusterer = CentroidClusterer(ClusterOptions(min_new_speaker_s=1.0))
    rng = np.random.default_rng(1)
    a = voices(1)[0]
    assert clusterer.assign(sample(a, rng), 0.5) is None
    first = clusterer.assign(sample(a, rng), 0.5)
    assert first is not None and first.speaker == 0 and first.opened
    nxt = clusterer.assign(sample(a, rng), 0.5)
    assert nxt is not None and nxt.speaker == 0 and not nxt.opened and not nxt.provisional
    assert clusterer.num_speakers == 1


def test_two_voices_alternating_get_two_stable_labels() -> None:
    clusterer = CentroidClusterer(ClusterOptions(threshold=0.3, min_new_speaker_s=1.0))
    rng = np.random.default_rng(2)
    a, b = voices(2)
    labels = []
    for turn in range(8):
        voice = a if turn % 2 == 0 else b
        for _ in range(4):  # four 0.5 s steps per turn
            result = clusterer.assign(sample(voice, rng), 0.5)
            labels.append(None if result is None else result.speaker)
    assert clusterer.num_speakers == 2
    # After the opening evidence, every step of voice a is 0 and of voice b is 1,
    # except the first step of b's first turn (provisional, nearest = 0).
    a_steps = [lab for i, lab in enumerate(labels) if (i // 4) % 2 == 0 and lab is not None]
    b_steps = [lab for i, lab in enumerate(labels) if (i // 4) % 2 == 1]
    assert set(a_steps) == {0}
    assert b_steps[0] == 0 and set(b_steps[1:]) == {1}


def test_one_outlier_does_not_open_a_speaker() -> None:
    clusterer = CentroidClusterer(ClusterOptions(threshold=0.3, min_new_speaker_s=1.0))
    rng = np.random.default_rng(3)
    a, b = voices(2)
    for _ in range(4):
        clusterer.assign(sample(a, rng), 0.5)
    odd = clusterer.assign(sample(b, rng), 0.5)
    assert odd is not None and odd.provisional and odd.speaker == 0
    back = clusterer.assign(sample(a, rng), 0.5)
    assert back is not None and back.speaker == 0 and not back.provisional
    # The candidate was reset: another single odd step is still provisional.
    again = clusterer.assign(sample(b, rng), 0.5)
    assert again is not None and again.provisional
    assert clusterer.num_speakers == 1


def test_returning_voice_merges_into_its_old_speaker() -> None:
    clusterer = CentroidClusterer(ClusterOptions(threshold=0.3, min_new_speaker_s=0.5))
    rng = np.random.default_rng(4)
    a, b, c = voices(3)
    order = [a, b, c, a, c, b, a]
    seen = []
    for voice in order:
        for _ in range(3):
            result = clusterer.assign(sample(voice, rng), 0.5)
            assert result is not None
            last = result.speaker
        seen.append(last)
    assert seen == [0, 1, 2, 0, 2, 1, 0]
    assert clusterer.num_speakers == 3


def test_candidate_steps_must_agree_with_each_other() -> None:
    """Far-away steps from *different* voices do not pool into one new speaker."""
    clusterer = CentroidClusterer(
        ClusterOptions(threshold=0.3, min_new_speaker_s=1.0, candidate_threshold=0.3)
    )
    rng = np.random.default_rng(5)
    a, b, c = voices(3)
    clusterer.assign(sample(a, rng), 1.0)
    assert clusterer.num_speakers == 1
    for voice in (b, c, b, c):
        result = clusterer.assign(sample(voice, rng), 0.5)
        assert result is not None and result.provisional
    assert clusterer.num_speakers == 1


def test_max_speakers_caps_and_nearest_wins() -> None:
    clusterer = CentroidClusterer(ClusterOptions(min_new_speaker_s=0.5, max_speakers=2))
    rng = np.random.default_rng(6)
    vs = voices(4)
    for v in vs:
        clusterer.assign(sample(v, rng), 1.0)
    assert clusterer.num_speakers == 2
    # A fifth voice close to voice 1 goes to speaker 1.
    near_b = vs[1] * 0.9 + vs[3] * 0.1
    result = clusterer.assign(near_b, 1.0)
    assert result is not None and result.speaker == 1 and not result.opened


def test_known_speaker_count_stops_opening() -> None:
    clusterer = CentroidClusterer(ClusterOptions(min_new_speaker_s=0.5, num_speakers=3))
    rng = np.random.default_rng(7)
    for v in voices(6):
        clusterer.assign(sample(v, rng), 1.0)
    assert clusterer.num_speakers == 3


def test_centroid_is_a_weighted_running_mean() -> None:
    clusterer = CentroidClusterer(
        ClusterOptions(threshold=1.5, min_new_speaker_s=0.5, max_centroid_weight_s=0.0)
    )
    e1 = np.zeros(DIM)
    e1[0] = 1.0
    e2 = np.zeros(DIM)
    e2[1] = 1.0
    clusterer.assign(e1, 3.0)
    clusterer.assign(e2, 1.0)
    expected = np.array([3.0, 1.0]) / np.hypot(3.0, 1.0)
    np.testing.assert_allclose(clusterer.centroids()[0][:2], expected, rtol=1e-6)


def test_centroid_memory_cap_lets_a_voice_drift() -> None:
    e1 = np.zeros(DIM)
    e1[0] = 1.0
    e2 = np.zeros(DIM)
    e2[1] = 1.0

    def final_centroid(cap: float) -> npt.NDArray[np.float32]:
        c = CentroidClusterer(
            ClusterOptions(threshold=1.5, min_new_speaker_s=0.5, max_centroid_weight_s=cap)
        )
        c.assign(e1, 10.0)
        for _ in range(10):
            c.assign(e2, 1.0)
        centroid: npt.NDArray[np.float32] = c.centroids()[0]
        return centroid

    assert final_centroid(0.0)[1] < final_centroid(5.0)[1]


def test_invalid_embeddings_raise() -> None:
    clusterer = CentroidClusterer()
    with pytest.raises(ValueError, match="norm"):
        clusterer.assign(np.zeros(DIM), 1.0)
    with pytest.raises(ValueError, match="speech_s"):
        clusterer.assign(np.ones(DIM), 0.0)
    clusterer.assign(np.ones(DIM), 2.0)
    with pytest.raises(ValueError, match="dims"):
        clusterer.assign(np.ones(DIM + 1), 1.0)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"threshold": 0.0},
        {"threshold": 2.5},
        {"min_new_speaker_s": -1.0},
        {"max_speakers": 0},
        {"num_speakers": 0},
        {"num_speakers": 9, "max_speakers": 8},
        {"candidate_threshold": 0.0},
        {"max_centroid_weight_s": -1.0},
    ],
)
def test_options_are_validated(kwargs: dict[str, float]) -> None:
    with pytest.raises(ConfigError):
        ClusterOptions(**kwargs)  # type: ignore[arg-type]
