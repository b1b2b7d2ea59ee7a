"""Raw TCP :5558: envelopes back to back, control answered on the same connection."""

from __future__ import annotations

import json
import socket
import struct

import numpy as np

from ambient_flow.protocol.codec import EnvelopeStream, audio_header, encode_envelope, video_header
from ambient_flow.testing import media


def connect(host) -> socket.socket:  # type: ignore[no-untyped-def]
    sock = socket.create_connection(("127.0.0.1", host.settings.tcp_port), timeout=5)
    return sock


def control(sock: socket.socket, body: dict) -> dict:  # type: ignore[type-arg]
    sock.sendall(encode_envelope({"type": "control", **body}, b""))
    stream = EnvelopeStream()
    while True:
        records = stream.feed(sock.recv(65536))
        if records:
            (record,) = records
            header_len, payload_len = struct.unpack(">II", record[:8])
            assert payload_len == 0
            reply: dict = json.loads(record[8 : 8 + header_len])  # type: ignore[type-arg]
            return reply


def test_audio_video_and_control_share_one_connection(live_host) -> None:
    host = live_host()
    with connect(host) as sock:
        hello = control(sock, {"cmd": "hello", "client": "godot", "capabilities": ["audio"]})
        assert hello["type"] == "control" and hello["status"] == "ok"
        assert hello["config"]["audio_chunk_ms"] == 100
        jpg = media.jpeg(320, 240)
        stream = b"".join(
            encode_envelope(audio_header(1000 + 100 * s, s), media.sine_pcm(phase_samples=1600 * s))
            for s in range(5)
        ) + encode_envelope(video_header(1000, 0, w=320, h=240), jpg)
        for i in range(0, len(stream), 777):  # arbitrary split points, as TCP delivers them
            sock.sendall(stream[i : i + 777])
        beat = control(sock, {"cmd": "heartbeat"})
        assert beat["status"] == "ok" and isinstance(beat["ts"], int)
        host.wait_for(lambda o: len(o.audio()) == 5 and len(o.video()) == 1)
    out = host.outputs
    assert out.clients() == ["godot"]  # the TCP hello named its own connection
    expected = np.frombuffer(media.sine_pcm(phase_samples=6400), "<i2") / 32768.0
    np.testing.assert_allclose(out.audio()[4].samples, expected, atol=1e-7)
    assert out.video()[0].payload == jpg


def test_bad_control_json_gets_an_error_reply_and_the_connection_lives(live_host) -> None:
    host = live_host()
    with connect(host) as sock:
        reply = control(sock, {"cmd": "launch_missiles"})
        assert "error" in reply and "unknown" in reply["error"]
        assert control(sock, {"cmd": "get_config"})["status"] == "ok"


def test_impossible_lengths_close_only_that_connection(live_host) -> None:
    host = live_host()
    good, bad = connect(host), connect(host)
    try:
        bad.sendall(struct.pack(">II", 10**9, 10**9) + b"garbage")
        assert bad.recv(10) == b""  # closed by the server
        good.sendall(encode_envelope(audio_header(1, 0, client="ok"), media.sine_pcm()))
        host.wait_for(lambda o: len(o.audio("ok")) == 1)
        assert control(good, {"cmd": "heartbeat"})["status"] == "ok"
    finally:
        good.close()
        bad.close()
    host.wait_for(lambda o: len(o.rejects()) == 1)
    status = host.request({"cmd": "stats"})["stats"]
    assert status["tcp"]["closed"].get("header_too_large") == 1


def test_many_concurrent_connections(live_host) -> None:
    host = live_host()
    socks = [connect(host) for _ in range(50)]
    try:
        for seq in range(3):
            for i, sock in enumerate(socks):
                sock.sendall(
                    encode_envelope(audio_header(1000 + seq, seq, client=f"t{i}"), media.sine_pcm())
                )
        host.wait_for(lambda o: len(o.audio()) == 150, timeout=10)
    finally:
        for sock in socks:
            sock.close()
    assert len(host.outputs.clients()) == 50
    assert all(len(host.outputs.audio(f"t{i}")) == 3 for i in range(50))
