"""Join a client's model results into enrichments, in stream time: who said what, when.

Input: the transcription stage's typed results for one client, in order. Output:
`Enrichment`s (one line of `frames.jsonl` each; the upstream consumer calls them
frames) and a `SessionBoundary` when a session opens and closes (the sinks start and
finish its files, and learn how many lines it has):

- `speaker_relabel` for each correction the diarizer makes to labels it emitted before
  (`SpeakerRelabel`): audio labelled `old` in `[start, end)` is `new` from now on.
  History is never rewritten silently (principle 9); `apply_relabels` is the rule;
- `speaker_change` when the label of the newest speech differs from the one shown;
- `utterance`, one per *speaker run* of the transcript: each word goes to the speaker
  whose turn covers it (`operators.words`), consecutive words of one speaker are one
  line, with its own speaker, text, span and `words`;
- `detections` when what is in view changes.

Every line carries the latest detections at or before its stream time as
`visual_context`. A step's relabel lines come before its speaker-change lines, and an
utterance is attributed with every relabel emitted before it applied, so a consumer
that applies each `speaker_relabel` to the lines before it sees what we see. Every time
field comes from the data (sample positions and recorded arrival times), so a replay
writes the same lines. No two lines of a session share a `frame_id`
(`<session>_<timestamp:.3f>`, upstream's rule): a line whose millisecond is taken moves
on to the next free one.
"""

from __future__ import annotations

import bisect
from collections import Counter, deque
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from bytewax.operators import StatefulLogic
from typing_extensions import override

from ambient_flow.models.detection import Detection
from ambient_flow.models.diarization import (
    DiarizationStep,
    SpeakerRelabel,
    SpeakerSegment,
    apply_relabels,
)
from ambient_flow.models.transcription import Transcript
from ambient_flow.operators.enrichment import (
    UPSTREAM_KEYS,
    AttributionOutput,
    Enrichment,
    SessionBoundary,
)
from ambient_flow.operators.model_stage import Diarized, ModelResult, Passed, Transcribed
from ambient_flow.operators.speech import DiarizationWindow, PlacedVideoFrame, UtteranceAudio
from ambient_flow.operators.words import WordOptions, WordRun, assign_words, speaker_runs
from ambient_flow.protocol.constants import AUDIO_SAMPLE_RATE as SR
from ambient_flow.timefmt import iso_utc

__all__ = [
    "UPSTREAM_KEYS",
    "AttributionLogic",
    "AttributionOutput",
    "Enrichment",
    "SessionBoundary",
]

#: Speaker turns remembered per client (utterances are attributed within seconds).
TIMELINE_SECONDS = 90
#: Milliseconds of recent lines remembered to keep frame ids unique.
_RECENT_STAMPS = 4096


@dataclass
class _Visual:
    sample: int
    detections: list[dict[str, Any]]
    captured_ns: int


