"""StreamingWavWriter / read_wav: stdlib-compatible when closed, recoverable when killed."""

from __future__ import annotations

import os
import signal
import struct
import subprocess
import sys
import textwrap
import wave
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from ambient_flow.sinks.wav import SIZE_PLACEHOLDER, StreamingWavWriter, read_wav

from .items import signal as make_signal


def _pcm(x: npt.NDArray[np.float32]) -> npt.NDArray[np.int16]:
    return np.clip(x * 32768, -32768, 32767).astype("<i2")


def test_closed_file_reads_with_stdlib_wave(tmp_path: Path) -> None:
    parts = [make_signal(1600, seed) for seed in range(5)]
    extreme = np.array([2.0, -2.0, 0.99999, -0.00001], np.float32)  # clip, clip, trunc, trunc
    path = tmp_path / "a.wav"
    with StreamingWavWriter(path, 16000) as w:
        for p in parts:
            w.write(p)
        w.flush()
        w.write(extreme)
    assert w.closed
    expected = np.concatenate([_pcm(np.concatenate(parts)), _pcm(extreme)])
    with wave.open(str(path), "rb") as r:
        assert (r.getnchannels(), r.getsampwidth(), r.getframerate()) == (1, 2, 16000)
        assert r.getnframes() == len(expected) == w.samples_written
        got = np.frombuffer(r.readframes(r.getnframes()), "<i2")
    np.testing.assert_array_equal(got, expected)
    assert got[-4:].tolist() == [32767, -32768, 32767, 0]
    assert path.stat().st_size == 44 + 2 * len(expected)


def test_read_wav_roundtrip_and_int16_input(tmp_path: Path) -> None:
    pcm = np.array([0, 1, -1, 32767, -32768], np.int16)
    path = tmp_path / "b.wav"
    with StreamingWavWriter(path, 8000) as w:
        w.write(pcm)
        w.write_silence(3)
    samples, sr = read_wav(path)
    assert sr == 8000
    assert samples.dtype == np.float32
    np.testing.assert_array_equal(samples, np.r_[pcm, 0, 0, 0].astype(np.float32) / 32768)


def test_flush_pushes_pcm_and_close_writes_the_sizes(tmp_path: Path) -> None:
    path = tmp_path / "c.wav"
    w = StreamingWavWriter(path)
    try:
        w.write(make_signal(100, 1))
        w.flush()
        head = path.read_bytes()[:44]
        assert struct.unpack_from("<I", head, 40)[0] == 0  # less than a second: not yet
        assert len(path.read_bytes()) == 44 + 200
        assert read_wav(path)[0].size == 100
    finally:
        w.close()
    head = path.read_bytes()[:44]
    assert struct.unpack_from("<I", head, 40)[0] == 200
    assert struct.unpack_from("<I", head, 4)[0] == 236


def test_an_open_file_reads_true_with_stdlib_wave_while_it_grows(tmp_path: Path) -> None:
    """Python's `wave` on a session still being written: never the 134,217 s placeholder."""
    path = tmp_path / "live.wav"
    with StreamingWavWriter(path, 16000) as w:
        for chunk in range(1, 61):  # 6 s in 100 ms chunks, flushed after each
            w.write(make_signal(1600, chunk))
            w.flush()
            written_s = chunk * 0.1
            with wave.open(str(path), "rb") as r:
                seen_s = r.getnframes() / r.getframerate()
                r.readframes(r.getnframes())  # the sizes it trusts are all on disk
            assert written_s - 1.0 < seen_s <= written_s + 1e-9, (written_s, seen_s)
            assert w.header_samples / 16000 == seen_s


def _header(riff: int, data: int, sr: int = 16000, channels: int = 1) -> bytes:
    return (
        b"RIFF"
        + struct.pack("<I", riff)
        + b"WAVE"
        + b"fmt "
        + struct.pack("<IHHIIHH", 16, 1, channels, sr, sr * 2 * channels, 2 * channels, 16)
        + b"data"
        + struct.pack("<I", data)
    )


