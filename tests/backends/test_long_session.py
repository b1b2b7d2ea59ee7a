"""A session longer than the session pass's window, on real resemblyzer embeddings of
espeak-ng speech: a talker who leaves for longer than the window and comes back is
given their old label, and what the diarizer holds per client stays bounded."""

from __future__ import annotations

import shutil
from collections import Counter

import numpy as np
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


def session() -> tuple[np.ndarray, list[tuple[int, int, int, int]]]:
    """A and B talk, then B and C for longer than the window, then A and C.

    Returns the audio and its reference runs (start, end, voice, part).
    """
    bank = VoiceBank()
    parts = (((0, 1), 6, 1), ((1, 2), 12, 2), ((0, 2), 6, 3))
    audio: list[np.ndarray] = []
    reference: list[tuple[int, int, int, int]] = []
    position = 0
    for part, (pair, turns, seed) in enumerate(parts):
        d = make_dialogue(bank, [VOICES[i] for i in pair], num_turns=turns, seed=seed)
        reference += [(position + s, position + e, pair[v], part) for s, e, v in d.reference]
        audio.append(d.audio)
        position += d.audio.size
    return np.concatenate(audio), reference


def labels_of(spans: list[SpeakerSegment], runs: list[tuple[int, int]]) -> Counter[str]:
    """Samples of each label over the given runs."""
    out: Counter[str] = Counter()
    for a, b in runs:
        for s in spans:
            overlap = min(b, s.end_sample) - max(a, s.start_sample)
            if overlap > 0:
                out[s.speaker] += overlap
    return out


@pytest.mark.parametrize(
    "recluster",
    [ReclusterOptions(max_units=WINDOW_UNITS),
     ReclusterOptions(max_units=WINDOW_UNITS, anchor_join=0.04, anchor_veto=0.12)],
    ids=["default-naming", "anchor-naming"],
)  # fmt: skip
def test_a_talker_who_comes_back_after_the_window_gets_their_old_label(
    recluster: ReclusterOptions,
) -> None:
    audio, reference = session()
    part2_speech = sum(e - s for s, e, _, part in reference if part == 1) / 16000
    assert part2_speech > WINDOW_UNITS * 0.5  # A is away for longer than the window
    diarizer = EmbeddedDiarizer(
        EmbeddedDiarizerOptions(tracker=TrackerOptions(recluster=recluster))
    )
    stream = diarizer.new_stream()
    spans: list[SpeakerSegment] = []
    most_units = 0
    for window, start in windows(audio):
        step = stream.step(window, start)
        spans = apply_relabels(spans, step.relabels) + list(step.segments)
        most_units = max(most_units, len(stream.tracker.units))

    def label(voice: int, part: int) -> str:
        runs = [(s, e) for s, e, v, p in reference if v == voice and p == part]
        return labels_of(spans, runs).most_common(1)[0][0]

    a_before, a_after = label(0, 0), label(0, 2)
    assert a_after == a_before, (a_before, a_after)
    assert len({a_after, label(1, 1), label(2, 2)}) == 3  # and nobody else has it
    assert most_units <= WINDOW_UNITS  # the window is bounded...
    assert len(stream.tracker.anchors()) <= recluster.max_anchors  # ...and so is history
