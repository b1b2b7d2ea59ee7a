"""Speech analysis on real speech: Silero VAD on level-normalised blocks, utterances (the
segmenter after it), diarization windows with the VAD's blocks, video placement."""

from __future__ import annotations

from pathlib import Path
from typing import Any

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
from ambient_flow.operators.levels import LevelOptions
from ambient_flow.operators.model_stage import Passed
from ambient_flow.operators.segmenter import SegmenterOptions
from ambient_flow.operators.speech import (
    AnalysisOptions,
    DiarizationWindow,
    PlacedVideoFrame,
    SpeechAnalysisLogic,
    SpeechChunk,
    UtteranceAudio,
    analysis_builder,
)
from ambient_flow.operators.utterances import UtteranceLogic
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


def analyse(
    messages: list[RawMessage],
    tmp_path: Path,
    options: AnalysisOptions | None = None,
    segmenter: SegmenterOptions | None = None,
) -> tuple[list[Any], HostRuntime]:
    """Ingest -> speech, then the utterance segmenter on what comes out (no diarizer)."""
    runtime = HostRuntime(settings=Settings(data_dir=str(tmp_path), metrics_port=0), replay=True)
    flow = Dataflow("speech_test")
    streams = build_ingest(flow, runtime, {"in": TestingSource(messages)})
    items = op.filter_value("no_rejects", streams.items, lambda i: not isinstance(i, Rejected))
    builder = analysis_builder(
        SileroVad(),
        options or AnalysisOptions(),
        runtime.telemetry.speech,
        lambda: runtime.telemetry.skipped("detection"),
    )
    analysed = op.stateful("speech", items, builder)
    out: list = []  # type: ignore[type-arg]
    op.output("out", analysed, TestingSink(out))
    run_dataflow(flow)
    runtime.close()
    items_out = [v for _, v in out]
    utterances = UtteranceLogic(segmenter or SegmenterOptions())
    produced: list[Any] = []
    for item in items_out:
        if isinstance(item, SpeechChunk | ClientEvent):
            heard = Passed(item) if isinstance(item, ClientEvent) else item
            produced += [u for u in utterances.on_item(heard)[0] if isinstance(u, UtteranceAudio)]
    produced += list(utterances.on_eof()[0])
    return items_out + produced, runtime


