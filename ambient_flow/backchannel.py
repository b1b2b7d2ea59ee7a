"""Results waiting for the connections that asked for them (`hello` with `results`).

A sink offers each client's encoded results; the raw-TCP source takes them for the
connections subscribed to that client and writes them out between its reads. Both sides
only append or pop under a lock: nothing waits. Each subscribed connection has its own
bound (`max_pending_bytes`); beyond it the oldest results are dropped and counted
(`drops.results_dropped`) — a client that does not read loses old results, never the
connection, and the host never holds more than the bound per connection.

One per process (`HostRuntime.back_channel`): results reach connections of the process
that made them, which with the default single-process host (any number of worker
threads) is every connection.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Hashable

from ambient_flow.telemetry import Telemetry

__all__ = ["DEFAULT_MAX_PENDING_BYTES", "BackChannel"]

#: Results waiting per connection at most (bytes of envelopes).
DEFAULT_MAX_PENDING_BYTES = 256 * 1024


class _Pending:
    def __init__(self, client: str) -> None:
        self.client = client
        self.items: deque[bytes] = deque()
        self.size = 0


class BackChannel:
    """Per-connection bounded queues of encoded results, by client name."""

    def __init__(
        self, telemetry: Telemetry, max_pending_bytes: int = DEFAULT_MAX_PENDING_BYTES
    ) -> None:
        self._telemetry = telemetry
        self._max = max_pending_bytes
        self._lock = threading.Lock()
        self._subs: dict[Hashable, _Pending] = {}
        self._by_client: dict[str, set[Hashable]] = {}
        self._waiting = 0  # results pending over all connections (read without the lock)
        self.delivered = 0
        self.dropped = 0

    # -- the source's side ------------------------------------------------------------
    def subscribe(self, key: Hashable, client: str) -> None:
        """Send `client`'s results to connection `key` (a new hello moves it)."""
        with self._lock:
            self._forget(key)
            self._subs[key] = _Pending(client)
            self._by_client.setdefault(client, set()).add(key)

    def unsubscribe(self, key: Hashable) -> None:
        with self._lock:
            self._forget(key)

    def _forget(self, key: Hashable) -> None:
        pending = self._subs.pop(key, None)
        if pending is None:
            return
        self._waiting -= len(pending.items)
        keys = self._by_client.get(pending.client)
        if keys is not None:
            keys.discard(key)
            if not keys:
                del self._by_client[pending.client]

    @property
    def waiting(self) -> bool:
        """Anything to take? (A cheap look, without the lock.)"""
        return self._waiting > 0

    def take(self, key: Hashable, max_bytes: int, *, at_least_one: bool = True) -> bytes:
        """Whole results for connection `key`, up to `max_bytes` (with `at_least_one`, the
        first one even if it alone is larger)."""
        out = bytearray()
        with self._lock:
            pending = self._subs.get(key)
            while pending is not None and pending.items:
                too_big = len(out) + len(pending.items[0]) > max_bytes
                if too_big and (out or not at_least_one):
                    break
                item = pending.items.popleft()
                pending.size -= len(item)
                self._waiting -= 1
                self.delivered += 1
                out += item
        return bytes(out)

    # -- the sink's side --------------------------------------------------------------
    def wants(self, client: str) -> bool:
        return client in self._by_client

    def offer(self, client: str, data: bytes) -> None:
        """Queue `data` for every connection subscribed to `client` (never waits)."""
        dropped = 0
        with self._lock:
            for key in self._by_client.get(client, ()):
                pending = self._subs[key]
                pending.items.append(data)
                pending.size += len(data)
                self._waiting += 1
                while pending.size > self._max and len(pending.items) > 1:
                    old = pending.items.popleft()
                    pending.size -= len(old)
                    self._waiting -= 1
                    dropped += 1
            self.dropped += dropped
        if dropped:
            self._telemetry.drop("results_dropped", dropped)

    def status(self) -> dict[str, int]:
        with self._lock:
            return {
                "subscribed": len(self._subs),
                "waiting": self._waiting,
                "delivered": self.delivered,
                "dropped": self.dropped,
            }
