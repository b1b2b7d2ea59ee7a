"""A clock tests move by hand (for `HostRuntime.clock`)."""

from __future__ import annotations

import threading

__all__ = ["FakeClock"]


class FakeClock:
    """Unix-nanosecond clock that only moves when told to. Thread-safe."""

    def __init__(self, start_ns: int = 1_700_000_000_000_000_000) -> None:
        self._now = start_ns
        self._lock = threading.Lock()

    def __call__(self) -> int:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> int:
        with self._lock:
            self._now += int(seconds * 1e9)
            return self._now
