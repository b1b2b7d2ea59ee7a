"""Per-client ingest through the real graph (parse, identify, ingest) on built messages."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from ambient_flow.config import Settings
from ambient_flow.protocol.messages import RawMessage
from ambient_flow.sinks.wav import read_wav
from ambient_flow.testing import media, run_messages
from ambient_flow.testing.messages import T0_MS, audio_raw, control_raw, raw, video_raw

NS = 1_000_000


def audio_seq(seqs: list[int], **kw: object) -> list[RawMessage]:
    return [audio_raw(s, **kw) for s in seqs]  # type: ignore[arg-type]


def positions(out, client: str = "127.0.0.1") -> list[tuple[int, int | None, bool]]:  # type: ignore[no-untyped-def]
    return [(c.sequence, c.start_sample, c.filled) for c in out.audio(client)]


def test_in_order_audio_gets_contiguous_sample_positions(tmp_path: Path) -> None:
    out = run_messages(audio_seq(list(range(5))), tmp_path)
    assert positions(out) == [(i, 1600 * i, False) for i in range(5)]
    chunk = out.audio()[2]
    expected = np.frombuffer(media.sine_pcm(phase_samples=3200), "<i2") / 32768.0
    np.testing.assert_allclose(chunk.samples, expected, atol=1e-6)
    assert [e.kind for e in out.events()] == ["session_start", "session_end"]


def test_gap_is_filled_with_silence_and_counted(tmp_path: Path) -> None:
    out = run_messages(
        audio_seq([0, 1, 4, 5, 6, 7, 8]),
        tmp_path,
        settings=Settings(reorder_window=2, enrich=False),
    )
    assert positions(out) == [
        (0, 0, False),
        (1, 1600, False),
        (-1, 3200, True),
        (4, 6400, False),
        (5, 8000, False),
        (6, 9600, False),
        (7, 11200, False),
        (8, 12800, False),
    ]
    filler = out.audio()[2]
    assert filler.num_samples == 3200 and not filler.samples.any()
    (gap,) = out.events("gap")
    assert gap.data == {
        "channel": "audio",
        "from_seq": 2,
        "to_seq": 3,
        "missing": 2,
        "filled_samples": 3200,
        "gap_fill_s": 0.2,
        "unfilled_s": 0.0,
        "seq_jump": False,
    }
    end = out.events("session_end")[0]
    assert end.data["counters"]["audio_missing_chunks"] == 2
    assert end.data["end_sample"] == 14400


def test_reordered_chunk_is_put_back_in_order(tmp_path: Path) -> None:
    out = run_messages(audio_seq([0, 2, 1, 3]), tmp_path)
    assert positions(out) == [(0, 0, False), (1, 1600, False), (2, 3200, False), (3, 4800, False)]
    assert [e.data["seq"] for e in out.events("reordered")] == [1]
    assert not out.events("gap")


def test_duplicates_and_late_chunks_are_counted_not_emitted(tmp_path: Path) -> None:
    msgs = (
        audio_seq([0, 1, 2, 1]) + audio_seq([5, 6, 7, 8]) + [audio_raw(3, at_ns=T0_MS * NS + 10**9)]
    )
    out = run_messages(msgs, tmp_path, settings=Settings(reorder_window=2, enrich=False))
    seqs = [c.sequence for c in out.audio()]
    assert seqs == [0, 1, 2, -1, 5, 6, 7, 8]
    assert [e.data["seq"] for e in out.events("duplicate")] == [1]
    assert [e.data["seq"] for e in out.events("late")] == [3]


def test_a_sequence_restart_starts_a_new_session_without_padding(tmp_path: Path) -> None:
    first = audio_seq([0, 1, 2])
    # The client restarted 1.3 s later: seq back to 0, ts moved on.
    later = [audio_raw(s, ts=T0_MS + 1300 + 100 * s) for s in range(3)]
    out = run_messages(first + later, tmp_path)
    (restart,) = out.events("restart")
    assert restart.data == {"channel": "audio", "from_seq": 3, "to_seq": 0, "gap_s": 1.0}
    assert not [c for c in out.audio() if c.filled]  # the pause is recorded, not padded
    starts = [c.start_sample for c in out.audio()]
    assert starts == [1600 * i for i in range(6)]
    sessions = out.events("session_start")
    assert len(sessions) == 2 and sessions[1].data["after"] == "restart"
    assert sessions[1].data["gap_s"] == 1.0
    assert [e.data["reason"] for e in out.events("session_end")] == ["restart", "eof"]
    assert restart.session == sessions[0].session  # recorded in the session it ended


def test_stereo_44k1_is_downmixed_and_resampled_with_a_real_filter(tmp_path: Path) -> None:
    pcm = [
        media.sine_pcm(1000.0, ms=100, sr=44100, ch=2, phase_samples=4410 * i) for i in range(20)
    ]
    msgs = [audio_raw(i, pcm=p, sr=44100, ch=2) for i, p in enumerate(pcm)]
    out = run_messages(msgs, tmp_path)
    chunks = out.audio()
    assert all(c.sample_rate == 16000 and c.converted for c in chunks)
    signal = np.concatenate([c.samples for c in chunks])
    assert abs(signal.size - 32000) < 1000  # 2 s at 16 kHz, minus the filter's delay
    spectrum = np.abs(np.fft.rfft(signal[4000:20000]))
    peak_hz = np.argmax(spectrum) * 16000 / 16000
    assert abs(peak_hz - 1000) <= 2
    assert len(out.events("converted")) == 1


def test_session_header_change_starts_a_new_session(tmp_path: Path) -> None:
    msgs = audio_seq([0, 1], session="s1") + audio_seq([2, 3], session="s2")
    out = run_messages(msgs, tmp_path)
    starts = out.events("session_start")
    assert [s.data["client_session"] for s in starts] == ["s1", "s2"]
    assert [e.data["reason"] for e in out.events("session_end")] == ["new_session", "eof"]
    assert len({s.session for s in starts}) == 2
    assert len(list((tmp_path / "sessions").iterdir())) == 2


def test_bye_ends_the_session_and_a_new_one_opens_after(tmp_path: Path) -> None:
    t = T0_MS * NS
    msgs = [
        control_raw("hello", at_ns=t, client="kiosk", capabilities=["audio"]),
        *audio_seq([0, 1], client="kiosk"),
        control_raw("bye", at_ns=t + 300 * NS, client="kiosk"),
        *[audio_raw(s, client="kiosk", ts=T0_MS + 1000 + 100 * s) for s in range(2)],
    ]
    out = run_messages(msgs, tmp_path)
    assert [e.kind for e in out.events(client="kiosk")] == [
        "session_start",
        "hello",
        "bye",
        "session_end",
        "session_start",
        "session_end",
    ]
    assert out.events("session_start")[0].data["capabilities"] == ["audio"]


def test_stale_and_resumed_come_from_arrival_times_in_replay(tmp_path: Path) -> None:
    t = T0_MS * NS
    msgs = [
        audio_raw(0, at_ns=t),
        audio_raw(1, at_ns=t + 100 * NS),
        audio_raw(2, at_ns=t + 100 * NS + 16 * 10**9),  # 16 s of nothing, stale after 15 s
    ]
    out = run_messages(msgs, tmp_path)
    (stale,) = out.events("stale")
    (resumed,) = out.events("resumed")
    assert stale.at_ns == t + 100 * NS + 15 * 10**9
    assert resumed.data["silent_for_s"] == 16.0


def test_two_clients_never_share_state(tmp_path: Path) -> None:
    msgs = []
    for s in range(6):
        msgs.append(audio_raw(s, client="alice"))
        msgs.append(audio_raw(s * 2, client="bob"))  # bob has gaps every other chunk
    out = run_messages(msgs, tmp_path, settings=Settings(reorder_window=0, enrich=False))
    assert [c.start_sample for c in out.audio("alice")] == [1600 * i for i in range(6)]
    assert not out.events("gap", client="alice")
    assert len(out.events("gap", client="bob")) == 5


def test_rejects_are_routed_counted_and_open_no_session(tmp_path: Path) -> None:
    msgs = [raw("audio", [b"not an envelope"], at_ns=1), raw("video", [b"x", b"y", b"z"], at_ns=2)]
    out = run_messages(msgs, tmp_path)
    assert sorted(r.reason for r in out.rejects()) == ["envelope_short", "frame_count"]
    assert not out.events("session_start")


def test_rejects_in_a_session_are_summarized_at_its_end(tmp_path: Path) -> None:
    bad = raw("audio", [b'{"type":"audio","ts":1,"seq":1}', b"\x01"], at_ns=T0_MS * NS + 50 * NS)
    out = run_messages([audio_raw(0), bad, audio_raw(1)], tmp_path)
    assert out.rejects()[0].reason == "odd_pcm"
    (summary,) = out.events("rejects")
    assert summary.data["by_reason"] == {"odd_pcm": 1}


def test_video_frames_pass_with_gaps_counted(tmp_path: Path) -> None:
    out = run_messages([video_raw(s) for s in (0, 1, 3, 3)], tmp_path)
    assert [f.sequence for f in out.video()] == [0, 1, 3]
    assert out.events("gap")[0].data["missing"] == 1
    assert len(out.events("duplicate")) == 1
    assert out.video()[0].image().shape == (480, 640, 3)


def test_session_files_hold_exactly_the_timeline(tmp_path: Path) -> None:
    out = run_messages(
        audio_seq([0, 1, 3, 4, 5, 6]), tmp_path, settings=Settings(reorder_window=1, enrich=False)
    )
    (session_dir,) = (tmp_path / "sessions").iterdir()
    samples, sr = read_wav(session_dir / "audio.wav")
    assert sr == 16000
    timeline = np.concatenate([c.samples for c in out.audio()])
    assert samples.size == timeline.size == 7 * 1600
    np.testing.assert_allclose(samples, timeline, atol=1 / 32768)
    meta = json.loads((session_dir / "session.json").read_text())
    assert meta["client"] == "127.0.0.1" and meta["end_reason"] == "eof"
    kinds = [json.loads(line)["event"] for line in (session_dir / "events.jsonl").open()]
    assert kinds[0] == "session_start" and "gap" in kinds and kinds[-1] == "session_end"


def test_a_recording_host_never_decodes_audio_to_floats(tmp_path: Path) -> None:
    out = run_messages(audio_seq(list(range(6))), tmp_path, settings=Settings(enrich=False))
    chunks = out.audio()
    # ingest and the session writer used the bytes as they came (the chunks are the
    # very objects the writer got: it would have kept what it decoded)
    assert len(chunks) == 6 and all(c.float_samples is None for c in chunks)
    (session_dir,) = (tmp_path / "sessions").iterdir()
    data = (session_dir / "audio.wav").read_bytes()[44:]
    assert data == b"".join(c.pcm or b"" for c in chunks)
    assert chunks[2].samples.dtype == np.float32  # still there for a stage that reads them


@pytest.mark.parametrize("workers", [1, 2])
def test_output_is_identical_whatever_the_worker_count(tmp_path: Path, workers: int) -> None:
    msgs = []
    for s in range(8):
        for name in ("a", "b", "c"):
            msgs.append(audio_raw(s, client=name))
    base = run_messages(msgs, tmp_path / "one").records()
    assert run_messages(msgs, tmp_path / "many", workers=workers).records() == base


def test_clients_past_max_clients_are_rejected_and_counted(tmp_path: Path) -> None:
    msgs = [audio_raw(0, client=f"c{i}") for i in range(5)]
    out = run_messages(msgs, tmp_path, settings=Settings(max_clients=3, enrich=False))
    assert len(out.audio()) == 3
    assert [r.reason for r in out.rejects()] == ["too_many_clients"] * 2


def test_latency_of_a_client_with_an_unsynchronised_clock_is_shown_apart_from_its_offset(
    tmp_path: Path,
) -> None:
    three_years_ms = 3 * 365 * 24 * 3600 * 1000
    msgs = [
        audio_raw(s, at_ns=(T0_MS + 100 * s + three_years_ms + (5 if s % 2 else 25)) * NS)
        for s in range(20)
    ]
    section = run_messages(msgs, tmp_path).status["clients"]["127.0.0.1"]
    assert abs(section["clock_offset_ms"] - (three_years_ms + 5)) < 1
    assert section["latency_ms_p50"] <= 20 and section["latency_ms_p99"] <= 20.5
    synced = run_messages([audio_raw(s) for s in range(5)], tmp_path / "b")
    assert synced.status["clients"]["127.0.0.1"]["clock_offset_ms"] is None


def test_events_jsonl_is_in_time_order(tmp_path: Path) -> None:
    """Every line's `time` is at or after the line before it, whatever happened between."""
    t = lambda k: (T0_MS + 100 * k + 5) * NS  # noqa: E731 - arrival of the k-th message
    msgs = [control_raw("hello", at_ns=t(0) - 2 * NS, client="c")]
    # seq 2 is missing until after its place was filled (a gap, then `late`); a reject
    # arrives while the host waits for it; then a duplicate; then 20 s of silence
    # ended by a reject (the client went stale before it), a chunk, and bye.
    for k, seq in enumerate([0, 1, 3, 4, 5, 6, 2, 7, 7, 8]):
        msgs.append(audio_raw(seq, client="c", at_ns=t(k)))
        if k == 3:
            msgs.append(raw("audio", [b"garbage"], at_ns=t(k) + NS))
    msgs.append(raw("audio", [b"garbage"], at_ns=t(10) + 20 * 10**9))
    msgs.append(audio_raw(9, client="c", at_ns=t(10) + 21 * 10**9))
    msgs.append(control_raw("bye", at_ns=t(10) + 21 * 10**9 + NS, client="c"))
    run_messages(msgs, tmp_path)
    (events_file,) = tmp_path.glob("sessions/*/events.jsonl")
    lines = [json.loads(line) for line in events_file.read_text().splitlines()]
    kinds = [line.get("event", line.get("reason")) for line in lines]
    for kind in ("gap", "late", "duplicate", "stale", "resumed", "envelope_short", "bye"):
        assert kind in kinds
    times = [line["time"] for line in lines]
    assert times == sorted(times), list(zip(kinds, times, strict=True))
    # The stale line comes before the reject that ended the silence, as it does live.
    assert kinds.index("stale") < len(kinds) - 1 - kinds[::-1].index("envelope_short")