@pytest.mark.parametrize(
    ("riff", "data"),
    [(SIZE_PLACEHOLDER, SIZE_PLACEHOLDER), (0, 0), (36 + 10_000, 10_000), (123, 99_999)],
    ids=["ffffffff", "zero", "too_large", "wrong_riff"],
)
def test_read_wav_trusts_file_length_when_sizes_are_wrong(
    tmp_path: Path, riff: int, data: int
) -> None:
    pcm = _pcm(make_signal(777, 3))
    path = tmp_path / "e.wav"
    path.write_bytes(_header(riff, data) + pcm.tobytes() + b"\x7f")  # trailing odd byte
    samples, sr = read_wav(path)
    assert sr == 16000
    np.testing.assert_array_equal(samples, pcm.astype(np.float32) / 32768)


def test_read_wav_honours_exact_size_and_skips_other_chunks(tmp_path: Path) -> None:
    pcm = _pcm(make_signal(10, 4))
    path = tmp_path / "f.wav"
    junk = b"LIST" + struct.pack("<I", 3) + b"abc\x00"  # odd size, padded
    riff_and_fmt = _header(0, 20)[:36]
    data = b"data" + struct.pack("<I", 20) + pcm.tobytes()
    raw = riff_and_fmt + junk + data + b"LIST\x00\x00\x00\x00"
    path.write_bytes(raw)
    samples, _ = read_wav(path)
    np.testing.assert_array_equal(samples, pcm.astype(np.float32) / 32768)


def test_read_wav_downmixes_stereo(tmp_path: Path) -> None:
    path = tmp_path / "s.wav"
    frames = np.array([[100, 300], [-2, 2]], "<i2")
    path.write_bytes(_header(SIZE_PLACEHOLDER, SIZE_PLACEHOLDER, channels=2) + frames.tobytes())
    samples, _ = read_wav(path)
    np.testing.assert_allclose(samples, [200 / 32768, 0.0])


@pytest.mark.parametrize(
    "raw",
    [b"", b"RIFX\x00\x00\x00\x00WAVE", b"RIFF\x00\x00\x00\x00WAVEdata\x00\x00\x00\x00"],
    ids=["empty", "not_riff", "data_before_fmt"],
)
def test_read_wav_rejects_non_wav(tmp_path: Path, raw: bytes) -> None:
    path = tmp_path / "bad.wav"
    path.write_bytes(raw)
    with pytest.raises(ValueError, match=r"RIFF|fmt"):
        read_wav(path)


def test_read_wav_rejects_8_bit(tmp_path: Path) -> None:
    path = tmp_path / "u8.wav"
    header = bytearray(_header(SIZE_PLACEHOLDER, SIZE_PLACEHOLDER))
    header[34:36] = struct.pack("<H", 8)
    path.write_bytes(bytes(header) + b"\x80" * 10)
    with pytest.raises(ValueError, match="16-bit"):
        read_wav(path)


def test_writer_refuses_bad_input(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="sample_rate"):
        StreamingWavWriter(tmp_path / "x.wav", 0)
    with StreamingWavWriter(tmp_path / "y.wav") as w:
        with pytest.raises(ValueError, match="1-D"):
            w.write(np.zeros((2, 2), np.float32))
        with pytest.raises(ValueError, match="float or int16"):
            w.write(np.zeros(2, np.int32))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="closed"):
        w.write(np.zeros(2, np.float32))


_CHILD = textwrap.dedent(
    """
    import sys, numpy as np
    from ambient_flow.sinks.wav import StreamingWavWriter
    w = StreamingWavWriter(sys.argv[1])
    rng = np.random.default_rng(7)
    total = 0
    while True:
        for _ in range(3):  # some writes that are never flushed before the kill
            total += w.write(rng.uniform(-1, 1, 1600).astype(np.float32))
        w.flush()
        print(total, flush=True)
    """
)


