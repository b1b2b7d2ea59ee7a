"""`CaptureReceiver`: the seed's receiver, same shape, running our host underneath.

The upstream project's coordinator starts `CaptureReceiver` in-process and reads its
queues (`ambient_subconscious/capture_receiver/receiver.py` of fauxtrot/ambient-sub).
This class has its constructor, attributes, queues, item shapes, drop policies and
status keys, so that code can swap it in unchanged — and behind it runs `Host`: every
message is validated, ordered, gap-filled, recorded in session directories and counted.

The queues keep the seed's bounds and drop policies, and every drop is counted
(`receiver_diart_full`, `receiver_whisper_full`, `receiver_frame_replaced` in the host's
`drops`). Where our items differ from the seed's, they are adapted here: audio chunks are
our `AudioChunk`s (they carry the seed's fields; always 16 kHz mono, gaps filled with
silence), video frames become `SeedVideoFrame`s (`jpeg_bytes`). The full comparison,
attribute by attribute: docs/host.md.

Beyond the seed, the host also listens on raw TCP (`tcp_port`, 5558; 0 turns it off)
and serves metrics (`metrics_port`, 9108; 0 turns it off), and writes session
directories under `data_dir`. It runs no models unless `enrich=True` is passed.
"""

from __future__ import annotations

import contextlib
import dataclasses
import queue
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import bytewax.operators as op
import numpy as np
import numpy.typing as npt

from ambient_flow.config import Settings
from ambient_flow.graph.host import HostGraph
from ambient_flow.host.host import Host
from ambient_flow.models.bundle import Models
from ambient_flow.operators.events import ClientEvent
from ambient_flow.operators.model_stage import ModelResult, Transcribed
from ambient_flow.protocol.constants import AUDIO_SAMPLE_RATE
from ambient_flow.protocol.messages import AudioChunk, VideoFrame
from ambient_flow.runtime import HostRuntime
from ambient_flow.sinks.callback import CallbackSink
from ambient_flow.telemetry import Telemetry

__all__ = ["AudioTap", "CaptureReceiver", "ControlView", "SeedVideoFrame", "VideoTap"]

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class SeedVideoFrame:
    """A video frame in the seed's shape (`protocol.VideoFrame` there), plus its client."""

    timestamp_ms: int
    sequence: int
    width: int
    height: int
    jpeg_bytes: bytes
    client: str = ""


class _Counting:
    """What the taps share: the current run's telemetry, for counters and drops."""

    def __init__(self) -> None:
        self.telemetry: Telemetry | None = None

    def drop(self, reason: str) -> None:
        if self.telemetry is not None:
            self.telemetry.drop(reason)

    def total(self, kind: str, key: str) -> Any:
        if self.telemetry is None:
            return 0
        return self.telemetry.totals(kind).get(key)


