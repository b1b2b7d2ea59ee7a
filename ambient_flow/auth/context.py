"""What a source needs to know who is talking: `--auth off|token|curve` for one process.

- `off`: nobody is asked; names come from the messages (the default; the live host
  warns at start when it listens beyond loopback).
- `curve`: every ZeroMQ socket (data, control, PUB) is a CURVE server; the ZAP handler
  admits known client keys only, and every message carries its sender's name
  (`User-Id`). Encrypted. Raw TCP cannot do CURVE: there a token (below) is required.
- `token`: a client presents its token in `hello` (bound to that TCP connection, or
  sent with every ZeroMQ control request), and in the header of every ZeroMQ data
  message; the PUB port takes PLAIN (name, token). Not encrypted.

The source decides, once, which client a message came from (`RawMessage.user`); the
parser then takes the name from there and rejects unauthenticated messages
(`unauthenticated`). Tokens are blanked out of the bytes before anything records them
(same length, so envelopes stay valid): captures never hold a secret, and a replay
needs no credentials.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from typing import Any, Final

import zmq

from ambient_flow.auth.store import CredentialStore
from ambient_flow.auth.zap import ZAP_DOMAIN, ZapHandler
from ambient_flow.config import Settings
from ambient_flow.errors import ProtocolError
from ambient_flow.protocol.jsontext import loads_bounded
from ambient_flow.telemetry import Telemetry

__all__ = ["AUTH_MODES", "Authenticator", "redact"]

logger = logging.getLogger(__name__)

AUTH_MODES: Final = ("off", "token", "curve")


def redact(data: bytes, token: str) -> bytes:
    """`data` with every copy of `token` replaced by as many `*` (lengths unchanged)."""
    secret = token.encode("utf-8")
    return data.replace(secret, b"*" * len(secret)) if secret else data


class Authenticator:
    """One process's authentication: the mode, the credential store and the ZAP thread.

    Made by `HostRuntime` with its ZeroMQ context (the ZAP handler must serve before any
    socket handshakes) and stopped before the context ends.
    """

    def __init__(self, settings: Settings, telemetry: Telemetry) -> None:
        self.mode = settings.auth
        self._telemetry = telemetry
        self._lock = threading.Lock()
        self._counts: dict[str, Any] = {"mode": self.mode, "handshakes": {}, "unauthenticated": 0}
        self.store = CredentialStore(settings.auth_dir)
        self._zap: ZapHandler | None = None
        if self.enabled:
            self.store.check()
        self._publish()

    @property
    def enabled(self) -> bool:
        return self.mode != "off"

    def start(self, context: zmq.Context[Any]) -> None:
        """Serve ZAP in `context` (before any socket of ours binds)."""
        if self.enabled and self._zap is None:
            self._zap = ZapHandler(context, self.store, self._handshake)

    def stop(self) -> None:
        if self._zap is not None:
            self._zap.stop()
            self._zap = None

    # -- sockets -----------------------------------------------------------------------------
    def secure(self, sock: zmq.Socket[Any], *, publisher: bool = False) -> None:
        """Make `sock` (a server socket of ours) demand the mode's credentials."""
        if self.mode == "curve":
            public, secret = self.store.server_keys()
            sock.setsockopt(zmq.CURVE_SERVER, 1)
            sock.setsockopt(zmq.CURVE_PUBLICKEY, public)
            sock.setsockopt(zmq.CURVE_SECRETKEY, secret)
            sock.setsockopt(zmq.ZAP_DOMAIN, ZAP_DOMAIN)
        elif self.mode == "token" and publisher:
            sock.setsockopt(zmq.PLAIN_SERVER, 1)
            sock.setsockopt(zmq.ZAP_DOMAIN, ZAP_DOMAIN)

    # -- who sent it ---------------------------------------------------------------------------
    def zmq_message(
        self, frame: zmq.Frame, parts: Sequence[bytes], *, control: bool = False
    ) -> tuple[tuple[bytes, ...], str]:
        """The parts as they may be recorded, and the name the sender authenticated as."""
        if self.mode == "curve":
            return tuple(parts), _user_id(frame)
        if self.mode == "token":
            return self._token_parts(parts, control=control)
        return tuple(parts), ""

    def _token_parts(
        self, parts: Sequence[bytes], *, control: bool
    ) -> tuple[tuple[bytes, ...], str]:
        header = _header_of(parts, control=control)
        token = header.get("token") if header is not None else None
        name = self.store.name_for_token(token)
        if not isinstance(token, str):
            return tuple(parts), ""
        return tuple(redact(p, token) for p in parts), name or ""

    def token_record(self, record: bytes) -> tuple[bytes, str]:
        """A TCP record's token: the record as it may be recorded, and whose token it is."""
        parts, name = self._token_parts([record], control=False)
        return parts[0], name

    def name_for_token(self, token: object) -> str | None:
        return self.store.name_for_token(token) if self.enabled else None

    def is_admin(self, name: str) -> bool:
        return self.enabled and bool(name) and self.store.is_admin(name)

    # -- counting ------------------------------------------------------------------------------
    def _handshake(self, mechanism: str, ok: bool) -> None:
        with self._lock:
            shakes: dict[str, int] = self._counts["handshakes"]
            key = f"{mechanism}_{'ok' if ok else 'refused'}"
            shakes[key] = shakes.get(key, 0) + 1
        if not ok:
            self._telemetry.drop(f"auth_refused_{mechanism}")
        self._publish()

    def unauthenticated(self) -> None:
        """A request or record that needed a credential came without a valid one."""
        with self._lock:
            self._counts["unauthenticated"] += 1
        self._publish()

    def _publish(self) -> None:
        with self._lock:
            doc = {**self._counts, "handshakes": dict(self._counts["handshakes"])}
        self._telemetry.section("auth", doc)


def _user_id(frame: zmq.Frame) -> str:
    try:
        return str(frame.get("User-Id"))
    except zmq.ZMQError:
        return ""  # no ZAP-authenticated peer (e.g. inproc)


def _header_of(parts: Sequence[bytes], *, control: bool) -> dict[str, Any] | None:
    """The JSON header of a data message (envelope or multipart) or a control request."""
    if not parts:
        return None
    raw = parts[0]
    if not control and len(parts) == 1:
        if len(raw) < 8:
            return None
        header_len = int.from_bytes(raw[:4], "big")
        raw = raw[8 : 8 + header_len]
    try:
        header = loads_bounded(raw, "header")
    except ProtocolError:
        return None
    return header if isinstance(header, dict) else None
