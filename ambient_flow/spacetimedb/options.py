"""What the SpacetimeDB writer takes (`WriterOptions`) and gives back (`Pending`,
`CloseReport`), and how it waits between attempts (`Backoff`)."""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from ambient_flow.spacetimedb.errors import SpacetimeConfigError
from ambient_flow.spacetimedb.mapping import MappingOptions

__all__ = ["Backoff", "CloseReport", "Pending", "WriterOptions"]


@dataclass(frozen=True)
class WriterOptions:
    """Where to write and how hard to try.

    Attributes:
        url: SpacetimeDB host, `http://host:port` (https and a path prefix work too).
        database: Database name or identity.
        token: Bearer token; empty: `POST /v1/identity` once on the worker and keep it.
        queue_bound: Records waiting at most; a full queue refuses new ones (counted).
        batch_size: Records the worker takes per wake-up.
        request_timeout_s: Wait for an answer once a request is sent.
        connect_timeout_s: Wait for a connection.
        backoff_base_s: First retry delay; doubles per failed attempt, with jitter.
        backoff_cap_s: Longest retry delay.
        max_server_errors: HTTP 5xx/429 answers to one step before its record is given
            up (connection failures never count: a database that is down is waited for).
        blocked_retry_s: Delay between probes while the database refuses every call.
        heartbeat_s: At most one `DeviceHeartbeat` per device per this many seconds.
        check_before_insert: Check every insert's key before sending it, not only after
            an ambiguous attempt. Turn on when feeding records that may already be in the
            database (a replay, a backfill, undelivered records of an earlier run).
        log_interval_s: One log line per kind of failure per this many seconds.
        id_cache_size: Natural keys remembered with their `Id`s.
        mapping: How our ids become the module's keys (see `MappingOptions`).
    """

    url: str
    database: str
    token: str = ""
    queue_bound: int = 10_000
    batch_size: int = 64
    request_timeout_s: float = 5.0
    connect_timeout_s: float = 2.0
    backoff_base_s: float = 0.25
    backoff_cap_s: float = 30.0
    max_server_errors: int = 10
    blocked_retry_s: float = 60.0
    heartbeat_s: float = 30.0
    check_before_insert: bool = False
    log_interval_s: float = 60.0
    id_cache_size: int = 50_000
    mapping: MappingOptions = field(default_factory=MappingOptions)

    def __post_init__(self) -> None:
        parts = urlsplit(self.url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise SpacetimeConfigError(f"url must be http(s)://host[:port], got {self.url!r}")
        if not self.database or "/" in self.database:
            raise SpacetimeConfigError(f"database must be a name or identity: {self.database!r}")
        if any(c.isspace() for c in self.token):
            raise SpacetimeConfigError("token must not contain whitespace")
        for name in ("queue_bound", "batch_size", "max_server_errors", "id_cache_size"):
            if getattr(self, name) < 1:
                raise SpacetimeConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        for name in (
            "request_timeout_s", "connect_timeout_s", "backoff_base_s", "backoff_cap_s",
            "blocked_retry_s", "heartbeat_s", "log_interval_s",
        ):  # fmt: skip
            if not getattr(self, name) > 0:
                raise SpacetimeConfigError(f"{name} must be > 0, got {getattr(self, name)}")
        if self.backoff_base_s > self.backoff_cap_s:
            raise SpacetimeConfigError("backoff_base_s must not exceed backoff_cap_s")


class Backoff:
    """Capped exponential back-off with equal jitter.

    Attempt n (from 1) waits a uniform time in [d/2, d], d = min(cap, base * 2**(n-1)):
    never less than half the nominal delay (so a storm cannot form), never in lockstep
    with other writers. Deterministic for a seeded `rng`.
    """

    def __init__(self, base: float, cap: float, rng: random.Random) -> None:
        self._base = base
        self._cap = cap
        self._rng = rng
        self.attempts = 0

    def next(self) -> float:
        """The delay before the next attempt."""
        self.attempts += 1
        nominal = min(self._cap, self._base * 2.0 ** min(self.attempts - 1, 60))
        return nominal / 2 + self._rng.random() * nominal / 2

    def reset(self) -> None:
        """Start over after a success."""
        self.attempts = 0


@dataclass(frozen=True)
class Pending:
    """A record that was not delivered, as submitted.

    `partial` is True when some of its calls may have been applied: submit it again with
    `check_before_insert=True` so those are not written twice.
    """

    record: Mapping[str, Any]
    side: Mapping[str, Any] | None
    partial: bool


@dataclass(frozen=True)
class CloseReport:
    """What `close()` could and could not do.

    Attributes:
        undelivered: Records neither delivered nor failed, in submission order.
        thread_alive: The worker did not stop in time (stuck beyond its timeouts).
        status: `status()` at the end.
    """

    undelivered: tuple[Pending, ...]
    thread_alive: bool
    status: dict[str, Any]

    @property
    def clean(self) -> bool:
        """Everything submitted was delivered or counted, and the worker stopped."""
        return not self.undelivered and not self.thread_alive
