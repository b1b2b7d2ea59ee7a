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

import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal, Protocol

import zmq

from ambient_flow.errors import ConfigError
from ambient_flow.protocol import constants
from ambient_flow.protocol.codec import (
    encode_envelope,
    encode_multipart,
)
from ambient_flow.telemetry import RateLimitedLog

__all__ = [
    "ChannelCounters",
    "CurveKeys",
    "Encoding",
    "SendChannel",
    "Transport",
    "TransportStats",
    "ZmqTransport",
    "check_port",
    "encode_message",
    "send_nowait",
    "tcp_endpoint",
]

logger = logging.getLogger(__name__)

Encoding = Literal["envelope", "multipart"]
#: What a transport carries: media, and control envelopes on the TCP stream.
SendChannel = Literal["audio", "video", "control"]


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
