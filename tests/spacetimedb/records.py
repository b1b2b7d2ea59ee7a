"""Builders for the plain dict records the writer takes."""

from __future__ import annotations

from typing import Any

T0 = "2026-01-23T14:30:45+00:00"


def session_start(session: str = "s1", client: str = "laptop", at: str = T0) -> dict[str, Any]:
    return {"event": "session_start", "session_id": session, "client": client, "at": at}


def session_end(
    session: str = "s1", client: str = "laptop", at: str = "2026-01-23T14:35:45+00:00"
) -> dict[str, Any]:
    return {"event": "session_end", "session_id": session, "client": client, "at": at}


def frame(
    event_type: str,
    t: float,
    *,
    session: str = "s1",
    speaker: str | None = None,
    text: str | None = None,
    confidence: float | None = None,
    detections: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """An upstream-shaped frame, exactly its keys."""
    visual = None
    if detections is not None:
        visual = {"detections": detections, "embedding": None, "captured_at": T0}
    return {
        "timestamp": t,
        "sample_position": 160_000 + round(t * 16000),
        "speaker_prediction": speaker,
        "visual_context": visual,
        "text_hypothesis": text,
        "confidence": confidence,
        "weight": 1.0,
        "frame_id": f"{session}_{t:.3f}",
        "session_id": session,
        "event_type": event_type,
        "created_at": T0,
        "enriched_at": T0,
    }


def utterance(
    t: float, text: str = "hello", speaker: str | None = "speaker0", *, session: str = "s1"
) -> dict[str, Any]:
    return frame("utterance", t, session=session, speaker=speaker, text=text, confidence=0.8)


def detections(t: float, *classes: str, session: str = "s1") -> dict[str, Any]:
    dets = [{"class": c, "bbox": [1.0, 2.0, 3.0, 4.0], "confidence": 0.9} for c in classes]
    return frame("detections", t, session=session, detections=dets, confidence=0.9)
