"""Speaker diarization backends: who is speaking in the newest half second of a client's audio.

The operator keeps, per client, a ring buffer of 16 kHz audio and, every `step_s` (0.5 s)
of audio, hands the last `window_s` (5 s) to the client's `DiarizationStream`. Each step
returns the speaker activity of the part of the window it is responsible for (its
*decided span*), labelled `speaker0`, `speaker1`, ... stably for the whole session. The
per-client memory (speaker centroids, diart's buffers) lives in the stream object the
operator keeps; the model lives in the `Diarizer`, shared by all clients, and
`Diarizer.step_many` runs several clients' due steps through one model call.

Two backends:

- `EmbeddedDiarizer` (default, needs only wheels): resemblyzer's speaker encoder on the
  most recent ~1 s of *speech* in the window (speech from the caller's VAD mask, or an
  energy gate when none is given) and the online `CentroidClusterer`. One speaker per
  step; overlap is not modelled.
- `DiartDiarizer` (production): diart's `SpeakerDiarization` blocks (pyannote
  segmentation + overlap-aware embedding + incremental clustering + delayed aggregation)
  with checkpoints from local paths. The model calls are shared across clients; the
  clustering and aggregation buffers are per stream.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from ambient_flow.backends.base import (
    LazyLoaded,
    ModelIdentity,
    offline_environment,
    sha256_file,
    torch_threads,
    verify_sha256,
)
from ambient_flow.backends.cluster import CentroidClusterer, ClusterOptions
from ambient_flow.errors import ConfigError, StartupError

if TYPE_CHECKING:
    import torch

__all__ = [
    "RESEMBLYZER_SHA256",
    "SAMPLE_RATE",
    "DiarizationStep",
    "DiarizationStream",
    "Diarizer",
    "DiartDiarizer",
    "DiartOptions",
    "DiartStream",
    "EmbeddedDiarizer",
    "EmbeddedDiarizerOptions",
    "EmbeddedStream",
    "SpeakerSegment",
    "StepRequest",
    "energy_speech_mask",
    "speech_mask_per_sample",
]

logger = logging.getLogger(__name__)

SAMPLE_RATE = 16000
"""Every diarization backend works on 16 kHz mono float32 audio."""

RESEMBLYZER_SHA256 = "39373b86598fa3da9fcddee6142382efe09777e8d37dc9c0561f41f0070f134e"
"""sha256 of `resemblyzer/pretrained.pt` as shipped in the resemblyzer 0.1.4 wheel."""

Audio = npt.NDArray[np.float32]
Mask = npt.NDArray[np.bool_]


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class SpeakerSegment:
    """One speaker active over `[start_sample, end_sample)` of the client's stream.

    Attributes:
        start_sample: First sample on the client's sample clock.
        end_sample: One past the last sample.
        speaker: `speaker0`, `speaker1`, ... stable for the client's session.
        confidence: In [0, 1]; how sure the backend is of the label (see each backend).
    """

    start_sample: int
    end_sample: int
    speaker: str
    confidence: float

    def __post_init__(self) -> None:
        if self.end_sample <= self.start_sample:
            raise ValueError(f"empty segment [{self.start_sample}, {self.end_sample})")
        if not 0.0 <= self.confidence <= 1.0:
            raise ValueError(f"confidence must be in [0, 1], got {self.confidence}")

    def to_dict(self) -> dict[str, Any]:
        """Plain values for JSON output."""
        return {
            "start_sample": self.start_sample,
            "end_sample": self.end_sample,
            "speaker": self.speaker,
            "confidence": self.confidence,
        }


@dataclass(frozen=True)
class DiarizationStep:
    """What one step decided.

    Attributes:
        window_start_sample: Start of the window the step saw.
        window_end_sample: End (exclusive) of that window.
        decided_start_sample: Start of the span this step is responsible for: segments
            lie inside `[decided_start_sample, decided_end_sample)`, and consecutive
            steps' spans tile the stream (the embedded default decides the newest audio;
            diart decides the audio `latency` behind the window's end).
        decided_end_sample: End (exclusive) of that span.
        segments: Speaker activity inside the decided span, sorted by start.
        speakers: Every label opened so far in this session, in order of opening.
        new_speakers: Labels opened by this step (a speaker-change event source).
    """

    window_start_sample: int
    window_end_sample: int
    decided_start_sample: int
    decided_end_sample: int
    segments: tuple[SpeakerSegment, ...]
    speakers: tuple[str, ...]
    new_speakers: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """Plain values for JSON output."""
        return {
            "window_start_sample": self.window_start_sample,
            "window_end_sample": self.window_end_sample,
            "decided_start_sample": self.decided_start_sample,
            "decided_end_sample": self.decided_end_sample,
            "segments": [s.to_dict() for s in self.segments],
            "speakers": list(self.speakers),
            "new_speakers": list(self.new_speakers),
        }


# --------------------------------------------------------------------------- protocols


@runtime_checkable
class DiarizationStream(Protocol):
    """Per-client diarization state; the operator keeps one per client session."""

    def step(
        self, window: Audio, window_start_sample: int, speech: Mask | None = None
    ) -> DiarizationStep:
        """Diarize one window (see `StepRequest` for the arguments)."""
        ...


@dataclass(frozen=True)
class StepRequest:
    """One client's due step, for `Diarizer.step_many`.

    Attributes:
        stream: The client's stream, made by the same diarizer's `new_stream()`.
        window: float32 mono 16 kHz samples in [-1, 1], at most `window_s` long; shorter
            only at the start of a stream (it is then left-padded with silence).
        window_start_sample: Position of `window[0]` on the client's sample clock.
            Windows of one stream must move forward (normally by `step_s`).
        speech: Optional speech flags covering the window evenly: flag `i` of `n` covers
            samples `[i*len/n, (i+1)*len/n)` (one per sample, per 16 ms, per VAD frame
            resampled, ...). None means "no VAD available"; the embedded default then
            uses an energy gate, diart uses its own segmentation either way.
    """

    stream: DiarizationStream
    window: Audio
    window_start_sample: int
    speech: Mask | None = None


@runtime_checkable
class Diarizer(Protocol):
    """A diarization model shared by all clients; streams hold the per-client state."""

    @property
    def identity(self) -> ModelIdentity:
        """What was loaded (path, sha256, options) for session metadata."""
        ...

    def load(self) -> None:
        """Import and load the model now (at worker start-up); raises StartupError."""
        ...

    def new_stream(self) -> DiarizationStream:
        """Fresh per-client state (no speakers yet)."""
        ...

    def step_many(self, requests: Sequence[StepRequest]) -> list[DiarizationStep]:
        """Run several streams' steps, batching the model calls; results in order."""
        ...


