from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import cv2
import numpy as np
import pytest
import zmq

from ambient_flow.client.media import ImageOptions, PatternOptions, ToneOptions
from ambient_flow.client.sender import Sender, SenderOptions
from ambient_flow.errors import ConfigError
from ambient_flow.protocol.codec import decode_envelope, parse_header, split_parts
from ambient_flow.protocol.messages import AudioChunk, RawMessage, VideoFrame
from ambient_flow.protocol.parse import parse_raw

from .helpers import ControlServer, TcpSink, drain, free_port

Bind = Callable[..., tuple[zmq.Socket[Any], int]]
MakeServer = Callable[..., ControlServer]


def _parse(channel: Any, parts: list[bytes]) -> Any:
    raw = RawMessage(channel, tuple(parts), 0, 0, "127.0.0.1", "fd1")
    return parse_raw(raw, fallback_client="conn-1")


def _zmq_options(audio_port: int, video_port: int, **kw: Any) -> SenderOptions:
    base: dict[str, Any] = {
        "audio_port": audio_port,
        "video_port": video_port,
        "control": False,
        "duration_s": 0.5,
        "realtime": False,
        "fps": 10.0,
        "width": 160,
        "height": 120,
        "send_block_ms": 2000,
    }
    base.update(kw)
    return SenderOptions(**base)


@pytest.mark.parametrize(("encoding", "nframes"), [("envelope", 1), ("multipart", 2)])
def test_sender_over_zmq_delivers_parseable_messages(
    zctx: zmq.Context[Any], bind: Bind, encoding: Any, nframes: int
) -> None:
    audio, audio_port = bind(zctx, zmq.PULL)
    video, video_port = bind(zctx, zmq.PULL)
    stats = Sender(_zmq_options(audio_port, video_port, encoding=encoding), context=zctx).run()

    audio_msgs, video_msgs = drain(audio), drain(video)
    assert [len(m) for m in audio_msgs] == [nframes] * 5
    assert [len(m) for m in video_msgs] == [nframes] * 5
    heads = [parse_header(split_parts(m)[0]) for m in audio_msgs]
    assert [h["seq"] for h in heads] == [0, 1, 2, 3, 4]
    assert all("client" not in h and "session" not in h for h in heads)  # like real clients
    assert {h["source"] for h in heads} == {"synthetic"}
    assert np.diff([h["ts"] for h in heads]).tolist() == [100, 100, 100, 100]
    chunks = [_parse("audio", m) for m in audio_msgs]
    assert all(isinstance(c, AudioChunk) and c.num_samples == 1600 for c in chunks)
    assert {c.client for c in chunks} == {"conn-1"}
    frames = [_parse("video", m) for m in video_msgs]
    assert all(isinstance(f, VideoFrame) for f in frames)
    assert [f.sequence for f in frames] == [0, 1, 2, 3, 4]
    assert frames[2].image().shape == (120, 160, 3)
    assert (stats.audio_chunks, stats.video_frames) == (5, 5)
    assert (stats.audio_sent, stats.video_sent, stats.drops) == (5, 5, 0)
    assert stats.bytes == sum(len(f) for m in audio_msgs + video_msgs for f in m)
    assert stats.control is None


def test_sender_names_client_and_session_when_asked(zctx: zmq.Context[Any], bind: Bind) -> None:
    audio, audio_port = bind(zctx, zmq.PULL)
    video, video_port = bind(zctx, zmq.PULL)
    opts = _zmq_options(
        audio_port, video_port, client="desk-1", session="s42", video=None, duration_s=0.3
    )
    Sender(opts, context=zctx).run()
    heads = [parse_header(split_parts(m)[0]) for m in drain(audio)]
    assert [(h["client"], h["session"], h["seq"]) for h in heads] == [
        ("desk-1", "s42", 0),
        ("desk-1", "s42", 1),
        ("desk-1", "s42", 2),
    ]
    assert not video.poll(50)


