"""Join a client's model results into enrichments, in stream time.

Input: the model stage's typed results for one client, in input order. Output:
`Enrichment`s (one line of `frames.jsonl` each; the upstream consumer calls them
frames) — `speaker_change` as the diarizer's labels change, `utterance` with the
transcript and the speaker that covers most of it (and the split when several do),
`detections` when what is in view changes — each carrying the latest detections at or
before its stream time as `visual_context`; and a `SessionBoundary` when a session
opens and closes (the sinks start and finish its files, and learn how many lines it
has). Every time field comes from the data (sample positions and recorded arrival
times), so a replay writes the same lines.

An enrichment has two parts on disk: `frames.jsonl` carries exactly the keys the
upstream consumer's `Frame` dataclass declares (`UPSTREAM_KEYS`: it loads each line with
`Frame(**line)`, so any other key would break it), and `enrichment.jsonl`, line for line,
carries the rest (client, words, segments, speakers, counts, ...; docs/frames.md).
"""

from __future__ import annotations

import bisect
from collections import Counter, deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from bytewax.operators import StatefulLogic
from typing_extensions import override

from ambient_flow.models.detection import Detection
from ambient_flow.models.diarization import DiarizationStep
from ambient_flow.models.transcription import Transcript
from ambient_flow.operators.model_stage import (
    Diarized,
    ModelResult,
    Passed,
    Transcribed,
)
from ambient_flow.operators.speech import DiarizationWindow, PlacedVideoFrame, UtteranceAudio
from ambient_flow.protocol.constants import AUDIO_SAMPLE_RATE as SR
from ambient_flow.timefmt import iso_utc

__all__ = [
    "UPSTREAM_KEYS",
    "AttributionLogic",
    "AttributionOutput",
    "Enrichment",
    "SessionBoundary",
]

#: Speaker turns remembered per client, for attributing utterances up to 30 s long.
TIMELINE_SECONDS = 90


#: The keys of a `frames.jsonl` line, exactly: the upstream consumer's `Frame` fields.
UPSTREAM_KEYS: tuple[str, ...] = (
    "timestamp",
    "sample_position",
    "speaker_prediction",
    "visual_context",
    "text_hypothesis",
    "confidence",
    "weight",
    "frame_id",
    "session_id",
    "event_type",
    "created_at",
    "enriched_at",
)


@dataclass(frozen=True)
class Enrichment:
    """One enrichment: a line of `frames.jsonl` (schema in docs/frames.md)."""

    client: str
    session_id: str
    event_type: str
    sample_position: int
    timestamp: float
    speaker_prediction: str | None
    text_hypothesis: str | None
    confidence: float | None
    weight: float
    visual_context: dict[str, Any] | None
    created_at: str
    enriched_at: str
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def frame_id(self) -> str:
        return f"{self.session_id}_{self.timestamp:.3f}"

    def upstream_record(self) -> dict[str, Any]:
        """The `frames.jsonl` line: exactly `UPSTREAM_KEYS` (confidence always a number)."""
        return {
            "timestamp": round(self.timestamp, 3),
            "sample_position": self.sample_position,
            "speaker_prediction": self.speaker_prediction,
            "visual_context": self.visual_context,
            "text_hypothesis": self.text_hypothesis,
            "confidence": 0.0 if self.confidence is None else round(self.confidence, 4),
            "weight": round(self.weight, 4),
            "frame_id": self.frame_id,
            "session_id": self.session_id,
            "event_type": self.event_type,
            "created_at": self.created_at,
            "enriched_at": self.enriched_at,
        }

    def detail_record(self) -> dict[str, Any]:
        """The `enrichment.jsonl` line: what the upstream keys cannot carry, by `frame_id`."""
        return {
            "frame_id": self.frame_id,
            "session_id": self.session_id,
            "client": self.client,
            "event_type": self.event_type,
            **self.extra,
        }

    def to_record(self) -> dict[str, Any]:
        """Both parts in one object (the PUB stream): `frame` loads with `Frame(**frame)`."""
        return {"frame": self.upstream_record(), "detail": self.detail_record()}


@dataclass(frozen=True)
class SessionBoundary:
    """A client's session opened or closed in the enrichment (the sinks' cue).

    `enrichments` is how many enrichments the session has had so far (all of them, at
    `close`): the session sink's `metadata.json` reports it as `frame_count`.
    """

    client: str
    session_id: str
    kind: Literal["open", "close"]
    enrichments: int = 0


