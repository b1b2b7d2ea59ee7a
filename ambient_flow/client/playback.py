"""Play a capture (`.zmqcap`) back to a server, as its clients sent it.

Each recorded connection gets its own connection again (the server tells legacy
clients apart by connection), control requests are sent on REQ sockets and their
replies read, and the recorded gaps between arrivals are kept (`realtime`) or not.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import zmq

from ambient_flow.capture import CaptureReader
from ambient_flow.capture.inspect import summarize
from ambient_flow.client.pacing import Clock, Pacer, Sleep
from ambient_flow.client.rename import rename_parts
from ambient_flow.client.tcp import TcpTransport
from ambient_flow.client.transport import check_port, send_nowait, tcp_endpoint
from ambient_flow.errors import ConfigError
from ambient_flow.protocol import constants
from ambient_flow.protocol.identity import sanitize_client_name

__all__ = ["PlaybackOptions", "PlaybackStats", "stream_capture"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class PlaybackOptions:
    """Where and how fast `stream_capture` sends.

    Attributes:
        realtime: Keep the recorded gaps between arrivals (divided by `speed`);
            False sends as fast as the server takes it.
        send_block_ms: How long one send may wait for room before it counts as a drop
            (generous: a replay should deliver everything).
        control_timeout_s: How long to wait for the reply to a replayed control request.
        name: Play the capture's one client under this name (`client.rename`); a
            capture with several clients is refused.
    """

    host: str = "127.0.0.1"
    audio_port: int = constants.AUDIO_PORT
    video_port: int = constants.VIDEO_PORT
    control_port: int = constants.CONTROL_PORT
    tcp_port: int = constants.TCP_PORT
    realtime: bool = True
    speed: float = 1.0
    sndhwm: int = 1000
    send_block_ms: int = 2000
    control_timeout_s: float = 1.0
    tcp_buffer_bytes: int = 4 * constants.MAX_MESSAGE_BYTES
    drain_s: float = 5.0
    name: str | None = None

    def __post_init__(self) -> None:
        for name in ("audio_port", "video_port", "control_port", "tcp_port"):
            check_port(name, getattr(self, name))
        if self.speed <= 0:
            raise ConfigError(f"speed={self.speed} must be > 0")
        if self.send_block_ms < 0 or self.control_timeout_s <= 0 or self.drain_s < 0:
            raise ConfigError("send_block_ms, drain_s must be >= 0 and control_timeout_s > 0")
        if self.name is not None and sanitize_client_name(self.name) != self.name:
            raise ConfigError(
                f"name={self.name!r}: a client name is 1-64 of A-Z a-z 0-9 . _ - "
                "(not starting with a dot)"
            )


@dataclass(frozen=True, slots=True)
class PlaybackStats:
    """What `stream_capture` did, per recorded channel."""

    records: int = 0
    sent: Mapping[str, int] = field(default_factory=dict)
    drops: Mapping[str, int] = field(default_factory=dict)
    bytes: int = 0
    control_replies: int = 0
    #: Damaged stretches of the capture that were skipped.
    problems: int = 0
    #: Distinct recorded peers, each replayed on its own connection.
    peers: int = 0
    elapsed_s: float = 0.0


class _Player:
    """One connection per (channel, recorded peer): the server tells legacy clients apart
    by connection, so merging them onto one socket would merge their streams."""

    def __init__(self, context: zmq.Context[Any], options: PlaybackOptions) -> None:
        self._context = context
        self._o = options
        self._push: dict[tuple[str, str], zmq.Socket[Any]] = {}
        self._req: dict[str, zmq.Socket[Any]] = {}
        self._tcp: dict[str, TcpTransport] = {}
        self.sent = dict.fromkeys(constants.CHANNELS, 0)
        self.drops = dict.fromkeys(constants.CHANNELS, 0)
        self.bytes = 0
        self.control_replies = 0
        self.peers: set[str] = set()

    def send(self, channel: str, peer: str, frames: tuple[bytes, ...]) -> None:
        self.peers.add(peer)
        if channel in ("audio", "video"):
            ok = self._send_push(channel, peer, frames)
        elif channel == "control":
            ok = self._send_control(peer, frames)
        else:
            ok = self._send_tcp(peer, frames)
        if ok:
            self.sent[channel] += 1
            self.bytes += sum(len(f) for f in frames)
        else:
            self.drops[channel] += 1

    def _send_push(self, channel: str, peer: str, frames: tuple[bytes, ...]) -> bool:
        sock = self._push.get((channel, peer))
        if sock is None:
            o = self._o
            port = o.audio_port if channel == "audio" else o.video_port
            sock = self._context.socket(zmq.PUSH)
            sock.setsockopt(zmq.LINGER, 0)
            sock.setsockopt(zmq.SNDHWM, o.sndhwm)
            sock.setsockopt(zmq.IMMEDIATE, 1)
            sock.connect(tcp_endpoint(o.host, port))
            self._push[(channel, peer)] = sock
        return send_nowait(sock, frames, self._o.send_block_ms)

    def _send_control(self, peer: str, frames: tuple[bytes, ...]) -> bool:
        sock = self._req.get(peer)
        if sock is None:
            sock = self._context.socket(zmq.REQ)
            sock.setsockopt(zmq.LINGER, 0)
            sock.connect(tcp_endpoint(self._o.host, self._o.control_port))
            self._req[peer] = sock
        timeout_ms = int(self._o.control_timeout_s * 1000)
        if not send_nowait(sock, frames, timeout_ms) or not sock.poll(timeout_ms, zmq.POLLIN):
            # Lazy Pirate: a REQ socket without its reply cannot send again; reopen later.
            sock.close(linger=0)
            del self._req[peer]
            return False
        sock.recv_multipart()
        self.control_replies += 1
        return True

    def _send_tcp(self, peer: str, frames: tuple[bytes, ...]) -> bool:
        transport = self._tcp.get(peer)
        if transport is None:
            transport = TcpTransport(
                self._o.host, self._o.tcp_port, max_buffer_bytes=self._o.tcp_buffer_bytes
            )
            self._tcp[peer] = transport
        if len(frames) != 1:
            return False  # a TCP record is one envelope; anything else was never sendable
        if transport.pending_bytes + len(frames[0]) > self._o.tcp_buffer_bytes // 2:
            transport.drain(self._o.send_block_ms / 1000)
        # The transport's counters are per media channel; a replay counts everything as
        # one (`tcp`), under "audio". Queued here; `finish` counts what really left.
        return transport.send("audio", frames)

    def finish(self, drain_s: float) -> None:
        """Wait for the TCP outboxes, then count as dropped whatever never left."""
        if not self._tcp:
            return
        delivered = 0
        for peer, transport in self._tcp.items():
            if not transport.drain(drain_s):
                logger.warning(
                    "TCP replay for %s: %d bytes not delivered", peer, transport.pending_bytes
                )
            delivered += transport.stats.audio.sent
        queued = self.sent["tcp"]
        self.sent["tcp"] = delivered
        self.drops["tcp"] += queued - delivered

    def close(self) -> None:
        for sock in [*self._push.values(), *self._req.values()]:
            sock.close(linger=0)
        for transport in self._tcp.values():
            transport.close()
        self._push.clear()
        self._req.clear()
        self._tcp.clear()


def stream_capture(
    path: str | Path,
    options: PlaybackOptions | None = None,
    *,
    context: zmq.Context[Any] | None = None,
    stop: threading.Event | None = None,
    clock: Clock = time.monotonic,
    sleep: Sleep = time.sleep,
) -> PlaybackStats:
    """Send a `.zmqcap` capture to a server, message parts exactly as recorded.

    Audio and video records go to the PULL ports (as recorded: one envelope frame or
    two frames), `tcp` records to the raw-TCP port, `control` records to the REP port
    (each reply is awaited, up to `control_timeout_s`). Each recorded peer gets its own
    connection. With `realtime` the gaps between recorded arrival times are kept.

    Raises:
        CaptureError: The file is not a capture.
    """
    opts = options or PlaybackOptions()
    reader = CaptureReader(path)
    if opts.name is not None:
        _check_one_client(path)
    own_context = context is None
    ctx = context if context is not None else zmq.Context()
    pacer = Pacer(realtime=opts.realtime, clock=clock, sleep=sleep, stop=stop)
    replayer = _Player(ctx, opts)
    started = clock()
    records = 0
    first_ns: int | None = None
    try:
        for msg in reader:
            if first_ns is None:
                first_ns = msg.received_ns
                pacer.start()
            offset = (msg.received_ns - first_ns) / 1e9 / opts.speed
            if not pacer.wait_until(offset):
                break
            parts = (
                msg.parts if opts.name is None else rename_parts(msg.channel, msg.parts, opts.name)
            )
            replayer.send(msg.channel, msg.peer, parts)
            records += 1
        replayer.finish(opts.drain_s)
    finally:
        replayer.close()
        if own_context:
            ctx.term()
    return PlaybackStats(
        records=records,
        sent={k: v for k, v in replayer.sent.items() if v},
        drops={k: v for k, v in replayer.drops.items() if v},
        bytes=replayer.bytes,
        control_replies=replayer.control_replies,
        problems=len(reader.problems),
        peers=len(replayer.peers),
        elapsed_s=clock() - started,
    )


def _check_one_client(path: str | Path) -> None:
    """Renaming merges every recorded client into one: refuse a capture with several."""
    clients = [c.client for c in summarize(path).clients]
    if len(clients) > 1:
        raise ConfigError(
            f"{path} holds {len(clients)} clients ({', '.join(clients[:5])}"
            f"{', ...' if len(clients) > 5 else ''}): a new name can be given to one only"
        )
