"""One client, one session: whatever the order of its first audio, video and hello, and a
client that restarts starts a new session instead of padding the old one."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ambient_flow.config import Settings
from ambient_flow.sinks.wav import read_wav
from ambient_flow.testing import run_messages
from ambient_flow.testing.messages import T0_MS, audio_raw, control_raw, video_raw

NS = 1_000_000
T = T0_MS * NS


def hello(at_ms: int, conn: str = "fd40", name: str = "selestia") -> object:
    return control_raw("hello", at_ns=T + at_ms * NS, conn=conn, client=name)


@pytest.mark.parametrize(
    "order",
    [
        ["audio", "hello", "video"],  # what the upstream sender does on a fresh host
        ["audio", "video", "hello"],
        ["video", "audio", "hello"],
        ["hello", "audio", "video"],
    ],
)
def test_first_audio_video_and_hello_in_any_order_make_one_session(
    tmp_path: Path, order: list[str]
) -> None:
    first = {
        "audio": audio_raw(0, conn="fd41"),
        "video": video_raw(0, conn="fd42"),
        "hello": hello(20),
    }
    msgs = [first[k] for k in order] + [audio_raw(s, conn="fd41") for s in range(1, 5)]
    out = run_messages(msgs, tmp_path)
    assert out.clients() == ["selestia"]
    assert len(out.events("session_start")) == 1
    assert [c.sequence for c in out.audio()] == [0, 1, 2, 3, 4]
    (session,) = (tmp_path / "sessions").iterdir()
    samples, _ = read_wav(session / "audio.wav")
    assert samples.size == 5 * 1600  # the named session holds all of its audio


def test_a_hello_within_the_wait_still_names_the_data_before_it(tmp_path: Path) -> None:
    msgs = [audio_raw(s, conn="fd41") for s in range(9)] + [hello(880)]  # 0.9 s later
    out = run_messages(msgs, tmp_path)
    assert out.clients() == ["selestia"]


def test_a_hello_later_than_the_wait_names_only_what_follows(tmp_path: Path) -> None:
    msgs = [audio_raw(s, conn="fd41") for s in range(12)] + [hello(1200)]
    msgs += [audio_raw(s, conn="fd41") for s in range(12, 14)]
    out = run_messages(msgs, tmp_path, settings=Settings(enrich=False, name_wait_seconds=1.0))
    assert out.clients() == ["127.0.0.1", "selestia"]
    assert [c.sequence for c in out.audio("selestia")] == [12, 13]


def test_legacy_data_without_any_hello_streams_under_the_host_name(tmp_path: Path) -> None:
    out = run_messages([audio_raw(s, conn="fd41") for s in range(20)], tmp_path)
    assert out.clients() == ["127.0.0.1"]
    assert [c.sequence for c in out.audio()] == list(range(20))


def test_a_client_restart_on_a_new_connection_starts_a_new_session(tmp_path: Path) -> None:
    """Sequence back to 0 after a 3-minute pause, new connection, no bye."""
    msgs = [hello(-10), *[audio_raw(s, conn="fd41") for s in range(5)]]
    back_ms = T0_MS + 180_000
    msgs += [hello(180_000 - 5, conn="fd50")]
    msgs += [audio_raw(s, conn="fd51", ts=back_ms + 100 * s) for s in range(5)]
    out = run_messages(msgs, tmp_path)
    assert out.clients() == ["selestia"]
    starts = out.events("session_start")
    assert len(starts) == 2
    assert not [c for c in out.audio() if c.filled]  # never minutes of silence
    (restart,) = out.events("restart")
    assert restart.data["gap_s"] == pytest.approx(179.5, abs=0.01)
    sessions = sorted((tmp_path / "sessions").iterdir())
    for session in sessions:
        assert read_wav(session / "audio.wav")[0].size == 5 * 1600
    ends = [json.loads(line) for line in (sessions[0] / "events.jsonl").open()]
    assert [e["event"] for e in ends][-2:] == ["restart", "session_end"]
    assert ends[-1]["reason"] == "restart"
    begun = json.loads((sessions[1] / "events.jsonl").open().readline())
    assert begun["after"] == "restart" and begun["gap_s"] == pytest.approx(179.5, abs=0.01)


def test_a_restart_is_shown_in_status_with_its_length(tmp_path: Path) -> None:
    msgs = [audio_raw(s, client="c") for s in range(3)]
    msgs += [audio_raw(s, client="c", ts=T0_MS + 5_000 + 100 * s) for s in range(2)]
    section = run_messages(msgs, tmp_path).status["clients"]["c"]
    assert section["restarts"] == 1
    assert section["last_loss"]["kind"] == "restart"
    assert section["last_loss"]["seconds"] == pytest.approx(4.7)
