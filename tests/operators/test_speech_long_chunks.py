"""More audio at once than the speech ring holds (~32 s) during speech: nothing breaks.

One long chunk, or a long `seq` gap filled with silence, arrives while the client is
speaking. The enrichment must cut every diarization window (the speech step) and every
utterance (the utterance step after it) while its audio is still held, and keep going.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ambient_flow.config import Settings
from ambient_flow.operators.events import ClientEvent
from ambient_flow.operators.model_stage import Passed
from ambient_flow.operators.segmenter import SegmenterOptions
from ambient_flow.operators.speech import (
    AnalysisOptions,
    DiarizationWindow,
    SpeechAnalysisLogic,
    SpeechChunk,
    UtteranceAudio,
)
from ambient_flow.operators.utterances import UtteranceLogic
from ambient_flow.protocol.messages import AudioChunk
from ambient_flow.testing import fakes, run_messages
from ambient_flow.testing.messages import T0_MS, audio_raw

SR = 16000
NS = 1_000_000


def loud(n: int, seed: int = 0) -> np.ndarray:
    return (np.random.default_rng(seed).standard_normal(n) * 0.3).astype(np.float32)


def test_one_chunk_longer_than_the_ring_is_analysed_whole() -> None:
    logic = SpeechAnalysisLogic(fakes.EnergyVad(0.01), AnalysisOptions())
    start_event = ClientEvent("c", "session_start", 0, "s", {"start_sample": 0})
    logic.on_item(start_event)
    items = []
    for start, n in ((0, SR), (SR, 33 * SR), (34 * SR, 2 * SR)):
        chunk = AudioChunk("c", 0, 0, SR, 1, 1, start_sample=start, float_samples=loud(n, start))
        out, _ = logic.on_item(chunk)
        items += list(out)
    out, _ = logic.on_eof()
    items += list(out)
    windows = [i for i in items if isinstance(i, DiarizationWindow)]
    # A window every 0.5 s of the 36 s, each a full 5 s once 5 s have arrived.
    assert [w.end_sample for w in windows] == [SR // 2 * k for k in range(1, 73)]
    assert all(w.samples.shape[0] == w.end_sample - w.start_sample for w in windows)
    # the utterance step after it, on the speech step's chunks (no diarizer here)
    utter = UtteranceLogic(SegmenterOptions())
    utter.on_item(Passed(start_event))
    said: list[object] = []
    for item in items:
        if isinstance(item, SpeechChunk):
            said += utter.on_item(item)[0]
    said += utter.on_eof()[0]
    utterances = [i for i in said if isinstance(i, UtteranceAudio)]
    # Continuous speech is split at max_utterance (5 s); no sample is lost.
    assert len(utterances) >= 36 // 5
    assert utterances[0].start_sample == 0 and utterances[-1].end_sample == 36 * SR
    assert sum(u.end_sample - u.start_sample for u in utterances) == 36 * SR
    for u in utterances:
        assert u.samples.shape[0] == u.end_sample - u.start_sample


def test_seq_jumps_filled_with_long_silence_during_speech(tmp_path: Path) -> None:
    """Four chunks whose seq jumps by 340 (34 s each, filled with silence) mid-speech."""
    speech = [loud(1600, s).__mul__(32767).astype("<i2").tobytes() for s in range(10)]
    # 40 s of speech first: silence is earned by audio, a second for a second.
    msgs = [audio_raw(s, pcm=speech[s % 10]) for s in range(400)]
    seq, at = 400, T0_MS + 40_000
    for k in range(4):
        seq += 340
        at += 34_000
        msgs.append(audio_raw(seq, ts=at, pcm=speech[k], at_ns=(at + 5) * NS))
    settings = Settings(enrich=True, reorder_window=0, max_gap_fill_seconds=60.0)
    out = run_messages(msgs, tmp_path, settings=settings, models=fakes.models())
    fills = [c for c in out.audio() if c.filled]
    assert len(fills) == 4 and fills[0].num_samples > 32 * SR  # more than the ring holds
    assert out.lines("utterance")  # the enrichment lived through it and kept working
    assert [e.data["reason"] for e in out.events("session_end")] == ["eof"]
