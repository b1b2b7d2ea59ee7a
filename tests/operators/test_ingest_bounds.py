"""Per-client bounds of ingest, each counted and shown: gap fill per gap and per minute,
sequence jumps, sessions per minute, the client table, state of names that only send junk."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from ambient_flow.config import Settings
from ambient_flow.operators.budget import NEVER_NS, TokenBucket
from ambient_flow.operators.ingest_media import plan_gap
from ambient_flow.testing import run_messages
from ambient_flow.testing.messages import T0_MS, audio_raw, raw

NS = 1_000_000
SR = 16000
S = 10**9


def settings(**kw: object) -> Settings:
    return Settings(enrich=False, reorder_window=0, **kw)  # type: ignore[arg-type]


def test_the_bucket_refills_by_data_time() -> None:
    bucket = TokenBucket(120.0)
    assert bucket.take(100.0, 0) == 100.0
    assert bucket.take(100.0, 0) == 20.0
    assert bucket.take(100.0, 30 * S) == 60.0  # half a minute later: half the capacity
    assert bucket.take(1.0, 10 * 60 * S) == 1.0 and bucket.level == 119.0  # never above full


def test_a_gap_plan_is_capped_per_gap_and_by_every_budget() -> None:
    per_minute, earned = TokenBucket(120.0), TokenBucket(200.0, period_ns=NEVER_NS)
    plan = plan_gap(90 * SR, 60 * SR, [per_minute, earned], 0)
    assert (plan.fill, plan.unfilled, plan.seq_jump) == (60 * SR, 0, True)
    plan = plan_gap(59 * SR, 60 * SR, [per_minute, earned], 0)
    assert (plan.fill, plan.unfilled, plan.seq_jump) == (59 * SR, 0, False)
    plan = plan_gap(10 * SR, 60 * SR, [per_minute, earned], 0)
    assert (plan.fill, plan.unfilled) == (1 * SR, 9 * SR)  # the minute's budget is spent
    assert earned.level == 200 - 120  # taken from both
    earned.level = 0.5
    plan = plan_gap(10 * SR, 60 * SR, [TokenBucket(120.0), earned], 0)
    assert plan.fill == SR // 2  # only what audio earned


def test_silence_is_earned_by_audio() -> None:
    earned = TokenBucket(60.0, period_ns=NEVER_NS)
    assert earned.take(60.0, 0) == 60.0
    assert earned.take(1.0, 10**15) == 0.0  # time alone earns nothing
    earned.earn(2.5)
    assert earned.take(5.0, 0) == 2.5


def test_gap_fill_stops_a_client_from_writing_silence(tmp_path: Path) -> None:
    """Seq jumps of 340 chunks every 10 ms: 1.6 MB sent must not become a GB on disk."""
    msgs = [
        audio_raw(340 * k, ts=T0_MS + 10 * k, at_ns=T0_MS * NS + 10 * k * NS) for k in range(50)
    ]
    out = run_messages(msgs, tmp_path, settings=settings())
    filled = sum(c.num_samples for c in out.audio() if c.filled) / SR
    sent = sum(c.num_samples for c in out.audio() if not c.filled) / SR
    assert filled == pytest.approx(sent - 0.1, abs=0.05)  # never more than the audio sent
    totals = out.status["audio"]
    assert totals["gap_fill_seconds"] == pytest.approx(filled)
    assert totals["gap_unfilled_seconds"] == pytest.approx(49 * 33.9 - filled, abs=0.1)
    assert not [k for k in out.status["drops"] if k.startswith("filled_samples")]
    (session,) = (tmp_path / "sessions").iterdir()
    assert (session / "audio.wav").stat().st_size < 130 * SR * 2


def test_a_sequence_jump_is_one_event_not_trillions_of_missing_chunks(tmp_path: Path) -> None:
    msgs = [audio_raw(0), audio_raw(1), audio_raw(2**53 - 1, ts=T0_MS + 200)]
    out = run_messages(msgs, tmp_path, settings=settings())
    (gap,) = out.events("gap")
    assert gap.data["seq_jump"] is True and gap.data["missing"] == 2**53 - 3
    assert gap.data["gap_fill_s"] == 0.2  # what the two chunks before it earned
    assert gap.data["unfilled_s"] == 59.8  # up to the per-gap cap: a jump is not a length
    assert out.status["audio"]["gap_unfilled_seconds"] == 59.8
    assert out.status["drops"] == {"audio_seq_jump": 1}
    end = out.events("session_end")[0].data["counters"]
    assert end["audio_seq_jumps"] == 1 and "audio_missing_chunks" not in end


def test_a_new_session_header_per_message_opens_a_bounded_number(tmp_path: Path) -> None:
    msgs = [
        audio_raw(s, client="c", session=f"s{s}", at_ns=T0_MS * NS + s * NS) for s in range(200)
    ]
    out = run_messages(msgs, tmp_path, settings=settings(max_new_sessions_per_minute=10.0))
    assert len(out.events("session_start")) == 10
    assert len(list((tmp_path / "sessions").iterdir())) == 10
    assert len(out.audio("c")) == 200  # the data stays in the open session
    assert out.status["drops"]["session_budget"] == 190


def test_a_silent_client_is_evicted_and_comes_back_in_a_new_session(tmp_path: Path) -> None:
    t = T0_MS * NS
    msgs = [audio_raw(0, client="quiet", at_ns=t), audio_raw(1, client="quiet", at_ns=t + S // 10)]
    msgs += [audio_raw(k, client="busy", at_ns=t + k * S) for k in range(1, 40)]
    msgs += [audio_raw(2, client="quiet", at_ns=t + 40 * S)]
    out = run_messages(msgs, tmp_path, settings=settings(evict_after_seconds=30.0))
    ends = out.events("session_end", client="quiet")
    assert [e.data["reason"] for e in ends] == ["evicted", "eof"]
    assert ends[0].at_ns == t + S // 10 + 30 * S  # from arrival times, not the wall clock
    assert len(out.events("session_start", client="quiet")) == 2
    assert out.status["client_events"]["evicted"] == 1


def test_eviction_at_the_end_of_a_replay_follows_later_traffic(tmp_path: Path) -> None:
    t = T0_MS * NS
    msgs = [audio_raw(0, client="quiet", at_ns=t)]
    msgs += [audio_raw(k, client="busy", at_ns=t + k * S) for k in range(1, 35)]
    out = run_messages(msgs, tmp_path, settings=settings(evict_after_seconds=30.0))
    (end,) = out.events("session_end", client="quiet")
    assert end.data["reason"] == "evicted" and end.at_ns == t + 30 * S
    (busy,) = out.events("session_end", client="busy")
    assert busy.data["reason"] == "eof"


def test_a_full_table_admits_a_new_client_once_an_old_one_is_silent(tmp_path: Path) -> None:
    t = T0_MS * NS
    msgs = [audio_raw(0, client=f"old{i}", at_ns=t + i * NS) for i in range(3)]
    msgs += [audio_raw(0, client="early", at_ns=t + 10 * S)]  # table full: refused
    msgs += [audio_raw(0, client="late", at_ns=t + 40 * S)]  # the old ones are silent 40 s
    out = run_messages(msgs, tmp_path, settings=settings(max_clients=3, evict_after_seconds=30.0))
    assert [r.client for r in out.rejects("too_many_clients")] == ["early"]
    assert len(out.audio("late")) == 1


def test_names_that_only_send_junk_keep_no_state(tmp_path: Path) -> None:
    junk = [
        raw("audio", [b'{"type":"audio","client":"j%d","ts":1,"seq":-1}' % i, b"\x00\x00"], at_ns=i)
        for i in range(300)
    ]
    out = run_messages(
        [*junk, audio_raw(0, client="real")], tmp_path, settings=settings(max_clients=1)
    )
    assert len(out.rejects("bad_field")) == 300
    assert out.clients() != [] and len(out.audio("real")) == 1  # junk took no table slot
    assert set(out.status["clients"]) == {"real"}


def test_settings_refuse_an_eviction_shorter_than_staleness() -> None:
    from ambient_flow.errors import ConfigError

    with pytest.raises(ConfigError, match="evict_after_seconds"):
        Settings(evict_after_seconds=5.0)
    assert dataclasses.replace(Settings(), evict_after_seconds=15.0).evict_after_seconds == 15.0


def test_one_host_streams_as_a_bounded_number_of_names(tmp_path: Path) -> None:
    """A fuzzer with a fresh name per message cannot open a session per message."""
    t = T0_MS * NS
    msgs = [audio_raw(0, client=f"n{i}", at_ns=t + i * NS) for i in range(10)]
    other = audio_raw(0, client="elsewhere", at_ns=t + 20 * NS)
    other = dataclasses.replace(other, peer_host="192.0.2.9")
    msgs += [other, audio_raw(1, client="n0", at_ns=t + 30 * NS)]  # a known name goes on
    msgs += [audio_raw(0, client="late", at_ns=t + 700 * S)]  # the others went quiet
    out = run_messages(msgs, tmp_path, settings=settings(max_clients_per_host=4))
    assert sorted(out.clients()) == sorted(
        ["n0", "n1", "n2", "n3", "elsewhere", "late"] + [f"n{i}" for i in range(4, 10)]
    )
    accepted = sorted({c for c in out.clients() if out.audio(c)})
    assert accepted == ["elsewhere", "late", "n0", "n1", "n2", "n3"]
    assert len(out.rejects("too_many_clients")) == 6


def test_a_name_that_said_bye_frees_its_place(tmp_path: Path) -> None:
    from ambient_flow.testing.messages import control_raw

    t = T0_MS * NS
    msgs = []
    for i in range(6):  # one at a time, each says bye: never more than 2 at once
        msgs += [
            audio_raw(0, client=f"v{i}", at_ns=t + i * S),
            control_raw("bye", at_ns=t + i * S + NS, client=f"v{i}"),
        ]
    out = run_messages(msgs, tmp_path, settings=settings(max_clients_per_host=2))
    assert not out.rejects()
    assert len({c for c in out.clients() if out.audio(c)}) == 6


def test_audio_held_for_reordering_is_bounded_in_seconds(tmp_path: Path) -> None:
    """Large chunks after a gap are not held for the reorder window's count of chunks."""
    big = bytes(2 * 16000 * 5)  # 5 s per message
    msgs = [audio_raw(0)] + [audio_raw(s, pcm=big) for s in (2, 3)] + [audio_raw(1)]
    out = run_messages(msgs, tmp_path, settings=Settings(enrich=False, max_reorder_seconds=2.0))
    # seq 2 alone is over 2 s held: its gap is filled at once; seq 1 then comes too late
    # (with only the count of chunks as the bound, 10 s would have waited for it).
    assert [c.sequence for c in out.audio()] == [0, -1, 2, 3]
    assert [e.data["seq"] for e in out.events("late")] == [1]
