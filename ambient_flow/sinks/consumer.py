"""Who said what, as a consumer that honours `speaker_relabel` lines reads a session.

A session's enrichments (`read_enrichments`) are a log: labels shown early may be
corrected later by `speaker_relabel` lines (docs/frames.md). The rule, applied to the
lines in file order: a relabel `{old, new, start_sample, end_sample}` changes what lines
*before it* showed — the part of a speaker turn (a `speaker_change` line up to the next
one) labelled `old` inside `[start_sample, end_sample)`, and each word (and each utterance
line, by its middle) labelled `old` whose middle lies inside the span. Lines after it
already carry its decision.

`SessionView` is that rule, for `ambient-flow eval` and for anyone reading our files.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ambient_flow.protocol.constants import AUDIO_SAMPLE_RATE as SR

__all__ = ["SessionView", "Span", "ViewWord"]

#: The end of the turn still open (until the next speaker change).
_OPEN = 1 << 62


@dataclass(frozen=True)
class Span:
    """Samples `[start, end)` labelled `speaker`."""

    start: int
    end: int
    speaker: str | None


@dataclass
class ViewWord:
    """A word of an utterance line, with its speaker as the consumer shows it now."""

    text: str
    start: int
    end: int
    speaker: str | None


@dataclass
class _Line:
    index: int
    start: int
    end: int
    speaker: str | None
    text: str
    speech: list[tuple[int, int]]
    words: list[ViewWord] = field(default_factory=list)


@dataclass
class SessionView:
    """Speaker turns, utterance lines and words after every relabel line was applied."""

    turns: list[Span]
    utterances: list[_Line]
    relabels: int
    end_sample: int

    @classmethod
    def from_lines(cls, lines: Sequence[Mapping[str, Any]]) -> SessionView:
        """Read merged enrichment lines (`read_enrichments`) in file order."""
        changes: list[tuple[int, int, str | None]] = []  # (line index, sample, speaker)
        turns: list[tuple[int, Span]] = []  # (line index of its speaker_change, span)
        utterances: list[_Line] = []
        relabels = 0
        end_sample = 0
        for i, line in enumerate(lines):
            kind = line.get("event_type")
            pos = int(line.get("sample_position", 0))
            end_sample = max(end_sample, int(line.get("end_sample") or pos))
            if kind == "speaker_change":
                changes.append((i, pos, line.get("speaker_prediction")))
            elif kind == "utterance":
                utterances.append(_utterance_line(i, line))
            elif kind == "speaker_relabel":
                relabels += 1
                turns = _turns_of(changes, turns)
                changes = []
                _relabel(line, i, turns, utterances)
        turns = _turns_of(changes, turns)
        return cls([t for _, t in turns], utterances, relabels, end_sample)

    def speech(self) -> list[tuple[int, int]]:
        """Where the utterances say someone spoke (merged runs, samples)."""
        runs = sorted(r for u in self.utterances for r in u.speech)
        out: list[tuple[int, int]] = []
        for a, b in runs:
            if out and a <= out[-1][1]:
                out[-1] = (out[-1][0], max(out[-1][1], b))
            else:
                out.append((a, b))
        return out

    def timeline(self) -> list[Span]:
        """Speaker turns where someone spoke: who the consumer shows for each stretch."""
        out = []
        for a, b in self.speech():
            for t in self.turns:
                lo, hi = max(a, t.start), min(b, t.end)
                if hi > lo:
                    out.append(Span(lo, hi, t.speaker))
        return out

    def by_utterance(self) -> list[Span]:
        """Each utterance line's speech, labelled with that line's speaker."""
        return [Span(a, b, u.speaker) for u in self.utterances for a, b in u.speech]

    def text(self) -> str:
        """Everything said, in stream order."""
        return " ".join(u.text for u in sorted(self.utterances, key=lambda u: (u.start, u.index)))

    def text_by_speaker(self) -> dict[str, str]:
        """Each speaker's words in stream order (a line without words: its text)."""
        words: list[tuple[int, int, str, str]] = []
        for u in self.utterances:
            if u.words:
                words += [(w.start, u.index, w.text, str(w.speaker)) for w in u.words]
            elif u.text:
                words.append((u.start, u.index, u.text, str(u.speaker)))
        said: dict[str, list[str]] = {}
        for _, _, text, who in sorted(words, key=lambda w: (w[0], w[1])):
            said.setdefault(who, []).append(text.strip())
        return {who: " ".join(t for t in texts if t) for who, texts in said.items()}


def _utterance_line(i: int, line: Mapping[str, Any]) -> _Line:
    start = int(line.get("sample_position", 0))
    end = int(line.get("end_sample") or start)
    speech = [(int(a), int(b)) for a, b in line.get("speech") or [] if int(b) > int(a)]
    words = [
        ViewWord(
            str(w.get("word", "")),
            round(float(w["start"]) * SR),
            round(float(w["end"]) * SR),
            w.get("speaker"),
        )
        for w in line.get("words") or []
        if isinstance(w, Mapping) and "start" in w and "end" in w
    ]
    text = str(line.get("text_hypothesis") or "")
    return _Line(
        i, start, end, line.get("speaker_prediction"), text, speech or [(start, end)], words
    )


def _turns_of(
    changes: Iterable[tuple[int, int, str | None]], turns: list[tuple[int, Span]]
) -> list[tuple[int, Span]]:
    """Speaker-change lines as turns: each lasts until the next one (the last, to the end)."""
    out = list(turns)
    for i, pos, who in changes:
        # what was shown up to now (the open turn, in pieces if relabelled) ends here
        out = [(j, Span(t.start, min(t.end, pos), t.speaker)) for j, t in out if t.start < pos]
        out.append((i, Span(pos, _OPEN, who)))
    return out


def _relabel(
    line: Mapping[str, Any], index: int, turns: list[tuple[int, Span]], utterances: list[_Line]
) -> None:
    old, new = line.get("old"), line.get("new")
    a, b = int(line.get("start_sample", 0)), int(line.get("end_sample", 0))
    if old is None or new is None or b <= a:
        return
    out: list[tuple[int, Span]] = []
    for j, t in turns:
        if j > index or t.speaker != old or t.end <= a or t.start >= b:
            out.append((j, t))
            continue
        if t.start < a:
            out.append((j, Span(t.start, a, t.speaker)))
        out.append((j, Span(max(t.start, a), min(t.end, b), new)))
        if t.end > b:
            out.append((j, Span(b, t.end, t.speaker)))
    turns[:] = out
    for u in utterances:
        for w in u.words:
            if w.speaker == old and a <= (w.start + w.end) // 2 < b:
                w.speaker = new
        if u.speaker == old and a <= (u.start + u.end) // 2 < b:
            u.speaker = new
