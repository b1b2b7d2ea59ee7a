"""The writer against the strict fake, under faults: nothing lost within the bound, nothing
written twice, refusals counted once, and a caller that is never held up."""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Callable
from typing import Any

import pytest

from ambient_flow.spacetimedb import (
    Backoff,
    MappingOptions,
    SpacetimeConfigError,
    SpacetimeWriter,
    WriterOptions,
)

from .conftest import DB, fast_options, wait_for
from .fake_server import SIGNATURES, FakeSpacetime
from .records import detections, frame, session_end, session_start, utterance

MakeWriter = Callable[..., SpacetimeWriter]


class FakeClock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def delivered(writer: SpacetimeWriter) -> int:
    return int(writer.status()["records"]["delivered"])


def entry_ids(fake: FakeSpacetime) -> list[str]:
    return sorted(r["EntryId"] for r in fake.rows("transcript_entry"))


def test_a_session_fills_every_table(fake: FakeSpacetime, make_writer: MakeWriter) -> None:
    writer = make_writer()
    turns = {
        "end": 3.5,
        "speakers": [
            {"label": "speaker0", "start": 1.5, "end": 2.5},
            {"label": "speaker1", "start": 2.5, "end": 3.5},
        ],
    }
    records: list[tuple[dict[str, Any], dict[str, Any] | None]] = [
        (session_start(), None),
        (utterance(1.5, "hello there"), turns),
        (detections(2.0, "person"), None),
        (frame("speaker_change", 2.5, speaker="speaker1"), None),
        (session_end(), None),
    ]
    for record, side in records:
        assert writer.submit(record, side)
    report = writer.close(timeout=5)
    assert report.clean, report
    (device,) = fake.rows("capture_device")
    assert (device["DeviceIdentity"], device["Name"], device["Status"]) == (
        "ambient-flow:laptop", "laptop", "online",
    )  # fmt: skip
    (session,) = fake.rows("audio_session")
    assert (session["DeviceId"], session["Status"], session["DurationMs"]) == (
        device["Id"], "completed", 300_000,
    )  # fmt: skip
    assert session["EndedAt"] is not None and session["Date"] == "2026-01-23"
    (entry,) = fake.rows("transcript_entry")
    assert (entry["SessionId"], entry["EntryId"], entry["Transcript"], entry["Speaker"]) == (
        session["Id"], "s1_1.500", "hello there", "s1/speaker0",
    )  # fmt: skip
    assert (entry["RecordingStartMs"], entry["RecordingEndMs"], entry["DurationMs"]) == (
        1500, 3500, 2000,
    )  # fmt: skip
    segments = fake.rows("diarization_segment")
    assert [(s["EntryId"], s["StartMs"], s["EndMs"], s["PyannoteLabel"]) for s in segments] == [
        (entry["Id"], 0, 1000, "speaker0"), (entry["Id"], 1000, 2000, "speaker1"),
    ]  # fmt: skip
    assert sorted(s["Name"] for s in fake.rows("speaker")) == ["s1/speaker0", "s1/speaker1"]
    (row,) = fake.rows("frame")
    assert (row["SessionId"], json.loads(row["Detections"])[0]["class"]) == (
        session["Id"],
        "person",
    )
    status = report.status
    assert status["state"] == "closed"
    assert status["records"] == {
        "submitted": 5, "delivered": 5, "failed": 0, "dropped": 0, "pending": 0,
    }  # fmt: skip
    assert status["failures"] == {} and status["calls"] == status["ok"] == len(fake.calls())
    json.dumps(status)  # JSON-ready


