from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
import zmq

from ambient_flow.client.tcp import TcpTransport
from ambient_flow.client.transport import ZmqTransport, encode_message
from ambient_flow.protocol.codec import (
    audio_header,
    decode_envelope,
    encode_envelope,
    parse_header,
    split_parts,
)

from .helpers import FakeClock, TcpSink, free_port, recv_all

Bind = Callable[..., tuple[zmq.Socket[Any], int]]


@pytest.mark.parametrize(("encoding", "nframes"), [("envelope", 1), ("multipart", 2)])
def test_zmq_transport_delivers_both_encodings(
    zctx: zmq.Context[Any], bind: Bind, encoding: Any, nframes: int
) -> None:
    audio, audio_port = bind(zctx, zmq.PULL)
    video, video_port = bind(zctx, zmq.PULL)
    transport = ZmqTransport(
        zctx, "127.0.0.1", audio_port=audio_port, video_port=video_port, send_block_ms=2000
    )
    try:
        for seq in range(3):
            frames = encode_message(audio_header(1000 + seq, seq), b"\x01\x00" * 1600, encoding)
            assert transport.send("audio", frames)
        got = recv_all(audio, 3)
    finally:
        transport.close()
    assert [len(m) for m in got] == [nframes] * 3
    headers = [parse_header(split_parts(m)[0]) for m in got]
    assert [h["seq"] for h in headers] == [0, 1, 2]
    assert transport.stats.audio.sent == 3
    assert transport.stats.audio.bytes == sum(sum(len(f) for f in m) for m in got)
    assert transport.stats.drops == 0
    assert not video.poll(50)


def test_zmq_sends_to_an_absent_server_drop_without_blocking(zctx: zmq.Context[Any]) -> None:
    port = free_port()
    transport = ZmqTransport(
        zctx,
        "127.0.0.1",
        audio_port=port,
        video_port=port + 1 if port < 65535 else port - 1,
        send_block_ms=0,
    )
    try:
        began = time.monotonic()
        results = [transport.send("audio", [b"x"]) for _ in range(100)]
        elapsed = time.monotonic() - began
    finally:
        transport.close()
    # ZMQ_IMMEDIATE: no queue towards a peer that is not there, so nothing stale piles up.
    assert results == [False] * 100
    assert transport.stats.audio.drops == 100
    assert elapsed < 1.0


def test_zmq_small_hwm_drops_instead_of_queueing(zctx: zmq.Context[Any], bind: Bind) -> None:
    pull, port = bind(zctx, zmq.PULL)
    pull.setsockopt(zmq.RCVHWM, 1)
    transport = ZmqTransport(
        zctx, "127.0.0.1", audio_port=port, video_port=port, sndhwm=1, send_block_ms=0
    )
    try:
        assert transport.wait_ready(2.0)
        big = [b"\x00" * 1_000_000]
        sent = [transport.send("audio", big) for _ in range(200)]
    finally:
        transport.close()
    assert sent.count(False) == transport.stats.audio.drops > 0
    assert transport.stats.audio.sent == sent.count(True)


def test_tcp_transport_writes_envelopes_back_to_back(tcp_sink: Callable[..., TcpSink]) -> None:
    sink = tcp_sink()
    transport = TcpTransport("127.0.0.1", sink.port)
    envelopes = [encode_envelope(audio_header(seq, seq), b"\x00\x01" * 800) for seq in range(5)]
    try:
        for env in envelopes:
            assert transport.send("audio", [env])
        # Two frames (multipart) are joined into one envelope on a byte stream.
        assert transport.send("video", [b'{"type":"video"}', b"\xff\xd8jpeg"])
        assert transport.drain(2.0)
        sink.wait_bytes(sum(map(len, envelopes)) + 8 + 16 + 6)
    finally:
        transport.close()
    assert len(sink.connections) == 1
    assert sink.envelopes[0][:5] == envelopes
    assert decode_envelope(sink.envelopes[0][5]) == (b'{"type":"video"}', b"\xff\xd8jpeg")
    assert transport.stats.audio.sent == 5
    assert transport.stats.video.sent == 1
    assert transport.stats.reconnects == 0


def test_tcp_backoff_is_exponential_capped_and_counted(fake_clock: FakeClock) -> None:
    port = free_port()
    transport = TcpTransport(
        "127.0.0.1",
        port,
        backoff_initial_s=0.1,
        backoff_max_s=0.8,
        max_buffer_bytes=1000,
        clock=fake_clock,
    )
    waits = []
    try:
        for _ in range(6):
            transport.service()  # attempts now, fails (connection refused)
            before = transport.stats.connect_failures
            transport.service()  # too early: no new attempt
            assert transport.stats.connect_failures == before
            waits.append(transport.next_connect_at - fake_clock.now)
            fake_clock.advance(waits[-1])
        # Bounded outbox while disconnected: what does not fit is dropped and counted.
        sent = [transport.send("audio", [b"\x00" * 300]) for _ in range(5)]
    finally:
        transport.close()
    assert waits == pytest.approx([0.1, 0.2, 0.4, 0.8, 0.8, 0.8])
    assert transport.stats.connect_failures == 7  # the sends tried once more, on time
    assert sent == [True, True, True, False, False]
    assert transport.stats.audio.drops == 2