def test_sender_over_tcp_carries_audio_video_and_control(
    tcp_sink: Callable[..., TcpSink],
) -> None:
    from ambient_flow.protocol.codec import encode_envelope

    from .helpers import standard_answer

    def answer(env: bytes) -> bytes | None:
        head = parse_header(decode_envelope(env)[0])
        if head["type"] != "control":
            return None
        return encode_envelope({"type": "control", **standard_answer(head)}, b"")

    sink = tcp_sink(answer)
    opts = SenderOptions(
        transport="tcp",
        tcp_port=sink.port,
        duration_s=0.5,
        realtime=False,
        client="tcp-client",
        hello_wait_s=3.0,
    )
    stats = Sender(opts).run()
    time.sleep(0.1)
    envs = sink.envelopes[0]
    heads = [parse_header(decode_envelope(e)[0]) for e in envs]
    kinds = [h["type"] for h in heads]
    assert kinds[0] == "control"
    assert heads[0]["cmd"] == "hello"
    assert heads[-1] == {"type": "control", "cmd": "bye", "client": "tcp-client"}
    # The server's hello reply was adopted: 50 ms chunks, 4 fps, 160x120.
    audio = [h for h in heads if h["type"] == "audio"]
    video = [h for h in heads if h["type"] == "video"]
    assert [h["seq"] for h in audio] == list(range(10))
    assert [h["seq"] for h in video] == [0, 1]
    assert {(h["w"], h["h"], h["quality"]) for h in video} == {(160, 120, 40)}
    parsed = [_parse("tcp", [e]) for e in envs]
    assert sum(isinstance(p, AudioChunk) and p.num_samples == 800 for p in parsed) == 10
    assert all(p.client == "tcp-client" for p in parsed)
    assert stats.server_config is not None
    assert stats.server_config.audio_chunk_ms == 50
    assert stats.drops == 0
    assert stats.reconnects == 0


def test_sender_keeps_streaming_when_control_is_unreachable(
    zctx: zmq.Context[Any], bind: Bind
) -> None:
    audio, audio_port = bind(zctx, zmq.PULL)
    video, video_port = bind(zctx, zmq.PULL)
    opts = _zmq_options(
        audio_port,
        video_port,
        control=True,
        control_port=free_port(),
        control_timeout_s=0.05,
        control_retries=1,
        hello_wait_s=0.02,
        duration_s=0.6,
        realtime=True,
    )
    began = time.monotonic()
    stats = Sender(opts, context=zctx).run()
    elapsed = time.monotonic() - began
    assert len(drain(audio)) == 6  # media started before hello gave up, and went on
    assert len(drain(video)) == 6
    assert stats.control is not None
    assert stats.control.resends == 1
    assert stats.control.unreachable == 1
    assert stats.control.reachable is False
    assert stats.server_config is None
    assert stats.settings is not None
    assert stats.settings.chunk_ms == 100
    assert elapsed < 2.0


def test_sender_adopts_the_servers_config(
    zctx: zmq.Context[Any], bind: Bind, control_server: MakeServer
) -> None:
    server = control_server()
    audio, audio_port = bind(zctx, zmq.PULL)
    video, video_port = bind(zctx, zmq.PULL)
    opts = SenderOptions(
        audio_port=audio_port,
        video_port=video_port,
        control_port=server.port,
        duration_s=0.5,
        realtime=False,
        send_block_ms=2000,
    )
    stats = Sender(opts, context=zctx).run()
    audio_msgs, video_msgs = drain(audio), drain(video)
    assert len(audio_msgs) == 10  # 50 ms chunks
    assert all(len(decode_envelope(m[0])[1]) == 1600 for m in audio_msgs)
    assert len(video_msgs) == 2  # 4 fps for 0.5 s
    img = cv2.imdecode(np.frombuffer(decode_envelope(video_msgs[0][0])[1], np.uint8), 1)
    assert img.shape == (120, 160, 3)
    time.sleep(0.05)
    assert server.commands()[0] == "hello"
    assert server.commands()[-1] == "bye"
    assert stats.control is not None
    assert stats.control.reachable is True
    assert stats.last_control_reply == {"status": "ok"}


