"""The enrichment graph: ingest's per-client items -> speech analysis -> models -> frames.

```
items (audio, video, events) --> speech (VAD, utterances, diarization windows, placed frames)
  --> models (transcription on a pool; diarization and detection batched across clients;
      results back in order per client) --> attribution (frames) --> frames.jsonl, PUB
```
Models are built from settings when the first worker needs them, never at import.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import bytewax.operators as op
from bytewax.dataflow import Stream

from ambient_flow.config import Settings
from ambient_flow.operators.attribution import AttributionLogic, Frame
from ambient_flow.operators.batching import MicroBatcher
from ambient_flow.operators.ingest import IngestItem
from ambient_flow.operators.models import Done, Handler, ModelStageOptions, model_stage_builder
from ambient_flow.operators.segmenter import SegmenterOptions
from ambient_flow.operators.speech import (
    AnalysisInput,
    AnalysisOptions,
    DiarizationWindow,
    PlacedFrame,
    UtteranceAudio,
    analysis_builder,
)
from ambient_flow.protocol.messages import Rejected
from ambient_flow.sinks.frames import FramePublisher, FramesSink
from ambient_flow.sources.runtime import HostRuntime
from ambient_flow.sources.start import StartSignalSource
from flows.ingest import IngestStreams

__all__ = [
    "EnrichStreams",
    "Models",
    "build_enrichment",
    "check_installed",
    "models_from_settings",
]

SR = 16000


@dataclass
class Models:
    """The loaded backends one process shares between all clients."""

    vad: Any
    transcriber: Any
    diarizer: Any
    detector: Any | None

    def identities(self) -> dict[str, Any]:
        """What was loaded (path, sha256, options), for session metadata and status."""
        return {
            role: model.identity.to_dict()
            for role, model in (
                ("vad", self.vad),
                ("transcriber", self.transcriber),
                ("diarizer", self.diarizer),
                ("detector", self.detector),
            )
            if model is not None
        }


def models_from_settings(settings: Settings) -> Models:
    """Build (and load, so that a bad path fails now, clearly) the configured backends."""
    from ambient_flow.backends import detect, diarize, offline_environment, transcribe, vad

    offline_environment(Path(settings.data_dir) / ".cache" / "ultralytics")  # never a hub
    threads = settings.model_threads
    speech: Any = (
        vad.SileroVad(vad.SileroVadOptions(threads=threads))
        if settings.vad == "silero"
        else vad.EnergyVad()
    )
    language = settings.language or None
    transcriber: Any
    if settings.transcriber == "faster-whisper":
        transcriber = transcribe.FasterWhisperTranscriber(
            transcribe.FasterWhisperOptions(
                model_path=Path(settings.whisper_model) if settings.whisper_model else None,
                language=language,
                beam_size=settings.beam_size,
                compute_type=settings.compute_type,
                cpu_threads=settings.whisper_threads,
            )
        )
    else:
        if not settings.whisper_model:
            raise_config("openai-whisper needs --whisper-model (a local .pt checkpoint)")
        transcriber = transcribe.OpenAIWhisperTranscriber(
            transcribe.OpenAIWhisperOptions(
                model_path=Path(settings.whisper_model),
                language=language,
                beam_size=settings.beam_size,
                threads=settings.whisper_threads,
            )
        )
    known = settings.num_speakers or None
    # 0 keeps each diarizer's own default latency (the embedded one decides 1 s behind).
    latency = settings.diarization_latency
    diarizer: Any
    if settings.diarizer == "embedded":
        from ambient_flow.backends.cluster import ClusterOptions

        cluster = ClusterOptions(max_speakers=settings.max_speakers, num_speakers=known)
        if settings.cluster_threshold:
            cluster = dataclasses.replace(cluster, threshold=settings.cluster_threshold)
        embedded = diarize.EmbeddedDiarizerOptions(
            window_s=settings.diarization_window,
            step_s=settings.diarization_step,
            cluster=cluster,
            threads=threads,
        )
        if latency:
            embedded = dataclasses.replace(embedded, latency_s=latency)
        diarizer = diarize.EmbeddedDiarizer(embedded)
    else:
        if not (settings.segmentation_model and settings.embedding_model):
            raise_config("diart needs --segmentation-model and --embedding-model (local files)")
        diart_options = diarize.DiartOptions(
            segmentation=Path(settings.segmentation_model),
            embedding=Path(settings.embedding_model),
            window_s=settings.diarization_window,
            step_s=settings.diarization_step,
            max_speakers=settings.max_speakers,
            threads=threads,
        )
        if latency:
            diart_options = dataclasses.replace(diart_options, latency_s=latency)
        diarizer = diarize.DiartDiarizer(diart_options)
    detector: Any | None = None
    if settings.detector == "opencv":
        detector = detect.OpenCVDetector(
            detect.OpenCVDetectorOptions(
                confidence=settings.detect_confidence,
                max_side=settings.detect_size,
                threads=threads,
            )
        )
    elif settings.detector == "yolo":
        if not settings.yolo_model:
            raise_config("the yolo detector needs --yolo-model (a local .pt file)")
        detector = detect.YoloDetector(
            detect.YoloOptions(
                weights=Path(settings.yolo_model),
                confidence=settings.detect_confidence,
                imgsz=settings.detect_size,
                threads=max(1, threads),
            )
        )
    for model in (speech, transcriber, diarizer, detector):
        if model is not None:
            model.load()
    return Models(speech, transcriber, diarizer, detector)


def raise_config(message: str) -> None:
    from ambient_flow.errors import ConfigError

    raise ConfigError(message)


class _Transcribe:
    name = "transcription"

    def __init__(self, transcriber: Any, pool: ThreadPoolExecutor, runtime: HostRuntime) -> None:
        self._transcriber = transcriber
        self._pool = pool
        self._telemetry = runtime.telemetry

    def new_context(self) -> None:
        return None

    def submit(self, context: Any, item: UtteranceAudio) -> Future[Any]:
        return self._pool.submit(self._run, item)

    def _run(self, item: UtteranceAudio) -> Any:
        started = time.perf_counter()
        try:
            return self._transcriber.transcribe(item.samples, offset_s=item.start_sample / SR)
        finally:
            self._telemetry.busy(self.name, time.perf_counter() - started)


class _Diarize:
    name = "diarization"

    def __init__(self, diarizer: Any, runtime: HostRuntime) -> None:
        from ambient_flow.backends.diarize import StepRequest

        self._diarizer = diarizer
        self._request = StepRequest
        self._batcher: MicroBatcher[Any, Any] = MicroBatcher(
            diarizer.step_many,
            max_batch=runtime.settings.batch_max,
            max_wait=0.005,
            name="diarization",
            on_call=lambda busy, n: runtime.telemetry.busy(self.name, busy, 1),
        )
        runtime.on_close(self._batcher.close)

    def new_context(self) -> Any:
        return self._diarizer.new_stream()

    def submit(self, stream: Any, item: DiarizationWindow) -> Future[Any]:
        return self._batcher.submit(
            self._request(stream, item.samples, item.start_sample, item.speech)
        )


class _Detect:
    name = "detection"

    def __init__(self, detector: Any, runtime: HostRuntime) -> None:
        self._detector = detector
        self._batcher: MicroBatcher[PlacedFrame, Any] = MicroBatcher(
            self._detect_many,
            # Small batches: on a few CPU cores a batch of five 640x480 frames is one 0.8 s
            # call that competes with Whisper (measured in bench/enrich.py).
            max_batch=min(2, runtime.settings.batch_max),
            max_wait=0.005,
            name="detection",
            on_call=lambda busy, n: runtime.telemetry.busy(self.name, busy, 1),
        )
        runtime.on_close(self._batcher.close)

    def _detect_many(self, items: Sequence[PlacedFrame]) -> list[Any]:
        results: list[Any] = self._detector.detect([p.frame.image() for p in items])
        return results

    def new_context(self) -> None:
        return None

    def submit(self, context: Any, item: PlacedFrame) -> Future[Any]:
        return self._batcher.submit(item)


def _analysis_input(item: IngestItem) -> AnalysisInput | None:
    return None if isinstance(item, Rejected) else item


@dataclass(frozen=True)
class EnrichStreams:
    """The model results (in order per client) and the frames made from them."""

    done: Stream[tuple[str, Done[Any]]]
    frames: Stream[tuple[str, Frame]]


def check_installed(settings: Settings) -> None:
    """Fail at flow construction, in one clear line, when the model stack is missing."""
    import importlib.util

    needed = ["onnxruntime", "numpy"] if settings.vad == "silero" else ["numpy"]
    needed += ["faster_whisper"] if settings.transcriber == "faster-whisper" else ["whisper"]
    needed += ["resemblyzer", "torch"] if settings.diarizer == "embedded" else ["diart"]
    if settings.detector == "yolo":
        needed.append("ultralytics")
    missing = [name for name in needed if importlib.util.find_spec(name) is None]
    if missing:
        from ambient_flow.errors import ConfigError

        raise ConfigError(
            f"the enrichment needs {', '.join(missing)} (the [audio] extra; see the README's "
            "install command), or turn it off with --no-enrich / AMBIENT_FLOW_ENRICH=0"
        )


def build_enrichment(
    runtime: HostRuntime, streams: IngestStreams, models: Models | None = None
) -> EnrichStreams:
    """Attach the enrichment to ingest's streams."""
    settings = runtime.settings
    if models is None:
        check_installed(settings)
    made: list[Models] = [models] if models is not None else []

    def loaded() -> Models:
        if not made:
            made.append(models_from_settings(settings))
            runtime.telemetry.section("models", made[0].identities())
        return made[0]

    segmenter = SegmenterOptions(
        threshold=settings.vad_threshold,
        neg_threshold=min(settings.vad_threshold, max(0.01, settings.vad_threshold - 0.15)),
        min_speech_s=settings.min_speech,
        min_silence_s=settings.min_silence,
        pre_roll_s=settings.pre_roll,
        max_utterance_s=settings.max_utterance,
    )
    analysis = AnalysisOptions(
        segmenter=segmenter,
        window_s=settings.diarization_window,
        step_s=settings.diarization_step,
    )
    items: Stream[tuple[str, AnalysisInput]] = op.filter_map_value(
        "enrich_in", streams.items, _analysis_input
    )
    analysed = op.stateful("speech", items, analysis_builder(lambda: loaded().vad, analysis))

    def handlers() -> dict[type, Handler]:
        m = loaded()
        pool = runtime.executor("transcription", 1)
        table: dict[type, Handler] = {
            UtteranceAudio: _Transcribe(m.transcriber, pool, runtime),
            DiarizationWindow: _Diarize(m.diarizer, runtime),
        }
        if m.detector is not None:
            table[PlacedFrame] = _Detect(m.detector, runtime)
        return table

    stage = ModelStageOptions(live=not runtime.replay, step_s=settings.diarization_step)
    done: Stream[tuple[str, Done[Any]]] = op.stateful(
        "models", analysed, model_stage_builder(handlers, runtime, stage)
    )
    frames: Stream[tuple[str, Frame]] = op.stateful(
        "attribution", done, lambda _state: AttributionLogic()
    )
    op.output("frames", frames, FramesSink(settings.data_dir, lambda: loaded().identities()))
    if settings.pub_port and not runtime.replay:
        endpoint = settings.endpoint(settings.pub_port)
        # One item at start-up builds the PUB sink, so subscribers can connect at once.
        started = op.input("pub_start", frames.flow(), StartSignalSource(runtime))
        to_publish = op.merge("pub_items", op.map("pub_key", frames, lambda kv: kv[1]), started)
        op.output(
            "publish",
            op.key_on("pub_route", to_publish, lambda _item: "pub"),
            FramePublisher(runtime, endpoint),
        )
    return EnrichStreams(done=done, frames=frames)