class AudioTap:
    """`receiver.audio`: the seed's `AudioReceiver` surface."""

    def __init__(self, bind_address: str, counting: _Counting, buffer_seconds: int = 30) -> None:
        self.bind_address = bind_address
        self.buffer_seconds = buffer_seconds
        self.sample_rate = AUDIO_SAMPLE_RATE
        self.audio_buffer = np.zeros(self.sample_rate * buffer_seconds, dtype=np.float32)
        self.buffer_pos = 0
        self.total_samples_written = 0
        self.diart_queue: queue.Queue[AudioChunk] = queue.Queue(maxsize=100)
        self.whisper_queue: queue.Queue[AudioChunk] = queue.Queue(maxsize=20)
        self._counting = counting
        self._lock = threading.Lock()

    @property
    def chunks_received(self) -> int:
        return int(self._counting.total("audio", "chunks_received") or 0)

    @property
    def bytes_received(self) -> int:
        return int(self._counting.total("audio", "bytes_received") or 0)

    @property
    def last_chunk_ts(self) -> int:
        return int(self._counting.total("audio", "last_ts") or 0)

    def feed(self, chunks: list[AudioChunk]) -> None:
        """On the flow's worker: into the ring and the diart queue (never waits)."""
        for chunk in chunks:
            self._write(chunk.samples)
            try:
                self.diart_queue.put_nowait(chunk)
            except queue.Full:  # the seed's policy: diart cares about recency
                self._counting.drop("receiver_diart_full")

    def feed_utterances(self, chunks: list[AudioChunk]) -> None:
        for chunk in chunks:
            try:
                self.whisper_queue.put_nowait(chunk)
            except queue.Full:
                self._counting.drop("receiver_whisper_full")

    def _write(self, samples: npt.NDArray[np.float32]) -> None:
        size = len(self.audio_buffer)
        data = samples[-size:]
        n = len(data)
        with self._lock:
            end = self.buffer_pos + n
            if end <= size:
                self.audio_buffer[self.buffer_pos : end] = data
            else:
                first = size - self.buffer_pos
                self.audio_buffer[self.buffer_pos :] = data[:first]
                self.audio_buffer[: n - first] = data[first:]
            self.buffer_pos = end % size
            self.total_samples_written += len(samples)

    def get_recent_audio(self, seconds: float) -> npt.NDArray[np.float32]:
        """The most recent `seconds` of audio (float32, 16 kHz), as the seed's."""
        with self._lock:
            size = len(self.audio_buffer)
            n = min(int(seconds * self.sample_rate), size, self.total_samples_written)
            if n <= 0:
                return np.zeros(0, dtype=np.float32)
            start = (self.buffer_pos - n) % size
            if start < self.buffer_pos:
                return self.audio_buffer[start : self.buffer_pos].copy()
            return np.concatenate([self.audio_buffer[start:], self.audio_buffer[: self.buffer_pos]])


class VideoTap:
    """`receiver.video`: the seed's `VideoReceiver` surface."""

    def __init__(self, bind_address: str, counting: _Counting) -> None:
        self.bind_address = bind_address
        self.frame_queue: queue.Queue[SeedVideoFrame] = queue.Queue(maxsize=10)
        self._counting = counting

    @property
    def frames_received(self) -> int:
        return int(self._counting.total("video", "frames_received") or 0)

    @property
    def bytes_received(self) -> int:
        return int(self._counting.total("video", "bytes_received") or 0)

    @property
    def last_frame_ts(self) -> int:
        return int(self._counting.total("video", "last_ts") or 0)

    def feed(self, frames: list[VideoFrame]) -> None:
        for frame in frames:
            seed = _seed_frame(frame)
            if seed is None:
                self._counting.drop("receiver_frame_undecodable")
                continue
            try:
                self.frame_queue.put_nowait(seed)
                continue
            except queue.Full:  # the seed's policy: drop the oldest, keep the newest
                pass
            with contextlib.suppress(queue.Empty):
                self.frame_queue.get_nowait()
            self._counting.drop("receiver_frame_replaced")
            try:
                self.frame_queue.put_nowait(seed)
            except queue.Full:  # a reader-less race refilled it: this one goes instead
                self._counting.drop("receiver_frame_replaced")


def _seed_frame(frame: VideoFrame) -> SeedVideoFrame | None:
    data = frame.payload
    if frame.format == "rgb":
        import cv2  # only raw-RGB senders pay for OpenCV here

        try:
            ok, buf = cv2.imencode(".jpg", frame.image(), [cv2.IMWRITE_JPEG_QUALITY, 90])
        except ValueError:
            return None
        if not ok:
            return None
        data = bytes(buf)
    return SeedVideoFrame(
        frame.timestamp_ms, frame.sequence, frame.width, frame.height, data, frame.client
    )


class ControlView:
    """`receiver.control`: the seed's `ControlHandler` surface (the host answers control)."""

    def __init__(self, bind_address: str, settings: Settings, host: Host) -> None:
        self.bind_address = bind_address
        self.config = settings.client_config()
        self.connected_clients: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self._max = settings.max_clients
        self._host = host
        self._lock = threading.Lock()

    @property
    def last_heartbeat(self) -> dict[str, float]:
        """Client -> unix time anything last arrived from it (liveness counts every message)."""
        if self._host.runtime is None:
            return {}
        clients = self._host.runtime.telemetry.status()["clients"]
        return {name: float(c.get("last_seen") or 0.0) for name, c in clients.items()}

    def feed(self, events: list[ClientEvent]) -> None:
        with self._lock:
            for event in events:
                if event.kind == "hello":
                    caps = event.data.get("capabilities", [])
                    self.connected_clients[event.client] = {
                        "capabilities": list(caps) if isinstance(caps, list) else [],
                        "connected_at": event.at_ns / 1e9,
                    }
                    self.connected_clients.move_to_end(event.client)
                    while len(self.connected_clients) > self._max:
                        self.connected_clients.popitem(last=False)
                elif event.kind == "session_end":
                    self.connected_clients.pop(event.client, None)

    def clients(self) -> list[str]:
        with self._lock:
            return list(self.connected_clients)


