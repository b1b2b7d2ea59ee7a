"""Per-message Prometheus updates, held as plain numbers and applied in bulk.

A `prometheus_client` counter increment takes the child's lock; a histogram
observation also walks the bucket bounds and checks the metric's type: about 1.4 µs
of the worker's time per audio message, for figures nobody reads between two scrapes.
`MessageCounts` keeps them as plain Python numbers (the caller's lock already guards
them) and `apply`s them to the children in one go. `Flushed` registers a metric so that
the registry applies what is pending before it reads the metric: every scrape, every
`get_sample_value`, also one restricted to some names, sees every message counted
before it began, exactly as per-message updates would have shown it (the histogram's
sum is added in the same order, so even its last bit is the same). Between reads,
at most `MAX_PENDING` observations wait (memory stays bounded without a reader).

The histogram is filled through `prometheus_client`'s own bucket and sum values
(private attributes of 0.26: a test compares the result with `observe`, so a change
there cannot go unnoticed).
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Iterable
from typing import Any, Generic, TypeVar

from prometheus_client import CollectorRegistry
from prometheus_client.metrics import MetricWrapperBase
from prometheus_client.registry import Collector

__all__ = ["MAX_PENDING", "Flushed", "MessageCounts", "observe_all"]

M = TypeVar("M", bound=MetricWrapperBase)

#: Observations one `MessageCounts` holds before its owner applies them (no reader needed).
MAX_PENDING = 1024


class MessageCounts:
    """Messages, payload bytes and arrival latencies of one kind, not yet in Prometheus.

    `note` runs on the hot path under the owner's lock; `take` (under the same lock)
    hands what is pending over and starts afresh; `apply` (outside it) adds that to the
    three children: a counter of messages, a counter of bytes, a latency histogram.
    """

    __slots__ = ("_children", "latencies", "messages", "nbytes")

    def __init__(self, messages: Any, nbytes: Any, latency: Any) -> None:
        self._children = (messages, nbytes, latency)
        self.messages = 0
        self.nbytes = 0
        self.latencies: list[float] = []

    def note(self, nbytes: int, latency_s: float) -> bool:
        """Count one message; True when `MAX_PENDING` are waiting (apply them now)."""
        self.messages += 1
        self.nbytes += nbytes
        self.latencies.append(max(latency_s, 0.0))  # as `Telemetry` observed it
        return len(self.latencies) >= MAX_PENDING

    def take(self) -> tuple[int, int, list[float]]:
        """What is pending, handed over (the counts start again from nothing)."""
        pending = (self.messages, self.nbytes, self.latencies)
        self.messages, self.nbytes, self.latencies = 0, 0, []
        return pending

    def apply(self, pending: tuple[int, int, list[float]]) -> None:
        """Add `pending` (from `take`) to the Prometheus children."""
        messages, nbytes, latencies = pending
        if not messages:
            return
        counter, bytes_counter, histogram = self._children
        counter.inc(messages)
        bytes_counter.inc(nbytes)
        observe_all(histogram, latencies)


def observe_all(histogram: Any, values: Iterable[float]) -> None:
    """`histogram.observe(v)` for each of `values` (non-negative), in one pass.

    Each value goes to the first bucket whose upper bound is >= it, as `observe` puts
    it; the sum is added value by value in order, so it is the same float `observe`
    would have left.
    """
    bounds: list[float] = histogram._upper_bounds
    counts = [0] * len(bounds)
    total: float = histogram._sum.get()
    for value in values:
        counts[bisect_left(bounds, value)] += 1
        total += value
    for bucket, n in zip(histogram._buckets, counts, strict=True):
        if n:
            bucket.inc(n)
    histogram._sum.set(total)


class Flushed(Collector, Generic[M]):
    """`metric` in a registry, read only after `flush` has applied what is pending.

    Registered in the metric's place (the metric itself is made with `registry=None`),
    under the metric's own names, so a scrape restricted to those names flushes too.
    """

    def __init__(self, metric: M, flush: Callable[[], None]) -> None:
        self._metric = metric
        self._flush = flush

    def describe(self) -> Iterable[Any]:
        return self._metric.describe()

    def collect(self) -> Iterable[Any]:
        self._flush()
        return self._metric.collect()

    def register(self, registry: CollectorRegistry) -> M:
        """Register in `registry`; returns the metric (for `.labels()`)."""
        registry.register(self)
        return self._metric
