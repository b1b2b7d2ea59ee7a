"""The writer's `status()` as Prometheus metrics, read when scraped.

A collector rather than counters the worker increments: the writer already counts
everything under its own lock, and a scrape then sees exactly what `status()` says.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

__all__ = ["WriterCollector"]


class WriterCollector(Collector):
    """Exports a writer's status (`ambient_spacetimedb_*`) to a Prometheus registry.

    Args:
        status: Returns the writer's `status()` document.
        prefix: Metric name prefix.
    """

    def __init__(
        self, status: Callable[[], Mapping[str, Any]], prefix: str = "ambient_spacetimedb"
    ) -> None:
        self._status = status
        self._prefix = prefix

    def describe(self) -> list[Metric]:
        # Describing from a live status would call the writer at registration; the
        # families are fixed, so describe them empty.
        return list(self._families({}))

    def collect(self) -> Iterator[Metric]:
        yield from self._families(self._status())

    def _families(self, st: Mapping[str, Any]) -> Iterator[Metric]:
        p = self._prefix
        calls = CounterMetricFamily(f"{p}_calls", "Reducer calls sent")
        calls.add_metric([], st.get("calls", 0))
        yield calls
        sql = CounterMetricFamily(f"{p}_sql_queries", "SQL queries sent (key checks, ids)")
        sql.add_metric([], st.get("sql", 0))
        yield sql
        retries = CounterMetricFamily(f"{p}_retries", "Attempts repeated after a failure")
        retries.add_metric([], st.get("retries", 0))
        yield retries
        failures = CounterMetricFamily(
            f"{p}_failures", "Failed requests, by reason", labels=["reason"]
        )
        for reason, n in sorted(st.get("failures", {}).items()):
            failures.add_metric([reason], n)
        yield failures
        records = CounterMetricFamily(
            f"{p}_records", "Records by outcome (submitted, delivered, failed, dropped)",
            labels=["outcome"],
        )  # fmt: skip
        for outcome in ("submitted", "delivered", "failed", "dropped"):
            records.add_metric([outcome], st.get("records", {}).get(outcome, 0))
        yield records
        given_up = CounterMetricFamily(
            f"{p}_failed_records", "Records given up, by reason", labels=["reason"]
        )
        for reason, n in sorted(st.get("failed_records", {}).items()):
            given_up.add_metric([reason], n)
        yield given_up
        dups = CounterMetricFamily(
            f"{p}_duplicates_avoided", "Retried inserts found already committed"
        )
        dups.add_metric([], st.get("duplicates_avoided", 0))
        yield dups
        depth = GaugeMetricFamily(f"{p}_queue_depth", "Records waiting in the writer's queue")
        depth.add_metric([], st.get("queue_depth", 0))
        yield depth
        lag = GaugeMetricFamily(f"{p}_lag_seconds", "Age of the oldest undelivered record")
        lag.add_metric([], st.get("lag_s", 0.0))
        yield lag
        blocked = GaugeMetricFamily(
            f"{p}_blocked", "1 while the database refuses every call (see status)"
        )
        blocked.add_metric([], 1.0 if st.get("blocked") else 0.0)
        yield blocked
