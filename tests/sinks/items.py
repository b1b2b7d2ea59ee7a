"""Builders of the items per-client ingest emits, with real arrays and real JPEGs."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from ambient_flow.operators.events import ClientEvent, EventKind
from ambient_flow.protocol.messages import AudioChunk, Rejected, VideoFrame

T0_NS = 1_735_787_045_123_456_789  # 2025-01-02T03:04:05.123456789Z
SR = 16000
CHUNK = 1600  # 100 ms


def signal(n: int, seed: int) -> npt.NDArray[np.float32]:
    """Deterministic audio in [-1, 1), with values that clip and values that truncate."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1.0, 1.0, n).astype(np.float32)
    x[:3] = (-1.0, 0.99999, 0.5 / 32768)  # min, near max, sub-LSB
    return x


def jpeg(seq: int, w: int = 64, h: int = 48) -> bytes:
    img = np.full((h, w, 3), seq % 256, np.uint8)
    cv2.putText(img, str(seq), (2, h - 4), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (255, 255, 255), 1)
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 80])
    if not ok:
        raise RuntimeError("cv2.imencode failed")
    return bytes(buf)


@dataclass
class Client:
    """One client's ingest output: a session, contiguous audio, frames, events."""

    name: str
    session: str
    at_ns: int = T0_NS
    next_sample: int = 48_000  # a session need not start at sample 0
    seq: int = 0
    sent: list[npt.NDArray[np.float32]] = field(default_factory=list)

    def _tick(self, ms: int = 100) -> int:
        self.at_ns += ms * 1_000_000
        return self.at_ns

    def event(self, kind: EventKind, **data: Any) -> ClientEvent:
        return ClientEvent(self.name, kind, self._tick(1), self.session, data)

    def start(self, **extra: Any) -> ClientEvent:
        data: dict[str, Any] = {
            "peer": "127.0.0.1#p40000",
            "source": "mic",
            "capabilities": ["audio", "video"],
            "client_session": "abc",
            "config": {"audio_chunk_ms": 100, "video_res": [640, 480]},
        }
        data.update(extra)
        return ClientEvent(self.name, "session_start", self.at_ns, self.session, data)

    def end(self, reason: str = "bye") -> ClientEvent:
        return self.event("session_end", reason=reason, counters={"gap": 1, "late": 0})

    def audio(self, n: int = CHUNK, *, seed: int | None = None) -> AudioChunk:
        x = signal(n, self.seq if seed is None else seed)
        chunk = AudioChunk(
            client=self.name,
            timestamp_ms=self._tick() // 1_000_000,
            sequence=self.seq,
            sample_rate=SR,
            channels=1,
            float_samples=x,
            received_ns=self.at_ns,
            start_sample=self.next_sample,
        )
        self.seq += 1
        self.next_sample += n
        self.sent.append(x)
        return chunk

    def frame(self, seq: int, fmt: str = "jpeg") -> VideoFrame:
        w, h = 64, 48
        if fmt == "rgb":
            payload = np.full((h, w, 3), (10, 200, 30), np.uint8).tobytes()
        else:
            payload = jpeg(seq, w, h)
        return VideoFrame(
            client=self.name,
            timestamp_ms=self._tick(200) // 1_000_000,
            sequence=seq,
            width=w,
            height=h,
            format=fmt,
            payload=payload,
            received_ns=self.at_ns,
        )

    def rejected(self) -> Rejected:
        return Rejected("odd_pcm", "3 bytes", "audio", "127.0.0.1#p1", self._tick(1), 3, self.name)

    def expected_pcm(self) -> npt.NDArray[np.int16]:
        x = np.concatenate(self.sent) if self.sent else np.zeros(0, np.float32)
        return np.clip(x * 32768, -32768, 32767).astype("<i2")