def test_tcp_reconnects_after_the_server_drops_the_connection(
    tcp_sink: Callable[..., TcpSink],
) -> None:
    sink = tcp_sink()
    transport = TcpTransport("127.0.0.1", sink.port, backoff_initial_s=0.05)
    try:
        assert transport.send("audio", [encode_envelope({"type": "audio"}, b"\x00\x00")])
        assert transport.drain(2.0)
        sink.wait_bytes(1)
        sink.close_connections()
        deadline = time.monotonic() + 3.0
        while transport.stats.reconnects == 0 and time.monotonic() < deadline:
            transport.service()
            time.sleep(0.01)
        assert transport.send("audio", [encode_envelope({"type": "audio"}, b"\x01\x00")])
        assert transport.drain(2.0)
    finally:
        transport.close()
    assert transport.stats.reconnects == 1
    deadline = time.monotonic() + 2.0
    while len(sink.envelopes) < 2 or not sink.envelopes[1]:
        assert time.monotonic() < deadline, "second connection got nothing"
        time.sleep(0.01)
    assert decode_envelope(sink.envelopes[1][0])[1] == b"\x01\x00"


def test_tcp_transport_collects_control_replies(tcp_sink: Callable[..., TcpSink]) -> None:
    def answer(env: bytes) -> bytes | None:
        head = parse_header(decode_envelope(env)[0])
        if head.get("type") != "control":
            return None
        return encode_envelope({"type": "control", "status": "ok", "echo": head["cmd"]}, b"")

    sink = tcp_sink(answer)
    transport = TcpTransport("127.0.0.1", sink.port)
    try:
        transport.send("control", [encode_envelope({"type": "control", "cmd": "hello"}, b"")])
        deadline = time.monotonic() + 3.0
        while not transport.replies and time.monotonic() < deadline:
            transport.wait_readable(0.05)
            transport.service()
    finally:
        transport.close()
    assert list(transport.replies) == [{"status": "ok", "echo": "hello"}]
    assert transport.stats.control.sent == 1


def test_discard_queued_drops_only_that_channel_while_disconnected(fake_clock: FakeClock) -> None:
    transport = TcpTransport("127.0.0.1", free_port(), clock=fake_clock)
    try:
        transport.send("control", [b"hello-1"])
        transport.send("audio", [b"pcm"])
        transport.send("control", [b"hello-2"])
        assert transport.discard_queued("control") == 2
        assert transport.pending_bytes == 3
    finally:
        transport.close()


def test_tcp_messages_lost_with_a_broken_connection_are_counted_unconfirmed(
    tcp_sink: Callable[..., TcpSink],
) -> None:
    """The server confirms what it read by answering control requests; what a broken
    connection took with it is never reported as nothing lost."""

    def answer(env: bytes) -> bytes | None:
        head, _ = decode_envelope(env)
        if b'"control"' in head:
            return encode_envelope({"type": "control", "status": "ok"}, b"")
        return None

    sink = tcp_sink(reply=answer)
    transport = TcpTransport("127.0.0.1", sink.port, backoff_initial_s=0.05)
    pcm = bytes(3200)
    try:
        for seq in range(300):
            transport.send("audio", [encode_envelope({"type": "audio", "seq": seq}, pcm)])
            if seq % 25 == 0:
                transport.send(
                    "control", [encode_envelope({"type": "control", "cmd": "heartbeat"}, b"")]
                )
            if seq == 150:
                transport.drain(1.0)
                time.sleep(0.2)  # the replies so far are in
                transport.service()
                sink.paused.set()  # the server stops reading ...
            if seq == 200:
                transport.drain(0.2)
                sink.close_connections()  # ... and goes away with what it had not read
                sink.paused.clear()
            transport.service()
            time.sleep(0.002)
        transport.drain(2.0)
        time.sleep(0.3)
    finally:
        transport.close()
    arrived = sum(1 for envs in sink.envelopes for e in envs if b'"audio"' in decode_envelope(e)[0])
    sent, unconfirmed = transport.stats.audio.sent, transport.stats.audio.unconfirmed
    assert arrived < sent  # the broken connection did take messages with it
    assert unconfirmed >= sent - arrived  # and every one of them is counted
    assert unconfirmed <= 200 - 125  # only what came after the last confirmation
