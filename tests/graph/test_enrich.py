"""The whole enrichment on the embedded models: the bundled dialogue in, frames out."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

pytest.importorskip("faster_whisper", reason="the [audio] extra provides the models")
pytest.importorskip("resemblyzer", reason="the [audio] extra provides the models")

import jiwer

from ambient_flow.config import Settings
from ambient_flow.graph.replay import replay_settings
from ambient_flow.sinks.consumer import SessionView
from ambient_flow.sinks.enrichment import read_enrichments
from ambient_flow.testing import run_capture
from tests.flows.test_record_replay import tree_digest

SAMPLE = Path(__file__).resolve().parents[2] / "recordings" / "sample.zmqcap"
SCRIPT = [
    "Good morning. Did the build finish overnight?",
    "It did, but two tests failed on the replay machine.",
    "Which ones? The capture tests or the network ones?",
    "The network ones. The port was already in use.",
    "Then the error message should tell us which port, and how to change it.",
    "It does now. I also added a counter for every rejected message.",
    "Great. Let's record a short session and replay it twice.",
    "Sounds good. I will start the host.",
]


def enrich(out: Path, workers: int = 1, **knobs: object) -> list[dict]:  # type: ignore[type-arg]
    settings = dataclasses.replace(
        replay_settings(SAMPLE, Settings(), str(out)), enrich=True, detector="opencv", **knobs
    )
    run_capture(SAMPLE, out, settings=settings, workers=workers)
    (session,) = (out / "sessions").glob("*/")
    return read_enrichments(session)


@pytest.fixture(scope="module")
def frames(tmp_path_factory: pytest.TempPathFactory) -> list[dict]:  # type: ignore[type-arg]
    return enrich(tmp_path_factory.mktemp("enrich"), num_speakers=2)


def reference_turns() -> list[tuple[float, float, str]]:
    turns = []
    for line in SAMPLE.with_suffix(".rttm").read_text().splitlines():
        f = line.split()
        turns.append((float(f[3]), float(f[3]) + float(f[4]), f[7]))
    return turns


def normalize(text: str) -> str:
    return " ".join("".join(c for c in text.lower() if c.isalnum() or c.isspace()).split())


def test_the_dialogue_is_transcribed(frames) -> None:  # type: ignore[no-untyped-def]
    said = " ".join(f["text_hypothesis"] for f in frames if f["event_type"] == "utterance")
    wer = jiwer.wer(normalize(" ".join(SCRIPT)), normalize(said))
    assert wer < 0.45, (wer, said)


def test_two_voices_get_two_labels_and_each_line_the_voice_that_said_it(frames) -> None:  # type: ignore[no-untyped-def]
    # As a consumer shows it: every speaker_relabel applied to the lines before it.
    view = SessionView.from_lines(frames)
    assert {u.speaker for u in view.utterances} == {t.speaker for t in view.timeline()}
    assert len({u.speaker for u in view.utterances}) == 2
    # Each label stands for one voice: map every line to the reference speaker who talks
    # most within it; one label per voice for (nearly) all of them.
    pairs = []
    for u in view.utterances:
        start, end = u.start / 16000, u.end / 16000
        talk: dict[str, float] = {}
        for s, e, who in reference_turns():
            talk[who] = talk.get(who, 0.0) + max(0.0, min(e, end) - max(s, start))
        pairs.append((max(talk, key=lambda k: talk[k]), u.speaker))
    label = {}
    for who, _ in pairs:
        theirs = [p for w, p in pairs if w == who]
        label[who] = max(set(theirs), key=theirs.count)
    assert len(set(label.values())) == 2
    agree = sum(label[who] == predicted for who, predicted in pairs)
    assert agree >= len(pairs) - 1, pairs
    lines = [f for f in frames if f["event_type"] == "utterance"]
    for f in lines:  # as written, a line's speaker is the one its words were given to
        assert {w["speaker"] for w in f["words"]} == {f["speaker_prediction"]}
    changes = [f for f in frames if f["event_type"] == "speaker_change"]
    assert len(changes) >= 4


def test_frames_follow_the_schema(frames) -> None:  # type: ignore[no-untyped-def]
    keys = {"timestamp", "sample_position", "speaker_prediction", "visual_context",
            "text_hypothesis", "confidence", "weight", "frame_id", "session_id", "event_type",
            "created_at", "enriched_at"}  # fmt: skip
    for f in frames:
        assert keys <= set(f)
        assert f["frame_id"] == f"{f['session_id']}_{f['timestamp']:.3f}"
        assert f["created_at"] <= f["enriched_at"]
    positions = [f["sample_position"] for f in frames if f["event_type"] == "speaker_change"]
    assert positions == sorted(positions)
    ids = [f["frame_id"] for f in frames]
    assert len(set(ids)) == len(ids)  # never two lines with one id
    for f in frames:
        if f["event_type"] == "utterance":
            assert 0 < f["confidence"] <= 1 and f["text_hypothesis"]


def test_an_unknown_speaker_count_still_separates_the_voices(tmp_path: Path) -> None:
    view = SessionView.from_lines(enrich(tmp_path))
    labels = {u.speaker for u in view.utterances}
    print("labels, speaker count unknown:", labels)
    assert len(labels) == 2  # the old centroid clusterer gave 4 labels for these 2 voices


def test_enriched_replays_are_byte_identical(tmp_path: Path) -> None:
    # with left audio context, which must come from the stream alone; whatever runs in
    # parallel (Bytewax workers, Whisper decodes)
    lines = enrich(tmp_path / "a", context_seconds=6.0)
    enrich(tmp_path / "b", workers=2, context_seconds=6.0, whisper_workers=2)
    assert tree_digest(tmp_path / "a") == tree_digest(tmp_path / "b")
    used = [f["decoding"]["context_s"] for f in lines if f["event_type"] == "utterance"]
    assert max(used) > 0.0 and all(0.0 <= c <= 6.0 for c in used)
