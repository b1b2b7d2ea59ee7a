"""Speech analysis on real speech: Silero VAD, utterances, diarization windows, video placement."""

from __future__ import annotations

from pathlib import Path

import bytewax.operators as op
import numpy as np
import pytest
from bytewax.dataflow import Dataflow
from bytewax.testing import TestingSink, TestingSource

pytest.importorskip("onnxruntime", reason="the [audio] extra provides the VAD runtime")

from ambient_flow.backends.vad import SileroVad
from ambient_flow.config import Settings
from ambient_flow.graph.ingest import build_ingest
from ambient_flow.operators.events import ClientEvent
from ambient_flow.operators.speech import (
    AnalysisOptions,
    DiarizationWindow,
    PlacedVideoFrame,
    UtteranceAudio,
    analysis_builder,
)
from ambient_flow.protocol.messages import RawMessage, Rejected
from ambient_flow.runtime import HostRuntime, run_dataflow
from ambient_flow.testing import media
from ambient_flow.testing.messages import T0_MS, audio_raw, video_raw

SR = 16000


@pytest.fixture(scope="module")
def phrase() -> np.ndarray:
    try:
        return media.speech("The quick brown fox jumps over the lazy dog.", "en-us")
    except FileNotFoundError:
        pytest.skip("espeak-ng and sox make the test speech")


def chunks_of(pcm: np.ndarray) -> list[bytes]:
    pad = (-pcm.size) % 1600
    pcm = np.concatenate([pcm, np.zeros(pad, np.int16)])
    return [pcm[i : i + 1600].tobytes() for i in range(0, pcm.size, 1600)]


def analyse(messages: list[RawMessage], tmp_path: Path, options: AnalysisOptions | None = None):  # type: ignore[no-untyped-def]
    runtime = HostRuntime(settings=Settings(data_dir=str(tmp_path), metrics_port=0), replay=True)
    flow = Dataflow("speech_test")
    streams = build_ingest(flow, runtime, {"in": TestingSource(messages)})
    items = op.filter_value("no_rejects", streams.items, lambda i: not isinstance(i, Rejected))
    analysed = op.stateful(
        "speech", items, analysis_builder(SileroVad(), options or AnalysisOptions())
    )
    out: list = []  # type: ignore[type-arg]
    op.output("out", analysed, TestingSink(out))
    run_dataflow(flow)
    runtime.close()
    return [v for _, v in out]


def test_two_phrases_with_a_pause_become_two_utterances(phrase, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    silence = np.zeros(SR, np.int16)
    pcm = np.concatenate([silence, phrase, silence, silence, phrase, silence])  # 2 s pause
    msgs = [audio_raw(i, pcm=c) for i, c in enumerate(chunks_of(pcm))]
    out = analyse(msgs, tmp_path)
    utts = [o for o in out if isinstance(o, UtteranceAudio)]
    assert len(utts) == 2, [(u.start_sample, u.end_sample) for u in utts]
    first, second = utts
    # Each utterance covers its phrase (pre-roll before, trailing silence trimmed).
    assert SR - 0.4 * SR <= first.start_sample <= SR
    assert abs(first.end_sample - (SR + phrase.size)) < 0.4 * SR
    second_start = SR + phrase.size + 2 * SR
    assert second_start - 0.4 * SR <= second.start_sample <= second_start + 0.2 * SR
    np.testing.assert_allclose(
        first.samples,
        np.concatenate([np.zeros(SR, np.float32), phrase / 32768.0])[
            first.start_sample : first.end_sample
        ],
        atol=1e-6,
    )
    assert first.reason == "silence" and first.session


def test_diarization_windows_every_half_second_with_a_speech_mask(phrase, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    pcm = np.concatenate([np.zeros(SR, np.int16), phrase, np.zeros(SR, np.int16)])
    msgs = [audio_raw(i, pcm=c) for i, c in enumerate(chunks_of(pcm))]
    out = analyse(msgs, tmp_path)
    windows = [o for o in out if isinstance(o, DiarizationWindow)]
    ends = [w.end_sample for w in windows]
    assert ends == list(range(8000, ends[-1] + 1, 8000))
    last = windows[-1]
    assert last.end_sample - last.start_sample <= 5 * SR
    assert last.samples.size == last.end_sample - last.start_sample
    assert last.speech.size == last.samples.size // last.block_samples
    mid = windows[len(windows) // 2]
    assert mid.speech.any() and not windows[0].speech.any()


def test_speech_running_into_eof_is_flushed(phrase, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    pcm = np.concatenate([np.zeros(SR // 2, np.int16), phrase])
    msgs = [audio_raw(i, pcm=c) for i, c in enumerate(chunks_of(pcm))]
    out = analyse(msgs, tmp_path)
    utts = [o for o in out if isinstance(o, UtteranceAudio)]
    assert len(utts) == 1 and utts[0].reason in ("flush", "silence")
    kinds = [o.kind for o in out if isinstance(o, ClientEvent)]
    assert kinds == ["session_start", "session_end"]


def test_video_frames_are_placed_on_the_audio_timeline(tmp_path: Path) -> None:
    msgs = [video_raw(0, ts=T0_MS - 500, w=64, h=48)]  # before any audio: not placeable
    msgs += [audio_raw(i) for i in range(10)]
    msgs += [video_raw(1, ts=T0_MS + 700, w=64, h=48)]
    out = analyse(msgs, tmp_path)
    placed = [o for o in out if isinstance(o, PlacedVideoFrame)]
    assert [p.sample for p in placed] == [None, 700 * 16]


def test_silence_and_noise_give_no_utterances(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    noise = (rng.standard_normal(5 * SR) * 2000).astype(np.int16)
    pcm = np.concatenate([np.zeros(5 * SR, np.int16), noise])
    msgs = [audio_raw(i, pcm=c) for i, c in enumerate(chunks_of(pcm))]
    out = analyse(msgs, tmp_path)
    assert not [o for o in out if isinstance(o, UtteranceAudio)]


def test_speech_open_when_the_client_goes_stale_is_flushed(phrase, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    # Speech that runs to the last chunk, then 16 s of nothing (stale after 15 s), then more.
    pcm = np.concatenate([np.zeros(SR // 2, np.int16), phrase[: phrase.size // 2]])
    chunks = chunks_of(pcm)
    msgs = [audio_raw(i, pcm=c) for i, c in enumerate(chunks)]
    later = (T0_MS + 100 * len(chunks) + 16_000) * 1_000_000
    msgs.append(audio_raw(len(chunks), pcm=np.zeros(1600, np.int16).tobytes(), at_ns=later))
    out = analyse(msgs, tmp_path)
    kinds = [
        ("utterance", o.reason) if isinstance(o, UtteranceAudio) else ("event", o.kind)
        for o in out
        if isinstance(o, UtteranceAudio | ClientEvent)
    ]
    stale = kinds.index(("event", "stale"))
    assert kinds[stale - 1] == ("utterance", "flush")  # flushed as the client went quiet
    assert ("event", "resumed") in kinds[stale:]
