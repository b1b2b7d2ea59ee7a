"""The real graph (fake models) writing to the strict fake SpacetimeDB: a session fills
the ambient-sub module's tables, replayed and live, and a database that is down never
holds the flow up — what it could not take is counted."""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from ambient_flow.config import Settings
from ambient_flow.models.detection import Detection
from ambient_flow.protocol.messages import RawMessage
from ambient_flow.testing import LiveHost, fakes, free_port, run_messages
from ambient_flow.testing.messages import T0_MS, audio_raw, control_raw, video_raw
from tests.spacetimedb.fake_server import FakeSpacetime
from tests.testing.test_fakes import talk

DB = "ambient-listener"
PERSON = Detection("person", (1.0, 2.0, 30.0, 40.0), 0.9)


@pytest.fixture
def fake() -> Iterator[FakeSpacetime]:
    server = FakeSpacetime(DB).start()
    yield server
    server.stop()


def stdb(url: str, **kw: Any) -> dict[str, Any]:
    return {
        "spacetimedb_url": url,
        "spacetimedb_database": DB,
        "spacetimedb_timeout": 0.5,
        "spacetimedb_drain": 5.0,
        **kw,
    }


def models() -> Any:
    return fakes.models(
        turns=[(1.0, 2.5, "alice"), (2.5, 4.0, "bob")],
        script=lambda s, e: "hello there",
        found=lambda image: [PERSON],
    )


def dialogue() -> list[RawMessage]:
    """hello (meeting) -> 1 s quiet with a person in view -> 3 s of talk -> bye."""
    msgs = [control_raw("hello", at_ns=(T0_MS - 50) * 1_000_000, client="kitchen",
                        recording_mode="meeting")]  # fmt: skip
    msgs += [audio_raw(i, pcm=bytes(3200)) for i in range(10)]
    msgs.insert(3, video_raw(0, ts=T0_MS + 200, w=64, h=48))
    msgs += talk(3.0, first_seq=10)
    msgs.append(control_raw("bye", at_ns=(T0_MS + 100 * 60) * 1_000_000, client="kitchen"))
    return msgs


def check_tables(fake: FakeSpacetime, session_dir: Path, frames: list[dict[str, Any]]) -> None:
    """The rows a session makes, against its own frames.jsonl."""
    sid = session_dir.name
    (device,) = fake.rows("capture_device")
    assert device["DeviceIdentity"] == "ambient-flow:kitchen"
    assert device["Name"] == "kitchen"
    assert device["Status"] == "online"  # back from "recording" at the session's end
    (session,) = fake.rows("audio_session")
    assert session["DeviceId"] == device["Id"]
    assert session["Mode"] == "meeting"  # from the hello
    assert session["Status"] == "completed"
    assert session["EndedAt"] is not None
    assert session["AudioPath"] == str(session_dir.resolve() / "audio.wav")
    assert session["DurationMs"] == 5500  # 55 chunks of 100 ms on the stream clock
    # the session is completed after its last entry: nothing of it came later
    order = [c.reducer for c in fake.calls() if c.status == 200]
    last_entry = max(i for i, r in enumerate(order) if r == "CreateEntry")
    assert order.index("UpdateSessionStatus") > last_entry

    # the talk is cut where the speaker changes (alice, then bob): one entry per line
    utterances = [f for f in frames if f["event_type"] == "utterance"]
    assert [u["speaker_prediction"] for u in utterances] == ["speaker0", "speaker1"]
    entries = {e["EntryId"]: e for e in fake.rows("transcript_entry")}
    assert sorted(entries) == sorted(u["frame_id"] for u in utterances)
    segments = fake.rows("diarization_segment")
    assert len(segments) == len(utterances)
    for utterance in utterances:
        entry = entries[utterance["frame_id"]]
        assert entry["SessionId"] == session["Id"]
        assert entry["Transcript"] == "hello there"
        assert entry["RecordingStartMs"] == round(utterance["timestamp"] * 1000)
        assert entry["Confidence"] == pytest.approx(utterance["confidence"])
        assert entry["Speaker"] == f"{sid}/{utterance['speaker_prediction']}"
        (segment,) = [s for s in segments if s["EntryId"] == entry["Id"]]
        assert (segment["StartMs"], segment["EndMs"]) == (0, entry["DurationMs"])
        assert segment["PyannoteLabel"] == utterance["speaker_prediction"]
        assert segment["TranscriptSlice"] == "hello there"
    changes = [f["speaker_prediction"] for f in frames if f["event_type"] == "speaker_change"]
    assert sorted(r["Name"] for r in fake.rows("speaker")) == sorted(f"{sid}/{s}" for s in changes)

    (frame,) = fake.rows("frame")
    assert frame["SessionId"] == session["Id"]
    assert json.loads(frame["Detections"]) == [PERSON.to_dict()]
    assert frame["Reviewed"] is False


def test_a_replayed_session_fills_the_modules_tables(tmp_path: Path, fake: FakeSpacetime) -> None:
    s = Settings(data_dir=str(tmp_path), metrics_port=0, enrich=True, **stdb(fake.url))
    out = run_messages(dialogue(), tmp_path, settings=s, models=models())
    (session_dir,) = (tmp_path / "sessions").glob("*/")
    frames = [json.loads(x) for x in (session_dir / "frames.jsonl").read_text().splitlines()]
    check_tables(fake, session_dir, frames)
    st = out.status["spacetimedb"]
    assert st["state"] == "closed"
    assert st["records"]["submitted"] == st["records"]["delivered"] == 2 + len(frames)
    assert st["failures"] == {} and st["records"]["dropped"] == 0
    assert "spacetimedb_dropped" not in out.status["drops"]


