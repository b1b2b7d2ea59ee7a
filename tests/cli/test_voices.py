"""How far apart reference voices lie for the embedded speaker encoder (`eval`'s diagnostic),
measured with the real resemblyzer encoder on espeak-ng speech."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("resemblyzer", reason="the [audio] extra provides the encoder")

from ambient_flow.backends.diarize_embedded import EmbeddedDiarizer
from ambient_flow.cli.voices import CLOSE, NEAR, single_speaker_spans, voice_separation
from ambient_flow.testing.media import speech

SR = 16000
TEXTS = (
    "The weather was cold and grey all through the long morning walk.",
    "We talked about the new project and what it would need next week.",
    "Nobody expected the train to arrive so early on a quiet Sunday.",
    "Please remember to bring the blue folder and the spare batteries.",
)


def dialogue(first: str, second: str) -> tuple[np.ndarray, list[tuple[float, float, str]]]:
    """Four turns, alternating `first` and `second` (espeak-ng voices), 0.2 s apart."""
    parts, ref, t = [], [], 0.0
    for i, text in enumerate(TEXTS):
        x = speech(text, voice=(first, second)[i % 2]).astype(np.float32) / 32768
        ref.append((t, t + len(x) / SR, ("alex", "sam")[i % 2]))
        parts += [x, np.zeros(SR // 5, np.float32)]
        t += len(x) / SR + 0.2
    return np.concatenate(parts), ref


@pytest.fixture(scope="module")
def encoder() -> EmbeddedDiarizer:
    return EmbeddedDiarizer()


def test_overlap_is_nobodys_single_speaker_speech() -> None:
    spans = single_speaker_spans([(0.0, 3.0, "a"), (2.0, 5.0, "b"), (6.0, 7.0, "a")])
    assert spans == {"a": [(0.0, 2.0), (6.0, 7.0)], "b": [(3.0, 5.0)]}


def test_two_different_voices_lie_apart(encoder: EmbeddedDiarizer) -> None:
    audio, ref = dialogue("en", "en+f3")  # a male and a female voice
    v = voice_separation(audio, ref, encoder.embed)
    assert set(v.pieces) == {"alex", "sam"} and min(v.pieces.values()) >= 6
    assert v.distance("alex", "sam") > NEAR, v
    assert all(0.0 < s < 0.2 for s in v.spread.values()), v
    assert v.close_pairs() == []
    assert v.format_lines()[0].startswith("voices     apart alex-sam ")
    assert len(v.format_lines()) == 1  # nothing to warn about


def test_one_voice_under_two_names_is_flagged(encoder: EmbeddedDiarizer) -> None:
    audio, ref = dialogue("en", "en")
    v = voice_separation(audio, ref, encoder.embed)
    assert v.distance("sam", "alex") < CLOSE, v
    [warning] = v.format_lines()[1:]
    assert "alex and sam lie" in warning and "expect them merged" in warning


def test_times_are_read_on_the_stream_clock(encoder: EmbeddedDiarizer) -> None:
    audio, ref = dialogue("en", "en+f3")
    whole = voice_separation(audio, ref, encoder.embed)
    # the same audio, starting 1 s into the stream (sample 16000 is audio[0])
    later = [(a + 1.0, b + 1.0, who) for a, b, who in ref]
    shifted = voice_separation(audio, later, encoder.embed, offset_samples=SR)
    assert shifted.pieces == whole.pieces
    assert shifted.distance("alex", "sam") == pytest.approx(whole.distance("alex", "sam"), abs=1e-4)
