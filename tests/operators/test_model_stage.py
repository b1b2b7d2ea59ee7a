"""The transcription stage's prompt policy (`--prompt same_speaker`)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import numpy.typing as npt

from ambient_flow.models.transcription import Transcript
from ambient_flow.operators.model_stage import _transcribe
from ambient_flow.operators.speech import UtteranceAudio
from ambient_flow.runtime import HostRuntime
from ambient_flow.testing.fakes import ScriptedTranscriber

SR = 16000


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
