"""What a sender run is given (`SenderOptions`), what it settles on (`MediaSettings`) and
what it reports (`SenderStats`): plain frozen values, apart from the sender that uses them
(`ambient_flow.client.sender`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from ambient_flow.auth import IssuedCredential
from ambient_flow.client.control import ControlStats, ServerConfig
from ambient_flow.client.media import AudioOptions, PatternOptions, ToneOptions, VideoOptions
from ambient_flow.client.transport import CurveKeys, Encoding, check_port
from ambient_flow.errors import ConfigError
from ambient_flow.protocol import constants

__all__ = ["MediaSettings", "SenderOptions", "SenderStats"]


@dataclass(frozen=True, slots=True)
class SenderOptions:
    """Everything one sender run needs. `None` media settings mean "what the server says".

    Attributes:
        host: The server's address.
        fallback_hosts: More hosts (same ports), tried in order after `host` when the
            current one stops answering control (docs/cluster.md: independent hosts with
            a host list); ZeroMQ transport and control on only.
        transport: `zmq` (PUSH to the audio/video ports, REQ to control) or `tcp` (one
            connection to `tcp_port` for everything).
        encoding: ZeroMQ message shape: `envelope` (one frame, what real clients send)
            or `multipart` (header frame + payload frame). TCP always uses envelopes.
        client: The header's `client` field; None sends no `client` field at all,
            exactly like today's real clients (the server names them by connection).
        hello_name: The name said in `hello` when `client` is None: what today's real
            clients do (a named hello, then data with no `client` field; the server
            pairs them by host and connection).
        session: The header's `session` field when set.
        audio: The audio source, or None for no audio.
        video: The video source, or None for no video.
        chunk_ms / fps / width / height / quality: Fix these instead of taking the
            server's values (from its hello reply; protocol defaults if it is silent).
        duration_s: Stop after this much stream time; None runs until `stop()` or
            until every source has ended.
        realtime: Pace to the clock; False sends as fast as possible.
        control: Say hello / heartbeat / bye at all (legacy clients do not).
        heartbeat: Send heartbeats after the hello.
        hello_wait_s: How long to wait for the hello reply before streaming with defaults.
        control_timeout_s / control_retries / control_retry_later_s: Lazy Pirate bounds.
        sndhwm / send_block_ms: ZeroMQ send bounds (see `ZmqTransport`).
        tcp_buffer_bytes: Bound on the TCP outbox.
        drain_s: At the end, how long queued messages may take to leave.
        auth: What the host asks for (`--auth` there): `off`, `token` (the token goes in
            every header and control request) or `curve` (ZeroMQ sockets use CURVE; over
            TCP, which has no CURVE, the token is sent instead).
        credentials: This client's credential (`ambient-flow auth add` issues it); its
            name is the one the host streams under.
    """

    host: str = "127.0.0.1"
    fallback_hosts: tuple[str, ...] = ()
    audio_port: int = constants.AUDIO_PORT
    video_port: int = constants.VIDEO_PORT
    control_port: int = constants.CONTROL_PORT
    tcp_port: int = constants.TCP_PORT
    transport: Literal["zmq", "tcp"] = "zmq"
    encoding: Encoding = "envelope"
    client: str | None = None
    hello_name: str | None = None
    session: str | None = None
    audio: AudioOptions | None = field(default_factory=ToneOptions)
    video: VideoOptions | None = field(default_factory=PatternOptions)
    chunk_ms: int | None = None
    fps: float | None = None
    width: int | None = None
    height: int | None = None
    quality: int | None = None
    duration_s: float | None = None
    realtime: bool = True
    control: bool = True
    heartbeat: bool = True
    hello_wait_s: float = 2.0
    control_timeout_s: float = 1.0
    control_retries: int = 2
    control_retry_later_s: float = 10.0
    sndhwm: int = 10
    send_block_ms: int = 50
    tcp_buffer_bytes: int = 1 << 20
    drain_s: float = 1.0
    auth: Literal["off", "token", "curve"] = "off"
    credentials: IssuedCredential | None = None

    def __post_init__(self) -> None:
        if not self.host or not all(self.fallback_hosts):
            raise ConfigError("host is empty")
        if len(set(self.hosts)) != len(self.hosts):
            raise ConfigError(f"hosts {self.hosts}: a host is listed twice")
        if self.fallback_hosts and (self.transport != "zmq" or not self.control):
            raise ConfigError("a host list needs the ZeroMQ transport and control on")
        for name in ("audio_port", "video_port", "control_port", "tcp_port"):
            check_port(name, getattr(self, name))
        if self.transport not in ("zmq", "tcp"):
            raise ConfigError(f"transport {self.transport!r}: use 'zmq' or 'tcp'")
        if self.encoding not in ("envelope", "multipart"):
            raise ConfigError(f"encoding {self.encoding!r}: use 'envelope' or 'multipart'")
        if self.audio is None and self.video is None:
            raise ConfigError("nothing to send: both audio and video are off")
        if self.client is not None and not self.client:
            raise ConfigError("client name is empty; use None to send no client field")
        for name in ("chunk_ms", "fps", "width", "height", "quality", "duration_s"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise ConfigError(f"{name}={value} must be > 0")
        if self.quality is not None and self.quality > 100:
            raise ConfigError(f"quality={self.quality} must be 1..100")
        if self.hello_wait_s < 0 or self.drain_s < 0:
            raise ConfigError("hello_wait_s and drain_s must be >= 0")
        if self.auth not in ("off", "token", "curve"):
            raise ConfigError(f"auth {self.auth!r}: use 'off', 'token' or 'curve'")
        if self.auth != "off" and self.credentials is None:
            raise ConfigError(f"--auth {self.auth} needs credentials (`ambient-flow auth add`)")

    @property
    def hosts(self) -> tuple[str, ...]:
        """Every host, in the order they are tried."""
        return (self.host, *self.fallback_hosts)

    @property
    def token(self) -> str | None:
        """The token to present: with `--auth token`, and for TCP with `--auth curve`."""
        uses_token = self.auth == "token" or (self.auth == "curve" and self.transport == "tcp")
        return self.credentials.token if uses_token and self.credentials else None

    @property
    def curve(self) -> CurveKeys | None:
        if self.auth != "curve" or self.credentials is None:
            return None
        c = self.credentials
        return CurveKeys(c.server_public, c.curve_public, c.curve_secret)

    @property
    def capabilities(self) -> tuple[str, ...]:
        return tuple(
            name for name, on in (("audio", self.audio), ("video", self.video)) if on is not None
        )


@dataclass(frozen=True, slots=True)
class MediaSettings:
    """The settings a run actually used: the options, else the server's config, else defaults."""

    chunk_ms: int
    sample_rate: int
    fps: float
    width: int
    height: int
    quality: int

    @classmethod
    def resolve(cls, options: SenderOptions, server: ServerConfig | None) -> MediaSettings:
        base = server or ServerConfig()
        return cls(
            chunk_ms=options.chunk_ms or base.audio_chunk_ms,
            sample_rate=base.audio_sample_rate,
            fps=options.fps or base.video_fps,
            width=options.width or base.video_width,
            height=options.height or base.video_height,
            quality=options.quality or base.video_quality,
        )


