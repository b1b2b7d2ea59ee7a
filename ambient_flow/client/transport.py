"""Getting encoded messages to the server: ZeroMQ PUSH per channel, or one raw TCP stream.

Both transports share one rule: a live sender must never fall behind because the
server is away. Sends never block for longer than a small bound; what cannot be
sent is dropped and counted (the server sees the `seq` gap and counts it too),
and nothing stale piles up to be delivered in a burst when the server comes back:
ZeroMQ sockets use `ZMQ_IMMEDIATE` (no queue towards a peer that is not connected)
and a small `SNDHWM`; the TCP transport drops its bounded outbox when the
connection breaks.
"""

from __future__ import annotations

import collections
import logging
import select
import socket
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal, Protocol

import zmq

from ambient_flow.client.pacing import Clock
from ambient_flow.errors import ConfigError, ProtocolError
from ambient_flow.protocol import constants
from ambient_flow.protocol.codec import (
    EnvelopeStream,
    decode_envelope,
    encode_envelope,
    encode_multipart,
    parse_header,
)
from ambient_flow.protocol.results import RESULT_TYPE
from ambient_flow.telemetry import RateLimitedLog

__all__ = [
    "ChannelCounters",
    "CurveKeys",
    "Encoding",
    "SendChannel",
    "TcpTransport",
    "Transport",
    "TransportStats",
    "ZmqTransport",
    "check_port",
    "encode_message",
    "send_nowait",
    "tcp_endpoint",
]

logger = logging.getLogger(__name__)

#: Results kept unread on the client (the oldest are dropped beyond, counted).
MAX_RESULTS = 256

Encoding = Literal["envelope", "multipart"]
#: What a transport carries: media, and control envelopes on the TCP stream.
SendChannel = Literal["audio", "video", "control"]
_RECV_CHUNK = 65536


def check_port(name: str, port: int) -> None:
    """Options validation: a port is 1..65535 (`ConfigError` naming the option)."""
    if not 1 <= port <= 65535:
        raise ConfigError(f"{name}={port}: a port is 1..65535")


def encode_message(header: Mapping[str, Any], payload: bytes, encoding: Encoding) -> list[bytes]:
    """Header + payload as ZeroMQ frames: one envelope frame, or two frames."""
    if encoding == "envelope":
        return [encode_envelope(header, payload)]
    if encoding == "multipart":
        return encode_multipart(header, payload)
    raise ConfigError(f"encoding {encoding!r}: use 'envelope' or 'multipart'")


def tcp_endpoint(host: str, port: int) -> str:
    """`tcp://host:port`, with IPv6 literals bracketed."""
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"tcp://{host}:{port}"


@dataclass(frozen=True, slots=True)
class CurveKeys:
    """A CURVE client's keys (Z85): the host's public key, and this client's key pair
    (`ambient-flow auth add` issues them; `--auth curve` on the host)."""

    server_public: str
    public: str
    secret: str

    def apply(self, sock: zmq.Socket[Any]) -> None:
        """Make `sock` (before it connects) authenticate and encrypt with these keys."""
        sock.setsockopt(zmq.CURVE_SERVERKEY, self.server_public.encode("ascii"))
        sock.setsockopt(zmq.CURVE_PUBLICKEY, self.public.encode("ascii"))
        sock.setsockopt(zmq.CURVE_SECRETKEY, self.secret.encode("ascii"))


@dataclass(slots=True)
class ChannelCounters:
    """What happened to the messages of one channel.

    `unconfirmed` (TCP): messages written to a connection that then broke, after the
    last point the server confirmed reading (its reply to a later control request):
    they may or may not have arrived (the host's counts and `seq` gaps say which).
    """

    sent: int = 0
    bytes: int = 0
    drops: int = 0
    unconfirmed: int = 0


@dataclass(slots=True)
class TransportStats:
    """Counters of one transport. Read a copy (`snapshot()`) from other threads."""

    audio: ChannelCounters = field(default_factory=ChannelCounters)
    video: ChannelCounters = field(default_factory=ChannelCounters)
    control: ChannelCounters = field(default_factory=ChannelCounters)
    #: Successful connections after the first one (TCP only).
    reconnects: int = 0
    #: Connection attempts that failed (TCP only).
    connect_failures: int = 0

    def channel(self, name: SendChannel) -> ChannelCounters:
        counters: ChannelCounters = getattr(self, name)
        return counters

    @property
    def drops(self) -> int:
        return self.audio.drops + self.video.drops + self.control.drops

    @property
    def bytes(self) -> int:
        return self.audio.bytes + self.video.bytes + self.control.bytes

    @property
    def unconfirmed(self) -> int:
        return self.audio.unconfirmed + self.video.unconfirmed + self.control.unconfirmed

    def snapshot(self) -> TransportStats:
        return TransportStats(
            audio=replace(self.audio),
            video=replace(self.video),
            control=replace(self.control),
            reconnects=self.reconnects,
            connect_failures=self.connect_failures,
        )


