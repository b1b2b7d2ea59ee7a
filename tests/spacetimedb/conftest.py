"""Fixtures: a strict fake SpacetimeDB on a free loopback port, writers closed at teardown,
and a teardown that fails the test if threads or file descriptors leaked."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from ambient_flow.spacetimedb import SpacetimeWriter, WriterOptions

from .fake_server import FakeSpacetime

DB = "ambient-listener"


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def _new_threads(before: set[int | None]) -> list[str]:
    return [
        t.name
        for t in threading.enumerate()
        if t.ident not in before and t.is_alive() and not isinstance(t, threading._DummyThread)
    ]


@pytest.fixture
def no_leaks() -> Iterator[None]:
    """Fail the test if it leaves threads or sockets behind."""
    threads_before = {t.ident for t in threading.enumerate()}
    fds_before = _open_fds()
    yield
    deadline = time.monotonic() + 3.0
    while time.monotonic() < deadline:
        if not _new_threads(threads_before) and _open_fds() <= fds_before:
            break
        time.sleep(0.02)
    assert not _new_threads(threads_before), f"threads leaked: {_new_threads(threads_before)}"
    assert _open_fds() <= fds_before, f"fds leaked: {fds_before} -> {_open_fds()}"


@pytest.fixture
def fake(no_leaks: None) -> Iterator[FakeSpacetime]:
    """A running fake with the ambient-sub module; stopped at teardown."""
    server = FakeSpacetime(DB).start()
    yield server
    server.stop()


def fast_options(url: str, **kw: Any) -> WriterOptions:
    """Options with short timeouts and back-off, for tests."""
    base: dict[str, Any] = {
        "request_timeout_s": 0.5,
        "connect_timeout_s": 0.5,
        "backoff_base_s": 0.01,
        "backoff_cap_s": 0.05,
        "blocked_retry_s": 0.2,
        "log_interval_s": 60.0,
    }
    database = kw.pop("database", DB)
    base.update(kw)
    return WriterOptions(url, database, **base)


@pytest.fixture
def make_writer(fake: FakeSpacetime) -> Iterator[Callable[..., SpacetimeWriter]]:
    """Build writers against `fake`; any left open are closed at teardown."""
    writers: list[SpacetimeWriter] = []

    def make(**kw: Any) -> SpacetimeWriter:
        clock = kw.pop("clock", None)
        rng = kw.pop("rng", None)
        extra: dict[str, Any] = {}
        if clock is not None:
            extra["clock"] = clock
        if rng is not None:
            extra["rng"] = rng
        writer = SpacetimeWriter(fast_options(kw.pop("url", fake.url), **kw), **extra)
        writers.append(writer)
        return writer

    yield make
    for writer in writers:
        writer.close(timeout=1.0)


def wait_for(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    """Poll until `predicate()` holds; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.01)
