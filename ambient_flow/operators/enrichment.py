"""An enrichment: one line of `frames.jsonl` (and its detail line), and session boundaries.

An enrichment has two parts on disk: `frames.jsonl` carries exactly the keys the
upstream consumer's `Frame` dataclass declares (`UPSTREAM_KEYS`: it loads each line with
`Frame(**line)`, so any other key would break it), and `enrichment.jsonl`, line for line,
carries the rest (client, words, segments, speakers, relabel spans, counts, ...;
docs/frames.md). Made by `operators.attribution`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = ["EVENT_TYPES", "UPSTREAM_KEYS", "AttributionOutput", "Enrichment", "SessionBoundary"]

#: What an enrichment can be (`event_type`).
EVENT_TYPES: tuple[str, ...] = ("utterance", "speaker_change", "speaker_relabel", "detections")

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
