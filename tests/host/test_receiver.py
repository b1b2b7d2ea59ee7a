"""`CaptureReceiver`: the seed receiver's shape over our host, as the upstream coordinator
uses it — constructor, queues, item shapes, drop policies, status keys."""

from __future__ import annotations

import inspect
import json
import queue
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import zmq

from ambient_flow import CaptureReceiver
from ambient_flow.testing import fakes
from ambient_flow.testing.harness import free_ports
from ambient_flow.testing.media import jpeg, sine_pcm
from ambient_flow.testing.messages import audio_parts, video_parts

from .conftest import open_fds, python_threads, settle

#: What the seed's `CaptureReceiver.status()` returns, key by key.
SEED_STATUS = {
    "audio": {"chunks_received", "bytes_received", "last_ts", "diart_queue_size",
              "whisper_queue_size"},
    "video": {"frames_received", "bytes_received", "last_ts", "yolo_queue_size"},
    "control": {"connected_clients"},
}  # fmt: skip


def receiver(tmp_path: Path, **kw: Any) -> CaptureReceiver:
    audio, video, control = free_ports(3)
    return CaptureReceiver(
        audio, video, control, "127.0.0.1",
        data_dir=str(tmp_path / "data"), tcp_port=0, metrics_port=0, **kw,
    )  # fmt: skip


class Client:
    """A client as the seed's protocol has it: single-part envelopes, JSON control."""

    def __init__(self, rx: CaptureReceiver) -> None:
        self.ctx = zmq.Context()
        port = {name: addr.rsplit(":", 1)[1] for name, addr in
                (("audio", rx.audio.bind_address), ("video", rx.video.bind_address),
                 ("control", rx.control.bind_address))}  # fmt: skip
        self.audio = self.ctx.socket(zmq.PUSH)
        self.video = self.ctx.socket(zmq.PUSH)
        self.control = self.ctx.socket(zmq.REQ)
        for sock, name in ((self.audio, "audio"), (self.video, "video"),
                           (self.control, "control")):  # fmt: skip
            sock.setsockopt(zmq.LINGER, 1000)
            sock.connect(f"tcp://127.0.0.1:{port[name]}")

    def request(self, body: dict[str, Any]) -> dict[str, Any]:
        self.control.send(json.dumps(body).encode())
        assert self.control.poll(3000)
        reply = json.loads(self.control.recv())
        assert isinstance(reply, dict)
        return reply

    def close(self) -> None:
        self.ctx.destroy(linger=1000)


def wait(predicate: Any, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.01)


def test_the_constructor_is_the_seeds() -> None:
    params = inspect.signature(CaptureReceiver).parameters
    assert [(p.name, p.default) for p in list(params.values())[:4]] == [
        ("audio_port", 5555), ("video_port", 5556), ("control_port", 5557), ("bind_ip", "*"),
    ]  # fmt: skip


def test_the_coordinators_use_of_it(tmp_path: Path) -> None:
    rx = receiver(tmp_path)
    assert rx.audio.bind_address.startswith("tcp://127.0.0.1:")
    rx.start()
    client = Client(rx)
    try:
        hello = {"cmd": "hello", "client": "selestia", "capabilities": ["audio", "video"]}
        reply = client.request(hello)
        assert reply["status"] == "ok" and reply["config"]["audio_sample_rate"] == 16000
        for seq in range(5):
            client.audio.send(audio_parts(seq, client="selestia")[0])
        sent_jpeg = jpeg(64, 48, seed=3)
        client.video.send(video_parts(0, client="selestia", payload=sent_jpeg, w=64, h=48)[0])
        # What QueueAudioSource does with the diart queue: unwrap .samples, float32.
        chunks = [rx.audio.diart_queue.get(timeout=5) for _ in range(5)]
        assert [c.sequence for c in chunks] == [0, 1, 2, 3, 4]
        for chunk in chunks:
            assert hasattr(chunk, "samples") and chunk.samples.dtype == np.float32
            assert chunk.samples.reshape(1, -1).shape == (1, 1600)
            assert (chunk.sample_rate, chunk.channels) == (16000, 1)
            assert isinstance(chunk.timestamp_ms, int)
        expected = np.frombuffer(sine_pcm(phase_samples=1600 * 4), "<i2") / 32768.0
        np.testing.assert_allclose(chunks[4].samples, expected, atol=1e-6)
        # What VideoPipeline does with the frame queue.
        frame = rx.video.frame_queue.get(timeout=5)
        assert frame.jpeg_bytes == sent_jpeg
        assert (frame.width, frame.height, frame.sequence) == (64, 48, 0)
        # What AudioPipeline asks of the rolling buffer.
        recent = rx.audio.get_recent_audio(0.2)
        np.testing.assert_allclose(recent[-1600:], expected, atol=1e-6)
        assert rx.audio.get_recent_audio(100).shape == (8000,)
        status = rx.status()
        assert {k: set(v) for k, v in status.items() if k in SEED_STATUS} == SEED_STATUS
        assert status["audio"]["chunks_received"] == 5 == rx.audio.chunks_received
        assert status["audio"]["bytes_received"] == 5 * 3200
        assert status["video"]["frames_received"] == 1
        assert status["audio"]["last_ts"] == chunks[-1].timestamp_ms == rx.audio.last_chunk_ts
        wait(lambda: rx.status()["control"]["connected_clients"] == ["selestia"])
        assert rx.control.connected_clients["selestia"]["capabilities"] == ["audio", "video"]
        assert "selestia" in rx.control.last_heartbeat
        client.request({"cmd": "bye", "client": "selestia"})
        wait(lambda: rx.status()["control"]["connected_clients"] == [])
    finally:
        client.close()
        rx.stop()


