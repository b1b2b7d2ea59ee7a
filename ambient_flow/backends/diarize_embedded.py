"""The embedded default diarizer, from wheels only: resemblyzer + online clustering.

resemblyzer's speaker encoder runs on the most recent ~1 s of *speech* in the window
(speech from the caller's VAD mask, or an energy gate when none is given) and the online
`CentroidClusterer` turns each embedding into a stable speaker index. One speaker per
step; overlap is not modelled.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from ambient_flow.backends.base import require_file, torch_threads, verify_sha256
from ambient_flow.backends.cluster import CentroidClusterer, ClusterOptions
from ambient_flow.backends.diarize_common import (
    StepCursor,
    check_window,
    energy_speech_mask,
    runs,
    speech_mask_per_sample,
)
from ambient_flow.errors import ConfigError, StartupError
from ambient_flow.models.diarization import (
    Audio,
    DiarizationStep,
    Mask,
    SpeakerSegment,
    StepRequest,
)
from ambient_flow.models.identity import ModelIdentity
from ambient_flow.models.lazy import LazyModel
from ambient_flow.protocol.constants import AUDIO_SAMPLE_RATE as SAMPLE_RATE

__all__ = [
    "RESEMBLYZER_SHA256",
    "EmbeddedDiarizer",
    "EmbeddedDiarizerOptions",
    "EmbeddedStream",
]

RESEMBLYZER_SHA256 = "39373b86598fa3da9fcddee6142382efe09777e8d37dc9c0561f41f0070f134e"
"""sha256 of `resemblyzer/pretrained.pt` as shipped in the resemblyzer 0.1.4 wheel."""


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


class EmbeddedStream:
    """One client's state for `EmbeddedDiarizer` (its speaker centroids)."""

    def __init__(self, owner: EmbeddedDiarizer) -> None:
        self._owner = owner
        self.clusterer = CentroidClusterer(owner.options.cluster)
        self._cursor = StepCursor()

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


class EmbeddedDiarizer(LazyModel[Any]):
    """resemblyzer embeddings of recent speech + online centroid clustering.

    Confidence of a segment: `1 - d / (2 * threshold)` clipped to [0, 1], where `d` is
    the cosine distance of the step's embedding to the chosen centroid (0.5 at the
    threshold; lower for provisional labels while a new voice gathers evidence).
    """

    describes = "resemblyzer weights"

    def __init__(self, options: EmbeddedDiarizerOptions | None = None) -> None:
        super().__init__()
        self.options = options or EmbeddedDiarizerOptions()

    def _weights_path(self) -> Path:
        if self.options.weights_path is not None:
            return Path(self.options.weights_path)
        import importlib.util

        spec = importlib.util.find_spec("resemblyzer")
        if spec is None or spec.origin is None:
            raise StartupError("resemblyzer is not installed (pip install --no-deps resemblyzer)")
        return Path(spec.origin).parent / "pretrained.pt"

    def describe(self) -> str:
        return f"resemblyzer weights {self._weights_path()}"

    def _load(self) -> tuple[Any, ModelIdentity]:
        """Load resemblyzer's encoder on the CPU, checking its weights' sha256."""
        path = self._weights_path()
        require_file(path, "resemblyzer weights")
        expected = self.options.expected_sha256
        if expected is None and self.options.weights_path is None:
            expected = RESEMBLYZER_SHA256
        digest = verify_sha256(path, expected, "resemblyzer weights")
        from resemblyzer import VoiceEncoder

        with torch_threads(self.options.threads):
            encoder = VoiceEncoder(device="cpu", verbose=False, weights_fpath=path)
        encoder.eval()
        identity = ModelIdentity(
            kind="diarization",
            name="resemblyzer+centroid",
            path=str(path),
            sha256={path.name: digest},
            options=self.options.to_dict(),
        )
        return encoder, identity

    def new_stream(self) -> EmbeddedStream:
        """Fresh per-client state."""
        return EmbeddedStream(self)

    def step_many(self, requests: Sequence[StepRequest]) -> list[DiarizationStep]:
        """Embed every request's recent speech in one encoder call, then cluster per stream.

        Raises:
            ValueError: A request's window or stream is invalid (an operator bug).
        """
        self.load()  # so a bad weights path fails here, before any step is prepared
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
        window = check_window(request.window, round(opts.window_s * SAMPLE_RATE))
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
            islands = runs(mask)
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
        encoder = self.loaded
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
                for s, e in runs(p.new_speech):
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
