"""Record what the live flow received, replay it, and get the same outputs."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from ambient_flow.capture import CaptureReader
from ambient_flow.testing import run_capture
from ambient_flow.testing.messages import audio_parts, video_parts


def tree_digest(root: Path) -> dict[str, str]:
    """sha256 of every file under `root`; `metadata.json` names its own directory
    (`storage_path`, `audio_path`, as the upstream consumer expects), so `root` is
    taken out of it first: two replays into different directories write the same bytes
    otherwise."""

    def content(p: Path) -> bytes:
        data = p.read_bytes()
        return data.replace(str(root).encode(), b"<root>") if p.name == "metadata.json" else data

    return {
        str(p.relative_to(root)): hashlib.sha256(content(p)).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.fixture
def recorded(live_host, tmp_path: Path):  # type: ignore[no-untyped-def]
    """A live run with --record: two clients, a gap, a bad message, control traffic."""
    capture = tmp_path / "live.zmqcap"
    host = live_host(record=str(capture))
    host.request({"cmd": "hello", "client": "legacy", "capabilities": ["audio", "video"]})
    a, v, b = host.push("audio"), host.push("video"), host.push("audio")
    for seq in range(12):
        if seq != 7:
            a.send_multipart(audio_parts(seq))  # legacy: no client field
        b.send_multipart(audio_parts(seq, client="named", envelope=False))
        if seq % 2 == 0:
            v.send_multipart(video_parts(seq // 2, w=160, h=120))
    a.send(b"\x00\x00\x00\x05\x00\x00\x00\x00{}")
    host.request({"cmd": "heartbeat"})
    host.wait_for(
        lambda o: (
            len(o.audio("named")) == 12
            and len(o.video("legacy")) == 6
            and len(o.audio("legacy")) == 12
            and len(o.rejects()) == 1
        )
    )
    live = host.stop()
    return capture, live


def test_replay_outputs_equal_the_live_outputs(recorded, tmp_path: Path) -> None:
    capture, live = recorded
    replayed = run_capture(capture, tmp_path / "replay")
    assert _diff(replayed.records(), live.records()) is None
    assert replayed.records() == live.records()
    assert replayed.clients() == ["legacy", "named"]


def test_replaying_twice_and_with_two_workers_gives_identical_files(recorded, tmp_path) -> None:
    capture, _ = recorded
    run_capture(capture, tmp_path / "r1")
    run_capture(capture, tmp_path / "r2")
    run_capture(capture, tmp_path / "r3", workers=2)
    first = tree_digest(tmp_path / "r1")
    assert first and any(name.endswith("audio.wav") for name in first)
    assert tree_digest(tmp_path / "r2") == first
    assert tree_digest(tmp_path / "r3") == first


def test_a_capture_cut_mid_record_replays_everything_before_the_cut(recorded, tmp_path) -> None:
    capture, live = recorded
    data = capture.read_bytes()
    whole = list(CaptureReader(capture))
    cut = tmp_path / "cut.zmqcap"
    # kill -9 mid-write leaves such a tail: the last record cut short. (A fixed cut of
    # 1000 bytes held a varying number of small control records at the end of the run.)
    cut.write_bytes(data[: len(data) - 10])
    reader = CaptureReader(cut)
    kept = list(reader)
    assert kept == whole[:-1]  # every record before the cut, exactly
    assert reader.problems and "truncated" in reader.problems[0].detail
    replayed = run_capture(cut, tmp_path / "cut")
    assert len(replayed.audio()) >= len(live.audio()) - 1


def test_a_corrupt_record_in_the_middle_is_skipped_and_the_rest_replays(recorded, tmp_path) -> None:
    capture, live = recorded
    data = bytearray(capture.read_bytes())
    data[len(data) // 2] ^= 0xFF
    bad = tmp_path / "bad.zmqcap"
    bad.write_bytes(bytes(data))
    replayed = run_capture(bad, tmp_path / "bad")
    assert len(live.audio()) - 2 <= len(replayed.audio()) < len(live.audio()) + 2
    assert os.path.getsize(bad) == os.path.getsize(capture)


def _diff(a, b):  # pragma: no cover - debugging aid
    for client in a:
        for i, (x, y) in enumerate(zip(a[client], b.get(client, []), strict=False)):
            if x != y:
                return client, i, x, y
    return None


def test_a_capture_holding_a_hostile_message_replays(live_host, tmp_path: Path) -> None:
    """A `ts` of 1e309 (valid JSON, too large for any float) recorded live replays too."""
    capture = tmp_path / "hostile.zmqcap"
    host = live_host(record=str(capture))
    head = b'{"type":"audio","ts":1' + b"0" * 309 + b',"seq":0}'
    push = host.push("audio")
    push.send(len(head).to_bytes(4, "big") + (3200).to_bytes(4, "big") + head + bytes(3200))
    push.send_multipart(audio_parts(0, client="good"))
    host.wait_for(lambda o: len(o.rejects()) == 1 and len(o.audio("good")) == 1)
    live = host.stop()
    replayed = run_capture(capture, tmp_path / "replay")
    assert [r.reason for r in replayed.rejects()] == ["bad_field"]
    assert replayed.records() == live.records()
