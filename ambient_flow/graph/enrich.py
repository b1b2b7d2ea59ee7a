"""The enrichment graph: ingest's per-client items -> speech -> speakers -> utterances -> text.

```
items (audio, video, events) --> speech (level-normalised VAD, diarization windows, placed frames)
  --> models (diarization and detection, batched across clients; in order per client)
  --> utterances (turn-aware segmenter: silence, speaker change, maximum length)
  --> transcription (Whisper on a pool; in order per client, speaker labels not held up live)
  --> attribution (words to speakers, relabels, speaker changes) --> frames.jsonl, PUB
```
The segmenter runs after the diarizer because utterances end where turns end and the
diarizer says where they do (a Bytewax graph has no cycles).
The models are built and loaded from the settings (`backends.registry`) when the graph
is built — before any port takes traffic — unless the caller hands loaded ones in
(tests use the fakes of `ambient_flow.testing.fakes`).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import bytewax.operators as op
from bytewax.dataflow import Stream

from ambient_flow.backends.registry import build_models
from ambient_flow.graph.ingest import IngestStreams
from ambient_flow.models.bundle import Models
from ambient_flow.operators.attribution import (
    AttributionLogic,
    AttributionOutput,
    Enrichment,
    SessionBoundary,
)
from ambient_flow.operators.ingest import IngestItem
from ambient_flow.operators.levels import LevelOptions
from ambient_flow.operators.model_stage import (
    ModelResult,
    ModelStageOptions,
    SpeakerResult,
    model_stage_builder,
    transcription_stage_builder,
)
from ambient_flow.operators.segmenter import SegmenterOptions
from ambient_flow.operators.speech import (
    AnalysisInput,
    AnalysisItem,
    AnalysisOptions,
    analysis_builder,
)
from ambient_flow.operators.utterances import UtteranceItem, utterance_builder
from ambient_flow.protocol.messages import Rejected
from ambient_flow.runtime import HostRuntime
from ambient_flow.sinks.enrichment import EnrichmentSink
from ambient_flow.sinks.publish import EnrichmentPublisher
from ambient_flow.sources.start import StartSignalSource

__all__ = ["EnrichStreams", "build_enrichment"]


@dataclass(frozen=True)
class EnrichStreams:
    """The model results (in order per client), the enrichments made from them, and the
    sessions' boundaries (which tell the session sink each session's `frame_count`)."""

    results: Stream[tuple[str, ModelResult]]
    enrichments: Stream[tuple[str, Enrichment]]
    boundaries: Stream[tuple[str, SessionBoundary]]


def _analysis_input(item: IngestItem) -> AnalysisInput | None:
    return None if isinstance(item, Rejected) else item


def build_enrichment(
    runtime: HostRuntime, ingest: IngestStreams, models: Models | None = None
) -> EnrichStreams:
    """Attach the enrichment to ingest's streams; builds and loads the models if not given."""
    settings = runtime.settings
    if models is None:
        models = build_models(settings)
    identities = models.identities()
    runtime.telemetry.section("models", identities)
    segmenter = SegmenterOptions(
        threshold=settings.vad_threshold,
        neg_threshold=settings.vad_neg_threshold,
        min_speech_s=settings.min_speech,
        min_silence_s=settings.min_silence,
        pre_roll_s=settings.pre_roll,
        max_utterance_s=settings.max_utterance,
        split_window_s=min(2.0, 0.4 * settings.max_utterance),
        speaker_change_cuts=settings.speaker_change_cuts,
    )
    analysis = AnalysisOptions(
        threshold=settings.vad_threshold,
        neg_threshold=settings.vad_neg_threshold,
        # an energy VAD is its own level meter: normalising its input would make noise loud
        level=LevelOptions()
        if settings.level_normalize and not models.vad.measures_loudness
        else None,
        window_s=settings.diarization_window,
        step_s=settings.diarization_step,
        detect_interval_s=1.0 / settings.detect_fps
        if settings.detect_fps and models.detector is not None
        else 0.0,
    )
    items: Stream[tuple[str, AnalysisInput]] = op.filter_map_value(
        "enrich_in", ingest.items, _analysis_input
    )
    analysed: Stream[tuple[str, AnalysisItem]] = op.stateful(
        "speech",
        items,
        analysis_builder(
            models.vad,
            analysis,
            runtime.telemetry.speech,
            partial(runtime.telemetry.skipped, "detection"),
        ),
    )
    stage = ModelStageOptions(
        live=not runtime.replay,
        step_s=settings.diarization_step,
        batch_max=settings.batch_max,
        prompt_same_speaker=settings.prompt == "same_speaker",
        transcription_workers=settings.whisper_workers,
    )
    heard: Stream[tuple[str, SpeakerResult]] = op.stateful(
        "models", analysed, model_stage_builder(models, runtime, stage)
    )
    utterances: Stream[tuple[str, UtteranceItem]] = op.stateful(
        "utterances", heard, utterance_builder(segmenter, settings.context_seconds)
    )
    results: Stream[tuple[str, ModelResult]] = op.stateful(
        "transcription", utterances, transcription_stage_builder(models, runtime, stage)
    )
    outputs: Stream[tuple[str, AttributionOutput]] = op.stateful(
        "attribution", results, lambda _state: AttributionLogic()
    )
    op.output("frames", outputs, EnrichmentSink(settings.data_dir, lambda: identities))
    enrichments = op.filter_map_value("enrichments", outputs, _only_enrichment)
    boundaries = op.filter_map_value("boundaries", outputs, _only_boundary)
    if settings.pub_port and not runtime.replay:
        endpoint = settings.endpoint(settings.pub_port)
        # One item at start-up builds the PUB sink, so subscribers can connect at once.
        started = op.input("pub_start", enrichments.flow(), StartSignalSource(runtime))
        to_publish = op.merge(
            "pub_items", op.map("pub_key", enrichments, lambda kv: kv[1]), started
        )
        op.output(
            "publish",
            op.key_on("pub_route", to_publish, lambda _item: "pub"),
            EnrichmentPublisher(runtime, endpoint),
        )
    return EnrichStreams(results=results, enrichments=enrichments, boundaries=boundaries)


def _only_enrichment(item: AttributionOutput) -> Enrichment | None:
    return item if isinstance(item, Enrichment) else None


def _only_boundary(item: AttributionOutput) -> SessionBoundary | None:
    return item if isinstance(item, SessionBoundary) else None
