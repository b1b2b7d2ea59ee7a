"""How far apart the reference speakers' voices lie for the speaker encoder.

`ambient-flow eval` prints it beside the scores when it has a reference and the embedded
diarizer. Each reference speaker's speech where nobody else speaks is cut into the 1 s
pieces the diarizer's units are made of and embedded with the same encoder. Per speaker:
the spread of its pieces around their centroid. Per pair: the distance between
centroids (cosine).

On 27 generated clips (dev and held-out, 2-5 voices) and pyannote's real call, measured
this way (bench/README.md, "Speaker count"):

- every clip whose two closest voices lay under `CLOSE` lost a voice (0 of 6 counted
  right);
- between `CLOSE` and `NEAR`, 5 of 9 were counted right;
- above `NEAR`, 12 of 13.

So a confusion the scores show can be read for what it is. It may be a limit of the
encoder on these voices, which `--num-speakers` or the diart path with the user's
pyannote embedding addresses, and not something to chase in the recording.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from operator import itemgetter
from typing import Final

import numpy as np
import numpy.typing as npt

__all__ = ["CLOSE", "NEAR", "VoiceSeparation", "single_speaker_spans", "voice_separation"]

Audio = npt.NDArray[np.float32]
Embed = Callable[[Sequence[Audio]], npt.NDArray[np.float32]]

#: Centroid distance (cosine) below which two voices were always merged (see above).
CLOSE: Final = 0.09
#: Below this, about half the time.
NEAR: Final = 0.15


@dataclass(frozen=True)
class VoiceSeparation:
    """Per reference speaker its pieces and their spread; per pair of speakers the cosine
    distance between their centroids (`pairs`: `(a, b, distance)`, closest first)."""

    pieces: dict[str, int]
    spread: dict[str, float]
    pairs: tuple[tuple[str, str, float], ...]

    def distance(self, a: str, b: str) -> float:
        """The distance between speakers `a` and `b` (KeyError if either was not measured)."""
        for x, y, d in self.pairs:
            if {x, y} == {a, b}:
                return d
        raise KeyError((a, b))

    def close_pairs(self, below: float = NEAR) -> list[tuple[str, str, float]]:
        """Pairs closer than `below`, closest first."""
        return [p for p in self.pairs if p[2] < below]

    def format_lines(self) -> list[str]:
        if not self.pairs:
            return []
        spread = ", ".join(f"{k} {v:.2f}" for k, v in sorted(self.spread.items()))
        shown = ", ".join(f"{a}-{b} {d:.3f}" for a, b, d in self.pairs[:6])
        more = f" (+{len(self.pairs) - 6} more)" if len(self.pairs) > 6 else ""
        lines = [
            f"voices     apart {shown}{more}; each voice's 1 s pieces spread {spread} "
            "(cosine, the embedded speaker encoder)"
        ]
        for a, b, d in self.close_pairs():
            expect = "expect them merged" if d < CLOSE else "they may be merged"
            lines.append(
                f"           {a} and {b} lie {d:.3f} apart (< {CLOSE if d < CLOSE else NEAR}): "
                f"{expect} (a limit of the encoder); --num-speakers or the diart path help"
            )
        return lines


def single_speaker_spans(
    reference: Sequence[tuple[float, float, str]],
) -> dict[str, list[tuple[float, float]]]:
    """Each speaker's reference time where no other speaker talks (seconds)."""
    out: dict[str, list[tuple[float, float]]] = {}
    for start, end, speaker in reference:
        spans = [(start, end)]
        for o_start, o_end, other in reference:
            if other == speaker:
                continue
            cut: list[tuple[float, float]] = []
            for a, b in spans:
                if o_end <= a or o_start >= b:
                    cut.append((a, b))
                    continue
                if a < o_start:
                    cut.append((a, o_start))
                if o_end < b:
                    cut.append((o_end, b))
            spans = cut
        out.setdefault(speaker, []).extend(spans)
    return out


def voice_separation(
    audio: Audio,
    reference: Sequence[tuple[float, float, str]],
    embed: Embed,
    *,
    sample_rate: int = 16000,
    offset_samples: int = 0,
    piece_s: float = 1.0,
    hop_s: float = 0.5,
    min_pieces: int = 2,
) -> VoiceSeparation:
    """Measure the reference speakers of `audio` with `embed` (see the module doc).

    `offset_samples`: the stream sample that `audio[0]` is (reference times count from
    the stream's sample 0). Speakers with fewer than `min_pieces` pieces are left out.
    """
    size, hop = round(piece_s * sample_rate), round(hop_s * sample_rate)
    pieces: dict[str, list[Audio]] = {}
    for speaker, spans in sorted(single_speaker_spans(reference).items()):
        for a, b in spans:
            first = max(0, round(a * sample_rate) - offset_samples)
            last = min(audio.shape[0], round(b * sample_rate) - offset_samples)
            for s in range(first, last - size + 1, hop):
                pieces.setdefault(speaker, []).append(audio[s : s + size])
    kept = {k: v for k, v in pieces.items() if len(v) >= min_pieces}
    centroids: dict[str, npt.NDArray[np.float64]] = {}
    spread: dict[str, float] = {}
    for speaker, group in kept.items():
        e = np.asarray(embed(group), np.float64)
        e /= np.maximum(np.linalg.norm(e, axis=1, keepdims=True), 1e-12)
        c = e.mean(axis=0)
        c /= max(float(np.linalg.norm(c)), 1e-12)
        centroids[speaker] = c
        spread[speaker] = round(float(np.mean(1.0 - e @ c)), 4)
    names = sorted(centroids)
    pairs = [
        (a, b, round(float(1.0 - centroids[a] @ centroids[b]), 4))
        for i, a in enumerate(names)
        for b in names[i + 1 :]
    ]
    return VoiceSeparation(
        {k: len(v) for k, v in kept.items()}, spread, tuple(sorted(pairs, key=itemgetter(2)))
    )