# --------------------------------------------------------------------------- helpers


def speech_mask_per_sample(speech: npt.ArrayLike, num_samples: int) -> Mask:
    """Stretch evenly spaced speech flags to one flag per sample.

    Args:
        speech: n >= 1 booleans covering `num_samples` samples evenly.
        num_samples: Length of the window the flags cover.

    Raises:
        ValueError: The flags are not a non-empty 1-D array.
    """
    flags = np.asarray(speech, dtype=np.bool_).reshape(-1)
    if flags.size == 0:
        raise ValueError("speech mask is empty")
    if num_samples == 0:
        return np.zeros(0, np.bool_)
    index = (np.arange(num_samples, dtype=np.int64) * flags.size) // num_samples
    result: Mask = flags[index]
    return result


def energy_speech_mask(
    window: Audio, threshold_db: float = -40.0, frame_samples: int = 320
) -> Mask:
    """Per-sample speech flags from frame energy: a stand-in when no VAD mask is given.

    A frame of `frame_samples` (20 ms) counts as speech when its RMS is above
    `threshold_db` dBFS. Adequate for clean close-talk audio and generated speech; noise
    above the threshold counts as speech, so the flow passes the Silero VAD mask instead.
    """
    n = window.shape[0]
    frames = -(-n // frame_samples)
    padded = np.zeros(frames * frame_samples, np.float32)
    padded[:n] = window
    rms = np.sqrt(np.mean(np.square(padded.reshape(frames, frame_samples)), axis=1) + 1e-12)
    speech = 20.0 * np.log10(rms) > threshold_db
    return np.repeat(speech, frame_samples)[:n]


def _check_window(window: Audio, max_samples: int) -> Audio:
    audio = np.asarray(window)
    if audio.ndim != 1:
        raise ValueError(f"window must be 1-D mono, got shape {audio.shape}")
    if audio.dtype != np.float32:
        raise ValueError(f"window must be float32, got {audio.dtype}")
    if audio.shape[0] == 0 or audio.shape[0] > max_samples:
        raise ValueError(f"window must hold 1..{max_samples} samples, got {audio.shape[0]}")
    if not np.all(np.isfinite(audio)):
        raise ValueError("window holds non-finite samples")
    return audio


def _runs(mask: Mask) -> list[tuple[int, int]]:
    """[start, end) index runs where `mask` is True."""
    if mask.size == 0:
        return []
    edges = np.diff(np.concatenate(([0], mask.astype(np.int8), [0])))
    starts = np.flatnonzero(edges == 1)
    ends = np.flatnonzero(edges == -1)
    return [(int(s), int(e)) for s, e in zip(starts, ends, strict=True)]


def _require_file(path: Path, what: str) -> None:
    if not path.exists():
        raise StartupError(f"{what} {path}: file not found")
    if not path.is_file():
        raise StartupError(f"{what} {path}: not a regular file")


# --------------------------------------------------------------------------- embedded default


@dataclass(frozen=True)
class EmbeddedDiarizerOptions:
    """Settings of the wheel-only diarizer (resemblyzer + centroid clustering).

    Attributes:
        window_s: Longest window accepted (the operator sends 5 s).
        step_s: Nominal step between windows.
        latency_s: How far behind the window's end the decided span ends, plus one step:
            None (= `step_s`) decides the newest audio; a larger value lets the embedding
            look past the decided span (speaker labels arrive later, but the first
            second of a turn is judged on that turn's own voice).
        embed_s: Seconds of the most recent speech embedded per step; ~1 s keeps the
            embedding to one voice after a turn change, whole windows mix voices.
        split_pause_s: When > 0, embed only the speech island (runs joined across pauses
            shorter than this) holding the decided span, so a pause at a turn change keeps
            the other voice out of the embedding; 0 disables it.
        min_embed_speech_s: Less speech than this in the window: no embedding, no label.
        min_step_speech_s: Less new speech than this in a step: nothing to label.
        energy_threshold_db: Energy gate (dBFS) used when the caller gives no speech mask.
        cluster: Online clustering settings (thresholds, max/known speaker count).
        weights_path: resemblyzer weights; None means the file inside the wheel.
        expected_sha256: Checked before loading; None with the wheel's file means
            `RESEMBLYZER_SHA256`, None with a user file means "record, don't check".
        threads: torch intra-op threads used for the encoder.
    """

    window_s: float = 5.0
    step_s: float = 0.5
    latency_s: float | None = 1.0
    embed_s: float = 1.0
    split_pause_s: float = 0.2
    min_embed_speech_s: float = 0.5
    min_step_speech_s: float = 0.1
    energy_threshold_db: float = -40.0
    cluster: ClusterOptions = field(default_factory=ClusterOptions)
    weights_path: Path | None = None
    expected_sha256: str | None = None
    threads: int = 1

    def __post_init__(self) -> None:
        if not 0.0 < self.step_s <= self.window_s:
            raise ConfigError(f"need 0 < step_s <= window_s, got {self.step_s}, {self.window_s}")
        if self.latency_s is not None and not self.step_s <= self.latency_s <= self.window_s:
            raise ConfigError(
                f"latency_s must be in [step_s, window_s] = [{self.step_s}, {self.window_s}], "
                f"got {self.latency_s}"
            )
        if self.split_pause_s < 0.0:
            raise ConfigError(f"split_pause_s must be >= 0, got {self.split_pause_s}")
        if not 0.2 <= self.embed_s <= self.window_s:
            raise ConfigError(f"embed_s must be in [0.2, window_s], got {self.embed_s}")
        if not 0.0 < self.min_embed_speech_s <= self.embed_s:
            raise ConfigError(
                f"min_embed_speech_s must be in (0, embed_s], got {self.min_embed_speech_s}"
            )
        if not 0.0 <= self.min_step_speech_s <= self.window_s:
            raise ConfigError(f"min_step_speech_s out of range: {self.min_step_speech_s}")
        if self.threads < 1:
            raise ConfigError(f"threads must be >= 1, got {self.threads}")
        if self.expected_sha256 is not None and len(self.expected_sha256) != 64:
            raise ConfigError("expected_sha256 must be 64 hex digits")

    @property
    def latency(self) -> float:
        """The effective latency in seconds."""
        return self.step_s if self.latency_s is None else self.latency_s

    def to_dict(self) -> dict[str, Any]:
        """Plain values for session metadata."""
        return {
            "window_s": self.window_s,
            "step_s": self.step_s,
            "latency_s": self.latency,
            "embed_s": self.embed_s,
            "split_pause_s": self.split_pause_s,
            "min_embed_speech_s": self.min_embed_speech_s,
            "min_step_speech_s": self.min_step_speech_s,
            "energy_threshold_db": self.energy_threshold_db,
            "cluster": self.cluster.to_dict(),
            "threads": self.threads,
        }


@dataclass
class _Cursor:
    """Where a stream's previous step ended, and its label bookkeeping."""

    last_end: int | None = None
    decided_end: int | None = None
    labels: dict[int, str] = field(default_factory=dict)

    def label(self, index: int) -> tuple[str, bool]:
        known = index in self.labels
        if not known:
            self.labels[index] = f"speaker{len(self.labels)}"
        return self.labels[index], not known

    def advance(self, start: int, end: int, delay: int = 0) -> tuple[int, int]:
        """Check the window moved forward; return the span `[s, e)` this step decides.

        The span ends `delay` samples before the window's end and starts where the
        previous span ended (or at the window's start), so spans tile the stream.
        """
        if self.last_end is not None and end <= self.last_end:
            raise ValueError(
                f"windows must move forward: window ends at {end}, previous at {self.last_end}"
            )
        self.last_end = end
        decided_end = max(end - delay, start)
        decided_start = start if self.decided_end is None else max(start, self.decided_end)
        decided_start = min(decided_start, decided_end)
        self.decided_end = max(decided_end, self.decided_end or 0)
        return decided_start, decided_end


class EmbeddedStream:
    """One client's state for `EmbeddedDiarizer` (its speaker centroids)."""

    def __init__(self, owner: EmbeddedDiarizer) -> None:
        self._owner = owner
        self.clusterer = CentroidClusterer(owner.options.cluster)
        self._cursor = _Cursor()

    def step(
        self, window: Audio, window_start_sample: int, speech: Mask | None = None
    ) -> DiarizationStep:
        """Diarize one window of this client (see `StepRequest`)."""
        return self._owner.step_many([StepRequest(self, window, window_start_sample, speech)])[0]


@dataclass(frozen=True)
class _Prepared:
    request: StepRequest
    decided_start: int
    decided_end: int
    window_end: int
    new_speech: Mask
    new_speech_s: float
    chunk: Audio | None


class EmbeddedDiarizer(LazyLoaded):
    """resemblyzer embeddings of recent speech + online centroid clustering.

    Confidence of a segment: `1 - d / (2 * threshold)` clipped to [0, 1], where `d` is
    the cosine distance of the step's embedding to the chosen centroid (0.5 at the
    threshold; lower for provisional labels while a new voice gathers evidence).
    """

    def __init__(self, options: EmbeddedDiarizerOptions | None = None) -> None:
        self.options = options or EmbeddedDiarizerOptions()
        self._lock = threading.Lock()
        self._encoder: Any = None
        self._identity: ModelIdentity | None = None

    def _weights_path(self) -> Path:
        if self.options.weights_path is not None:
            return Path(self.options.weights_path)
        import importlib.util

        spec = importlib.util.find_spec("resemblyzer")
        if spec is None or spec.origin is None:
            raise StartupError("resemblyzer is not installed (pip install --no-deps resemblyzer)")
        return Path(spec.origin).parent / "pretrained.pt"

    def load(self) -> None:
        """Load resemblyzer's encoder on the CPU, checking its weights' sha256."""
        with self._lock:
            if self._encoder is not None:
                return
            path = self._weights_path()
            _require_file(path, "resemblyzer weights")
            expected = self.options.expected_sha256
            if expected is None and self.options.weights_path is None:
                expected = RESEMBLYZER_SHA256
            digest = verify_sha256(path, expected, "resemblyzer weights")
            try:
                from resemblyzer import VoiceEncoder

                with torch_threads(self.options.threads):
                    encoder = VoiceEncoder(device="cpu", verbose=False, weights_fpath=path)
                encoder.eval()
            except Exception as exc:
                raise StartupError(
                    f"resemblyzer weights {path}: cannot load ({type(exc).__name__}: {exc})"
                ) from exc
            self._identity = ModelIdentity(
                kind="diarization",
                name="resemblyzer+centroid",
                path=str(path),
                sha256={path.name: digest},
                options=self.options.to_dict(),
            )
            self._encoder = encoder
            logger.info("loaded resemblyzer speaker encoder from %s", path)

    def new_stream(self) -> EmbeddedStream:
        """Fresh per-client state."""
        return EmbeddedStream(self)

    def step_many(self, requests: Sequence[StepRequest]) -> list[DiarizationStep]:
        """Embed every request's recent speech in one encoder call, then cluster per stream.

        Raises:
            ValueError: A request's window or stream is invalid (an operator bug).
        """
        self.load()
        prepared = [self._prepare(r) for r in requests]
        chunks = [p.chunk for p in prepared if p.chunk is not None]
        embeddings = self._embed(chunks) if chunks else np.zeros((0, 0), np.float32)
        results: list[DiarizationStep] = []
        row = 0
        for p in prepared:
            embedding = None
            if p.chunk is not None:
                embedding = embeddings[row]
                row += 1
            results.append(self._finish(p, embedding))
        return results

    def _prepare(self, request: StepRequest) -> _Prepared:
        stream = request.stream
        if not isinstance(stream, EmbeddedStream) or stream._owner is not self:
            raise ValueError("stream was not made by this diarizer's new_stream()")
        opts = self.options
        window = _check_window(request.window, round(opts.window_s * SAMPLE_RATE))
        n = window.shape[0]
        start = int(request.window_start_sample)
        end = start + n
        if request.speech is None:
            mask = energy_speech_mask(window, opts.energy_threshold_db)
        else:
            mask = speech_mask_per_sample(request.speech, n)
        delay = round(opts.latency * SAMPLE_RATE) - round(opts.step_s * SAMPLE_RATE)
        decided_start, decided_end = stream._cursor.advance(start, end, delay)
        new_speech = mask[decided_start - start : decided_end - start]
        new_speech_s = float(np.count_nonzero(new_speech)) / SAMPLE_RATE
        chunk: Audio | None = None
        if new_speech_s >= opts.min_step_speech_s and new_speech_s > 0.0:
            chunk = self._speech_to_embed(window, mask, decided_start - start, decided_end - start)
        return _Prepared(request, decided_start, decided_end, end, new_speech, new_speech_s, chunk)

    def _speech_to_embed(self, window: Audio, mask: Mask, lo: int, hi: int) -> Audio | None:
        """Up to `embed_s` of speech around the decided span `[lo, hi)` (window indices).

        With `split_pause_s`, only the speech island (speech runs joined across pauses
        shorter than `split_pause_s`) holding most of the span's speech is used, so a
        pause before a turn change keeps the previous voice out of the embedding.
        """
        opts = self.options
        want = round(opts.embed_s * SAMPLE_RATE)
        need = round(opts.min_embed_speech_s * SAMPLE_RATE)
        speech_idx = np.flatnonzero(mask)
        if opts.split_pause_s > 0.0:
            islands = _runs(mask)
            gap = round(opts.split_pause_s * SAMPLE_RATE)
            joined: list[list[int]] = []
            for s, e in islands:
                if joined and s - joined[-1][1] < gap:
                    joined[-1][1] = e
                else:
                    joined.append([s, e])
            overlap = [max(0, min(e, hi) - max(s, lo)) for s, e in joined]
            s, e = joined[int(np.argmax(overlap))]
            island_idx = speech_idx[(speech_idx >= s) & (speech_idx < e)]
            if island_idx.size >= need:
                speech_idx = island_idx
        if speech_idx.size < need:
            return None
        if speech_idx.size > want:
            # Centre the chosen speech on the decided span's speech, clamped to what exists.
            centre = int(np.searchsorted(speech_idx, (lo + hi) // 2))
            first = min(max(centre - want // 2, 0), speech_idx.size - want)
            speech_idx = speech_idx[first : first + want]
        chunk: Audio = window[speech_idx]
        return chunk

    def _embed(self, chunks: list[Audio]) -> npt.NDArray[np.float32]:
        """One LSTM pass over all chunks (packed, so each uses its own length)."""
        import torch
        from resemblyzer.audio import normalize_volume, wav_to_mel_spectrogram
        from torch.nn.utils.rnn import pack_sequence

        mels = []
        for chunk in chunks:
            wav = normalize_volume(chunk.astype(np.float32), -30, increase_only=True)
            mels.append(torch.from_numpy(wav_to_mel_spectrogram(wav)))
        encoder = self._encoder
        with torch_threads(self.options.threads), torch.inference_mode():
            packed = pack_sequence(mels, enforce_sorted=False)
            _, (hidden, _) = encoder.lstm(packed)
            raw = encoder.relu(encoder.linear(hidden[-1]))
            out = raw / torch.clamp(torch.norm(raw, dim=1, keepdim=True), min=1e-12)
        return np.asarray(out.numpy(), dtype=np.float32)

    def _finish(self, p: _Prepared, embedding: npt.NDArray[np.float32] | None) -> DiarizationStep:
        stream = p.request.stream
        if not isinstance(stream, EmbeddedStream):  # pragma: no cover - checked in _prepare
            raise ValueError("wrong stream type")
        segments: list[SpeakerSegment] = []
        new_speakers: list[str] = []
        if embedding is not None and float(np.linalg.norm(embedding)) > 0.0:
            assignment = stream.clusterer.assign(embedding, p.new_speech_s)
            if assignment is not None:
                name, opened = stream._cursor.label(assignment.speaker)
                if opened:
                    new_speakers.append(name)
                threshold = self.options.cluster.threshold
                confidence = float(np.clip(1.0 - assignment.distance / (2 * threshold), 0, 1))
                for s, e in _runs(p.new_speech):
                    segments.append(
                        SpeakerSegment(p.decided_start + s, p.decided_start + e, name, confidence)
                    )
        return DiarizationStep(
            window_start_sample=int(p.request.window_start_sample),
            window_end_sample=p.window_end,
            decided_start_sample=p.decided_start,
            decided_end_sample=p.decided_end,
            segments=tuple(segments),
            speakers=tuple(stream._cursor.labels.values()),
            new_speakers=tuple(new_speakers),
        )


# --------------------------------------------------------------------------- diart (production)


@dataclass(frozen=True)
class DiartOptions:
    """Settings of diart's online pipeline on local pyannote checkpoints.

    Attributes:
        segmentation: Local pyannote segmentation checkpoint (`.bin`/`.ckpt`, or `.onnx`).
        embedding: Local pyannote embedding checkpoint (`.bin`/`.ckpt`, or `.onnx`).
        window_s: Window diart sees (its `duration`); the operator must send this length.
        step_s: Step between windows.
        latency_s: How far behind the window end the decided span lies, in
            [step_s, window_s]; None means `step_s` (lowest latency).
        tau_active: Speaker activity threshold.
        rho_update: Minimum activity ratio for a local speaker to update its centroid.
        delta_new: Cosine distance above which a new global speaker opens.
        gamma: Overlap-aware embedding exponent.
        beta: Overlap-aware embedding softmax temperature.
        max_speakers: Speaker cap (diart's centroid slots).
        threads: torch intra-op threads used for the models.
    """

    segmentation: Path
    embedding: Path
    window_s: float = 5.0
    step_s: float = 0.5
    latency_s: float | None = None
    tau_active: float = 0.6
    rho_update: float = 0.3
    delta_new: float = 1.0
    gamma: float = 3.0
    beta: float = 10.0
    max_speakers: int = 20
    threads: int = 1

    def __post_init__(self) -> None:
        if not 0.0 < self.step_s <= self.window_s:
            raise ConfigError(f"need 0 < step_s <= window_s, got {self.step_s}, {self.window_s}")
        if self.latency_s is not None and not self.step_s <= self.latency_s <= self.window_s:
            raise ConfigError(
                f"latency_s must be in [step_s, window_s] = [{self.step_s}, {self.window_s}], "
                f"got {self.latency_s}"
            )
        if abs(self.window_s * SAMPLE_RATE - round(self.window_s * SAMPLE_RATE)) > 1e-6:
            raise ConfigError(f"window_s must be a whole number of samples, got {self.window_s}")
        for name in ("tau_active", "rho_update"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ConfigError(f"{name} must be in [0, 1], got {value}")
        if not 0.0 <= self.delta_new <= 2.0:
            raise ConfigError(f"delta_new must be in [0, 2], got {self.delta_new}")
        if self.max_speakers < 1:
            raise ConfigError(f"max_speakers must be >= 1, got {self.max_speakers}")
        if self.threads < 1:
            raise ConfigError(f"threads must be >= 1, got {self.threads}")

    @property
    def latency(self) -> float:
        """The effective latency in seconds."""
        return self.step_s if self.latency_s is None else self.latency_s

    def to_dict(self) -> dict[str, Any]:
        """Plain values for session metadata."""
        return {
            "segmentation": str(self.segmentation),
            "embedding": str(self.embedding),
            "window_s": self.window_s,
            "step_s": self.step_s,
            "latency_s": self.latency,
            "tau_active": self.tau_active,
            "rho_update": self.rho_update,
            "delta_new": self.delta_new,
            "gamma": self.gamma,
            "beta": self.beta,
            "max_speakers": self.max_speakers,
            "threads": self.threads,
        }


class DiartStream:
    """One client's state for `DiartDiarizer`: diart's clustering and aggregation buffers."""

    def __init__(self, owner: DiartDiarizer) -> None:
        self._owner = owner
        self._cursor = _Cursor()
        self.clustering: Any = None
        self.pred_buffer: list[Any] = []
        self.last_window_start: int | None = None
        self.last_span_end: int | None = None

    def step(
        self, window: Audio, window_start_sample: int, speech: Mask | None = None
    ) -> DiarizationStep:
        """Diarize one window of this client (see `StepRequest`)."""
        return self._owner.step_many([StepRequest(self, window, window_start_sample, speech)])[0]


@dataclass
class _DiartBlocks:
    segmentation: Any
    embedding: Any
    pred_aggregation: Any
    binarize: Any


def _add_pyannote_safe_globals() -> None:
    """torch >= 2.6 loads with weights_only=True: allow the classes pyannote pickles."""
    import torch
    from pyannote.audio.core.task import Problem, Resolution, Specifications

    torch.serialization.add_safe_globals(
        [torch.torch_version.TorchVersion, Specifications, Problem, Resolution]
    )


class DiartDiarizer(LazyLoaded):
    """diart's online speaker diarization on the user's local pyannote checkpoints.

    The segmentation and embedding models run once per `step_many` call for all streams;
    each stream keeps its own `OnlineSpeakerClustering` and prediction buffer, exactly the
    state `diart.SpeakerDiarization` keeps for one stream. Segments cover the decided
    span `[end - latency, end - latency + step)` of each window, in stream samples.
    Confidence of a segment: the mean aggregated speaker activity over it.
    """

    def __init__(self, options: DiartOptions) -> None:
        self.options = options
        self._lock = threading.Lock()
        self._blocks: _DiartBlocks | None = None
        self._identity: ModelIdentity | None = None

    def load(self) -> None:
        """Load both checkpoints from their local paths (never a hub name)."""
        with self._lock:
            if self._blocks is not None:
                return
            opts = self.options
            seg_path, emb_path = Path(opts.segmentation), Path(opts.embedding)
            _require_file(seg_path, "segmentation checkpoint")
            _require_file(emb_path, "embedding checkpoint")
            digests = {"segmentation": sha256_file(seg_path), "embedding": sha256_file(emb_path)}
            with offline_environment(None), torch_threads(opts.threads):
                segmentation = self._load_model(seg_path, "segmentation")
                embedding = self._load_model(emb_path, "embedding")
                self._blocks = self._build_blocks(segmentation, embedding)
            self._identity = ModelIdentity(
                kind="diarization",
                name="diart",
                path=f"{seg_path}|{emb_path}",
                sha256=digests,
                options=opts.to_dict(),
            )
            logger.info("loaded diart pipeline from %s and %s", seg_path, emb_path)

    @staticmethod
    def _load_model(path: Path, role: str) -> Any:
        """Load one checkpoint as diart does, but eagerly, so failures surface at start-up."""
        try:
            from diart import models as diart_models

            if path.suffix == ".onnx":
                cls = (
                    diart_models.SegmentationModel
                    if role == "segmentation"
                    else diart_models.EmbeddingModel
                )
                wrapper = cls.from_onnx(path)
                wrapper.load()
                return wrapper
            from pyannote.audio import Model

            _add_pyannote_safe_globals()
            model = Model.from_pretrained(str(path), map_location="cpu", strict=True)
        except StartupError:
            raise
        except Exception as exc:
            raise StartupError(
                f"{role} checkpoint {path}: cannot load ({type(exc).__name__}: {exc})"
            ) from exc
        if model is None:
            raise StartupError(f"{role} checkpoint {path}: pyannote returned no model")
        specs = getattr(model, "specifications", None)
        if role == "segmentation":
            if specs is None or getattr(specs, "problem", None) is None:
                raise StartupError(f"{role} checkpoint {path}: has no task specifications")
            from pyannote.audio.core.task import Resolution

            if specs.resolution != Resolution.FRAME:
                raise StartupError(
                    f"{role} checkpoint {path}: not a frame-level segmentation model "
                    f"(resolution {specs.resolution})"
                )
            if specs.powerset:
                model = diart_models.PowersetAdapter(model)
            return diart_models.SegmentationModel(lambda: model)
        return diart_models.EmbeddingModel(lambda: model)

    def _build_blocks(self, segmentation: Any, embedding: Any) -> _DiartBlocks:
        import torch
        from diart.blocks.aggregation import DelayedAggregation
        from diart.blocks.embedding import OverlapAwareSpeakerEmbedding
        from diart.blocks.segmentation import SpeakerSegmentation
        from diart.blocks.utils import Binarize

        opts = self.options
        cpu = torch.device("cpu")
        return _DiartBlocks(
            segmentation=SpeakerSegmentation(segmentation, cpu),
            embedding=OverlapAwareSpeakerEmbedding(
                embedding, opts.gamma, opts.beta, norm=1, normalize_weights=False, device=cpu
            ),
            pred_aggregation=DelayedAggregation(
                opts.step_s, opts.latency, strategy="hamming", cropping_mode="loose"
            ),
            binarize=Binarize(opts.tau_active),
        )

    def new_stream(self) -> DiartStream:
        """Fresh per-client state."""
        return DiartStream(self)

    def _new_clustering(self) -> Any:
        from diart.blocks.clustering import OnlineSpeakerClustering

        opts = self.options
        return OnlineSpeakerClustering(
            opts.tau_active, opts.rho_update, opts.delta_new, "cosine", opts.max_speakers
        )

    def step_many(self, requests: Sequence[StepRequest]) -> list[DiarizationStep]:
        """One segmentation and one embedding call for all requests, then per-stream state.

        Raises:
            ValueError: A request's window or stream is invalid (an operator bug).
        """
        self.load()
        blocks = self._blocks
        if blocks is None:  # pragma: no cover - load() sets it or raises
            raise StartupError("diart blocks missing after load")
        if not requests:
            return []
        import torch
        from pyannote.core import SlidingWindow, SlidingWindowFeature

        opts = self.options
        n_window = round(opts.window_s * SAMPLE_RATE)
        padded: list[Audio] = []
        starts: list[int] = []
        for r in requests:
            if not isinstance(r.stream, DiartStream) or r.stream._owner is not self:
                raise ValueError("stream was not made by this diarizer's new_stream()")
            window = _check_window(r.window, n_window)
            start = int(r.window_start_sample) - (n_window - window.shape[0])
            if window.shape[0] < n_window:  # stream start: left-pad with silence
                window = np.concatenate([np.zeros(n_window - window.shape[0], np.float32), window])
            padded.append(window)
            starts.append(start)
        batch = torch.from_numpy(np.stack(padded)[:, :, None])
        with torch_threads(opts.threads):
            segmentations = blocks.segmentation(batch)
            embeddings = blocks.embedding(batch, segmentations)
        resolution = opts.window_s / segmentations.shape[1]
        results = []
        for r, start, seg, emb in zip(requests, starts, segmentations, embeddings, strict=True):
            stream = r.stream
            if not isinstance(stream, DiartStream):  # pragma: no cover - checked above
                raise ValueError("wrong stream type")
            sw = SlidingWindow(start=start / SAMPLE_RATE, duration=resolution, step=resolution)
            results.append(
                self._finish(
                    stream, r, start, SlidingWindowFeature(seg.cpu().numpy(), sw), emb, blocks
                )
            )
        return results

    def _finish(
        self,
        stream: DiartStream,
        request: StepRequest,
        start: int,
        seg: Any,
        emb: torch.Tensor,
        blocks: _DiartBlocks,
    ) -> DiarizationStep:
        opts = self.options
        step = round(opts.step_s * SAMPLE_RATE)
        if stream.clustering is None:
            stream.clustering = self._new_clustering()
        if stream.last_window_start is not None and start != stream.last_window_start + step:
            # A skipped or irregular step: the delayed aggregation assumes windows exactly
            # one step apart, so start it over (the speaker memory is kept).
            stream.pred_buffer = []
        stream.last_window_start = start
        end = start + round(opts.window_s * SAMPLE_RATE)
        stream._cursor.advance(int(request.window_start_sample), end)  # forward-only check
        permuted = stream.clustering(seg, emb)
        stream.pred_buffer.append(permuted)
        aggregated = blocks.pred_aggregation(stream.pred_buffer)
        annotation = blocks.binarize(aggregated)
        if len(stream.pred_buffer) >= blocks.pred_aggregation.num_overlapping_windows:
            stream.pred_buffer = stream.pred_buffer[1:]

        latency = round(opts.latency * SAMPLE_RATE)
        span_end = end - latency + step
        span_start = end - latency
        if stream.last_span_end is not None:
            span_start = max(span_start, stream.last_span_end)
        span_start = max(span_start, 0)
        stream.last_span_end = max(span_end, span_start)
        segments: list[SpeakerSegment] = []
        new_speakers: list[str] = []
        frames = aggregated.sliding_window
        data = np.asarray(aggregated.data)
        centers = np.array([frames[i].middle for i in range(data.shape[0])])
        for segment, _, label in annotation.itertracks(yield_label=True):
            s = max(round(segment.start * SAMPLE_RATE), span_start)
            e = min(round(segment.end * SAMPLE_RATE), span_end)
            if e <= s:
                continue
            column = int(str(label).removeprefix("speaker"))
            inside = (centers >= segment.start) & (centers < segment.end)
            confidence = float(np.clip(data[inside, column].mean(), 0, 1)) if inside.any() else 0.0
            name, opened = stream._cursor.label(column)
            if opened:
                new_speakers.append(name)
            segments.append(SpeakerSegment(s, e, name, confidence))
        segments.sort(key=lambda x: (x.start_sample, x.speaker))
        return DiarizationStep(
            window_start_sample=int(request.window_start_sample),
            window_end_sample=end,
            decided_start_sample=span_start,
            decided_end_sample=max(span_end, span_start),
            segments=tuple(segments),
            speakers=tuple(stream._cursor.labels.values()),
            new_speakers=tuple(new_speakers),
        )
