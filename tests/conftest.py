"""Fixtures shared by every test layer: a live host on loopback, and leak checks."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings as hypothesis_settings

from ambient_flow.testing import LiveHost

# CI explores the same examples on every run (a property test that fails there fails
# every time, with its example); locally hypothesis keeps looking for new ones.
hypothesis_settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    hypothesis_settings.load_profile("ci")


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def _os_threads() -> int:
    return len(os.listdir("/proc/self/task"))


#: Process-wide helper threads libraries start once and keep (not ours to stop):
#: tqdm's monitor (started by a model library's progress bar).
LIBRARY_THREADS = {"tqdm_monitor"}


def _new_threads(before: set[int | None]) -> list[str]:
    # Threads Bytewax's runtime starts appear as `_DummyThread`s and are never
    # removed from `threading`'s table; whether they really ended shows in /proc.
    return [
        t.name
        for t in threading.enumerate()
        if t.ident not in before
        and t.is_alive()
        and not isinstance(t, threading._DummyThread)
        and t.name not in LIBRARY_THREADS
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
    deadline = time.monotonic() + (0.5 if any(h.settings.enrich for h in hosts) else 3)
    while time.monotonic() < deadline:
        library = sum(1 for t in threading.enumerate() if t.name in LIBRARY_THREADS)
        clean = not _new_threads(threads_before) and _os_threads() <= os_threads_before + library
        if clean and _open_fds() <= fds_before + 2:
            break
        time.sleep(0.05)
    assert not _new_threads(threads_before), f"threads leaked: {_new_threads(threads_before)}"
    # Model libraries (onnxruntime, CTranslate2, torch) keep process-wide native thread
    # pools once a model has run; with the enrichment on, only Python threads are checked.
    if not any(host.settings.enrich for host in hosts):
        library = sum(1 for t in threading.enumerate() if t.name in LIBRARY_THREADS)
        assert _os_threads() <= os_threads_before + library, (
            f"{_os_threads() - os_threads_before} OS threads leaked"
        )
    # Loaded models also keep a few descriptors (thread-pool eventfds, mapped weights).
    slack = 8 if any(host.settings.enrich for host in hosts) else 2
    assert _open_fds() <= fds_before + slack, f"fds leaked: {fds_before} -> {_open_fds()}"


@pytest.fixture(autouse=True)
def _drop_unloadable_lazy_modules() -> None:
    """Remove speechbrain's not-yet-loaded lazy modules from `sys.modules`.

    speechbrain (pulled in by pyannote/diart in the model tests) registers modules such
    as `speechbrain.integrations.k2_fsa` that raise ImportError on any attribute access
    when their optional dependency is absent. Hypothesis walks `sys.modules` and trips
    over them; they are never used here, so they are dropped before each test.
    """
    import sys

    for name, module in list(sys.modules.items()):
        lazy = name.startswith("speechbrain.") and hasattr(type(module), "ensure_module")
        if lazy and vars(module).get("lazy_module") is None:  # never loaded
            del sys.modules[name]
