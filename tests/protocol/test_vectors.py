"""Every vector in `vectors.json` through the real parser; the file is what the generator makes."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from types import ModuleType
from typing import Any

import cv2
import numpy as np
import pytest

from ambient_flow.protocol import (
    AudioChunk,
    ControlEvent,
    EnvelopeStream,
    Parsed,
    RawMessage,
    Rejected,
    VideoFrame,
    decode_envelope,
    encode_envelope,
    encode_header,
    encode_multipart,
    parse_raw,
)
from ambient_flow.protocol import (
    constants as C,
)
from ambient_flow.protocol.control import COMMANDS

VECTORS_PATH = Path(__file__).resolve().parents[2] / "ambient_flow" / "protocol" / "vectors.json"
DOC: dict[str, Any] = json.loads(VECTORS_PATH.read_text(encoding="utf-8"))
FALLBACK: str = DOC["fallback_client"]
MESSAGE_VECTORS = [v for v in DOC["vectors"] if v["encoding"] != "tcp_stream"]
STREAM_VECTORS = [v for v in DOC["vectors"] if v["encoding"] == "tcp_stream"]


def frames_of(vector: dict[str, Any]) -> tuple[bytes, ...]:
    return tuple(bytes.fromhex(f) for f in vector["frames_hex"])


def raw_message(channel: str, frames: tuple[bytes, ...]) -> RawMessage:
    return RawMessage(channel, frames, 1_700_000_000_000_000_000, 5, FALLBACK, "fd9")  # type: ignore[arg-type]


def check_expect(parsed: Parsed, expect: dict[str, Any]) -> None:
    """Compare one parse result with a vector's `expect` block, field by field."""
    assert not isinstance(parsed, Rejected), f"rejected: {parsed.reason} {parsed.detail}"
    assert parsed.client == expect["client"]
    if expect["type"] == "control":
        assert isinstance(parsed, ControlEvent)
        assert parsed.command == expect["cmd"]
        return
    assert (parsed.timestamp_ms, parsed.sequence) == (expect["ts"], expect["seq"])
    if expect["type"] == "audio":
        assert isinstance(parsed, AudioChunk)
        assert parsed.sample_rate == expect["sr"]
        assert parsed.source_channels == expect["ch"]
        assert parsed.channels == 1  # stereo is downmixed by the parse step
        assert parsed.num_samples == expect["samples"]
        assert parsed.session == expect.get("session")
        assert parsed.source == expect.get("source")
        first = np.array(expect["first_samples"], dtype=np.float32)
        if expect["ch"] == 2:
            first = first.reshape(-1, 2).mean(axis=1)
        got = parsed.samples[: len(first)] * 32768.0
        np.testing.assert_allclose(got, first, atol=1e-3)
        return
    assert isinstance(parsed, VideoFrame)
    assert (parsed.width, parsed.height, parsed.format) == (expect["w"], expect["h"], expect["fmt"])
    assert parsed.quality == expect["quality"]
    assert len(parsed.payload) == expect["payload_bytes"]


def test_committed_file_is_what_the_generator_makes(make_vectors: ModuleType) -> None:
    assert VECTORS_PATH.read_text(encoding="utf-8") == make_vectors.render(), (
        "vectors.json is stale: run `python tests/protocol/make_vectors.py`"
    )


def test_every_reject_reason_has_a_vector(make_vectors: ModuleType) -> None:
    produced = {v["error"] for v in DOC["vectors"] if "error" in v}
    stateful = set(make_vectors.STATEFUL_REASONS)
    assert stateful <= set(C.REJECT_REASONS)  # a renamed reason must be renamed here too
    assert produced == set(C.REJECT_REASONS) - stateful
    assert all(("expect" in v) != ("error" in v) for v in DOC["vectors"])


def test_names_are_unique() -> None:
    names = [v["name"] for v in DOC["vectors"]] + [v["name"] for v in DOC["encode"]]
    assert len(names) == len(set(names))


def test_defaults_repeat_the_constants() -> None:
    d = DOC["defaults"]
    assert DOC["protocol_version"] == C.PROTOCOL_VERSION == 1
    assert d["ports"] == {"audio": 5555, "video": 5556, "control": 5557, "tcp": 5558}
    assert (d["audio_sample_rate"], d["audio_chunk_ms"], d["audio_chunk_bytes"]) == (
        16000,
        100,
        3200,
    )
    assert (d["video_width"], d["video_height"], d["video_format"], d["video_quality"]) == (
        640,
        480,
        "jpeg",
        70,
    )
    assert d["heartbeat_interval_s"] == C.HEARTBEAT_INTERVAL_S
    assert d["envelope_prefix_bytes"] == 8
    assert d["max_message_bytes"] == 8 * 1024 * 1024
    assert d["max_header_bytes"] == 64 * 1024
    assert d["reject_reasons"] == list(C.REJECT_REASONS)
    assert d["commands"] == list(COMMANDS)