def test_database_down_then_up_loses_nothing_and_writes_nothing_twice(
    fake: FakeSpacetime, make_writer: MakeWriter
) -> None:
    writer = make_writer(queue_bound=100, batch_size=8)
    writer.submit(session_start())
    wait_for(lambda: delivered(writer) == 1)
    fake.stop()
    for i in range(40):
        assert writer.submit(utterance(1.0 + i, f"utterance {i}"))
    wait_for(lambda: writer.status()["failures"].get("refused", 0) >= 3)
    status = writer.status()
    assert status["state"] == "backing_off"
    assert status["records"]["pending"] == 40 and status["lag_s"] > 0
    fake.start()
    wait_for(lambda: delivered(writer) == 41)
    assert entry_ids(fake) == sorted(f"s1_{1.0 + i:.3f}" for i in range(40))
    segments = fake.rows("diarization_segment")
    assert len(segments) == 40 and len({s["EntryId"] for s in segments}) == 40
    assert len(fake.rows("audio_session")) == 1 and len(fake.rows("capture_device")) == 1
    assert writer.close(timeout=5).clean


def test_timeout_after_commit_does_not_duplicate_the_entry(
    fake: FakeSpacetime, make_writer: MakeWriter
) -> None:
    writer = make_writer()
    writer.submit(session_start())
    wait_for(lambda: delivered(writer) == 1)
    fake.delay("call", 1.5, after_commit=True, reducer="CreateEntry")  # client waits 0.5 s
    writer.submit(utterance(1.0))
    wait_for(lambda: delivered(writer) == 2)
    assert entry_ids(fake) == ["s1_1.000"]
    assert len(fake.calls("CreateEntry")) == 1  # the retry became a /sql check
    status = writer.status()
    assert status["failures"] == {"timeout": 1}
    assert status["duplicates_avoided"] == 1


def test_connection_lost_after_commit_does_not_duplicate_the_frame(
    fake: FakeSpacetime, make_writer: MakeWriter
) -> None:
    writer = make_writer()
    fake.drop("call", after_commit=True, reducer="CreateFrame")
    writer.submit(session_start())
    writer.submit(detections(2.0, "person"))
    wait_for(lambda: delivered(writer) == 2)
    assert len(fake.rows("frame")) == 1 and len(fake.calls("CreateFrame")) == 1
    assert writer.status()["duplicates_avoided"] == 1


def test_lost_before_commit_is_sent_again(fake: FakeSpacetime, make_writer: MakeWriter) -> None:
    writer = make_writer()
    fake.drop("call", after_commit=False, reducer="CreateEntry")
    writer.submit(session_start())
    writer.submit(utterance(1.0))
    wait_for(lambda: delivered(writer) == 2)
    assert entry_ids(fake) == ["s1_1.000"]
    assert len(fake.calls("CreateEntry")) == 2  # checked, not there, sent again
    assert writer.status()["duplicates_avoided"] == 0


def test_a_restart_within_the_queue_bound_loses_nothing(
    fake: FakeSpacetime, make_writer: MakeWriter
) -> None:
    """Ids jump after the restart: segments must follow entries by key, not by guess."""
    writer = make_writer(queue_bound=20, batch_size=4)
    writer.submit(session_start())
    writer.submit(utterance(0.5, "before"))
    wait_for(lambda: delivered(writer) == 2)
    fake.stop()
    assert all(writer.submit(utterance(1.0 + i, f"u{i}")) for i in range(20))
    fake.restart(id_gap=1000)
    wait_for(lambda: delivered(writer) == 22)
    entries = {r["Id"]: r["EntryId"] for r in fake.rows("transcript_entry")}
    assert sorted(entries.values()) == sorted(
        ["s1_0.500", *(f"s1_{1.0 + i:.3f}" for i in range(20))]
    )
    assert max(entries) > 1000
    for segment in fake.rows("diarization_segment"):
        start_ms = round(float(entries[segment["EntryId"]].split("_")[1]) * 1000)
        assert segment["StartMs"] == 0 and start_ms >= 500  # each belongs to its own entry
    assert writer.status()["records"]["dropped"] == 0


