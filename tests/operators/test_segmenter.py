"""The turn-aware utterance state machine, block by block on the sample clock."""

from __future__ import annotations

import itertools

import pytest

from ambient_flow.models.diarization import ChangeHint
from ambient_flow.operators.segmenter import (
    SegmenterOptions,
    SpeechGate,
    Utterance,
    UtteranceSegmenter,
)

F = 512  # samples per block


def run(probs: list[float], options: SegmenterOptions | None = None, start: int = 0):  # type: ignore[no-untyped-def]
    seg = UtteranceSegmenter(options or SegmenterOptions())
    out: list[Utterance] = []
    for i, p in enumerate(probs):
        out += seg.push(start + i * F, p)
    return out, seg


def blocks(seconds: float) -> int:
    return round(seconds * 16000 / F)


def test_speech_between_silences_is_one_utterance_with_pre_roll() -> None:
    probs = [0.0] * blocks(2) + [0.9] * blocks(1.5) + [0.0] * blocks(1.0)
    out, _ = run(probs, SegmenterOptions(pre_roll_s=0.3))
    (u,) = out
    speech_start = blocks(2) * F
    assert u.start_sample == speech_start - 4800  # 300 ms pre-roll
    assert u.end_sample == speech_start + blocks(1.5) * F
    assert u.reason == "silence"
    assert u.speech == ((speech_start, speech_start + blocks(1.5) * F),)


def test_the_default_closes_after_a_short_silence() -> None:
    # 0.3 s of silence ends a turn (0.8 s before): transcripts come sooner after a turn
    probs = [0.9] * blocks(1) + [0.0] * blocks(0.35) + [0.9] * blocks(1) + [0.0] * blocks(1)
    out, _ = run(probs)
    assert [u.reason for u in out] == ["silence", "silence"]
    assert out[1].start_sample == out[0].end_sample  # the pre-roll stops at the last one


def test_speech_at_stream_start_clamps_pre_roll_to_zero() -> None:
    out, _ = run([0.9] * blocks(1) + [0.0] * blocks(1))
    assert out[0].start_sample == 0


def test_short_pauses_and_hysteresis_keep_one_utterance() -> None:
    probs = [0.9] * blocks(1) + [0.4] * blocks(2) + [0.1] * blocks(0.2) + [0.9] * blocks(1)
    probs += [0.0] * blocks(1)
    out, _ = run(probs, SegmenterOptions(max_utterance_s=8.0))
    assert len(out) == 1 and out[0].duration_s > 4
    # the speech runs skip the 0.2 s dip, not the 0.4 blocks (above neg_threshold)
    assert len(out[0].speech) == 2


def test_too_short_speech_is_dropped_and_counted() -> None:
    out, seg = run([0.0] * 10 + [0.9] * blocks(0.2) + [0.0] * blocks(1))
    assert out == [] and seg.dropped_short == 1


def test_speech_still_open_at_eof_is_flushed() -> None:
    out, seg = run([0.9] * blocks(2))
    assert out == []
    (u,) = seg.flush()
    assert u.reason == "flush" and u.end_sample == blocks(2) * F
    assert seg.flush() == []


def test_long_speech_is_cut_in_its_longest_pause() -> None:
    probs = [0.9] * 200
    probs[80] = 0.1  # a one-block dip (a stop consonant)
    probs[110:116] = [0.1] * 6  # a real pause, shorter than min_silence
    out, _ = run(probs, SegmenterOptions(min_silence_s=0.5))
    assert out[0].reason == "max_length" and out[0].end_sample == 113 * F
    assert all(u.duration_s <= 5.0 + 1e-9 for u in out)


def test_long_speech_without_a_pause_is_cut_at_its_least_speech_like_stretch() -> None:
    probs = [0.9] * 200
    probs[99:102] = [0.5, 0.4, 0.5]  # above neg_threshold: no pause, but the quietest
    out, _ = run(probs + [0.0] * blocks(1))
    assert [u.reason for u in out][:1] == ["max_length"]
    assert out[0].end_sample == 100 * F
    assert out[1].start_sample == out[0].end_sample  # contiguous, no pre-roll


def test_continuous_talk_gives_an_utterance_every_max_utterance_s() -> None:
    out, _ = run([0.9] * blocks(30))
    assert len(out) >= 6 and all(u.duration_s <= 5.0 + 1e-9 for u in out)
    assert all(a.end_sample == b.start_sample for a, b in itertools.pairwise(out))


def test_a_speaker_change_hint_cuts_the_open_utterance_after_the_fact() -> None:
    seg = UtteranceSegmenter(SegmenterOptions(min_change_s=1.0))
    for i in range(100):  # 3.2 s of speech, still open
        seg.push(i * F, 0.9)
    (cut,) = seg.hint(ChangeHint(60 * F + 100, 1.0))  # snapped down to the block grid
    assert cut.reason == "speaker_change" and cut.end_sample == 60 * F
    (rest,) = seg.flush()
    assert rest.start_sample == 60 * F and rest.end_sample == 100 * F


def test_weak_early_or_unwanted_hints_are_ignored() -> None:
    seg = UtteranceSegmenter(SegmenterOptions(min_change_s=1.0, change_confidence=0.5))
    for i in range(100):
        seg.push(i * F, 0.9)
    assert seg.hint(ChangeHint(60 * F, 0.3)) == []
    assert seg.hint(ChangeHint(10 * F, 1.0)) == []  # less than min_change_s before it
    off = UtteranceSegmenter(SegmenterOptions(speaker_change_cuts=False))
    for i in range(100):
        off.push(i * F, 0.9)
    assert off.hint(ChangeHint(60 * F, 1.0)) == []
    assert UtteranceSegmenter().hint(ChangeHint(60 * F, 1.0)) == []  # nothing open


def test_a_jump_in_the_timeline_closes_the_open_utterance() -> None:
    seg = UtteranceSegmenter()
    out = []
    for i in range(blocks(1)):
        out += seg.push(i * F, 0.9)
    out += seg.push(10 * 16000, 0.9)
    assert len(out) == 1 and out[0].end_sample == blocks(1) * F


def test_the_gate_is_the_same_hysteresis() -> None:
    gate = SpeechGate(0.5, 0.35)
    assert [gate.push(p) for p in (0.4, 0.6, 0.4, 0.3, 0.45)] == [False, True, True, False, False]


def test_options_are_validated() -> None:
    with pytest.raises(ValueError, match="neg_threshold"):
        SegmenterOptions(threshold=0.3, neg_threshold=0.5)
    with pytest.raises(ValueError, match="split_window"):
        SegmenterOptions(max_utterance_s=2.0, split_window_s=3.0)
    with pytest.raises(ValueError, match="twice"):
        SegmenterOptions(max_utterance_s=1.0, min_speech_s=0.6, split_window_s=0.5)
