from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import zmq

from ambient_flow.capture import CaptureReader, CaptureWriter
from ambient_flow.client.playback import PlaybackOptions, stream_capture
from ambient_flow.client.synth import SynthOptions, synthesize_capture
from ambient_flow.errors import CaptureError
from ambient_flow.protocol.messages import RawMessage

from .helpers import ControlServer, FakeClock, TcpSink, drain

Bind = Callable[..., tuple[zmq.Socket[Any], int]]
MakeServer = Callable[..., ControlServer]
OPTS = SynthOptions(duration_s=1.0, width=160, height=120, heartbeat_interval_s=0.4)


@pytest.mark.parametrize("encoding", ["envelope", "multipart"])
def test_stream_capture_sends_exactly_the_recorded_frames(
    zctx: zmq.Context[Any], bind: Bind, control_server: MakeServer, tmp_path: Path, encoding: Any
) -> None:
    path = tmp_path / "c.zmqcap"
    synthesize_capture(path, replace(OPTS, encoding=encoding))
    recorded = list(CaptureReader(path))
    audio, audio_port = bind(zctx, zmq.PULL)
    video, video_port = bind(zctx, zmq.PULL)
    server = control_server()
    stats = stream_capture(
        path,
        PlaybackOptions(
            audio_port=audio_port, video_port=video_port, control_port=server.port, realtime=False
        ),
        context=zctx,
    )
    got_audio, got_video = drain(audio), drain(video)
    assert got_audio == [list(r.parts) for r in recorded if r.channel == "audio"]
    assert got_video == [list(r.parts) for r in recorded if r.channel == "video"]
    assert server.raw == [r.parts[0] for r in recorded if r.channel == "control"]
    assert stats.records == len(recorded)
    assert dict(stats.sent) == {"audio": 10, "video": 5, "control": 4}  # hello, 2 heartbeats, bye
    assert dict(stats.drops) == {}
    assert stats.control_replies == 4
    assert stats.peers == 3


def test_stream_capture_over_tcp_is_byte_exact(
    tcp_sink: Callable[..., TcpSink], tmp_path: Path
) -> None:
    path = tmp_path / "t.zmqcap"
    synthesize_capture(path, replace(OPTS, transport="tcp", client="t"))
    recorded = list(CaptureReader(path))
    sink = tcp_sink()
    stats = stream_capture(path, PlaybackOptions(tcp_port=sink.port, realtime=False))
    expected = b"".join(r.parts[0] for r in recorded)
    sink.wait_bytes(len(expected))
    assert len(sink.connections) == 1
    assert bytes(sink.connections[0]) == expected
    assert dict(stats.sent) == {"tcp": len(recorded)}


def test_each_recorded_peer_gets_its_own_connection(
    tcp_sink: Callable[..., TcpSink], tmp_path: Path
) -> None:
    path = tmp_path / "two.zmqcap"
    env = b"\x00\x00\x00\x02\x00\x00\x00\x00{}"
    with CaptureWriter(path, meta={"created_at": 0, "host": "t"}) as writer:
        for i in range(6):
            peer = f"p{5000 + i % 2}"
            writer.write(RawMessage("tcp", (env,), 1_000 + i, i, "10.0.0.1", peer))
    sink = tcp_sink()
    stats = stream_capture(path, PlaybackOptions(tcp_port=sink.port, realtime=False))
    sink.wait_bytes(6 * len(env))
    assert sorted(len(c) for c in sink.connections) == [3 * len(env), 3 * len(env)]
    assert stats.peers == 2


def test_realtime_replay_keeps_the_recorded_gaps(
    zctx: zmq.Context[Any], bind: Bind, tmp_path: Path
) -> None:
    path = tmp_path / "r.zmqcap"
    synthesize_capture(path, replace(OPTS, video=None, control=False))
    recorded = list(CaptureReader(path))
    _, audio_port = bind(zctx, zmq.PULL)
    clock = FakeClock()
    began = clock.now
    stats = stream_capture(
        path,
        PlaybackOptions(audio_port=audio_port, realtime=True, speed=2.0),
        context=zctx,
        clock=clock,
        sleep=clock.sleep,
    )
    span_s = (recorded[-1].received_ns - recorded[0].received_ns) / 1e9
    assert clock.now - began == pytest.approx(span_s / 2, abs=1e-6)
    assert len(clock.sleeps) == len(recorded) - 1
    assert stats.sent == {"audio": 10}


def test_not_a_capture_is_refused(tmp_path: Path) -> None:
    bogus = tmp_path / "x.zmqcap"
    bogus.write_bytes(b"hello")
    with pytest.raises(CaptureError):
        stream_capture(bogus, PlaybackOptions(realtime=False))


def test_a_capture_played_under_a_new_name_says_it_in_hello_and_headers() -> None:
    from ambient_flow.client.rename import rename_parts
    from ambient_flow.protocol.codec import decode_envelope, parse_header
    from ambient_flow.testing.messages import audio_parts

    hello = rename_parts("control", (b'{"cmd":"hello","capabilities":["audio"]}',), "kitchen")
    assert parse_header(hello[0]) == {
        "cmd": "hello",
        "capabilities": ["audio"],
        "client": "kitchen",
    }
    # A heartbeat without a name follows its connection's hello: untouched.
    assert rename_parts("control", (b'{"cmd":"heartbeat"}',), "kitchen") == (
        b'{"cmd":"heartbeat"}',
    )
    named = tuple(audio_parts(3, client="mic"))
    (envelope,) = rename_parts("audio", named, "kitchen")
    head, payload = decode_envelope(envelope)
    assert parse_header(head)["client"] == "kitchen"
    assert payload == decode_envelope(named[0])[1]  # the audio is untouched
    two = tuple(audio_parts(3, client="mic", envelope=False))
    assert parse_header(rename_parts("audio", two, "kitchen")[0])["client"] == "kitchen"
    legacy = tuple(audio_parts(3))  # no client field: named by the connection's hello
    assert rename_parts("audio", legacy, "kitchen") == legacy
    for broken in ((b"garbage",), (b'{"cmd":',), (b"\x00\x00\x00\x09\x00\x00\x00\x00[1,2,3]xx",)):
        assert rename_parts("audio", broken, "kitchen") == broken  # rejected as recorded


def test_renaming_is_refused_for_a_capture_of_several_clients(tmp_path: Path) -> None:
    from ambient_flow.errors import ConfigError
    from ambient_flow.testing.messages import audio_raw

    path = tmp_path / "two.zmqcap"
    with CaptureWriter(path, {"created_at": 0}) as writer:
        for seq in range(3):
            writer.write(audio_raw(seq, client="a"))
            writer.write(audio_raw(seq, client="b"))
    with pytest.raises(ConfigError, match=r"2 clients \(a, b\): a new name can be given to one"):
        stream_capture(path, PlaybackOptions(name="kitchen", realtime=False))
    with pytest.raises(ConfigError, match="name='a/b'"):
        PlaybackOptions(name="a/b")
