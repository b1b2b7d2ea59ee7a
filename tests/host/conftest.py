"""Leak accounting for in-process hosts: Python threads, OS threads and descriptors."""

from __future__ import annotations

import os
import threading
import time

from tests.conftest import LIBRARY_THREADS


def python_threads() -> list[str]:
    return sorted(
        t.name
        for t in threading.enumerate()
        if t.is_alive()
        and not isinstance(t, threading._DummyThread)
        and t.name not in LIBRARY_THREADS
    )


def os_threads() -> int:
    return len(os.listdir("/proc/self/task"))


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def settle(check: callable, timeout: float = 3.0) -> None:  # type: ignore[valid-type]
    """Threads and sockets wind down asynchronously: give them a moment."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not check():
        time.sleep(0.05)