def test_two_phrases_with_a_pause_become_two_utterances(phrase, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    silence = np.zeros(SR, np.int16)
    pcm = np.concatenate([silence, phrase, silence, silence, phrase, silence])  # 2 s pause
    msgs = [audio_raw(i, pcm=c) for i, c in enumerate(chunks_of(pcm))]
    out, runtime = analyse(msgs, tmp_path, segmenter=SegmenterOptions(max_utterance_s=8.0))
    utts = [o for o in out if isinstance(o, UtteranceAudio)]
    assert len(utts) == 2, [(u.start_sample, u.end_sample) for u in utts]
    first, second = utts
    # Each utterance covers its phrase (pre-roll before, trailing silence trimmed).
    assert SR - 0.6 * SR <= first.start_sample <= SR
    assert abs(first.end_sample - (SR + phrase.size)) < 0.4 * SR
    second_start = SR + phrase.size + 2 * SR
    assert second_start - 0.6 * SR <= second.start_sample <= second_start + 0.2 * SR
    np.testing.assert_allclose(
        first.samples,
        np.concatenate([np.zeros(SR, np.float32), phrase / 32768.0])[
            first.start_sample : first.end_sample
        ],
        atol=1e-6,
    )
    assert first.reason == "silence" and first.session
    assert first.speech and first.speech[0][0] >= first.start_sample
    # how much was judged speech shows in the client's status
    section = runtime.telemetry.status()["clients"]
    (client,) = section.values()
    assert 2 * phrase.size / SR * 0.6 < client["speech"]["speech_s"] < 2 * phrase.size / SR * 1.3
    assert client["speech"]["audio_s"] == pytest.approx(pcm.size / SR, abs=0.2)


def test_long_speech_gives_a_transcript_every_few_seconds(phrase, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    pcm = np.concatenate([phrase] * 4 + [np.zeros(SR, np.int16)])
    msgs = [audio_raw(i, pcm=c) for i, c in enumerate(chunks_of(pcm))]
    out, _ = analyse(msgs, tmp_path)
    utts = [o for o in out if isinstance(o, UtteranceAudio)]
    assert len(utts) >= 3 and all(u.duration_s <= 5.0 + 0.6 for u in utts)


def test_diarization_windows_carry_the_vads_own_blocks(phrase, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    pcm = np.concatenate([np.zeros(SR, np.int16), phrase, np.zeros(SR, np.int16)])
    msgs = [audio_raw(i, pcm=c) for i, c in enumerate(chunks_of(pcm))]
    out, _ = analyse(msgs, tmp_path)
    windows = [o for o in out if isinstance(o, DiarizationWindow) and not o.last]
    ends = [w.end_sample for w in windows]
    assert ends == list(range(8000, ends[-1] + 1, 8000))
    # the session's end: one last, empty window where its audio ended, before the event
    closing = [i for i, o in enumerate(out) if isinstance(o, DiarizationWindow) and o.last]
    ended = [i for i, o in enumerate(out) if isinstance(o, ClientEvent) and o.kind == "session_end"]
    assert len(closing) == 1 and closing == [ended[0] - 1]
    last = out[closing[0]]
    assert last.samples.size == 0 and last.start_sample == last.end_sample
    assert ends[-1] <= last.end_sample < ends[-1] + 8000  # where the audio ended
    last = windows[-1]
    assert last.end_sample - last.start_sample <= 5 * SR
    assert last.samples.size == last.end_sample - last.start_sample
    assert last.speech.size == last.samples.size // last.block_samples
    mid = windows[len(windows) // 2]
    assert mid.speech.any() and not windows[0].speech.any()
    blocks = mid.blocks
    assert blocks is not None and blocks.start_sample % 512 == 0
    assert mid.start_sample <= blocks.start_sample and blocks.end_sample <= mid.end_sample
    assert mid.end_sample - blocks.end_sample < 512
    # the same verdicts the chunks carried to the segmenter
    chunked = {b.start_sample + i * 512: bool(b.speech[i])
               for c in out if isinstance(c, SpeechChunk) and (b := c.blocks) is not None
               for i in range(len(b))}  # fmt: skip
    assert all(chunked[blocks.start_sample + i * 512] == bool(f)
               for i, f in enumerate(blocks.speech))  # fmt: skip


def test_speech_running_into_eof_is_flushed(phrase, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    pcm = np.concatenate([np.zeros(SR // 2, np.int16), phrase[: int(2.5 * SR)]])
    msgs = [audio_raw(i, pcm=c) for i, c in enumerate(chunks_of(pcm))]
    out, _ = analyse(msgs, tmp_path)
    utts = [o for o in out if isinstance(o, UtteranceAudio)]
    assert len(utts) >= 1 and utts[-1].reason in ("flush", "silence")
    kinds = [o.kind for o in out if isinstance(o, ClientEvent)]
    assert kinds == ["session_start", "session_end"]


def test_video_frames_are_placed_on_the_audio_timeline(tmp_path: Path) -> None:
    msgs = [video_raw(0, ts=T0_MS - 500, w=64, h=48)]  # before any audio: not placeable
    msgs += [audio_raw(i) for i in range(10)]
    msgs += [video_raw(1, ts=T0_MS + 700, w=64, h=48)]
    out, _ = analyse(msgs, tmp_path)
    placed = [o for o in out if isinstance(o, PlacedVideoFrame)]
    assert [p.sample for p in placed] == [None, 700 * 16]


def test_video_goes_to_detection_at_most_detect_fps_a_client(tmp_path: Path) -> None:
    # 3 s of a 5 fps camera: one frame a second is detected, the 12 others are counted
    msgs = [audio_raw(i) for i in range(30)]
    msgs += [video_raw(i, w=64, h=48) for i in range(15)]
    out, runtime = analyse(msgs, tmp_path, AnalysisOptions(detect_interval_s=1.0))
    placed = [o.frame.sequence for o in out if isinstance(o, PlacedVideoFrame)]
    assert placed == [0, 5, 10]
    assert runtime.telemetry.status()["stages"]["detection"]["skipped"] == 12
    # off: every frame
    out, runtime = analyse(msgs, tmp_path / "all", AnalysisOptions(detect_interval_s=0.0))
    assert len([o for o in out if isinstance(o, PlacedVideoFrame)]) == 15
    assert "detection" not in runtime.telemetry.status().get("stages", {})


def test_a_camera_at_the_limit_is_not_halved_by_arrival_jitter() -> None:
    logic = SpeechAnalysisLogic(SileroVad(), AnalysisOptions(detect_interval_s=1.0))
    arrivals = [0.0, 0.93, 2.05, 2.96, 4.0, 4.91]  # 1 fps, up to 90 ms early or late
    assert [logic.detect_due(round(t * 1e9)) for t in arrivals] == [True] * 6
    assert not logic.detect_due(round(5.2e9))  # a second frame within the second
    assert logic.detect_due(round(1e9))  # the host's clock stepped back: start again
    assert not logic.detect_due(round(1.5e9))


def test_silence_and_noise_give_no_utterances(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    noise = (rng.standard_normal(5 * SR) * 2000).astype(np.int16)
    faint = (rng.standard_normal(5 * SR) * 30).astype(np.int16)  # -60 dBFS: lifted, still noise
    pcm = np.concatenate([np.zeros(5 * SR, np.int16), noise, faint])
    msgs = [audio_raw(i, pcm=c) for i, c in enumerate(chunks_of(pcm))]
    out, runtime = analyse(msgs, tmp_path)
    assert not [o for o in out if isinstance(o, UtteranceAudio)]
    (client,) = runtime.telemetry.status()["clients"].values()
    assert client["speech"]["speech_s"] < 0.3


def far_talker(phrase: np.ndarray, level_db: float, noise_db: float) -> np.ndarray:
    """The phrase across a reverberant room, quiet, over room noise (int16)."""
    from scipy.signal import fftconvolve, lfilter

    rng = np.random.default_rng(1)
    n = int(0.6 * SR * 1.2)
    tail = rng.standard_normal(n) * np.exp(-6.9078 * np.arange(n) / SR / 0.6)
    tail[:80] = 0.0
    h = lfilter([0.4], [1, -0.6], tail)
    h *= np.sqrt(10 ** (4 / 10) / np.sum(h * h))  # the tail 4 dB above the direct path
    h[0] += 1.0
    wet = fftconvolve(phrase / 32768.0, h)
    wet *= 10 ** (level_db / 20) / np.sqrt(np.mean(wet**2))
    x = np.concatenate([np.zeros(SR), wet, np.zeros(SR)])
    spec = np.fft.rfft(rng.standard_normal(x.size))
    pink = np.fft.irfft(spec / np.sqrt(np.maximum(np.arange(spec.size), 1)), x.size)
    x += pink / np.sqrt(np.mean(pink**2)) * 10 ** (noise_db / 20)
    return np.asarray(np.round(x * 32767), np.int16)


def test_a_quiet_far_talker_is_heard_once_the_vads_input_is_level_normalised(
    phrase, tmp_path: Path  # type: ignore[no-untyped-def]
) -> None:
    pcm = far_talker(phrase, -45.0, -52.0)
    msgs = [audio_raw(i, pcm=c) for i, c in enumerate(chunks_of(pcm))]
    heard = {}
    for level in (None, LevelOptions()):
        out, runtime = analyse(msgs, tmp_path / str(level is None), AnalysisOptions(level=level))
        (client,) = runtime.telemetry.status()["clients"].values()
        utts = [o for o in out if isinstance(o, UtteranceAudio)]
        heard[level is not None] = (client["speech"]["speech_s"], utts)
        # the recording and what is transcribed are never changed
        for u in utts:
            np.testing.assert_array_equal(u.samples, pcm[u.start_sample : u.end_sample] / 32768.0)
    raw_s, _ = heard[False]
    norm_s, norm_utts = heard[True]
    assert norm_s > 2.0 * raw_s and norm_s > 0.5 * phrase.size / SR, (raw_s, norm_s)
    assert sum(u.duration_s for u in norm_utts) > 0.6 * phrase.size / SR


def test_speech_open_when_the_client_goes_stale_is_flushed(phrase, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    # Speech that runs to the last chunk, then 16 s of nothing (stale after 15 s), then more.
    pcm = np.concatenate([np.zeros(SR // 2, np.int16), phrase[: phrase.size // 2]])
    chunks = chunks_of(pcm)
    msgs = [audio_raw(i, pcm=c) for i, c in enumerate(chunks)]
    later = (T0_MS + 100 * len(chunks) + 16_000) * 1_000_000
    msgs.append(audio_raw(len(chunks), pcm=np.zeros(1600, np.int16).tobytes(), at_ns=later))
    runtime = HostRuntime(settings=Settings(data_dir=str(tmp_path), metrics_port=0), replay=True)
    flow = Dataflow("stale_test")
    streams = build_ingest(flow, runtime, {"in": TestingSource(msgs)})
    items = op.filter_value("no_rejects", streams.items, lambda i: not isinstance(i, Rejected))
    analysed = op.stateful("speech", items, analysis_builder(SileroVad(), AnalysisOptions()))
    out: list = []  # type: ignore[type-arg]
    op.output("out", analysed, TestingSink(out))
    run_dataflow(flow)
    runtime.close()
    logic = UtteranceLogic(SegmenterOptions())
    kinds = []
    for _, item in out:
        if isinstance(item, SpeechChunk | ClientEvent):
            heard = Passed(item) if isinstance(item, ClientEvent) else item
            for o in logic.on_item(heard)[0]:
                if isinstance(o, UtteranceAudio):
                    kinds.append(("utterance", o.reason))
                elif isinstance(o, Passed):
                    kinds.append(("event", o.item.kind))
    stale = kinds.index(("event", "stale"))
    assert kinds[stale - 1] == ("utterance", "flush")  # flushed as the client went quiet
    assert ("event", "resumed") in kinds[stale:]
