"""Fixtures shared by every test layer: a live host on loopback, and leak checks."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from ambient_flow.testing import LiveHost


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def _os_threads() -> int:
    return len(os.listdir("/proc/self/task"))


def _new_threads(before: set[int | None]) -> list[str]:
    # Threads Bytewax's runtime starts appear as `_DummyThread`s and are never
    # removed from `threading`'s table; whether they really ended shows in /proc.
    return [
        t.name
        for t in threading.enumerate()
        if t.ident not in before and t.is_alive() and not isinstance(t, threading._DummyThread)
    ]


@pytest.fixture
def live_host(tmp_path: Path) -> Iterator[Callable[..., LiveHost]]:
    """Start live hosts on free loopback ports; each is stopped at teardown.

    Teardown fails the test if the host left threads or file descriptors behind.
    """
    threads_before = {t.ident for t in threading.enumerate()}
    os_threads_before = _os_threads()
    fds_before = _open_fds()
    hosts: list[LiveHost] = []

    def start(**kw: Any) -> LiveHost:
        data = tmp_path / f"data{len(hosts)}"
        host = LiveHost(data, **kw).start()
        hosts.append(host)
        return host

    yield start
    for host in hosts:
        if host.runtime.stop.is_set() and host._thread is not None and not host._thread.is_alive():
            continue
        host.stop()
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        clean = not _new_threads(threads_before) and _os_threads() <= os_threads_before
        if clean and _open_fds() <= fds_before + 2:
            break
        time.sleep(0.05)
    assert not _new_threads(threads_before), f"threads leaked: {_new_threads(threads_before)}"
    assert _os_threads() <= os_threads_before, (
        f"{_os_threads() - os_threads_before} OS threads leaked"
    )
    assert _open_fds() <= fds_before + 2, f"fds leaked: {fds_before} -> {_open_fds()}"
