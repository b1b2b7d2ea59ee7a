"""Join a client's model results into enrichment frames, in stream time.

Input: the model stage's `Done` items for one client, in input order. Output: `Frame`s —
`speaker_change` as the diarizer's labels change, `utterance` with the transcript and the
speaker that covers most of it (and the split when several do), `detections` when what is
in view changes — each carrying the latest detections at or before its stream time as
`visual_context`. Every time field comes from the data (sample positions and recorded
arrival times), so a replay writes the same frames.
"""

from __future__ import annotations

import bisect
from collections import Counter, deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from bytewax.operators import StatefulLogic
from typing_extensions import override

from ambient_flow.operators.events import ClientEvent
from ambient_flow.operators.models import Done
from ambient_flow.operators.speech import DiarizationWindow, PlacedFrame, UtteranceAudio

__all__ = ["AttributionLogic", "Frame", "iso"]

SR = 16000
#: Speaker turns remembered per client, for attributing utterances up to 30 s long.
TIMELINE_SECONDS = 90


def iso(ns: int) -> str:
    return datetime.fromtimestamp(ns / 1e9, tz=UTC).isoformat(timespec="milliseconds")


@dataclass(frozen=True)
class Frame:
    """One enrichment frame (one line of `frames.jsonl`; schema in docs/frames.md)."""

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

    def to_record(self) -> dict[str, Any]:
        return {
            "frame_id": self.frame_id,
            "session_id": self.session_id,
            "client": self.client,
            "event_type": self.event_type,
            "timestamp": round(self.timestamp, 3),
            "sample_position": self.sample_position,
            "speaker_prediction": self.speaker_prediction,
            "text_hypothesis": self.text_hypothesis,
            "confidence": None if self.confidence is None else round(self.confidence, 4),
            "weight": round(self.weight, 4),
            "visual_context": self.visual_context,
            "created_at": self.created_at,
            "enriched_at": self.enriched_at,
            **self.extra,
        }


@dataclass
class _Visual:
    sample: int
    detections: list[dict[str, Any]]
    captured_ns: int


class AttributionLogic(StatefulLogic[Done[Any], Frame, None]):
    def __init__(self) -> None:
        self.client = ""
        self.session = ""
        self.session_start = 0
        self._turns: deque[tuple[int, int, str]] = deque()  # (start, end, speaker), in order
        self._covered = 0  # diarization has labelled everything before this sample
        self._speaker: str | None = None
        self._visuals: deque[_Visual] = deque(maxlen=256)
        self._last_summary: dict[str, int] = {}  # nothing in view until something is

    @override
    def on_item(self, value: Done[Any]) -> tuple[Iterable[Frame], bool]:
        item = value.item
        if isinstance(item, ClientEvent):
            self.client = item.client
            if item.kind == "session_start":
                self.session = item.session
                self.session_start = int(item.data.get("start_sample", 0))
                self._turns.clear()
                self._covered = self.session_start
                self._speaker = None
                self._visuals.clear()
                self._last_summary = {}
            return [], StatefulLogic.RETAIN
        if isinstance(item, DiarizationWindow):
            return self._diarized(item, value.result), StatefulLogic.RETAIN
        if isinstance(item, UtteranceAudio):
            return self._utterance(item, value.result), StatefulLogic.RETAIN
        if isinstance(item, PlacedFrame):
            return self._detected(item, value.result), StatefulLogic.RETAIN
        return [], StatefulLogic.RETAIN

    @override
    def snapshot(self) -> None:
        return None

    # -- speakers ---------------------------------------------------------------------
    def _diarized(self, window: DiarizationWindow, step: Any) -> list[Frame]:
        """Take the span this step decided (not labelled before); note speaker changes."""
        decided_end = int(getattr(step, "decided_end_sample", window.end_sample))
        new_from = max(self._covered, int(getattr(step, "decided_start_sample", 0)))
        out: list[Frame] = []
        segments = sorted(getattr(step, "segments", ()), key=lambda s: s.start_sample)
        for seg in segments:
            start, end = max(seg.start_sample, new_from), min(seg.end_sample, decided_end)
            if end <= start:
                continue
            self._turns.append((start, end, seg.speaker))
            if seg.speaker != self._speaker:
                self._speaker = seg.speaker
                out.append(
                    self._frame(
                        "speaker_change", start, window.received_ns, window.received_ns,
                        speaker=seg.speaker, confidence=float(getattr(seg, "confidence", 1.0)),
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
    def _utterance(self, utt: UtteranceAudio, transcript: Any) -> list[Frame]:
        text = (getattr(transcript, "text", "") or "").strip()
        if not text:
            return []  # the model heard no words (counted by the transcriber's metrics)
        cover = self.speakers_between(utt.start_sample, utt.end_sample)
        total = sum(cover.values())
        speaker = max(sorted(cover), key=lambda k: cover[k]) if cover else None
        split = {k: round(v / total, 3) for k, v in sorted(cover.items())} if total else {}
        segments = [
            {
                "start": round(float(s.start_s), 3),
                "end": round(float(s.end_s), 3),
                "text": s.text.strip(),
            }
            for s in getattr(transcript, "segments", ())
        ]
        return [
            self._frame(
                "utterance",
                utt.start_sample,
                utt.started_ns,
                utt.ended_ns,
                speaker=speaker,
                text=text,
                confidence=float(getattr(transcript, "confidence", 0.0)),
                weight=min(1.0, utt.duration_s / 5.0),
                extra={
                    "end_sample": utt.end_sample,
                    "duration": round(utt.duration_s, 3),
                    "speakers": split,
                    "segments": segments,
                    "language": getattr(transcript, "language", None),
                    "no_speech_prob": _round(getattr(transcript, "no_speech_prob", None)),
                    "avg_logprob": _round(getattr(transcript, "avg_logprob", None)),
                    "segmentation": utt.reason,
                },
            )
        ]

    # -- detections -------------------------------------------------------------------
    def _detected(self, placed: PlacedFrame, detections: Any) -> list[Frame]:
        if placed.sample is None:
            return []  # no audio yet to place it against
        listed = [_detection_dict(d) for d in (detections or ())]
        captured = placed.frame.received_ns
        self._visuals.append(_Visual(placed.sample, listed, captured))
        summary = dict(sorted(Counter(d["class"] for d in listed).items()))
        if summary == self._last_summary:
            return []
        self._last_summary = summary
        return [
            self._frame(
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
        return {"detections": v.detections, "embedding": None, "captured_at": iso(v.captured_ns)}

    def _frame(
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
    ) -> Frame:
        return Frame(
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
            created_at=iso(created_ns),
            enriched_at=iso(enriched_ns),
            extra=extra or {},
        )


def _round(value: Any) -> float | None:
    return None if value is None else round(float(value), 4)


def _detection_dict(d: Any) -> dict[str, Any]:
    if isinstance(d, dict):
        return d
    to_dict = getattr(d, "to_dict", None)
    if callable(to_dict):
        result: dict[str, Any] = to_dict()
        return result
    return {
        "class": d.class_name,
        "bbox": [round(float(x), 1) for x in d.bbox],
        "confidence": round(float(d.confidence), 4),
    }
