"""Words to speakers: overlap, nearest turn, majority, stray words, runs."""

from __future__ import annotations

from ambient_flow.models.diarization import SpeakerSegment
from ambient_flow.models.transcription import Word
from ambient_flow.operators.words import WordOptions, assign_words, speaker_runs

SR = 16000


def turn(a: float, b: float, who: str) -> SpeakerSegment:
    return SpeakerSegment(round(a * SR), round(b * SR), who, 1.0)


def w(a: float, b: float, text: str) -> Word:
    return Word(text, a, b, 0.9)


def test_max_overlap_then_nearest_then_majority() -> None:
    turns = [turn(0, 2, "A"), turn(2.2, 4, "B")]
    words = [w(0.1, 0.5, " hello"), w(1.9, 2.3, " there"), w(2.5, 2.9, " hi"), w(6.0, 6.2, " far")]
    out = assign_words(words, turns, WordOptions(max_gap_s=1.0, absorb_max_words=0))
    assert [a.speaker for a in out] == ["A", "A", "B", "A"]  # "far": the majority (A has 2)
    assert [a.how for a in out] == ["overlap", "overlap", "overlap", "majority"]
    near = assign_words([w(4.5, 4.7, " after")], turns)
    assert (near[0].speaker, near[0].how) == ("B", "nearest")


def test_zero_length_words_are_widened() -> None:
    turns = [turn(0, 1, "A"), turn(1, 2, "B")]
    out = assign_words([w(1.006, 1.006, " x")], turns)
    assert out[0].speaker == "B"


def test_runs_split_an_utterance_by_speaker() -> None:
    turns = [turn(0, 2, "A"), turn(2, 4, "B")]
    words = [w(0.1, 0.5, " one"), w(0.6, 1.0, " two"), w(2.1, 2.5, " three"), w(2.6, 3.0, " four")]
    runs = speaker_runs(assign_words(words, turns))
    assert [(r.speaker, r.text) for r in runs] == [("A", "one two"), ("B", "three four")]
    assert runs[1].start_sample == round(2.1 * SR) and runs[1].end_sample == 3 * SR
    assert runs[0].words[0].to_dict() == {"word": " one", "start": 0.1, "end": 0.5,
                                          "probability": 0.9, "speaker": "A"}  # fmt: skip


def test_a_single_stray_word_is_absorbed() -> None:
    # "b" overlaps B most, but B's turn covers only half of it: timed across a boundary
    turns = [turn(0, 1.95, "A"), turn(2.0, 2.2, "B"), turn(2.35, 4, "A")]
    words = [w(0.5, 1.0, " a"), w(1.9, 2.3, " b"), w(2.5, 3.0, " c")]
    out = assign_words(words, turns, WordOptions(absorb_max_words=1))
    assert [a.speaker for a in out] == ["A", "A", "A"]
    kept = assign_words(words, turns, WordOptions(absorb_max_words=0))
    assert [a.speaker for a in kept] == ["A", "B", "A"]


def test_no_turns_gives_no_speaker() -> None:
    out = assign_words([w(0, 1, " x")], [])
    assert out[0].speaker is None and out[0].how == "none"
    assert [r.speaker for r in speaker_runs(out)] == [None]
