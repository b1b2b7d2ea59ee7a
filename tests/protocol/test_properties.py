"""Property-based checks: the parser and the stream decoder never fail on hostile input."""

from __future__ import annotations

import itertools
import json
import struct
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ambient_flow.protocol import (
    AudioChunk,
    ControlEvent,
    EnvelopeStream,
    RawMessage,
    Rejected,
    VideoFrame,
    encode_envelope,
    parse_raw,
)
from ambient_flow.protocol import (
    constants as C,
)
from ambient_flow.protocol.messages import Channel

CHANNELS: tuple[Channel, ...] = ("audio", "video", "control", "tcp")
PARSED = (AudioChunk, VideoFrame, ControlEvent, Rejected)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


def _either(good: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Mostly plausible values, sometimes any JSON at all."""
    return st.one_of(good, good, json_values)


headers = st.fixed_dictionaries(
    {},
    optional={
        "type": _either(st.sampled_from(["audio", "video", "control", "text"])),
        "cmd": _either(st.sampled_from(["hello", "heartbeat", "get_config", "stats", "bye", "x"])),
        "ts": _either(st.integers(min_value=-1, max_value=2**63)),
        "seq": _either(st.integers(min_value=-1, max_value=2**32)),
        "sr": _either(st.sampled_from([*C.ACCEPTED_SAMPLE_RATES, 0, 12345])),
        "ch": _either(st.sampled_from([0, 1, 2, 3])),
        "fmt": _either(st.sampled_from(["int16", "jpeg", "rgb", "png"])),
        "w": _either(st.integers(min_value=-1, max_value=10_000)),
        "h": _either(st.integers(min_value=-1, max_value=10_000)),
        "quality": _either(st.integers(min_value=0, max_value=100)),
        "client": _either(st.text(max_size=80)),
        "session": _either(st.text(max_size=10)),
        "source": _either(st.sampled_from(C.SOURCES)),
        "v": _either(st.just(1)),
    },
)
payloads = st.one_of(
    st.binary(max_size=64),
    st.binary(min_size=1, max_size=16).map(lambda b: b"\xff\xd8" + b),
    st.integers(min_value=0, max_value=64).map(lambda n: bytes(n * 2)),
)


def _frames_from(header: dict[str, Any], payload: bytes, encoding: str) -> tuple[bytes, ...]:
    head = json.dumps(header, allow_nan=True).encode("utf-8", "surrogatepass")
    if encoding == "envelope":
        return (encode_envelope(head, payload),)
    if encoding == "multipart":
        return (head, payload)
    return (head,)


structured_frames = st.builds(
    _frames_from, headers, payloads, st.sampled_from(["envelope", "multipart", "bare"])
)
arbitrary_frames = st.lists(st.binary(max_size=80), max_size=3).map(tuple)
mutated_envelopes = st.tuples(structured_frames, st.data())


def _check_never_raises(channel: Channel, frames: tuple[bytes, ...]) -> None:
    raw = RawMessage(channel, frames, 1, 2, "h", "c")
    parsed = parse_raw(raw, fallback_client="fallback")
    assert isinstance(parsed, PARSED)
    if isinstance(parsed, Rejected):
        assert parsed.reason in C.REJECT_REASONS
    assert parsed.client  # every result is attributed to someone


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(CHANNELS), arbitrary_frames)
def test_parse_raw_never_raises_on_arbitrary_bytes(
    channel: Channel, frames: tuple[bytes, ...]
) -> None:
    _check_never_raises(channel, frames)


@settings(max_examples=600, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(CHANNELS), structured_frames)
def test_parse_raw_never_raises_on_arbitrary_headers(
    channel: Channel, frames: tuple[bytes, ...]
) -> None:
    _check_never_raises(channel, frames)


@settings(max_examples=300)
@given(st.sampled_from(CHANNELS), structured_frames, st.data())
def test_parse_raw_never_raises_on_mutated_messages(
    channel: Channel, frames: tuple[bytes, ...], data: st.DataObject
) -> None:
    mutated = []
    for frame in frames:
        buf = bytearray(frame)
        for _ in range(data.draw(st.integers(0, 3))):
            if buf:
                i = data.draw(st.integers(0, len(buf) - 1))
                buf[i] = data.draw(st.integers(0, 255))
        cut = data.draw(st.integers(0, len(buf)))
        mutated.append(bytes(buf[:cut]) if data.draw(st.booleans()) else bytes(buf))
    _check_never_raises(channel, tuple(mutated))


def _split(data: bytes, cuts: list[int]) -> list[bytes]:
    bounds = sorted({0, len(data), *(c % (len(data) + 1) for c in cuts)})
    return [data[a:b] for a, b in itertools.pairwise(bounds)]


@settings(max_examples=300)
@given(st.binary(max_size=300), st.lists(st.integers(min_value=0), max_size=6))
def test_envelope_stream_never_raises(data: bytes, cuts: list[int]) -> None:
    stream = EnvelopeStream(max_message=1000)
    out: list[bytes] = []
    for piece in _split(data, cuts):
        out += stream.feed(piece)
    # Whatever came out is a byte-exact prefix of the input, each a whole envelope.
    assert data.startswith(b"".join(out))
    for record in out:
        header_len, payload_len = struct.unpack_from(">II", record)
        assert len(record) == 8 + header_len + payload_len
        assert header_len >= 1
    if stream.error is not None:
        assert stream.error.reason in C.REJECT_REASONS
    else:
        assert stream.pending == len(data) - len(b"".join(out))


envelopes = st.lists(
    st.tuples(st.binary(min_size=1, max_size=40), st.binary(max_size=200)).map(
        lambda hp: encode_envelope(hp[0], hp[1])
    ),
    max_size=8,
)


@settings(max_examples=300)
@given(envelopes, st.lists(st.integers(min_value=0), max_size=20))
def test_envelope_stream_returns_exactly_the_envelopes(
    records: list[bytes], cuts: list[int]
) -> None:
    data = b"".join(records)
    stream = EnvelopeStream()
    out: list[bytes] = []
    for piece in _split(data, cuts):
        out += stream.feed(piece)
    assert out == records
    assert stream.error is None
    assert stream.pending == 0
