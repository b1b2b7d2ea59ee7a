"""Joining model results into frames: speakers, transcripts, what was in view.

The results are the backends' own result types, built by hand: the join is pure logic.
"""

from __future__ import annotations

import numpy as np
from bytewax.operators import StatefulLogic

from ambient_flow.models.detection import Detection
from ambient_flow.models.diarization import DiarizationStep, SpeakerRelabel, SpeakerSegment
from ambient_flow.models.identity import ModelIdentity
from ambient_flow.models.transcription import Segment, Word
from ambient_flow.models.transcription import Transcript as RealTranscript
from ambient_flow.operators.attribution import (
    UPSTREAM_KEYS,
    AttributionLogic,
    Enrichment,
    SessionBoundary,
)
from ambient_flow.operators.events import ClientEvent
from ambient_flow.operators.model_stage import Detected, Diarized, ModelResult, Passed, Transcribed
from ambient_flow.operators.speech import DiarizationWindow, PlacedVideoFrame, UtteranceAudio
from ambient_flow.protocol.messages import VideoFrame
from ambient_flow.testing.messages import T0_MS

SR = 16000
NS = 1_000_000_000


IDENTITY = ModelIdentity(kind="transcriber", name="test", path=None, sha256={}, options={})


def Seg(start: int, end: int, speaker: str) -> SpeakerSegment:
    return SpeakerSegment(start, end, speaker, 0.9)


def Step(
    start: int,
    end: int,
    segments: tuple[SpeakerSegment, ...],
    relabels: tuple[SpeakerRelabel, ...] = (),
) -> DiarizationStep:
    speakers = tuple(sorted({s.speaker for s in segments}))
    return DiarizationStep(max(0, end - 5 * SR), end, start, end, segments, speakers,
                           relabels=relabels)  # fmt: skip


def Transcript(text: str, words: tuple[tuple[float, float], ...] = ()) -> RealTranscript:
    """One segment; with `words`, one timed word per token (seconds on the stream clock)."""
    tokens = text.split() if words else []
    timed = tuple(Word(f" {t}", a, b, 0.9) for t, (a, b) in zip(tokens, words, strict=True))
    segment = Segment(0.0, 1.0, text, -0.2, 0.01, timed)
    return RealTranscript(text, (segment,), -0.2, 0.01, 0.8, "en", IDENTITY)


