"""The sender's side of the control channel: hello, heartbeats, bye, and the server's config.

Control must never stall media. `ControlSession` is a non-blocking state machine
that the sender polls between sends: a request is written, and every `poll()`
checks for the reply. On a timeout it follows the Lazy Pirate pattern (zguide
`lpclient.py`): the REQ socket is closed with LINGER 0 (a REQ socket that lost
its reply can never send again), reopened, and the request resent, at most
`retries` times. Then the server is reported unreachable, and a new `hello`
is tried every `retry_later_s` while media keeps flowing. Over the raw-TCP
transport the same requests travel as control envelopes on the data connection.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import zmq

from ambient_flow.client.pacing import Clock
from ambient_flow.client.tcp import TcpTransport
from ambient_flow.client.transport import CurveKeys, tcp_endpoint
from ambient_flow.errors import ConfigError, ProtocolError
from ambient_flow.protocol import constants
from ambient_flow.protocol.codec import encode_envelope, encode_header

__all__ = [
    "ControlChannel",
    "ControlOptions",
    "ControlSession",
    "ControlStats",
    "ServerConfig",
    "TcpControlChannel",
    "ZmqControlChannel",
]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ServerConfig:
    """The settings a server hands out in its `hello` / `get_config` reply.

    Fields the server leaves out keep the protocol defaults; `raw` is the reply's
    `config` object as received (it may hold fields this client does not know).
    """

    audio_chunk_ms: int = constants.AUDIO_CHUNK_MS
    audio_sample_rate: int = constants.AUDIO_SAMPLE_RATE
    audio_channels: int = constants.AUDIO_CHANNELS
    audio_format: str = constants.AUDIO_FORMAT
    video_fps: float = float(constants.VIDEO_FPS)
    video_width: int = constants.VIDEO_WIDTH
    video_height: int = constants.VIDEO_HEIGHT
    video_format: str = constants.VIDEO_FORMAT
    video_quality: int = constants.VIDEO_QUALITY
    heartbeat_interval_s: float = constants.HEARTBEAT_INTERVAL_S
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False)

    @classmethod
    def from_reply(cls, config: Mapping[str, Any]) -> ServerConfig:
        """Validate a reply's `config` object; `ProtocolError("bad_field")` if a value is wrong."""
        values: dict[str, Any] = {}
        ints = ("audio_chunk_ms", "audio_sample_rate", "audio_channels", "video_quality")
        for name in ints:
            if name in config:
                values[name] = _positive(config, name, int)
        for name in ("video_fps", "heartbeat_interval_s"):
            if name in config:
                values[name] = float(_positive(config, name, float))
        for name in ("audio_format", "video_format"):
            if name in config:
                value = config[name]
                if not isinstance(value, str):
                    raise ProtocolError("bad_field", f"config {name!r} must be a string")
                values[name] = value
        if "video_res" in config:
            res = config["video_res"]
            if (
                not isinstance(res, list | tuple)
                or len(res) != 2
                or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in res)
            ):
                raise ProtocolError(
                    "bad_field", f"config 'video_res' must be [w, h], got {res!r:.40}"
                )
            values["video_width"], values["video_height"] = int(res[0]), int(res[1])
        if values.get("video_quality", 1) > 100:
            raise ProtocolError("bad_field", "config 'video_quality' must be 1..100")
        return cls(**values, raw=dict(config))


def _positive(config: Mapping[str, Any], name: str, kind: type) -> Any:
    value = config[name]
    ok_types = (int, float) if kind is float else (int,)
    if isinstance(value, bool) or not isinstance(value, ok_types) or value <= 0:
        raise ProtocolError(
            "bad_field", f"config {name!r} must be a positive number, got {value!r:.40}"
        )
    return value


