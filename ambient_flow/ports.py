"""Ports: check them before a flow starts, bind them with errors a person can act on.

Sources bind in `build_part` on a worker; a failure there reaches the user wrapped
in Bytewax's runtime error. Checking first turns the common case (a port in use)
into a `StartupError` that names the port and the fix; `bind_or_explain` gives the
same message when a socket does fail to bind.
"""

from __future__ import annotations

import errno
import socket
from typing import Any

import zmq

from ambient_flow.config import Settings
from ambient_flow.errors import AmbientFlowError, StartupError

__all__ = ["bind_or_explain", "check_ports", "port_hint", "startup_cause"]

_FLAGS = {
    "audio": "--audio-port",
    "video": "--video-port",
    "control": "--control-port",
    "tcp": "--tcp-port",
    "metrics": "--metrics-port",
    "pub": "--pub-port",
}


def port_hint(channel: str) -> str:
    flag = _FLAGS.get(channel, "--bind")
    env = "AMBIENT_FLOW_" + flag.lstrip("-").replace("-", "_").upper()
    off = " (0 turns it off)" if channel in ("tcp", "metrics", "pub") else ""
    return (
        f"another program (another ambient-flow?) already uses it; stop it, or choose another "
        f"port with {flag} or {env}{off}"
    )


def check_ports(settings: Settings) -> None:
    """Raise `StartupError` for the first port of `settings` that cannot be bound."""
    host = "0.0.0.0" if settings.bind == "*" else settings.bind
    ports = {
        "audio": settings.audio_port,
        "video": settings.video_port,
        "control": settings.control_port,
        "tcp": settings.tcp_port,
        "metrics": settings.metrics_port,
        "pub": settings.pub_port if settings.enrich else 0,
    }
    for channel, port in ports.items():
        if not port:
            continue
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((host, port))
            except OSError as exc:
                why = (
                    port_hint(channel)
                    if exc.errno == errno.EADDRINUSE
                    else "check --bind / AMBIENT_FLOW_BIND (an address of this host, or *)"
                )
                raise StartupError(
                    f"cannot bind the {channel} port {host}:{port}: {exc.strerror}; {why}"
                ) from exc


def startup_cause(exc: BaseException) -> AmbientFlowError | None:
    """Our own error inside Bytewax's wrapping (`__cause__` chain), if there is one."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, AmbientFlowError):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def bind_or_explain(sock: zmq.Socket[Any], endpoint: str, channel: str) -> None:
    """Bind a ZeroMQ socket, turning the usual failure into an error that says what to do."""
    try:
        sock.bind(endpoint)
    except zmq.ZMQError as exc:
        sock.close(linger=0)
        hint = (
            port_hint(channel)
            if exc.errno == errno.EADDRINUSE
            else "check --bind / AMBIENT_FLOW_BIND (an address of this host, or *)"
        )
        raise StartupError(
            f"cannot bind the {channel} port {endpoint}: {exc.strerror}; {hint}"
        ) from exc
