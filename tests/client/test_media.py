from __future__ import annotations

import itertools
import struct
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from ambient_flow.client.media import (
    ImageFiles,
    ImageOptions,
    MicAudio,
    MicOptions,
    PatternOptions,
    TestPattern,
    ToneAudio,
    ToneOptions,
    WavAudio,
    WavOptions,
    Webcam,
    WebcamOptions,
    chunk_samples,
)
from ambient_flow.errors import ConfigError, StartupError

from .helpers import peak_hz, sine, write_wav


def _take(source: object, n: int) -> list[bytes]:
    out = []
    for chunk in source:  # type: ignore[attr-defined]
        out.append(chunk)
        if len(out) == n:
            break
    return out


# -- WAV --------------------------------------------------------------------------------


def test_wav_44k1_stereo_becomes_16k_mono_with_the_tone_kept(tmp_path: Path) -> None:
    left = sine(1000.0, 44100, 1.0)
    right = sine(1000.0, 44100, 1.0, amplitude=0.3)
    path = write_wav(tmp_path / "tone.wav", np.stack([left, right], axis=1), 44100)

    src = WavAudio(WavOptions(str(path)), sample_rate=16000, chunk_ms=100)
    chunks = list(src)

    assert (src.source_rate, src.source_channels) == (44100, 2)
    assert (src.sample_rate, src.channels) == (16000, 1)
    assert [len(c) for c in chunks] == [3200] * 10  # 1 s = 16000 samples, 100 ms chunks
    pcm = b"".join(chunks)
    assert abs(peak_hz(pcm, 16000) - 1000.0) <= 1.0
    # Level kept: the downmix averages 0.5 and 0.3 -> 0.4 of full scale.
    middle = np.frombuffer(pcm, "<i2")[2000:14000].astype(np.float64) / 32768
    assert np.max(np.abs(middle)) == pytest.approx(0.4, abs=0.02)


def test_wav_at_16k_mono_passes_through_unchanged(tmp_path: Path) -> None:
    samples = sine(300.0, 16000, 0.25)
    path = write_wav(tmp_path / "mono.wav", samples, 16000)
    chunks = list(WavAudio(WavOptions(str(path)), sample_rate=16000, chunk_ms=100))
    assert [len(c) for c in chunks] == [3200, 3200, 1600]  # the tail is a short chunk
    assert b"".join(chunks) == samples.astype("<i2").tobytes()


def test_wav_48k_mono_resamples_to_the_right_length(tmp_path: Path) -> None:
    path = write_wav(tmp_path / "a.wav", sine(440.0, 48000, 2.0), 48000)
    pcm = b"".join(WavAudio(WavOptions(str(path)), sample_rate=16000, chunk_ms=100))
    assert len(pcm) // 2 == 32000
    assert abs(peak_hz(pcm, 16000) - 440.0) <= 1.0


def test_24_bit_wav_is_refused_clearly(tmp_path: Path) -> None:
    path = write_wav(tmp_path / "deep.wav", np.zeros(100), 16000, sampwidth=3)
    with pytest.raises(ConfigError, match="24-bit WAV; only 16-bit PCM"):
        WavAudio(WavOptions(str(path)), sample_rate=16000, chunk_ms=100)


def test_float_wav_is_refused_clearly(tmp_path: Path) -> None:
    data = np.zeros(160, np.float32).tobytes()
    fmt = struct.pack("<HHIIHH", 3, 1, 16000, 64000, 4, 32)  # format 3 = IEEE float
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt
    body += b"data" + struct.pack("<I", len(data)) + data
    path = tmp_path / "float.wav"
    path.write_bytes(b"RIFF" + struct.pack("<I", len(body)) + body)
    with pytest.raises(ConfigError, match="16-bit integer PCM"):
        WavAudio(WavOptions(str(path)), sample_rate=16000, chunk_ms=100)


@pytest.mark.parametrize("content", [None, b"not a wav file at all"])
def test_missing_or_garbage_wav_is_a_config_error(tmp_path: Path, content: bytes | None) -> None:
    path = tmp_path / "x.wav"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(ConfigError):
        WavAudio(WavOptions(str(path)), sample_rate=16000, chunk_ms=100)


# -- tones ------------------------------------------------------------------------------


def test_sine_has_its_frequency_and_no_clicks_between_chunks() -> None:
    src = ToneAudio(ToneOptions(frequency_hz=440.0, amplitude=0.5), sample_rate=16000, chunk_ms=100)
    chunks = _take(src, 10)
    assert all(len(c) == 3200 for c in chunks)
    pcm = b"".join(chunks)
    assert abs(peak_hz(pcm, 16000) - 440.0) <= 1.0
    x = np.frombuffer(pcm, "<i2").astype(np.float64)
    # The largest sample-to-sample step of a 440 Hz sine at 0.5 FS is ~2824; a phase
    # reset at a chunk edge would jump up to 16384.
    assert np.max(np.abs(np.diff(x))) < 3000


