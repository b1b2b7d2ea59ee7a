"""espeak-ng talkers for the speech benchmark's generated sets: voices, lines, rendering.

Voices are espeak-ng voice + variant names; held-out-only voices never appear in the dev
split. `VoiceBank` renders a sentence with a voice, pitch and speed through espeak-ng and
sox (`-R -D`: repeatable, no dither), cached on disk by (voice, pitch, speed, text), and
trims it to its active part; `speech_runs` is the reference's notion of a speech run.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import tempfile
import wave
from pathlib import Path

import numpy as np
import numpy.typing as npt

__all__ = [
    "BACKCHANNELS",
    "DEV_VOICES",
    "HELDOUT_ONLY_VOICES",
    "SENTENCES",
    "SR",
    "Audio",
    "VoiceBank",
    "read_wav",
    "speech_runs",
    "write_wav",
]

SR = 16000
Audio = npt.NDArray[np.float32]

# espeak-ng voice + variant names ("base+variant"). Held-out-only voices never appear in dev.
DEV_VOICES: tuple[str, ...] = (
    "en-us",
    "en-gb",
    "en-gb-scotland+f3",
    "en+m3",
    "en-us+f2",
    "en-029+m1",
    "en-gb-x-rp+f4",
    "en-us-nyc+m5",
    "en-gb-x-gbclan+klatt",
    "en-gb-x-gbcwmd+m2",
)
HELDOUT_ONLY_VOICES: tuple[str, ...] = (
    "en-us+f5",
    "en-gb+m7",
    "en-gb-scotland+m4",
    "en-us+klatt4",
    "en-029+f1",
)

BACKCHANNELS: tuple[str, ...] = (
    "Yeah.", "Right.", "Okay.", "Sure.", "Exactly.", "I see.", "No.", "Really?",
    "Good.", "Fine.", "Thanks.", "Oh, really?",
)  # fmt: skip

SENTENCES: tuple[str, ...] = (
    "Good morning.",
    "Can you hear me now?",
    "I think we should start with the budget.",
    "That sounds reasonable to me.",
    "Let me check the numbers from last quarter before we decide anything.",
    "No, the report is not finished yet.",
    "We moved the meeting to Thursday afternoon because the room was booked.",
    "Who is going to present the results to the board next week?",
    "I can do it, but I need the slides by Monday.",
    "The server went down twice during the night and nobody noticed until seven.",
    "Please send me the link again.",
    "The weather has been terrible all week, so the site visit is postponed.",
    "Do we have a backup plan if the shipment is late?",
    "Yes, we can use the warehouse in the north.",
    "I disagree with that estimate; it leaves no margin for testing at all.",
    "Let's take a five minute break and come back at half past ten.",
    "The customer asked for a demo of the new dashboard and the export feature.",
    "How many people signed up for the workshop?",
    "About forty, which is more than we expected.",
    "I will write the summary and share it with everyone after lunch.",
    "What time does the train leave?",
    "Could you repeat the last part, the connection dropped for a second?",
    "We should hire two more engineers before the summer.",
    "The new policy starts in January and applies to every team in the company.",
    "Thank you all for joining today.",
    "I have a question about the second slide.",
    "My sister lives near the harbour and walks her dog there every evening.",
    "The kitchen on the third floor is closed for cleaning.",
    "If we leave now we can still catch the early flight.",
    "Nobody told me the deadline had changed.",
    "The printer on this floor keeps jamming on thick paper.",
    "Our team won the football match on Saturday.",
    "I read an interesting article about solar panels yesterday.",
    "Can we order pizza for the evening shift?",
    "The contract needs two signatures before Friday.",
    "He was late because the bridge was closed for repairs.",
    "Let me share my screen so everyone can see the chart.",
    "The numbers look better than last year, but costs went up too.",
    "I forgot my password again, can you reset it?",
    "The children are going to the museum on Wednesday.",
    "We need more chairs for the conference room.",
    "The battery in my laptop only lasts about two hours now.",
    "She finished the marathon in under four hours.",
    "The hotel was quiet and the breakfast was excellent.",
    "Please turn off the lights when you leave the office.",
    "The software update broke the login page for some users.",
    "I would rather wait until the final figures are in.",
    "The garden needs water every day in this heat.",
    "Tell me more about the problem with the delivery van.",
    "We sold three hundred tickets in the first hour.",
    "The library opens at nine and closes at five.",
    "I think the blue design is cleaner than the red one.",
    "Our neighbours are building an extension at the back of their house.",
    "The bus was full, so I walked to work this morning.",
    "Can you call the supplier and ask about the price?",
    "The test results will be ready on Tuesday.",
    "It is much colder here than I expected.",
    "We should keep the old version running until the migration is done.",
    "The doctor said I need to rest for a week.",
    "Let's meet at the coffee shop on the corner.",
    "The train was delayed by forty minutes because of a signal failure.",
    "I have never seen so many people at a product launch.",
    "Who has the key to the storage room?",
    "The river flooded the lower fields after the storm.",
    "We can split the work between the two teams.",
    "My phone fell into the sink this morning.",
    "The new intern starts on Monday and needs a desk.",
    "I agree with most of the plan, except the timeline.",
    "Please bring your badge, security is strict this week.",
    "Dinner is at eight, don't be late.",
)


class VoiceBank:
    """espeak-ng + sox rendering with an on-disk cache keyed by (voice, pitch, speed, text)."""

    def __init__(self, cache: Path) -> None:
        self.cache = cache
        cache.mkdir(parents=True, exist_ok=True)
        if shutil.which("espeak-ng") is None or shutil.which("sox") is None:
            raise FileNotFoundError("devset needs espeak-ng and sox")

    def say(self, text: str, voice: str, pitch: int, speed: int) -> Audio:
        key = hashlib.sha256(f"{voice}|{pitch}|{speed}|{text}".encode()).hexdigest()[:24]
        path = self.cache / f"{key}.wav"
        if not path.exists():
            with tempfile.TemporaryDirectory() as tmp:
                raw = Path(tmp) / "raw.wav"
                out = Path(tmp) / "out.wav"
                subprocess.run(
                    ["espeak-ng", "-v", voice, "-p", str(pitch), "-s", str(speed),
                     "-w", str(raw), text],
                    check=True, capture_output=True,
                )  # fmt: skip
                subprocess.run(
                    ["sox", "-R", "-D", str(raw), "-r", str(SR), "-c", "1", "-b", "16", str(out)],
                    check=True, capture_output=True,
                )  # fmt: skip
                shutil.move(str(out), path)
        audio = read_wav(path)
        lo, hi = _active_bounds(audio)
        return audio[lo:hi]


def read_wav(path: Path) -> Audio:
    with wave.open(str(path), "rb") as w:
        if w.getframerate() != SR or w.getnchannels() != 1 or w.getsampwidth() != 2:
            raise ValueError(f"{path}: expected 16 kHz mono 16-bit")
        data = np.frombuffer(w.readframes(w.getnframes()), "<i2")
    return (data.astype(np.float32) / 32768.0).astype(np.float32)


def write_wav(path: Path, audio: Audio) -> None:
    pcm = np.clip(np.round(audio * 32767.0), -32768, 32767).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(SR)
        w.writeframes(pcm.tobytes())


def _frame_db(audio: Audio, frame: int = 160) -> npt.NDArray[np.float64]:
    n = audio.size // frame
    if n == 0:
        return np.full(1, -120.0)
    x = audio[: n * frame].astype(np.float64).reshape(n, frame)
    return 10 * np.log10(np.mean(x * x, axis=1) + 1e-14)


def _active_bounds(audio: Audio, rel_db: float = -40.0) -> tuple[int, int]:
    db = _frame_db(audio)
    on = np.flatnonzero(db > db.max() + rel_db)
    if on.size == 0:
        return 0, 0
    return int(on[0]) * 160, min(audio.size, (int(on[-1]) + 1) * 160)


def speech_runs(dry: Audio, bridge_s: float = 0.25, rel_db: float = -40.0) -> list[tuple[int, int]]:
    """Runs of 10 ms frames within `rel_db` of the turn's loudest frame; short pauses bridged.

    Computed on the talker's dry, level-normalised signal, so a quiet or reverberant talker
    has the same reference as a close one (what a human annotator would mark).
    """
    db = _frame_db(dry)
    active = db > db.max() + rel_db
    runs: list[list[int]] = []
    for i in np.flatnonzero(active):
        s, e = int(i) * 160, (int(i) + 1) * 160
        if runs and s - runs[-1][1] < bridge_s * SR:
            runs[-1][1] = e
        else:
            runs.append([s, e])
    return [(s, e) for s, e in runs]