class Transport(Protocol):
    """Sends already-encoded frames on a channel; never blocks for long, never raises on loss."""

    stats: TransportStats

    def send(self, channel: SendChannel, frames: Sequence[bytes]) -> bool:
        """Send one message; False (and a counted drop) when it could not go out."""
        ...

    def service(self) -> None:
        """Do pending background work (reconnect, flush, read replies); cheap to call often."""
        ...

    def drain(self, timeout_s: float) -> bool:
        """Wait up to `timeout_s` for queued messages to leave; True if nothing is left."""
        ...

    def close(self) -> None: ...


class ZmqTransport:
    """One PUSH socket per media channel, connected to the server's PULL ports.

    Thread use: each channel's socket may be used by one thread at a time, so an audio
    thread and a video thread can send concurrently. The `zmq.Context` is the caller's.

    Args:
        context: The process's one context.
        host: Server address.
        audio_port: The audio PULL port (5555).
        video_port: The video PULL port (5556).
        sndhwm: Messages queued per socket before sends drop (keeps stale data short).
        send_block_ms: How long one send may wait for room (or for the connection to come
            up) before the message counts as dropped. 0 = never wait.
        curve: CURVE keys (`--auth curve` on the host); None for a plain connection.
    """

    def __init__(
        self,
        context: zmq.Context[Any],
        host: str,
        *,
        audio_port: int = constants.AUDIO_PORT,
        video_port: int = constants.VIDEO_PORT,
        sndhwm: int = 10,
        send_block_ms: int = 50,
        curve: CurveKeys | None = None,
    ) -> None:
        if sndhwm < 1:
            raise ConfigError(f"sndhwm={sndhwm} must be >= 1")
        if send_block_ms < 0:
            raise ConfigError(f"send_block_ms={send_block_ms} must be >= 0")
        self.stats = TransportStats()
        self._block_ms = send_block_ms
        self._log = RateLimitedLog(logger)
        self._sockets: dict[str, zmq.Socket[Any]] = {}
        try:
            for name, port in (("audio", audio_port), ("video", video_port)):
                self._sockets[name] = _push_socket(context, tcp_endpoint(host, port), sndhwm, curve)
        except zmq.ZMQError as exc:
            self.close()
            raise ConfigError(f"cannot connect to {host}: {exc}") from exc

    def send(self, channel: SendChannel, frames: Sequence[bytes]) -> bool:
        sock = self._sockets.get(channel)
        if sock is None:
            raise ConfigError(f"the ZeroMQ transport has no {channel!r} socket")
        counters = self.stats.channel(channel)
        if send_nowait(sock, frames, self._block_ms):
            counters.sent += 1
            counters.bytes += sum(len(f) for f in frames)
            return True
        counters.drops += 1
        self._log.log(
            logging.WARNING, channel, "%s: server not accepting; message dropped", channel
        )
        return False

    def wait_ready(self, timeout_s: float) -> bool:
        """Wait until every socket has a connected peer with room (or the timeout)."""
        deadline = time.monotonic() + timeout_s
        for sock in self._sockets.values():
            remaining = max(0.0, deadline - time.monotonic())
            if not sock.poll(int(remaining * 1000), zmq.POLLOUT):
                return False
        return True

    def service(self) -> None:
        """ZeroMQ reconnects by itself; nothing to do."""

    def drain(self, timeout_s: float) -> bool:
        """Sends are already handed to ZeroMQ's I/O thread; nothing is queued here."""
        return True

    def close(self) -> None:
        for sock in self._sockets.values():
            sock.close(linger=0)
        self._sockets.clear()


def _push_socket(
    context: zmq.Context[Any], endpoint: str, sndhwm: int, curve: CurveKeys | None = None
) -> zmq.Socket[Any]:
    sock: zmq.Socket[Any] = context.socket(zmq.PUSH)
    try:
        sock.setsockopt(zmq.LINGER, 0)
        if curve is not None:
            curve.apply(sock)
        sock.setsockopt(zmq.SNDHWM, sndhwm)
        # No pipe to a peer that is not connected: nothing queues up for a server that is
        # down, so a restarted server never receives a burst of stale audio.
        sock.setsockopt(zmq.IMMEDIATE, 1)
        sock.connect(endpoint)
    except zmq.ZMQError:
        sock.close(linger=0)
        raise
    return sock


def send_nowait(sock: zmq.Socket[Any], frames: Sequence[bytes], block_ms: int) -> bool:
    """Non-blocking send after waiting at most `block_ms` for room; False if it could not go."""
    if block_ms > 0 and not sock.poll(block_ms, zmq.POLLOUT):
        return False
    try:
        sock.send_multipart(list(frames), flags=zmq.NOBLOCK)
    except zmq.Again:
        return False
    return True


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