def test_queue_overflow_is_counted_and_reported(
    fake: FakeSpacetime, make_writer: MakeWriter
) -> None:
    writer = make_writer(queue_bound=5, batch_size=1)
    fake.stop()
    accepted = sum(writer.submit(utterance(1.0 + i)) for i in range(30))
    assert accepted in (5, 6)  # the worker may hold one in flight before the queue fills
    status = writer.status()
    assert status["dropped"] == {"queue_full": 30 - accepted}
    assert status["by_kind"]["utterance"]["dropped"] == 30 - accepted
    assert status["queue_depth"] <= 5
    fake.start()
    wait_for(lambda: delivered(writer) == accepted)
    assert len(entry_ids(fake)) == accepted


def test_a_refused_call_fails_its_record_once_and_is_logged_once(
    no_leaks: None, caplog: pytest.LogCaptureFixture
) -> None:
    """The database's CreateFrame takes 7 arguments (a module version we do not speak)."""
    drifted = {"CreateFrame": (("timestamp", "u32"), *SIGNATURES["CreateFrame"])}
    with FakeSpacetime(DB, signatures=drifted) as fake:
        writer = SpacetimeWriter(fast_options(fake.url))
        with caplog.at_level(logging.ERROR, "ambient_flow.spacetimedb"):
            writer.submit(session_start())
            for i in range(5):
                writer.submit(detections(1.0 + i, "person"))
            writer.submit(utterance(9.0))
            report = writer.close(timeout=5)
    assert report.clean
    status = report.status
    assert status["failed_records"] == {"bad_arguments": 5}
    assert status["records"]["delivered"] == 2 and status["retries"] == 0
    # Refused once; the later records fail here, without a call (the module will not change)
    assert len(fake.calls("CreateFrame")) == 1
    assert status["dead_reducers"] == ["CreateFrame"]
    (problem,) = status["permanent_errors"]
    assert (problem["reason"], problem["reducer"], problem["count"]) == (
        "bad_arguments", "CreateFrame", 5,
    )  # fmt: skip
    assert "expected a 7-element tuple" in problem["detail"]
    lines = [r for r in caplog.records if "bad_arguments" in r.getMessage()]
    assert len(lines) == 1


def test_an_unknown_reducer_is_called_once(no_leaks: None) -> None:
    with FakeSpacetime(DB, signatures={"CreateFrame": None}) as fake:
        writer = SpacetimeWriter(fast_options(fake.url))
        writer.submit(session_start())
        for i in range(5):
            writer.submit(detections(1.0 + i, "cup"))
        report = writer.close(timeout=5)
    assert report.clean
    assert len(fake.calls("CreateFrame")) == 1
    assert report.status["failed_records"] == {"no_such_reducer": 5}
    assert report.status["dead_reducers"] == ["CreateFrame"]


def test_an_unknown_database_blocks_instead_of_storming(
    fake: FakeSpacetime, make_writer: MakeWriter
) -> None:
    writer = make_writer(database="nope", blocked_retry_s=0.2)
    records = [session_start(), utterance(1.0), detections(2.0, "person")]
    for record in records:
        writer.submit(record)
    wait_for(lambda: writer.status()["state"] == "blocked")
    before = len(fake.requests)
    time.sleep(0.5)
    assert len(fake.requests) - before <= 4  # a probe every 0.2 s, not a storm
    status = writer.status()
    assert status["blocked"]["reason"] == "no_such_database"
    report = writer.close(timeout=0.1)
    assert [p.record for p in report.undelivered] == records
    assert not report.thread_alive


def test_a_revoked_token_of_our_own_is_replaced(
    fake: FakeSpacetime, make_writer: MakeWriter
) -> None:
    writer = make_writer()
    writer.submit(session_start())
    wait_for(lambda: delivered(writer) == 1)
    fake.revoke_tokens()
    writer.submit(utterance(1.0))
    wait_for(lambda: delivered(writer) == 2)
    assert sum(r.route == "identity" for r in fake.requests) == 2
    assert writer.status()["failures"] == {"unauthorized": 1}


