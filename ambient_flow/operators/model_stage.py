"""The model stages: each client's work items go to their models off the worker thread,
and come back, typed, in the order they went in.

Two stages, one engine (`operators.offload`):

- `model_stage_builder` ("models"): diarization windows and video frames, batched across
  clients in `MicroBatcher`s; the VAD's chunks and session events pass through in order;
- `transcription_stage_builder` ("transcription", after `operators.utterances`): each
  utterance on the transcription pool; everything else passes through.

Per client, items are submitted as they arrive (so one client's models overlap) and
emitted in input order once done, so the join after them sees the same sequence on every
run (principle 1). One exception, live only: a speaker label must not wait behind a
transcription (seconds) to be seen, so in the live transcription stage diarization and
detection results overtake unfinished transcriptions (`Lane.hold=False`); session
events never overtake anything. A replay keeps the strict order, so its output is the
same every time.

Falling behind, live: a client's diarization windows beyond `max_pending` unfinished
are dropped (counted `diarization_behind`); of its video frames only the newest waits
while one is being detected (counted `detection_superseded`); utterances are never
dropped. In a replay nothing is dropped: the file waits for the models.
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
    SpeechChunk,
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
    "SpeakerResult",
    "Transcribed",
    "model_stage_builder",
    "transcription_stage_builder",
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
#: What the first stage emits: results, and the VAD's chunks on their way to the segmenter.
SpeakerResult = SpeechChunk | Diarized | Detected | Passed


@dataclass(frozen=True)
class ModelStageOptions:
    live: bool = True
    max_pending: int = 64
    poll_interval: float = 0.005
    step_s: float = 0.5  # audio one diarization window adds
    #: Most clients' diarization steps per model call (1: no cross-client batching).
    batch_max: int = 32
    #: Offer each utterance the same speaker's previous text as Whisper's prompt.
    prompt_same_speaker: bool = False
    #: Utterances transcribed at once (the transcriber must be safe to call that often).
    transcription_workers: int = 1


class ModelStageLogic(OffloadLogic[Any, Any]):
    """Per-client ordered, pipelined model calls (one per client session)."""


class _Stage:
    """The lanes of one process, sharing its models, pool and batchers."""

    def __init__(
        self, models: Models, runtime: HostRuntime, options: ModelStageOptions, which: str
    ) -> None:
        self._runtime = runtime
        self._opt = options
        self.lanes: dict[type, Lane[Any, Any]] = {}
        if which == "transcription":
            pool = runtime.executor("transcription", options.transcription_workers)
            self.lanes[UtteranceAudio] = Lane(
                "transcription",
                lambda: _transcribe(models.transcriber, pool, runtime, options.prompt_same_speaker),
                on_done=self._measure("transcription"),
                hold=not options.live,
            )
            return
        telemetry = runtime.telemetry
        diarize = MicroBatcher(
            models.diarizer.step_many,
            max_batch=options.batch_max,
            max_wait=0.005,
            name="diarization",
            on_call=lambda busy, n: telemetry.busy("diarization", busy, 1),
        )
        runtime.on_close(diarize.close)
        self.lanes[DiarizationWindow] = Lane(
            "diarization",
            lambda: _diarize(models.diarizer.new_stream(), diarize),
            policy="bounded" if options.live else "keep",
            max_pending=options.max_pending,
            on_done=self._measure("diarization"),
        )
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

    def route(self, item: Any) -> Lane[Any, Any] | None:
        return self.lanes.get(type(item))

    def _measure(self, stage: str) -> Callable[[Any, float], None]:
        """Latency from the data being ready to its result, and the audio it covered.

        Live, "ready" is the arrival of the chunk that completed the item (speaker label
        latency = window's last chunk -> label). In a replay arrival times are from the
        recording, so the latency is measured from submission instead.
        """

        def done(item: Any, submitted: float) -> None:
            if isinstance(item, DiarizationWindow) and item.last:
                # A session's closing step labels nothing, and is due only once the session
                # ended (live: a stale timeout after its last chunk): not a label's latency.
                return
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
    transcriber: Transcriber, pool: ThreadPoolExecutor, runtime: HostRuntime, prompt: bool
) -> Submit[UtteranceAudio, ModelResult]:
    """One client's transcriptions; with `prompt`, each waits for the one before it and is
    offered the text its speaker said last (within 10 s), else none."""
    book: dict[str, tuple[int, str]] = {}  # speaker -> (end sample, text)
    previous: list[Future[ModelResult | None]] = []

    def run(item: UtteranceAudio, before: Future[ModelResult | None] | None) -> ModelResult:
        if before is not None:
            before.exception()  # wait: the prompt is the text decoded before this one
        text = None
        if prompt and item.speaker in book:
            end, said = book[item.speaker]
            if item.start_sample - end <= _PROMPT_GAP_S * AUDIO_SAMPLE_RATE:
                text = said[-_PROMPT_CHARS:].lstrip() or None
        started = time.perf_counter()
        try:
            transcript = transcriber.transcribe(
                item.samples,
                offset_s=item.start_sample / AUDIO_SAMPLE_RATE,
                prompt=text,
                context=item.context if item.context.size else None,
            )
        finally:
            runtime.telemetry.busy("transcription", time.perf_counter() - started)
        if prompt and item.speaker is not None and transcript.text.strip():
            book[item.speaker] = (item.end_sample, transcript.text.strip())
        return Transcribed(item, transcript)

    def submit(item: UtteranceAudio) -> Future[ModelResult | None]:
        before = previous[0] if previous and prompt else None
        future: Future[ModelResult | None] = pool.submit(run, item, before)
        previous[:] = [future]
        return future

    return submit


#: The same speaker's previous text is a prompt only this close (s), and this long at most.
_PROMPT_GAP_S = 10.0
_PROMPT_CHARS = 200


def _diarize(
    stream: DiarizationStream, batcher: MicroBatcher[StepRequest, DiarizationStep]
) -> Submit[DiarizationWindow, ModelResult]:
    def submit(item: DiarizationWindow) -> Future[ModelResult | None]:
        # The window's own flags, not the VAD's blocks (`item.blocks`): the embedded
        # default then follows speech on its own block grid, and its thresholds were
        # chosen that way. Handing it the VAD's blocks was measured worse (2026-12-02,
        # `bench.speech --quick`: DER dev 0.227 -> 0.247, held-out 0.155 -> 0.164, the
        # call at 8 offsets 0.195 -> 0.228 with 3 speakers found at 3 of them).
        request = StepRequest(stream, item.samples, item.start_sample, item.speech, last=item.last)
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
    """Builder of the "models" step: diarization and detection (lanes made once, on first use)."""
    return _builder(models, runtime, options, "speakers", _passthrough_speakers)


def transcription_stage_builder(
    models: Models, runtime: HostRuntime, options: ModelStageOptions
) -> Callable[[Any], ModelStageLogic]:
    """Builder of the "transcription" step: each utterance on the transcription pool."""
    return _builder(models, runtime, options, "transcription", _passthrough_results)


def _builder(
    models: Models,
    runtime: HostRuntime,
    options: ModelStageOptions,
    which: str,
    passthrough: Callable[[Any], Any],
) -> Callable[[Any], ModelStageLogic]:
    stages: list[_Stage] = []
    lock = threading.Lock()  # workers are threads of one process: one stage for all

    def build(_state: Any) -> ModelStageLogic:
        with lock:
            if not stages:
                stages.append(_Stage(models, runtime, options, which))
            stage = stages[0]
        return ModelStageLogic(
            stage.route,
            runtime,
            poll_interval=options.poll_interval,
            passthrough=passthrough,
            boundary=_is_session_start,
            last=_is_session_end,
            queue_name="models" if which == "speakers" else "transcription",
            may_overtake=_not_an_event,
        )

    return build


def _passthrough_speakers(item: AnalysisItem) -> SpeakerResult | None:
    # Events pass through in order; video frames only pass here when detection is off
    # (`--detector none`): nothing looks at them, so nothing is emitted.
    if isinstance(item, ClientEvent):
        return Passed(item)
    return item if isinstance(item, SpeechChunk) else None


def _passthrough_results(item: Any) -> Any:
    return item


def _not_an_event(item: Any) -> bool:
    return not isinstance(item, Passed | ClientEvent)


def _is_session_start(item: Any) -> bool:
    event = item.item if isinstance(item, Passed) else item
    return isinstance(event, ClientEvent) and event.kind == "session_start"


def _is_session_end(item: Any) -> bool:
    event = item.item if isinstance(item, Passed) else item
    return isinstance(event, ClientEvent) and event.kind == "session_end"
