"""`ambient-flow eval` on the real two-speaker call in pyannote.audio's wheel and our sample.

Ceilings measured once on this machine with the embedded models (resemblyzer + centroid
clustering, Whisper tiny.en from its wheel, Silero VAD), with margin for numeric noise:

| input | DER | WER | cpWER |
|---|---|---|---|
| pyannote sample.wav, speakers unknown | 37.9 % | - | - |
| recordings/sample.zmqcap, 2 speakers known | 25.6 % | 42.3 % | 67.9 % |
"""

from __future__ import annotations

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
    result = evaluate(sample / "sample.wav", rttm=sample / "sample.rttm")
    assert abs(result.duration_s - 30.0) < 0.2
    assert result.der is not None and result.der < 0.45, result.format()
    assert result.speakers_hypothesis >= 2


def test_der_wer_and_cpwer_on_the_bundled_dialogue() -> None:
    result = evaluate(
        ROOT / "recordings" / "sample.zmqcap",
        rttm=ROOT / "recordings" / "sample.rttm",
        transcript=ROOT / "recordings" / "sample.txt",
        settings=Settings(num_speakers=2),
    )
    assert result.speakers_hypothesis == 2
    assert result.der is not None and result.der < 0.32, result.format()
    assert result.wer is not None and result.wer < 0.5, result.format()
    assert result.cpwer is not None and result.cpwer < 0.75, result.format()


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
