"""The upstream consumer builds its dataclasses straight from our files: `Frame(**line)`
for every line of `frames.jsonl`, `SessionMetadata(**json)` for `metadata.json`. Any key
it does not declare is a TypeError there, so these loaders declare exactly its fields
(fauxtrot/ambient-sub, `ambient_subconscious/stream/frame.py` and `stream_state.py`)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ambient_flow.config import Settings
from ambient_flow.models import Detection
from ambient_flow.testing import fakes, run_messages
from ambient_flow.testing.media import sine_pcm
from ambient_flow.testing.messages import T0_MS, audio_raw, control_raw, video_raw


@dataclass
class Frame:  # the upstream consumer's fields, nothing else
    timestamp: float
    sample_position: int
    speaker_prediction: str | None = None
    visual_context: dict[str, Any] | None = None
    text_hypothesis: str | None = None
    confidence: float = 0.0
    weight: float = 1.0
    frame_id: str | None = None
    session_id: str | None = None
    event_type: str | None = None
    created_at: str | None = None
    enriched_at: str | None = None


@dataclass
class SessionMetadata:  # the upstream consumer's fields, nothing else
    session_id: str
    device_name: str
    recording_mode: str
    started_at: str
    ended_at: str | None = None
    duration_seconds: float = 0.0
    frame_count: int = 0
    storage_path: str = ""
    audio_path: str | None = None


def conversation(client: str, first_ns: int) -> list:  # type: ignore[type-arg]
    """A named client: hello, 2 s of speech-loud audio, a camera frame, silence, bye."""
    msgs = [control_raw("hello", at_ns=first_ns, client=client, recording_mode="meeting")]
    for i in range(20):
        msgs.append(audio_raw(i, client=client, pcm=sine_pcm(220.0, phase_samples=1600 * i)))
    msgs.append(video_raw(0, client=client, ts=T0_MS + 500, w=64, h=48))
    msgs += [audio_raw(20 + i, client=client, pcm=bytes(3200)) for i in range(15)]
    msgs.append(control_raw("bye", at_ns=(T0_MS + 3600) * 1_000_000, client=client))
    return msgs


def silent(client: str) -> list:  # type: ignore[type-arg]
    return [audio_raw(i, client=client, pcm=bytes(3200)) for i in range(20)]


def load(session: Path) -> tuple[list[Frame], SessionMetadata]:
    lines = (session / "frames.jsonl").read_text().splitlines()
    frames = [Frame(**json.loads(line)) for line in lines]
    return frames, SessionMetadata(**json.loads((session / "metadata.json").read_text()))


def test_frames_and_metadata_load_into_the_upstream_dataclasses(tmp_path: Path) -> None:
    person = Detection("person", (1.0, 1.0, 20.0, 30.0), 0.8)
    models = fakes.models(turns=[(0.0, 1.0, "a"), (1.0, 2.0, "b")], found=lambda i: [person])
    msgs = conversation("talker", (T0_MS - 50) * 1_000_000) + silent("quiet")
    run_messages(msgs, tmp_path, settings=Settings(enrich=True), models=models)
    sessions = {p.name.split("_")[2]: p for p in (tmp_path / "sessions").iterdir()}
    assert set(sessions) == {"talker", "quiet"}

    frames, meta = load(sessions["talker"])
    kinds = {f.event_type for f in frames}
    assert {"utterance", "speaker_change", "detections"} <= kinds
    assert all(isinstance(f.confidence, float) for f in frames)  # never null
    in_view = [f.visual_context for f in frames if f.visual_context is not None]
    assert in_view  # the camera frame at 0.5 s is in view of what came after it
    assert all(set(v) == {"detections", "embedding", "captured_at"} for v in in_view)
    assert meta.frame_count == len(frames)
    assert meta.device_name == "talker" and meta.recording_mode == "meeting"
    assert meta.ended_at is not None and meta.duration_seconds == 3.5
    assert Path(meta.storage_path) == sessions["talker"]
    assert meta.audio_path is not None and Path(meta.audio_path).exists()

    # The richer half, line for line, in our own file.
    details = (sessions["talker"] / "enrichment.jsonl").read_text().splitlines()
    assert [json.loads(d)["frame_id"] for d in details] == [f.frame_id for f in frames]

    quiet_frames, quiet_meta = load(sessions["quiet"])
    assert quiet_frames == [] and quiet_meta.frame_count == 0  # empty, but there


def test_metadata_loads_with_the_enrichment_off(tmp_path: Path) -> None:
    run_messages(conversation("talker", (T0_MS - 50) * 1_000_000), tmp_path)
    (session,) = (tmp_path / "sessions").iterdir()
    meta = SessionMetadata(**json.loads((session / "metadata.json").read_text()))
    assert meta.frame_count == 0 and meta.ended_at is not None
    rich = json.loads((session / "session.json").read_text())
    assert rich["client"] == "talker" and rich["end_reason"] == "bye"