class AttributionLogic(StatefulLogic[ModelResult, AttributionOutput, None]):
    """Per client session: speaker turns, transcripts and what was in view, joined."""

    def __init__(self, words: WordOptions | None = None) -> None:
        self.client = ""
        self._words = words or WordOptions()
        self._reset("", 0)

    def _reset(self, session: str, start_sample: int) -> None:
        self.session = session
        self.count = 0  # enrichments of this session
        self.session_start = start_sample
        self._turns: deque[SpeakerSegment] = deque()  # in order of emission, relabels applied
        self._covered = start_sample  # diarization has labelled everything before this
        self._speaker: str | None = None  # the label of the last speaker change line
        self._visuals: deque[_Visual] = deque(maxlen=256)
        self._last_summary: dict[str, int] = {}  # nothing in view until something is
        self._stamps: set[int] = set()
        self._stamp_order: deque[int] = deque()

    @override
    def on_item(self, value: ModelResult) -> tuple[Iterable[AttributionOutput], bool]:
        if isinstance(value, Passed):
            event = value.item
            self.client = event.client
            if event.kind == "session_start":  # a new session starts from nothing
                self._reset(event.session, int(event.data.get("start_sample", 0)))
                return [SessionBoundary(self.client, self.session, "open")], StatefulLogic.RETAIN
            if event.kind == "session_end":  # release the session's timeline now
                close = SessionBoundary(self.client, event.session, "close", self.count)
                return [close], StatefulLogic.DISCARD
            return [], StatefulLogic.RETAIN
        if isinstance(value, Diarized):
            out = self._diarized(value.item, value.step)
        elif isinstance(value, Transcribed):
            out = self._utterance(value.item, value.transcript)
        else:
            out = self._detected(value.item, value.detections)
        self.count += len(out)
        return out, StatefulLogic.RETAIN

    @override
    def snapshot(self) -> None:
        return None

    # -- speakers ---------------------------------------------------------------------
    def _diarized(self, window: DiarizationWindow, step: DiarizationStep) -> list[Enrichment]:
        """Corrections first, then the step's new speech; note speaker changes."""
        at = window.received_ns
        out = [self._relabel(r, at) for r in step.relabels]
        if step.relabels:
            # The consumer's turn (from the last speaker change on) changes only inside a
            # relabel's span: the next speech announces its label again, even if equal.
            self._turns = deque(apply_relabels(list(self._turns), step.relabels))
            self._speaker = None
        for seg in sorted(step.segments, key=lambda s: s.start_sample):
            start = max(seg.start_sample, step.decided_start_sample)
            end = min(seg.end_sample, step.decided_end_sample)
            if end <= start:
                continue
            self._turns.append(SpeakerSegment(start, end, seg.speaker, seg.confidence))
            if seg.speaker != self._speaker:
                self._speaker = seg.speaker
                out.append(self._enrichment("speaker_change", start, at, at, speaker=seg.speaker,
                                            confidence=seg.confidence))  # fmt: skip
        self._covered = max(self._covered, step.decided_end_sample)
        horizon = self._covered - TIMELINE_SECONDS * SR
        while self._turns and self._turns[0].end_sample < horizon:
            self._turns.popleft()
        return out

    def _relabel(self, event: SpeakerRelabel, at_ns: int) -> Enrichment:
        return self._enrichment(
            "speaker_relabel",
            max(event.start_sample, self.session_start),
            at_ns,
            at_ns,
            speaker=event.new,
            extra={**event.to_dict(), "duration": round(
                (event.end_sample - event.start_sample) / SR, 3)},
        )  # fmt: skip

    def turns_between(self, start: int, end: int) -> list[SpeakerSegment]:
        """The speaker turns that reach into [start, end), as the consumer sees them now."""
        return [t for t in self._turns if t.end_sample > start and t.start_sample < end]

    def speakers_between(self, start: int, end: int) -> dict[str, int]:
        """Samples of [start, end) each speaker covers."""
        cover: Counter[str] = Counter()
        for t in self.turns_between(start, end):
            cover[t.speaker] += min(t.end_sample, end) - max(t.start_sample, start)
        return dict(cover)

    # -- transcripts ------------------------------------------------------------------
    def _utterance(self, utt: UtteranceAudio, transcript: Transcript) -> list[Enrichment]:
        """One line per speaker run of the utterance's words."""
        text = transcript.text.strip()
        if not text:
            return []  # the model heard no words (counted by the transcriber's metrics)
        near = self.turns_between(utt.start_sample - 2 * SR, utt.end_sample + 2 * SR)
        words = assign_words(transcript.words, near, self._words)
        runs: list[tuple[str | None, str, list[dict[str, object]], int]] = []
        if words:
            for run in speaker_runs(words):
                runs.append((run.speaker, run.text, _word_dicts(run), run.start_sample))
        else:  # no word times: the whole utterance, to the speaker covering most of it
            cover = self.speakers_between(utt.start_sample, utt.end_sample)
            who = max(sorted(cover), key=lambda k: cover[k]) if cover else None
            runs.append((who, text, [], utt.start_sample))
        bounds = [utt.start_sample]
        for _, _, _, first in runs[1:]:
            bounds.append(min(max(first, bounds[-1]), utt.end_sample))
        bounds.append(utt.end_sample)
        segments = [
            {"start": round(s.start_s, 3), "end": round(s.end_s, 3), "text": s.text.strip()}
            for s in transcript.segments
        ]
        out = []
        for i, (who, said, word_list, _) in enumerate(runs):
            start, end = bounds[i], bounds[i + 1]
            cover = self.speakers_between(start, end)
            total = sum(cover.values())
            duration = (end - start) / SR
            extra = {
                "end_sample": end,
                "duration": round(duration, 3),
                "speakers": {k: round(v / total, 3) for k, v in sorted(cover.items())}
                if total
                else {},
                "words": word_list,
                "speech": [
                    [max(a, start), min(b, end)]
                    for a, b in utt.speech
                    if min(b, end) > max(a, start)
                ],
                "utterance_id": f"{self.session}_u{utt.start_sample}",
                "run": i,
                "runs": len(runs),
                "utterance_start_sample": utt.start_sample,
                "utterance_end_sample": utt.end_sample,
                "segments": segments,
                "language": transcript.language,
                "no_speech_prob": round(transcript.no_speech_prob, 4),
                "avg_logprob": round(transcript.avg_logprob, 4),
                "segmentation": utt.reason,
                "decoding": {
                    "beam_size": transcript.beam_size,
                    "attempts": transcript.attempts,
                    "prompted": transcript.prompt is not None,
                    "context_s": round(transcript.context_s, 3),
                },
            }
            # when the audio at `start` arrived: the utterance's first chunk, plus stream time
            created = utt.started_ns + round((start - utt.start_sample) * 1e9 / SR)
            out.append(self._enrichment(
                "utterance", start, min(created, utt.ended_ns), utt.ended_ns, speaker=who,
                text=said, confidence=transcript.confidence,
                weight=min(1.0, duration / 5.0), extra=extra,
            ))  # fmt: skip
        return out

    # -- detections -------------------------------------------------------------------
    def _detected(
        self, placed: PlacedVideoFrame, detections: tuple[Detection, ...]
    ) -> list[Enrichment]:
        if placed.sample is None:
            return []  # no audio yet to place it against
        listed = [d.to_dict() for d in detections]
        captured = placed.frame.received_ns
        self._visuals.append(_Visual(placed.sample, listed, captured))
        summary = dict(sorted(Counter(d["class"] for d in listed).items()))
        if summary == self._last_summary:
            return []
        self._last_summary = summary
        return [
            self._enrichment(
                "detections", placed.sample, captured, captured,
                confidence=max((d["confidence"] for d in listed), default=None),
                extra={"counts": summary, "frame_seq": placed.frame.sequence},
            )
        ]  # fmt: skip

    def visual_at(self, sample: int) -> dict[str, Any] | None:
        samples = [v.sample for v in self._visuals]
        i = bisect.bisect_right(samples, sample)
        if i == 0:
            return None
        v = self._visuals[i - 1]
        return {
            "detections": v.detections,
            "embedding": None,
            "captured_at": iso_utc(v.captured_ns),
        }

    def _timestamp(self, sample: int) -> float:
        """Seconds from the session's first sample, on a millisecond no line has taken."""
        ms = round((sample - self.session_start) * 1000 / SR)
        while ms in self._stamps:
            ms += 1
        self._stamps.add(ms)
        self._stamp_order.append(ms)
        if len(self._stamp_order) > _RECENT_STAMPS:
            self._stamps.discard(self._stamp_order.popleft())
        return ms / 1000

    def _enrichment(
        self,
        event_type: str,
        sample: int,
        created_ns: int,
        enriched_ns: int,
        *,
        speaker: str | None = None,
        text: str | None = None,
        confidence: float | None = None,
        weight: float = 1.0,
        extra: dict[str, Any] | None = None,
    ) -> Enrichment:
        return Enrichment(
            client=self.client,
            session_id=self.session,
            event_type=event_type,
            sample_position=sample,
            timestamp=self._timestamp(sample),
            speaker_prediction=speaker,
            text_hypothesis=text,
            confidence=confidence,
            weight=weight,
            visual_context=self.visual_at(sample),
            created_at=iso_utc(created_ns),
            enriched_at=iso_utc(enriched_ns),
            extra=extra or {},
        )


def _word_dicts(run: WordRun) -> list[dict[str, object]]:
    return [w.to_dict() for w in run.words]