def test_sigkill_mid_write_keeps_everything_flushed(tmp_path: Path) -> None:
    path = tmp_path / "killed.wav"
    proc = subprocess.Popen(
        [sys.executable, "-c", _CHILD, str(path)],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
    )
    try:
        assert proc.stdout is not None
        flushed = 0
        for _ in range(40):  # the child keeps writing while we read these
            flushed = int(proc.stdout.readline())
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
    assert proc.returncode == -signal.SIGKILL
    samples, sr = read_wav(path)
    assert sr == 16000
    assert len(samples) >= flushed >= 40 * 4800
    rng = np.random.default_rng(7)
    n_chunks = -(-len(samples) // 1600)
    expected = np.concatenate(
        [rng.uniform(-1, 1, 1600).astype(np.float32) for _ in range(n_chunks)]
    )[: len(samples)]
    np.testing.assert_array_equal(samples, _pcm(expected).astype(np.float32) / 32768)


_CHILD_NO_FLUSH = textwrap.dedent(
    """
    import sys, time, numpy as np
    from ambient_flow.sinks.wav import StreamingWavWriter
    w = StreamingWavWriter(sys.argv[1])
    w.write(np.linspace(-1, 1, 50_000, endpoint=False, dtype=np.float32))  # > io buffer
    print("written", flush=True)
    time.sleep(60)
    """
)


def test_sigkill_before_any_flush_leaves_sizes_the_reader_reads_past(tmp_path: Path) -> None:
    path = tmp_path / "never_flushed.wav"
    proc = subprocess.Popen(
        [sys.executable, "-c", _CHILD_NO_FLUSH, str(path)],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "written"
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
    raw = path.read_bytes()
    assert struct.unpack_from("<I", raw, 4)[0] == 36  # the sizes of an empty file
    assert struct.unpack_from("<I", raw, 40)[0] == 0
    samples, _ = read_wav(path)
    expected = _pcm(np.linspace(-1, 1, 50_000, endpoint=False, dtype=np.float32))
    np.testing.assert_array_equal(samples, expected[: len(samples)].astype(np.float32) / 32768)
    assert len(samples) == (len(raw) - 44) // 2 >= 40_000


def test_read_wav_reads_past_sizes_that_lag_the_data(tmp_path: Path) -> None:
    """A writer killed between two header rewrites: the header says less than is there."""
    pcm = _pcm(make_signal(5000, 5))
    path = tmp_path / "lagging.wav"
    path.write_bytes(_header(36 + 4000, 4000) + pcm.tobytes())  # says 2000 of 5000 samples
    samples, _ = read_wav(path)
    np.testing.assert_array_equal(samples, pcm.astype(np.float32) / 32768)


def test_pcm_is_held_until_a_flush_and_written_at_once(tmp_path: Path) -> None:
    """Appended PCM reaches the OS at `flush()` (or once `max_pending` bytes are held), in
    one piece: not a system call per chunk."""
    path = tmp_path / "held.wav"
    w = StreamingWavWriter(path, max_pending=64 * 1024)
    try:
        for _ in range(15):
            w.write_pcm16(bytes(3200))  # 48000 bytes: more than a file object buffers
        assert path.stat().st_size < 44 + 3200  # none of it reached the OS yet
        assert w.samples_written == 24_000
        w.flush()
        assert path.stat().st_size == 44 + 48_000
        for _ in range(25):
            w.write_pcm16(b"\x01\x00" * 1600)  # past 64 KiB: what is held goes out at once
        assert path.stat().st_size == 44 + 48_000 + 20 * 3200
    finally:
        w.close()
    assert path.stat().st_size == 44 + 48_000 + 25 * 3200
    samples, _ = read_wav(path)
    assert samples.size == 64_000
    assert not samples[:24_000].any() and (samples[24_000:] == np.float32(1 / 32768)).all()