@pytest.mark.parametrize("vector", MESSAGE_VECTORS, ids=[v["name"] for v in MESSAGE_VECTORS])
def test_message_vector(vector: dict[str, Any]) -> None:
    frames = frames_of(vector)
    expected_frames = {"envelope": 1, "control": 1}.get(vector["encoding"])
    if expected_frames is not None:
        assert len(frames) == expected_frames
    parsed = parse_raw(raw_message(vector["channel"], frames), fallback_client=FALLBACK)
    if "error" in vector:
        assert isinstance(parsed, Rejected)
        assert parsed.reason == vector["error"], parsed.detail
        assert parsed.channel == vector["channel"]
        assert parsed.size == sum(len(f) for f in frames)
    else:
        check_expect(parsed, vector["expect"])


def test_envelope_and_multipart_vectors_carry_the_same_header() -> None:
    by_name = {v["name"]: v for v in DOC["vectors"]}
    for single, multi in [
        ("audio_sine_envelope", "audio_sine_multipart"),
        ("video_tiny_jpeg", "video_tiny_jpeg_multipart"),
    ]:
        head, payload = decode_envelope(frames_of(by_name[single])[0])
        assert (head, payload) == frames_of(by_name[multi])
        assert by_name[single]["expect"] == by_name[multi]["expect"]


def test_sine_vector_is_100ms_at_16k() -> None:
    vector = next(v for v in DOC["vectors"] if v["name"] == "audio_sine_envelope")
    _, payload = decode_envelope(frames_of(vector)[0])
    assert len(payload) == C.AUDIO_CHUNK_BYTES
    pcm = np.frombuffer(payload, "<i2")
    # 44 periods of 440 Hz in 100 ms; the first starts at sample 0, so 43 upward crossings.
    assert int(np.sum((pcm[:-1] < 0) & (pcm[1:] >= 0))) == 43
    assert 16000 <= int(pcm.max()) <= 16384


def test_tiny_jpeg_is_a_real_jpeg() -> None:
    vector = next(v for v in DOC["vectors"] if v["name"] == "video_tiny_jpeg")
    parsed = parse_raw(raw_message("video", frames_of(vector)), fallback_client=FALLBACK)
    assert isinstance(parsed, VideoFrame)
    img = parsed.image()
    assert img.shape == (8, 16, 3)
    b, _, r = (int(x) for x in img[4, 2])
    assert r > 200
    assert b < 50
    b, _g, r = (int(x) for x in img[4, 13])
    assert b > 200
    assert r < 50
    ok, _ = cv2.imencode(".jpg", img)
    assert ok


def test_rgb_vector_pixels() -> None:
    vector = next(v for v in DOC["vectors"] if v["name"] == "video_rgb_2x2")
    parsed = parse_raw(raw_message("video", frames_of(vector)), fallback_client=FALLBACK)
    assert isinstance(parsed, VideoFrame)
    bgr = parsed.image()
    assert bgr[0, 0].tolist() == [0, 0, 255]  # red
    assert bgr[0, 1].tolist() == [0, 255, 0]  # green
    assert bgr[1, 0].tolist() == [255, 0, 0]  # blue
    assert bgr[1, 1].tolist() == [255, 255, 255]


def _feed_in_pieces(stream: bytes, cuts: list[int]) -> tuple[list[bytes], EnvelopeStream]:
    decoder = EnvelopeStream()
    records: list[bytes] = []
    bounds = [0, *cuts, len(stream)]
    for lo, hi in itertools.pairwise(bounds):
        records += decoder.feed(stream[lo:hi])
    return records, decoder


@pytest.mark.parametrize("vector", STREAM_VECTORS, ids=[v["name"] for v in STREAM_VECTORS])
def test_tcp_stream_vector(vector: dict[str, Any]) -> None:
    (stream,) = frames_of(vector)
    if "error" in vector:
        decoder = EnvelopeStream()
        assert len(decoder.feed(stream)) == vector["records_before_error"]
        assert decoder.error is not None
        assert decoder.error.reason == vector["error"]
        assert decoder.feed(b"more") == []  # a broken stream stays broken
        return
    expected = vector["expect"]["records"]
    whole, decoder = _feed_in_pieces(stream, [])
    assert decoder.pending == 0
    assert decoder.error is None
    assert b"".join(whole) == stream
    assert len(whole) == len(expected)
    for record, expect in zip(whole, expected, strict=True):
        check_expect(parse_raw(raw_message("tcp", (record,)), fallback_client=FALLBACK), expect)
    # Split at every offset, and byte by byte: always the same records.
    for cut in range(1, len(stream)):
        assert _feed_in_pieces(stream, [cut])[0] == whole
    assert _feed_in_pieces(stream, list(range(1, len(stream))))[0] == whole


@pytest.mark.parametrize("vector", DOC["encode"], ids=[v["name"] for v in DOC["encode"]])
def test_encode_vector(vector: dict[str, Any]) -> None:
    payload = bytes.fromhex(vector["payload_hex"])
    assert encode_header(vector["header"]).hex() == vector["header_hex"]
    assert encode_envelope(vector["header"], payload).hex() == vector["envelope_hex"]
    assert encode_multipart(vector["header"], payload) == [
        bytes.fromhex(vector["header_hex"]),
        payload,
    ]
    head, body = decode_envelope(bytes.fromhex(vector["envelope_hex"]))
    assert json.loads(head) == vector["header"]
    assert list(json.loads(head)) == list(vector["header"])  # key order kept
    assert body == payload
