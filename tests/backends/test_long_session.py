"""Sessions longer than the session pass's window, on real resemblyzer embeddings of
espeak-ng speech: a talker who leaves for longer than the window and comes back is
given their old label, a talker who leaves is not folded into whoever keeps talking,
and what the diarizer holds per client stays bounded."""

from __future__ import annotations

import shutil
from collections import Counter

import numpy as np
import numpy.typing as npt
import pytest

from ambient_flow.backends.diarize_embedded import EmbeddedDiarizer, EmbeddedDiarizerOptions
from ambient_flow.backends.recluster import ReclusterOptions
from ambient_flow.backends.turns import TrackerOptions
from ambient_flow.models.diarization import SpeakerSegment, apply_relabels
from tests.backends.models_dialogue import TEST_VOICES, VoiceBank, make_dialogue, windows

pytestmark = pytest.mark.skipif(
    shutil.which("espeak-ng") is None or shutil.which("sox") is None,
    reason="needs espeak-ng and sox",
)

WINDOW_UNITS = 40  # the session pass sees the last 20 s of speech (default 120: 60 s)
VOICES = (*TEST_VOICES, "en-029+f1")  # none of them heard by the tuning
Part = tuple[tuple[int, int], int, int]  # (the two voices, turns, seed)
Reference = list[tuple[int, int, int, int]]  # (start, end, voice, part)


def session(parts: tuple[Part, ...]) -> tuple[npt.NDArray[np.float32], Reference]:
    """Dialogues one after another (a voice twice in a pair: a monologue)."""
    bank = VoiceBank()
    audio: list[npt.NDArray[np.float32]] = []
    reference: Reference = []
    position = 0
    for part, (pair, turns, seed) in enumerate(parts):
        d = make_dialogue(bank, [VOICES[i] for i in pair], num_turns=turns, seed=seed)
        reference += [(position + s, position + e, pair[v], part) for s, e, v in d.reference]
        audio.append(d.audio)
        position += d.audio.size
    return np.concatenate(audio), reference


def diarize(audio: npt.NDArray[np.float32]) -> tuple[list[SpeakerSegment], int, int]:
    """Final spans (every relabel applied), most units held, most anchors held."""
    options = TrackerOptions(recluster=ReclusterOptions(max_units=WINDOW_UNITS))
    stream = EmbeddedDiarizer(EmbeddedDiarizerOptions(tracker=options)).new_stream()
    spans: list[SpeakerSegment] = []
    units = anchors = 0
    for window, start in windows(audio):
        step = stream.step(window, start)
        spans = apply_relabels(spans, step.relabels) + list(step.segments)
        units = max(units, len(stream.tracker.units))
        anchors = max(anchors, len(stream.tracker.anchors()))
    return spans, units, anchors


def labels(
    spans: list[SpeakerSegment], reference: Reference, voice: int, part: int
) -> Counter[str]:
    """Samples of each label over a voice's speech in one part."""
    out: Counter[str] = Counter()
    for a, b, v, p in reference:
        if (v, p) != (voice, part):
            continue
        for s in spans:
            overlap = min(b, s.end_sample) - max(a, s.start_sample)
            if overlap > 0:
                out[s.speaker] += overlap
    return out


def test_a_talker_who_comes_back_after_the_window_gets_their_old_label() -> None:
    """A and B talk, then B and C for longer than the window, then A and C."""
    audio, reference = session((((0, 1), 6, 1), ((1, 2), 12, 2), ((0, 2), 6, 3)))
    away = sum(e - s for s, e, _, part in reference if part == 1) / 16000
    assert away > WINDOW_UNITS * 0.5  # A is away for longer than the window
    spans, units, anchors = diarize(audio)

    def label(voice: int, part: int) -> str:
        return labels(spans, reference, voice, part).most_common(1)[0][0]

    assert label(0, 2) == label(0, 0)
    assert len({label(0, 2), label(1, 1), label(2, 2)}) == 3  # and nobody else has it
    assert units <= WINDOW_UNITS  # the window is bounded...
    assert anchors <= ReclusterOptions().max_anchors  # ...and so is the history


def test_a_talker_who_leaves_is_not_folded_into_the_one_who_keeps_talking() -> None:
    """A and B talk, B talks alone for longer than the window, then A and B again.

    As B's monologue fills the window, A's last turns become a few units among many of
    B's; without the anchor guard the session pass gave 9 % of A's speech and, when A
    came back, most of A's new speech to B (measured on this dialogue).
    """
    audio, reference = session((((1, 2), 10, 5), ((2, 2), 10, 6), ((1, 2), 4, 7)))
    spans, _, _ = diarize(audio)
    before = labels(spans, reference, 1, 0)
    a, held = before.most_common(1)[0]
    b = labels(spans, reference, 2, 1).most_common(1)[0][0]
    assert a != b
    assert held / sum(before.values()) >= 0.97, before
    assert labels(spans, reference, 1, 2).most_common(1)[0][0] == a
