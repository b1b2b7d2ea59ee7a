"""A client's status section: the latency percentiles are numpy's, computed without it."""

from __future__ import annotations

import random

import numpy as np
import pytest

from ambient_flow.operators.client_state import (
    CLOCK_SKEW_MS,
    LATENCY_WINDOW,
    ClientState,
    client_status,
    latency_summary,
)


@pytest.mark.parametrize("n", [1, 2, 3, 10, 101, LATENCY_WINDOW])
def test_summary_is_numpys_linear_percentile(n: int) -> None:
    rng = random.Random(n)
    for _ in range(100):
        values = [rng.uniform(-5000, 5000) for _ in range(n)]
        if rng.random() < 0.5:
            values = [v + 3 * CLOCK_SKEW_MS for v in values]  # a skewed clock: shifted
        summary = latency_summary(values)
        assert summary is not None
        best, p50, p99 = summary
        lat = np.asarray(values) - (best if abs(best) > CLOCK_SKEW_MS else 0.0)
        assert best == min(values)
        assert [p50, p99] == np.percentile(lat, [50, 99]).round(2).tolist()


def test_section_latency_with_and_without_clock_skew() -> None:
    st = ClientState(client="c")
    assert latency_summary([]) is None
    assert client_status(st)["latency_ms_p50"] is None
    st.latencies_ms.extend(float(v) for v in range(1, 101))
    section = client_status(st)
    assert section["latency_ms_p50"] == 50.5 and section["latency_ms_p99"] == 99.01
    assert section["clock_offset_ms"] is None
    skew = CLOCK_SKEW_MS + 500
    st.latencies_ms.clear()
    st.latencies_ms.extend(skew + v for v in range(1, 101))
    section = client_status(st)  # measured from the best case; the offset shown apart
    assert section["clock_offset_ms"] == skew + 1
    assert section["latency_ms_p50"] == 49.5 and section["latency_ms_p99"] == 98.01
