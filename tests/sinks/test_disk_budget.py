"""Disk per client and per host: recording stops (counted, shown, marked in events.jsonl)
and resumes; session write errors reach the status document."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

from ambient_flow.config import Settings
from ambient_flow.sinks.disk_budget import DiskBudget, DiskLimits
from ambient_flow.testing import run_messages
from ambient_flow.testing.media import sine_pcm
from ambient_flow.testing.messages import T0_MS, audio_raw

NS = 1_000_000
SR = 16000


def events(session: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (session / "events.jsonl").open()]


def one_second_chunks(n: int, client: str = "flood", every_ms: int = 100) -> list[Any]:
    pcm = sine_pcm(ms=1000)
    return [
        audio_raw(s, client=client, pcm=pcm, ts=T0_MS + 1000 * s, at_ns=(T0_MS + every_ms * s) * NS)
        for s in range(n)
    ]


def test_a_client_flooding_audio_stops_recording_at_its_budget(tmp_path: Path) -> None:
    """100 s of audio in 10 s: one client may write 1 MiB a minute here."""
    settings = Settings(enrich=False, max_client_disk_bytes_per_minute=1024 * 1024)
    out = run_messages(one_second_chunks(100), tmp_path, settings=settings)
    assert len(out.audio("flood")) == 100  # received and counted as received
    (session,) = (tmp_path / "sessions").iterdir()
    written = (session / "audio.wav").stat().st_size
    assert written < 1.3 * 1024 * 1024  # a minute's budget, plus what 10 s refilled
    pauses = [e for e in events(session) if e["event"] == "disk_budget"]
    assert pauses[0]["scope"] == "client" and pauses[0]["paused"] is True
    meta = json.loads((session / "session.json").read_text())
    assert meta["disk_pauses"] >= 1
    assert meta["samples"] + meta["audio_not_written_samples"] == 100 * SR
    status = out.status
    assert status["sessions"]["audio_not_written_samples"] == meta["audio_not_written_samples"]
    assert status["drops"]["session_audio_not_written"] * SR == meta["audio_not_written_samples"]


def test_recording_resumes_when_the_budget_has_refilled(tmp_path: Path) -> None:
    settings = Settings(enrich=False, max_client_disk_bytes_per_minute=200_000)
    msgs = one_second_chunks(10)  # 320 kB in 1 s: pauses after 6 chunks
    pcm = sine_pcm(ms=1000)
    msgs.append(
        audio_raw(10, client="flood", pcm=pcm, ts=T0_MS + 10_000, at_ns=(T0_MS + 61_000) * NS)
    )
    out = run_messages(msgs, tmp_path, settings=settings)
    (session,) = (tmp_path / "sessions").iterdir()
    marks = [
        (e["paused"], e.get("not_written_s"))
        for e in events(session)
        if e["event"] == "disk_budget"
    ]
    assert marks == [(True, None), (False, 4.0)]
    assert len(out.audio("flood")) == 11


def test_no_recording_below_the_free_space_floor(tmp_path: Path) -> None:
    settings = Settings(enrich=False, min_free_disk_bytes=10**18)  # more than any disk has
    out = run_messages(one_second_chunks(3), tmp_path, settings=settings)
    (session,) = (tmp_path / "sessions").iterdir()
    assert (session / "audio.wav").stat().st_size <= 44
    assert [e["scope"] for e in events(session) if e["event"] == "disk_budget"] == ["free_space"]
    assert out.status["sessions"]["disk"]["refused_bytes"]["free_space"] == 3 * 2 * SR


def test_the_host_opens_a_bounded_number_of_session_directories(tmp_path: Path) -> None:
    msgs = [audio_raw(0, client=f"c{i}", at_ns=(T0_MS + i) * NS) for i in range(20)]
    settings = Settings(enrich=False, max_sessions_per_minute=5.0)
    out = run_messages(msgs, tmp_path, settings=settings)
    assert len(list((tmp_path / "sessions").iterdir())) == 5
    assert out.status["sessions"]["sessions_refused"] == 15
    assert out.status["drops"]["sessions_refused"] == 15


def test_per_message_events_are_capped_per_session(tmp_path: Path) -> None:
    msgs = [audio_raw(0, client="dup")] + [audio_raw(0, client="dup") for _ in range(50)]
    settings = Settings(enrich=False, max_event_lines_per_session=10)
    out = run_messages(msgs, tmp_path, settings=settings)
    assert len(out.events("duplicate")) == 50  # all counted
    (session,) = (tmp_path / "sessions").iterdir()
    assert sum(1 for e in events(session) if e["event"] == "duplicate") == 10
    assert json.loads((session / "session.json").read_text())["events_not_logged"] == 40


def test_the_budget_judges_free_space_host_total_and_client() -> None:
    free = [10**9]
    budget = DiskBudget(
        DiskLimits(client_bytes_per_minute=100, max_bytes=250, min_free_bytes=1000),
        Path("."),
        clock=lambda: float(len(free)),
        free_bytes=lambda _p: free[-1],
    )
    assert budget.refusal("a", 100, 0) is None
    assert budget.refusal("a", 1, 0) == "client"
    assert budget.refusal("b", 100, 0) is None
    assert budget.refusal("c", 100, 0) == "host"  # 300 > 250
    free.append(10)  # the clock moved on: free space is looked at again
    assert budget.refusal("d", 1, 0) == "free_space"
    assert budget.refused_bytes == {"client": 1, "host": 100, "free_space": 1}


WRITE_FAILS = textwrap.dedent(
    """
    import json, resource, signal, sys
    from ambient_flow.config import Settings
    from ambient_flow.testing import run_messages
    from ambient_flow.testing.messages import audio_raw
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # writes past the limit fail with EFBIG
    resource.setrlimit(resource.RLIMIT_FSIZE, (64_000, resource.RLIM_INFINITY))
    out = run_messages([audio_raw(s, client="c") for s in range(40)], sys.argv[1],
                       settings=Settings(enrich=False))
    print(json.dumps({"sessions": out.status["sessions"], "drops": out.status["drops"],
                      "received": out.status["audio"]["chunks_received"]}))
    """
)


def test_session_write_errors_are_counted_and_shown(tmp_path: Path) -> None:
    """A real write error (the file size limit: EFBIG), in a process of its own."""
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[2]))
    done = subprocess.run(
        [sys.executable, "-c", WRITE_FAILS, str(tmp_path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=True,
    )
    result = json.loads(done.stdout.splitlines()[-1])
    assert result["received"] == 40
    assert result["sessions"]["write_errors"] > 0
    assert result["drops"]["session_write_errors"] == result["sessions"]["write_errors"]
