"""Audio reaches audio.wav as the bytes it arrived as, with no float -> int16 round trip
while the samples are those bytes; converted audio goes through the float path."""

from __future__ import annotations

import dataclasses
import json
import wave
from pathlib import Path

import numpy as np

from ambient_flow.protocol.codec import decode_envelope, parse_audio
from ambient_flow.protocol.messages import AudioChunk
from ambient_flow.sinks.session import SessionWriter
from ambient_flow.testing import run_messages
from ambient_flow.testing.messages import audio_parts, audio_raw

from .items import Client


def _wav_pcm(path: Path) -> bytes:
    with wave.open(str(path), "rb") as r:
        return r.readframes(r.getnframes())


def test_parsed_mono_audio_carries_its_bytes_and_they_are_its_samples() -> None:
    rng = np.random.default_rng(3)
    raw = rng.integers(-32768, 32767, 1600, dtype=np.int16).astype("<i2").tobytes()
    (part,) = audio_parts(0, client="a", pcm=raw)
    header, payload = decode_envelope(part)
    chunk = parse_audio(json.loads(header), payload, client="a", received_ns=1)
    assert chunk.pcm == raw
    # the float path would write the very same bytes: the shortcut changes nothing on disk
    assert np.clip(chunk.samples * 32768.0, -32768, 32767).astype("<i2").tobytes() == raw
    (stereo,) = audio_parts(0, client="a", pcm=raw, ch=2)
    h2, p2 = decode_envelope(stereo)
    assert parse_audio(json.loads(h2), p2, client="a", received_ns=1).pcm is None  # downmixed


def test_the_session_writes_the_bytes_the_chunk_carries(tmp_path: Path, alice: Client) -> None:
    """The writer takes `pcm` as it is (a chunk whose bytes and samples disagree shows
    which one was written: the bytes)."""
    writer = SessionWriter(tmp_path)
    writer.write(alice.start())
    chunk = alice.audio()
    marked = bytes(range(256)) * (2 * chunk.num_samples // 256) + bytes(
        2 * chunk.num_samples % 256
    )
    writer.write(dataclasses.replace(chunk, pcm=marked))
    writer.close_all("shutdown")
    assert _wav_pcm(tmp_path / "sessions" / alice.session / "audio.wav") == marked


def test_resampled_audio_drops_the_bytes_and_the_file_holds_the_sent_audio(
    tmp_path: Path,
) -> None:
    sent = [audio_raw(seq, client="c16") for seq in range(5)]
    sent += [audio_raw(seq, client="c48", sr=48000, pcm=bytes(9600)) for seq in range(5)]
    out = run_messages(sent, tmp_path)
    chunks = [item for _c, item in out.items if isinstance(item, AudioChunk)]
    assert all(c.pcm is not None for c in chunks if c.client == "c16")
    assert all(c.pcm is None for c in chunks if c.client == "c48")
    (wav16,) = (tmp_path / "sessions").glob("*_c16_*/audio.wav")
    expected = b"".join(audio_parts(seq, client="c16")[0][-3200:] for seq in range(5))
    assert _wav_pcm(wav16) == expected
