"""Scores of who-said-what against references: DER (with its parts), WER and cpWER.

- DER with pyannote.metrics, overlap scored, over the whole input (UEM = [0, duration]):
  missed speech, false alarm and speaker confusion as fractions of reference speech;
- WER with jiwer, text normalised (lower case, punctuation out, apostrophes kept);
- cpWER: each reference speaker's words against one hypothesis speaker's, under the
  best one-to-one mapping; words of unmapped hypothesis speakers are insertions.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = ["DerScore", "cp_wer", "der", "normalize", "read_rttm", "read_transcript", "wer"]

Turn = tuple[float, float, str]


def read_rttm(path: str | Path) -> list[Turn]:
    """`(start_s, end_s, speaker)` turns of an RTTM file."""
    turns = []
    for line in Path(path).read_text().splitlines():
        fields = line.split()
        if len(fields) >= 8 and fields[0] == "SPEAKER":
            start, dur = float(fields[3]), float(fields[4])
            turns.append((start, start + dur, fields[7]))
    return turns


def read_transcript(path: str | Path) -> list[tuple[str | None, str]]:
    """Lines of `speaker: text`, or plain text (speaker None)."""
    out: list[tuple[str | None, str]] = []
    for line in Path(path).read_text().splitlines():
        if not line.strip():
            continue
        match = re.match(r"^\s*([\w.-]{1,40}):\s+(.*)$", line)
        out.append((match.group(1), match.group(2)) if match else (None, line.strip()))
    return out


def normalize(text: str) -> str:
    return " ".join(re.sub(r"[^\w\s']", " ", text.lower()).split())


@dataclass(frozen=True)
class DerScore:
    """DER and its parts (fractions of reference speech), and the reference seconds."""

    der: float
    missed: float
    false_alarm: float
    confusion: float
    reference_s: float

    def to_dict(self) -> dict[str, float]:
        return {
            "der": round(self.der, 4),
            "missed": round(self.missed, 4),
            "false_alarm": round(self.false_alarm, 4),
            "confusion": round(self.confusion, 4),
            "reference_s": round(self.reference_s, 3),
        }


def der(
    reference: Sequence[Turn], hypothesis: Sequence[Turn], duration_s: float, collar: float
) -> DerScore:
    """DER of `hypothesis` against `reference` over `[0, duration_s]`."""
    from pyannote.core import Annotation, Segment, Timeline
    from pyannote.metrics.diarization import DiarizationErrorRate

    ref, hyp = Annotation(), Annotation()
    for i, (s, e, who) in enumerate(reference):
        if e > s:
            ref[Segment(s, e), i] = who
    for i, (s, e, who) in enumerate(hypothesis):
        if e > s:
            hyp[Segment(s, e), i] = who
    metric = DiarizationErrorRate(collar=collar, skip_overlap=False)
    uem = Timeline([Segment(0.0, max(duration_s, 1e-3))])
    d = metric(ref, hyp, uem=uem, detailed=True)
    total = float(d["total"])
    t = max(total, 1e-9)
    parts = [float(d[k]) / t for k in ("missed detection", "false alarm", "confusion")]
    return DerScore(sum(parts), parts[0], parts[1], parts[2], total)


def wer(reference: str, hypothesis: str) -> float:
    """Word error rate of normalised texts (1.0 when nothing was said of a reference)."""
    import jiwer

    ref, hyp = normalize(reference), normalize(hypothesis)
    if not ref:
        return 0.0 if not hyp else float(len(hyp.split()))
    return float(jiwer.wer(ref, hyp)) if hyp else 1.0


def cp_wer(reference: Mapping[str, str], hypothesis: Mapping[str, str]) -> float:
    """Concatenated-minimum-permutation WER: the best one-to-one speaker mapping."""
    import jiwer

    refs = sorted(reference)
    names = sorted(hypothesis)
    total = sum(len(normalize(reference[r]).split()) for r in refs)
    cost: dict[tuple[str, str | None], int] = {}
    for r in refs:
        ref_text = normalize(reference[r])
        for h in [*names, None]:
            hyp_text = normalize(hypothesis[h]) if h is not None else ""
            if not ref_text or not hyp_text:
                cost[r, h] = len((ref_text or hyp_text).split())
                continue
            out = jiwer.process_words(ref_text, hyp_text)
            cost[r, h] = out.substitutions + out.deletions + out.insertions
    words = {h: len(normalize(hypothesis[h]).split()) for h in names}
    if len(refs) <= 6 and len(names) <= 8:
        best: int | None = None
        for perm in itertools.permutations([*names, *[None] * len(refs)], len(refs)):
            used = [h for h in perm if h is not None]
            if len(set(used)) != len(used):
                continue
            errors = sum(cost[r, h] for r, h in zip(refs, perm, strict=True))
            errors += sum(words[h] for h in names if h not in used)
            best = errors if best is None else min(best, errors)
        return (best or 0) / max(1, total)
    import numpy as np
    from scipy.optimize import linear_sum_assignment

    # Hungarian on (errors - the words a mapping saves from counting as insertions)
    m = np.array([[cost[r, h] - words[h] for h in names] + [cost[r, None]] * len(refs)
                  for r in refs], float)  # fmt: skip
    rows, cols = linear_sum_assignment(m)
    return (float(m[rows, cols].sum()) + sum(words.values())) / max(1, total)
