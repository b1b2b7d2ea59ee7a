"""`summarize` / `format_summary` on a capture with known content."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from ambient_flow.capture.format import CaptureWriter, encode_record
from ambient_flow.capture.inspect import CaptureSummary, format_summary, summarize
from ambient_flow.errors import CaptureError
from ambient_flow.protocol import (
    RawMessage,
    audio_header,
    encode_envelope,
    encode_header,
    encode_multipart,
    video_header,
)
from ambient_flow.protocol.messages import Channel

T0 = 1_700_000_000 * 10**9
MS = 10**6


def _jpeg() -> bytes:
    img = np.full((48, 64, 3), 90, np.uint8)
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 70])
    assert ok
    return buf.tobytes()


def _msg(
    channel: Channel, parts: list[bytes] | tuple[bytes, ...], at_ms: int, host: str
) -> RawMessage:
    return RawMessage(channel, tuple(parts), T0 + at_ms * MS, at_ms * MS, host, "fd5")


def known_messages() -> list[RawMessage]:
    """The capture's content, in arrival order."""
    pcm100 = np.zeros(1600, "<i2").tobytes()  # 100 ms at 16 kHz
    jpeg = _jpeg()
    msgs = [
        _msg("control", [encode_header({"cmd": "hello", "client": "kitchen-mic"})], 0, "10.0.0.2"),
    ]
    # kitchen-mic: audio seq 0..9 every 100 ms, seq 5 lost (a gap of 1); half as multipart.
    for seq in range(10):
        if seq == 5:
            continue
        head = audio_header(1000 + seq * 100, seq, client="kitchen-mic")
        frames = [encode_envelope(head, pcm100)] if seq % 2 else encode_multipart(head, pcm100)
        msgs.append(_msg("audio", frames, seq * 100 + 10, "10.0.0.2"))
    # A legacy webcam (no client field): 5 JPEG frames 200 ms apart -> 5 fps.
    for seq in range(5):
        head = video_header(2000 + seq * 200, seq, w=64, h=48)
        msgs.append(_msg("video", [encode_envelope(head, jpeg)], seq * 200 + 50, "10.0.0.7"))
    # Rejects: odd PCM from kitchen-mic, garbage from the webcam host.
    bad = encode_envelope(audio_header(1, 99, client="kitchen-mic"), b"\x00\x01\x02")
    msgs.append(_msg("audio", [bad], 600, "10.0.0.2"))
    msgs.append(_msg("video", [b"\x00\x00\x00"], 700, "10.0.0.7"))
    msgs.append(
        _msg(
            "control",
            [encode_header({"cmd": "heartbeat", "client": "kitchen-mic"})],
            800,
            "10.0.0.2",
        )
    )
    msgs.sort(key=lambda m: m.received_ns)
    # 2.6 s of nothing, then a TCP client: hello, two 44.1 kHz stereo chunks, bye.
    stereo = np.zeros(4410 * 2, "<i2").tobytes()  # 100 ms of 44.1 kHz stereo
    tcp = [
        encode_envelope({"type": "control", "cmd": "hello", "client": "tcp-cam"}, b""),
        encode_envelope(audio_header(5000, 0, sr=44100, ch=2, client="tcp-cam"), stereo),
        encode_envelope(audio_header(5100, 1, sr=44100, ch=2, client="tcp-cam"), stereo),
        encode_envelope({"type": "control", "cmd": "bye", "client": "tcp-cam"}, b""),
    ]
    msgs += [_msg("tcp", [env], 3500 + i * 100, "10.0.0.9") for i, env in enumerate(tcp)]
    return msgs


@pytest.fixture
def capture(tmp_path: Path) -> tuple[Path, list[RawMessage], int]:
    """A capture of `known_messages()` with 30 bytes of a partial record at the tail."""
    path = tmp_path / "known.zmqcap"
    msgs = known_messages()
    with CaptureWriter(path, {"session": "test-session", "settings": {"audio_port": 5555}}) as w:
        for msg in msgs:
            w.write(msg)
    intact = path.stat().st_size
    with path.open("ab") as fh:
        fh.write(encode_record(msgs[0])[:30])
    return path, msgs, intact


def test_summary_counts(capture: tuple[Path, list[RawMessage], int]) -> None:
    path, msgs, intact = capture
    s = summarize(path)
    assert isinstance(s, CaptureSummary)
    assert s.meta["session"] == "test-session"
    assert s.version == 1
    assert s.records == len(msgs) == 22
    assert s.file_bytes == intact + 30
    assert s.message_bytes == sum(m.size for m in msgs)
    assert (s.first_ns, s.last_ns) == (T0, T0 + 3800 * MS)
    assert s.duration_s == pytest.approx(3.8)
    assert s.msgs_per_s == pytest.approx(22 / 3.8)
    assert s.mb_per_s == pytest.approx(s.message_bytes / 1e6 / 3.8)
    assert s.channels == {"audio": 10, "video": 6, "control": 2, "tcp": 4}
    assert s.types == {"audio": 11, "video": 5, "control": 4, "rejected": 2}
    assert s.rejects == {"envelope_short": 1, "odd_pcm": 1}
    assert s.control_commands == {"bye": 1, "heartbeat": 1, "hello": 2}


