"""The model stages: what a diarization window hands the diarizer; the transcription
stage's prompt policy (`--prompt same_speaker`) and its pool."""

from __future__ import annotations

import threading
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import numpy as np
import numpy.typing as npt

from ambient_flow.models.bundle import Models
from ambient_flow.models.diarization import SpeechBlocks, StepRequest
from ambient_flow.models.transcription import Transcript
from ambient_flow.operators.model_stage import (
    Diarized,
    ModelStageOptions,
    _diarize,
    _Stage,
    _transcribe,
)
from ambient_flow.operators.speech import DiarizationWindow, UtteranceAudio
from ambient_flow.runtime import HostRuntime
from ambient_flow.testing.fakes import EnergyVad, ScriptedDiarizer, ScriptedTranscriber

SR = 16000


def test_a_diarization_window_hands_the_diarizer_its_own_flags_not_the_vads_blocks() -> None:
    # A measured choice (see `_diarize`): the embedded default follows the window's flags
    # on its own grid; with the VAD's blocks it diarized worse on every set.
    diarizer = ScriptedDiarizer([(0.0, 2.0, "a")])
    stream = diarizer.new_stream()
    seen: list[StepRequest] = []

    class Batcher:
        def submit(self, request: StepRequest) -> Future[Any]:
            seen.append(request)
            done: Future[Any] = Future()
            done.set_result(diarizer.step_many([request])[0])
            return done

    n = 31
    start = 16000 - n * 512 + 200  # a window grid 200 samples off the VAD's
    blocks = SpeechBlocks(512 * 2, 512, np.ones(n - 1, np.float32), np.ones(n - 1, np.bool_))
    window = DiarizationWindow("c", "s", start, start + n * 512, np.zeros(n * 512, np.float32),
                               np.ones(n, np.bool_), 512, 7, blocks)  # fmt: skip
    result = _diarize(stream, Batcher())(window).result(timeout=5)  # type: ignore[arg-type]
    assert isinstance(result, Diarized) and result.item is window
    (request,) = seen
    assert request.blocks is None and request.speech is window.speech
    assert request.window is window.samples and request.window_start_sample == start


def test_a_sessions_closing_step_is_not_timed_as_a_speaker_label() -> None:
    runtime = HostRuntime()
    try:
        stage = _Stage(Models(EnergyVad(), Recording(), ScriptedDiarizer()), runtime,
                       ModelStageOptions(live=True), "speakers")  # fmt: skip
        done = stage._measure("diarization")
        flags, nothing = np.zeros(0, np.bool_), np.zeros(0, np.float32)
        old_ns = 1_700_000_000_000_000_000  # the last chunk arrived long ago (then: stale)
        closing = DiarizationWindow("c", "s", 8000, 8000, nothing, flags, 512, old_ns, last=True)
        done(closing, 0.0)
        assert "diarization" not in runtime.telemetry.status().get("stages", {})
        window = DiarizationWindow("c", "s", 0, 8000, np.zeros(8000, np.float32),
                                   np.zeros(15, np.bool_), 512, old_ns)  # fmt: skip
        done(window, 0.0)
        assert runtime.telemetry.status()["stages"]["diarization"]["items"] == 1
    finally:
        runtime.close()


class Recording(ScriptedTranscriber):
    """The scripted transcriber, remembering the prompt each call was offered."""

    def __init__(self) -> None:
        super().__init__(lambda start, end: f"said at {start:.0f}")
        self.prompts: list[str | None] = []

    def transcribe(
        self,
        audio: npt.ArrayLike,
        *,
        offset_s: float,
        prompt: str | None = None,
        context: npt.ArrayLike | None = None,
    ) -> Transcript:
        self.prompts.append(prompt)
        return super().transcribe(audio, offset_s=offset_s, prompt=prompt, context=context)


def utterance(start_s: float, speaker: str | None) -> UtteranceAudio:
    a, b = round(start_s * SR), round((start_s + 1) * SR)
    return UtteranceAudio("c", "s", a, b, np.zeros(b - a, np.float32), "silence", 0, 0,
                          ((a, b),), speaker)  # fmt: skip


def run(prompt: bool) -> list[str | None]:
    model, runtime = Recording(), HostRuntime()
    model.load()
    try:
        with ThreadPoolExecutor(2) as pool:
            submit = _transcribe(model, pool, runtime, prompt)
            futures = [submit(utterance(t, who)) for t, who in
                       ((0, "speaker0"), (2, "speaker1"), (4, "speaker0"), (20, "speaker0"),
                        (22, None), (24, "speaker0"))]  # fmt: skip
            for f in futures:
                f.result(timeout=10)
    finally:
        runtime.close()
    return model.prompts


def test_same_speaker_prompting_offers_that_speakers_recent_text_only() -> None:
    assert run(prompt=True) == [
        None,  # nobody said anything yet
        None,  # speaker1 has not spoken before
        "said at 0",  # speaker0's previous text, 3 s before
        None,  # speaker0 last spoke 15 s before: too long ago
        None,  # the speaker is not known yet
        "said at 20",
    ]


def test_without_the_knob_no_decode_is_prompted() -> None:
    assert run(prompt=False) == [None] * 6


class Meeting(ScriptedTranscriber):
    """Each call waits until two calls are inside `transcribe` at once."""

    def __init__(self, timeout: float) -> None:
        super().__init__()
        self.barrier = threading.Barrier(2, timeout=timeout)

    def transcribe(
        self,
        audio: npt.ArrayLike,
        *,
        offset_s: float,
        prompt: str | None = None,
        context: npt.ArrayLike | None = None,
    ) -> Transcript:
        self.barrier.wait()  # BrokenBarrierError when alone until the timeout
        return super().transcribe(audio, offset_s=offset_s, prompt=prompt, context=context)


def meet(workers: int, starts: tuple[float, ...], timeout: float) -> list[object]:
    """What the transcription stage returns for one client's utterances (or raised)."""
    model, runtime = Meeting(timeout), HostRuntime()
    model.load()
    options = ModelStageOptions(transcription_workers=workers)
    try:
        stage = _Stage(Models(EnergyVad(), model, ScriptedDiarizer()), runtime, options,
                       "transcription")  # fmt: skip
        submit = stage.lanes[UtteranceAudio].submit_factory()
        futures = [submit(utterance(t, "speaker0")) for t in starts]
        return [f.exception(timeout=30) or f.result().transcript.text for f in futures]  # type: ignore[union-attr]
    finally:
        runtime.close()


def test_whisper_workers_decode_one_clients_utterances_at_once_in_order() -> None:
    # two calls must be inside the model together, or the barrier breaks
    assert meet(2, (0, 2, 4, 6), timeout=10) == [
        f"words from {t:.1f} to {t + 1:.1f}" for t in (0.0, 2.0, 4.0, 6.0)
    ]


def test_one_worker_decodes_one_utterance_at_a_time() -> None:
    # the control: with one worker the two calls never meet
    first, second = meet(1, (0, 2), timeout=0.5)
    assert isinstance(first, threading.BrokenBarrierError)
    assert isinstance(second, threading.BrokenBarrierError)
