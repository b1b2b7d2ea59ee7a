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


@pytest.fixture
def live_host(tmp_path: Path) -> Iterator[Callable[..., LiveHost]]:
    """Start live hosts on free loopback ports; each is stopped at teardown.

    Teardown fails the test if the host left threads or file descriptors behind.
    """
    threads_before = {t.ident for t in threading.enumerate()}
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
        leaked = [t for t in threading.enumerate() if t.ident not in threads_before and t.is_alive()]
        if not leaked and _open_fds() <= fds_before + 2:
            break
        time.sleep(0.05)
    leaked = [t.name for t in threading.enumerate() if t.ident not in threads_before and t.is_alive()]
    assert not leaked, f"threads leaked: {leaked}"
    assert _open_fds() <= fds_before + 2, f"fds leaked: {fds_before} -> {_open_fds()}"
