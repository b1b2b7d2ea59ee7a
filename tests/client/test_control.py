from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
import zmq

from ambient_flow.client.control import (
    ControlOptions,
    ControlSession,
    ServerConfig,
    TcpControlChannel,
    ZmqControlChannel,
)
from ambient_flow.client.tcp import TcpTransport
from ambient_flow.errors import ProtocolError
from ambient_flow.protocol.codec import decode_envelope, encode_envelope, parse_header

from .helpers import SERVER_CONFIG, ControlServer, FakeClock, TcpSink, free_port, standard_answer

MakeServer = Callable[..., ControlServer]


def _session(ctx: zmq.Context[Any], port: int, **opts: Any) -> ControlSession:
    options = ControlOptions(**{"timeout_s": 0.1, "retries": 2, **opts})
    return ControlSession(ZmqControlChannel(ctx, "127.0.0.1", port), options)


def test_hello_without_a_server_gives_up_after_bounded_retries(zctx: zmq.Context[Any]) -> None:
    session = _session(zctx, free_port(), retry_later_s=0.2)
    try:
        began = time.monotonic()
        assert not session.wait_for_hello(5.0)
        elapsed = time.monotonic() - began
        stats = session.stats
        assert session.config is None
        assert (stats.requests, stats.timeouts, stats.resends) == (1, 3, 2)
        assert stats.unreachable == 1
        assert stats.reachable is False
        assert 0.25 < elapsed < 1.5  # three timeouts of 0.1 s, not the 5 s allowed

        # Polling never blocks, and after retry_later_s a new hello goes out.
        time.sleep(0.25)
        t0 = time.monotonic()
        session.poll()
        assert time.monotonic() - t0 < 0.05
        assert session.stats.requests == 2
    finally:
        session.close()


def test_hello_reply_config_is_adopted_and_heartbeats_follow(
    zctx: zmq.Context[Any], control_server: MakeServer
) -> None:
    server = control_server()
    session = _session(zctx, server.port, client="desk-1", capabilities=("audio",))
    try:
        assert session.wait_for_hello(3.0)
        assert session.config == ServerConfig(
            audio_chunk_ms=50,
            video_fps=4.0,
            video_width=160,
            video_height=120,
            video_quality=40,
            heartbeat_interval_s=0.2,
        )
        assert session.heartbeat_interval_s == 0.2
        deadline = time.monotonic() + 3.0
        while session.stats.heartbeats < 2 and time.monotonic() < deadline:
            session.poll()
            time.sleep(0.01)
        assert session.bye(1.0)
    finally:
        session.close()
    time.sleep(0.05)
    assert server.requests[0] == {"cmd": "hello", "client": "desk-1", "capabilities": ["audio"]}
    assert server.commands()[1:] == ["heartbeat", "heartbeat", "bye"]
    assert all(r["client"] == "desk-1" for r in server.requests)
    assert session.stats.last_reply == {"status": "ok"}


def test_hello_without_client_name_sends_no_client_field(
    zctx: zmq.Context[Any], control_server: MakeServer
) -> None:
    server = control_server()
    session = _session(zctx, server.port, heartbeat=False)
    try:
        assert session.wait_for_hello(3.0)
    finally:
        session.close()
    assert server.requests == [{"cmd": "hello", "capabilities": ["audio", "video"]}]


def test_lost_reply_is_retried_on_a_fresh_socket(
    zctx: zmq.Context[Any], control_server: MakeServer
) -> None:
    seen = []

    def first_lost(request: dict[str, Any]) -> dict[str, Any] | None:
        seen.append(request)
        return None if len(seen) == 1 else standard_answer(request)

    server = control_server(first_lost, router=True)
    session = _session(zctx, server.port)
    try:
        assert session.wait_for_hello(3.0)
    finally:
        session.close()
    assert server.commands() == ["hello", "hello"]
    assert (session.stats.timeouts, session.stats.resends, session.stats.unreachable) == (1, 1, 0)
    assert session.stats.reachable is True


def test_error_reply_to_heartbeat_triggers_a_new_hello(
    zctx: zmq.Context[Any], control_server: MakeServer
) -> None:
    def forgetful(request: dict[str, Any]) -> dict[str, Any]:
        if request["cmd"] == "heartbeat":
            return {"error": "unknown client"}
        return standard_answer(request)

    server = control_server(forgetful)
    session = _session(zctx, server.port)
    try:
        assert session.wait_for_hello(3.0)
        deadline = time.monotonic() + 3.0
        while server.commands().count("hello") < 2 and time.monotonic() < deadline:
            session.poll()
            time.sleep(0.01)
    finally:
        session.close()
    assert server.commands()[:3] == ["hello", "heartbeat", "hello"]
    assert session.stats.errors >= 1


def test_poll_is_non_blocking_with_a_fake_clock(zctx: zmq.Context[Any]) -> None:
    clock = FakeClock()
    channel = ZmqControlChannel(zctx, "127.0.0.1", free_port())
    session = ControlSession(
        channel, ControlOptions(timeout_s=1.0, retries=1, retry_later_s=30.0), clock=clock
    )
    try:
        session.start()
        assert session.next_wakeup() == clock.now + 1.0
        clock.advance(1.0)
        session.poll()  # timeout 1 -> resend
        clock.advance(1.0)
        session.poll()  # timeout 2 -> unreachable, next hello in 30 s
        assert session.stats.unreachable == 1
        assert session.next_wakeup() == pytest.approx(clock.now + 30.0)
        clock.advance(29.0)
        session.poll()
        assert session.stats.requests == 1
        clock.advance(1.0)
        session.poll()
        assert session.stats.requests == 2
    finally:
        session.close()


def test_control_over_tcp_uses_control_envelopes(tcp_sink: Callable[..., TcpSink]) -> None:
    def answer(env: bytes) -> bytes:
        head = parse_header(decode_envelope(env)[0])
        assert head["type"] == "control"
        reply = standard_answer(head)
        return encode_envelope({"type": "control", **reply}, b"")

    sink = tcp_sink(answer)
    transport = TcpTransport("127.0.0.1", sink.port)
    session = ControlSession(
        TcpControlChannel(transport), ControlOptions(client="t", timeout_s=0.5)
    )
    try:
        assert session.wait_for_hello(3.0)
        assert session.bye(1.0)
    finally:
        transport.close()
    assert session.config is not None
    assert session.config.video_width == 160
    heads = [parse_header(decode_envelope(e)[0]) for e in sink.envelopes[0]]
    assert [h["cmd"] for h in heads] == ["hello", "bye"]
    assert heads[0] == {
        "type": "control",
        "cmd": "hello",
        "client": "t",
        "capabilities": ["audio", "video"],
    }
    assert all(decode_envelope(e)[1] == b"" for e in sink.envelopes[0])


def test_server_config_validation() -> None:
    assert ServerConfig.from_reply({}) == ServerConfig()
    cfg = ServerConfig.from_reply(SERVER_CONFIG)
    assert (cfg.video_width, cfg.video_height, cfg.audio_chunk_ms) == (160, 120, 50)
    assert cfg.raw["ports"]["tcp"] == 5558
    for bad in (
        {"video_res": [640]},
        {"audio_chunk_ms": "100"},
        {"video_fps": 0},
        {"video_quality": 101},
        {"audio_sample_rate": True},
    ):
        with pytest.raises(ProtocolError):
            ServerConfig.from_reply(bad)
