"""The ZAP handler: libzmq asks it about every CURVE or PLAIN handshake on our sockets.

ZeroMQ's authentication protocol (ZAP, RFC 27): a socket with `zap_domain` set sends
each handshake's credentials to whoever serves `inproc://zeromq.zap.01` in the same
context, and accepts or refuses the peer on the reply. The reply's User-Id becomes a
property of every message the peer sends (`frame.get("User-Id")`): here, the client's
name from the credential store. CURVE: the peer's public key must be a known client's.
PLAIN (the PUB port in `--auth token`): username and password must be a client's
name and token. Anything else is refused and counted.

One thread per process, started with the context and stopped before it ends
(`HostRuntime` owns both); it polls with a timeout so `stop()` is prompt.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

import zmq
from zmq.utils import z85

from ambient_flow.auth.store import CredentialStore
from ambient_flow.telemetry import RateLimitedLog

__all__ = ["ZAP_DOMAIN", "ZAP_ENDPOINT", "ZapHandler"]

logger = logging.getLogger(__name__)

ZAP_ENDPOINT = "inproc://zeromq.zap.01"
ZAP_DOMAIN = b"ambient-flow"
_VERSION = b"1.0"


class ZapHandler:
    """Serves ZAP requests from a thread; `on_result(mechanism, ok)` counts each one."""

    def __init__(
        self,
        context: zmq.Context[Any],
        store: CredentialStore,
        on_result: Callable[[str, bool], None] | None = None,
    ) -> None:
        self._store = store
        self._on_result = on_result
        self._log = RateLimitedLog(logger)
        self._stop = threading.Event()
        self._sock: zmq.Socket[Any] = context.socket(zmq.REP)
        self._sock.setsockopt(zmq.LINGER, 0)
        self._sock.bind(ZAP_ENDPOINT)
        self._thread = threading.Thread(target=self._run, name="af-zap", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)

    def _run(self) -> None:
        sock = self._sock
        try:
            while not self._stop.is_set():
                if not sock.poll(100):
                    continue
                request = sock.recv_multipart()
                sock.send_multipart(self._reply(request))
        except zmq.ZMQError as exc:  # the context is ending under us
            logger.debug("ZAP handler stopped: %s", exc)
        finally:
            sock.close(linger=0)

    def _reply(self, request: list[bytes]) -> list[bytes]:
        if len(request) < 6:
            return [_VERSION, request[1] if len(request) > 1 else b"", b"400", b"bad", b"", b""]
        version, request_id, domain, address, _identity, mechanism = request[:6]
        credentials = request[6:]
        name: str | None = None
        if version == _VERSION and domain == ZAP_DOMAIN:
            name = self._check(mechanism, credentials)
        kind = mechanism.decode("ascii", "replace").lower()
        if self._on_result is not None:
            self._on_result(kind, name is not None)
        if name is None:
            self._log.log(
                logging.WARNING,
                f"zap:{kind}",
                "refused a %s handshake from %s (unknown credential)",
                kind,
                address.decode("utf-8", "replace"),
            )
            return [_VERSION, request_id, b"400", b"unknown credential", b"", b""]
        return [_VERSION, request_id, b"200", b"OK", name.encode("utf-8"), b""]

    def _check(self, mechanism: bytes, credentials: list[bytes]) -> str | None:
        if mechanism == b"CURVE" and len(credentials) == 1 and len(credentials[0]) == 32:
            return self._store.name_for_key(z85.encode(credentials[0]).decode("ascii"))
        if mechanism == b"PLAIN" and len(credentials) == 2:
            username = credentials[0].decode("utf-8", "replace")
            token = credentials[1].decode("utf-8", "replace")
            name = self._store.name_for_token(token)
            return name if name is not None and name == username else None
        return None
