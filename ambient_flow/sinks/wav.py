"""WAV files that are valid while they grow and survive a crash.

`StreamingWavWriter` writes a canonical 44-byte header, appends 16-bit PCM, and
rewrites the header's sizes (one `pwrite`) whenever a `flush()` finds at least
`sizes_every_s` (1 s) of new audio since the last rewrite, and at `close()`. Any reader
(Python's `wave`, ffmpeg, soundfile) of a session that is still open therefore sees a
valid file at most that much audio shorter than what is on disk, never the 37-hour
"length unknown" placeholder. A process killed with SIGKILL leaves sizes that lag the
data by less than that; `read_wav` reads such a file to its end (see there), so
everything up to the last `flush()` is there.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path
from types import TracebackType
from typing import Any, BinaryIO, Final

import numpy as np
import numpy.typing as npt

from ambient_flow.protocol.constants import AUDIO_SAMPLE_RATE

__all__ = ["SIZE_PLACEHOLDER", "StreamingWavWriter", "float_to_pcm16", "read_wav"]

#: What the RIFF and data sizes hold until they are known (and past 4 GiB).
SIZE_PLACEHOLDER: Final = 0xFFFFFFFF

_HEADER_BYTES: Final = 44
_BITS: Final = 16
_SAMPLE_BYTES: Final = _BITS // 8
_WAVE_FORMAT_PCM: Final = 1
_WAVE_FORMAT_EXTENSIBLE: Final = 0xFFFE
#: Largest data size a 32-bit RIFF size can still describe (RIFF size = 36 + data).
_MAX_DATA_BYTES: Final = SIZE_PLACEHOLDER - 36 - 1
#: PCM a writer holds between flushes at most (2 s of 16 kHz audio); more goes out at once.
MAX_PENDING_BYTES: Final = 64 * 1024


def float_to_pcm16(samples: npt.NDArray[np.floating[Any]]) -> bytes:
    """Float samples in [-1, 1) to little-endian int16 bytes.

    The one conversion used everywhere (`AudioChunk.to_record` checksums the same
    bytes): scale by 32768, clip, truncate toward zero.
    """
    return np.clip(samples * 32768.0, -32768, 32767).astype("<i2").tobytes()


def _header(sample_rate: int, data_bytes: int) -> bytes:
    byte_rate = sample_rate * _SAMPLE_BYTES
    return b"".join(
        (
            b"RIFF",
            struct.pack("<I", _riff_size(data_bytes)),
            b"WAVE",
            b"fmt ",
            struct.pack(
                "<IHHIIHH", 16, _WAVE_FORMAT_PCM, 1, sample_rate, byte_rate, _SAMPLE_BYTES, _BITS
            ),
            b"data",
            struct.pack("<I", _data_size(data_bytes)),
        )
    )


def _riff_size(data_bytes: int) -> int:
    return SIZE_PLACEHOLDER if data_bytes < 0 or data_bytes > _MAX_DATA_BYTES else 36 + data_bytes


def _data_size(data_bytes: int) -> int:
    return SIZE_PLACEHOLDER if data_bytes < 0 or data_bytes > _MAX_DATA_BYTES else data_bytes


class StreamingWavWriter:
    """Append mono 16-bit PCM to a WAV file that is valid while it grows and if the process dies.

    Why not `wave`: the stdlib writer only fixes the header at `close()`, so until then
    (and after a crash) its sizes claim less audio than the file holds. Here the sizes
    are rewritten every `sizes_every_s` of audio, at the flush that passes it: a reader
    of a live session sees a file true to within that, and a crash loses nothing that
    was flushed (`read_wav` reads past sizes that lag).

    Files longer than 4 GiB of PCM (about 37 hours at 16 kHz) get the placeholder
    sizes `0xFFFFFFFF`, which `read_wav` and most tools read as "to end of file".

    Appended PCM is held in memory until `flush()` (or until `max_pending` bytes are
    held) and then written with one `write`: what reaches the OS, and when, is what a
    buffered file flushed at the same points would give, with one system call per
    flush instead of about one per chunk. On a host that matters twice: each call is
    CPU, and each lets the session writer's thread drop and take back the GIL it
    shares with the Bytewax worker.

    Args:
        path: File to create (truncated if it exists).
        sample_rate: Samples per second written in the header.
        sizes_every_s: Audio (seconds) between header rewrites; a rewrite is one
            44-byte `pwrite`, so this bounds that cost per session.
        max_pending: Most PCM bytes held between flushes; more is written at once.

    Raises:
        ValueError: `sample_rate` or `sizes_every_s` is not positive.
        OSError: The file cannot be created.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        sample_rate: int = AUDIO_SAMPLE_RATE,
        *,
        sizes_every_s: float = 1.0,
        max_pending: int = MAX_PENDING_BYTES,
    ) -> None:
        if isinstance(sample_rate, bool) or not isinstance(sample_rate, int) or sample_rate <= 0:
            raise ValueError(f"sample_rate={sample_rate!r} must be a positive int")
        if not sizes_every_s > 0:
            raise ValueError(f"sizes_every_s={sizes_every_s!r} must be > 0")
        self._path = Path(path)
        self._sample_rate = sample_rate
        self._data_bytes = 0
        self._sizes_every = max(_SAMPLE_BYTES, round(sizes_every_s * sample_rate) * _SAMPLE_BYTES)
        self._sizes_at = 0  # data bytes the header describes
        self._pending = bytearray()  # PCM appended since the last write to the file
        self._max_pending = max(0, max_pending)
        self._fh: BinaryIO | None = open(self._path, "wb")  # noqa: SIM115 - closed in close()
        self._fh.write(_header(sample_rate, 0))

    @property
    def path(self) -> Path:
        return self._path

    @property
    def sample_rate(self) -> int:
        return self._sample_rate

    @property
    def samples_written(self) -> int:
        return self._data_bytes // _SAMPLE_BYTES

    @property
    def closed(self) -> bool:
        return self._fh is None

    def write(self, samples: npt.NDArray[np.floating[Any]] | npt.NDArray[np.int16]) -> int:
        """Append samples: float in [-1, 1) (converted by `float_to_pcm16`) or int16.

        Returns:
            The number of samples appended.

        Raises:
            ValueError: The array is not one-dimensional or the writer is closed.
        """
        fh = self._open_fh()
        arr = np.asarray(samples)
        if arr.ndim != 1:
            raise ValueError(f"expected mono samples (1-D), got shape {arr.shape}")
        if arr.dtype == np.int16:
            data = arr.astype("<i2", copy=False).tobytes()
        elif np.issubdtype(arr.dtype, np.floating):
            data = float_to_pcm16(arr)
        else:
            raise ValueError(f"expected float or int16 samples, got {arr.dtype}")
        self._append(fh, data)
        return len(data) // _SAMPLE_BYTES

    def write_pcm16(self, data: bytes) -> int:
        """Append int16 little-endian mono bytes as they are; the samples appended."""
        if len(data) % _SAMPLE_BYTES:
            raise ValueError(f"{len(data)} bytes is not a whole number of int16 samples")
        self._append(self._open_fh(), data)
        return len(data) // _SAMPLE_BYTES

    def write_silence(self, num_samples: int) -> None:
        """Append `num_samples` zero samples (to keep the file on the stream's sample clock)."""
        if num_samples > 0:
            self._append(self._open_fh(), bytes(num_samples * _SAMPLE_BYTES))

    def _append(self, fh: BinaryIO, data: bytes) -> None:
        """Hold `data` for the next flush; past `max_pending`, write what is held first
        (a write that fails raises here, and `data` is then not appended: as a buffered
        file's `write` would)."""
        if len(self._pending) + len(data) > self._max_pending:
            self._push(fh)
            if len(data) > self._max_pending:
                fh.write(data)
                self._data_bytes += len(data)
                return
        self._pending += data
        self._data_bytes += len(data)

    def _push(self, fh: BinaryIO) -> None:
        """The held PCM to the file object, in one write (kept if that fails)."""
        if self._pending:
            fh.write(self._pending)
            self._pending.clear()

    def flush(self) -> None:
        """Push buffered PCM to the OS (survives the process being killed; no `fsync`),
        then rewrite the header's sizes if `sizes_every_s` of audio came since the last
        rewrite (PCM first: the header never claims bytes that are not there)."""
        fh = self._open_fh()
        self._push(fh)
        fh.flush()
        if self._data_bytes - self._sizes_at >= self._sizes_every:
            self._write_sizes(fh)

    @property
    def header_samples(self) -> int:
        """Samples the header's sizes describe now (what a reader of the open file sees)."""
        return self._sizes_at // _SAMPLE_BYTES

    def close(self) -> None:
        """Write the final sizes and close the file. Idempotent."""
        if self._fh is None:
            return
        try:
            fh = self._open_fh()
            self._push(fh)
            fh.flush()  # PCM first: the header never claims bytes that are not there
            self._write_sizes(fh)
        finally:
            fh, self._fh = self._fh, None
            fh.close()

    def _write_sizes(self, fh: BinaryIO) -> None:
        """One positional write of the whole header (the file offset stays at the end)."""
        os.pwrite(fh.fileno(), _header(self._sample_rate, self._data_bytes), 0)
        self._sizes_at = self._data_bytes

    def _open_fh(self) -> BinaryIO:
        if self._fh is None:
            raise ValueError(f"{self._path}: writer is closed")
        return self._fh

    def __enter__(self) -> StreamingWavWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def read_wav(path: str | os.PathLike[str]) -> tuple[npt.NDArray[np.float32], int]:
    """Read a 16-bit PCM WAV as float32 mono in [-1, 1), even if it was never finished.

    Tolerates what a crashed `StreamingWavWriter` (or any streaming recorder)
    leaves: a data size that is a placeholder (0 or `0xFFFFFFFF`) or larger than
    the file is replaced by "to the end of the file"; so is a data size smaller than
    what follows when what follows is not a chunk (a writer killed between two
    header rewrites); a wrong RIFF size is ignored, and a trailing partial sample is
    dropped. Several channels are averaged to mono.

    Returns:
        `(samples, sample_rate)`.

    Raises:
        ValueError: Not a RIFF/WAVE file, no `fmt ` before `data`, or not 16-bit PCM.
        OSError: The file cannot be read.
    """
    raw = Path(path).read_bytes()
    if len(raw) < 12 or raw[:4] != b"RIFF" or raw[8:12] != b"WAVE":
        raise ValueError(f"{path}: not a RIFF/WAVE file")
    pos = 12
    channels = sample_rate = 0
    while pos + 8 <= len(raw):
        chunk_id = raw[pos : pos + 4]
        (size,) = struct.unpack_from("<I", raw, pos + 4)
        body = pos + 8
        if chunk_id == b"fmt ":
            if size < 16 or body + 16 > len(raw):
                raise ValueError(f"{path}: fmt chunk is truncated")
            fmt_tag, channels, sample_rate, _, _, bits = struct.unpack_from("<HHIIHH", raw, body)
            if fmt_tag not in (_WAVE_FORMAT_PCM, _WAVE_FORMAT_EXTENSIBLE) or bits != _BITS:
                raise ValueError(
                    f"{path}: only 16-bit PCM is supported (tag {fmt_tag}, {bits} bit)"
                )
            if channels < 1 or sample_rate < 1:
                raise ValueError(f"{path}: {channels} channels at {sample_rate} Hz")
        elif chunk_id == b"data":
            if not channels:
                raise ValueError(f"{path}: data chunk before fmt chunk")
            available = len(raw) - body
            if size in (0, SIZE_PLACEHOLDER) or size > available:
                size = available  # unfinished file: trust what is on disk
            elif size < available and not _chunk_at(raw, body + size + (size & 1)):
                size = available  # sizes lag the data (killed between rewrites)
            frame_bytes = _SAMPLE_BYTES * channels
            size -= size % frame_bytes
            pcm = np.frombuffer(raw, dtype="<i2", count=size // _SAMPLE_BYTES, offset=body)
            samples = pcm.astype(np.float32) / np.float32(32768.0)
            if channels > 1:
                samples = samples.reshape(-1, channels).mean(axis=1, dtype=np.float32)
            return samples, sample_rate
        pos = body + size + (size & 1)  # chunks are padded to even sizes
    raise ValueError(f"{path}: no data chunk")


def _chunk_at(raw: bytes, pos: int) -> bool:
    """Whether a RIFF chunk header (a printable four-character id and a size that fits)
    starts at `pos`, or nothing is left there but padding."""
    if pos + 8 > len(raw):
        return pos >= len(raw) - 1
    chunk_id = raw[pos : pos + 4]
    (size,) = struct.unpack_from("<I", raw, pos + 4)
    return all(0x20 <= b <= 0x7E for b in chunk_id) and pos + 8 + size <= len(raw) + 1
