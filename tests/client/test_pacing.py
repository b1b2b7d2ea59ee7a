from __future__ import annotations

import random
import threading
import time

import pytest

from ambient_flow.client.pacing import Pacer
from ambient_flow.errors import ConfigError

from .helpers import FakeClock


def test_an_hour_of_ticks_does_not_drift(fake_clock: FakeClock) -> None:
    # Every sleep overshoots by up to 5 ms, as a loaded machine does. Deadlines are
    # absolute, so the error never accumulates: tick 36000 is still within 5 ms.
    rng = random.Random(1)

    def oversleep(seconds: float) -> None:
        fake_clock.sleep(seconds + rng.uniform(0, 0.005))

    pacer = Pacer(0.1, clock=fake_clock, sleep=oversleep)
    pacer.start()
    start = fake_clock.now
    worst = 0.0
    for n in range(1, 36_001):
        assert pacer.wait_tick(n)
        error = fake_clock.now - (start + n * 0.1)
        assert 0 <= error <= 0.005 + 1e-9
        worst = max(worst, error)
        fake_clock.advance(0.002)  # the work of sending the chunk
    assert fake_clock.now - start == pytest.approx(3600.0, abs=0.01)
    assert pacer.max_lateness_s == pytest.approx(worst)


def test_late_tick_returns_at_once_and_reports_lateness(fake_clock: FakeClock) -> None:
    pacer = Pacer(0.1, clock=fake_clock, sleep=fake_clock.sleep)
    pacer.start()
    fake_clock.advance(0.35)  # fell behind by more than three ticks
    for n in (1, 2, 3):
        assert pacer.wait_tick(n)
    assert fake_clock.sleeps == []
    assert pacer.last_lateness_s == pytest.approx(0.05)
    assert pacer.wait_tick(4)
    assert fake_clock.now == pytest.approx(pacer.deadline(4))


def test_not_realtime_never_sleeps(fake_clock: FakeClock) -> None:
    def forbidden(seconds: float) -> None:
        raise AssertionError("slept while not realtime")

    pacer = Pacer(0.1, realtime=False, clock=fake_clock, sleep=forbidden)
    assert all(pacer.wait_tick(n) for n in range(1000))
    assert pacer.wait_until(3600.0)


def test_wait_until_uses_offsets_from_the_start(fake_clock: FakeClock) -> None:
    pacer = Pacer(clock=fake_clock, sleep=fake_clock.sleep)
    pacer.start()
    origin = fake_clock.now
    assert pacer.wait_until(2.5)
    assert fake_clock.now == pytest.approx(origin + 2.5)
    with pytest.raises(ConfigError):
        pacer.deadline(1)  # no period


def test_stop_event_ends_a_wait_immediately() -> None:
    stop = threading.Event()
    pacer = Pacer(10.0, stop=stop)
    pacer.start()
    threading.Timer(0.05, stop.set).start()
    began = time.monotonic()
    assert not pacer.wait_tick(1)
    assert time.monotonic() - began < 2.0
    assert not pacer.wait_tick(2)


def test_period_must_be_positive() -> None:
    with pytest.raises(ConfigError):
        Pacer(0.0)
