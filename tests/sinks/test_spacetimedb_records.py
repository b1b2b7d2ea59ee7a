"""The SpacetimeDB sink's records (pure): session events and enrichments in an order the
database can take, the mode from the hello, the duration on the stream clock."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ambient_flow.operators.attribution import Enrichment, SessionBoundary
from ambient_flow.operators.events import ClientEvent
from ambient_flow.sinks import spacetimedb
from ambient_flow.sinks.spacetimedb import SessionRecords

T = 1_700_000_000_000_000_000


def event(kind: Any, session: str = "s1", at: int = T, **data: Any) -> ClientEvent:
    return ClientEvent("kitchen", kind, at, session, data)


def utterance(session: str = "s1", confidence: float | None = 0.5) -> Enrichment:
    return Enrichment(
        client="kitchen", session_id=session, event_type="utterance", sample_position=16000,
        timestamp=1.0, speaker_prediction="speaker0", text_hypothesis="hi",
        confidence=confidence, weight=0.5, visual_context=None,
        created_at="2023-11-14T22:13:20.000000Z", enriched_at="2023-11-14T22:13:21.000000Z",
        extra={"duration": 1.25, "speakers": {"speaker0": 1.0}},
    )  # fmt: skip


def kinds(out: list[tuple[dict[str, Any], Any]]) -> list[str]:
    return [r.get("event") or r.get("event_type") for r, _ in out]


def records(tmp_path: Path, wait: bool = True) -> SessionRecords:
    return SessionRecords(str(tmp_path), save_frames=False, wait_for_enrichment=wait)


def test_a_session_end_waits_for_the_enrichment_to_close_the_session(tmp_path: Path) -> None:
    r = records(tmp_path)
    out = r.feed([event("session_start", start_sample=0), event("hello", recording_mode="focus")])
    assert kinds(out) == ["session_start"] and out[0][0]["mode"] == "focus"
    assert r.feed([event("session_end", at=T + 10**9, end_sample=48000)]) == []  # held
    out = r.feed([utterance(), SessionBoundary("kitchen", "s1", "close", 1)])
    assert kinds(out) == ["utterance", "session_end"]
    assert out[1][0]["duration_s"] == 3.0  # 48000 samples on the stream clock
    (_, side) = out[0]
    assert side is not None and side["end"] == 2.25 and side["client"] == "kitchen"


def test_a_close_before_the_end_lets_the_end_through_at_once(tmp_path: Path) -> None:
    r = records(tmp_path)
    assert r.feed([SessionBoundary("kitchen", "s1", "close", 0)]) == []
    assert kinds(r.feed([event("session_end")])) == ["session_end"]
    assert r.flush() == []


def test_without_the_enrichment_ends_go_at_once_and_held_ends_flush_at_the_end(
    tmp_path: Path,
) -> None:
    assert kinds(records(tmp_path, wait=False).feed([event("session_end")])) == ["session_end"]
    r = records(tmp_path)
    r.feed([event("session_end", session="a"), event("session_end", session="b")])
    assert sorted(rec["session_id"] for rec, _ in r.flush()) == ["a", "b"]


def test_none_is_kept_as_none_and_held_ends_are_bounded(tmp_path: Path, monkeypatch: Any) -> None:
    r = records(tmp_path)
    (rec, _), = r.feed([utterance(confidence=None)])  # fmt: skip
    assert rec["confidence"] is None  # frames.jsonl writes 0.0; the database gets none
    monkeypatch.setattr(spacetimedb, "MAX_SESSIONS", 2)
    out = r.feed([event("session_end", session=s) for s in ("a", "b", "c")])
    assert [rec["session_id"] for rec, _ in out] == ["a"]  # sent early, never lost
