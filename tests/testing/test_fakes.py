"""The fakes run the whole enrichment graph without the model stack, deterministically."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ambient_flow.config import Settings
from ambient_flow.models import Detection, Detector, Diarizer, SpeechProbability, Transcriber
from ambient_flow.testing import fakes, run_messages
from ambient_flow.testing.media import sine_pcm
from ambient_flow.testing.messages import T0_MS, audio_raw, video_raw

SR = 16000


def talk(seconds: float, first_seq: int = 0) -> list:  # type: ignore[type-arg]
    """Loud tone for `seconds`, then 1.5 s of silence (so the utterance closes)."""
    loud = int(seconds * 10)
    msgs = [audio_raw(first_seq + i, pcm=sine_pcm(220.0, phase_samples=1600 * i))
            for i in range(loud)]  # fmt: skip
    quiet = bytes(3200)
    msgs += [audio_raw(first_seq + loud + i, pcm=quiet) for i in range(15)]
    return msgs


def test_the_fakes_implement_the_model_interfaces() -> None:
    m = fakes.models()
    assert isinstance(m.vad, SpeechProbability)
    assert isinstance(m.transcriber, Transcriber)
    assert isinstance(m.diarizer, Diarizer)
    assert isinstance(m.detector, Detector)
    assert set(m.identities()) == {"vad", "transcriber", "diarizer", "detector"}


def test_the_enrichment_graph_runs_on_fakes(tmp_path: Path) -> None:
    turns = [(0.0, 1.5, "alice"), (1.5, 3.0, "bob")]
    models = fakes.models(turns=turns, script=lambda s, e: "hello there")
    out = run_messages(talk(3.0), tmp_path, settings=Settings(enrich=True), models=models)
    changes = out.lines("speaker_change")
    assert [e.speaker_prediction for e in changes] == ["speaker0", "speaker1"]
    assert changes[0].sample_position < SR // 10  # the first window's first block
    assert changes[1].sample_position == int(1.5 * SR)
    # the speaker change ends the utterance there: one utterance per turn
    said = out.lines("utterance")
    assert [(u.speaker_prediction, u.text_hypothesis) for u in said] == [
        ("speaker0", "hello there"), ("speaker1", "hello there")]  # fmt: skip
    assert [u.extra["segmentation"] for u in said] == ["speaker_change", "silence"]
    assert 0 <= int(1.5 * SR) - said[1].sample_position < 512  # on the VAD's block grid
    (frames,) = (tmp_path / "sessions").glob("*/frames.jsonl")
    assert len(frames.read_text().splitlines()) == len(out.enrichments)


def test_without_change_cuts_the_words_of_one_utterance_still_find_their_speakers(
    tmp_path: Path,
) -> None:
    turns = [(0.0, 1.5, "alice"), (1.5, 3.0, "bob")]
    models = fakes.models(turns=turns, script=lambda s, e: "one two three four")
    settings = Settings(enrich=True, speaker_change_cuts=False)
    out = run_messages(talk(3.0), tmp_path, settings=settings, models=models)
    said = out.lines("utterance")
    assert [(u.speaker_prediction, u.text_hypothesis) for u in said] == [
        ("speaker0", "one two"), ("speaker1", "three four")]  # fmt: skip
    assert {u.extra["utterance_id"] for u in said} == {said[0].extra["utterance_id"]}
    assert [w["speaker"] for u in said for w in u.extra["words"]] == ["speaker0"] * 2 + [
        "speaker1"] * 2  # fmt: skip


def test_scripted_corrections_become_relabel_lines(tmp_path: Path) -> None:
    turns = [(0.0, 1.5, "alice"), (1.5, 3.0, "bob")]
    models = fakes.models(turns=turns, corrections=[(2.0, "alice", "bob")])
    out = run_messages(talk(3.0), tmp_path, settings=Settings(enrich=True), models=models)
    (fix,) = out.lines("speaker_relabel")
    assert (fix.extra["old"], fix.extra["new"], fix.extra["reason"]) == (
        "speaker0", "speaker1", "recluster")  # fmt: skip
    assert fix.speaker_prediction == "speaker1" and fix.sample_position == 0


def test_scripted_detections_become_visual_context(tmp_path: Path) -> None:
    person = Detection("person", (1.0, 2.0, 30.0, 40.0), 0.9)
    models = fakes.models(found=lambda image: [person] if image.mean() > 0 else [])
    quiet = [audio_raw(i, pcm=bytes(3200)) for i in range(10)]  # 1 s before the words
    msgs = quiet + talk(1.0, first_seq=10)
    msgs.insert(3, video_raw(0, ts=T0_MS + 200, w=64, h=48))  # in view from 0.2 s
    out = run_messages(msgs, tmp_path, settings=Settings(enrich=True), models=models)
    (seen,) = out.lines("detections")
    assert seen.extra["counts"] == {"person": 1}
    (utterance,) = out.lines("utterance")
    assert utterance.visual_context is not None
    assert utterance.visual_context["detections"] == [person.to_dict()]


def test_silence_gives_no_utterance_on_fakes(tmp_path: Path) -> None:
    msgs = [audio_raw(i, pcm=bytes(3200)) for i in range(30)]
    out = run_messages(msgs, tmp_path, settings=Settings(enrich=True), models=fakes.models())
    assert out.lines("utterance") == []
    assert np.isfinite(len(out.audio()))
