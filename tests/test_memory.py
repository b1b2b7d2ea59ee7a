"""Native memory: freed memory goes back to the OS, and the live host shows its memory."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ambient_flow.memory import GlibcAllocator, MemoryKeeper, process_memory
from ambient_flow.testing.harness import LiveHost

needs_glibc = pytest.mark.skipif(GlibcAllocator.load() is None, reason="glibc only")

# ~190 MB in 64 KiB blocks (below glibc's mmap threshold: they come from the heap),
# all freed but the last, which pins the heap's top: glibc keeps the freed pages.
_CHURN = """
import json, sys
from ambient_flow.memory import MemoryKeeper, process_memory
keeper = MemoryKeeper(arena_max=0, trim_seconds=0)
blocks = [b"x" * (64 * 1024) for _ in range(3000)]
last = blocks[-1]
del blocks
before = process_memory()["rss_bytes"]
if sys.argv[1] == "trim":
    keeper.trim_now()
print(json.dumps([before, process_memory()["rss_bytes"], keeper.trims]))
"""


def _churn(mode: str) -> tuple[int, int, int]:
    out = subprocess.run(
        [sys.executable, "-c", _CHURN, mode], capture_output=True, text=True, check=True
    )
    before, after, trims = json.loads(out.stdout)
    return before, after, trims


@needs_glibc
def test_trim_gives_freed_heap_memory_back() -> None:
    before, after, trims = _churn("keep")
    assert before > 150e6 and after > 150e6  # freed, yet still resident: what glibc does
    before, after, trims = _churn("trim")
    assert before > 150e6
    assert after < 80e6 and trims == 1


def test_process_memory_reads_this_process() -> None:
    mem = process_memory()
    assert mem["rss_bytes"] > 1e6 and mem["rss_peak_bytes"] >= mem["rss_bytes"]
    assert mem["fds"] >= 3


@needs_glibc
def test_keeper_trims_on_its_own_thread_and_stops() -> None:
    keeper = MemoryKeeper(arena_max=2, trim_seconds=0.02)
    keeper.start()
    deadline = time.monotonic() + 5
    while keeper.trims < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    keeper.stop()
    assert keeper.trims >= 2
    status = keeper.status()
    assert status["allocator"] == "glibc" and status["arena_max"] == 2
    trims = keeper.trims
    time.sleep(0.1)
    assert keeper.trims == trims  # stopped


def test_keeper_without_glibc_says_so() -> None:
    keeper = MemoryKeeper(arena_max=2, trim_seconds=0.01, allocator=None)
    keeper._allocator = None  # as on musl or macOS
    keeper.start()
    keeper.trim_now()
    status = keeper.status()
    assert keeper.trims == 0 and status["allocator"] == "not glibc: untuned"


def test_live_host_status_shows_its_memory(tmp_path: Path) -> None:
    with LiveHost(tmp_path, malloc_trim_seconds=0.05) as host:
        deadline = time.monotonic() + 5
        while True:
            memory = host.request({"cmd": "stats"})["stats"]["memory"]
            if memory.get("trims", 0) >= 1 or time.monotonic() > deadline:
                break
            time.sleep(0.05)
    assert memory["rss_bytes"] > 1e6 and memory["fds"] > 0
    if GlibcAllocator.load() is not None:
        assert memory["trims"] >= 1
