"""Speech probability backends: Silero on onnxruntime (the wheel's model) and energy."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from ambient_flow.backends.base import sha256_file, torch_threads
from ambient_flow.backends.vad import (
    SILERO_ONNX_SHA256,
    EnergyVad,
    EnergyVadOptions,
    SileroVad,
    SileroVadOptions,
    silero_wheel_model_path,
)
from ambient_flow.errors import ConfigError, StartupError
from ambient_flow.models.vad import BLOCK_SAMPLES, SpeechProbability, VadStream


def _frames(audio: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    n = audio.size // BLOCK_SAMPLES
    return audio[: n * BLOCK_SAMPLES].reshape(n, BLOCK_SAMPLES)


def _dbfs(frames: npt.NDArray[np.float32]) -> npt.NDArray[np.float64]:
    rms = np.sqrt(np.mean(frames.astype(np.float64) ** 2, axis=1))
    return np.asarray(20 * np.log10(np.maximum(rms, 1e-10)))


@pytest.fixture(scope="module")
def silero() -> SileroVad:
    vad = SileroVad(SileroVadOptions(threads=1))
    vad.load()
    return vad


@pytest.fixture(scope="module")
def noise() -> npt.NDArray[np.float32]:
    return np.random.default_rng(1234).normal(0.0, 0.1, 10 * 16000).astype(np.float32)


def test_both_backends_satisfy_the_protocol(silero: SileroVad) -> None:
    for vad in (silero, EnergyVad()):
        assert isinstance(vad, SpeechProbability)
        assert vad.block_samples == 512
        assert isinstance(vad.new_stream(), VadStream)


def test_silero_is_high_on_voiced_speech(
    silero: SileroVad, pangram_audio: npt.NDArray[np.float32]
) -> None:
    frames = _frames(pangram_audio)
    p = silero.probabilities(frames)
    assert p.shape == (frames.shape[0],) and p.dtype == np.float32
    voiced = _dbfs(frames) > -35.0
    assert voiced.sum() > 40
    assert np.mean(p[voiced] > 0.5) > 0.85, p


def test_silero_is_low_on_silence_and_white_noise(
    silero: SileroVad, noise: npt.NDArray[np.float32]
) -> None:
    silence = silero.probabilities(np.zeros((300, BLOCK_SAMPLES), np.float32))
    assert silence.max() < 0.1
    p = silero.probabilities(_frames(noise))
    assert p.max() < 0.3 and p.mean() < 0.1, (p.max(), p.mean())


@pytest.mark.filterwarnings("ignore:path is deprecated:DeprecationWarning")
def test_silero_matches_silero_vads_own_onnx_wrapper(
    silero: SileroVad, pangram_audio: npt.NDArray[np.float32]
) -> None:
    torch = pytest.importorskip("torch")
    # Importing silero_vad sets torch's process-wide thread count to 1; the guard puts it back.
    with torch_threads(torch.get_num_threads()):
        from silero_vad import load_silero_vad

        reference_model = load_silero_vad(onnx=True)
    frames = _frames(pangram_audio)
    reference = reference_model.audio_forward(torch.from_numpy(frames.reshape(-1)), 16000)
    np.testing.assert_allclose(
        silero.probabilities(frames), reference.numpy().reshape(-1), rtol=0, atol=1e-6
    )


def test_interleaved_streams_keep_their_own_state(
    silero: SileroVad,
    pangram_audio: npt.NDArray[np.float32],
    noise: npt.NDArray[np.float32],
) -> None:
    a, b = _frames(pangram_audio), _frames(noise)[: len(_frames(pangram_audio))]
    alone_a, alone_b = silero.probabilities(a), silero.probabilities(b)
    sa, sb = silero.new_stream(), silero.new_stream()
    got_a, got_b = [], []
    for fa, fb in zip(a, b, strict=True):
        got_a.append(sa.probability(fa))
        got_b.append(sb.probability(fb))
    np.testing.assert_array_equal(np.array(got_a, np.float32), alone_a)
    np.testing.assert_array_equal(np.array(got_b, np.float32), alone_b)
    # The state matters: the same frames on a stream that heard speech first differ.
    assert not np.array_equal(sa.probabilities(b[:20]), alone_b[:20])


def test_one_batched_call_equals_separate_streams(
    silero: SileroVad,
    pangram_audio: npt.NDArray[np.float32],
    noise: npt.NDArray[np.float32],
) -> None:
    a = _frames(pangram_audio)
    n = a.shape[0]
    b = _frames(noise)[:n]
    c = _frames(pangram_audio[BLOCK_SAMPLES // 2 :])[:n]
    c = np.concatenate([c, np.zeros((n - c.shape[0], BLOCK_SAMPLES), np.float32)])
    streams = [silero.new_stream() for _ in range(3)]
    batched = np.stack(
        [silero.probabilities_many(streams, np.stack([a[i], b[i], c[i]])) for i in range(n)]
    )
    for col, frames in enumerate((a, b, c)):
        np.testing.assert_allclose(batched[:, col], silero.probabilities(frames), atol=1e-5)


def test_reset_gives_a_fresh_stream(
    silero: SileroVad, pangram_audio: npt.NDArray[np.float32]
) -> None:
    frames = _frames(pangram_audio)[:30]
    stream = silero.new_stream()
    first = stream.probabilities(frames)
    stream.reset()
    np.testing.assert_array_equal(stream.probabilities(frames), first)


def test_bad_frames_are_rejected(silero: SileroVad) -> None:
    with pytest.raises(ValueError, match="512"):
        silero.probabilities(np.zeros((3, 256), np.float32))
    with pytest.raises(ValueError, match="512"):
        silero.new_stream().probability(np.zeros(480, np.float32))
    stream = silero.new_stream()
    with pytest.raises(ValueError, match="once"):
        silero.probabilities_many([stream, stream], np.zeros((2, 512), np.float32))
    with pytest.raises(ValueError, match="this model"):
        SileroVad().probabilities_many([stream], np.zeros((1, 512), np.float32))


def test_identity_records_the_wheel_file_and_its_digest(silero: SileroVad) -> None:
    ident = silero.identity
    path = silero_wheel_model_path()
    assert ident.kind == "vad" and ident.name == "silero-vad"
    assert ident.path == str(path)
    assert ident.sha256 == {"silero_vad.onnx": SILERO_ONNX_SHA256}
    assert sha256_file(path) == SILERO_ONNX_SHA256
    assert ident.to_dict()["options"]["threads"] == 1


def test_missing_model_file_is_a_startup_error_naming_it(tmp_path: Path) -> None:
    missing = tmp_path / "nope" / "silero.onnx"
    with pytest.raises(StartupError, match=re.escape(str(missing))):
        SileroVad(SileroVadOptions(model_path=missing)).load()


def test_corrupt_model_file_is_a_startup_error_naming_it(tmp_path: Path) -> None:
    corrupt = tmp_path / "silero.onnx"
    corrupt.write_bytes(b"\x08\x07not an onnx model" * 100)
    vad = SileroVad(SileroVadOptions(model_path=corrupt))
    with pytest.raises(StartupError, match=re.escape(f"{corrupt}: cannot load")):
        vad.load()
    # Never a silent fallback: the next use fails the same way.
    with pytest.raises(StartupError, match=re.escape(str(corrupt))):
        vad.new_stream().probability(np.zeros(512, np.float32))


def test_digest_mismatch_is_a_startup_error_naming_the_file(tmp_path: Path) -> None:
    copy = tmp_path / "silero_vad.onnx"
    shutil.copyfile(silero_wheel_model_path(), copy)
    with pytest.raises(StartupError, match=re.escape(f"{copy}: sha256 {SILERO_ONNX_SHA256}")):
        SileroVad(SileroVadOptions(model_path=copy, expected_sha256="0" * 64)).load()
    # The same file with the right digest loads.
    SileroVad(SileroVadOptions(model_path=copy, expected_sha256=SILERO_ONNX_SHA256)).load()


def test_silero_options_are_validated() -> None:
    with pytest.raises(ConfigError, match="threads"):
        SileroVadOptions(threads=0)
    with pytest.raises(ConfigError, match="64 hex"):
        SileroVadOptions(expected_sha256="abc")


def test_energy_vad_follows_its_documented_curve() -> None:
    vad = EnergyVad(EnergyVadOptions(threshold_dbfs=-40.0, slope_db=4.0))
    level = 10 ** (-40.0 / 20)  # a square wave's RMS equals its amplitude
    square = np.where(np.arange(512) % 2 == 0, level, -level).astype(np.float32)
    p = vad.probabilities(np.stack([square, square * 10 ** (4 / 20), np.zeros(512, np.float32)]))
    np.testing.assert_allclose(p, [0.5, 1 / (1 + np.exp(-1)), 0.0], atol=1e-4)


def test_energy_vad_on_speech_and_silence(pangram_audio: npt.NDArray[np.float32]) -> None:
    vad = EnergyVad()
    frames = _frames(pangram_audio)
    p = vad.probabilities(frames)
    loud = _dbfs(frames) > -30.0
    assert np.all(p[loud] > 0.9)
    assert vad.new_stream().probability(np.zeros(512, np.float32)) < 1e-6
    ident = vad.identity
    assert ident.name == "energy" and ident.path is None and ident.sha256 == {}
    assert ident.options == {"threshold_dbfs": -45.0, "slope_db": 3.0}


def test_energy_options_are_validated() -> None:
    with pytest.raises(ConfigError, match="threshold_dbfs"):
        EnergyVadOptions(threshold_dbfs=3.0)
    with pytest.raises(ConfigError, match="slope_db"):
        EnergyVadOptions(slope_db=0.0)