def test_a_given_token_that_is_refused_blocks(fake: FakeSpacetime, make_writer: MakeWriter) -> None:
    writer = make_writer(token="aaa.bbb.ccc")
    writer.submit(session_start())
    wait_for(lambda: writer.status()["state"] == "blocked")
    assert writer.status()["blocked"]["reason"] == "unauthorized"
    assert not any(r.route == "identity" for r in fake.requests)  # not ours to replace
    fake.tokens["aaa.bbb.ccc"] = "ab" * 32  # the operator fixes it
    wait_for(lambda: delivered(writer) == 1)
    assert writer.status()["state"] == "running"


def test_503s_are_retried_with_backoff(fake: FakeSpacetime, make_writer: MakeWriter) -> None:
    writer = make_writer()
    fake.fail("call", 503, "Service Unavailable", count=3)
    writer.submit(session_start())
    wait_for(lambda: delivered(writer) == 1)
    status = writer.status()
    assert status["failures"] == {"http_503": 3} and status["retries"] == 3
    assert len(fake.rows("audio_session")) == 1


def test_a_call_the_server_keeps_failing_is_given_up(
    fake: FakeSpacetime, make_writer: MakeWriter
) -> None:
    writer = make_writer(max_server_errors=3)
    fake.fail("call", 500, "internal", count=100, reducer="CreateFrame")
    writer.submit(session_start())
    writer.submit(detections(1.0, "person"))
    writer.submit(utterance(2.0))
    wait_for(lambda: delivered(writer) == 2)
    status = writer.status()
    assert status["failed_records"] == {"gave_up": 1}
    assert len(fake.calls("CreateFrame")) == 3


def test_close_drains_the_queue(fake: FakeSpacetime, make_writer: MakeWriter) -> None:
    writer = make_writer(batch_size=7)
    writer.submit(session_start())
    for i in range(30):
        writer.submit(utterance(1.0 + i))
    report = writer.close(timeout=10)
    assert report.clean and report.status["records"]["delivered"] == 31
    assert len(entry_ids(fake)) == 30
    assert not writer.submit(utterance(99.0))
    assert writer.status()["dropped"] == {"closed": 1}


def test_close_with_the_database_down_hands_the_records_back(
    fake: FakeSpacetime, make_writer: MakeWriter
) -> None:
    writer = make_writer()
    fake.stop()
    records = [session_start(), *(utterance(1.0 + i) for i in range(4))]
    for record in records:
        writer.submit(record)
    started = time.monotonic()
    report = writer.close(timeout=0.3)
    assert time.monotonic() - started < 0.3 + 0.5 + 0.5 + 1.0
    assert [p.record for p in report.undelivered] == records
    assert not report.thread_alive and not report.clean
    assert report.status["state"] == "closed"


def test_submit_never_waits_for_the_network(fake: FakeSpacetime, make_writer: MakeWriter) -> None:
    writer = make_writer(queue_bound=1000)
    fake.delay("*", 3.0, after_commit=False, count=10)  # every request hangs
    writer.submit(session_start())
    time.sleep(0.05)  # the worker is now inside a hung request
    results, slowest = [], 0.0
    for i in range(3000):
        started = time.perf_counter()
        results.append(writer.submit(utterance(1.0 + i)))
        slowest = max(slowest, time.perf_counter() - started)
    # A submit that waited for the network would wait out the 3 s hang; the bound leaves
    # room for a loaded machine's scheduling (3000 submits took 0.54 s beside a soak).
    assert slowest < 1.0, f"a submit took {slowest:.3f} s"
    assert results.count(False) == 2000  # beyond the bound, counted
    writer.close(timeout=0.1)


