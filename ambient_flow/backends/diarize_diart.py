"""diart's online speaker diarization on the user's local pyannote checkpoints (production).

diart's `SpeakerDiarization` blocks (pyannote segmentation + overlap-aware embedding +
incremental clustering + delayed aggregation) with checkpoints from local paths. The
model calls are shared across clients; the clustering and aggregation buffers are per
stream.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ambient_flow.backends.base import (
    offline_environment,
    require_file,
    sha256_file,
    torch_threads,
)
from ambient_flow.backends.diarize_common import StepCursor, check_window
from ambient_flow.errors import ConfigError, StartupError
from ambient_flow.models.diarization import (
    Audio,
    DiarizationStep,
    Mask,
    SpeakerSegment,
    SpeechBlocks,
    StepRequest,
)
from ambient_flow.models.identity import ModelIdentity
from ambient_flow.models.lazy import LazyModel
from ambient_flow.protocol.constants import AUDIO_SAMPLE_RATE as SAMPLE_RATE

if TYPE_CHECKING:
    import torch

__all__ = ["DiartDiarizer", "DiartOptions", "DiartStream"]


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
        self._cursor = StepCursor()
        self.clustering: Any = None
        self.pred_buffer: list[Any] = []
        self.last_window_start: int | None = None
        self.last_span_end: int | None = None

    def step(
        self,
        window: Audio,
        window_start_sample: int,
        speech: Mask | None = None,
        blocks: SpeechBlocks | None = None,
    ) -> DiarizationStep:
        """Diarize one window of this client (see `StepRequest`; diart follows its own
        segmentation, not the VAD's flags)."""
        request = StepRequest(self, window, window_start_sample, speech, blocks)
        return self._owner.step_many([request])[0]


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


class DiartDiarizer(LazyModel[_DiartBlocks]):
    """diart's online speaker diarization on the user's local pyannote checkpoints.

    The segmentation and embedding models run once per `step_many` call for all streams;
    each stream keeps its own `OnlineSpeakerClustering` and prediction buffer, exactly the
    state `diart.SpeakerDiarization` keeps for one stream. Segments cover the decided
    span `[end - latency, end - latency + step)` of each window, in stream samples.
    Confidence of a segment: the mean aggregated speaker activity over it.
    """

    describes = "diart pipeline"

    def __init__(self, options: DiartOptions) -> None:
        super().__init__()
        self.options = options

    def _load(self) -> tuple[_DiartBlocks, ModelIdentity]:
        """Load both checkpoints from their local paths (never a hub name)."""
        opts = self.options
        seg_path, emb_path = Path(opts.segmentation), Path(opts.embedding)
        require_file(seg_path, "segmentation checkpoint")
        require_file(emb_path, "embedding checkpoint")
        digests = {"segmentation": sha256_file(seg_path), "embedding": sha256_file(emb_path)}
        with offline_environment(None), torch_threads(opts.threads):
            segmentation = self._load_model(seg_path, "segmentation")
            embedding = self._load_model(emb_path, "embedding")
            blocks = self._build_blocks(segmentation, embedding)
        identity = ModelIdentity(
            kind="diarization",
            name="diart",
            path=f"{seg_path}|{emb_path}",
            sha256=digests,
            options=opts.to_dict(),
        )
        return blocks, identity

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
        blocks = self.loaded
        if not requests:
            return []
        if any(r.last for r in requests):  # diart corrects nothing afterwards: empty steps
            steps = iter(self.step_many([r for r in requests if not r.last]))
            return [self._closing(r) if r.last else next(steps) for r in requests]
        import torch
        from pyannote.core import SlidingWindow, SlidingWindowFeature

        opts = self.options
        n_window = round(opts.window_s * SAMPLE_RATE)
        padded: list[Audio] = []
        starts: list[int] = []
        for r in requests:
            if not isinstance(r.stream, DiartStream) or r.stream._owner is not self:
                raise ValueError("stream was not made by this diarizer's new_stream()")
            window = check_window(r.window, n_window)
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

    def _closing(self, request: StepRequest) -> DiarizationStep:
        stream = request.stream
        if not isinstance(stream, DiartStream) or stream._owner is not self:
            raise ValueError("stream was not made by this diarizer's new_stream()")
        at = stream._cursor.closing_at(int(request.window_start_sample))
        return DiarizationStep.closing(at, tuple(stream._cursor.labels.values()))

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
