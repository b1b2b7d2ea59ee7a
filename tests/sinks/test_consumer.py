"""Reading a session as a consumer that honours `speaker_relabel` lines does."""

from __future__ import annotations

from typing import Any

from ambient_flow.sinks.consumer import SessionView, Span

SR = 16000


def change(pos: int, who: str) -> dict[str, Any]:
    return {"event_type": "speaker_change", "sample_position": pos, "speaker_prediction": who}


def relabel(start: int, end: int, old: str, new: str) -> dict[str, Any]:
    return {"event_type": "speaker_relabel", "sample_position": start, "speaker_prediction": new,
            "start_sample": start, "end_sample": end, "old": old, "new": new}  # fmt: skip


def said(start: int, end: int, who: str, text: str, words: list[tuple[float, float, str, str]]
         ) -> dict[str, Any]:  # fmt: skip
    return {"event_type": "utterance", "sample_position": start, "end_sample": end,
            "speaker_prediction": who, "text_hypothesis": text, "speech": [[start, end]],
            "words": [{"word": f" {t}", "start": a, "end": b, "speaker": s}
                      for a, b, t, s in words]}  # fmt: skip


def test_turns_run_from_one_speaker_change_to_the_next_and_count_where_speech_is() -> None:
    view = SessionView.from_lines([
        change(0, "speaker0"), change(2 * SR, "speaker1"),
        said(0, 2 * SR, "speaker0", "hello", [(0.5, 1.0, "hello", "speaker0")]),
        said(2 * SR, 3 * SR, "speaker1", "hi", [(2.2, 2.6, "hi", "speaker1")]),
    ])  # fmt: skip
    assert view.timeline() == [Span(0, 2 * SR, "speaker0"), Span(2 * SR, 3 * SR, "speaker1")]
    assert view.text() == "hello hi"
    assert view.text_by_speaker() == {"speaker0": "hello", "speaker1": "hi"}


def test_a_relabel_changes_only_what_came_before_it_and_only_its_label_in_its_span() -> None:
    view = SessionView.from_lines([
        change(0, "speaker0"),
        said(0, 2 * SR, "speaker0", "one two", [(0.2, 0.6, "one", "speaker0"),
                                                (1.4, 1.8, "two", "speaker0")]),
        relabel(SR, 2 * SR, "speaker0", "speaker1"),
        said(2 * SR, 3 * SR, "speaker0", "three", [(2.2, 2.6, "three", "speaker0")]),
    ])  # fmt: skip
    assert view.relabels == 1
    # the turn drawn before the event: changed inside the event's span only
    assert view.timeline() == [Span(0, SR, "speaker0"), Span(SR, 2 * SR, "speaker1"),
                               Span(2 * SR, 3 * SR, "speaker0")]  # fmt: skip
    # words: "two" (middle inside the span) moves; "three" came after the event: it stays
    assert view.text_by_speaker() == {"speaker0": "one three", "speaker1": "two"}
    first = view.utterances[0]
    assert first.speaker == "speaker1"  # its middle (1 s) is at the span's start: inside
    assert [w.speaker for w in first.words] == ["speaker0", "speaker1"]


def test_lines_are_scored_per_utterance_too() -> None:
    view = SessionView.from_lines([said(SR, 2 * SR, "speaker3", "x", [])])
    assert view.by_utterance() == [Span(SR, 2 * SR, "speaker3")]
    assert view.text_by_speaker() == {"speaker3": "x"}
    assert view.timeline() == []  # no speaker change: nobody shown as speaking


def test_a_speaker_change_inside_a_relabelled_stretch_ends_every_piece_of_the_open_turn() -> None:
    view = SessionView.from_lines([
        change(0, "speaker0"),
        relabel(SR, 3 * SR, "speaker0", "speaker1"),  # reaches past the next speech
        change(2 * SR, "speaker2"),
        said(0, 4 * SR, "speaker0", "x", []),
    ])  # fmt: skip
    assert view.timeline() == [Span(0, SR, "speaker0"), Span(SR, 2 * SR, "speaker1"),
                               Span(2 * SR, 4 * SR, "speaker2")]  # fmt: skip
