"""The embedded default diarizer, from wheels only: resemblyzer + online turns + session pass.

Per client, a `TurnTracker` (`backends.turns`) follows the VAD's speech blocks; every
step it asks for the newest ~1 s of the current speech island, resemblyzer embeds it,
and the tracker labels the step's new speech at once (a first label within ~1 s of
speech), opens new speakers, hints at turn changes, and every few seconds of speech
re-clusters the session (`backends.recluster`) and emits relabel events for what it got
wrong; a session's `last` request runs that pass once more over the speech no pass has
seen. One speaker at a time; overlap is not modelled.

All clients' due steps share one packed LSTM call (`step_many`), as before.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from ambient_flow.backends.base import require_file, torch_threads, verify_sha256
from ambient_flow.backends.diarize_common import (
    StepCursor,
    check_window,
    energy_speech_mask,
    speech_mask_per_sample,
)
from ambient_flow.backends.turns import StepResult, TrackerOptions, TurnTracker
from ambient_flow.errors import ConfigError, StartupError
from ambient_flow.models.diarization import (
    Audio,
    DiarizationStep,
    Mask,
    SpeechBlocks,
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
    """Settings of the wheel-only diarizer.

    Attributes:
        window_s: Longest window accepted (the operator sends 5 s).
        step_s: Nominal step between windows.
        energy_threshold_db: Energy gate (dBFS) used when the caller gives no speech flags.
        tracker: The turn tracker's knobs (thresholds, speaker count hints, session pass).
        weights_path: resemblyzer weights; None means the file inside the wheel.
        expected_sha256: Checked before loading; None with the wheel's file means
            `RESEMBLYZER_SHA256`, None with a user file means "record, don't check".
        threads: torch intra-op threads used for the encoder.
    """

    window_s: float = 5.0
    step_s: float = 0.5
    energy_threshold_db: float = -40.0
    tracker: TrackerOptions = field(default_factory=TrackerOptions)
    weights_path: Path | None = None
    expected_sha256: str | None = None
    threads: int = 1

    def __post_init__(self) -> None:
        if not 0.0 < self.step_s <= self.window_s:
            raise ConfigError(f"need 0 < step_s <= window_s, got {self.step_s}, {self.window_s}")
        if self.window_s < self.tracker.embed_s:
            raise ConfigError(f"window_s must hold embed_s of speech, got {self.window_s}")
        if self.threads < 1:
            raise ConfigError(f"threads must be >= 1, got {self.threads}")
        if self.expected_sha256 is not None and len(self.expected_sha256) != 64:
            raise ConfigError("expected_sha256 must be 64 hex digits")

    def to_dict(self) -> dict[str, Any]:
        """Plain values for session metadata."""
        t = self.tracker
        r = t.recluster
        return {
            "window_s": self.window_s,
            "step_s": self.step_s,
            "energy_threshold_db": self.energy_threshold_db,
            "tracker": {
                "embed_s": t.embed_s,
                "pause_split_s": t.pause_split_s,
                "join_threshold": t.join_threshold,
                "new_threshold": t.new_threshold,
                "min_new_speaker_s": t.min_new_speaker_s,
                "max_speakers": t.max_speakers,
                "num_speakers": t.num_speakers,
                "hint_margin": t.hint_margin,
                "turn_edges": t.turn_edges,
            },
            "recluster": None
            if r is None
            else {
                "method": "nme-sc",
                "prune": r.prune,
                "every_s": r.every_s,
                "max_units": r.max_units,
                "min_cluster_s": r.min_cluster_s,
                "switch_penalty": r.switch_penalty,
                "max_anchors": r.max_anchors,
                "anchor_guard": r.anchor_guard,
                "turn_edges": r.turn_edges,
                "anchor_join": r.anchor_join,
                "anchor_veto": r.anchor_veto,
            },
            "threads": self.threads,
        }


class EmbeddedStream:
    """One client's state for `EmbeddedDiarizer`: its turn tracker and block cursor."""

    def __init__(self, owner: EmbeddedDiarizer) -> None:
        self._owner = owner
        self.tracker = TurnTracker(owner.options.tracker)
        self._cursor = StepCursor()
        self.next_block: int | None = None  # where the next block to follow starts
        self.grid: int | None = None  # block grid when the caller gives no blocks

    def step(
        self,
        window: Audio,
        window_start_sample: int,
        speech: Mask | None = None,
        blocks: SpeechBlocks | None = None,
    ) -> DiarizationStep:
        """Diarize one window of this client (see `StepRequest`)."""
        request = StepRequest(self, window, window_start_sample, speech, blocks)
        return self._owner.step_many([request])[0]


@dataclass(frozen=True)
class _Prepared:
    request: StepRequest
    stream: EmbeddedStream
    start: int
    end: int
    previous_end: int
    chunk: Audio | None


