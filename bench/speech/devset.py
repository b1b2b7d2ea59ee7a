"""The speech benchmark's generated sets: seeded, reproducible dialogues with exact references.

Why generated: the only real multi-speaker clip that ships in a wheel (pyannote's
`sample.wav`) is 30 s long; tuning on it would fit that clip. These dialogues dial in the
hard cases of real rooms on purpose: fast turns (0.25-8 s), pauses from -0.3 s (overlap,
mixed) to 1.5 s, quiet and loud talkers (peaks -30..-6 dBFS), far-field talkers (35 %:
synthetic reverberation RT60 0.3-0.8 s, DRR -6..+2 dB, low-passed tail, room noise
-50..-42 dBFS), noise bursts before anyone speaks, 2-5 speakers, single talkers, and
clips with no speech at all (pink noise, mains hum, knocks).

Every clip is a function of (split, seed, index) only: numpy's PCG64 seeded with those
three numbers, espeak-ng (deterministic) and sox with `-R -D`. The `heldout` split uses
voices the `dev` split never has (every held-out dialogue has at least one of them) and
its own seed.

Output, per clip `<split>-<seed>-<index>`: `.wav` (16 kHz mono 16-bit), `.rttm` (speech
runs of each speaker, dry signal, pauses >= 0.25 s split a run), `.txt` (`speaker: text`
per turn, in order of turn start), and one JSON line per clip in `manifest.jsonl` (kind,
voices, levels, far-field flags, turn list in samples). Made for issue 11's research
(`/work/research/issue11/devset.py`), unchanged in what it generates.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from bench.speech.voices import (
    BACKCHANNELS,
    DEV_VOICES,
    HELDOUT_ONLY_VOICES,
    SENTENCES,
    SR,
    Audio,
    VoiceBank,
    speech_runs,
    write_wav,
)

__all__ = [
    "KINDS", "Clip", "ClipSpec", "Turn", "VoiceSpec", "build_clips", "build_set", "make_clip",
    "mix_clip", "next_start", "render_turn", "turn_text", "voice_specs",
]  # fmt: skip

KINDS: tuple[str, ...] = (
    "dialogue2", "dialogue3", "fast3", "single", "dialogue4", "dialogue2",
    "fast3", "dialogue5", "single", "dialogue3", "fast3", "nonspeech",
)  # fmt: skip
"""Clip kinds in the order clip indices cycle through (index % len(KINDS))."""


@dataclass(frozen=True)
class VoiceSpec:
    """One talker: espeak-ng voice, pitch (-p 0..99), speed (-s words/min), level and room."""

    voice: str
    pitch: int
    speed: int
    peak_dbfs: float  # peak level of this talker's dry speech in the mix
    far: bool  # far-field: reverberation + low-pass, talker heard across the room
    rt60_s: float = 0.0
    drr_db: float = 0.0  # direct-to-reverberant ratio


@dataclass(frozen=True)
class Turn:
    """A turn as spoken: `[start_sample, end_sample)` of the dry speech, speaker, text."""

    start_sample: int
    end_sample: int
    speaker: str
    text: str


@dataclass(frozen=True)
class ClipSpec:
    name: str
    kind: str
    split: str
    seed: int
    index: int


@dataclass
class Clip:
    """A generated clip: mixed audio, reference speech runs and turns."""

    spec: ClipSpec
    audio: Audio
    runs: list[tuple[int, int, str]]  # reference speech runs (RTTM lines), samples
    turns: list[Turn]
    speakers: dict[str, VoiceSpec]
    noise_dbfs: float
    events: list[dict[str, object]] = field(default_factory=list)


# ----------------------------------------------------------------------------- rooms


def pink_noise(rng: np.random.Generator, n: int) -> Audio:
    """1/f noise by spectral shaping, unit RMS."""
    white = rng.standard_normal(n + 1)
    spec = np.fft.rfft(white)
    f = np.arange(spec.size, dtype=np.float64)
    f[0] = 1.0
    spec /= np.sqrt(f)
    x = np.fft.irfft(spec, n + 1)[:n]
    return (x / (np.sqrt(np.mean(x * x)) + 1e-12)).astype(np.float32)


def room_response(rng: np.random.Generator, rt60_s: float, drr_db: float) -> Audio:
    """Synthetic impulse response: a direct path plus an exponentially decaying noise tail.

    The tail starts after ~5 ms (early reflections) and decays 60 dB in `rt60_s`; its
    energy relative to the direct path is set by `drr_db`. A one-pole low-pass on the tail
    imitates high-frequency absorption of a distant talker.
    """
    n = int(rt60_s * SR * 1.2)
    t = np.arange(n) / SR
    tail = rng.standard_normal(n) * np.exp(-6.9078 * t / rt60_s)
    tail[: int(0.005 * SR)] = 0.0
    from scipy.signal import lfilter

    a = 0.6  # one-pole low-pass coefficient
    y = lfilter([1 - a], [1, -a], tail)
    y *= np.sqrt(10 ** (-drr_db / 10) / (np.sum(y * y) + 1e-12))
    h = y
    h[0] += 1.0
    return h.astype(np.float32)


def apply_room(audio: Audio, h: Audio) -> Audio:
    from scipy.signal import fftconvolve

    return fftconvolve(audio, h)[: audio.size + h.size - 1].astype(np.float32)


# ----------------------------------------------------------------------------- clips


def _pick_voices(rng: np.random.Generator, split: str, n: int) -> list[str]:
    if split == "dev":
        pool = list(DEV_VOICES)
        return [pool[i] for i in rng.permutation(len(pool))[:n]]
    # held-out: at least one held-out-only voice, the rest from everything
    first = HELDOUT_ONLY_VOICES[int(rng.integers(len(HELDOUT_ONLY_VOICES)))]
    rest = [v for v in (*HELDOUT_ONLY_VOICES, *DEV_VOICES) if v != first]
    return [first] + [rest[i] for i in rng.permutation(len(rest))[: n - 1]]


def voice_specs(rng: np.random.Generator, split: str, n: int, kind: str) -> dict[str, VoiceSpec]:
    names = _pick_voices(rng, split, n)
    specs: dict[str, VoiceSpec] = {}
    for i, voice in enumerate(names):
        far = bool(rng.random() < 0.35)
        quiet = bool(rng.random() < 0.3)
        peak = float(rng.uniform(-30, -20) if quiet or far else rng.uniform(-20, -6))
        specs[f"spk{i}"] = VoiceSpec(
            voice=voice,
            pitch=int(rng.integers(25, 80)),
            speed=int(rng.integers(140, 200)) if kind != "fast3" else int(rng.integers(165, 215)),
            peak_dbfs=round(peak, 1),
            far=far,
            rt60_s=round(float(rng.uniform(0.3, 0.8)), 2) if far else 0.0,
            drr_db=round(float(rng.uniform(-6, 2)), 1) if far else 0.0,
        )
    return specs


def turn_text(rng: np.random.Generator, short: bool) -> list[str]:
    if short or rng.random() < 0.15:
        return [BACKCHANNELS[int(rng.integers(len(BACKCHANNELS)))]]
    k = int(rng.choice([1, 1, 2, 2, 3]))
    return [SENTENCES[int(i)] for i in rng.choice(len(SENTENCES), size=k, replace=False)]


def render_turn(
    bank: VoiceBank,
    rng: np.random.Generator,
    spec: VoiceSpec,
    sentences: Sequence[str],
    max_s: float,
) -> tuple[Audio, str]:
    """Sentences with 0.1-0.6 s pauses, cut to whole sentences within `max_s` (>= 1 kept)."""
    parts: list[Audio] = []
    said: list[str] = []
    length = 0
    for sentence in sentences:
        audio = bank.say(sentence, spec.voice, spec.pitch, spec.speed)
        pause = np.zeros(int(rng.uniform(0.1, 0.6) * SR), np.float32) if parts else None
        extra = audio.size + (pause.size if pause is not None else 0)
        if parts and length + extra > max_s * SR:
            break
        if pause is not None:
            parts.append(pause)
        parts.append(audio)
        said.append(sentence)
        length += extra
    return np.concatenate(parts), " ".join(said)


def next_start(placed: Sequence[tuple[int, str, Audio, str]], position: int, gap: float) -> int:
    """Where the next turn starts: `gap` s after the last turn's end (negative: overlap),
    but never sooner than 0.3 s after its start; at `position` for the first turn."""
    if not placed:
        return position
    prev_start, _, prev_audio, _ = placed[-1]
    return max(prev_start + int(0.3 * SR), prev_start + prev_audio.size + int(gap * SR))


def make_clip(bank: VoiceBank, split: str, seed: int, index: int) -> Clip:
    """Build clip `index` of (`split`, `seed`): deterministic in those three numbers."""
    split_code = {"dev": 1, "heldout": 2}[split]
    rng = np.random.default_rng([seed, index, split_code])
    kind = KINDS[index % len(KINDS)]
    name = f"{split}-{seed}-{index:03d}"
    spec = ClipSpec(name, kind, split, seed, index)
    n_spk = {"dialogue2": 2, "dialogue3": 3, "dialogue4": 4, "dialogue5": 5, "fast3": 3,
             "single": 1, "nonspeech": 0}[kind]  # fmt: skip
    speakers = voice_specs(rng, split, n_spk, kind) if n_spk else {}
    any_far = any(v.far for v in speakers.values())
    noise_dbfs = float(rng.uniform(-50, -42) if any_far else rng.uniform(-66, -54))
    target_s = {"fast3": 45.0, "single": 40.0, "nonspeech": 20.0}.get(kind, 60.0)

    # -- the timeline of turns (dry, per speaker) ------------------------------------
    lead = int(rng.uniform(0.5, 2.0) * SR)
    events: list[dict[str, object]] = []
    placed: list[tuple[int, str, Audio, str]] = []  # (start, speaker, dry audio, text)
    position = lead
    if kind == "nonspeech":
        position = int(target_s * SR)
    elif rng.random() < 0.5:
        # a burst of non-speech noise before anyone talks (must give no speech, no text)
        burst_len = int(rng.uniform(1.0, 2.5) * SR)
        events.append({"kind": "noise_burst", "start": position, "end": position + burst_len})
        position += burst_len + int(0.5 * SR)
    current: str | None = None
    order = list(speakers)
    while speakers and position < target_s * SR:
        if kind == "single":
            who = order[0]
            gap = rng.uniform(0.05, 0.5) if rng.random() < 0.8 else rng.uniform(0.6, 1.5)
            sentences = turn_text(rng, short=False)
            max_s = 8.0
        else:
            others = [s for s in order if s != current] or order
            who = others[int(rng.integers(len(others)))]
            if kind == "fast3":
                gap = rng.uniform(-0.3, 0.4)
                short = bool(rng.random() < 0.35)
                max_s = float(rng.uniform(1.0, 3.0))
            else:
                gap = rng.uniform(-0.3, 1.5) if rng.random() < 0.85 else rng.uniform(-0.3, 0.0)
                short = bool(rng.random() < 0.2)
                max_s = float(rng.uniform(2.0, 8.0))
            sentences = turn_text(rng, short=short)
        audio, text = render_turn(bank, rng, speakers[who], sentences, max_s)
        start = next_start(placed, position, gap)
        placed.append((start, who, audio, text))
        position = start + audio.size
        current = who

    return mix_clip(spec, rng, placed, position, speakers, noise_dbfs, events)


def mix_clip(
    spec: ClipSpec,
    rng: np.random.Generator,
    placed: Sequence[tuple[int, str, Audio, str]],
    position: int,
    speakers: dict[str, VoiceSpec],
    noise_dbfs: float,
    events: list[dict[str, object]],
) -> Clip:
    """Mix placed turns `(start, speaker, dry audio, text)` into a room: the clip.

    Every talker at its level (far ones through their room), pink room noise, the noise
    bursts in `events`; a `nonspeech` clip also gets a mains hum and knocks.
    """
    kind = spec.kind
    total = position + int(1.0 * SR) + int(0.8 * SR)  # room for reverberation tails
    mix = np.zeros(total, np.float64)
    runs: list[tuple[int, int, str]] = []
    turns: list[Turn] = []
    rooms: dict[str, Audio] = {}
    for who, vs in speakers.items():
        if vs.far:
            rooms[who] = room_response(rng, vs.rt60_s, vs.drr_db)
    for start, who, audio, text in placed:
        vs = speakers[who]
        dry = audio * (10 ** (vs.peak_dbfs / 20) / (np.max(np.abs(audio)) + 1e-9))
        wet = apply_room(dry.astype(np.float32), rooms[who]) if vs.far else dry
        end = min(total, start + wet.size)
        mix[start:end] += wet[: end - start]
        for s, e in speech_runs(audio):
            runs.append((start + s, start + e, who))
        turns.append(Turn(start, start + audio.size, who, text))

    # -- room noise and non-speech events ------------------------------------------
    mix += 10 ** (noise_dbfs / 20) * pink_noise(rng, total)
    for ev in events:
        s, e = int(ev["start"]), int(ev["end"])  # type: ignore[call-overload]
        level = float(rng.uniform(-40, -30))
        mix[s:e] += 10 ** (level / 20) * pink_noise(rng, e - s)
        ev["level_dbfs"] = round(level, 1)
    if kind == "nonspeech":
        # a mains hum and a knock train on top of room noise: noise must never become text
        t = np.arange(total) / SR
        mix += 10 ** (-40 / 20) * np.sin(2 * np.pi * 50 * t) * np.sqrt(2)
        for k in range(4):
            s = int((3 + 4 * k) * SR)
            burst = rng.standard_normal(int(0.05 * SR)) * np.exp(-np.arange(int(0.05 * SR)) / 200)
            mix[s : s + burst.size] += 0.1 * burst
        events.append({"kind": "hum_and_knocks", "start": 0, "end": total})
    peak = float(np.max(np.abs(mix)))
    if peak > 0.99:
        mix *= 0.99 / peak
    runs.sort()
    turns.sort(key=lambda t: t.start_sample)
    return Clip(spec, mix.astype(np.float32), runs, turns, speakers, noise_dbfs, events)


def write_clip(clip: Clip, out: Path) -> dict[str, object]:
    """Write `.wav`, `.rttm`, `.txt` for one clip; return its manifest record."""
    name = clip.spec.name
    write_wav(out / f"{name}.wav", clip.audio)
    with open(out / f"{name}.rttm", "w") as f:
        for s, e, who in clip.runs:
            f.write(f"SPEAKER {name} 1 {s / SR:.3f} {(e - s) / SR:.3f} <NA> <NA> {who} <NA> <NA>\n")
    with open(out / f"{name}.txt", "w") as f:
        for t in clip.turns:
            f.write(f"{t.speaker}: {t.text}\n")
    return {
        **asdict(clip.spec),
        "duration_s": round(clip.audio.size / SR, 3),
        "num_speakers": len(clip.speakers),
        "speakers": {k: asdict(v) for k, v in clip.speakers.items()},
        "noise_dbfs": round(clip.noise_dbfs, 1),
        "events": clip.events,
        "turns": [asdict(t) for t in clip.turns],
    }


def build_set(out: Path, split: str, seed: int, count: int, cache: Path) -> list[dict[str, object]]:
    """Write clips 0..count-1 of (`split`, `seed`) to `out` with `manifest.jsonl`.

    A set already there with the same manifest spec is kept as it is (generation takes
    a few minutes; espeak-ng renders are cached in `cache`). Returns the manifest.
    """
    names = [f"{split}-{seed}-{i:03d}" for i in range(count)]
    return build_clips(out, names, lambda bank, i: make_clip(bank, split, seed, i), cache)


def build_clips(
    out: Path, names: Sequence[str], make: Callable[[VoiceBank, int], Clip], cache: Path
) -> list[dict[str, object]]:
    """Write clip i = `make(bank, i)` for each of `names` to `out` with `manifest.jsonl`,
    unless a set with these names and all their files is already there."""
    out.mkdir(parents=True, exist_ok=True)
    manifest = out / "manifest.jsonl"
    if manifest.exists():
        records = [json.loads(line) for line in manifest.read_text().splitlines()]
        if [r["name"] for r in records] == list(names) and all(
            (out / f"{n}.{ext}").exists() for n in names for ext in ("wav", "rttm", "txt")
        ):
            return records
    bank = VoiceBank(cache)
    records = [write_clip(make(bank, i), out) for i in range(len(names))]
    with open(manifest, "w") as f:
        for r in records:
            f.write(json.dumps(r, sort_keys=True) + "\n")
    return records
