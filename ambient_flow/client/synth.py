"""Write a realistic `.zmqcap` capture without any sockets: test input for replays.

The file looks like what the recorder would have written while a client streamed:
a `hello` on the control channel, audio chunks every `chunk_ms` and video frames
every `1/fps`, heartbeats every `heartbeat_interval_s`, a `bye` at the end; header
`ts` on the sender's timeline, and arrival times a few milliseconds later with a
seeded jitter (never out of order within a channel). Everything is derived from the
options, so the same options give a byte-identical file.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from ambient_flow.capture import CaptureWriter
from ambient_flow.client.media import (
    ImageOptions,
    PatternOptions,
    ToneOptions,
    WavOptions,
    describe,
    open_audio,
    open_video,
)
from ambient_flow.client.transport import Encoding, encode_message
from ambient_flow.errors import ConfigError
from ambient_flow.protocol import constants
from ambient_flow.protocol.codec import audio_header, encode_envelope, encode_header, video_header
from ambient_flow.protocol.messages import Channel, RawMessage

__all__ = ["SynthOptions", "SynthResult", "synthesize_capture"]

#: The monotonic clock reading of the stream's start (any constant works; replays ignore it).
_MONOTONIC_BASE_NS = 1_000_000_000_000
_HELLO_LEAD_MS = 50  # the hello arrives this long before the first chunk
_ORDER = {"control": 0, "audio": 1, "video": 2}
#: (kind, message): the kind stays known when every record shares the `tcp` channel.
_Record = tuple[str, RawMessage]


@dataclass(frozen=True, slots=True)
class SynthOptions:
    """What to synthesize.

    Attributes:
        audio: A tone, a WAV file (converted to 16 kHz mono), or None for no audio.
        video: The test pattern, an image file/folder (looped), or None for no video.
        duration_s: Stream length. A WAV shorter than this ends the audio early.
        chunk_ms: Audio chunk length (100 ms, what clients send).
        client: The headers' and hello's `client`; None sends none (like legacy clients).
        session: The headers' `session` when set.
        start_unix_ms: `ts` of the first chunk; fixed so that the file is reproducible.
        seed: Seeds the arrival jitter.
        jitter_ms: Arrival delay range (min, max) after `ts`.
        transport: `zmq` (records on the audio/video/control channels) or `tcp` (every
            record an envelope on the `tcp` channel, control as control envelopes).
        encoding: ZeroMQ message shape of the audio/video records.
        heartbeat_interval_s: Heartbeat period; 0 writes none.
        control: Write hello / heartbeat / bye records at all.
        peer_host: Recorded sender address.
    """

    audio: ToneOptions | WavOptions | None = field(default_factory=ToneOptions)
    video: PatternOptions | ImageOptions | None = field(default_factory=PatternOptions)
    duration_s: float = 10.0
    chunk_ms: int = constants.AUDIO_CHUNK_MS
    fps: float = float(constants.VIDEO_FPS)
    width: int = constants.VIDEO_WIDTH
    height: int = constants.VIDEO_HEIGHT
    quality: int = constants.VIDEO_QUALITY
    client: str | None = None
    session: str | None = None
    start_unix_ms: int = 1_700_000_000_000
    seed: int = 0
    jitter_ms: tuple[float, float] = (1.0, 12.0)
    transport: Literal["zmq", "tcp"] = "zmq"
    encoding: Encoding = "envelope"
    heartbeat_interval_s: float = constants.HEARTBEAT_INTERVAL_S
    control: bool = True
    peer_host: str = "127.0.0.1"

    def __post_init__(self) -> None:
        if self.duration_s <= 0 or self.fps <= 0 or self.chunk_ms <= 0:
            raise ConfigError("duration_s, fps and chunk_ms must be > 0")
        if self.audio is None and self.video is None:
            raise ConfigError("nothing to synthesize: both audio and video are off")
        low, high = self.jitter_ms
        if not 0 <= low <= high:
            raise ConfigError(f"jitter_ms={self.jitter_ms}: need 0 <= min <= max")
        if self.start_unix_ms < 0 or self.heartbeat_interval_s < 0:
            raise ConfigError("start_unix_ms and heartbeat_interval_s must be >= 0")
        if self.transport not in ("zmq", "tcp"):
            raise ConfigError(f"transport {self.transport!r}: use 'zmq' or 'tcp'")
        if self.client is not None and not self.client:
            raise ConfigError("client name is empty; use None to send no client field")

    @property
    def capabilities(self) -> list[str]:
        return [name for name, on in (("audio", self.audio), ("video", self.video)) if on]

    def to_meta(self) -> dict[str, Any]:
        """JSON-able description, stored in the capture header."""
        meta = asdict(self)
        meta["audio"] = describe(self.audio)
        meta["video"] = describe(self.video)
        meta["jitter_ms"] = list(self.jitter_ms)
        return meta


@dataclass(frozen=True, slots=True)
class SynthResult:
    """What was written."""

    path: Path
    records: int
    audio_chunks: int
    video_frames: int
    control_records: int
    bytes: int


def synthesize_capture(out_path: str | Path, options: SynthOptions | None = None) -> SynthResult:
    """Write a capture of one synthetic client to `out_path` (overwritten).

    The same options give a byte-identical file: the capture header's `created_at`
    is `start_unix_ms` and its `host` is `synth`, not this machine's.

    Raises:
        ConfigError: A WAV or image input cannot be used.
    """
    opts = options or SynthOptions()
    streams: list[Iterator[_Record]] = []
    if opts.control:
        streams.append(_control_records(opts))
    if opts.audio is not None:
        streams.append(_audio_records(opts))
    if opts.video is not None:
        streams.append(_video_records(opts))
    meta = {
        "created_at": opts.start_unix_ms / 1000,
        "host": "synth",
        "tool": "ambient-flow synth",
        "synth": opts.to_meta(),
    }
    counts = {"audio": 0, "video": 0, "control": 0}
    last_ns: dict[str, int] = {}
    records = 0
    with CaptureWriter(out_path, meta=meta) as writer:
        for kind, msg in heapq.merge(*streams, key=lambda r: (r[1].received_ns, _ORDER[r[0]])):
            # One TCP connection carries every kind: keep its arrivals strictly increasing.
            floor = last_ns.get(msg.channel, -1) + 1
            if msg.received_ns < floor:
                delta = floor - msg.received_ns
                msg = RawMessage(
                    msg.channel,
                    msg.parts,
                    floor,
                    msg.monotonic_ns + delta,
                    msg.peer_host,
                    msg.peer_conn,
                )
            last_ns[msg.channel] = msg.received_ns
            writer.write(msg)
            counts[kind] += 1
            records += 1
        size = writer.bytes
    return SynthResult(
        path=Path(out_path),
        records=records,
        audio_chunks=counts["audio"],
        video_frames=counts["video"],
        control_records=counts["control"],
        bytes=size,
    )


class _Arrivals:
    """Arrival times for one channel: `ts` + seeded jitter, strictly increasing."""

    def __init__(self, opts: SynthOptions, name: str) -> None:
        # A string seed is hashed with SHA-512 by `random`: stable across runs and platforms.
        self._rng = random.Random(f"{opts.seed}:{name}")
        self._low, self._high = opts.jitter_ms
        self._last = -1

    def after(self, ts_ms: int) -> int:
        jitter_ns = round(self._rng.uniform(self._low, self._high) * 1_000_000)
        arrival = max(ts_ms * 1_000_000 + jitter_ns, self._last + 1_000)
        self._last = arrival
        return arrival


def _raw(opts: SynthOptions, kind: str, parts: list[bytes], received_ns: int) -> _Record:
    if opts.transport == "tcp":
        channel: Channel = "tcp"
        conn = "p50000"
        if len(parts) != 1:
            parts = [encode_envelope(parts[0], parts[1])]
    else:
        channel = kind  # type: ignore[assignment]
        conn = {"audio": "fd10", "video": "fd11", "control": "fd12"}[kind]
    mono = _MONOTONIC_BASE_NS + received_ns - opts.start_unix_ms * 1_000_000
    return kind, RawMessage(channel, tuple(parts), received_ns, mono, opts.peer_host, conn)


def _extra(opts: SynthOptions, source: str) -> dict[str, Any]:
    extra: dict[str, Any] = {}
    if opts.client is not None:
        extra["client"] = opts.client
    if opts.session is not None:
        extra["session"] = opts.session
    extra["source"] = source
    return extra


def _control_records(opts: SynthOptions) -> Iterator[_Record]:
    arrivals = _Arrivals(opts, "control")

    def body(cmd: str) -> dict[str, Any]:
        request: dict[str, Any] = {"cmd": cmd}
        if opts.client is not None:
            request["client"] = opts.client
        if cmd == "hello":
            request["capabilities"] = opts.capabilities
            if opts.session is not None:
                request["session"] = opts.session
        return request

    def record(cmd: str, ts_ms: int) -> _Record:
        request = body(cmd)
        if opts.transport == "tcp":
            frames = [encode_envelope({"type": "control", **request}, b"")]
        else:
            frames = [encode_header(request)]
        return _raw(opts, "control", frames, arrivals.after(ts_ms))

    start = opts.start_unix_ms
    yield record("hello", start - _HELLO_LEAD_MS)
    if opts.heartbeat_interval_s > 0:
        k = 1
        while k * opts.heartbeat_interval_s < opts.duration_s:
            yield record("heartbeat", start + round(k * opts.heartbeat_interval_s * 1000))
            k += 1
    yield record("bye", start + round(opts.duration_s * 1000))


def _audio_records(opts: SynthOptions) -> Iterator[_Record]:
    if opts.audio is None:
        return
    source = open_audio(opts.audio, chunk_ms=opts.chunk_ms, sample_rate=constants.AUDIO_SAMPLE_RATE)
    arrivals = _Arrivals(opts, "audio")
    extra = _extra(opts, source.source)
    period_ms = source.chunk_samples * 1000 / source.sample_rate
    try:
        for seq, chunk in enumerate(source):
            if seq * period_ms >= opts.duration_s * 1000 - 1e-6:
                break
            ts = opts.start_unix_ms + round(seq * period_ms)
            header = audio_header(ts, seq, sr=source.sample_rate, ch=source.channels, **extra)
            frames = encode_message(header, chunk, opts.encoding)
            yield _raw(opts, "audio", frames, arrivals.after(ts))
    finally:
        source.close()


def _video_records(opts: SynthOptions) -> Iterator[_Record]:
    if opts.video is None:
        return
    source = open_video(opts.video, width=opts.width, height=opts.height, quality=opts.quality)
    arrivals = _Arrivals(opts, "video")
    extra = _extra(opts, source.source)
    try:
        for seq, jpeg in enumerate(source):
            if seq / opts.fps >= opts.duration_s - 1e-9:
                break
            ts = opts.start_unix_ms + round(seq * 1000 / opts.fps)
            header = video_header(
                ts, seq, w=source.width, h=source.height, quality=source.quality, **extra
            )
            frames = encode_message(header, jpeg, opts.encoding)
            yield _raw(opts, "video", frames, arrivals.after(ts))
    finally:
        source.close()
