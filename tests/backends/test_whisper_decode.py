"""The deterministic fallback ladder both Whisper backends decode with, and word clean-up."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from ambient_flow.backends.whisper_decode import (
    Attempt,
    DecodeOptions,
    after_context,
    choose_attempt,
    compression_ratio,
    decode_with_fallback,
    needs_fallback,
    transcript_of,
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


def test_repetition_low_confidence_and_text_on_no_speech_ask_for_the_next_rung() -> None:
    assert compression_ratio("the " * 30) > 2.4
    assert needs_fallback(attempt(1, "the " * 30, -0.2), OPT)
    assert needs_fallback(attempt(1, "some words", -1.5), OPT)
    assert not needs_fallback(attempt(1, "some words", -0.3), OPT)
    # text where the model hears no speech (a beam's confident "You" on silence): retry
    assert needs_fallback(attempt(5, "You", -0.3, ns=0.9), OPT)
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
    assert calls == [5]


def test_by_default_beam_5_first_and_greedy_when_it_loops() -> None:
    """The default ladder: beam search hears more, greedy cures its loops on tiny.en."""
    assert DecodeOptions().beams == (5, 1)
    calls: list[int] = []

    def rung(beam: int) -> tuple[list[RawSegment], str]:
        calls.append(beam)
        loop, fine = seg("so we'll " * 20, -0.1), seg("so what can I say", -0.5)
        return [loop if beam == 5 else fine], "en"

    out = decode_with_fallback(rung, DecodeOptions())
    assert calls == [5, 1] and (out.beam, out.attempts) == (1, 2)
    assert [s.text for s in out.segments] == ["so what can I say"]


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


def timed(*spans: tuple[str, float, float]) -> tuple[RawWord, ...]:
    return tuple(RawWord(f" {w}", a, b, 0.9) for w, a, b in spans)


def test_only_the_words_whose_middle_is_past_the_context_are_kept_on_the_utterances_clock() -> None:
    # 3 s of context, then the utterance: "see" (2.9-3.3) is mostly the utterance's,
    # "you" (2.5-3.1) mostly the context's; a segment wholly in the context goes.
    before = RawSegment(0.0, 2.0, " Hello there.", -0.3, 0.02, timed(("Hello", 0.2, 0.7),
                        ("there.", 0.8, 1.9)))  # fmt: skip
    astride = RawSegment(2.0, 4.8, " Thank you see later.", -0.4, 0.02,
                         timed(("Thank", 2.1, 2.4), ("you", 2.5, 3.1), ("see", 2.9, 3.3),
                               ("later.", 3.4, 4.8)))  # fmt: skip
    untimed_in = RawSegment(4.8, 6.0, " Bye.", -0.2, 0.01)
    untimed_out = RawSegment(1.0, 3.4, " Hm.", -0.2, 0.01)  # middle 2.2 < 3.0
    out = after_context([before, astride, untimed_out, untimed_in], 3.0)
    assert [s.text for s in out] == [" see later.", " Bye."]
    first = out[0]
    assert [(w.word, w.start, w.end) for w in first.words] == [
        (" see", 0.0, pytest.approx(0.3)), (" later.", pytest.approx(0.4), pytest.approx(1.8))]
    assert (first.start, first.end) == (0.0, pytest.approx(1.8))
    assert (first.avg_logprob, first.no_speech_prob) == (-0.4, 0.02)
    assert (out[1].start, out[1].end) == (pytest.approx(1.8), pytest.approx(3.0))
    # a word exactly halfway belongs to the utterance; no context changes nothing
    assert [s.text for s in after_context([RawSegment(0, 2, " a b", -0.1, 0.0,
            timed(("a", 0.5, 1.0), ("b", 1.0, 1.6)))], 1.3)] == [" b"]  # fmt: skip
    assert after_context([before, astride], 0.0) == [before, astride]


def test_the_context_decode_is_judged_on_the_utterances_part_and_kept_when_it_passes() -> None:
    # The context's words are a loop (a fallback if judged); the utterance's are fine.
    loop = RawSegment(0.0, 2.0, " the" * 30, -0.2, 0.01,
                      timed(*(("the", 0.05 * i, 0.05 * i + 0.04) for i in range(30))))  # fmt: skip
    own = RawSegment(2.0, 3.0, " Good night.", -0.3, 0.01,
                     timed(("Good", 2.1, 2.4), ("night.", 2.5, 2.9)))  # fmt: skip
    calls: list[tuple[str, int]] = []

    def alone(beam: int) -> tuple[list[RawSegment], str]:
        calls.append(("alone", beam))
        return [seg(" Could night.", -0.5)], "en"

    def after(result: list[RawSegment]) -> Callable[[int], tuple[list[RawSegment], str]]:
        def run(beam: int) -> tuple[list[RawSegment], str]:
            calls.append(("context", beam))
            return result, "en"

        return run

    audio = np.zeros(16000, np.float32)
    t = transcript_of(audio, alone, OPT, 50.0, None, IDENTITY, (after([loop, own]), 2.0))
    assert calls == [("context", 1)] and t.text == "Good night." and t.context_s == 2.0
    assert [(w.word, w.start_s) for w in t.words] == [(" Good", pytest.approx(50.1)),
                                                      (" night.", pytest.approx(50.5))]  # fmt: skip
    assert t.segments[0].start_s == pytest.approx(50.1) and t.segments[0].end_s == 51.0
    assert t.attempts == 1
    # A loop in the utterance's part, or nothing said there: decoded alone, as without.
    looping = RawSegment(2.0, 3.0, " no no" * 20, -0.2, 0.01)
    for result in ([loop, looping], [loop], []):
        calls.clear()
        t = transcript_of(audio, alone, OPT, 50.0, None, IDENTITY, (after(result), 2.0))
        assert calls == [("context", 1), ("alone", 1)], result
        assert t.text == "Could night." and t.context_s == 0.0 and t.attempts == 2
    # no context: never tried
    calls.clear()
    assert transcript_of(audio, alone, OPT, 50.0, None, IDENTITY).context_s == 0.0
    assert calls == [("alone", 1)]


def test_non_finite_scores_become_the_worst_values() -> None:
    raw = RawSegment(0.0, 1.0, "x", float("-inf"), float("nan"))
    assert raw.avg_logprob == -100.0 and raw.no_speech_prob == 1.0


def test_options_are_validated() -> None:
    for bad in ({"beam_size": 0}, {"fallback_beam_size": -1}, {"language": "English"},
                {"no_speech_threshold": 1.5}, {"logprob_threshold": 1.0}):  # fmt: skip
        with pytest.raises(ConfigError):
            DecodeOptions(**bad)  # type: ignore[arg-type]
    assert DecodeOptions(beam_size=5, fallback_beam_size=5).beams == (5,)
