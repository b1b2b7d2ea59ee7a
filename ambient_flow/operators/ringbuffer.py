"""A rolling audio buffer addressed by absolute sample position."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from ambient_flow.protocol.constants import AUDIO_SAMPLE_RATE

__all__ = ["AudioRing"]


class AudioRing:
    """The last `capacity` samples of one client's timeline.

    Positions are absolute sample indices on the client's 16 kHz clock (principle 1),
    so a consumer can ask for "samples 48000..56000" whatever has been written since.
    Writing is a copy into the array. The array grows (doubling) as audio arrives, up
    to `capacity`: a client that has sent one second holds one second, not 30.
    """

    #: Samples allocated at first (one second); doubled as needed.
    INITIAL = AUDIO_SAMPLE_RATE

    def __init__(self, capacity: int, start: int = 0) -> None:
        if capacity <= 0:
            raise ValueError(f"capacity must be > 0, got {capacity}")
        self._capacity = capacity
        self._buf = np.zeros(min(capacity, self.INITIAL), dtype=np.float32)
        self._end = start  # absolute position one past the newest sample
        self._first = start  # absolute position of the oldest sample held

    @property
    def capacity(self) -> int:
        """Most samples ever held."""
        return self._capacity

    @property
    def allocated(self) -> int:
        """Samples allocated now (grows up to `capacity`)."""
        return int(self._buf.shape[0])

    def _grow(self, needed: int) -> None:
        size = self.allocated
        if needed <= size or size >= self._capacity:
            return
        held = self.range(self._first, self._end)
        size = min(self._capacity, max(needed, 2 * size))
        self._buf = np.zeros(size, dtype=np.float32)
        self._place(self._first, held)

    @property
    def end(self) -> int:
        """Absolute position one past the newest sample."""
        return self._end

    @property
    def start(self) -> int:
        """Absolute position of the oldest sample still held."""
        return self._first

    def reset(self, position: int) -> None:
        """Forget everything; the next write starts at `position`."""
        self._end = position
        self._first = position

    def write(self, samples: npt.NDArray[np.float32]) -> int:
        """Append at `end`; returns the position the samples were written at."""
        pos = self._end
        n = int(samples.shape[0])
        self._grow(min(self._capacity, self._end - self._first + n))
        cap = self.allocated
        if n >= cap:
            samples = samples[-cap:]
            first = pos + n - cap
            self._place(first, samples)
        elif n:
            self._place(pos, samples)
        self._end = pos + n
        self._first = max(self._first, self._end - cap)
        return pos

    def _place(self, pos: int, samples: npt.NDArray[np.float32]) -> None:
        cap = self.allocated
        i = pos % cap
        n = int(samples.shape[0])
        head = min(n, cap - i)
        self._buf[i : i + head] = samples[:head]
        if head < n:
            self._buf[: n - head] = samples[head:]

    def range(self, start: int, end: int) -> npt.NDArray[np.float32]:
        """A copy of samples [start, end); raises ValueError if not all of it is held."""
        if end < start:
            raise ValueError(f"empty range {start}..{end}")
        if start < self.start or end > self._end:
            raise ValueError(
                f"samples {start}..{end} not held (buffer holds {self.start}..{self._end})"
            )
        cap = self.allocated
        n = end - start
        i = start % cap
        head = min(n, cap - i)
        out = np.empty(n, dtype=np.float32)
        out[:head] = self._buf[i : i + head]
        if head < n:
            out[head:] = self._buf[: n - head]
        return out

    def last(self, n: int) -> npt.NDArray[np.float32]:
        """The newest `n` samples (fewer if fewer are held)."""
        n = max(0, min(n, self._end - self.start))
        return self.range(self._end - n, self._end)