def test_saved_frames_give_real_image_paths(tmp_path: Path, fake: FakeSpacetime) -> None:
    s = Settings(
        data_dir=str(tmp_path), metrics_port=0, enrich=True, save_frames=True, **stdb(fake.url)
    )
    run_messages(dialogue(), tmp_path, settings=s, models=models())
    (frame,) = fake.rows("frame")
    assert Path(frame["ImagePath"]).is_file()
    assert Path(frame["ImagePath"]).read_bytes()[:2] == b"\xff\xd8"  # the JPEG itself


def test_a_replay_into_the_same_database_writes_nothing_twice(
    tmp_path: Path, fake: FakeSpacetime
) -> None:
    s = Settings(data_dir=str(tmp_path), metrics_port=0, enrich=True, **stdb(fake.url))
    run_messages(dialogue(), tmp_path, settings=s, models=models())
    before = {t: len(fake.rows(t)) for t in fake.tables}
    out = run_messages(dialogue(), tmp_path, settings=s, models=models())
    assert {t: len(fake.rows(t)) for t in fake.tables} == before
    assert out.status["spacetimedb"]["records"]["failed"] == 0


def test_without_the_enrichment_sessions_still_arrive(tmp_path: Path, fake: FakeSpacetime) -> None:
    s = Settings(data_dir=str(tmp_path), metrics_port=0, enrich=False, **stdb(fake.url))
    run_messages(dialogue(), tmp_path, settings=s)
    (session,) = fake.rows("audio_session")
    assert (session["Status"], session["Mode"]) == ("completed", "meeting")
    assert session["DurationMs"] == 5500
    assert fake.rows("transcript_entry") == []


def test_a_database_that_is_down_never_holds_the_flow(tmp_path: Path) -> None:
    # Nothing listens there: every attempt is refused, the writer backs off and retries.
    url = f"http://127.0.0.1:{free_port()}"
    s = Settings(
        data_dir=str(tmp_path), metrics_port=0, enrich=True, **stdb(url, spacetimedb_drain=0.3)
    )
    start = time.monotonic()
    out = run_messages(dialogue(), tmp_path, settings=s, models=models())
    assert time.monotonic() - start < 10
    assert len(out.lines()) >= 3  # the enrichment went on: frames.jsonl has everything
    st = out.status["spacetimedb"]
    assert st["failures"]["refused"] >= 1
    assert st["records"]["delivered"] == 0
    left = st["records"]["submitted"]
    assert out.status["drops"]["spacetimedb_undelivered"] == left > 0


def test_a_full_queue_drops_new_records_counted(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    s = Settings(
        data_dir=str(tmp_path),
        metrics_port=0,
        enrich=True,
        **stdb(url, spacetimedb_queue=1, spacetimedb_batch=1, spacetimedb_drain=0.2),
    )
    out = run_messages(dialogue(), tmp_path, settings=s, models=models())
    st = out.status["spacetimedb"]
    assert st["dropped"]["queue_full"] >= 1
    assert out.status["drops"]["spacetimedb_dropped"] == st["dropped"]["queue_full"]
    assert st["records"]["submitted"] == (
        st["records"]["dropped"] + st["records"]["pending"] + st["records"]["delivered"]
        + st["records"]["failed"]
    )  # fmt: skip


def metrics_text(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as reply:
        return str(reply.read().decode())


def test_live_host_writes_sessions_and_exports_metrics(
    live_host: Callable[..., LiveHost], fake: FakeSpacetime, tmp_path: Path
) -> None:
    port = free_port()
    host = live_host(enrich=True, models=models(), metrics_port=port, **stdb(fake.url))
    push = {"audio": host.push("audio"), "video": host.push("video")}
    *messages, bye = dialogue()
    for msg in messages:
        if msg.channel == "control":
            host.request(json.loads(msg.parts[0]))
        else:
            push[msg.channel].send_multipart(list(msg.parts))
    # The bye goes on the control socket, which overtakes data still in flight: send it
    # once every chunk is in, as a client does after its last one.
    host.wait_for(lambda out: len(out.audio()) == 55, timeout=10)
    host.request(json.loads(bye.parts[0]))
    host.wait_for(lambda out: bool(out.events("session_end")), timeout=10)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not any(
        r["Status"] == "completed" for r in fake.rows("audio_session")
    ):
        time.sleep(0.05)
    status = host.request({"cmd": "stats"})
    text = metrics_text(port)
    host.stop()
    (session_dir,) = (Path(host.settings.data_dir) / "sessions").glob("*/")
    frames = [json.loads(x) for x in (session_dir / "frames.jsonl").read_text().splitlines()]
    check_tables(fake, session_dir, frames)
    doc = status.get("stats", status)
    assert doc["spacetimedb"]["records"]["delivered"] >= 2
    assert "ambient_spacetimedb_calls_total" in text
    assert 'ambient_spacetimedb_records_total{outcome="delivered"}' in text
    assert "ambient_spacetimedb_queue_depth" in text
    assert "ambient_spacetimedb_lag_seconds" in text