def window(end: int) -> DiarizationWindow:
    samples = np.zeros(min(end, 5 * SR), np.float32)
    return DiarizationWindow("c", "s1", end - samples.size, end, samples,
                             np.zeros(samples.size // 512, bool), 512, end * 1000)  # fmt: skip


def utterance(start: int, end: int) -> UtteranceAudio:
    return UtteranceAudio("c", "s1", start, end, np.zeros(end - start, np.float32), "silence",
                          10 * NS + start * 62_500, 10 * NS + end * 62_500 + NS // 10,
                          speech=((start, end),))  # fmt: skip


def run(items: list[ModelResult]) -> list:  # type: ignore[type-arg]
    logic = AttributionLogic()
    start = ClientEvent("c", "session_start", 10 * NS, "s1", {"start_sample": 0})
    out = list(logic.on_item(Passed(start))[0])
    for item in items:
        out += list(logic.on_item(item)[0])
    return [e for e in out if isinstance(e, Enrichment)]


def test_an_utterance_without_word_times_gets_the_speaker_covering_most_of_it() -> None:
    frames = run([
        Diarized(window(2 * SR), Step(0, 2 * SR, (Seg(0, 2 * SR, "speaker0"),))),
        Diarized(window(4 * SR), Step(2 * SR, 4 * SR, (Seg(2 * SR, 4 * SR, "speaker1"),))),
        Transcribed(utterance(SR, 4 * SR), Transcript("hello there friend")),
    ])  # fmt: skip
    changes = [f for f in frames if f.event_type == "speaker_change"]
    assert [(f.speaker_prediction, f.sample_position) for f in changes] == [
        ("speaker0", 0), ("speaker1", 2 * SR)]  # fmt: skip
    (utt,) = [f for f in frames if f.event_type == "utterance"]
    assert utt.speaker_prediction == "speaker1"
    assert utt.extra["speakers"] == {"speaker0": 0.333, "speaker1": 0.667}
    record = utt.upstream_record()
    assert record["timestamp"] == 1.0 and record["frame_id"] == "s1_1.000"
    assert record["text_hypothesis"] == "hello there friend" and record["weight"] == 0.6
    assert utt.extra["words"] == [] and (utt.extra["run"], utt.extra["runs"]) == (0, 1)


def test_words_go_to_their_speakers_and_each_speaker_run_is_a_line() -> None:
    frames = run([
        Diarized(window(2 * SR), Step(0, 2 * SR, (Seg(0, 2 * SR, "speaker0"),))),
        Diarized(window(4 * SR), Step(2 * SR, 4 * SR, (Seg(2 * SR, 4 * SR, "speaker1"),))),
        Transcribed(utterance(SR, 4 * SR), Transcript(
            "did it finish yes it did", ((1.1, 1.3), (1.4, 1.5), (1.6, 1.9), (2.3, 2.5),
                                         (2.6, 2.7), (2.8, 3.0)))),
    ])  # fmt: skip
    first, second = [f for f in frames if f.event_type == "utterance"]
    assert (first.speaker_prediction, first.text_hypothesis) == ("speaker0", "did it finish")
    assert (second.speaker_prediction, second.text_hypothesis) == ("speaker1", "yes it did")
    # the utterance's span is shared at the runs' boundary: upstream keys stay as they were
    assert (first.sample_position, first.extra["end_sample"]) == (SR, round(2.3 * SR))
    assert (second.sample_position, second.extra["end_sample"]) == (round(2.3 * SR), 4 * SR)
    assert [w["speaker"] for w in first.extra["words"] + second.extra["words"]] == \
        ["speaker0"] * 3 + ["speaker1"] * 3  # fmt: skip
    assert first.extra["words"][0] == {"word": " did", "start": 1.1, "end": 1.3,
                                       "probability": 0.9, "speaker": "speaker0"}  # fmt: skip
    assert {f.extra["utterance_id"] for f in (first, second)} == {f"s1_u{SR}"}
    assert [(f.extra["run"], f.extra["runs"]) for f in (first, second)] == [(0, 2), (1, 2)]
    assert first.extra["speech"] == [[SR, round(2.3 * SR)]]
    for f in (first, second):
        record = f.upstream_record()
        assert tuple(record) == UPSTREAM_KEYS
        assert record["created_at"] <= record["enriched_at"]


def test_relabels_are_lines_before_the_steps_news_and_later_words_follow_them() -> None:
    fix = SpeakerRelabel(0, 2 * SR, "speaker0", "speaker1", 4 * SR, "recluster")
    frames = run([
        Diarized(window(2 * SR), Step(0, 2 * SR, (Seg(0, 2 * SR, "speaker0"),))),
        Diarized(window(4 * SR), Step(2 * SR, 4 * SR, (Seg(2 * SR, 4 * SR, "speaker1"),), (fix,))),
        Transcribed(utterance(SR, 4 * SR), Transcript("one two", ((1.2, 1.5), (2.5, 2.8)))),
    ])  # fmt: skip
    kinds = [(f.event_type, f.speaker_prediction) for f in frames]
    # the correction comes first; the next speech says who speaks from there on again (the
    # correction changed only its own span of the turn drawn before it)
    assert kinds == [("speaker_change", "speaker0"), ("speaker_relabel", "speaker1"),
                     ("speaker_change", "speaker1"), ("utterance", "speaker1")]  # fmt: skip
    relabel = frames[1]
    assert relabel.sample_position == 0 and relabel.text_hypothesis is None
    assert {k: relabel.extra[k] for k in ("old", "new", "start_sample", "end_sample", "reason")} \
        == {"old": "speaker0", "new": "speaker1", "start_sample": 0, "end_sample": 2 * SR,
            "reason": "recluster"}  # fmt: skip
    assert frames[3].text_hypothesis == "one two"  # both words: speaker1 after the fix


def test_two_lines_never_share_a_frame_id() -> None:
    frames = run([
        Diarized(window(2 * SR), Step(SR, 2 * SR, (Seg(SR, 2 * SR, "speaker0"),))),
        Transcribed(utterance(SR, 2 * SR), Transcript("same place")),
        Transcribed(utterance(SR + 4, 2 * SR), Transcript("same millisecond")),
    ])  # fmt: skip
    ids = [f.frame_id for f in frames]
    assert ids == ["s1_1.000", "s1_1.001", "s1_1.002"]
    assert [f.sample_position for f in frames] == [SR, SR, SR + 4]  # positions stay true


def test_empty_transcripts_make_no_frame() -> None:
    frames = run([Transcribed(utterance(0, SR), Transcript("  "))])
    assert frames == []


def test_frames_carry_the_latest_detections_at_or_before_their_time() -> None:
    frame = VideoFrame("c", T0_MS, 0, 64, 48, "jpeg", b"\xff\xd8", 10 * NS)
    person = (Detection("person", (1.0, 2.0, 3.0, 4.0), 0.9),)
    frames = run([
        Detected(PlacedVideoFrame(frame, "s1", SR // 2), person),
        Detected(PlacedVideoFrame(frame, "s1", 3 * SR), ()),
        Transcribed(utterance(SR, 2 * SR), Transcript("before the person left")),
        Transcribed(utterance(3 * SR, 4 * SR), Transcript("after")),
    ])  # fmt: skip
    detections = [f for f in frames if f.event_type == "detections"]
    assert [f.extra["counts"] for f in detections] == [{"person": 1}, {}]
    first, second = [f for f in frames if f.event_type == "utterance"]
    assert first.visual_context is not None
    assert first.visual_context["detections"] == [d.to_dict() for d in person]
    assert second.visual_context is not None and second.visual_context["detections"] == []


def test_a_session_opens_and_closes_with_its_enrichment_count() -> None:
    logic = AttributionLogic()
    start = ClientEvent("c", "session_start", 10 * NS, "s1", {"start_sample": 0})
    (opened,) = logic.on_item(Passed(start))[0]
    assert opened == SessionBoundary("c", "s1", "open", 0)
    said = list(logic.on_item(Transcribed(utterance(0, SR), Transcript("one")))[0])
    said += list(logic.on_item(Transcribed(utterance(SR, 2 * SR), Transcript("two")))[0])
    end = ClientEvent("c", "session_end", 12 * NS, "s1", {})
    out, retain = logic.on_item(Passed(end))
    assert list(out) == [SessionBoundary("c", "s1", "close", len(said))] and len(said) == 2
    assert retain is StatefulLogic.DISCARD  # the session's timeline is released


def test_the_upstream_record_has_exactly_the_upstream_keys_and_a_number_for_confidence() -> None:
    frames = run([Diarized(window(2 * SR), Step(0, 2 * SR, (Seg(0, 2 * SR, "speaker0"),)))])
    for frame in frames:
        record = frame.upstream_record()
        assert tuple(record) == UPSTREAM_KEYS
        assert isinstance(record["confidence"], float)
        assert frame.detail_record()["frame_id"] == record["frame_id"]
