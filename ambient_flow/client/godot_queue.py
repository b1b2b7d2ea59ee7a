"""Twin of the Godot addon's send worker (`clients/godot/addons/ambient_capture/transport.gd`,
`AmbientTransport`): a bounded queue in front of a transport, so a game frame never
waits for the network. Keep the two in step."""

from __future__ import annotations

import collections
import threading
import time
from dataclasses import dataclass

from ambient_flow.client.transport import SendChannel, Transport
from ambient_flow.errors import ConfigError

__all__ = ["SendQueue"]


@dataclass(slots=True)
class _QueueCounts:
    audio_queued: int = 0
    audio_dropped: int = 0
    video_queued: int = 0
    video_replaced: int = 0


class SendQueue:
    """transport.gd `AmbientTransport`'s queue and worker: sends never block the producer.

    Audio waits in a FIFO of `audio_capacity` messages; a message that does not fit is
    dropped and counted (the server sees a `seq` gap and counts it too). Video keeps one
    slot: a new frame replaces one not yet sent (counted). With `block_when_full` the
    producer waits for room instead (a lossless as-fast-as-possible run; the Godot
    client never does this).
    """

    def __init__(
        self, transport: Transport, audio_capacity: int = 32, *, block_when_full: bool = False
    ) -> None:
        if audio_capacity < 1:
            raise ConfigError(f"audio_capacity={audio_capacity} must be >= 1")
        self._transport = transport
        self._capacity = audio_capacity
        self._block = block_when_full
        self._audio: collections.deque[bytes] = collections.deque()
        self._video: bytes | None = None
        self._cond = threading.Condition()
        self._running = True
        self._busy = False
        self.counts = _QueueCounts()
        self._thread = threading.Thread(target=self._work, name="godot-send", daemon=True)
        self._thread.start()

    def put_audio(self, envelope: bytes) -> bool:
        with self._cond:
            while self._block and self._running and len(self._audio) >= self._capacity:
                self._cond.wait(0.05)
            if len(self._audio) >= self._capacity:
                self.counts.audio_dropped += 1
                return False
            self._audio.append(envelope)
            self.counts.audio_queued += 1
            self._cond.notify_all()
            return True

    def put_video(self, envelope: bytes) -> None:
        with self._cond:
            if self._video is not None:
                self.counts.video_replaced += 1
            self._video = envelope
            self.counts.video_queued += 1
            self._cond.notify_all()

    def drain(self, timeout_s: float) -> bool:
        """Wait until both queues are empty and nothing is in flight."""
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while self._audio or self._video is not None or self._busy:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(min(remaining, 0.05))
        return True

    def close(self) -> None:
        with self._cond:
            self._running = False
            self._cond.notify_all()
        self._thread.join(timeout=5.0)

    def _take(self) -> tuple[SendChannel, bytes] | None:
        with self._cond:
            while self._running and not self._audio and self._video is None:
                self._cond.wait(0.05)
            if self._audio:  # audio first: it is the stream clock
                item: tuple[SendChannel, bytes] = ("audio", self._audio.popleft())
            elif self._video is not None:
                item, self._video = ("video", self._video), None
            else:
                return None
            self._busy = True
            self._cond.notify_all()
            return item

    def _work(self) -> None:
        while True:
            item = self._take()
            if item is None:
                return
            try:
                self._transport.send(item[0], [item[1]])
            finally:
                with self._cond:
                    self._busy = False
                    self._cond.notify_all()
