"""The process's native memory: glibc's allocator kept from hoarding what was freed.

A host on a hostile network allocates and frees in bursts: libzmq's I/O threads allocate
every received message (up to `max_message_bytes`), a worker thread copies and frees it,
floods of multi-megabyte messages come and go. Python's own objects stay flat under such
a load (tracemalloc in the soak: 39/36/37 MB at 4/8/12 min), but glibc keeps freed
memory in per-thread arenas and raises its mmap threshold after the first large free,
so large buffers land in arena heaps that fragment and are rarely given back: the
process's RSS crept up ~70 MB an hour in `bench.soak`.

Two levers, both glibc's own and both knobs: fewer arenas (`--malloc-arena-max`,
glibc's `M_ARENA_MAX`; the `MALLOC_ARENA_MAX` variable does the same), and giving free
pages back to the kernel every `--malloc-trim-seconds` (`malloc_trim(0)`, off the worker
threads). On a C library other than glibc both are skipped and say so in status.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import threading
import time
from typing import Any

__all__ = ["GlibcAllocator", "MemoryKeeper", "process_memory"]

logger = logging.getLogger(__name__)

#: mallopt() parameters (glibc's malloc.h).
_M_ARENA_MAX = -8


class GlibcAllocator:
    """glibc's `mallopt` and `malloc_trim`, through ctypes."""

    def __init__(self, libc: ctypes.CDLL) -> None:
        self._mallopt = libc.mallopt
        self._mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
        self._mallopt.restype = ctypes.c_int
        self._trim = libc.malloc_trim
        self._trim.argtypes = [ctypes.c_size_t]
        self._trim.restype = ctypes.c_int

    @classmethod
    def load(cls) -> GlibcAllocator | None:
        """This process's glibc, or None (musl, macOS, Windows: nothing to tune)."""
        name = ctypes.util.find_library("c")
        if not name:
            return None
        try:
            libc = ctypes.CDLL(name)
            libc.gnu_get_libc_version  # noqa: B018 - present in glibc only
            libc.malloc_trim  # noqa: B018
        except (OSError, AttributeError):
            return None
        return cls(libc)

    def cap_arenas(self, count: int) -> bool:
        """At most `count` malloc arenas from now on (threads share them beyond that)."""
        return bool(self._mallopt(_M_ARENA_MAX, count))

    def trim(self) -> bool:
        """Give free memory at the top of the heap and free whole pages in every arena
        back to the kernel. True if some memory was released."""
        return bool(self._trim(0))


def process_memory() -> dict[str, int]:
    """This process's resident and peak memory (bytes) and open descriptors, from /proc
    (empty where there is no /proc)."""
    out: dict[str, int] = {}
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(("VmRSS:", "VmHWM:")):
                    key = "rss_bytes" if line.startswith("VmRSS") else "rss_peak_bytes"
                    out[key] = int(line.split()[1]) * 1024
        out["fds"] = len(os.listdir("/proc/self/fd"))
    except (OSError, ValueError):
        pass
    return out


class MemoryKeeper:
    """Caps glibc's arenas once and trims its heaps on a thread of its own.

    `malloc_trim` walks every arena (a few ms at most at this host's sizes) holding each
    arena's lock in turn: done here, a worker thread only ever waits for one arena, never
    for the walk. `status()` is this process's memory for the status document.
    """

    def __init__(
        self,
        *,
        arena_max: int,
        trim_seconds: float,
        allocator: GlibcAllocator | None = None,
    ) -> None:
        self._allocator = allocator if allocator is not None else GlibcAllocator.load()
        self._arena_max = arena_max
        self._trim_seconds = trim_seconds
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.trims = 0
        self.trim_ms_last = 0.0
        self.arenas_capped = False
        if self._allocator is not None and arena_max > 0:
            self.arenas_capped = self._allocator.cap_arenas(arena_max)

    def start(self) -> None:
        """Start trimming every `trim_seconds` (nothing to do without glibc or at 0)."""
        if self._allocator is None or self._trim_seconds <= 0 or self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name="af-memory", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5.0)
            self._thread = None

    def trim_now(self) -> None:
        if self._allocator is None:
            return
        began = time.perf_counter()
        self._allocator.trim()
        self.trim_ms_last = round((time.perf_counter() - began) * 1e3, 2)
        self.trims += 1

    def _run(self) -> None:
        while not self._stop.wait(self._trim_seconds):
            self.trim_now()

    def status(self) -> dict[str, Any]:
        return {
            **process_memory(),
            "allocator": "glibc" if self._allocator is not None else "not glibc: untuned",
            "arena_max": self._arena_max if self.arenas_capped else None,
            "trim_seconds": self._trim_seconds,
            "trims": self.trims,
            "trim_ms_last": self.trim_ms_last,
        }