def test_an_ordered_chunk_carries_every_field_it_came_with(tmp_path: Path) -> None:
    """Ingest builds the chunk it emits field by field (not `dataclasses.replace`): every
    field of `AudioChunk` must be listed here, and each is carried or set on purpose."""
    import dataclasses

    from ambient_flow.operators.ingest import IngestLogic, IngestOptions
    from ambient_flow.protocol.messages import AudioChunk
    from ambient_flow.runtime import HostRuntime

    set_by_ingest = {"sample_rate", "start_sample", "converted", "pcm", "float_samples"}
    carried = {
        "client",
        "timestamp_ms",
        "sequence",
        "channels",
        "received_ns",
        "session",
        "source",
        "source_channels",
        "filled",
    }
    assert {f.name for f in dataclasses.fields(AudioChunk)} == set_by_ingest | carried
    settings = Settings(data_dir=str(tmp_path), metrics_port=0)
    runtime = HostRuntime(settings=settings, replay=True)
    try:
        logic = IngestLogic(None, runtime, IngestOptions.from_settings(settings, replay=True))
        pcm = media.sine_pcm()
        chunk = AudioChunk(
            client="cam-1",
            timestamp_ms=T0_MS,
            sequence=7,
            sample_rate=16000,
            channels=1,
            float_samples=np.frombuffer(pcm, "<i2") / np.float32(32768),
            received_ns=(T0_MS + 5) * NS,
            session="s-9",
            source="mic-2",
            source_channels=1,
            filled=True,  # never true on the way in; here only to see that it is carried
            pcm=pcm,
        )
        out, _ = logic.on_item(chunk)
        [emitted] = [item for item in out if isinstance(item, AudioChunk)]
    finally:
        runtime.close()
    for name in carried:
        assert getattr(emitted, name) == getattr(chunk, name), name
    assert emitted.samples is chunk.samples and emitted.pcm is chunk.pcm
    assert (emitted.sample_rate, emitted.start_sample, emitted.converted) == (16000, 0, False)
