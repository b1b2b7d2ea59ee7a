"""The model stage: each client's work items go to their models off the worker thread,
and come back, typed, in the order they went in.

Per client, items are submitted as they arrive (so transcription, diarization and
detection of one client overlap) and emitted strictly in input order once done
(`operators.offload`), so the join after this step sees the same sequence on every run
(principle 1). Many clients' diarization windows or video frames meet in a
`MicroBatcher` and share one model call.

Falling behind, live: a client's diarization windows beyond `max_pending` unfinished
are dropped (counted `diarization_behind`); of its video frames only the newest waits
while one is being detected (counted `detection_superseded`); utterances are never
dropped. In a replay nothing is dropped: the file waits for the models, so the output
is complete and the same every time.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from ambient_flow.models.bundle import Models
from ambient_flow.models.detection import Detection, Detector
from ambient_flow.models.diarization import DiarizationStep, DiarizationStream, StepRequest
from ambient_flow.models.transcription import Transcriber, Transcript
from ambient_flow.operators.batching import MicroBatcher
from ambient_flow.operators.events import ClientEvent
from ambient_flow.operators.offload import Lane, OffloadLogic, Submit
from ambient_flow.operators.speech import (
    AnalysisItem,
    DiarizationWindow,
    PlacedVideoFrame,
    UtteranceAudio,
)
from ambient_flow.protocol.constants import AUDIO_SAMPLE_RATE
from ambient_flow.runtime import HostRuntime

__all__ = [
    "Detected",
    "Diarized",
    "ModelResult",
    "ModelStageLogic",
    "ModelStageOptions",
    "Passed",
    "Transcribed",
    "model_stage_builder",
]


@dataclass(frozen=True, slots=True)
class Transcribed:
    """An utterance and its transcript."""

    item: UtteranceAudio
    transcript: Transcript


@dataclass(frozen=True, slots=True)
class Diarized:
    """A diarization window and the step the diarizer decided for it."""

    item: DiarizationWindow
    step: DiarizationStep


@dataclass(frozen=True, slots=True)
class Detected:
    """A placed video frame and what the detector found in it."""

    item: PlacedVideoFrame
    detections: tuple[Detection, ...]


@dataclass(frozen=True, slots=True)
class Passed:
    """A session event, passed through in order."""

    item: ClientEvent


ModelResult = Transcribed | Diarized | Detected | Passed


@dataclass(frozen=True)
class ModelStageOptions:
    live: bool = True
    max_pending: int = 64
    poll_interval: float = 0.005
    step_s: float = 0.5  # audio one diarization window adds
    #: Most clients' diarization steps per model call (1: no cross-client batching).
    batch_max: int = 32


class ModelStageLogic(OffloadLogic[AnalysisItem, ModelResult]):
    """Per-client ordered, pipelined model calls (one per client session)."""


class _Stage:
    """The three lanes of one process, sharing its models, pool and batchers."""

    def __init__(self, models: Models, runtime: HostRuntime, options: ModelStageOptions) -> None:
        self._runtime = runtime
        self._opt = options
        telemetry = runtime.telemetry
        pool = runtime.executor("transcription", 1)
        diarize = MicroBatcher(
            models.diarizer.step_many,
            max_batch=options.batch_max,
            max_wait=0.005,
            name="diarization",
            on_call=lambda busy, n: telemetry.busy("diarization", busy, 1),
        )
        runtime.on_close(diarize.close)
        self.lanes: dict[type, Lane[Any, ModelResult]] = {
            UtteranceAudio: Lane(
                "transcription",
                lambda: _transcribe(models.transcriber, pool, runtime),
                on_done=self._measure("transcription"),
            ),
            DiarizationWindow: Lane(
                "diarization",
                lambda: _diarize(models.diarizer.new_stream(), diarize),
                policy="bounded" if options.live else "keep",
                max_pending=options.max_pending,
                on_done=self._measure("diarization"),
            ),
        }
        if models.detector is not None:
            # Small batches: on a few CPU cores a batch of five 640x480 frames is one 0.8 s
            # call that competes with Whisper (measured by `python -m bench.enrich`).
            detector: Detector = models.detector
            detect: MicroBatcher[PlacedVideoFrame, tuple[Detection, ...]] = MicroBatcher(
                lambda items: _detect_many(detector, items),
                max_batch=min(2, options.batch_max),
                max_wait=0.005,
                name="detection",
                on_call=lambda busy, n: telemetry.busy("detection", busy, 1),
            )
            runtime.on_close(detect.close)
            self.lanes[PlacedVideoFrame] = Lane(
                "detection",
                lambda: _detect(detect),
                policy="latest" if options.live else "keep",
                on_done=self._measure("detection"),
            )

    def route(self, item: AnalysisItem) -> Lane[Any, ModelResult] | None:
        return self.lanes.get(type(item))

    def _measure(self, stage: str) -> Callable[[Any, float], None]:
        """Latency from the data being ready to its result, and the audio it covered.

        Live, "ready" is the arrival of the chunk that completed the item (speaker label
        latency = window's last chunk -> label). In a replay arrival times are from the
        recording, so the latency is measured from submission instead.
        """

        def done(item: Any, submitted: float) -> None:
            ready_ns, audio_s = _readiness(item, self._opt.step_s)
            if self._opt.live:
                latency = time.time() - ready_ns / 1e9
            else:
                latency = time.monotonic() - submitted
            self._runtime.telemetry.stage(stage, latency, audio_s)

        return done


def _readiness(item: Any, step_s: float) -> tuple[int, float]:
    """(arrival ns of the data that completed `item`, seconds of audio it covers)."""
    if isinstance(item, DiarizationWindow):
        return item.received_ns, step_s
    if isinstance(item, PlacedVideoFrame):
        return item.frame.received_ns, 0.0
    if isinstance(item, UtteranceAudio):
        return item.ended_ns, item.duration_s
    raise TypeError(f"no stage measures {type(item).__name__}")


def _transcribe(
    transcriber: Transcriber, pool: ThreadPoolExecutor, runtime: HostRuntime
) -> Submit[UtteranceAudio, ModelResult]:
    def run(item: UtteranceAudio) -> ModelResult:
        started = time.perf_counter()
        try:
            transcript = transcriber.transcribe(
                item.samples, offset_s=item.start_sample / AUDIO_SAMPLE_RATE
            )
        finally:
            runtime.telemetry.busy("transcription", time.perf_counter() - started)
        return Transcribed(item, transcript)

    return lambda item: pool.submit(run, item)


def _diarize(
    stream: DiarizationStream, batcher: MicroBatcher[StepRequest, DiarizationStep]
) -> Submit[DiarizationWindow, ModelResult]:
    def submit(item: DiarizationWindow) -> Future[ModelResult | None]:
        request = StepRequest(stream, item.samples, item.start_sample, item.speech)
        return _then(batcher.submit(request), lambda step: Diarized(item, step))

    return submit


def _detect_many(detector: Detector, items: Sequence[PlacedVideoFrame]) -> list[Any]:
    return list(detector.detect([p.frame.image() for p in items]))


def _detect(
    batcher: MicroBatcher[PlacedVideoFrame, tuple[Detection, ...]],
) -> Submit[PlacedVideoFrame, ModelResult]:
    def submit(item: PlacedVideoFrame) -> Future[ModelResult | None]:
        return _then(batcher.submit(item), lambda found: Detected(item, tuple(found)))

    return submit


def _then(future: Future[Any], wrap: Callable[[Any], ModelResult]) -> Future[ModelResult | None]:
    """A future of `wrap(result)`: the batcher's result typed for the stage's output."""
    out: Future[ModelResult | None] = Future()

    def relay(done: Future[Any]) -> None:
        exc = done.exception()
        if exc is not None:
            out.set_exception(exc)
        else:
            out.set_result(wrap(done.result()))

    future.add_done_callback(relay)
    return out


def model_stage_builder(
    models: Models, runtime: HostRuntime, options: ModelStageOptions
) -> Callable[[Any], ModelStageLogic]:
    """Builder for `op.stateful`: lanes (pools and batchers) are made once, on first use."""
    stages: list[_Stage] = []
    lock = threading.Lock()  # workers are threads of one process: one stage for all

    def build(_state: Any) -> ModelStageLogic:
        with lock:
            if not stages:
                stages.append(_Stage(models, runtime, options))
            stage = stages[0]
        return ModelStageLogic(
            stage.route,
            runtime,
            poll_interval=options.poll_interval,
            passthrough=_passthrough,
            boundary=_is_session_start,
            last=_is_session_end,
            queue_name="models",
        )

    return build


def _passthrough(item: AnalysisItem) -> ModelResult | None:
    # Events pass through in order; video frames only pass here when detection is off
    # (`--detector none`): nothing looks at them, so nothing is emitted.
    return Passed(item) if isinstance(item, ClientEvent) else None


def _is_session_start(item: AnalysisItem) -> bool:
    return isinstance(item, ClientEvent) and item.kind == "session_start"


def _is_session_end(item: AnalysisItem) -> bool:
    return isinstance(item, ClientEvent) and item.kind == "session_end"
