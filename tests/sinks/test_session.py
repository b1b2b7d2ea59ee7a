"""SessionWriter: directory layout, WAV content, metadata, events, frames, refusals."""

from __future__ import annotations

import json
import wave
from dataclasses import replace
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt
import pytest

from ambient_flow.errors import StartupError
from ambient_flow.operators.events import ClientEvent
from ambient_flow.protocol.messages import ControlEvent
from ambient_flow.sinks.session import SessionOptions, SessionWriter, safe_session_name
from ambient_flow.sinks.wav import read_wav
from ambient_flow.timefmt import iso_utc

from .items import CHUNK, SR, T0_NS, Client


def _wav_pcm(path: Path) -> npt.NDArray[np.int16]:
    with wave.open(str(path), "rb") as r:
        assert (r.getnchannels(), r.getsampwidth(), r.getframerate()) == (1, 2, SR)
        return np.frombuffer(r.readframes(r.getnframes()), "<i2")


def _events(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (path / "events.jsonl").read_text().splitlines()]


def _meta(path: Path) -> dict[str, Any]:
    meta: dict[str, Any] = json.loads((path / "session.json").read_text())
    return meta


def _all_files(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


def test_one_session_layout_audio_metadata_events(tmp_path: Path, alice: Client) -> None:
    w = SessionWriter(tmp_path)
    w.write_batch([alice.start(), alice.audio(), alice.audio()])
    sdir = tmp_path / "sessions" / alice.session
    assert w.open_sessions == {"alice": sdir}
    meta = _meta(sdir)
    assert meta["ended_at"] is None
    assert meta["samples"] == 0  # not yet due: metadata is rewritten every 5 s of audio
    w.write_batch([alice.event("gap", channel="audio", missing=2), alice.audio(800)])
    w.write_batch([alice.rejected(), alice.end("bye")])
    assert w.open_sessions == {}

    assert _all_files(tmp_path) == {
        "sessions",
        f"sessions/{alice.session}",
        f"sessions/{alice.session}/audio.wav",
        f"sessions/{alice.session}/metadata.json",
        f"sessions/{alice.session}/session.json",
        f"sessions/{alice.session}/events.jsonl",
    }
    np.testing.assert_array_equal(_wav_pcm(sdir / "audio.wav"), alice.expected_pcm())

    meta = _meta(sdir)
    assert meta["session"] == meta["dir"] == alice.session
    assert meta["client"] == "alice"
    assert meta["peer"] == "127.0.0.1#p40000"
    assert meta["source"] == "mic"
    assert meta["capabilities"] == ["audio", "video"]
    assert meta["client_session"] == "abc"
    assert meta["config"] == {"audio_chunk_ms": 100, "video_res": [640, 480]}
    assert meta["started_at"] == "2025-01-02T03:04:05.123456Z"
    assert meta["started_at_ns"] == T0_NS
    assert meta["ended_at_ns"] == alice.at_ns
    assert meta["ended_at"] == iso_utc(alice.at_ns)
    assert meta["end_reason"] == "bye"
    assert meta["counters"] == {"gap": 1, "late": 0}
    assert meta["samples"] == 2 * CHUNK + 800
    assert meta["audio_seconds"] == pytest.approx((2 * CHUNK + 800) / SR)
    assert meta["first_start_sample"] == 48_000
    assert meta["last_start_sample"] == 48_000 + 2 * CHUNK
    assert meta["video_frames"] == 0
    assert meta["discontinuities"] == 0

    events = _events(sdir)
    assert [e["kind"] for e in events] == ["event", "event", "rejected", "event"]
    assert [e.get("event") for e in events] == ["session_start", "gap", None, "session_end"]
    assert all(e["client"] == "alice" for e in events)
    assert events[0]["session"] == alice.session
    assert events[0]["time"] == "2025-01-02T03:04:05.123456Z"
    assert events[0]["at_ns"] == T0_NS
    assert events[1]["missing"] == 2
    assert events[2]["reason"] == "odd_pcm"
    assert events[3]["reason"] == "bye"
    assert events[3]["time"] == iso_utc(events[3]["at_ns"])

    c = w.counters
    assert c["sessions_opened"] == c["sessions_closed"] == 1
    assert c["audio_chunks"] == 3
    assert c["audio_samples"] == 2 * CHUNK + 800
    assert c["events"] == 4
    assert c["rejected"] == 1


def test_audio_and_events_are_on_disk_after_each_batch(tmp_path: Path, alice: Client) -> None:
    """What a kill -9 after a batch would leave: readable audio and complete event lines."""
    w = SessionWriter(tmp_path)
    w.write_batch([alice.start(), alice.audio(), alice.event("duplicate", channel="audio")])
    sdir = tmp_path / "sessions" / alice.session
    samples, sr = read_wav(sdir / "audio.wav")
    assert sr == SR
    np.testing.assert_array_equal(samples, alice.expected_pcm().astype(np.float32) / 32768)
    assert [e["event"] for e in _events(sdir)] == ["session_start", "duplicate"]
    w.close_all("shutdown")


def test_an_open_sessions_audio_wav_reads_true_with_stdlib_wave(
    tmp_path: Path, alice: Client
) -> None:
    """While the session is live, Python's `wave` sees at most a second less than is there."""
    w = SessionWriter(tmp_path)
    sdir = tmp_path / "sessions" / alice.session
    w.write_batch([alice.start()])
    for batch in range(1, 31):  # 3 s, one chunk per batch as a live client sends it
        w.write_batch([alice.audio()])
        with wave.open(str(sdir / "audio.wav"), "rb") as r:
            seen_s = r.getnframes() / r.getframerate()
        assert batch * 0.1 - 1.0 < seen_s <= batch * 0.1 + 1e-9, (batch, seen_s)
    w.close_all("shutdown")


class Clock:
    """A monotonic clock that moves only when told (nanoseconds)."""

    def __init__(self) -> None:
        self.ns = 1_000_000_000

    def __call__(self) -> int:
        return self.ns

    def advance(self, seconds: float) -> None:
        self.ns += int(seconds * 1e9)


def test_metadata_is_rewritten_every_few_seconds_of_audio(tmp_path: Path, alice: Client) -> None:
    clock = Clock()
    w = SessionWriter(tmp_path, options=SessionOptions(metadata_every_s=0.5), clock=clock)
    sdir = tmp_path / "sessions" / alice.session
    w.write_batch([alice.start()] + [alice.audio() for _ in range(4)])  # 0.4 s
    clock.advance(0.4)
    assert _meta(sdir)["samples"] == 0
    clock.advance(0.1)
    w.write_batch([alice.audio()])  # 0.5 s of audio in 0.5 s: due
    assert _meta(sdir)["samples"] == 5 * CHUNK
    assert _meta(sdir)["audio_seconds"] == 0.5
    assert not (sdir / "metadata.json.tmp").exists()
    w.close_all("shutdown")


def test_a_client_faster_than_real_time_is_rewritten_at_the_wall_clock_pace(
    tmp_path: Path, alice: Client
) -> None:
    clock = Clock()
    w = SessionWriter(tmp_path, options=SessionOptions(metadata_every_s=0.5), clock=clock)
    sdir = tmp_path / "sessions" / alice.session
    w.write_batch([alice.start()])
    for _ in range(20):  # 2 s of audio, 0.01 s apart: four times due by audio alone
        clock.advance(0.01)
        w.write_batch([alice.audio()])
    assert _meta(sdir)["samples"] == 0 and w.counters["metadata_rewrites"] == 0
    clock.advance(0.3)  # 0.5 s since the start was written
    w.write_batch([alice.audio()])
    assert _meta(sdir)["samples"] == 21 * CHUNK and w.counters["metadata_rewrites"] == 1
    w.write_batch([alice.audio() for _ in range(10)])  # 1 s more audio, no time: not yet
    assert _meta(sdir)["samples"] == 21 * CHUNK
    w.close_all("shutdown")  # the end is always written
    assert _meta(sdir)["samples"] == 31 * CHUNK and _meta(sdir)["ended_at"] is not None


def test_metadata_rewrites_are_paced_across_sessions(tmp_path: Path) -> None:
    # 30 sessions due at once with a budget of 10 a second: 10 now, the rest later; the
    # ends are always written, so the files come out whole either way.
    options = SessionOptions(metadata_every_s=0.1, metadata_rewrites_per_second=10)
    clock = Clock()
    w = SessionWriter(tmp_path, options=options, clock=clock)
    clients = [Client(f"c{i:02d}", f"20250102_030405_c{i:02d}_0123abcd") for i in range(30)]
    w.write_batch([c.start() for c in clients])
    clock.advance(0.1)
    w.write_batch([c.audio() for c in clients])  # 0.1 s each: all due
    rewritten = [_meta(tmp_path / "sessions" / c.session)["samples"] == CHUNK for c in clients]
    assert sum(rewritten) == 10
    assert w.counters["metadata_rewrites"] == 10
    assert w.counters["metadata_rewrites_deferred"] == 20
    w.close_all("shutdown")
    for c in clients:
        meta = _meta(tmp_path / "sessions" / c.session)
        assert meta["samples"] == CHUNK and meta["ended_at"] is not None


def test_metadata_rewrites_unpaced_with_zero(tmp_path: Path) -> None:
    options = SessionOptions(metadata_every_s=0.1, metadata_rewrites_per_second=0)
    clock = Clock()
    w = SessionWriter(tmp_path, options=options, clock=clock)
    clients = [Client(f"c{i:02d}", f"20250102_030405_c{i:02d}_0123abcd") for i in range(30)]
    w.write_batch([c.start() for c in clients])
    clock.advance(0.1)
    w.write_batch([c.audio() for c in clients])
    assert w.counters["metadata_rewrites"] == 30
    assert w.counters["metadata_rewrites_deferred"] == 0
    w.close_all("shutdown")


def test_close_all_marks_open_sessions_ended(tmp_path: Path, alice: Client, bob: Client) -> None:
    w = SessionWriter(tmp_path)
    w.write_batch([alice.start(), bob.start(), alice.audio(), bob.audio()])
    last_alice = alice.at_ns
    w.close_all("shutdown")
    assert w.open_sessions == {}
    for client in (alice, bob):
        sdir = tmp_path / "sessions" / client.session
        meta = _meta(sdir)
        assert meta["end_reason"] == "shutdown"
        assert meta["samples"] == CHUNK
        assert meta["counters"] is None
        np.testing.assert_array_equal(_wav_pcm(sdir / "audio.wav"), client.expected_pcm())
    assert _meta(tmp_path / "sessions" / alice.session)["ended_at_ns"] == last_alice
    assert w.counters["sessions_closed"] == 2
    w.close_all("shutdown")  # idempotent
    assert w.counters["sessions_closed"] == 2


def test_two_interleaved_clients_stay_apart(tmp_path: Path, alice: Client, bob: Client) -> None:
    w = SessionWriter(tmp_path)
    items: list[object] = [alice.start(), bob.start()]
    for i in range(6):
        items += [alice.audio(), bob.audio(CHUNK // 2)]
        if i == 2:
            items += [bob.event("late", channel="audio", seq=1)]
    items += [bob.end("eof"), alice.end("bye")]
    w.write_batch(items[:7])
    w.write_batch(items[7:])
    assert sorted(p.name for p in (tmp_path / "sessions").iterdir()) == sorted(
        [alice.session, bob.session]
    )
    for client, n in ((alice, 6 * CHUNK), (bob, 6 * CHUNK // 2)):
        sdir = tmp_path / "sessions" / client.session
        pcm = _wav_pcm(sdir / "audio.wav")
        assert len(pcm) == n
        np.testing.assert_array_equal(pcm, client.expected_pcm())
        events = _events(sdir)
        assert {e["client"] for e in events} == {client.name}
        assert {e["session"] for e in events} == {client.session}
        assert _meta(sdir)["client"] == client.name
    assert [e["event"] for e in _events(tmp_path / "sessions" / bob.session)] == [
        "session_start",
        "late",
        "session_end",
    ]
    assert _meta(tmp_path / "sessions" / bob.session)["end_reason"] == "eof"


def test_frames_saved_jpeg_as_is_and_rgb_encoded(tmp_path: Path, alice: Client) -> None:
    w = SessionWriter(tmp_path, save_frames=True)
    f0, f7 = alice.frame(0), alice.frame(7)
    raw = alice.frame(12, fmt="rgb")
    restarted = alice.frame(7)  # the client restarted its sequence: never overwrite
    w.write_batch([alice.start(), f0, f7, raw, restarted, alice.end()])
    frames = tmp_path / "sessions" / alice.session / "frames"
    assert sorted(p.name for p in frames.iterdir()) == [
        "00000000.jpg",
        "00000007.1.jpg",
        "00000007.jpg",
        "00000012.jpg",
    ]
    assert (frames / "00000000.jpg").read_bytes() == f0.payload
    assert (frames / "00000007.jpg").read_bytes() == f7.payload
    assert (frames / "00000007.1.jpg").read_bytes() == restarted.payload
    img = cv2.imread(str(frames / "00000012.jpg"))
    assert img.shape == (48, 64, 3)
    # rgb (10, 200, 30) is bgr (30, 200, 10); JPEG is lossy
    np.testing.assert_allclose(img.reshape(-1, 3).mean(axis=0), (30, 200, 10), atol=4)
    meta = _meta(tmp_path / "sessions" / alice.session)
    assert (meta["video_frames"], meta["video_frames_saved"]) == (4, 4)
    assert meta["files"]["video_frames"] == "frames"
    assert w.counters["video_frames_renamed"] == 1


def test_frames_counted_not_saved_by_default(tmp_path: Path, alice: Client) -> None:
    w = SessionWriter(tmp_path)
    w.write_batch([alice.start(), alice.frame(1), alice.frame(2), alice.end()])
    sdir = tmp_path / "sessions" / alice.session
    assert not (sdir / "frames").exists()
    assert _meta(sdir)["video_frames"] == 2
    assert w.counters["video_frames"] == 2
    assert w.counters["video_frames_saved"] == 0


def test_orphans_are_counted_never_raised(tmp_path: Path, alice: Client, bob: Client) -> None:
    w = SessionWriter(tmp_path)
    w.write_batch(
        [
            alice.audio(),
            alice.frame(1),
            alice.event("gap", channel="audio"),
            alice.rejected(),
            alice.end(),  # session_end of a session never opened
            bob.start(),
            ClientEvent("bob", "hello", T0_NS, "some_other_session", {}),  # wrong session
            ControlEvent("bob", "heartbeat", {}, T0_NS),  # not an item of this sink
        ]
    )
    c = w.counters
    assert c["orphan_audio"] == 1
    assert c["orphan_video"] == 1
    assert c["orphan_events"] == 3
    assert c["rejected_unrouted"] == 1
    assert c["unknown_items"] == 1
    assert c["sessions_opened"] == 1
    assert _all_files(tmp_path / "sessions") == {
        bob.session,
        f"{bob.session}/audio.wav",
        f"{bob.session}/metadata.json",
        f"{bob.session}/session.json",
        f"{bob.session}/events.jsonl",
    }
    assert [e["event"] for e in _events(tmp_path / "sessions" / bob.session)] == ["session_start"]
    w.close_all("shutdown")


@pytest.mark.parametrize(
    "name",
    ["../x", "a/b", "/tmp/evil", "..", ".", ".hidden", "", "a\\b", "a\x00b", "x" * 300, "é"],
)
def test_unsafe_session_names_are_refused(tmp_path: Path, name: str) -> None:
    data_dir = tmp_path / "data"
    w = SessionWriter(data_dir)
    evil = Client("mallory", name)
    w.write_batch([evil.start(), evil.audio(), evil.frame(1), evil.end()])
    assert w.counters["sessions_refused"] == 1
    assert w.counters["sessions_opened"] == 0
    assert w.counters["orphan_audio"] == 1
    assert w.open_sessions == {}
    assert _all_files(tmp_path) == {"data", "data/sessions"}
    assert safe_session_name(name) is None


def test_safe_session_name_accepts_upstream_names() -> None:
    assert safe_session_name("20250102_030405_alice_0123abcd") == "20250102_030405_alice_0123abcd"
    assert safe_session_name("20250102_030405_Jose-1a2b3c4d_0123abcd") is not None
    assert safe_session_name(None) is None


def test_an_existing_directory_of_the_same_session_is_replaced(
    tmp_path: Path, alice: Client
) -> None:
    first = SessionWriter(tmp_path)
    first.write_batch([alice.start(), alice.audio(), alice.end()])
    folder = tmp_path / "sessions" / alice.session
    (folder / "frames.jsonl").write_text("{}\n")  # the enrichment sink's file: not ours
    again = Client("alice", alice.session)  # the same capture replayed into the same dir
    second = SessionWriter(tmp_path)
    second.write_batch([again.start(), again.audio(), again.audio(), again.end()])
    assert len(_wav_pcm(folder / "audio.wav")) == 2 * CHUNK
    assert _meta(folder)["session"] == alice.session
    assert (folder / "frames.jsonl").read_text() == "{}\n"  # each sink writes only its own
    assert [p.name for p in (tmp_path / "sessions").iterdir()] == [alice.session]
    assert second.counters["sessions_replaced"] == 1


def test_new_start_supersedes_open_session(tmp_path: Path, alice: Client) -> None:
    w = SessionWriter(tmp_path)
    w.write_batch([alice.start(), alice.audio()])
    second = Client("alice", "20250102_030500_alice_ffff0000", at_ns=alice.at_ns + 10**9)
    started = second.at_ns
    w.write_batch([second.start(), second.audio()])
    old = _meta(tmp_path / "sessions" / alice.session)
    assert old["end_reason"] == "superseded"
    assert old["ended_at_ns"] == started
    assert w.open_sessions == {"alice": tmp_path / "sessions" / second.session}
    assert w.counters["sessions_superseded"] == 1
    w.close_all("shutdown")
    np.testing.assert_array_equal(
        _wav_pcm(tmp_path / "sessions" / second.session / "audio.wav"), second.expected_pcm()
    )


def test_a_discontinuity_is_counted_and_appended_as_is(tmp_path: Path, alice: Client) -> None:
    # Ingest fills gaps itself; the sink writes only what it is given and says so.
    w = SessionWriter(tmp_path)
    a = alice.audio()
    alice.next_sample += 400
    b = alice.audio()
    w.write_batch([alice.start(), a, b, alice.end()])
    pcm = _wav_pcm(tmp_path / "sessions" / alice.session / "audio.wav")
    np.testing.assert_array_equal(pcm, alice.expected_pcm())
    meta = _meta(tmp_path / "sessions" / alice.session)
    assert meta["discontinuities"] == 1 and w.counters["audio_discontinuities"] == 1
    assert meta["samples"] == 2 * CHUNK


def test_audio_at_wrong_rate_is_refused(tmp_path: Path, alice: Client) -> None:
    w = SessionWriter(tmp_path)
    good = alice.audio()
    bad = replace(alice.audio(), sample_rate=48000)
    w.write_batch([alice.start(), good, bad, alice.end()])
    assert w.counters["audio_refused"] == 1
    assert len(_wav_pcm(tmp_path / "sessions" / alice.session / "audio.wav")) == CHUNK


def test_unwritable_data_dir_fails_at_startup(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(StartupError):
        SessionWriter(blocker)


def test_options_are_validated() -> None:
    with pytest.raises(ValueError, match="metadata_every_s"):
        SessionOptions(metadata_every_s=0)
    with pytest.raises(ValueError, match="jpeg_quality"):
        SessionOptions(jpeg_quality=101)


def test_rejected_lines_are_bounded_per_session(tmp_path: Path, alice: Client) -> None:
    w = SessionWriter(tmp_path, options=SessionOptions(max_rejected_lines=3))
    w.write_batch([alice.start()] + [alice.rejected() for _ in range(10)] + [alice.end()])
    sdir = tmp_path / "sessions" / alice.session
    kinds = [e["kind"] for e in _events(sdir)]
    assert kinds.count("rejected") == 3
    assert _meta(sdir)["rejected"] == 10
    assert w.counters["rejected"] == 10
    assert w.counters["rejected_not_logged"] == 7


def test_sample_range_of_session_events_is_recorded(tmp_path: Path, alice: Client) -> None:
    w = SessionWriter(tmp_path)
    end = ClientEvent("alice", "session_end", T0_NS + 10**9, alice.session, {"end_sample": 49_600})
    w.write_batch([alice.start(start_sample=48_000), alice.audio(), end])
    meta = _meta(tmp_path / "sessions" / alice.session)
    assert (meta["start_sample"], meta["end_sample"]) == (48_000, 49_600)
    assert meta["end_reason"] == "end"  # no reason given
    assert meta["counters"] is None


def test_metadata_files_are_whole_utf8_and_made_like_any_file(
    tmp_path: Path, alice: Client
) -> None:
    """session.json / metadata.json: the JSON as text, UTF-8, text that is not Unicode
    escaped (never a failed write), created with the process's usual file mode."""
    import os

    w = SessionWriter(tmp_path)
    sdir = tmp_path / "sessions" / alice.session
    w.write_batch([alice.start(client_session="caf\u00e9 \ud800", source="x" * 5000)])
    raw = (sdir / "session.json").read_bytes()
    assert raw.endswith(b"}\n") and "café".encode() in raw and b"\\ud800" in raw
    meta = json.loads(raw.decode("utf-8"))
    assert meta["source"] == "x" * 5000 and meta["client_session"] == "caf\u00e9 \ud800"
    assert json.loads((sdir / "metadata.json").read_text("utf-8"))["session_id"] == alice.session
    umask = os.umask(0)
    os.umask(umask)
    for name in ("session.json", "metadata.json"):
        assert (sdir / name).stat().st_mode & 0o777 == 0o666 & ~umask
    assert not list(sdir.glob("*.tmp"))
    w.close_all("shutdown")
