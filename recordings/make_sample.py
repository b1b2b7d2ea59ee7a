"""Make `recordings/sample.zmqcap`: a two-voice espeak-ng dialogue and a 1 fps test pattern.

    python recordings/make_sample.py      (needs espeak-ng and sox: apt-get install espeak-ng sox)

Writes `sample.zmqcap` (what a legacy client would have sent: no `client` field in the
headers, hello/heartbeats/bye on the control channel), `sample.rttm` (who speaks when
on the stream's timeline) and `sample.txt` (who said what), the references
`ambient-flow eval` scores against.
Deterministic for a given espeak-ng version.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import numpy as np

from ambient_flow.client import PatternOptions, SynthOptions, WavOptions, synthesize_capture
from ambient_flow.testing.media import speech, write_wav

HERE = Path(__file__).resolve().parent
SR = 16000
VOICES = {"alex": "en-us", "sam": "en-gb-scotland+f3"}
DIALOGUE = [
    ("alex", "Good morning. Did the build finish overnight?"),
    ("sam", "It did, but two tests failed on the replay machine."),
    ("alex", "Which ones? The capture tests or the network ones?"),
    ("sam", "The network ones. The port was already in use."),
    ("alex", "Then the error message should tell us which port, and how to change it."),
    ("sam", "It does now. I also added a counter for every rejected message."),
    ("alex", "Great. Let's record a short session and replay it twice."),
    ("sam", "Sounds good. I will start the host."),
]
PAUSE_S = 0.6


def main() -> int:
    pieces: list[np.ndarray] = [np.zeros(int(0.5 * SR), np.int16)]
    turns: list[tuple[str, float, float]] = []
    pos = pieces[0].size
    for speaker, text in DIALOGUE:
        audio = speech(text, VOICES[speaker], SR)
        turns.append((speaker, pos / SR, audio.size / SR))
        pieces += [audio, np.zeros(int(PAUSE_S * SR), np.int16)]
        pos += audio.size + int(PAUSE_S * SR)
    dialogue = np.concatenate(pieces)
    with tempfile.TemporaryDirectory() as tmp:
        wav = write_wav(Path(tmp) / "dialogue.wav", dialogue.tobytes(), SR)
        result = synthesize_capture(
            HERE / "sample.zmqcap",
            SynthOptions(
                audio=WavOptions(path=str(wav)),
                video=PatternOptions(label="sample"),
                duration_s=dialogue.size / SR,
                fps=1.0,
                width=320,
                height=240,
                quality=60,
            ),
        )
    with (HERE / "sample.rttm").open("w") as fh:
        for speaker, start, dur in turns:
            fh.write(f"SPEAKER sample 1 {start:.3f} {dur:.3f} <NA> <NA> {speaker} <NA> <NA>\n")
    with (HERE / "sample.txt").open("w") as fh:
        for speaker, text in DIALOGUE:
            fh.write(f"{speaker}: {text}\n")
    print(
        f"wrote {result.path} ({result.path.stat().st_size / 1e6:.2f} MB, "
        f"{dialogue.size / SR:.1f} s) and sample.rttm ({len(turns)} turns)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
