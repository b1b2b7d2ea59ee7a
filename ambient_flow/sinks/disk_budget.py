"""What the session sink may put on disk: per client, per host, and free space kept.

Policy when a bound is hit: **stop recording, count, show, resume when allowed**. The
session stays open and its events go on being written (bounded in lines); its audio
and saved video frames are not written while its client is over budget. A
`disk_budget` event marks each pause in the session's `events.jsonl` (with the scope:
`client`, `host` or `free_space`), and the next marks its end with what was not
written; `session.json` and the `sessions` status section count it all.

- **Per client**: at most `client_bytes_per_minute` written, a token bucket refilled by
  the data's own times (arrival), so a replay pauses alike. A real-time client writes
  about 2 MB of audio a minute; a flood of 4 MiB chunks hits this at once.
- **Per host**: at most `max_bytes` written by this process's sessions (0: no cap), and
  new session directories at most `sessions_per_minute` (a bucket, as above).
- **Free space**: below `min_free_bytes` on the data directory's file system nothing
  more is recorded (checked at most once a second).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ambient_flow.operators.budget import TokenBucket

__all__ = ["DiskBudget", "DiskLimits"]

#: Clients whose byte buckets are kept (the least recently written are dropped first).
MAX_CLIENTS = 8192
_FREE_CHECK_S = 1.0


@dataclass(frozen=True, slots=True)
class DiskLimits:
    """The sink's disk bounds (see the module doc); 0 turns one off."""

    client_bytes_per_minute: int = 16 * 1024 * 1024
    max_bytes: int = 0
    min_free_bytes: int = 1024 * 1024 * 1024
    sessions_per_minute: float = 600.0

    def __post_init__(self) -> None:
        for name in ("client_bytes_per_minute", "max_bytes", "min_free_bytes"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name}={getattr(self, name)} must be >= 0 (0 = off)")
        if self.sessions_per_minute < 1:
            raise ValueError(f"sessions_per_minute={self.sessions_per_minute} must be >= 1")


class DiskBudget:
    """Decides whether `n` more bytes of a client may be written (one per sink worker).

    Args:
        limits: The bounds.
        path: A directory on the file system the sessions are written to.
        clock: Monotonic seconds (how often free space is looked at).
        free_bytes: Free bytes of that file system (injectable for tests).
    """

    def __init__(
        self,
        limits: DiskLimits,
        path: Path,
        *,
        clock: Callable[[], float] = time.monotonic,
        free_bytes: Callable[[Path], int] | None = None,
    ) -> None:
        self.limits = limits
        self._path = path
        self._clock = clock
        self._free_bytes = free_bytes or _statvfs_free
        self._buckets: dict[str, TokenBucket] = {}
        self._sessions = TokenBucket(limits.sessions_per_minute)
        self._free = -1
        self._checked = -1e18
        self.written = 0
        self.refused_bytes: dict[str, int] = {"client": 0, "host": 0, "free_space": 0}
        self.sessions_refused = 0

    def free(self) -> int:
        """Free bytes on the sessions' file system (looked at at most once a second)."""
        now = self._clock()
        if now - self._checked >= _FREE_CHECK_S:
            self._checked = now
            try:
                self._free = self._free_bytes(self._path)
            except OSError:
                self._free = -1  # unknown: not a reason to stop recording
        return self._free

    def refusal(self, client: str, nbytes: int, at_ns: int) -> str | None:
        """None if `client` may write `nbytes` now (they are then counted as written),
        else the scope that refuses: `free_space`, `host` or `client`."""
        limits = self.limits
        scope: str | None = None
        free = self.free() if limits.min_free_bytes else -1
        if 0 <= free < limits.min_free_bytes:
            scope = "free_space"
        elif limits.max_bytes and self.written + nbytes > limits.max_bytes:
            scope = "host"
        elif limits.client_bytes_per_minute and not self._bucket(client).take_whole(nbytes, at_ns):
            scope = "client"
        if scope is not None:
            self.refused_bytes[scope] += nbytes
            return scope
        self.written += nbytes
        return None

    def admit_session(self, at_ns: int) -> bool:
        """A new session directory may be made now (host: `sessions_per_minute`)."""
        if self._sessions.take_one(at_ns):
            return True
        self.sessions_refused += 1
        return False

    def _bucket(self, client: str) -> TokenBucket:
        bucket = self._buckets.pop(client, None)
        if bucket is None:
            bucket = TokenBucket(float(self.limits.client_bytes_per_minute))
        self._buckets[client] = bucket  # most recent last
        if len(self._buckets) > MAX_CLIENTS:
            del self._buckets[next(iter(self._buckets))]
        return bucket

    def status(self) -> dict[str, Any]:
        return {
            "written_bytes": self.written,
            "free_bytes": self._free,
            "refused_bytes": dict(self.refused_bytes),
            "sessions_refused": self.sessions_refused,
            "limits": {
                "client_bytes_per_minute": self.limits.client_bytes_per_minute,
                "max_bytes": self.limits.max_bytes,
                "min_free_bytes": self.limits.min_free_bytes,
                "sessions_per_minute": self.limits.sessions_per_minute,
            },
        }


def _statvfs_free(path: Path) -> int:
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize
