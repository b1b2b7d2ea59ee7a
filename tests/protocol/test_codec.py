"""Envelope encode/decode, header parsing and the audio/video validators."""

from __future__ import annotations

import struct

import cv2
import numpy as np
import pytest

from ambient_flow.errors import ProtocolError
from ambient_flow.protocol import (
    EnvelopeStream,
    audio_header,
    decode_envelope,
    encode_envelope,
    encode_multipart,
    parse_audio,
    parse_header,
    parse_video,
    split_parts,
    video_header,
)
from ambient_flow.protocol import (
    constants as C,
)


def _reason(exc: pytest.ExceptionInfo[ProtocolError]) -> str:
    return exc.value.reason


def test_envelope_layout_is_two_big_endian_lengths() -> None:
    env = encode_envelope({"type": "audio"}, b"\x01\x02\x03")
    head = b'{"type":"audio"}'
    assert env[:8] == struct.pack(">II", len(head), 3)
    assert env[8:] == head + b"\x01\x02\x03"
    assert decode_envelope(env) == (head, b"\x01\x02\x03")


def test_encode_accepts_pre_encoded_header_bytes() -> None:
    assert encode_envelope(b"{}", b"") == b"\x00\x00\x00\x02\x00\x00\x00\x00{}"
    assert encode_multipart(b"{}", b"x") == [b"{}", b"x"]


def test_header_keeps_key_order_and_is_compact() -> None:
    head = audio_header(5, 6, client="ké")
    assert list(head) == ["type", "ts", "seq", "sr", "ch", "fmt", "client"]
    frame_head, _ = decode_envelope(encode_envelope(head, b""))
    assert (
        frame_head
        == '{"type":"audio","ts":5,"seq":6,"sr":16000,"ch":1,"fmt":"int16","client":"ké"}'.encode()
    )


def test_video_header_omits_quality_when_none() -> None:
    assert "quality" not in video_header(1, 2, fmt="rgb", quality=None)
    assert video_header(1, 2)["quality"] == C.VIDEO_QUALITY


@pytest.mark.parametrize(
    ("buf", "reason"),
    [
        (b"", "envelope_short"),
        (b"\x00" * 7, "envelope_short"),
        (struct.pack(">II", 2, 1) + b"{}", "envelope_short"),
        (struct.pack(">II", 2, 0) + b"{}!", "envelope_trailing"),
    ],
)
def test_decode_envelope_errors(buf: bytes, reason: str) -> None:
    with pytest.raises(ProtocolError) as info:
        decode_envelope(buf)
    assert _reason(info) == reason


def test_split_parts_accepts_both_encodings() -> None:
    assert split_parts([b"{}", b"p"]) == (b"{}", b"p")
    assert split_parts([encode_envelope(b"{}", b"p")]) == (b"{}", b"p")
    for frames in ([], [b"a", b"b", b"c"]):
        with pytest.raises(ProtocolError) as info:
            split_parts(frames)
        assert _reason(info) == "frame_count"


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"x" * (C.MAX_HEADER_BYTES + 1), "header_too_large"),
        (b"\xff\xfe", "not_json"),
        (b"{", "not_json"),
        (b"[" * 30_000 + b"]" * 30_000, "header_too_deep"),  # would cost the parser its stack
        (b'{"a":Infinity}', "not_json"),
        (b"null", "header_not_object"),
        (b'"s"', "header_not_object"),
    ],
)
def test_parse_header_errors(raw: bytes, reason: str) -> None:
    with pytest.raises(ProtocolError) as info:
        parse_header(raw)
    assert _reason(info) == reason


def test_parse_header_at_the_size_limit_is_accepted() -> None:
    pad = C.MAX_HEADER_BYTES - len(b'{"p":""}')
    assert len(parse_header(b'{"p":"' + b"a" * pad + b'"}')["p"]) == pad


def test_parse_audio_mono_scales_to_unit_float() -> None:
    pcm = np.array([0, 16384, -32768, 32767], "<i2").tobytes()
    chunk = parse_audio(audio_header(10, 3), pcm, client="c", received_ns=7)
    assert chunk.samples.dtype == np.float32
    np.testing.assert_array_equal(
        chunk.samples, np.array([0.0, 0.5, -1.0, 32767 / 32768], np.float32)
    )
    every = np.arange(-32768, 32768, dtype="<i2")  # each value exactly int16 / 2**15
    exact = parse_audio(audio_header(10, 3), every.tobytes(), client="c", received_ns=7)
    assert exact.samples.dtype == np.float32
    np.testing.assert_array_equal(exact.samples, every.astype(np.float64) / 32768)
    assert (chunk.timestamp_ms, chunk.sequence, chunk.sample_rate, chunk.received_ns) == (
        10,
        3,
        16000,
        7,
    )
    assert chunk.duration_s == pytest.approx(4 / 16000)


def test_parse_audio_mono_decodes_its_floats_only_when_read() -> None:
    pcm = np.array([0, 16384, -32768, 32767, 7], "<i2").tobytes()
    chunk = parse_audio(audio_header(10, 3), pcm, client="c", received_ns=7)
    assert chunk.float_samples is None and chunk.pcm == pcm  # nothing decoded yet
    assert chunk.num_samples == 5  # known from the bytes
    first = chunk.samples
    assert chunk.float_samples is first and chunk.samples is first  # decoded once, kept
    np.testing.assert_array_equal(first * 32768, [0, 16384, -32768, 32767, 7])