def test_the_seeds_drop_policies_are_kept_and_counted(tmp_path: Path) -> None:
    rx = receiver(tmp_path)
    rx.start()
    client = Client(rx)
    try:
        for seq in range(120):  # nobody reads: the diart queue keeps the first 100
            client.audio.send(audio_parts(seq, client="c")[0])
        for seq in range(15):  # the frame queue keeps the newest 10
            client.video.send(video_parts(seq, client="c", w=32, h=24)[0])
        wait(lambda: rx.status()["audio"]["chunks_received"] == 120
             and rx.status()["video"]["frames_received"] == 15)  # fmt: skip
        # the queues are filled downstream of the counters: wait for them too
        wait(lambda: rx.status()["drops"].get("receiver_frame_replaced") == 5
             and rx.status()["drops"].get("receiver_diart_full") == 20)  # fmt: skip
        time.sleep(0.2)  # nothing more comes: the counts stay where they are
        status = rx.status()
        assert status["audio"]["diart_queue_size"] == 100
        assert status["drops"]["receiver_diart_full"] == 20
        assert status["video"]["yolo_queue_size"] == 10
        kept = [rx.video.frame_queue.get_nowait().sequence for _ in range(10)]
        assert kept == list(range(5, 15))
        first = rx.audio.diart_queue.get_nowait()
        assert first.sequence == 0  # the newest were dropped, as the seed does
        assert status["audio"]["whisper_queue_size"] == 0  # no models: never filled, as the seed
    finally:
        client.close()
        rx.stop()


def enriched_receiver(tmp_path: Path) -> CaptureReceiver:
    """A started receiver with the enrichment on (fake models: one speaker says "hi")."""
    models = fakes.models(turns=[(0.0, 600.0, "a")], script=lambda s, e: "hi")
    rx = receiver(tmp_path, enrich=True, pub_port=0, models=models)
    rx.start()
    return rx


def test_with_the_enrichment_the_whisper_queue_gets_utterances(tmp_path: Path) -> None:
    rx = enriched_receiver(tmp_path)
    client = Client(rx)
    try:
        for seq in range(30):  # 1.5 s of tone, 1.5 s of silence
            pcm = sine_pcm(220.0, phase_samples=1600 * seq) if seq < 15 else bytes(3200)
            client.audio.send(audio_parts(seq, client="c", pcm=pcm)[0])
        utterance = rx.audio.whisper_queue.get(timeout=10)
        assert utterance.samples.dtype == np.float32 and utterance.sample_rate == 16000
        assert 1.0 < len(utterance.samples) / 16000 < 2.5
    finally:
        client.close()
        rx.stop()
    with pytest.raises(queue.Empty):
        rx.audio.whisper_queue.get_nowait()


def test_a_full_whisper_queue_drops_new_utterances_counted(tmp_path: Path) -> None:
    rx = enriched_receiver(tmp_path)
    client = Client(rx)
    try:
        seq = 0
        for _ in range(24):  # 24 utterances (0.8 s of tone, 0.6 s of silence); nobody reads
            for i in range(14):
                pcm = sine_pcm(220.0, phase_samples=1600 * seq) if i < 8 else bytes(3200)
                client.audio.send(audio_parts(seq, client="c", pcm=pcm)[0])
                seq += 1
        wait(lambda: rx.status()["drops"].get("receiver_whisper_full", 0) >= 3, timeout=30)
        status = rx.status()
        assert status["audio"]["whisper_queue_size"] == rx.audio.whisper_queue.maxsize == 20
        kept = [rx.audio.whisper_queue.get_nowait() for _ in range(20)]
        # The seed's policy: a full queue refuses the newest; what was queued stays, in order.
        starts = [u.sequence for u in kept]
        assert starts == sorted(starts) and kept[0].sequence < 14
    finally:
        client.close()
        rx.stop()
    assert rx.status()["drops"]["receiver_whisper_full"] >= 3


def test_start_and_stop_leave_nothing_behind(tmp_path: Path) -> None:
    warm = receiver(tmp_path / "warm")
    warm.start()
    warm.stop()
    threads, fds = python_threads(), open_fds()
    for i in range(5):
        rx = receiver(tmp_path / str(i))
        rx.start()
        rx.stop()
    settle(lambda: python_threads() == threads and open_fds() <= fds)
    assert python_threads() == threads
    assert open_fds() <= fds
