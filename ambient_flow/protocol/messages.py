"""Typed messages: what the wire carries once it has been parsed.

`RawMessage` is what a source emits and a capture records (principle 2: raw in,
raw recorded). `AudioChunk`, `VideoFrame` and `ControlEvent` are what the parser
makes of it; `Rejected` is what it makes of anything that broke the contract.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

__all__ = [
    "AudioChunk",
    "Channel",
    "ControlEvent",
    "Parsed",
    "RawMessage",
    "Rejected",
    "VideoFrame",
]

Channel = Literal["audio", "video", "control", "tcp"]
FloatArray = npt.NDArray[np.float32]

#: The wire's sample type, made once (`dtype="<i2"` parses the string on every call).
PCM16 = np.dtype("<i2")
#: int16 -> float32 in [-1, 1): int16 / 32768 is exact in float32.
PCM16_SCALE = np.float32(1.0 / 32768.0)


@dataclass(frozen=True, slots=True)
class RawMessage:
    """Message parts exactly as they arrived, with where and when.

    Attributes:
        channel: The port it came in on: `audio`, `video`, `control` or `tcp`.
        parts: The parts of the ZeroMQ message (ZeroMQ calls them frames): one
            envelope, or header + payload; or one envelope read from a TCP stream.
        received_ns: Arrival time, unix nanoseconds (what replays reproduce).
        monotonic_ns: Arrival time on this host's monotonic clock (latency only).
        peer_host: Sender address as the transport reports it (`Peer-Address`).
        peer_conn: Which connection from that host: `fd<N>` for ZeroMQ (the
            source descriptor), `p<port>` for TCP. Tells two legacy clients on one
            host apart.
        user: The client name the sender authenticated as (`--auth token|curve`:
            its CURVE key or token, checked by the source); empty when none.
    """

    channel: Channel
    parts: tuple[bytes, ...]
    received_ns: int
    monotonic_ns: int
    peer_host: str
    peer_conn: str
    user: str = ""

    @property
    def peer(self) -> str:
        return f"{self.peer_host}#{self.peer_conn}"

    @property
    def size(self) -> int:
        return sum(len(f) for f in self.parts)


@dataclass(frozen=True, slots=True, eq=False)
class AudioChunk:
    """One chunk of audio; `samples` are always float32 in [-1, 1).

    After the parse step `samples` is mono at `sample_rate` (stereo is already
    downmixed). After per-client ingest it is 16 kHz, `start_sample` is its
    absolute position on the client's sample clock, `converted` says whether the
    sender's rate or channel count had to be converted, and `filled` marks silence
    that ingest inserted for audio that never arrived (a sequence gap).

    `pcm` is the int16 little-endian bytes the samples came from, while they are exactly
    those (mono, not converted): the session writes them as they are, with no float ->
    int16 round trip (the same bytes: an int16 / 32768 is exact in float32). Any step
    that changes the samples must drop it (`pcm=None`) and give `float_samples`.

    A chunk made from `pcm` alone (`float_samples=None`: what the parser makes of mono
    int16) decodes its floats on the first read of `samples` and keeps them. A host
    that only records never reads them: the conversion was the largest single cost of
    parsing an audio message, and numpy releases the GIL inside it, which hands the
    worker's GIL to the session writer's thread once per message.
    """

    client: str
    timestamp_ms: int
    sequence: int
    sample_rate: int
    channels: int
    received_ns: int
    session: str | None = None
    source: str | None = None
    source_channels: int = 1
    start_sample: int | None = None
    converted: bool = False
    filled: bool = False
    pcm: bytes | None = None
    float_samples: FloatArray | None = None

    @property
    def samples(self) -> FloatArray:
        """The float32 samples (decoded from `pcm` on the first read, then kept)."""
        decoded = self.float_samples
        if decoded is None:
            if self.pcm is None:
                raise ValueError("an AudioChunk needs float_samples or pcm")
            decoded = np.frombuffer(self.pcm, dtype=PCM16) * PCM16_SCALE
            object.__setattr__(self, "float_samples", decoded)  # a cache: same values
        return decoded

    @property
    def num_samples(self) -> int:
        decoded = self.float_samples
        if decoded is None:
            return len(self.pcm) // 2 if self.pcm is not None else 0
        return int(decoded.shape[0])

    @property
    def duration_s(self) -> float:
        return self.num_samples / self.sample_rate

    @property
    def received_at(self) -> float:
        """Arrival time in unix seconds."""
        return self.received_ns / 1e9

    def to_record(self) -> dict[str, Any]:
        """A JSON-able summary (the samples as an int16 checksum, not the values)."""
        pcm = np.clip(self.samples * 32768.0, -32768, 32767).astype("<i2").tobytes()
        return {
            "kind": "audio",
            "client": self.client,
            "session": self.session,
            "ts": self.timestamp_ms,
            "seq": self.sequence,
            "sr": self.sample_rate,
            "samples": self.num_samples,
            "start_sample": self.start_sample,
            "converted": self.converted,
            "filled": self.filled,
            "received_ns": self.received_ns,
            "crc32": _crc32(pcm),
        }


@dataclass(frozen=True, slots=True)
class VideoFrame:
    """One video frame; the image is decoded only when someone asks (`image()`)."""

    client: str
    timestamp_ms: int
    sequence: int
    width: int
    height: int
    format: str
    payload: bytes
    received_ns: int
    quality: int | None = None
    session: str | None = None
    source: str | None = None

    @property
    def received_at(self) -> float:
        return self.received_ns / 1e9

    def image(self) -> npt.NDArray[np.uint8]:
        """Decode to an H x W x 3 BGR array (OpenCV's order), or raise ValueError."""
        if self.format == "rgb":
            rgb = np.frombuffer(self.payload, np.uint8).reshape(self.height, self.width, 3)
            return np.ascontiguousarray(rgb[:, :, ::-1])
        import cv2  # heavy; only the consumers that look at pixels pay for it

        img = cv2.imdecode(np.frombuffer(self.payload, np.uint8), cv2.IMREAD_COLOR)
        if img is None:
            raise ValueError(f"frame {self.sequence} from {self.client}: JPEG does not decode")
        return np.asarray(img, dtype=np.uint8)  # OpenCV stubs type it loosely; no copy

    def to_record(self) -> dict[str, Any]:
        return {
            "kind": "video",
            "client": self.client,
            "session": self.session,
            "ts": self.timestamp_ms,
            "seq": self.sequence,
            "w": self.width,
            "h": self.height,
            "fmt": self.format,
            "bytes": len(self.payload),
            "received_ns": self.received_ns,
            "crc32": _crc32(self.payload),
        }


@dataclass(frozen=True, slots=True)
class ControlEvent:
    """A control request that reached the flow (hello, heartbeat, bye, ...)."""

    client: str
    command: str
    body: dict[str, Any]
    received_ns: int
    channel: Channel = "control"

    def to_record(self) -> dict[str, Any]:
        return {
            "kind": "control",
            "client": self.client,
            "cmd": self.command,
            "received_ns": self.received_ns,
        }


@dataclass(frozen=True, slots=True)
class Rejected:
    """A message that broke the contract, kept as data for the error branch."""

    reason: str
    detail: str
    channel: Channel
    peer: str
    received_ns: int
    size: int
    client: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_record(self) -> dict[str, Any]:
        return {
            "kind": "rejected",
            "reason": self.reason,
            "detail": self.detail,
            "channel": self.channel,
            "peer": self.peer,
            "client": self.client,
            "size": self.size,
            "received_ns": self.received_ns,
        }


Parsed = AudioChunk | VideoFrame | ControlEvent | Rejected


def _crc32(data: bytes) -> int:
    import zlib

    return zlib.crc32(data)
