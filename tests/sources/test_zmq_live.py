"""The live flow on real ZeroMQ sockets on 127.0.0.1."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest
import zmq

from ambient_flow.protocol.codec import (
    audio_header,
    encode_envelope,
    encode_multipart,
    video_header,
)
from ambient_flow.testing import media
from ambient_flow.testing.messages import audio_parts, video_parts


@pytest.mark.parametrize("envelope", [True, False], ids=["envelope", "multipart"])
def test_sine_and_jpeg_arrive_parsed_per_client(live_host, envelope: bool) -> None:
    host = live_host()
    audio, video = host.push("audio"), host.push("video")
    jpg = media.jpeg(640, 480, seed=3)
    for seq in range(3):
        audio.send_multipart(audio_parts(seq, client="mic-a", envelope=envelope))
        video.send_multipart(video_parts(seq, client="cam-b", envelope=envelope, payload=jpg))
    host.wait_for(lambda o: len(o.audio("mic-a")) == 3 and len(o.video("cam-b")) == 3)
    chunks = host.outputs.audio("mic-a")
    expected = np.frombuffer(media.sine_pcm(phase_samples=1600), "<i2").astype(np.float32) / 32768
    np.testing.assert_array_equal(chunks[1].samples, expected)
    assert [c.start_sample for c in chunks] == [0, 1600, 3200]
    assert chunks[0].sample_rate == 16000 and chunks[0].num_samples == 1600
    frame = host.outputs.video("cam-b")[2]
    assert frame.payload == jpg and (frame.width, frame.height) == (640, 480)
    assert frame.image().shape == (480, 640, 3)
    assert host.outputs.clients() == ["cam-b", "mic-a"]


def test_a_client_that_sends_what_real_clients_send_is_accepted_unchanged(live_host) -> None:
    """Single-frame envelope, no client field, hello + heartbeat on REP."""
    host = live_host()
    req = host.context.socket(zmq.REQ)
    req.connect(host.endpoint("control"))
    req.send(
        json.dumps(
            {"cmd": "hello", "client": "selestia", "capabilities": ["audio", "video"]}
        ).encode()
    )
    hello = json.loads(req.recv())
    assert hello["status"] == "ok"
    assert hello["config"]["audio_sample_rate"] == 16000
    assert hello["config"]["video_res"] == [640, 480]
    audio, video = host.push("audio"), host.push("video")
    now = int(time.time() * 1000)
    for seq in range(5):
        pcm = media.sine_pcm(phase_samples=1600 * seq)
        audio.send(encode_envelope(audio_header(now + 100 * seq, seq), pcm))
    video.send(encode_envelope(video_header(now, 0), media.jpeg()))
    req.send(b'{"cmd":"heartbeat"}')
    beat = json.loads(req.recv())
    assert beat["status"] == "ok" and abs(beat["ts"] - time.time() * 1000) < 5000
    host.wait_for(lambda o: len(o.audio()) == 5 and len(o.video()) == 1)
    assert host.outputs.clients() == ["selestia"]
    assert not host.outputs.rejects()


def test_two_legacy_clients_stay_separate(live_host) -> None:
    host = live_host()
    a, b = host.push("audio"), host.push("audio")
    for seq in range(4):
        a.send(encode_envelope(audio_header(1000 + 100 * seq, seq), media.sine_pcm(440)))
        b.send(encode_envelope(audio_header(1000 + 100 * seq, seq), media.sine_pcm(880)))
    host.wait_for(lambda o: len(o.audio()) == 8)
    clients = host.outputs.clients()
    assert len(clients) == 2
    for client in clients:
        chunks = host.outputs.audio(client)
        assert [c.sequence for c in chunks] == [0, 1, 2, 3]
        peak = np.argmax(np.abs(np.fft.rfft(chunks[0].samples))) * 10  # 1600 samples -> 10 Hz bins
        assert peak in (440, 880)
    peaks = {np.argmax(np.abs(np.fft.rfft(host.outputs.audio(c)[0].samples))) for c in clients}
    assert len(peaks) == 2


def test_twenty_concurrent_clients_stay_separate(live_host) -> None:
    host = live_host()
    sockets = [host.push("audio") for _ in range(20)]
    for seq in range(10):
        for i, sock in enumerate(sockets):
            sock.send(
                encode_envelope(
                    audio_header(1000 + 100 * seq, seq, client=f"c{i:02d}"),
                    media.sine_pcm(200 + 50 * i, phase_samples=1600 * seq),
                )
            )
    host.wait_for(lambda o: len(o.audio()) == 200, timeout=10)
    out = host.outputs
    assert out.clients() == [f"c{i:02d}" for i in range(20)]
    for i in range(20):
        chunks = out.audio(f"c{i:02d}")
        assert [c.start_sample for c in chunks] == [1600 * s for s in range(10)]
        assert not out.events("gap", client=f"c{i:02d}")
    status = host.request({"cmd": "stats"})["stats"]
    assert status["audio"]["chunks_received"] == 200
    assert status["client_count"] == 20


BAD_AUDIO = {
    "frame_count": [b"a", b"b", b"c"],
    "envelope_short": [b"\x00\x00\x00\x10\x00\x00\x00\x00{}"],
    "envelope_trailing": [encode_envelope(b'{"type":"audio"}', b"") + b"xx"],
    "not_json": [b"{nope", b"\x00\x00"],
    "header_not_object": [b"[1,2]", b"\x00\x00"],
    "unknown_type": [b'{"type":"midi","ts":1,"seq":0}', b"\x00\x00"],
    "missing_field": [b'{"type":"audio","seq":0}', b"\x00\x00"],
    "bad_field": [b'{"type":"audio","ts":"now","seq":0}', b"\x00\x00"],
    "odd_pcm": [b'{"type":"audio","ts":1,"seq":0}', b"\x00\x00\x00"],
    "unsupported_sr": [b'{"type":"audio","ts":1,"seq":0,"sr":12345}', b"\x00\x00"],
    "unsupported_ch": [b'{"type":"audio","ts":1,"seq":0,"ch":6}', b"\x00" * 12],
    "unsupported_fmt": [b'{"type":"audio","ts":1,"seq":0,"fmt":"float32"}', b"\x00" * 4],
    "empty_payload": [b'{"type":"audio","ts":1,"seq":0}', b""],
    "header_too_large": [b" " * 70_000 + b"{}", b"\x00\x00"],
}
BAD_VIDEO = {
    "bad_jpeg": [b'{"type":"video","ts":1,"seq":0,"w":2,"h":2,"fmt":"jpeg"}', b"PNG..."],
    "rgb_size": [b'{"type":"video","ts":1,"seq":0,"w":2,"h":2,"fmt":"rgb"}', b"\x00" * 11],
}


def test_every_bad_input_is_counted_and_good_traffic_is_unaffected(live_host) -> None:
    host = live_host(max_message_bytes=100_000)
    audio, video = host.push("audio"), host.push("video")
    good = 0
    for frames in BAD_AUDIO.values():
        audio.send_multipart(frames)
        audio.send_multipart(audio_parts(good, client="good"))
        good += 1
    for frames in BAD_VIDEO.values():
        video.send_multipart(frames)
    too_big = encode_multipart(audio_header(1, 0), b"\x00" * 150_000)
    audio.send_multipart(too_big)
    audio.send_multipart(audio_parts(good, client="good"))
    good += 1
    expected = set(BAD_AUDIO) | set(BAD_VIDEO) | {"payload_too_large"}
    host.wait_for(
        lambda o: {r.reason for r in o.rejects()} == expected and len(o.audio("good")) == good
    )
    assert [c.sequence for c in host.outputs.audio("good")] == list(range(good))
    stats = host.request({"cmd": "stats"})["stats"]
    assert set(stats["rejects"]) == expected
    assert sum(stats["rejects"].values()) == len(expected)


def test_connections_are_counted_and_oversized_messages_drop_only_their_connection(
    live_host,
) -> None:
    host = live_host(max_message_bytes=4000)
    good, bad = host.push("audio"), host.push("audio")
    good.send_multipart(audio_parts(0, client="good"))
    host.wait_for(lambda o: len(o.audio("good")) == 1)
    bad.send_multipart([b'{"type":"audio","ts":1,"seq":0}', b"\x00" * 200_000])  # > ZMQ_MAXMSGSIZE
    good.send_multipart(audio_parts(1, client="good"))
    host.wait_for(lambda o: len(o.audio("good")) == 2)

    def section() -> dict:  # type: ignore[type-arg]
        return host.request({"cmd": "stats"})["stats"].get("zmq_audio", {})

    deadline = time.monotonic() + 5
    while section().get("disconnects", 0) < 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert section()["disconnects"] >= 1
    assert section()["connections"] >= 1


def test_the_upstream_sender_lands_in_one_session_on_a_fresh_host(live_host) -> None:
    """Single-frame envelopes, no client field, and its first chunk (seq 0) on the wire
    before its hello on REP: one session, named by the hello, holding all its audio."""
    host = live_host()
    audio = host.push("audio")
    now = int(time.time() * 1000)
    audio.send(encode_envelope(audio_header(now, 0), media.sine_pcm()))
    time.sleep(0.2)  # the chunk is through the source before the hello is sent
    reply = host.request({"cmd": "hello", "client": "upstream", "capabilities": ["audio"]})
    assert reply["status"] == "ok"
    for seq in range(1, 6):
        audio.send(encode_envelope(audio_header(now + 100 * seq, seq), media.sine_pcm()))
    host.wait_for(lambda o: len(o.audio()) == 6)
    out = host.stop()
    assert out.clients() == ["upstream"]
    assert len(out.events("session_start")) == 1
    assert [c.start_sample for c in out.audio()] == [1600 * s for s in range(6)]


def test_legacy_data_is_released_by_the_live_timer_without_a_hello(live_host) -> None:
    host = live_host(name_wait_seconds=0.3)
    audio = host.push("audio")
    audio.send(encode_envelope(audio_header(1000, 0), media.sine_pcm()))
    started = time.monotonic()
    host.wait_for(lambda o: len(o.audio()) == 1, timeout=3)
    assert 0.25 < time.monotonic() - started < 2.0
    assert host.outputs.clients() == ["127.0.0.1"]


def test_a_silent_client_is_evicted_live_as_its_replay_does(live_host, tmp_path) -> None:
    """Live the timer evicts; replayed, the recorded arrival times give the same items."""
    from ambient_flow.testing import run_capture

    capture = tmp_path / "evict.zmqcap"
    host = live_host(
        record=str(capture), heartbeat_interval=0.1, stale_after=2, evict_after_seconds=0.5
    )
    quiet, busy = host.push("audio"), host.push("audio")
    quiet.send_multipart(audio_parts(0, client="quiet"))
    for seq in range(12):
        busy.send_multipart(audio_parts(seq, client="busy"))
        time.sleep(0.1)
    host.wait_for(lambda o: any(e.data.get("reason") == "evicted" for e in o.events("session_end")))
    quiet.send_multipart(audio_parts(1, client="quiet"))
    host.wait_for(lambda o: len(o.audio("quiet")) == 2)
    live = host.stop()
    ends = [e.data["reason"] for e in live.events("session_end", client="quiet")]
    assert ends == ["evicted", "eof"]
    replayed = run_capture(capture, tmp_path / "replay")
    assert replayed.records()["quiet"] == live.records()["quiet"]
def test_a_client_that_only_sends_junk_after_going_quiet_is_evicted(live_host) -> None:
    """Rejects are not being heard from: a name whose valid data stopped is evicted on
    time even while its junk keeps coming (each reject used to put the timer off again)."""
    host = live_host(heartbeat_interval=0.1, stale_after=2, evict_after_seconds=0.5)
    push = host.push("audio")
    push.send_multipart(audio_parts(0, client="noisy"))
    host.wait_for(lambda o: len(o.audio("noisy")) == 1)
    junk = [b'{"type":"audio","client":"noisy","ts":1,"seq":-1}', b"\x00\x00"]
    deadline = time.monotonic() + 4.0
    evicted = False
    while time.monotonic() < deadline and not evicted:
        push.send_multipart(junk)
        time.sleep(0.1)
        evicted = any(e.data.get("reason") == "evicted" for e in host.outputs.events("session_end"))
    assert evicted
    status = host.runtime.telemetry.status()
    assert status["clients_in_state"] == 0  # its state is released
    assert status["client_count"] == 1 and not status["clients"]["noisy"]["open"]  # still shown
    out = host.stop()
    assert len(out.rejects("bad_field")) >= 5


