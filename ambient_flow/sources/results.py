"""Results back on the raw-TCP connection that asked for them (the source's side).

The TCP partition calls `on_reply` after answering a control record: a `hello` whose
reply offers results over TCP subscribes its connection to the client's results on the
runtime's `BackChannel`. Each batch, `deliver` moves waiting results into the outboxes
of subscribed connections — only while an outbox holds less than `LOW_WATER` bytes, so
a client that does not read keeps its results waiting in the back channel (bounded,
oldest dropped and counted) instead of growing the outbox to the limit that closes a
connection (which stays reserved for unread control replies).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable
from typing import Any, Protocol

from ambient_flow.protocol.results import results_name, wants_results
from ambient_flow.runtime import HostRuntime

__all__ = ["LOW_WATER", "TcpResults"]

#: Results are added to a connection's outbox only while it holds less than this.
LOW_WATER = 64 * 1024


class _Connection(Hashable, Protocol):
    outbox: bytearray


class TcpResults:
    """Which TCP connections get which client's results, and getting them there."""

    def __init__(self, runtime: HostRuntime) -> None:
        self._channel = runtime.back_channel

    def on_reply(self, conn: _Connection, request: Any, reply: dict[str, Any]) -> None:
        """After a control reply on `conn`: subscribe it if its hello was granted results."""
        if not isinstance(request, dict) or not wants_results(request):
            return
        offer = reply.get("results")
        name = results_name(request)
        if isinstance(offer, dict) and offer.get("transport") == "tcp" and name is not None:
            self._channel.subscribe(conn, name)

    def deliver(self, conns: Iterable[_Connection], flush: Callable[[Any], None]) -> None:
        """Move waiting results into the outboxes that have room, and write them."""
        if not self._channel.waiting:
            return
        for conn in list(conns):
            room = LOW_WATER - len(conn.outbox)
            if room <= 0:
                continue
            # Beyond LOW_WATER only for one result larger than it, into an empty outbox.
            data = self._channel.take(conn, room, at_least_one=not conn.outbox)
            if data:
                conn.outbox += data
                flush(conn)

    def forget(self, conn: _Connection) -> None:
        self._channel.unsubscribe(conn)
