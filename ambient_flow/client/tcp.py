"""The raw-TCP transport: one connection carrying audio, video and control envelopes.

The same rule as the ZeroMQ transport (`ambient_flow.client.transport`): a live sender
never falls behind because the server is away. Messages wait in a bounded outbox; what
does not fit, and what a broken connection takes with it, is dropped and counted.
"""

from __future__ import annotations

import collections
import logging
import select
import socket
import threading
import time
from collections.abc import Sequence
from typing import Any

from ambient_flow.client.pacing import Clock
from ambient_flow.client.transport import (
    SendChannel,
    TransportStats,
)
from ambient_flow.errors import ConfigError, ProtocolError
from ambient_flow.protocol import constants
from ambient_flow.protocol.codec import (
    EnvelopeStream,
    decode_envelope,
    encode_envelope,
    parse_header,
)
from ambient_flow.protocol.results import RESULT_TYPE
from ambient_flow.telemetry import RateLimitedLog

__all__ = ["TcpTransport"]

logger = logging.getLogger(__name__)

#: Results kept unread on the client (the oldest are dropped beyond, counted).
MAX_RESULTS = 256
#: How much one read takes from the socket.
_RECV_CHUNK = 65536


class TcpTransport:
    """One TCP connection carrying audio, video and control envelopes back to back.

    The socket is non-blocking. Messages wait in a bounded outbox (`max_buffer_bytes`);
    one that does not fit is dropped and counted. When the connection breaks the
    outbox is dropped too (counted), so a reconnect never replays stale media, and
    the next attempt waits a capped exponential back-off (`backoff_initial_s` doubling
    up to `backoff_max_s`). Control replies from the server are collected in
    `replies`. Thread-safe: all state is behind one lock.

    A message written to the socket is not yet a message received: when the connection
    breaks, everything written after the server's last confirmation (a control reply:
    the server answers a request only once it has read all that came before it) is
    counted per channel as `unconfirmed`, so a sender never reports nothing lost when
    a broken connection may have taken messages with it.

    Args:
        host: Server address.
        port: The raw-TCP port (5558).
        max_buffer_bytes: Bound on bytes waiting to be written.
        connect_timeout_s: Bound on one connection attempt.
        clock: Monotonic seconds (injectable for back-off tests).
    """

    def __init__(
        self,
        host: str,
        port: int = constants.TCP_PORT,
        *,
        max_buffer_bytes: int = 1 << 20,
        connect_timeout_s: float = 1.0,
        backoff_initial_s: float = 0.1,
        backoff_max_s: float = 5.0,
        max_message_bytes: int = constants.MAX_MESSAGE_BYTES,
        clock: Clock = time.monotonic,
    ) -> None:
        if max_buffer_bytes < 1 or connect_timeout_s <= 0:
            raise ConfigError("max_buffer_bytes and connect_timeout_s must be > 0")
        if not 0 < backoff_initial_s <= backoff_max_s:
            raise ConfigError("need 0 < backoff_initial_s <= backoff_max_s")
        self.host, self.port = host, port
        self.stats = TransportStats()
        #: Control replies (header dicts without `type`) in arrival order.
        self.replies: collections.deque[dict[str, Any]] = collections.deque(maxlen=64)
        #: Results (`{"frame", "detail"}` records) the host sent back, when asked for in
        #: hello; the oldest go first beyond `MAX_RESULTS` unread (`results_dropped`).
        self.results: collections.deque[dict[str, Any]] = collections.deque()
        self.results_dropped = 0
        self._max_buffer = max_buffer_bytes
        self._connect_timeout = connect_timeout_s
        self._backoff_initial = backoff_initial_s
        self._backoff_max = backoff_max_s
        self._backoff = backoff_initial_s
        self._max_message = max_message_bytes
        self._clock = clock
        self._lock = threading.RLock()
        self._sock: socket.socket | None = None
        self._stream = EnvelopeStream(max_message_bytes)
        self._outbox: collections.deque[tuple[SendChannel, bytes]] = collections.deque()
        self._outbox_bytes = 0
        self._head_sent = 0  # bytes of the first outbox entry already written
        self._next_connect_at = 0.0
        self._connections = 0
        self._log = RateLimitedLog(logger)
        # What was written on this connection since the server last confirmed reading:
        # channels in write order, and, per control request written, how many came
        # before it (with it).
        self._unconfirmed: collections.deque[SendChannel] = collections.deque(maxlen=65536)
        self._written = 0
        self._confirmed = 0
        self._marks: collections.deque[int] = collections.deque()

    @property
    def connected(self) -> bool:
        return self._sock is not None

    @property
    def pending_bytes(self) -> int:
        """Bytes in the outbox, not yet written to the socket."""
        return self._outbox_bytes - self._head_sent

    @property
    def next_connect_at(self) -> float:
        """Clock reading before which no new connection attempt is made (the back-off)."""
        return self._next_connect_at

    def send(self, channel: SendChannel, frames: Sequence[bytes]) -> bool:
        """Queue one message (two frames are joined into an envelope) and write what can go."""
        data = frames[0] if len(frames) == 1 else encode_envelope(frames[0], frames[1])
        with self._lock:
            counters = self.stats.channel(channel)
            if self._outbox_bytes + len(data) > self._max_buffer:
                counters.drops += 1
                state = "connected" if self._sock else "not connected"
                self._log.log(
                    logging.WARNING,
                    "full",
                    "TCP outbox full (%d bytes, %s); dropping %s",
                    self._outbox_bytes,
                    state,
                    channel,
                )
                return False
            self._outbox.append((channel, bytes(data)))
            self._outbox_bytes += len(data)
            self._pump()
            return True

    def service(self) -> None:
        with self._lock:
            self._pump()

    def discard_queued(self, channel: SendChannel) -> int:
        """Remove `channel`'s messages not yet begun on the wire (a retried control request
        must not go out twice after a reconnect). Returns how many were removed."""
        with self._lock:
            keep: collections.deque[tuple[SendChannel, bytes]] = collections.deque()
            removed = 0
            for i, (name, data) in enumerate(self._outbox):
                if name == channel and not (i == 0 and self._head_sent):
                    self._outbox_bytes -= len(data)
                    removed += 1
                else:
                    keep.append((name, data))
            self._outbox = keep
            return removed

    def drain(self, timeout_s: float) -> bool:
        deadline = self._clock() + timeout_s
        while True:
            with self._lock:
                self._pump()
                if not self._outbox:
                    return True
                sock = self._sock
            remaining = deadline - self._clock()
            if remaining <= 0:
                return False
            if sock is None:
                time.sleep(min(remaining, max(0.0, self._next_connect_at - self._clock()), 0.05))
            else:
                select.select([], [sock], [], min(remaining, 0.05))

    def wait_readable(self, timeout_s: float) -> None:
        """Block up to `timeout_s` until the server may have sent something."""
        with self._lock:
            self._pump()
            sock = self._sock
        if sock is None:
            time.sleep(min(timeout_s, 0.05))
        else:
            select.select([sock], [], [], timeout_s)

    def close(self) -> None:
        with self._lock:
            if self._sock is not None:
                self._sock.close()
                self._sock = None

    # -- internals (called with the lock held) ------------------------------------------
    def _pump(self) -> None:
        if self._sock is None and not self._try_connect():
            return
        self._write()
        if self._sock is not None:
            self._read()

    def _try_connect(self) -> bool:
        now = self._clock()
        if now < self._next_connect_at:
            return False
        try:
            sock = socket.create_connection((self.host, self.port), timeout=self._connect_timeout)
        except OSError as exc:
            self.stats.connect_failures += 1
            self._next_connect_at = now + self._backoff
            self._log.log(
                logging.WARNING,
                "connect",
                "TCP %s:%d unreachable (%s); retrying in %.1f s",
                self.host,
                self.port,
                exc,
                self._backoff,
            )
            self._backoff = min(self._backoff * 2, self._backoff_max)
            return False
        sock.setblocking(False)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._sock = sock
        self._stream = EnvelopeStream(self._max_message)
        self._unconfirmed.clear()
        self._marks.clear()
        self._written = self._confirmed = 0
        self._backoff = self._backoff_initial
        if self._connections:
            self.stats.reconnects += 1
            logger.info("TCP reconnected to %s:%d", self.host, self.port)
        self._connections += 1
        return True

    def _disconnect(self, why: str) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None
        for channel in self._unconfirmed:
            self.stats.channel(channel).unconfirmed += 1
        if self._unconfirmed:
            self._log.log(
                logging.WARNING,
                "unconfirmed",
                "%d messages written before the connection broke were not confirmed",
                len(self._unconfirmed),
            )
        self._unconfirmed.clear()
        self._marks.clear()
        dropped = len(self._outbox)
        for channel, _ in self._outbox:
            self.stats.channel(channel).drops += 1
        self._outbox.clear()
        self._outbox_bytes = 0
        self._head_sent = 0
        self._next_connect_at = self._clock() + self._backoff
        self._backoff = min(self._backoff * 2, self._backoff_max)
        self._log.log(
            logging.WARNING,
            "lost",
            "TCP connection to %s:%d lost (%s); %d queued messages dropped",
            self.host,
            self.port,
            why,
            dropped,
        )

    def _write(self) -> None:
        sock = self._sock
        while sock is not None and self._outbox:
            channel, data = self._outbox[0]
            try:
                n = sock.send(memoryview(data)[self._head_sent :])
            except BlockingIOError:
                return
            except OSError as exc:
                self._disconnect(str(exc))
                return
            self._head_sent += n
            if self._head_sent < len(data):
                return
            self._outbox.popleft()
            self._outbox_bytes -= len(data)
            self._head_sent = 0
            counters = self.stats.channel(channel)
            counters.sent += 1
            counters.bytes += len(data)
            self._unconfirmed.append(channel)
            self._written += 1
            if channel == "control":
                self._marks.append(self._written)

    def _read(self) -> None:
        while self._sock is not None:
            try:
                data = self._sock.recv(_RECV_CHUNK)
            except BlockingIOError:
                return
            except OSError as exc:
                self._disconnect(str(exc))
                return
            if not data:
                self._disconnect("closed by the server")
                return
            for record in self._stream.feed(data):
                self._take_reply(record)
            if self._stream.error is not None:
                self._disconnect(f"server sent a broken stream ({self._stream.error})")
                return

    def _take_reply(self, record: bytes) -> None:
        try:
            head, _ = decode_envelope(record)
            header = parse_header(head)
        except ProtocolError as exc:
            self._log.log(logging.WARNING, "reply", "unreadable message from the server: %s", exc)
            return
        kind = header.pop("type", None)
        if kind == RESULT_TYPE:
            self.results.append(header)
            if len(self.results) > MAX_RESULTS:
                self.results.popleft()
                self.results_dropped += 1
            return
        if kind != "control":
            self._log.log(logging.WARNING, "reply", "server sent a non-control message; ignored")
            return
        if self._marks:  # the server had read everything written before that request
            mark = self._marks.popleft()
            for _ in range(min(mark - self._confirmed, len(self._unconfirmed))):
                self._unconfirmed.popleft()
            self._confirmed = mark
        self.replies.append(header)