@dataclass(frozen=True, slots=True)
class ControlOptions:
    """How the sender talks to the control channel.

    Attributes:
        client: Name sent in every request; None sends no `client` field.
        session: Sent in `hello` when set (the client's own session id).
        capabilities: What this client sends (`audio`, `video`).
        timeout_s: How long to wait for one reply before retrying.
        retries: Resends after the first attempt before the server counts as unreachable.
        retry_later_s: While unreachable, how often a new `hello` is tried.
        heartbeat: Send `heartbeat` requests after a successful hello.
        heartbeat_interval_s: Overrides the server's `heartbeat_interval_s` when set.
        token: Sent in every request (`--auth token`: it names this client on the host).
        results: Ask in `hello` for this client's enrichments (`"results": true`); the
            reply's `results` object (`ControlSession.results`) says how they come.
    """

    client: str | None = None
    session: str | None = None
    capabilities: tuple[str, ...] = ("audio", "video")
    timeout_s: float = 1.0
    retries: int = 2
    retry_later_s: float = 10.0
    heartbeat: bool = True
    heartbeat_interval_s: float | None = None
    token: str | None = None
    results: bool = False

    def __post_init__(self) -> None:
        if self.timeout_s <= 0 or self.retry_later_s <= 0:
            raise ConfigError("control timeout_s and retry_later_s must be > 0")
        if self.retries < 0:
            raise ConfigError(f"retries={self.retries} must be >= 0")
        if self.heartbeat_interval_s is not None and self.heartbeat_interval_s <= 0:
            raise ConfigError("heartbeat_interval_s must be > 0")


@dataclass(slots=True)
class ControlStats:
    """What the control channel did; `snapshot()` gives a copy safe to hand out."""

    requests: int = 0
    replies: int = 0
    #: Replies that said `{"error": ...}`.
    errors: int = 0
    #: Replies that were not JSON objects or carried an invalid config.
    bad_replies: int = 0
    timeouts: int = 0
    resends: int = 0
    #: Times the server was declared unreachable (retries exhausted).
    unreachable: int = 0
    heartbeats: int = 0
    #: None until the first hello is answered or given up on.
    reachable: bool | None = None
    last_reply: dict[str, Any] | None = None

    def snapshot(self) -> ControlStats:
        return replace(self, last_reply=dict(self.last_reply) if self.last_reply else None)


class ControlChannel:
    """Where control requests go: the REQ socket or the TCP connection (see subclasses)."""

    def send(self, body: Mapping[str, Any]) -> bool:
        """Write one request without blocking; False if it could not even be queued."""
        raise NotImplementedError

    def receive(self) -> dict[str, Any] | None:
        """The reply if one has arrived (never blocks); `ProtocolError` if it is not JSON."""
        raise NotImplementedError

    def wait(self, timeout_s: float) -> None:
        """Block up to `timeout_s` until a reply may have arrived."""
        raise NotImplementedError

    def reset(self) -> None:
        """Forget the outstanding request (Lazy Pirate: reopen the REQ socket)."""
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError


class ZmqControlChannel(ControlChannel):
    """A REQ socket to the control port, reopened on every timeout."""

    def __init__(
        self,
        context: zmq.Context[Any],
        host: str,
        port: int = constants.CONTROL_PORT,
        curve: CurveKeys | None = None,
    ) -> None:
        self._context = context
        self._endpoint = tcp_endpoint(host, port)
        self._curve = curve
        self._sock: zmq.Socket[Any] | None = None
        self._open()

    def _open(self) -> None:
        sock = self._context.socket(zmq.REQ)
        sock.setsockopt(zmq.LINGER, 0)
        if self._curve is not None:
            self._curve.apply(sock)
        try:
            sock.connect(self._endpoint)
        except zmq.ZMQError as exc:
            sock.close(linger=0)
            raise ConfigError(f"bad control endpoint {self._endpoint}: {exc}") from exc
        self._sock = sock

    def send(self, body: Mapping[str, Any]) -> bool:
        if self._sock is None:
            self._open()
        if self._sock is None:  # pragma: no cover - _open either sets it or raises
            return False
        try:
            self._sock.send(encode_header(body), flags=zmq.NOBLOCK)
        except zmq.Again:
            return False
        return True

    def receive(self) -> dict[str, Any] | None:
        if self._sock is None or not self._sock.poll(0, zmq.POLLIN):
            return None
        raw = self._sock.recv(flags=zmq.NOBLOCK)
        return _reply_object(raw)

    def wait(self, timeout_s: float) -> None:
        if self._sock is not None:
            self._sock.poll(max(0, int(timeout_s * 1000)), zmq.POLLIN)

    def reset(self) -> None:
        self.close()
        self._open()

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close(linger=0)
            self._sock = None


