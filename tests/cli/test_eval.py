"""`ambient-flow eval` on the real two-speaker call in pyannote.audio's wheel and our sample.

Ceilings over figures measured on this machine with the embedded defaults (turn-aware
utterances, resemblyzer + the turn tracker and session re-clustering, Whisper tiny.en
from its wheel, Silero VAD), scored from the session files as a consumer reads them, with
margin for numeric noise (2026-12-01):

| input | DER collar 0 | speakers | WER | cpWER |
|---|---|---|---|---|
| pyannote sample.wav, speakers unknown | 23.3 % | 2 of 2 | 22.2 % | 49.4 % |
| recordings/sample.zmqcap, 2 speakers known | 14.3 % | 2 of 2 | 37.2 % | 37.2 % |
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("pyannote.metrics", reason="the [audio] extra provides the models")
pytest.importorskip("resemblyzer", reason="the [audio] extra provides the models")

from ambient_flow.cli.evaluate import cp_wer, evaluate, read_transcript
from ambient_flow.config import Settings

ROOT = Path(__file__).resolve().parents[2]


def pyannote_sample() -> Path:
    import importlib.util

    spec = importlib.util.find_spec("pyannote.audio")
    assert spec is not None and spec.submodule_search_locations
    return Path(next(iter(spec.submodule_search_locations))) / "sample"


def test_der_on_pyannotes_real_two_speaker_call() -> None:
    sample = pyannote_sample()
    transcript = ROOT / "bench" / "speech" / "real_call.txt"  # ours: the wheel has none
    result = evaluate(sample / "sample.wav", rttm=sample / "sample.rttm", transcript=transcript)
    assert abs(result.duration_s - 30.0) < 0.2
    assert result.speakers_hypothesis == 2, result.format()
    assert result.der is not None and result.der < 0.30, result.format()  # collar 0
    assert result.wer is not None and result.wer < 0.27, result.format()
    assert result.cpwer is not None and result.cpwer < 0.60, result.format()
    # the two voices measured with the diarizer's own encoder (0.150 apart on 2026-12-02)
    voices = result.voices
    assert voices is not None and set(voices.pieces) == {"speaker90", "speaker91"}
    assert 0.10 < voices.distance("speaker90", "speaker91") < 0.20, voices
    assert "voices     apart speaker90-speaker91" in result.format()
    [[a, b, d]] = json.loads(json.dumps(result.to_dict()))["voices"]["pairs"]
    assert (a, b, d) == voices.pairs[0]


def test_der_wer_and_cpwer_on_the_bundled_dialogue() -> None:
    result = evaluate(
        ROOT / "recordings" / "sample.zmqcap",
        rttm=ROOT / "recordings" / "sample.rttm",
        transcript=ROOT / "recordings" / "sample.txt",
        settings=Settings(num_speakers=2),
    )
    assert result.speakers_hypothesis == 2
    assert result.der is not None and result.der < 0.20, result.format()
    assert result.wer is not None and result.wer < 0.45, result.format()
    assert result.cpwer is not None and result.cpwer < 0.45, result.format()


def test_cpwer_picks_the_best_speaker_mapping() -> None:
    reference = {"alex": "good morning", "sam": "the build failed"}
    assert cp_wer(reference, {"s1": "good morning", "s0": "the build failed"}) == 0.0
    swapped_words = cp_wer(reference, {"s0": "good morning the build failed"})
    assert swapped_words == 4 / 5  # one speaker for both: alex deleted (2) + inserted (2)
    assert cp_wer(reference, {"s0": "good morning", "s1": "the build", "s2": "extra"}) == 2 / 5


def test_transcripts_with_and_without_speakers(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("alex: Hello there.\nsam: Hi!\n\n")
    assert read_transcript(tmp_path / "a.txt") == [("alex", "Hello there."), ("sam", "Hi!")]
    (tmp_path / "b.txt").write_text("Just words: with a colon later.\n")
    assert read_transcript(tmp_path / "b.txt")[0][0] is None


def test_eval_prints_der_at_both_collars_with_its_parts_and_speakers_found_vs_given() -> None:
    from ambient_flow.cli.evaluate import score_session

    sr = 16000
    words = [{"word": " hello", "start": 0.2, "end": 1.5, "speaker": "speaker0"},
             {"word": " there", "start": 2.2, "end": 3.8, "speaker": "speaker1"}]  # fmt: skip
    lines = [
        {"event_type": "speaker_change", "sample_position": 0, "speaker_prediction": "speaker0"},
        {"event_type": "speaker_change", "sample_position": 2 * sr,
         "speaker_prediction": "speaker1"},
        {"event_type": "utterance", "sample_position": 0, "end_sample": 4 * sr,
         "speaker_prediction": "speaker0", "text_hypothesis": "hello there",
         "speech": [[0, 4 * sr]], "words": words},
    ]  # fmt: skip
    reference = [(0.0, 2.0, "alex"), (2.0, 4.0, "sam"), (4.0, 5.0, "kim")]
    said = [("alex", "Hello!"), ("sam", "there"), ("kim", "bye")]
    result = score_session(lines, duration_s=6.0, reference=reference, transcript=said)
    text = result.format()
    print(text)
    assert (result.speakers_hypothesis, result.speakers_reference) == (2, 3)
    assert "2 found, 3 in the reference" in text
    for collar in ("0", "0.25"):
        assert f"timeline, collar {collar} s  (missed " in text
        assert f"utterances, collar {collar} s  (missed " in text
    timeline = result.ders["timeline"]
    assert timeline["0"]["missed"] == pytest.approx(1 / 5)  # kim's second is nobody's
    assert timeline["0"]["false_alarm"] == 0 and timeline["0"]["confusion"] == 0
    assert timeline["0.25"]["der"] < timeline["0"]["der"]
    assert result.wer == pytest.approx(1 / 3) and result.cpwer == pytest.approx(1 / 3)
    assert "WER        33.3 %" in text and "cpWER      33.3 %" in text