@dataclass(frozen=True, slots=True)
class SenderStats:
    """A snapshot of one run.

    Attributes:
        audio_chunks / video_frames: Messages produced (each took a `seq`).
        audio_sent / video_sent: Messages the transport accepted.
        bytes: Bytes the transport accepted (all channels).
        drops: Messages that could not be sent (the server sees them as `seq` gaps).
        unconfirmed: Messages written to a TCP connection that then broke, or sent to a
            host left for the next of the list, after that server's last confirmation:
            possibly lost (the host's `seq` gaps and sessions say).
        reconnects: TCP reconnections.
        failovers: Moves to the next host of the list (`fallback_hosts`).
        host: The host in use at the end (or now).
        control: The control channel's counters (None when control is off).
        last_control_reply: The last reply the server sent.
        server_config: What the server said in its hello reply (None if it did not answer).
        settings: The media settings used.
    """

    audio_chunks: int = 0
    video_frames: int = 0
    audio_sent: int = 0
    video_sent: int = 0
    bytes: int = 0
    drops: int = 0
    unconfirmed: int = 0
    reconnects: int = 0
    connect_failures: int = 0
    failovers: int = 0
    host: str = ""
    control: ControlStats | None = None
    last_control_reply: dict[str, Any] | None = None
    server_config: ServerConfig | None = None
    settings: MediaSettings | None = None
    elapsed_s: float = 0.0