class TcpControlChannel(ControlChannel):
    """Control envelopes `{"type":"control","cmd":...}` on the sender's TCP connection."""

    def __init__(self, transport: TcpTransport) -> None:
        self._transport = transport

    def send(self, body: Mapping[str, Any]) -> bool:
        envelope = encode_envelope({"type": "control", **body}, b"")
        return self._transport.send("control", [envelope])

    def receive(self) -> dict[str, Any] | None:
        self._transport.service()
        try:
            return self._transport.replies.popleft()
        except IndexError:
            return None

    def wait(self, timeout_s: float) -> None:
        self._transport.wait_readable(timeout_s)

    def reset(self) -> None:
        # One connection carries everything, so there is no socket to reopen; but the
        # abandoned request must not still go out after a reconnect, and a late reply to
        # it must not be taken for the answer to the next one.
        self._transport.discard_queued("control")
        self._transport.replies.clear()

    def close(self) -> None:
        """The transport belongs to the sender; nothing to close here."""


def _reply_object(raw: bytes) -> dict[str, Any]:
    try:
        reply = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise ProtocolError("not_json", f"control reply is not JSON ({exc})") from exc
    if not isinstance(reply, dict):
        raise ProtocolError("header_not_object", f"control reply is a JSON {type(reply).__name__}")
    return reply


@dataclass(slots=True)
class _Pending:
    body: dict[str, Any]
    sent_at: float
    resends_left: int