class CaptureReceiver:
    """The seed's receiver, running `Host` underneath (see the module docstring)."""

    def __init__(
        self,
        audio_port: int = 5555,
        video_port: int = 5556,
        control_port: int = 5557,
        bind_ip: str = "*",
        *,
        settings: Settings | None = None,
        models: Models | None = None,
        **overrides: Any,
    ) -> None:
        base = settings or Settings.load()
        overrides.setdefault("enrich", False)  # the seed ran no models; its consumers do
        settings = dataclasses.replace(
            base,
            bind=bind_ip,
            audio_port=audio_port,
            video_port=video_port,
            control_port=control_port,
            **overrides,
        )
        self._counting = _Counting()
        self.host = Host(settings, models=models, extend=self._attach)
        self.audio = AudioTap(f"tcp://{bind_ip}:{audio_port}", self._counting)
        self.video = VideoTap(f"tcp://{bind_ip}:{video_port}", self._counting)
        self.control = ControlView(f"tcp://{bind_ip}:{control_port}", settings, self.host)

    def _attach(self, graph: HostGraph, runtime: HostRuntime) -> None:
        self._counting.telemetry = runtime.telemetry
        ingest = graph.ingest
        _tap("seed_audio", ingest.audio, self.audio.feed)
        _tap("seed_video", ingest.video, self.video.feed)
        events = op.filter_value(
            "seed_events_kinds", ingest.events, lambda e: e.kind in ("hello", "session_end")
        )
        _tap("seed_events", events, self.control.feed)
        if graph.enrich is not None:
            utterances = op.filter_map_value("seed_utterances", graph.enrich.results, _utterance)
            _tap("seed_whisper", utterances, self.audio.feed_utterances)

    def start(self, timeout: float = 30.0) -> None:
        """Bind the ports and start receiving; returns once they are bound."""
        self.host.start(timeout)

    def stop(self) -> None:
        """Stop receiving: sessions are flushed, ports released."""
        self.host.stop()

    def status(self) -> dict[str, Any]:
        """The seed's status keys (plus `drops`, the host's counted losses)."""
        runtime = self.host.runtime
        drops = runtime.telemetry.status()["drops"] if runtime is not None else {}
        return {
            "audio": {
                "chunks_received": self.audio.chunks_received,
                "bytes_received": self.audio.bytes_received,
                "last_ts": self.audio.last_chunk_ts,
                "diart_queue_size": self.audio.diart_queue.qsize(),
                "whisper_queue_size": self.audio.whisper_queue.qsize(),
            },
            "video": {
                "frames_received": self.video.frames_received,
                "bytes_received": self.video.bytes_received,
                "last_ts": self.video.last_frame_ts,
                "yolo_queue_size": self.video.frame_queue.qsize(),
            },
            "control": {"connected_clients": self.control.clients()},
            "drops": drops,
        }


def _tap(step: str, stream: Any, fn: Callable[[list[T]], None]) -> None:
    op.output(step, op.map(f"{step}_value", stream, _second), CallbackSink(fn))


def _second(kv: tuple[str, T]) -> T:
    return kv[1]


def _utterance(result: ModelResult) -> AudioChunk | None:
    if not isinstance(result, Transcribed):
        return None
    utt = result.item
    return AudioChunk(
        client=utt.client,
        timestamp_ms=utt.started_ns // 1_000_000,
        sequence=utt.start_sample,
        sample_rate=AUDIO_SAMPLE_RATE,
        channels=1,
        received_ns=utt.ended_ns,
        session=utt.session,
        start_sample=utt.start_sample,
        float_samples=utt.samples,
    )