def test_chirp_rises_within_a_sweep() -> None:
    opts = ToneOptions(kind="chirp", frequency_hz=200.0, chirp_to_hz=4000.0, sweep_s=2.0)
    chunks = _take(ToneAudio(opts, sample_rate=16000, chunk_ms=100), 20)
    first, late = peak_hz(chunks[1], 16000), peak_hz(chunks[18], 16000)
    assert first < 800 < 3000 < late


def test_stereo_tone_interleaves_two_equal_channels() -> None:
    src = ToneAudio(ToneOptions(channels=2), sample_rate=16000, chunk_ms=100)
    (chunk,) = _take(src, 1)
    frames = np.frombuffer(chunk, "<i2").reshape(-1, 2)
    assert frames.shape == (1600, 2)
    assert np.array_equal(frames[:, 0], frames[:, 1])


def test_chunk_must_hold_whole_samples() -> None:
    assert chunk_samples(16000, 100) == 1600
    with pytest.raises(ConfigError):
        chunk_samples(11025, 10)  # 110.25 samples
    with pytest.raises(ConfigError):
        ToneOptions(sample_rate=12345)


# -- video ------------------------------------------------------------------------------


def _decode(jpeg: bytes) -> np.ndarray[Any, Any]:
    img = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert img is not None, "JPEG did not decode"
    return img


def test_test_pattern_frames_decode_and_differ() -> None:
    src = TestPattern(PatternOptions(), width=320, height=240, quality=70)
    frames = _take(src, 4)
    images = [_decode(f) for f in frames]
    assert all(f.startswith(b"\xff\xd8") for f in frames)
    assert all(img.shape == (240, 320, 3) for img in images)
    for a, b in itertools.pairwise(images):
        assert np.mean(np.abs(a.astype(int) - b.astype(int))) > 1.0
    again = TestPattern(PatternOptions(), width=320, height=240, quality=70)
    assert _take(again, 4) == frames  # frame n depends only on n: reproducible


def test_test_pattern_quality_changes_the_size() -> None:
    low = _take(TestPattern(PatternOptions(), width=640, height=480, quality=20), 1)[0]
    high = _take(TestPattern(PatternOptions(), width=640, height=480, quality=95), 1)[0]
    assert len(low) < len(high)


def test_image_file_and_folder_are_reencoded_at_the_configured_size(tmp_path: Path) -> None:
    folder = tmp_path / "imgs"
    folder.mkdir()
    red = np.zeros((200, 300, 3), np.uint8)
    red[:, :, 2] = 255
    blue = np.zeros((50, 50, 3), np.uint8)
    blue[:, :, 0] = 255
    cv2.imwrite(str(folder / "a.png"), red)
    cv2.imwrite(str(folder / "b.jpg"), blue)
    (folder / "notes.txt").write_text("ignored")

    src = ImageFiles(ImageOptions(str(folder)), width=64, height=48, quality=90)
    frames = _take(src, 5)
    images = [_decode(f) for f in frames]
    assert all(img.shape == (48, 64, 3) for img in images)
    means = [img.reshape(-1, 3).mean(axis=0) for img in images]
    assert [int(np.argmax(m)) for m in means] == [2, 0, 2, 0, 2]  # a, b, a, b: looping

    single = ImageFiles(
        ImageOptions(str(folder / "a.png"), loop=False), width=64, height=48, quality=90
    )
    assert len(list(single)) == 1


def test_bad_image_paths_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such file"):
        ImageFiles(ImageOptions(str(tmp_path / "nope")), width=64, height=48, quality=70)
    with pytest.raises(ConfigError, match=r"no \.jpg"):
        ImageFiles(ImageOptions(str(tmp_path)), width=64, height=48, quality=70)
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8 not really")
    with pytest.raises(ConfigError, match="cannot decode"):
        ImageFiles(ImageOptions(str(broken)), width=64, height=48, quality=70)


def test_missing_webcam_is_a_startup_error() -> None:
    import cv2

    probe = cv2.VideoCapture(97)
    present = probe.isOpened()
    probe.release()
    if present:
        pytest.skip("this machine has a camera at index 97")
    with pytest.raises(StartupError, match="cannot open webcam 97"):
        Webcam(WebcamOptions(index=97), width=64, height=48, quality=70)


def test_missing_microphone_is_a_startup_error() -> None:
    try:
        import sounddevice

        has_input = any(d["max_input_channels"] > 0 for d in sounddevice.query_devices())
    except (ImportError, OSError):
        has_input = False  # no PortAudio: exactly the case under test
    if has_input:
        pytest.skip("this machine has a microphone")
    with pytest.raises(StartupError, match=r"sounddevice and PortAudio|cannot open microphone"):
        MicAudio(MicOptions(), sample_rate=16000, chunk_ms=100)
