"""The utterance state machine, frame by frame on the sample clock."""

from __future__ import annotations

import pytest

from ambient_flow.operators.segmenter import SegmenterOptions, Utterance, UtteranceSegmenter

F = 512  # samples per frame


def run(probs: list[float], options: SegmenterOptions | None = None, start: int = 0):  # type: ignore[no-untyped-def]
    seg = UtteranceSegmenter(options or SegmenterOptions())
    out: list[Utterance] = []
    for i, p in enumerate(probs):
        out += seg.push(start + i * F, p)
    return out, seg


def frames(seconds: float) -> int:
    return round(seconds * 16000 / F)


def test_speech_between_silences_is_one_utterance_with_pre_roll() -> None:
    probs = [0.0] * frames(2) + [0.9] * frames(1.5) + [0.0] * frames(1.0)
    out, _ = run(probs)
    (u,) = out
    speech_start = frames(2) * F
    assert u.start_sample == speech_start - 4800  # 300 ms pre-roll
    assert u.end_sample == speech_start + frames(1.5) * F
    assert u.reason == "silence"


def test_speech_at_stream_start_clamps_pre_roll_to_zero() -> None:
    out, _ = run([0.9] * frames(1) + [0.0] * frames(1))
    assert out[0].start_sample == 0


def test_short_pauses_and_hysteresis_keep_one_utterance() -> None:
    probs = [0.9] * frames(1) + [0.4] * frames(2) + [0.1] * frames(0.5) + [0.9] * frames(1)
    probs += [0.0] * frames(1)
    out, _ = run(probs)
    assert len(out) == 1 and out[0].duration_s > 4


def test_too_short_speech_is_dropped_and_counted() -> None:
    out, seg = run([0.0] * 10 + [0.9] * frames(0.3) + [0.0] * frames(1))
    assert out == [] and seg.dropped_short == 1


def test_speech_still_open_at_eof_is_flushed() -> None:
    out, seg = run([0.9] * frames(2))
    assert out == []
    (u,) = seg.flush()
    assert u.reason == "flush" and u.end_sample == frames(2) * F
    assert seg.flush() == []


def test_long_speech_is_split_at_its_quietest_frame() -> None:
    opt = SegmenterOptions(max_utterance_s=4.0)
    probs = [0.9] * frames(3) + [0.36] + [0.9] * frames(2) + [0.0] * frames(1)
    out, _ = run(probs, opt)
    assert [u.reason for u in out] == ["max_length", "silence"]
    assert out[0].end_sample == frames(3) * F  # the 0.36 frame
    assert out[1].start_sample == out[0].end_sample
    assert all(u.duration_s <= 4.0 for u in out)


def test_a_jump_in_the_timeline_closes_the_open_utterance() -> None:
    seg = UtteranceSegmenter()
    out = []
    for i in range(frames(1)):
        out += seg.push(i * F, 0.9)
    out += seg.push(10 * 16000, 0.9)
    assert len(out) == 1 and out[0].end_sample == frames(1) * F


def test_options_are_validated() -> None:
    with pytest.raises(ValueError, match="neg_threshold"):
        SegmenterOptions(threshold=0.3, neg_threshold=0.5)
