"""Telemetry's own bounds: the rate-limited log forgets keys a hostile network made up."""

from __future__ import annotations

import logging

import pytest

from ambient_flow.telemetry import RateLimitedLog, Telemetry


def test_the_rate_limited_log_forgets_quiet_keys(caplog: pytest.LogCaptureFixture) -> None:
    now = [0.0]
    log = RateLimitedLog(logging.getLogger("t"), 5.0, clock=lambda: now[0], max_keys=100)
    with caplog.at_level(logging.WARNING, logger="t"):
        for i in range(10_000):  # a made-up sending host per message, one every 10 ms
            now[0] = i * 0.01
            log.log(logging.WARNING, f"budget:192.0.2.{i}", "host %d", i)
    assert len(caplog.records) == 10_000  # every key is new: each says its line
    assert len(log) <= 2 * 500 + 1  # the keys of the last 5 s (500), not all 10 000


def test_a_busy_key_is_still_held_back_and_counted(caplog: pytest.LogCaptureFixture) -> None:
    now = [0.0]
    log = RateLimitedLog(logging.getLogger("t"), 5.0, clock=lambda: now[0], max_keys=4)
    with caplog.at_level(logging.WARNING, logger="t"):
        for i in range(100):
            now[0] = i * 0.01
            log.log(logging.WARNING, "reject:bad_field", "bad")
            log.log(logging.WARNING, f"other:{i}", "other")  # pruning runs meanwhile
        now[0] = 6.0
        log.log(logging.WARNING, "reject:bad_field", "bad")
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("bad")]
    assert lines == ["bad", "bad (+99 more like this in the last 5 s)"]


def test_a_source_counts_a_whole_batch_of_raw_messages_at_once() -> None:
    tele = Telemetry()
    tele.raw("audio", 3306)
    tele.raw("audio", 3 * 3306, 3)
    assert tele.status()["raw"] == {"audio": 4}
    value = tele.registry.get_sample_value
    assert value("ambient_raw_messages_total", {"channel": "audio"}) == 4
    assert value("ambient_raw_bytes_total", {"channel": "audio"}) == 4 * 3306
