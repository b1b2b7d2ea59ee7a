"""The deterministic fallback ladder both Whisper backends decode with, and word clean-up."""

from __future__ import annotations

import pytest

from ambient_flow.backends.whisper_decode import (
    Attempt,
    DecodeOptions,
    choose_attempt,
    compression_ratio,
    decode_with_fallback,
    needs_fallback,
)
from ambient_flow.backends.whisper_text import RawSegment, RawWord, assemble
from ambient_flow.errors import ConfigError
from ambient_flow.models.identity import ModelIdentity

OPT = DecodeOptions(beam_size=1, fallback_beam_size=5)
IDENTITY = ModelIdentity(kind="transcription", name="test", path=None, sha256={}, options={})


def seg(text: str, lp: float, ns: float = 0.0, start: float = 0.0, end: float = 1.0) -> RawSegment:
    return RawSegment(start, end, text, lp, ns)


def attempt(beam: int, text: str, lp: float, ns: float = 0.0) -> Attempt:
    return Attempt(beam, (seg(text, lp, ns),) if text else (), 0.0, "en")


def test_repetition_and_low_confidence_ask_for_a_wider_beam() -> None:
    assert compression_ratio("the " * 30) > 2.4
    assert needs_fallback(attempt(1, "the " * 30, -0.2), OPT)
    assert needs_fallback(attempt(1, "some words", -1.5), OPT)
    assert not needs_fallback(attempt(1, "some words", -0.3), OPT)
    assert not needs_fallback(attempt(1, "some words", -1.5, ns=0.9), OPT)  # silence: no retry
    assert not needs_fallback(attempt(1, "", -3.0), OPT)


def test_the_first_passing_attempt_wins_else_the_most_confident_that_is_not_a_loop() -> None:
    a, b = attempt(1, "bad", -1.6), attempt(5, "good", -0.4)
    assert choose_attempt([a, b], OPT) is b
    c, d = attempt(1, "meh", -1.2), attempt(5, "the " * 30, -0.1)
    assert choose_attempt([c, d], OPT) is c


def test_the_ladder_widens_the_beam_only_when_the_checks_fail() -> None:
    calls: list[int] = []

    def rung(beam: int) -> tuple[list[RawSegment], str]:
        calls.append(beam)
        return ([seg("mumble mumble", -1.8)] if beam == 1 else [seg("clear words", -0.3)]), "en"

    out = decode_with_fallback(rung, OPT)
    assert calls == [1, 5] and (out.beam, out.attempts) == (5, 2)
    assert [s.text for s in out.segments] == ["clear words"]
    calls.clear()
    once = decode_with_fallback(lambda beam: (calls.append(beam) or [seg("fine", -0.2)], "en"),
                                OPT)  # fmt: skip
    assert calls == [1] and once.attempts == 1
    calls.clear()
    decode_with_fallback(lambda b: (calls.append(b) or [seg("x y", -2.0)], "en"),
                         DecodeOptions(fallback_beam_size=0))  # fmt: skip
    assert calls == [1]


def test_silence_and_wordless_segments_are_dropped_before_judging() -> None:
    out = decode_with_fallback(
        lambda beam: ([seg(" ...", -0.1), seg("you", -1.5, ns=0.9), seg("hello", -0.2)], "en"),
        OPT,
    )
    assert [s.text for s in out.segments] == ["hello"] and out.attempts == 1
    assert out.dropped_no_speech == pytest.approx(0.9)


def test_words_move_onto_the_stream_clock_and_a_cut_loop_is_cut_from_them() -> None:
    said = ["so", "pre", "pre", "pre", "pre", "pre", "done"]
    words = tuple(RawWord(f" {w}", 0.1 * i, 0.1 * i + 0.08, 0.9) for i, w in enumerate(said))
    raw = RawSegment(0.0, 0.8, "so pre pre pre pre pre done", -0.2, 0.01, words)
    t = assemble([raw], duration_s=1.0, offset_s=10.0, dropped_no_speech=0.0, language="en",
                 identity=IDENTITY, beam_size=5, attempts=2)  # fmt: skip
    assert t.text == "so pre done"
    assert [w.word for w in t.words] == [" so", " pre", " done"]
    assert t.words[0].start_s == pytest.approx(10.0) and t.words[-1].end_s == pytest.approx(10.68)
    assert (t.beam_size, t.attempts) == (5, 2)


def test_non_finite_scores_become_the_worst_values() -> None:
    raw = RawSegment(0.0, 1.0, "x", float("-inf"), float("nan"))
    assert raw.avg_logprob == -100.0 and raw.no_speech_prob == 1.0


def test_options_are_validated() -> None:
    for bad in ({"beam_size": 0}, {"fallback_beam_size": -1}, {"language": "English"},
                {"no_speech_threshold": 1.5}, {"logprob_threshold": 1.0}):  # fmt: skip
        with pytest.raises(ConfigError):
            DecodeOptions(**bad)  # type: ignore[arg-type]
    assert DecodeOptions(beam_size=5, fallback_beam_size=5).beams == (5,)
