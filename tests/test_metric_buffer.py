"""Audio and video message metrics are applied in bulk, and read exactly as before."""

from __future__ import annotations

import random

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

from ambient_flow.metric_buffer import MAX_PENDING, observe_all
from ambient_flow.telemetry import _LATENCY_BUCKETS, Telemetry

_FAMILIES = (
    "ambient_messages",
    "ambient_payload_bytes",
    "ambient_arrival_latency_seconds",
)


def _latencies(n: int, seed: int = 7) -> list[float]:
    rng = random.Random(seed)
    # Bucket bounds exactly, just around them, negative (late clocks), and spread values.
    edges = [b + d for b in _LATENCY_BUCKETS for d in (-1e-12, 0.0, 1e-12)]
    pool = [*edges, -0.5, 0.0, 7.5, 1e9]
    return [rng.choice(pool) if i % 3 == 0 else rng.expovariate(20.0) for i in range(n)]


def _reference(latencies: list[float], nbytes: dict[str, int]) -> CollectorRegistry:
    """The same families updated per message, as `Telemetry` did before."""
    r = CollectorRegistry()
    messages = Counter("ambient_messages", "Valid messages", ["type"], registry=r)
    payload = Counter("ambient_payload_bytes", "Valid payload bytes", ["type"], registry=r)
    latency = Histogram(
        "ambient_arrival_latency_seconds",
        "Arrival time minus the client's ts",
        ["type"],
        buckets=_LATENCY_BUCKETS,
        registry=r,
    )
    for lat in latencies:
        for kind, size in nbytes.items():
            messages.labels(kind).inc()
            payload.labels(kind).inc(size)
            latency.labels(kind).observe(max(lat, 0.0))
    return r


def _samples(registry: CollectorRegistry) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in registry.collect()
        if family.name in _FAMILIES
        for s in family.samples
        if not s.name.endswith("_created")  # when the child was made: differs by nature
    }


def test_observe_all_leaves_what_observe_leaves() -> None:
    values = [max(v, 0.0) for v in _latencies(5000)]
    one, bulk = (Histogram("h", "h", buckets=_LATENCY_BUCKETS, registry=None) for _ in "12")
    for v in values[:1000]:  # bulk after some single observations: the sum continues
        one.observe(v)
        bulk.observe(v)
    for v in values[1000:]:
        one.observe(v)
    observe_all(bulk, values[1000:])
    assert [s for s in one.collect()[0].samples if not s.name.endswith("_created")] == [
        s for s in bulk.collect()[0].samples if not s.name.endswith("_created")
    ]


def test_every_read_sees_every_message_exactly_as_per_message_counting() -> None:
    latencies = _latencies(2 * MAX_PENDING + 37)  # past the bound twice, and some pending
    tele = Telemetry()
    for lat in latencies:
        tele.audio(3200, 1600, 1, lat)
        tele.video(9200, 1, lat)
    assert _samples(tele.registry) == _samples(
        _reference(latencies, {"audio": 3200, "video": 9200})
    )
    value = tele.registry.get_sample_value
    assert value("ambient_messages_total", {"type": "audio"}) == len(latencies)
    # A scrape restricted to one family flushes too.
    restricted = generate_latest(
        tele.registry.restricted_registry(["ambient_arrival_latency_seconds_count"])
    ).decode()
    assert f'ambient_arrival_latency_seconds_count{{type="video"}} {len(latencies)}.0' in restricted
    # The status document counts the same, message by message.
    assert tele.status()["audio"]["chunks_received"] == len(latencies)


def test_pending_counts_wait_for_a_read_or_the_bound() -> None:
    tele = Telemetry()
    child = tele.m_messages.labels("audio")
    for _ in range(MAX_PENDING - 1):
        tele.audio(3200, 1600, 1, 0.01)
    assert child._value.get() == 0  # nothing paid per message ...
    assert tele.registry.get_sample_value("ambient_messages_total", {"type": "audio"}) == (
        MAX_PENDING - 1
    )  # ... and a read applies it first
    for _ in range(MAX_PENDING):
        tele.audio(3200, 1600, 1, 0.01)
    assert child._value.get() == 2 * MAX_PENDING - 1  # the bound: applied with no reader
