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


def test_two_voices_get_two_labels_and_utterances_get_the_speaker_that_covers_them(frames) -> None:  # type: ignore[no-untyped-def]
    utterances = [f for f in frames if f["event_type"] == "utterance"]
    speakers = {f["speaker_prediction"] for f in utterances}
    assert speakers == {"speaker0", "speaker1"}
    # Each label stands for one voice: map every utterance to the reference speaker who
    # talks most within it; one label per voice for (nearly) all of them.
    pairs = []
    for f in utterances:
        start, end = f["timestamp"], f["timestamp"] + f["duration"]
        talk: dict[str, float] = {}
        for s, e, who in reference_turns():
            talk[who] = talk.get(who, 0.0) + max(0.0, min(e, end) - max(s, start))
        pairs.append((max(talk, key=lambda k: talk[k]), f["speaker_prediction"]))
    label = {}
    for who, _ in pairs:
        theirs = [p for w, p in pairs if w == who]
        label[who] = max(set(theirs), key=theirs.count)
    assert len(set(label.values())) == 2
    agree = sum(label[who] == predicted for who, predicted in pairs)
    assert agree >= len(pairs) - 1, pairs
    for f in utterances:
        share = f["speakers"][f["speaker_prediction"]]
        assert share == max(f["speakers"].values())
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
    for f in frames:
        if f["event_type"] == "utterance":
            assert 0 < f["confidence"] <= 1 and f["text_hypothesis"]


def test_an_unknown_speaker_count_still_separates_the_voices(tmp_path: Path) -> None:
    labels = {f["speaker_prediction"] for f in enrich(tmp_path) if f["event_type"] == "utterance"}
    assert 2 <= len(labels) <= 4  # the embedded clusterer may open an extra speaker or two


def test_enriched_replays_are_byte_identical(tmp_path: Path) -> None:
    enrich(tmp_path / "a")
    enrich(tmp_path / "b", workers=2)
    assert tree_digest(tmp_path / "a") == tree_digest(tmp_path / "b")