def test_explicit_options_win_over_the_servers_config(
    zctx: zmq.Context[Any], bind: Bind, control_server: MakeServer
) -> None:
    server = control_server()
    audio, audio_port = bind(zctx, zmq.PULL)
    _, video_port = bind(zctx, zmq.PULL)
    opts = SenderOptions(
        audio_port=audio_port,
        video_port=video_port,
        control_port=server.port,
        video=None,
        chunk_ms=100,
        duration_s=0.3,
        realtime=False,
        send_block_ms=2000,
    )
    stats = Sender(opts, context=zctx).run()
    assert [len(decode_envelope(m[0])[1]) for m in drain(audio)] == [3200] * 3
    assert stats.settings is not None
    assert stats.settings.fps == 4.0


def test_realtime_sender_keeps_time(zctx: zmq.Context[Any], bind: Bind) -> None:
    audio, audio_port = bind(zctx, zmq.PULL)
    _, video_port = bind(zctx, zmq.PULL)
    opts = _zmq_options(audio_port, video_port, realtime=True, duration_s=0.5, video=None)
    began = time.monotonic()
    Sender(opts, context=zctx).run()
    elapsed = time.monotonic() - began
    ts = [parse_header(decode_envelope(m[0])[0])["ts"] for m in drain(audio)]
    assert len(ts) == 5
    assert 0.35 < elapsed < 2.0
    assert all(80 <= d <= 160 for d in np.diff(ts))  # wall-clock ts, 100 ms apart


def test_stop_ends_an_unbounded_run(zctx: zmq.Context[Any], bind: Bind) -> None:
    _, audio_port = bind(zctx, zmq.PULL)
    _, video_port = bind(zctx, zmq.PULL)
    opts = _zmq_options(audio_port, video_port, realtime=True, duration_s=None)
    sender = Sender(opts, context=zctx)
    threading.Timer(0.3, sender.stop).start()
    began = time.monotonic()
    stats = sender.run()
    assert time.monotonic() - began < 2.0
    assert 2 <= stats.audio_chunks <= 6


def test_finite_source_ends_the_run(zctx: zmq.Context[Any], bind: Bind, tmp_path: Any) -> None:
    video, video_port = bind(zctx, zmq.PULL)
    _, audio_port = bind(zctx, zmq.PULL)
    img = np.full((10, 10, 3), 128, np.uint8)
    cv2.imwrite(str(tmp_path / "one.png"), img)
    opts = _zmq_options(
        audio_port,
        video_port,
        audio=None,
        duration_s=None,
        video=ImageOptions(str(tmp_path / "one.png"), loop=False),
    )
    stats = Sender(opts, context=zctx).run()
    assert stats.video_frames == 1
    assert len(drain(video)) == 1


def test_source_errors_surface_before_streaming(zctx: zmq.Context[Any], bind: Bind) -> None:
    _, audio_port = bind(zctx, zmq.PULL)
    _, video_port = bind(zctx, zmq.PULL)
    opts = _zmq_options(audio_port, video_port, video=ImageOptions("/nonexistent/x.png"))
    with pytest.raises(ConfigError, match="no such file"):
        Sender(opts, context=zctx).run()


def test_options_are_validated() -> None:
    with pytest.raises(ConfigError):
        SenderOptions(audio=None, video=None)
    with pytest.raises(ConfigError):
        SenderOptions(client="")
    with pytest.raises(ConfigError):
        SenderOptions(transport="udp")  # type: ignore[arg-type]
    with pytest.raises(ConfigError):
        SenderOptions(quality=101)
    assert SenderOptions().capabilities == ("audio", "video")
    assert SenderOptions(video=None, audio=ToneOptions()).capabilities == ("audio",)
    assert isinstance(SenderOptions().video, PatternOptions)
