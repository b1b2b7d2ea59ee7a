from __future__ import annotations

import itertools
import json
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest

from ambient_flow.capture import CaptureReader
from ambient_flow.client.media import ImageOptions, WavOptions
from ambient_flow.client.synth import SynthOptions, synthesize_capture
from ambient_flow.errors import ConfigError
from ambient_flow.protocol.codec import parse_header, split_parts
from ambient_flow.protocol.messages import AudioChunk, ControlEvent, VideoFrame
from ambient_flow.protocol.parse import parse_raw

from .helpers import peak_hz, sine, write_wav

SHORT = SynthOptions(duration_s=2.0, width=160, height=120, heartbeat_interval_s=0.5)


def test_same_options_give_a_byte_identical_file(tmp_path: Path) -> None:
    a = synthesize_capture(tmp_path / "a.zmqcap", SHORT)
    b = synthesize_capture(tmp_path / "b.zmqcap", SHORT)
    c = synthesize_capture(tmp_path / "c.zmqcap", replace(SHORT, seed=1))
    assert (tmp_path / "a.zmqcap").read_bytes() == (tmp_path / "b.zmqcap").read_bytes()
    assert (tmp_path / "a.zmqcap").read_bytes() != (tmp_path / "c.zmqcap").read_bytes()
    assert a == replace(b, path=a.path)
    assert c.records == a.records  # only the jitter differs


def test_capture_reads_back_with_the_right_counts_and_times(tmp_path: Path) -> None:
    result = synthesize_capture(tmp_path / "s.zmqcap", SHORT)
    reader = CaptureReader(tmp_path / "s.zmqcap")
    records = list(reader)
    assert reader.problems == []
    assert reader.meta["created_at"] == SHORT.start_unix_ms / 1000
    assert reader.meta["host"] == "synth"
    assert reader.meta["synth"]["seed"] == 0
    by_channel = {
        ch: [r for r in records if r.channel == ch] for ch in ("audio", "video", "control")
    }
    assert len(by_channel["audio"]) == result.audio_chunks == 20
    assert len(by_channel["video"]) == result.video_frames == 10
    cmds = [json.loads(r.parts[0])["cmd"] for r in by_channel["control"]]
    assert cmds == ["hello", "heartbeat", "heartbeat", "heartbeat", "bye"]
    assert result.records == len(records) == 35
    assert result.bytes == (tmp_path / "s.zmqcap").stat().st_size

    # Arrival order overall, strictly increasing per channel, a few ms after `ts`.
    arrivals = [r.received_ns for r in records]
    assert arrivals == sorted(arrivals)
    for channel, recs in by_channel.items():
        times = [r.received_ns for r in recs]
        assert all(b > a for a, b in itertools.pairwise(times)), channel
        assert {r.peer for r in recs} == {
            f"127.0.0.1#fd{10 + ['audio', 'video', 'control'].index(channel)}"
        }
    for rec in by_channel["audio"] + by_channel["video"]:
        ts = parse_header(split_parts(rec.parts)[0])["ts"]
        assert 1_000_000 <= rec.received_ns - ts * 1_000_000 <= 12_000_000
        assert (
            rec.monotonic_ns - rec.received_ns == records[0].monotonic_ns - records[0].received_ns
        )

    parsed = [parse_raw(r, fallback_client="legacy") for r in records]
    audio = [p for p in parsed if isinstance(p, AudioChunk)]
    video = [p for p in parsed if isinstance(p, VideoFrame)]
    assert [a.sequence for a in audio] == list(range(20))
    assert [a.timestamp_ms - SHORT.start_unix_ms for a in audio[:3]] == [0, 100, 200]
    assert all(a.num_samples == 1600 and a.client == "legacy" for a in audio)
    assert [v.timestamp_ms - SHORT.start_unix_ms for v in video[:3]] == [0, 200, 400]
    assert video[3].image().shape == (120, 160, 3)
    assert sum(isinstance(p, ControlEvent) for p in parsed) == 5


def test_wav_and_image_folder_inputs_with_a_client_name(tmp_path: Path) -> None:
    wav = write_wav(tmp_path / "v.wav", sine(700.0, 44100, 0.75), 44100)
    folder = tmp_path / "imgs"
    folder.mkdir()
    for i in range(3):
        cv2.imwrite(str(folder / f"{i}.png"), np.full((30, 40, 3), 60 * i, np.uint8))
    opts = replace(
        SHORT,
        audio=WavOptions(str(wav)),
        video=ImageOptions(str(folder)),
        client="desk-7",
        encoding="multipart",
    )
    result = synthesize_capture(tmp_path / "w.zmqcap", opts)
    assert result.audio_chunks == 8  # the WAV ends after 0.75 s: 7 full chunks and a half
    assert result.video_frames == 10
    records = list(CaptureReader(tmp_path / "w.zmqcap"))
    hello = json.loads(records[0].parts[0])
    assert hello == {"cmd": "hello", "client": "desk-7", "capabilities": ["audio", "video"]}
    audio = [r for r in records if r.channel == "audio"]
    assert all(len(r.parts) == 2 for r in audio)
    heads = [parse_header(r.parts[0]) for r in audio]
    assert {(h["client"], h["source"]) for h in heads} == {("desk-7", "file")}
    pcm = b"".join(r.parts[1] for r in audio)
    assert len(pcm) == 2 * 12000
    assert abs(peak_hz(pcm, 16000) - 700.0) <= 2.0
    parsed = [parse_raw(r, fallback_client="x") for r in records]
    assert {p.client for p in parsed} == {"desk-7"}


def test_tcp_synth_puts_everything_on_one_connection(tmp_path: Path) -> None:
    opts = replace(SHORT, transport="tcp", client="t1", encoding="multipart")
    result = synthesize_capture(tmp_path / "t.zmqcap", opts)
    records = list(CaptureReader(tmp_path / "t.zmqcap"))
    assert {r.channel for r in records} == {"tcp"}
    assert {r.peer for r in records} == {"127.0.0.1#p50000"}
    assert all(len(r.parts) == 1 for r in records)  # envelopes, whatever the encoding
    times = [r.received_ns for r in records]
    assert all(b > a for a, b in itertools.pairwise(times))
    parsed = [parse_raw(r, fallback_client="x") for r in records]
    kinds = [type(p).__name__ for p in parsed]
    assert kinds.count("AudioChunk") == result.audio_chunks == 20
    assert kinds.count("VideoFrame") == result.video_frames == 10
    assert kinds.count("ControlEvent") == result.control_records == 5
    assert kinds[0] == "ControlEvent"
    assert kinds[-1] == "ControlEvent"


def test_synth_options_are_validated() -> None:
    with pytest.raises(ConfigError):
        SynthOptions(audio=None, video=None)
    with pytest.raises(ConfigError):
        SynthOptions(jitter_ms=(5.0, 1.0))
    with pytest.raises(ConfigError):
        SynthOptions(duration_s=0)