def test_parse_audio_stereo_is_downmixed_by_averaging() -> None:
    pcm = np.array([1000, 3000, -2000, 2000], "<i2").tobytes()
    chunk = parse_audio(audio_header(0, 0, sr=48000, ch=2), pcm, client="c", received_ns=0)
    assert (chunk.channels, chunk.source_channels, chunk.num_samples) == (1, 2, 2)
    np.testing.assert_allclose(chunk.samples * 32768, [2000.0, 0.0])


def test_parse_audio_defaults_when_sr_ch_fmt_absent() -> None:
    chunk = parse_audio(
        {"type": "audio", "ts": 0, "seq": 0}, b"\x00\x00", client="c", received_ns=0
    )
    assert (chunk.sample_rate, chunk.source_channels) == (16000, 1)


@pytest.mark.parametrize(
    ("header", "payload", "reason"),
    [
        ({"ts": 0}, b"\x00\x00", "missing_field"),
        ({"ts": True, "seq": 0}, b"\x00\x00", "bad_field"),
        ({"ts": 1.5, "seq": 0}, b"\x00\x00", "bad_field"),
        ({"ts": 0, "seq": 0, "sr": True}, b"\x00\x00", "unsupported_sr"),
        ({"ts": 0, "seq": 0, "sr": 12000}, b"\x00\x00", "unsupported_sr"),
        ({"ts": 0, "seq": 0, "ch": 6}, b"\x00\x00", "unsupported_ch"),
        ({"ts": 0, "seq": 0, "fmt": "f32le"}, b"\x00\x00", "unsupported_fmt"),
        ({"ts": 0, "seq": 0}, b"", "empty_payload"),
        ({"ts": 0, "seq": 0}, b"\x00", "odd_pcm"),
        ({"ts": 0, "seq": 0, "ch": 2}, b"\x00\x00", "odd_pcm"),
        ({"ts": 0, "seq": 0, "session": 5}, b"\x00\x00", "bad_field"),
    ],
)
def test_parse_audio_errors(header: dict[str, object], payload: bytes, reason: str) -> None:
    with pytest.raises(ProtocolError) as info:
        parse_audio({"type": "audio", **header}, payload, client="c", received_ns=0)
    assert _reason(info) == reason


def test_parse_audio_payload_limit() -> None:
    with pytest.raises(ProtocolError) as info:
        parse_audio(audio_header(0, 0), b"\x00" * 10, client="c", received_ns=0, max_payload=8)
    assert _reason(info) == "payload_too_large"


def test_parse_video_real_jpeg_decodes() -> None:
    img = np.zeros((24, 32, 3), np.uint8)
    img[:, :, 1] = 200
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 70])
    assert ok
    frame = parse_video(video_header(1, 2, w=32, h=24), buf.tobytes(), client="c", received_ns=0)
    assert (frame.width, frame.height, frame.format, frame.quality) == (32, 24, "jpeg", 70)
    decoded = frame.image()
    assert decoded.shape == (24, 32, 3)
    assert abs(int(decoded[12, 16, 1]) - 200) < 8


@pytest.mark.parametrize(
    ("header", "payload", "reason"),
    [
        ({"w": 2, "h": 2, "fmt": "rgb"}, b"\x00" * 13, "rgb_size"),
        ({"w": 2, "h": 2, "fmt": "jpeg"}, b"\x89PNG", "bad_jpeg"),
        ({"w": 2, "h": 2, "fmt": "webp"}, b"RIFF", "unsupported_fmt"),
        ({"w": 2, "h": 2, "fmt": "jpeg"}, b"", "empty_payload"),
        ({"w": 2, "h": 2, "fmt": "jpeg", "quality": "high"}, b"\xff\xd8", "bad_field"),
        ({"w": C.MAX_VIDEO_SIDE + 1, "h": 2, "fmt": "jpeg"}, b"\xff\xd8", "bad_field"),
        ({"w": 2, "fmt": "jpeg"}, b"\xff\xd8", "missing_field"),
    ],
)
def test_parse_video_errors(header: dict[str, object], payload: bytes, reason: str) -> None:
    with pytest.raises(ProtocolError) as info:
        parse_video(
            {"type": "video", "ts": 0, "seq": 0, **header}, payload, client="c", received_ns=0
        )
    assert _reason(info) == reason


def test_envelope_stream_returns_records_before_a_bad_prefix() -> None:
    good = encode_envelope(audio_header(0, 0), b"\x00\x00")
    stream = EnvelopeStream()
    assert stream.feed(good + good[:5]) == [good]
    assert stream.pending == 5
    assert stream.feed(good[5:] + struct.pack(">II", 0, 0)) == [good]
    assert stream.error is not None
    assert stream.error.reason == "envelope_short"
    assert stream.feed(good) == []


def test_envelope_stream_honours_its_own_message_limit() -> None:
    stream = EnvelopeStream(max_message=16)
    assert stream.feed(encode_envelope(b"{}", b"x" * 16)) != []
    stream.feed(encode_envelope(b"{}", b"x" * 17)[:8])
    assert stream.error is not None
    assert stream.error.reason == "payload_too_large"
