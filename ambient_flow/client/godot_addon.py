"""The Redot/Godot addon's pure functions, twinned in Python, line for line.

No Godot engine runs on the machines that test this project, so these algorithms of
`clients/godot/addons/ambient_capture/` are implemented here a second time and tested
against the real server and against reference resamplers:

* `design_polyphase`, `PolyphaseResampler` mirror `resampler.gd` (windowed-sinc
  polyphase, Kaiser window, exact output count, no state lost between chunks);
* `downmix_stereo`, `to_int16_le`, `PcmChunker` mirror `pcm_chunker.gd` and the audio
  streamer (stereo frames -> mono -> 16 kHz -> int16 LE -> 100 ms chunks; a "frame" here
  is Godot's word for one stereo sample);
* `encode_header`, `encode_envelope` mirror `wire.gd` (compact JSON in key order, our own
  string escaping, `[u32 BE][u32 BE][header][payload]`).

Where the GDScript differs (it loops over taps where Python calls `numpy.dot`), a comment
says so. Keep the two in step: a change to one is a change to the other.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt

from ambient_flow.errors import ConfigError
from ambient_flow.protocol import constants

__all__ = [
    "CAPTURE_MIX_RATES",
    "RESAMPLER_CUTOFF",
    "RESAMPLER_KAISER_BETA",
    "RESAMPLER_TAPS_PER_PHASE",
    "PcmChunker",
    "PolyphaseResampler",
    "bessel_i0",
    "design_polyphase",
    "downmix_stereo",
    "encode_envelope",
    "encode_header",
    "to_int16_le",
]

FloatArray = npt.NDArray[np.float64]

#: Mix rates a Godot/Redot desktop build runs its AudioServer at (project setting
#: `audio/driver/mix_rate`, 44100 default; WASAPI often reports 48000).
CAPTURE_MIX_RATES = (44100, 48000)
#: Taps of each polyphase branch, counted at the input rate (resampler.gd `TAPS_PER_PHASE`).
RESAMPLER_TAPS_PER_PHASE = 128
#: Kaiser window beta (resampler.gd `KAISER_BETA`): about 90 dB of stopband attenuation.
RESAMPLER_KAISER_BETA = 9.0
#: Cut-off as a fraction of the lower Nyquist rate (resampler.gd `CUTOFF`): 6880 Hz for
#: 16 kHz output, flat to 6 kHz, below -90 dB from 8 kHz up (no aliasing into speech).
RESAMPLER_CUTOFF = 0.86

_PREFIX = struct.Struct(">II")  # wire.gd `_u32_be` twice: lengths are big-endian
_BESSEL_EPS = 1e-12


# -- wire.gd ---------------------------------------------------------------------------


def _json_string(text: str) -> str:
    """wire.gd `_json_string`: quote, escape `"` `\\` and control characters; raw UTF-8."""
    out = ['"']
    for ch in text:
        code = ord(ch)
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\r":
            out.append("\\r")
        elif ch == "\t":
            out.append("\\t")
        elif ch == "\b":
            out.append("\\b")
        elif ch == "\f":
            out.append("\\f")
        elif code < 0x20:
            out.append(f"\\u{code:04x}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def _json_value(value: Any) -> str:
    """wire.gd `_json_value`: the value types a header or control request holds."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        # Godot: a whole float is written as an integer (fps 5.0 -> 5), else repr.
        return str(int(value)) if value == int(value) else repr(value)
    if isinstance(value, str):
        return _json_string(value)
    if isinstance(value, list | tuple):
        return "[" + ",".join(_json_value(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return _json_object(value)
    if value is None:
        return "null"
    raise ConfigError(f"cannot encode a {type(value).__name__} in a header")


def _json_object(fields: Mapping[str, Any]) -> str:
    parts = [_json_string(str(key)) + ":" + _json_value(val) for key, val in fields.items()]
    return "{" + ",".join(parts) + "}"


def encode_header(fields: Mapping[str, Any]) -> bytes:
    """wire.gd `encode_header`: compact JSON, keys in insertion order, UTF-8."""
    return _json_object(fields).encode("utf-8")


def encode_envelope(fields: Mapping[str, Any], payload: bytes) -> bytes:
    """wire.gd `encode_envelope`: `[u32 BE header_len][u32 BE payload_len][header][payload]`."""
    head = encode_header(fields)
    return _PREFIX.pack(len(head), len(payload)) + head + payload


# -- resampler.gd ----------------------------------------------------------------------


def bessel_i0(x: float) -> float:
    """resampler.gd `bessel_i0`: the power series (GDScript has no Bessel function)."""
    total = 1.0
    term = 1.0
    half = x / 2.0
    k = 1
    while term > _BESSEL_EPS * total:
        term *= (half / k) * (half / k)
        total += term
        k += 1
    return total


def design_polyphase(
    in_rate: int,
    out_rate: int,
    taps: int = RESAMPLER_TAPS_PER_PHASE,
    beta: float = RESAMPLER_KAISER_BETA,
    cutoff: float = RESAMPLER_CUTOFF,
) -> tuple[int, int, FloatArray]:
    """resampler.gd `_design`: the polyphase bank of a Kaiser-windowed sinc low-pass.

    The prototype runs at `in_rate * up`; branch `p` holds taps `p, p+up, p+2up, ...`
    reversed (so the inner loop walks the history forwards) and normalised to a sum of
    1 (exact unity gain at DC in every branch).

    Returns:
        `(up, down, bank)` with `bank` of shape `(up, taps)`.
    """
    if in_rate <= 0 or out_rate <= 0:
        raise ConfigError(f"rates must be > 0, got {in_rate} -> {out_rate}")
    if taps < 2 or not 0.0 < cutoff <= 1.0 or beta < 0.0:
        raise ConfigError("need taps >= 2, 0 < cutoff <= 1 and beta >= 0")
    g = math.gcd(in_rate, out_rate)
    up = out_rate // g
    down = in_rate // g
    n_total = up * taps
    centre = (n_total - 1) / 2.0
    fc = cutoff * min(in_rate, out_rate) / 2.0 / in_rate  # cycles per input sample
    i0_beta = bessel_i0(beta)
    proto = np.zeros(n_total, dtype=np.float64)
    for n in range(n_total):
        t = (n - centre) / up  # in input samples
        x = 2.0 * fc * t
        sinc = 1.0 if x == 0.0 else math.sin(math.pi * x) / (math.pi * x)
        r = 2.0 * n / (n_total - 1) - 1.0
        window = bessel_i0(beta * math.sqrt(max(0.0, 1.0 - r * r))) / i0_beta
        proto[n] = 2.0 * fc * sinc * window
    bank = np.zeros((up, taps), dtype=np.float64)
    for p in range(up):
        total = 0.0
        for j in range(taps):
            bank[p, j] = proto[p + (taps - 1 - j) * up]
            total += bank[p, j]
        for j in range(taps):
            bank[p, j] /= total
    return up, down, bank


class PolyphaseResampler:
    """resampler.gd `AmbientResampler`: streaming rational-rate conversion.

    Feeding `n` samples in total, in any chunking, yields exactly `ceil(n * up / down)`
    samples in total, identical to feeding them at once (the history carries over).
    The output lags by `delay_in` input samples (half the filter).

    Args:
        in_rate: The capture rate (`AudioServer.get_mix_rate()`).
        out_rate: The wire rate (16000).
    """

    def __init__(
        self,
        in_rate: int,
        out_rate: int = constants.AUDIO_SAMPLE_RATE,
        *,
        taps: int = RESAMPLER_TAPS_PER_PHASE,
        beta: float = RESAMPLER_KAISER_BETA,
        cutoff: float = RESAMPLER_CUTOFF,
    ) -> None:
        self.in_rate = in_rate
        self.out_rate = out_rate
        self.taps = taps
        self.up, self.down, self._bank = design_polyphase(in_rate, out_rate, taps, beta, cutoff)
        self.reset()

    @property
    def delay_in(self) -> float:
        """Group delay in input samples."""
        return (self.up * self.taps - 1) / 2.0 / self.up

    def reset(self) -> None:
        """resampler.gd `reset`: start a new stream (taps-1 zeros of history)."""
        self._history: FloatArray = np.zeros(self.taps - 1, dtype=np.float64)
        self._phase = 0  # branch of the next output
        self._base = self.taps - 1  # history index of the newest input it needs

    def process(self, samples: npt.ArrayLike) -> FloatArray:
        """resampler.gd `process`: mono floats in, resampled floats out."""
        x = np.asarray(samples, dtype=np.float64)
        self._history = np.concatenate((self._history, x))
        history, bank, taps = self._history, self._bank, self.taps
        out: list[float] = []
        while self._base < len(history):
            start = self._base - (taps - 1)
            # GDScript: `for j in taps: acc += _bank[row + j] * _history[start + j]`
            out.append(float(np.dot(bank[self._phase], history[start : start + taps])))
            self._phase += self.down
            self._base += self._phase // self.up
            self._phase = self._phase % self.up
        drop = self._base - (taps - 1)
        if drop > 0:
            self._history = history[drop:]
            self._base -= drop
        return np.asarray(out, dtype=np.float64)


# -- pcm_chunker.gd --------------------------------------------------------------------


def downmix_stereo(frames: npt.ArrayLike) -> FloatArray:
    """audio_capture_streamer.gd `_downmix`: `(left + right) * 0.5` per Vector2 frame."""
    f = np.asarray(frames, dtype=np.float64).reshape(-1, 2)
    mono: FloatArray = (f[:, 0] + f[:, 1]) * 0.5
    return mono


def to_int16_le(samples: npt.ArrayLike) -> bytes:
    """pcm_chunker.gd `push_floats`: clamp to [-1, 1], * 32767, round half away from zero
    (GDScript `roundi`), little-endian int16."""
    v = np.clip(np.asarray(samples, dtype=np.float64), -1.0, 1.0) * 32767.0
    rounded = np.sign(v) * np.floor(np.abs(v) + 0.5)
    return bytes(rounded.astype("<i2").tobytes())


class PcmChunker:
    """pcm_chunker.gd `AmbientPcmChunker`: int16 bytes in, whole chunks of `samples` out.

    A partial chunk waits for the next push; `pending_samples` says how much waits.
    """

    def __init__(self, samples: int) -> None:
        if samples < 1:
            raise ConfigError(f"chunk of {samples} samples")
        self.chunk_bytes = samples * 2
        self._pending = bytearray()

    @property
    def pending_samples(self) -> int:
        return len(self._pending) // 2

    def push(self, pcm: bytes) -> list[bytes]:
        self._pending += pcm
        chunks: list[bytes] = []
        while len(self._pending) >= self.chunk_bytes:
            chunks.append(bytes(self._pending[: self.chunk_bytes]))
            del self._pending[: self.chunk_bytes]
        return chunks