AttributionOutput = Enrichment | SessionBoundary


@dataclass
class _Visual:
    sample: int
    detections: list[dict[str, Any]]
    captured_ns: int


class AttributionLogic(StatefulLogic[ModelResult, AttributionOutput, None]):
    """Per client session: speaker turns, transcripts and what was in view, joined."""

    def __init__(self) -> None:
        self.client = ""
        self._reset("", 0)

    def _reset(self, session: str, start_sample: int) -> None:
        self.session = session
        self.count = 0  # enrichments of this session
        self.session_start = start_sample
        self._turns: deque[tuple[int, int, str]] = deque()  # (start, end, speaker), in order
        self._covered = start_sample  # diarization has labelled everything before this
        self._speaker: str | None = None
        self._visuals: deque[_Visual] = deque(maxlen=256)
        self._last_summary: dict[str, int] = {}  # nothing in view until something is

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
        """Take the span this step decided (not labelled before); note speaker changes."""
        decided_end = step.decided_end_sample
        new_from = max(self._covered, step.decided_start_sample)
        out: list[Enrichment] = []
        for seg in sorted(step.segments, key=lambda s: s.start_sample):
            start, end = max(seg.start_sample, new_from), min(seg.end_sample, decided_end)
            if end <= start:
                continue
            self._turns.append((start, end, seg.speaker))
            if seg.speaker != self._speaker:
                self._speaker = seg.speaker
                out.append(
                    self._enrichment(
                        "speaker_change", start, window.received_ns, window.received_ns,
                        speaker=seg.speaker, confidence=seg.confidence,
                    )
                )  # fmt: skip
        self._covered = max(self._covered, decided_end)
        horizon = self._covered - TIMELINE_SECONDS * SR
        while self._turns and self._turns[0][1] < horizon:
            self._turns.popleft()
        return out

    def speakers_between(self, start: int, end: int) -> dict[str, int]:
        """Samples of [start, end) each speaker covers."""
        cover: Counter[str] = Counter()
        for s, e, speaker in self._turns:
            overlap = min(e, end) - max(s, start)
            if overlap > 0:
                cover[speaker] += overlap
        return dict(cover)

    # -- transcripts ------------------------------------------------------------------
    def _utterance(self, utt: UtteranceAudio, transcript: Transcript) -> list[Enrichment]:
        text = transcript.text.strip()
        if not text:
            return []  # the model heard no words (counted by the transcriber's metrics)
        cover = self.speakers_between(utt.start_sample, utt.end_sample)
        total = sum(cover.values())
        speaker = max(sorted(cover), key=lambda k: cover[k]) if cover else None
        split = {k: round(v / total, 3) for k, v in sorted(cover.items())} if total else {}
        segments = [
            {"start": round(s.start_s, 3), "end": round(s.end_s, 3), "text": s.text.strip()}
            for s in transcript.segments
        ]
        return [
            self._enrichment(
                "utterance",
                utt.start_sample,
                utt.started_ns,
                utt.ended_ns,
                speaker=speaker,
                text=text,
                confidence=transcript.confidence,
                weight=min(1.0, utt.duration_s / 5.0),
                extra={
                    "end_sample": utt.end_sample,
                    "duration": round(utt.duration_s, 3),
                    "speakers": split,
                    "segments": segments,
                    "language": transcript.language,
                    "no_speech_prob": round(transcript.no_speech_prob, 4),
                    "avg_logprob": round(transcript.avg_logprob, 4),
                    "segmentation": utt.reason,
                },
            )
        ]

    # -- detections -------------------------------------------------------------------
    def _detected(
        self, placed: PlacedVideoFrame, detections: tuple[Detection, ...]
    ) -> list[Enrichment]:
        if placed.sample is None:
            return []  # no audio yet to place it against
        listed = [_detection_dict(d) for d in detections]
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
            timestamp=(sample - self.session_start) / SR,
            speaker_prediction=speaker,
            text_hypothesis=text,
            confidence=confidence,
            weight=weight,
            visual_context=self.visual_at(sample),
            created_at=iso_utc(created_ns),
            enriched_at=iso_utc(enriched_ns),
            extra=extra or {},
        )


def _detection_dict(d: Detection) -> dict[str, Any]:
    return d.to_dict()