def test_lag_is_measured_on_the_injected_clock(
    fake: FakeSpacetime, make_writer: MakeWriter
) -> None:
    clock = FakeClock()
    writer = make_writer(clock=clock)
    fake.stop()
    writer.submit(session_start())
    clock.now += 7.5
    assert writer.status()["lag_s"] == pytest.approx(7.5)
    fake.start()
    wait_for(lambda: delivered(writer) == 1)
    status = writer.status()
    assert status["lag_s"] == 0.0 and status["last_delivery_lag_s"] == pytest.approx(7.5)


def test_heartbeats_are_spaced_on_the_injected_clock(
    fake: FakeSpacetime, make_writer: MakeWriter
) -> None:
    clock = FakeClock()
    writer = make_writer(clock=clock, heartbeat_s=10.0)
    writer.submit(session_start())
    writer.submit(utterance(1.0))
    writer.submit(utterance(2.0))
    wait_for(lambda: delivered(writer) == 3)
    assert fake.calls("DeviceHeartbeat") == []  # the session start stamped it
    clock.now += 11
    writer.submit(utterance(3.0))
    writer.submit(utterance(4.0))
    wait_for(lambda: delivered(writer) == 5)
    assert len(fake.calls("DeviceHeartbeat")) == 1


def test_replaying_with_check_before_insert_writes_nothing_twice(
    fake: FakeSpacetime, make_writer: MakeWriter
) -> None:
    records = [session_start(), utterance(1.0), detections(2.0, "cup"), session_end()]
    first = make_writer()
    for record in records:
        first.submit(record)
    assert first.close(timeout=5).clean
    counts = {t: len(fake.rows(t)) for t in fake.tables}
    second = make_writer(check_before_insert=True)
    for record in records:
        second.submit(record)
    assert second.close(timeout=5).clean
    assert {t: len(fake.rows(t)) for t in fake.tables} == counts
    assert second.status()["duplicates_avoided"] == 0  # found by the check, not after a fault


def test_a_record_that_cannot_be_mapped_is_counted_not_sent(
    fake: FakeSpacetime, make_writer: MakeWriter
) -> None:
    writer = make_writer()
    writer.submit({"hello": "world"})
    writer.submit({**utterance(1.0), "timestamp": "soon"})
    report = writer.close(timeout=5)
    assert report.clean and fake.requests == []
    assert report.status["failed_records"] == {"invalid_record": 2}


def test_a_frame_finds_its_client_from_the_session_start(
    fake: FakeSpacetime, make_writer: MakeWriter
) -> None:
    writer = make_writer()
    writer.submit(session_start(session="s2", client="desk"))
    writer.submit(utterance(1.0, session="s2"))  # upstream frames carry no client
    assert writer.close(timeout=5).clean
    assert [d["DeviceIdentity"] for d in fake.rows("capture_device")] == ["ambient-flow:desk"]


def test_backoff_is_capped_jittered_and_repeatable() -> None:
    def schedule(seed: int) -> list[float]:
        backoff = Backoff(0.5, 4.0, random.Random(seed))
        return [backoff.next() for _ in range(7)]

    delays = schedule(7)
    assert delays == schedule(7) and delays != schedule(8)
    for delay, nominal in zip(delays, [0.5, 1, 2, 4, 4, 4, 4], strict=True):
        assert nominal / 2 <= delay <= nominal


@pytest.mark.parametrize(
    "kw",
    [
        {"url": "localhost:3000"},
        {"database": ""},
        {"queue_bound": 0},
        {"batch_size": 0},
        {"request_timeout_s": 0},
        {"backoff_base_s": 10.0, "backoff_cap_s": 1.0},
        {"token": "two words"},
    ],
)
def test_bad_options_are_refused_at_construction(kw: dict[str, Any]) -> None:
    base: dict[str, Any] = {"url": "http://127.0.0.1:3000", "database": DB, **kw}
    with pytest.raises(SpacetimeConfigError):
        WriterOptions(**base)


def test_options_carry_the_mapping(fake: FakeSpacetime) -> None:
    options = WriterOptions(fake.url, DB, mapping=MappingOptions(mode="meeting"))
    assert options.mapping.mode == "meeting"