class EmbeddedDiarizer(LazyModel[Any]):
    """resemblyzer embeddings of recent speech, decided by a per-client `TurnTracker`.

    Confidence of a segment: `1 - d / (2 * new_threshold)` clipped to [0, 1], where `d`
    is the cosine distance of its unit's embedding to its speaker's centroid (0.5 for
    the session's first unit, and at the new-speaker distance).
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
            name="resemblyzer+turns",
            path=str(path),
            sha256={path.name: digest},
            options=self.options.to_dict(),
        )
        return encoder, identity

    def new_stream(self) -> EmbeddedStream:
        """Fresh per-client state."""
        return EmbeddedStream(self)

    def step_many(self, requests: Sequence[StepRequest]) -> list[DiarizationStep]:
        """Embed every request's planned speech in one encoder call, then decide per stream.

        Raises:
            ValueError: A request's window or stream is invalid (an operator bug).
        """
        self.load()  # so a bad weights path fails here, before any step is prepared
        # A stream's step is planned, embedded and decided before its next one is planned:
        # requests go in rounds holding each stream at most once (one encoder call each).
        results: dict[int, DiarizationStep] = {}
        todo = list(enumerate(requests))
        while todo:
            round_: list[tuple[int, StepRequest]] = []
            later: list[tuple[int, StepRequest]] = []
            seen: set[int] = set()
            for i, r in todo:
                (later if id(r.stream) in seen else round_).append((i, r))
                seen.add(id(r.stream))
            for i, r in round_:
                if r.last:  # the session is over: its last corrections, nothing new
                    results[i] = self._closing(r)
            prepared = [(i, self._prepare(r)) for i, r in round_ if not r.last]
            chunks = [p.chunk for _, p in prepared if p.chunk is not None]
            embeddings = self._embed(chunks) if chunks else np.zeros((0, 0), np.float32)
            row = 0
            for i, p in prepared:
                found: list[npt.NDArray[np.float32]] = []
                if p.chunk is not None:
                    found.append(embeddings[row])
                    row += 1
                results[i] = self._finish(p, p.stream.tracker.update(p.end, found))
            todo = later
        return [results[i] for i in range(len(requests))]

    def _stream(self, request: StepRequest) -> EmbeddedStream:
        stream = request.stream
        if not isinstance(stream, EmbeddedStream) or stream._owner is not self:
            raise ValueError("stream was not made by this diarizer's new_stream()")
        return stream

    def _closing(self, request: StepRequest) -> DiarizationStep:
        stream = self._stream(request)
        at = stream._cursor.closing_at(int(request.window_start_sample))
        relabels = stream.tracker.finish(at)
        return DiarizationStep.closing(at, stream.tracker.active_labels(), tuple(relabels))

    def _prepare(self, request: StepRequest) -> _Prepared:
        stream = self._stream(request)
        window = check_window(request.window, round(self.options.window_s * SAMPLE_RATE))
        start = int(request.window_start_sample)
        end = start + window.shape[0]
        previous_end = stream._cursor.decided_end
        stream._cursor.advance(start, end)  # windows must move forward
        self._follow(stream, request, window, start, end)
        runs = stream.tracker.plan(end)
        chunk: Audio | None = None
        if runs is not None:
            pieces = [window[max(a, start) - start : min(b, end) - start] for a, b in runs]
            audio = np.concatenate(pieces) if pieces else np.zeros(0, np.float32)
            if audio.size >= self.options.tracker.block_samples:
                chunk = audio
            else:  # the planned speech lies outside the window (a long skip): no unit
                stream.tracker.cancel()
        return _Prepared(request, stream, start, end,
                         start if previous_end is None else previous_end, chunk)  # fmt: skip

    def _follow(
        self, stream: EmbeddedStream, request: StepRequest, window: Audio, start: int, end: int
    ) -> None:
        """Push the window's blocks the tracker has not seen yet, in order."""
        size = self.options.tracker.block_samples
        blocks = request.blocks
        if blocks is None or blocks.block_samples != size:
            if request.speech is None:
                mask = energy_speech_mask(window, self.options.energy_threshold_db)
            else:
                mask = speech_mask_per_sample(request.speech, window.shape[0])
            if stream.grid is None:
                stream.grid = start
            first = stream.grid + -(-(start - stream.grid) // size) * size
            count = max(0, (end - first) // size)
            flags = np.array([mask[first - start + k * size : first - start + (k + 1) * size]
                              .mean() >= 0.5 for k in range(count)], np.bool_)  # fmt: skip
            blocks = SpeechBlocks(first, size, flags.astype(np.float32), flags)
        for k in range(len(blocks)):
            s = blocks.start_sample + k * size
            if (stream.next_block is not None and s < stream.next_block) or s + size > end:
                continue
            stream.tracker.push_block(s, bool(blocks.speech[k]))
            stream.next_block = s + size

    def embed(self, pieces: Sequence[Audio]) -> npt.NDArray[np.float32]:
        """Unit-length resemblyzer embeddings of `pieces` (16 kHz float32), one row each:
        the same encoder call the tracker's units get (`ambient-flow eval` measures how
        far apart the reference speakers lie with it)."""
        self.load()
        if not pieces:
            return np.zeros((0, 0), np.float32)
        return self._embed(list(pieces))

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

    @staticmethod
    def _finish(p: _Prepared, result: StepResult) -> DiarizationStep:
        first = min([p.previous_end, *(s.start_sample for s in result.segments)])
        return DiarizationStep(
            window_start_sample=p.start,
            window_end_sample=p.end,
            decided_start_sample=min(first, p.end),
            decided_end_sample=p.end,
            segments=tuple(sorted(result.segments, key=lambda s: s.start_sample)),
            speakers=result.speakers,
            new_speakers=result.new_speakers,
            relabels=result.relabels,
            change_hints=result.hints,
        )
