"""Fixtures for the sender tests: real sockets on 127.0.0.1 (closed, and checked, at teardown)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
import zmq

from .helpers import ControlServer, FakeClock, TcpSink, standard_answer


@pytest.fixture
def fake_clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def zctx() -> Iterator[zmq.Context[Any]]:
    """One context per test; teardown fails if a socket was left open."""
    ctx: zmq.Context[Any] = zmq.Context()
    yield ctx
    leaked = [s for s in list(getattr(ctx, "_sockets", ())) if not s.closed]
    for sock in leaked:
        sock.close(linger=0)
    ctx.term()
    assert not leaked, f"{len(leaked)} ZeroMQ socket(s) left open"


@pytest.fixture
def bind(zctx: zmq.Context[Any]) -> Iterator[Callable[..., tuple[zmq.Socket[Any], int]]]:
    """`bind(ctx, zmq.PULL)` -> (socket, port) on 127.0.0.1, closed at teardown."""
    sockets: list[zmq.Socket[Any]] = []

    def _bind(ctx: zmq.Context[Any], kind: int) -> tuple[zmq.Socket[Any], int]:
        sock = ctx.socket(kind)
        sock.setsockopt(zmq.LINGER, 0)
        port = sock.bind_to_random_port("tcp://127.0.0.1")
        sockets.append(sock)
        return sock, port

    yield _bind
    for sock in sockets:
        sock.close(linger=0)


@pytest.fixture
def tcp_sink() -> Iterator[Callable[..., TcpSink]]:
    sinks: list[TcpSink] = []

    def _make(reply: Callable[[bytes], bytes | None] | None = None) -> TcpSink:
        sink = TcpSink(reply)
        sinks.append(sink)
        return sink

    yield _make
    for sink in sinks:
        sink.close()


@pytest.fixture
def control_server(
    zctx: zmq.Context[Any],
) -> Iterator[Callable[..., ControlServer]]:
    servers: list[ControlServer] = []

    def _make(
        answer: Callable[[dict[str, Any]], dict[str, Any] | None] = standard_answer,
        **kwargs: Any,
    ) -> ControlServer:
        server = ControlServer(zctx, answer, **kwargs)
        servers.append(server)
        return server

    yield _make
    for server in servers:
        server.close()
