"""Long sessions for the speech benchmark: talkers who leave and come back.

The dev and held-out dialogues last 20-60 s, shorter than the embedded diarizer's session
window (its last 120 speech units, ~60 s of speech). A meeting lasts 10-60 minutes, and
its talkers come and go: someone speaks, is silent while others talk for minutes, and
speaks again. These clips test exactly that (issue 11, long sessions): 4-5 minutes, 2-4
talkers, in *scenes* of 40-75 s where a subset of them talks; every talker who leaves a
scene is silent for at least one 75 s scene of others (more than 60 s of others' speech)
before coming back.

Everything else is the dev/held-out generator's: the same voices per split (held-out
clips always have a held-out-only voice), levels, far-field rooms, room noise, turn
lengths (2-8 s, backchannels), gaps (-0.3..1.5 s, overlap mixed) and references
(`devset.mix_clip`). Deterministic in (split, seed, index); clip names
`long-<split>-<seed>-<index>`, kind `long<n>`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from bench.speech.devset import (
    Clip,
    ClipSpec,
    build_clips,
    mix_clip,
    next_start,
    render_turn,
    turn_text,
    voice_specs,
)
from bench.speech.voices import SR, Audio, VoiceBank

__all__ = ["SCENES", "build_long_set", "make_long_clip"]

SCENES: dict[int, tuple[tuple[tuple[int, ...], float], ...]] = {
    2: (((0, 1), 40.0), ((0,), 75.0), ((0, 1), 40.0), ((1,), 75.0), ((0, 1), 40.0)),
    3: (((0, 1), 50.0), ((1, 2), 75.0), ((0, 2), 75.0), ((0, 1), 50.0)),
    4: (((0, 1), 50.0), ((2, 3), 75.0), ((0, 2), 50.0), ((1, 3), 75.0), ((0, 1, 2, 3), 40.0)),
}
"""Per talker count: the scenes in order, each (talkers in it, its length in seconds)."""

_SPLIT_CODE = {"dev": 1, "heldout": 2}
_LONG_CODE = 7  # keeps these clips' random streams apart from the short clips'


def make_long_clip(bank: VoiceBank, split: str, seed: int, index: int) -> Clip:
    """Build long clip `index` of (`split`, `seed`): 2, 3, 4 talkers as `index` cycles."""
    rng = np.random.default_rng([seed, index, _SPLIT_CODE[split], _LONG_CODE])
    n_spk = (2, 3, 4)[index % 3]
    kind = f"long{n_spk}"
    spec = ClipSpec(f"long-{split}-{seed}-{index:03d}", kind, split, seed, index)
    speakers = voice_specs(rng, split, n_spk, "dialogue")
    names = list(speakers)
    any_far = any(v.far for v in speakers.values())
    noise_dbfs = float(rng.uniform(-50, -42) if any_far else rng.uniform(-66, -54))
    placed: list[tuple[int, str, Audio, str]] = []
    position = int(rng.uniform(0.5, 2.0) * SR)
    current: str | None = None
    scene_end = position
    for who_in, length in SCENES[n_spk]:
        scene_end += int(length * SR)
        cast = [names[i] for i in who_in]
        while position < scene_end:
            others = [s for s in cast if s != current] or cast
            who = others[int(rng.integers(len(others)))]
            if len(cast) == 1:  # a monologue: long turns, short and longer pauses
                gap = rng.uniform(0.05, 0.5) if rng.random() < 0.8 else rng.uniform(0.6, 1.5)
                sentences, max_s = turn_text(rng, short=False), 8.0
            else:
                gap = rng.uniform(-0.3, 1.5) if rng.random() < 0.85 else rng.uniform(-0.3, 0.0)
                sentences = turn_text(rng, short=bool(rng.random() < 0.2))
                max_s = float(rng.uniform(2.0, 8.0))
            audio, text = render_turn(bank, rng, speakers[who], sentences, max_s)
            if placed and placed[-1][1] == who:  # never overlap oneself
                gap = max(gap, 0.1)
            start = next_start(placed, position, gap)
            placed.append((start, who, audio, text))
            position = start + audio.size
            current = who
    return mix_clip(spec, rng, placed, position, speakers, noise_dbfs, [])


def build_long_set(
    out: Path, split: str, seed: int, count: int, cache: Path
) -> list[dict[str, object]]:
    """Write long clips 0..count-1 of (`split`, `seed`) to `out` with `manifest.jsonl`.

    Kept as it is when already there (same names, all files present).
    """
    names = [f"long-{split}-{seed}-{i:03d}" for i in range(count)]
    return build_clips(out, names, lambda bank, i: make_long_clip(bank, split, seed, i), cache)