class ControlSession:
    """hello -> heartbeats -> bye, polled from the sender's loop; never blocks unless asked.

    Args:
        channel: Where requests go (owned by the session: `close()` closes it).
        options: Name, timeouts, retries, heartbeat.
        clock: Monotonic seconds (injectable for tests).
    """

    def __init__(
        self, channel: ControlChannel, options: ControlOptions, *, clock: Clock = time.monotonic
    ) -> None:
        self._channel = channel
        self.options = options
        self._clock = clock
        self._stats = ControlStats()
        self._lock = threading.Lock()
        self._pending: _Pending | None = None
        self._hello_ok = False
        self._gave_up_hello = False
        self._next_hello_at: float | None = None  # None: no hello wanted yet
        self._next_heartbeat_at = float("inf")
        #: The server's config from the last successful hello (None until then).
        self.config: ServerConfig | None = None
        #: The hello reply's `results` object (how results come), when they were asked for.
        self.results: dict[str, Any] | None = None

    @property
    def stats(self) -> ControlStats:
        with self._lock:
            return self._stats.snapshot()

    @property
    def heartbeat_interval_s(self) -> float:
        if self.options.heartbeat_interval_s is not None:
            return self.options.heartbeat_interval_s
        return self.config.heartbeat_interval_s if self.config else constants.HEARTBEAT_INTERVAL_S

    def _body(self, cmd: str) -> dict[str, Any]:
        body: dict[str, Any] = {"cmd": cmd}
        if self.options.client is not None:
            body["client"] = self.options.client
        if self.options.token is not None:
            body["token"] = self.options.token
        if cmd == "hello":
            body["capabilities"] = list(self.options.capabilities)
            if self.options.session is not None:
                body["session"] = self.options.session
            if self.options.results:
                body["results"] = True
        return body

    def start(self) -> None:
        """Send the first `hello` now."""
        self._next_hello_at = self._clock()
        self.poll()

    def poll(self) -> None:
        """Make progress: take a reply, retry on timeout, send what is due. Never blocks."""
        now = self._clock()
        if self._pending is not None:
            self._check_pending(now)
        if self._pending is None:
            if not self._hello_ok:
                if self._next_hello_at is not None and now >= self._next_hello_at:
                    self._request(self._body("hello"), now)
            elif self.options.heartbeat and now >= self._next_heartbeat_at:
                self._next_heartbeat_at = now + self.heartbeat_interval_s
                self._request(self._body("heartbeat"), now)

    def next_wakeup(self) -> float:
        """The clock reading by which `poll()` should run again."""
        if self._pending is not None:
            return self._pending.sent_at + self.options.timeout_s
        if not self._hello_ok:
            return self._next_hello_at if self._next_hello_at is not None else float("inf")
        return self._next_heartbeat_at if self.options.heartbeat else float("inf")

    def wait_for_hello(self, timeout_s: float, stop: threading.Event | None = None) -> bool:
        """Block up to `timeout_s` for the hello to be answered (or given up on).

        Returns:
            True when `config` has been set from the server's reply.
        """
        deadline = self._clock() + timeout_s
        if self._next_hello_at is None:
            self.start()
        while not self._hello_ok and not self._gave_up_hello:
            if stop is not None and stop.is_set():
                break
            remaining = min(deadline, self.next_wakeup()) - self._clock()
            if self._clock() >= deadline:
                break
            self._channel.wait(max(0.0, min(remaining, 0.05)))
            self.poll()
        return self._hello_ok

    def bye(self, timeout_s: float | None = None) -> bool:
        """Send `bye` and wait up to `timeout_s` (default: the request timeout) for the reply."""
        timeout = self.options.timeout_s if timeout_s is None else timeout_s
        if self._pending is not None:
            self._channel.reset()
            self._pending = None
        now = self._clock()
        self._request(self._body("bye"), now)
        deadline = now + timeout
        while self._pending is not None:
            reply = self._receive()
            if reply is not None:
                self._pending = None
                self._record_reply(reply)
                return "error" not in reply
            remaining = deadline - self._clock()
            if remaining <= 0:
                with self._lock:
                    self._stats.timeouts += 1
                self._channel.reset()
                self._pending = None
                return False
            self._channel.wait(min(remaining, 0.05))
        return False

    def close(self) -> None:
        self._channel.close()

    # -- internals ------------------------------------------------------------------------
    def _request(self, body: dict[str, Any], now: float) -> None:
        self._pending = _Pending(body, now, self.options.retries)
        with self._lock:
            self._stats.requests += 1
            if body["cmd"] == "heartbeat":
                self._stats.heartbeats += 1
        if not self._channel.send(body):
            logger.debug("control %s could not be queued; will time out and retry", body["cmd"])

    def _receive(self) -> dict[str, Any] | None:
        try:
            return self._channel.receive()
        except ProtocolError as exc:
            with self._lock:
                self._stats.bad_replies += 1
            logger.warning("server sent an unreadable control reply: %s", exc)
            return {"error": str(exc)}

    def _check_pending(self, now: float) -> None:
        pending = self._pending
        if pending is None:
            return
        reply = self._receive()
        if reply is not None:
            self._pending = None
            self._handle(pending.body["cmd"], reply, now)
            return
        if now - pending.sent_at < self.options.timeout_s:
            return
        with self._lock:
            self._stats.timeouts += 1
        self._channel.reset()
        if pending.resends_left > 0:
            pending.resends_left -= 1
            pending.sent_at = now
            with self._lock:
                self._stats.resends += 1
            self._channel.send(pending.body)
            return
        self._pending = None
        self._hello_ok = False  # whatever it was, the server may have restarted: hello again
        if pending.body["cmd"] == "hello":
            self._gave_up_hello = True
        self._next_hello_at = now + self.options.retry_later_s
        with self._lock:
            was = self._stats.reachable
            self._stats.unreachable += 1
            self._stats.reachable = False
        if was is not False:
            logger.warning(
                "control server unreachable (%s got no reply after %d attempts); "
                "streaming on, retrying every %.0f s",
                pending.body["cmd"],
                self.options.retries + 1,
                self.options.retry_later_s,
            )

    def _record_reply(self, reply: dict[str, Any]) -> None:
        with self._lock:
            self._stats.replies += 1
            self._stats.last_reply = reply
            self._stats.reachable = True
            if "error" in reply:
                self._stats.errors += 1

    def _handle(self, cmd: str, reply: dict[str, Any], now: float) -> None:
        self._record_reply(reply)
        if "error" in reply:
            logger.warning("server answered %s with an error: %s", cmd, reply["error"])
            if cmd == "heartbeat":
                self._hello_ok = False  # the server may have forgotten us: introduce again
                self._next_hello_at = now
            elif cmd == "hello":
                self._gave_up_hello = True
                self._next_hello_at = now + self.options.retry_later_s
            return
        if cmd != "hello":
            return
        config = reply.get("config", {})
        try:
            if not isinstance(config, Mapping):
                raise ProtocolError("bad_field", "hello reply 'config' is not an object")
            self.config = ServerConfig.from_reply(config)
        except ProtocolError as exc:
            with self._lock:
                self._stats.bad_replies += 1
            logger.warning("server's config is invalid (%s); keeping the defaults", exc)
            self.config = ServerConfig()
        offer = reply.get("results")
        self.results = dict(offer) if isinstance(offer, Mapping) else None
        self._hello_ok = True
        self._next_heartbeat_at = now + self.heartbeat_interval_s
