"""The `godot` profile: a Python twin of the Redot/Godot addon in `clients/godot/`.

The addon's pure functions (resampler, chunker, wire encoding) are twinned in
`godot_addon`; this module twins its nodes and send worker:

* `GodotClient` behaves like the addon's nodes together: a named `hello` (the server's
  chunk length, frame rate, resolution and quality are adopted), capture frames at the
  engine's mix rate (44.1 or 48 kHz, stereo) read once per game frame, heartbeats, and a
  send worker thread behind a bounded queue (audio: drops counted; video: only the latest
  frame is kept).

Keep the two in step: a change to one is a change to the other.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import zmq

from ambient_flow.client.control import (
    ControlOptions,
    ControlSession,
    ControlStats,
    ServerConfig,
    TcpControlChannel,
    ZmqControlChannel,
)
from ambient_flow.client.godot_addon import (
    CAPTURE_MIX_RATES,
    RESAMPLER_CUTOFF,
    RESAMPLER_KAISER_BETA,
    RESAMPLER_TAPS_PER_PHASE,
    PcmChunker,
    PolyphaseResampler,
    bessel_i0,
    design_polyphase,
    downmix_stereo,
    encode_envelope,
    encode_header,
    to_int16_le,
)
from ambient_flow.client.godot_queue import SendQueue
from ambient_flow.client.media import PatternOptions, TestPattern, chunk_samples
from ambient_flow.client.pacing import Clock
from ambient_flow.client.results import ResultsReader
from ambient_flow.client.tcp import TcpTransport
from ambient_flow.client.transport import Transport, ZmqTransport
from ambient_flow.errors import ConfigError
from ambient_flow.protocol import constants

__all__ = [
    "CAPTURE_MIX_RATES",
    "RESAMPLER_CUTOFF",
    "RESAMPLER_KAISER_BETA",
    "RESAMPLER_TAPS_PER_PHASE",
    "GodotClient",
    "GodotProfileOptions",
    "GodotProfileStats",
    "PcmChunker",
    "PolyphaseResampler",
    "SendQueue",
    "bessel_i0",
    "design_polyphase",
    "downmix_stereo",
    "encode_envelope",
    "encode_header",
    "run_godot_profile",
    "to_int16_le",
]

logger = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]
_GAME_FPS = 60  # how often the addon's _process reads the capture buffer

# -- the profile -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class GodotProfileOptions:
    """What `ambient-flow send --profile godot` runs (the addon's @export knobs).

    Attributes:
        client: The name said in `hello` (`client_name` in the addon).
        header_client: Put `client` in every data header too (`send_client_in_headers`,
            on by default as the issue's header shows); False leaves naming to the hello.
        mix_rate: The engine's capture rate, 44100 or 48000 (stereo frames).
        tone_hz / amplitude: What the "microphone" hears: a steady sine.
        video: Send screen frames (a moving test pattern stands in for the viewport).
        chunk_ms / fps / width / height / quality: Fix these instead of the server's values.
        duration_s: Stream time to send; None runs until `stop()`.
        realtime: Read the capture once per 1/60 s game frame on the clock; False runs
            the same frames as fast as possible, and the queue then waits for room.
        audio_queue: Bound of the audio send queue (`audio_queue_max` in the addon).
        token: The addon's `auth_token` (`--auth token` on the host): in hello, every
            control request and every data header.
        results: Ask for this client's enrichments in `hello` (`receive_results` in the
            addon) and read them while streaming: over TCP on the connection, over
            ZeroMQ from the PUB port the hello reply names.
        results_wait_s: After the stream, keep reading results this long before `bye`.
    """

    host: str = "127.0.0.1"
    audio_port: int = constants.AUDIO_PORT
    video_port: int = constants.VIDEO_PORT
    control_port: int = constants.CONTROL_PORT
    tcp_port: int = constants.TCP_PORT
    transport: Literal["zmq", "tcp"] = "zmq"
    client: str = "godot-client"
    header_client: bool = True
    session: str | None = None
    mix_rate: int = 48000
    tone_hz: float = 440.0
    amplitude: float = 0.3
    video: bool = True
    chunk_ms: int | None = None
    fps: float | None = None
    width: int | None = None
    height: int | None = None
    quality: int | None = None
    duration_s: float | None = None
    realtime: bool = True
    audio_queue: int = 32
    hello_wait_s: float = 2.0
    control_timeout_s: float = 1.0
    control_retries: int = 2
    send_block_ms: int = 50
    drain_s: float = 2.0
    token: str | None = None
    results: bool = True
    results_wait_s: float = 0.0

    def __post_init__(self) -> None:
        if not self.host or not self.client:
            raise ConfigError("host and client must not be empty")
        for name in ("audio_port", "video_port", "control_port", "tcp_port"):
            port = getattr(self, name)
            if not 1 <= port <= 65535:
                raise ConfigError(f"{name}={port}: a port is 1..65535")
        if self.transport not in ("zmq", "tcp"):
            raise ConfigError(f"transport {self.transport!r}: use 'zmq' or 'tcp'")
        if self.mix_rate not in CAPTURE_MIX_RATES:
            raise ConfigError(f"mix_rate={self.mix_rate}: Godot captures at {CAPTURE_MIX_RATES}")
        if not 0 < self.amplitude <= 1 or self.tone_hz <= 0:
            raise ConfigError("need 0 < amplitude <= 1 and tone_hz > 0")
        for name in ("chunk_ms", "fps", "width", "height", "quality", "duration_s"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise ConfigError(f"{name}={value} must be > 0")
        if self.quality is not None and self.quality > 100:
            raise ConfigError(f"quality={self.quality} must be 1..100")
        if self.results_wait_s < 0:
            raise ConfigError(f"results_wait_s={self.results_wait_s} must be >= 0")
        if self.audio_queue < 1 or self.hello_wait_s < 0 or self.drain_s < 0:
            raise ConfigError("audio_queue must be >= 1; hello_wait_s and drain_s >= 0")


@dataclass(frozen=True, slots=True)
class GodotProfileStats:
    """What one run did (the counters the addon's status signals report)."""

    capture_frames: int = 0
    resampled_samples: int = 0
    audio_chunks: int = 0
    video_frames: int = 0
    audio_sent: int = 0
    video_sent: int = 0
    audio_dropped: int = 0
    video_replaced: int = 0
    transport_drops: int = 0
    bytes: int = 0
    control: ControlStats | None = None
    server_config: ServerConfig | None = None
    results: int = 0
    last_transcript: str | None = None
    results_unavailable: str | None = None  # the addon's status_changed("results", ...)


class _StereoTone:
    """The capture bus as `AudioEffectCapture.get_buffer(n)` returns it: stereo floats."""

    def __init__(self, rate: int, hz: float, amplitude: float) -> None:
        self._step = 2.0 * math.pi * hz / rate
        self._amplitude = amplitude
        self._index = 0

    def read(self, frames: int) -> FloatArray:
        n = np.arange(self._index, self._index + frames, dtype=np.float64)
        self._index += frames
        mono = self._amplitude * np.sin(self._step * n)
        return np.repeat(mono, 2).reshape(-1, 2)


class GodotClient:
    """Streams like the addon: capture per game frame -> resample -> chunk -> queue -> send.

    Args:
        options: What to send and where.
        context: The process's `zmq.Context`; one is created (and terminated) if None.
        stop: Ends the run when set.
        clock: Monotonic seconds (injectable).
        wall_ms: Unix milliseconds for header `ts`.
    """

    def __init__(
        self,
        options: GodotProfileOptions,
        *,
        context: zmq.Context[Any] | None = None,
        stop: threading.Event | None = None,
        clock: Clock = time.monotonic,
        wall_ms: Callable[[], int] = lambda: time.time_ns() // 1_000_000,
    ) -> None:
        self.options = options
        self._context = context
        self._stop = stop or threading.Event()
        self._clock = clock
        self._wall_ms = wall_ms
        self._capture_frames = 0
        self._resampled = 0
        self._audio_seq = 0
        self._video_seq = 0
        #: What the addon would have signalled (`results.events`, the latest transcript).
        self.results = ResultsReader(options.host)

    def stop(self) -> None:
        self._stop.set()

    def _extra(self, source: str) -> dict[str, Any]:
        # ambient_capture.gd `header_extra` then the streamer's source: client, session,
        # token, source, in this order.
        extra: dict[str, Any] = {}
        if self.options.header_client:
            extra["client"] = self.options.client
        if self.options.session is not None:
            extra["session"] = self.options.session
        if self.options.token:
            extra["token"] = self.options.token
        extra["source"] = source
        return extra

    def run(self) -> GodotProfileStats:
        """Stream until the duration or `stop()`, then drain and say `bye`."""
        o = self.options
        own_context = self._context is None
        context = self._context if self._context is not None else zmq.Context()
        transport: Transport | None = None
        control: ControlSession | None = None
        queue: SendQueue | None = None
        try:
            if o.transport == "tcp":
                transport = TcpTransport(o.host, o.tcp_port)
            else:
                transport = ZmqTransport(
                    context,
                    o.host,
                    audio_port=o.audio_port,
                    video_port=o.video_port,
                    send_block_ms=o.send_block_ms,
                )
            control = self._control(context, transport)
            control.start()
            control.wait_for_hello(o.hello_wait_s, self._stop)
            queue = SendQueue(transport, o.audio_queue, block_when_full=not o.realtime)
            self._stream(control.config or ServerConfig(), transport, control, queue, context)
            queue.drain(o.drain_s)
            transport.drain(o.drain_s)
            if o.results:
                self._wait_for_results(context, transport, control)
            control.bye()
            return self._stats(transport, control, queue)
        finally:
            self.results.close()
            if queue is not None:
                queue.close()
            if control is not None:
                control.close()
            if transport is not None:
                transport.close()
            if own_context:
                context.term()

    def _control(self, context: zmq.Context[Any], transport: Transport) -> ControlSession:
        o = self.options
        options = ControlOptions(
            client=o.client,
            session=o.session,
            capabilities=("audio", "video") if o.video else ("audio",),
            timeout_s=o.control_timeout_s,
            retries=o.control_retries,
            token=o.token,
            results=o.results,
        )
        if isinstance(transport, TcpTransport):
            return ControlSession(TcpControlChannel(transport), options, clock=self._clock)
        return ControlSession(
            ZmqControlChannel(context, o.host, o.control_port), options, clock=self._clock
        )

    def _stream(
        self,
        config: ServerConfig,
        transport: Transport,
        control: ControlSession,
        queue: SendQueue,
        context: zmq.Context[Any],
    ) -> None:
        """The addon's `_process` loop: one capture read (and maybe a frame) per game frame."""
        o = self.options
        chunk_ms = o.chunk_ms or config.audio_chunk_ms
        fps = o.fps or config.video_fps
        width, height = o.width or config.video_width, o.height or config.video_height
        quality = o.quality or config.video_quality
        resampler = PolyphaseResampler(o.mix_rate, constants.AUDIO_SAMPLE_RATE)
        chunker = PcmChunker(chunk_samples(constants.AUDIO_SAMPLE_RATE, chunk_ms))
        capture = _StereoTone(o.mix_rate, o.tone_hz, o.amplitude)
        pattern: Iterator[bytes] | None = None
        if o.video:
            pattern = iter(
                TestPattern(
                    PatternOptions(label="godot screen"),
                    width=width,
                    height=height,
                    quality=quality,
                )
            )
        origin = self._clock()
        game_frame = 0
        while not self._stop.is_set():
            game_frame += 1
            now_s = game_frame / _GAME_FPS
            if o.duration_s is not None and now_s > o.duration_s + 1e-9:
                break
            if o.realtime:
                self._stop.wait(max(0.0, origin + now_s - self._clock()))
            # Frames the capture buffer holds by now (AudioEffectCapture.get_frames_available).
            available = int(now_s * o.mix_rate) - self._capture_frames
            self._capture_audio(capture.read(available), resampler, chunker, queue)
            if pattern is not None and self._video_seq < int(now_s * fps + 1e-9):
                self._send_video(next(pattern), width, height, quality, queue)
            control.poll()
            transport.service()
            if o.results:
                self.results.read(context, transport, control.results)

    def _wait_for_results(
        self, context: zmq.Context[Any], transport: Transport, control: ControlSession
    ) -> None:
        deadline = self._clock() + self.options.results_wait_s
        while self._clock() < deadline and not self._stop.is_set():
            control.poll()
            transport.service()
            self.results.read(context, transport, control.results)
            self._stop.wait(0.02)

    def _capture_audio(
        self,
        frames: FloatArray,
        resampler: PolyphaseResampler,
        chunker: PcmChunker,
        queue: SendQueue,
    ) -> None:
        self._capture_frames += len(frames)
        mono16k = resampler.process(downmix_stereo(frames))
        self._resampled += len(mono16k)
        for chunk in chunker.push(to_int16_le(mono16k)):
            header = {
                "type": "audio",
                "ts": self._wall_ms(),
                "seq": self._audio_seq,
                "sr": constants.AUDIO_SAMPLE_RATE,
                "ch": 1,
                "fmt": "int16",
                **self._extra("mic"),
            }
            queue.put_audio(encode_envelope(header, chunk))
            self._audio_seq += 1

    def _send_video(
        self, jpeg: bytes, width: int, height: int, quality: int, queue: SendQueue
    ) -> None:
        header = {
            "type": "video",
            "ts": self._wall_ms(),
            "seq": self._video_seq,
            "w": width,
            "h": height,
            "fmt": "jpeg",
            "quality": quality,
            **self._extra("screen"),
        }
        queue.put_video(encode_envelope(header, jpeg))
        self._video_seq += 1

    def _stats(
        self, transport: Transport, control: ControlSession, queue: SendQueue
    ) -> GodotProfileStats:
        t = transport.stats.snapshot()
        return GodotProfileStats(
            capture_frames=self._capture_frames,
            resampled_samples=self._resampled,
            audio_chunks=self._audio_seq,
            video_frames=self._video_seq,
            audio_sent=t.audio.sent,
            video_sent=t.video.sent,
            audio_dropped=queue.counts.audio_dropped,
            video_replaced=queue.counts.video_replaced,
            transport_drops=t.drops,
            bytes=t.bytes,
            control=control.stats,
            server_config=control.config,
            results=self.results.received,
            last_transcript=self.results.last_transcript,
            results_unavailable=self.results.unavailable,
        )


def run_godot_profile(
    options: GodotProfileOptions,
    *,
    context: zmq.Context[Any] | None = None,
    stop: threading.Event | None = None,
) -> GodotProfileStats:
    """Run the `godot` profile once (what `ambient-flow send --profile godot` calls)."""
    return GodotClient(options, context=context, stop=stop).run()
