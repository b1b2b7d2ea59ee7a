"""ZeroMQ PULL inputs: audio :5555 and video :5556, one partition per endpoint.

Bounded in bytes: libzmq's queue per connection holds at most `Settings.zmq_rcvhwm`
messages of at most `max_wire_message_bytes` (a larger one makes libzmq drop that
connection, counted with the disconnects), one batch takes at most `MAX_BATCH_BYTES`,
and each sending host gets `max_host_bytes_per_second` (`ReceiveBudget`); the socket
is read at full speed and the excess dropped and counted before it costs a parse.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime

import zmq
from bytewax.inputs import FixedPartitionedSource, StatefulSourcePartition
from typing_extensions import override
from zmq.utils.monitor import recv_monitor_message

from ambient_flow.ports import bind_or_explain
from ambient_flow.protocol.messages import Channel, RawMessage
from ambient_flow.runtime import HostRuntime
from ambient_flow.sources.receive_budget import ReceiveBudget
from ambient_flow.telemetry import RateLimitedLog

__all__ = ["ZmqPullSource", "peer_address"]

logger = logging.getLogger(__name__)

#: Most messages one `next_batch` takes, so one busy socket cannot starve the worker.
MAX_BATCH = 512
#: Most bytes one `next_batch` hands on (what a batch holds in memory at once).
MAX_BATCH_BYTES = 16 * 1024 * 1024
#: Parts kept of a message with too many; the rest are read and discarded so the
#: socket stays in sync, and the message is rejected downstream as `frame_count`.
MAX_PARTS = 3


class _ZmqPullPartition(StatefulSourcePartition[RawMessage, None]):
    def __init__(self, runtime: HostRuntime, channel: Channel, endpoint: str) -> None:
        settings = runtime.settings
        self._runtime = runtime
        self._channel = channel
        self._telemetry = runtime.telemetry
        sock = runtime.context.socket(zmq.PULL)
        sock.setsockopt(zmq.LINGER, 0)
        sock.setsockopt(zmq.RCVHWM, settings.zmq_rcvhwm)
        # A payload a little over the limit still reaches the parser (payload_too_large);
        # libzmq drops the connection of a message that could never be valid.
        sock.setsockopt(zmq.MAXMSGSIZE, settings.max_wire_message_bytes)
        self._auth = runtime.auth
        self._auth.secure(sock)
        bind_or_explain(sock, endpoint, channel)
        self._sock = sock
        # Connection events: how many peers are connected, and disconnects (libzmq also
        # drops a connection that sends a message over ZMQ_MAXMSGSIZE: this counts it).
        self._monitor = sock.get_monitor_socket(zmq.EVENT_ACCEPTED | zmq.EVENT_DISCONNECTED)
        self._connections = 0
        self._disconnects = 0
        rate = settings.max_host_bytes_per_second
        self._budget = ReceiveBudget(rate, 2 * rate)
        self._dropped = 0
        self._dropped_bytes = 0
        self._log = RateLimitedLog(logger)
        logger.info("listening for %s on %s (ZeroMQ PULL)", channel, endpoint)

    @override
    def next_batch(self) -> list[RawMessage]:
        if self._runtime.stop.is_set():
            raise StopIteration
        batch: list[RawMessage] = []
        sock = self._sock
        taken = raw_bytes = 0
        dropped = self._dropped
        for _ in range(MAX_BATCH):
            try:
                first = sock.recv(zmq.NOBLOCK, copy=False)
            except zmq.Again:
                break
            parts = [first.bytes]
            more = first.more
            while more:
                part = sock.recv(copy=False)  # the rest of a multipart is already here
                if len(parts) < MAX_PARTS:
                    parts.append(part.bytes)
                more = part.more
            host = peer_address(first)
            size = sum(len(p) for p in parts)
            if not self._budget.allow(host, size):
                self._over_budget(host, size)
                continue
            kept, user = self._auth.zmq_message(first, parts)
            raw = RawMessage(
                channel=self._channel,
                parts=kept,
                received_ns=time.time_ns(),
                monotonic_ns=time.monotonic_ns(),
                peer_host=host,
                peer_conn=f"fd{first.get(zmq.SRCFD)}",
                user=user,
            )
            raw_bytes += raw.size
            batch.append(raw)
            taken += size
            if taken >= MAX_BATCH_BYTES:
                break
        if batch:  # counted once per batch, before the batch leaves the source
            self._telemetry.raw(self._channel, raw_bytes, len(batch))
        self._poll_monitor(force=self._dropped != dropped)
        return batch

    def _over_budget(self, host: str, size: int) -> None:
        self._dropped += 1
        self._dropped_bytes += size
        self._telemetry.drop(f"receive_budget_{self._channel}")
        self._log.log(
            logging.WARNING,
            f"budget:{host}",
            "%s: host %s sends more than %d bytes/s; dropping",
            self._channel,
            host,
            self._runtime.settings.max_host_bytes_per_second,
        )

    def _poll_monitor(self, *, force: bool = False) -> None:
        changed = force
        while True:
            try:
                event = recv_monitor_message(self._monitor, zmq.NOBLOCK)
            except zmq.Again:
                break
            changed = True
            if event["event"] == zmq.EVENT_ACCEPTED:
                self._connections += 1
            elif event["event"] == zmq.EVENT_DISCONNECTED:
                self._connections = max(0, self._connections - 1)
                self._disconnects += 1
        if changed:
            self._telemetry.section(
                f"zmq_{self._channel}",
                {
                    "connections": self._connections,
                    "disconnects": self._disconnects,
                    "rcvhwm": self._runtime.settings.zmq_rcvhwm,
                    "budget_dropped": self._dropped,
                    "budget_dropped_bytes": self._dropped_bytes,
                },
            )

    @override
    def next_awake(self) -> datetime | None:
        return None  # Bytewax parks the worker ~1 ms between empty batches: no spin.

    @override
    def snapshot(self) -> None:
        return None  # live data cannot be re-read; recovery resumes with what arrives next

    @override
    def close(self) -> None:
        self._sock.disable_monitor()
        self._monitor.close(linger=0)
        self._sock.close(linger=0)


def peer_address(part: zmq.Frame) -> str:
    try:
        return str(part.get("Peer-Address"))
    except zmq.ZMQError:
        return "local"  # inproc/ipc transports have no peer address


class ZmqPullSource(FixedPartitionedSource[RawMessage, None]):
    """Raw messages from ZeroMQ PULL sockets, one partition per bound endpoint.

    Unit of parallelism: the endpoint. Bytewax builds each partition on exactly one
    worker in the cluster, so each port is bound once. Delivery: at most once
    (ZeroMQ does not replay); everything received is emitted, malformed or not, with
    arrival time and peer, and parsing happens in the flow.
    """

    def __init__(self, runtime: HostRuntime, endpoints: dict[Channel, str]) -> None:
        if not endpoints:
            raise ValueError("ZmqPullSource needs at least one endpoint")
        self._runtime = runtime
        self._endpoints = dict(endpoints)
        # Named by endpoint: hosts of one cluster bound to their own addresses list
        # different partitions, so each binds its own ports (docs/cluster.md).
        self._parts: dict[str, Channel] = {f"{c}@{ep}": c for c, ep in self._endpoints.items()}

    @override
    def list_parts(self) -> list[str]:
        return list(self._parts)

    @override
    def build_part(self, step_id: str, for_part: str, resume_state: None) -> _ZmqPullPartition:
        channel = self._parts[for_part]
        return _ZmqPullPartition(self._runtime, channel, self._endpoints[channel])
