"""Generated multi-voice dialogues (espeak-ng) with exact speaker references, for diarization.

Used by `tune_cluster.py` to choose the clusterer's parameters and by `test_diarize.py` to
check the result on voices the tuning never heard. Nothing here touches pyannote's
sample.wav: that clip is the evaluation's, not the tuning's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from ambient_flow.testing.media import speech

SR = 16000

# Voices the tuning uses; the tests use TEST_VOICES, which the tuning never hears.
TUNING_VOICES = (
    "en-gb",
    "en-us+m3",
    "en-029",
    "en-gb-x-rp+f2",
    "en-us-nyc+m5",
    "en-gb-x-gbclan+f4",
    "en-gb-x-gbcwmd+m2",
)
TEST_VOICES = ("en-us", "en-gb-scotland+f3")

SENTENCES = (
    "Good morning.",
    "Can you hear me now?",
    "I think we should start with the budget.",
    "That sounds reasonable to me.",
    "Let me check the numbers from last quarter before we decide anything.",
    "No, the report is not finished yet.",
    "We moved the meeting to Thursday afternoon because the room was booked.",
    "Right.",
    "Who is going to present the results to the board next week?",
    "I can do it, but I need the slides by Monday.",
    "The server went down twice during the night and nobody noticed until seven.",
    "Okay, thanks.",
    "Please send me the link again.",
    "The weather has been terrible all week, so the site visit is postponed.",
    "Do we have a backup plan if the shipment is late?",
    "Yes, we can use the warehouse in the north.",
    "I disagree with that estimate; it leaves no margin for testing at all.",
    "Sure.",
    "Let's take a five minute break and come back at half past ten.",
    "The customer asked for a demo of the new dashboard and the export feature.",
    "How many people signed up for the workshop?",
    "About forty, which is more than we expected.",
    "I will write the summary and share it with everyone after lunch.",
    "What time does the train leave?",
    "Could you repeat the last part, the connection dropped for a second?",
    "We should hire two more engineers before the summer.",
    "Interesting.",
    "The new policy starts in January and applies to every team in the company.",
    "Thank you all for joining today.",
    "I have a question about the second slide.",
)


def speech_runs(
    audio: npt.NDArray[np.float32], threshold_db: float = -40.0, bridge_s: float = 0.3
) -> list[tuple[int, int]]:
    """Sample runs above an energy gate (20 ms frames), gaps shorter than `bridge_s` bridged."""
    frame = 320
    n = len(audio) // frame
    rms = np.sqrt(np.mean(np.square(audio[: n * frame].reshape(n, frame)), axis=1) + 1e-12)
    active = 20 * np.log10(rms) > threshold_db
    runs: list[list[int]] = []
    for i in np.flatnonzero(active):
        s, e = int(i) * frame, (int(i) + 1) * frame
        if runs and s - runs[-1][1] <= bridge_s * SR:
            runs[-1][1] = e
        else:
            runs.append([s, e])
    return [(s, e) for s, e in runs]


@dataclass
class VoiceBank:
    """Renders and caches sentences per voice (espeak-ng), trimmed of edge silence."""

    _cache: dict[tuple[str, str], npt.NDArray[np.float32]] = field(default_factory=dict)

    def say(self, text: str, voice: str) -> npt.NDArray[np.float32]:
        key = (text, voice)
        if key not in self._cache:
            audio = speech(text, voice).astype(np.float32) / 32768.0
            runs = speech_runs(audio)
            if runs:
                audio = audio[runs[0][0] : runs[-1][1]]
            self._cache[key] = audio
        return self._cache[key]


@dataclass(frozen=True)
class Dialogue:
    """Audio plus its reference: (start_sample, end_sample, speaker index) speech runs."""

    audio: npt.NDArray[np.float32]
    reference: tuple[tuple[int, int, int], ...]
    voices: tuple[str, ...]

    @property
    def num_speakers(self) -> int:
        return len({r[2] for r in self.reference})


def make_dialogue(
    bank: VoiceBank,
    voices: Sequence[str],
    num_turns: int,
    seed: int,
    min_turn_s: float = 1.0,
    max_turn_s: float = 6.0,
    gap_s: tuple[float, float] = (0.15, 0.7),
    noise_db: float = -60.0,
) -> Dialogue:
    """A dialogue of `num_turns` turns (1-6 s, one or more sentences) between `voices`.

    Turns alternate between different voices in a random order; pauses between turns are
    `gap_s`; white noise at `noise_db` dBFS sits under everything.
    """
    rng = np.random.default_rng(seed)
    pieces: list[npt.NDArray[np.float32]] = []
    reference: list[tuple[int, int, int]] = []
    position = 0
    speaker = int(rng.integers(len(voices)))
    for turn in range(num_turns):
        if turn > 0:
            choices = [i for i in range(len(voices)) if i != speaker]
            speaker = int(rng.choice(choices))
            gap = np.zeros(round(rng.uniform(*gap_s) * SR), np.float32)
            pieces.append(gap)
            position += gap.size
        target = rng.uniform(min_turn_s, max_turn_s)
        turn_audio = np.zeros(0, np.float32)
        for _ in range(6):
            sentence = SENTENCES[int(rng.integers(len(SENTENCES)))]
            said = bank.say(sentence, voices[speaker])
            candidate = (
                said
                if turn_audio.size == 0
                else np.concatenate([turn_audio, np.zeros(round(0.25 * SR), np.float32), said])
            )
            if turn_audio.size and candidate.size > max_turn_s * SR:
                break
            turn_audio = candidate
            if turn_audio.size >= target * SR:
                break
        turn_audio = turn_audio[: round(max_turn_s * SR)]
        for s, e in speech_runs(turn_audio):
            reference.append((position + s, position + e, speaker))
        pieces.append(turn_audio)
        position += turn_audio.size
    pieces.append(np.zeros(SR // 2, np.float32))
    audio = np.concatenate(pieces)
    audio += (10 ** (noise_db / 20) * rng.standard_normal(audio.size)).astype(np.float32)
    return Dialogue(np.clip(audio, -1, 1).astype(np.float32), tuple(reference), tuple(voices))


def windows(
    audio: npt.NDArray[np.float32], window_s: float = 5.0, step_s: float = 0.5
) -> list[tuple[npt.NDArray[np.float32], int]]:
    """The (window, window_start_sample) pairs the operator hands a diarizer, in order."""
    step, size = round(step_s * SR), round(window_s * SR)
    out = []
    for end in range(step, audio.size + 1, step):
        start = max(0, end - size)
        out.append((audio[start:end], start))
    return out


def der(
    reference: Sequence[tuple[int, int, int]],
    hypothesis: Sequence[tuple[int, int, str]],
    num_samples: int,
    collar_s: float = 0.0,
) -> dict[str, float]:
    """pyannote.metrics DER (and its parts) of sample-run annotations over `num_samples`."""
    from pyannote.core import Annotation, Segment, Timeline
    from pyannote.metrics.diarization import DiarizationErrorRate

    ref = Annotation()
    for i, (s, e, spk) in enumerate(reference):
        ref[Segment(s / SR, e / SR), i] = f"ref{spk}"
    hyp = Annotation()
    for i, (s, e, label) in enumerate(hypothesis):
        hyp[Segment(s / SR, e / SR), i] = label
    metric = DiarizationErrorRate(collar=collar_s, skip_overlap=False)
    parts = metric(ref, hyp, uem=Timeline([Segment(0, num_samples / SR)]), detailed=True)
    total = parts["total"] or 1.0
    return {
        "der": float(parts["diarization error rate"]),
        "confusion": float(parts["confusion"] / total),
        "missed": float(parts["missed detection"] / total),
        "false_alarm": float(parts["false alarm"] / total),
    }


def merge_segments(
    segments: Sequence[tuple[int, int, str]], bridge_s: float = 0.3
) -> list[tuple[int, int, str]]:
    """Join consecutive same-speaker segments separated by less than `bridge_s`."""
    merged: list[list[int | str]] = []
    for s, e, label in sorted(segments):
        if merged and merged[-1][2] == label and s - int(merged[-1][1]) <= bridge_s * SR:
            merged[-1][1] = max(int(merged[-1][1]), e)
        else:
            merged.append([s, e, label])
    return [(int(s), int(e), str(label)) for s, e, label in merged]
