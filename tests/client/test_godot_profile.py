"""The `godot` profile (Python twin of clients/godot) against references and the real host."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
import soxr
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import signal

from ambient_flow.client.godot import (
    GodotClient,
    GodotProfileOptions,
    PcmChunker,
    PolyphaseResampler,
    bessel_i0,
    downmix_stereo,
    encode_envelope,
    encode_header,
    to_int16_le,
)
from ambient_flow.protocol.codec import encode_header as reference_encode_header
from ambient_flow.testing import LiveHost

MakeHost = Callable[..., LiveHost]
Array = npt.NDArray[np.float64]
VECTORS = json.loads(
    (Path(__file__).resolve().parents[2] / "ambient_flow/protocol/vectors.json").read_text()
)
RATES = [44100, 48000]


def _level_db(y: Array, freq: float, rate: int) -> float:
    """Amplitude of `freq` in `y` by least squares (phase and delay do not matter), in dB."""
    t = np.arange(len(y)) / rate
    basis = np.column_stack([np.sin(2 * np.pi * freq * t), np.cos(2 * np.pi * freq * t)])
    coef, *_ = np.linalg.lstsq(basis, y, rcond=None)
    return 20 * math.log10(max(float(np.hypot(*coef)), 1e-12))


def _tone(freq: float, rate: int, seconds: float = 0.5, amplitude: float = 0.5) -> Array:
    result: Array = amplitude * np.sin(2 * np.pi * freq * np.arange(int(rate * seconds)) / rate)
    return result


def _steady(y: Array) -> Array:
    return y[200:-200]  # away from the filter's start-up and the end


# -- wire.gd twin -----------------------------------------------------------------------


@pytest.mark.parametrize("vector", VECTORS["encode"], ids=lambda v: v["name"])
def test_envelopes_match_the_encode_vectors(vector: dict[str, Any]) -> None:
    payload = bytes.fromhex(vector["payload_hex"])
    assert encode_header(vector["header"]).hex() == vector["header_hex"]
    assert encode_envelope(vector["header"], payload).hex() == vector["envelope_hex"]


@settings(max_examples=200, deadline=None)
@given(
    st.dictionaries(
        st.text(max_size=8),
        st.one_of(st.text(max_size=20), st.integers(-(2**53), 2**53), st.booleans()),
        max_size=6,
    )
)
def test_header_json_matches_the_protocol_codec(fields: dict[str, Any]) -> None:
    assert encode_header(fields) == reference_encode_header(fields)


# -- resampler.gd twin ------------------------------------------------------------------


def test_bessel_series_matches_numpy() -> None:
    for x in (0.0, 0.5, 3.0, 9.0, 14.0):
        assert bessel_i0(x) == pytest.approx(float(np.i0(x)), rel=1e-10)


@pytest.mark.parametrize("rate", RATES)
def test_output_length_is_exact_and_chunking_changes_nothing(rate: int) -> None:
    rng = np.random.default_rng(rate)
    x = rng.standard_normal(rate * 3) * 0.1
    whole = PolyphaseResampler(rate).process(x)
    assert len(whole) == math.ceil(len(x) * 16000 / rate)
    r = PolyphaseResampler(rate)
    pieces, fed = [], 0
    while fed < len(x):
        n = int(rng.integers(0, 1200))  # includes empty reads, like an idle game frame
        pieces.append(r.process(x[fed : fed + n]))
        fed += n
        produced = sum(len(p) for p in pieces)
        assert produced == math.ceil(min(fed, len(x)) * 16000 / rate)
    assert np.array_equal(np.concatenate(pieces), whole)


@pytest.mark.parametrize("rate", RATES)
def test_passband_is_flat_and_agrees_with_soxr(rate: int) -> None:
    for freq in (100.0, 440.0, 1000.0, 3000.0, 5000.0, 6000.0):
        x = _tone(freq, rate)
        ours = _level_db(_steady(PolyphaseResampler(rate).process(x)), freq, 16000)
        ref = _level_db(_steady(soxr.resample(x, rate, 16000, quality="VHQ")), freq, 16000)
        assert ours == pytest.approx(20 * math.log10(0.5), abs=0.05), freq
        assert ours == pytest.approx(ref, abs=0.05), freq


@pytest.mark.parametrize("rate", RATES)
def test_tones_above_8khz_do_not_alias(rate: int) -> None:
    for freq in (8200.0, 9000.0, 11000.0, 15000.0, 20000.0):
        alias = abs(freq - 16000 * round(freq / 16000))
        y = _steady(PolyphaseResampler(rate).process(_tone(freq, rate)))
        level = _level_db(y, alias, 16000) - 20 * math.log10(0.5)
        assert level < -80.0, (freq, alias, level)
        # A naive decimator (every 3rd sample at 48 kHz) lets it straight through.
    naive = _tone(9000.0, 48000)[::3]
    assert _level_db(naive, 7000.0, 16000) > -7.0


@pytest.mark.parametrize("rate", RATES)
def test_matches_scipy_polyphase_on_speech_band_noise(rate: int) -> None:
    rng = np.random.default_rng(7)
    sos = signal.butter(10, 4000, fs=rate, output="sos")  # where both filters are flat
    x = signal.sosfilt(sos, rng.standard_normal(rate)) * 0.2
    ours = PolyphaseResampler(rate).process(x)
    up, down = (160, 441) if rate == 44100 else (1, 3)
    ref = signal.resample_poly(x, up, down, window=("kaiser", 9.0))
    # Delay the reference by our filter's group delay (fractional: an exact FFT shift).
    delay = PolyphaseResampler(rate).delay_in * 16000 / rate
    freqs = np.fft.rfftfreq(len(ref))
    delayed = np.fft.irfft(np.fft.rfft(ref) * np.exp(-2j * np.pi * freqs * delay), len(ref))
    core = slice(400, len(ref) - 400)
    err = ours[core] - delayed[core]
    snr = 10 * math.log10(np.mean(delayed[core] ** 2) / np.mean(err**2))
    assert snr > 40.0


def test_no_step_at_chunk_boundaries() -> None:
    rate = 48000
    x = _tone(440.0, rate, seconds=1.0, amplitude=0.5)
    r = PolyphaseResampler(rate)
    chunker = PcmChunker(1600)
    chunks: list[bytes] = []
    for start in range(0, len(x), 800):  # 60 game frames per second
        chunks += chunker.push(to_int16_le(r.process(x[start : start + 800])))
    assert len(chunks) == 10 and chunker.pending_samples == 0
    pcm = np.frombuffer(b"".join(chunks), "<i2").astype(np.float64) / 32767.0
    steps = np.abs(np.diff(pcm[100:]))
    max_step = 0.5 * 2 * math.pi * 440 / 16000  # the sine's own steepest step
    assert steps.max() < max_step * 1.01
    boundaries = np.arange(1600, len(pcm), 1600) - 1
    assert np.all(np.abs(pcm[boundaries + 1] - pcm[boundaries]) < max_step * 1.01)


def test_int16_conversion_and_downmix() -> None:
    half = 0.5 / 32767.0
    pcm = np.frombuffer(to_int16_le([0.0, half, -half, 1.0, -1.0, 2.0, -2.0]), "<i2")
    assert pcm.tolist() == [0, 1, -1, 32767, -32767, 32767, -32767]  # half away from zero
    assert to_int16_le([1.0 / 32767.0])[:2] == b"\x01\x00"  # little-endian
    assert downmix_stereo([[1.0, 0.0], [0.5, -0.5]]).tolist() == [0.5, 0.0]


# -- the profile against the real host ---------------------------------------------------


def _options(host: LiveHost, **kw: Any) -> GodotProfileOptions:
    s = host.settings
    base: dict[str, Any] = {
        "audio_port": s.audio_port,
        "video_port": s.video_port,
        "control_port": s.control_port,
        "tcp_port": s.tcp_port,
        "duration_s": 1.0,
        "realtime": False,
        "send_block_ms": 2000,
        "hello_wait_s": 3.0,
        "client": "godot-1",
    }
    base.update(kw)
    return GodotProfileOptions(**base)


@pytest.mark.parametrize(
    ("transport", "mix_rate"), [("zmq", 48000), ("tcp", 44100), ("zmq", 44100), ("tcp", 48000)]
)
def test_profile_streams_through_the_live_host(
    live_host: MakeHost, transport: Any, mix_rate: int
) -> None:
    host = live_host(video_width=320, video_height=240, video_fps=5.0)
    stats = GodotClient(_options(host, transport=transport, mix_rate=mix_rate)).run()
    host.wait_for(
        lambda o: len(o.audio("godot-1")) == 10 and len(o.video("godot-1")) == stats.video_sent
    )
    out = host.stop()
    assert out.rejects() == []
    assert stats.server_config is not None
    assert stats.capture_frames == mix_rate  # one second of stereo capture frames
    assert stats.resampled_samples == 16000
    assert (stats.audio_chunks, stats.audio_sent, stats.audio_dropped) == (10, 10, 0)
    audio = out.audio("godot-1")
    assert [a.sequence for a in audio] == list(range(10))
    assert {(a.sample_rate, a.num_samples, a.source) for a in audio} == {(16000, 1600, "mic")}
    samples = np.concatenate([a.samples for a in audio]).astype(np.float64)
    assert _level_db(samples[400:], 440.0, 16000) == pytest.approx(20 * math.log10(0.3), abs=0.1)
    video = out.video("godot-1")
    assert len(video) == stats.video_frames - stats.video_replaced == stats.video_sent
    assert {(v.width, v.height) for v in video} == {(320, 240)}  # adopted from the hello
    kinds = [e.kind for e in out.events(client="godot-1")]
    assert "hello" in kinds
    gaps = out.events("gap", client="godot-1")
    assert [g.data.get("channel") for g in gaps if g.data.get("channel") != "video"] == []
    # Video is "latest wins": a frame replaced before it left is a counted video gap.
    assert sum(g.data.get("missing", 0) for g in gaps) <= stats.video_replaced


def test_profile_without_header_client_is_named_by_its_hello(live_host: MakeHost) -> None:
    host = live_host()
    GodotClient(_options(host, transport="tcp", header_client=False, video=False)).run()
    host.wait_for(lambda o: len(o.audio("godot-1")) == 10)
    out = host.stop()
    assert out.rejects() == []
    assert [a.sequence for a in out.audio("godot-1")] == list(range(10))
    assert out.events("gap", client="godot-1") == []