def test_summary_clients(capture: tuple[Path, list[RawMessage], int]) -> None:
    s = summarize(capture[0])
    assert [c.client for c in s.clients] == ["10.0.0.7", "kitchen-mic", "tcp-cam"]

    mic = s.client("kitchen-mic")
    assert (mic.audio_chunks, mic.video_frames, mic.control, mic.rejects) == (9, 0, 2, 1)
    assert mic.audio_seconds == pytest.approx(0.9)
    assert mic.sample_rates == {16000: 9}
    seq = mic.sequences["audio"]
    assert (seq.first, seq.last, seq.gaps, seq.missing, seq.backwards) == (0, 9, 1, 1, 0)
    assert "video" not in mic.sequences

    cam = s.client("10.0.0.7")  # legacy: named by its host
    assert (cam.video_frames, cam.audio_chunks, cam.rejects) == (5, 0, 1)
    assert cam.video_fps == pytest.approx(5.0)
    assert cam.sequences["video"].gaps == 0

    tcp = s.client("tcp-cam")
    assert (tcp.audio_chunks, tcp.control) == (2, 2)
    assert tcp.audio_seconds == pytest.approx(0.2)
    assert tcp.sample_rates == {44100: 2}
    assert tcp.video_fps is None
    with pytest.raises(KeyError):
        s.client("nobody")


def test_summary_gaps_and_problems(capture: tuple[Path, list[RawMessage], int]) -> None:
    path, _, intact = capture
    s = summarize(path)
    assert s.arrival_gap_count == 1
    (gap,) = s.arrival_gaps
    assert gap.after_ns == T0 + 910 * MS  # the last kitchen-mic chunk
    assert gap.seconds == pytest.approx(2.59)
    (problem,) = s.problems
    assert (problem.offset, problem.length) == (intact, 30)
    # A tighter threshold finds the 100 ms spacing everywhere; the list is capped.
    tight = summarize(path, gap_threshold_s=0.05, max_listed_gaps=3)
    assert tight.arrival_gap_count > 3
    assert len(tight.arrival_gaps) == 3


def test_gap_offset_resumes_at_the_record_after_the_gap(
    capture: tuple[Path, list[RawMessage], int],
) -> None:
    from ambient_flow.capture.format import CaptureReader

    path, msgs, _ = capture
    (gap,) = summarize(path).arrival_gaps
    first, _ = next(iter(CaptureReader(path).records(gap.offset)))
    assert first == msgs[18]  # the TCP hello, 3.5 s in
    assert first.received_ns == T0 + 3500 * MS


def test_sequence_backwards_and_restart(tmp_path: Path) -> None:
    path = tmp_path / "seq.zmqcap"
    pcm = b"\x00\x00" * 16
    seqs = [0, 1, 3, 2, 4, 4, 100, 0, 1]  # late 2, duplicate 4, jump to 100, restart at 0
    with CaptureWriter(path) as w:
        for i, seq in enumerate(seqs):
            env = encode_envelope(audio_header(i, seq, client="a"), pcm)
            w.write(_msg("audio", [env], i, "h"))
    stats = summarize(path).client("a").sequences["audio"]
    assert (stats.gaps, stats.missing, stats.backwards) == (2, 1 + 95, 3)
    assert stats.last == 1


def test_to_dict_is_json(capture: tuple[Path, list[RawMessage], int]) -> None:
    s = summarize(capture[0])
    doc = json.loads(json.dumps(s.to_dict()))
    assert doc["records"] == 22
    assert doc["rejects"] == {"envelope_short": 1, "odd_pcm": 1}
    tcp = next(c for c in doc["clients"] if c["client"] == "tcp-cam")
    assert tcp["sample_rates"] == {"44100": 2}
    assert doc["clients"][1]["sequences"]["audio"]["missing"] == 1
    assert doc["problems"][0]["length"] == 30


def test_format_summary_reads_like_a_table(capture: tuple[Path, list[RawMessage], int]) -> None:
    text = format_summary(summarize(capture[0]))
    lines = text.splitlines()
    assert lines[0].startswith("capture")
    assert "format v1" in lines[0]
    assert "session=test-session" in text
    assert "(3.80 s)" in text
    header = next(line for line in lines if line.split()[:1] == ["client"])
    for col in ("audio_s", "chunks", "frames", "fps", "rejects"):
        assert col in header
    mic_row = next(line for line in lines if line.strip().startswith("kitchen-mic"))
    assert mic_row.split()[1:5] == ["0.90", "9", "16000", "1/1/0"]
    cam_row = next(line for line in lines if line.strip().startswith("10.0.0.7"))
    assert "5.00" in cam_row.split()
    assert "odd_pcm 1" in text
    assert "envelope_short 1" in text
    assert "hello 2" in text
    assert "arrival gaps > 1 s: 1" in text
    assert "problems  1" in text
    assert "30 bytes skipped" in text


def test_empty_capture(tmp_path: Path) -> None:
    path = tmp_path / "empty.zmqcap"
    CaptureWriter(path).close()
    s = summarize(path)
    assert (s.records, s.duration_s, s.msgs_per_s, s.clients, s.problems) == (0, 0.0, 0.0, (), ())
    assert s.first_ns is None
    text = format_summary(s)
    assert "none" in text
    assert "problems  none" in text


def test_not_a_capture_raises(tmp_path: Path) -> None:
    path = tmp_path / "x.zmqcap"
    path.write_bytes(b"hello world, not a capture")
    with pytest.raises(CaptureError):
        summarize(path)
