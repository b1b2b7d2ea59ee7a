"""Records to reducer-call plans (pure: no server)."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ambient_flow.spacetimedb.errors import InvalidRecord, SpacetimeConfigError
from ambient_flow.spacetimedb.mapping import (
    IdOf,
    MappingOptions,
    Plan,
    Step,
    device_key,
    entry_key,
    plan_record,
    session_key,
)
from ambient_flow.spacetimedb.module import encode_args

from .records import T0, detections, frame, session_end, session_start, utterance

OPTS = MappingOptions()
SK = session_key("ambient-flow:session/s1")
DK = device_key("ambient-flow:laptop")


def reducers(plan: Plan) -> list[str]:
    return [s.reducer for s in plan.steps]


def only(plan: Plan, reducer: str) -> list[Step]:
    return [s for s in plan.steps if s.reducer == reducer]


def encodable(plan: Plan) -> None:
    """Every step's arguments fit its reducer once ids are known."""
    for step in plan.steps:
        encode_args(step.reducer, [7 if isinstance(a, IdOf) else a for a in step.args])


def test_session_start_registers_the_device_and_starts_the_session() -> None:
    plan = plan_record(session_start(), options=OPTS)
    assert plan.steps == (
        Step("RegisterDevice", ("ambient-flow:laptop", "laptop", "ambient-flow"), "ensure", DK),
        Step(
            "StartSession",
            (IdOf(DK), "2026-01-23", "ambient", "ambient-flow:session/s1"),
            "ensure",
            SK,
        ),
        Step("UpdateDeviceStatus", ("ambient-flow:laptop", "recording"), "update"),
    )
    encodable(plan)


def test_a_session_names_its_own_recording_mode() -> None:
    plan = plan_record({**session_start(), "mode": "meeting"}, options=OPTS)
    (start,) = only(plan, "StartSession")
    assert start.args[2] == "meeting"
    blank = plan_record({**session_start(), "mode": ""}, options=OPTS)
    assert only(blank, "StartSession")[0].args[2] == OPTS.mode


def test_session_end_records_duration_and_completes() -> None:
    plan = plan_record(session_end(), options=OPTS, started_at=T0)
    assert reducers(plan)[2:] == [
        "UpdateSessionDuration",
        "UpdateSessionStatus",
        "UpdateDeviceStatus",
    ]
    assert only(plan, "UpdateSessionDuration")[0].args == (IdOf(SK), 300_000)
    assert only(plan, "UpdateSessionStatus")[0].args == (IdOf(SK), "completed")
    # Without a start time (nor duration_s) the duration is left alone.
    assert "UpdateSessionDuration" not in reducers(plan_record(session_end(), options=OPTS))
    explicit = plan_record({**session_end(), "duration_s": 12.5}, options=OPTS)
    assert only(explicit, "UpdateSessionDuration")[0].args[1] == 12_500


def test_utterance_with_turns_and_words() -> None:
    # words are timed on the stream clock (the session starts 10 s into it here: records.py);
    # turns and `end` on the session's
    side = {
        "end": 3.5,
        "client": "laptop",
        "words": [
            {"word": " hello", "start": 11.6, "end": 12.0},
            {"word": " there", "start": 12.6, "end": 13.2},
        ],
        "speakers": [
            {"label": "speaker0", "start": 1.0, "end": 2.5},  # clipped to the utterance
            {"label": "speaker1", "start": 2.5, "end": 9.0, "confidence": 0.7},
        ],
    }
    plan = plan_record(utterance(1.5, "hello there"), side, options=OPTS)
    ek = entry_key("s1_1.500")
    assert reducers(plan) == [
        "RegisterDevice", "StartSession", "CreateEntry", "CreateOrUpdateSpeaker",
        "CreateOrUpdateSpeaker", "UpdateEntrySpeakerByEntryId", "CreateDiarizationSegment",
        "CreateDiarizationSegment",
    ]  # fmt: skip
    create = only(plan, "CreateEntry")[0]
    assert create.args == (IdOf(SK), "s1_1.500", 2000, "hello there", 0.8, None, 1500, 3500)
    assert (create.kind, create.key) == ("insert", ek)
    seg0, seg1 = only(plan, "CreateDiarizationSegment")
    assert seg0.args == (IdOf(ek), 0, 1000, "speaker0", "s1/speaker0", None, "hello", None)
    assert seg1.args == (IdOf(ek), 1000, 2000, "speaker1", "s1/speaker1", 0.7, "there", None)
    assert seg1.key is not None and ("StartMs", 1000) in seg1.key.match
    assert only(plan, "UpdateEntrySpeakerByEntryId")[0].args == ("s1_1.500", "s1/speaker0")
    encodable(plan)


def test_utterance_as_our_frames_jsonl_writes_it() -> None:
    """Our frames.jsonl lines carry `duration` and `speakers` as shares: one segment."""
    record = {**utterance(2.0, "ok then"), "duration": 1.25, "speakers": {"speaker0": 0.8}}
    plan = plan_record(record, options=OPTS)
    (segment,) = only(plan, "CreateDiarizationSegment")
    assert segment.args[1:] == (0, 1250, "speaker0", "s1/speaker0", 0.8, "ok then", None)


def test_utterance_without_a_speaker_has_no_speaker_rows() -> None:
    plan = plan_record(utterance(1.0, "hm", speaker=None), options=OPTS)
    assert reducers(plan) == ["RegisterDevice", "StartSession", "CreateEntry"]
    create = only(plan, "CreateEntry")[0]
    assert create.args[2] == 0  # no end known: zero length


def test_register_speakers_off() -> None:
    opts = MappingOptions(register_speakers=False)
    plan = plan_record(utterance(1.0), options=opts)
    assert "CreateOrUpdateSpeaker" not in reducers(plan)
    assert only(plan, "CreateDiarizationSegment")[0].args[4] is None


def test_detections_become_a_frame_row() -> None:
    plan = plan_record(detections(2.0, "person", "laptop"), options=OPTS)
    (step,) = only(plan, "CreateFrame")
    session_arg, frame_type, image_path, dets, reviewed, notes = step.args
    assert (session_arg, frame_type, reviewed, notes) == (IdOf(SK), "webcam", False, None)
    assert image_path == "ambient-flow:frame/s1/s1_2.000"
    assert json.loads(str(dets)) == [
        {"class": "person", "bbox": [1.0, 2.0, 3.0, 4.0], "confidence": 0.9},
        {"class": "laptop", "bbox": [1.0, 2.0, 3.0, 4.0], "confidence": 0.9},
    ]
    saved = plan_record(
        detections(2.0, "cup"), {"image_path": "/data/f/1.jpg", "frame_type": "screen"},
        options=OPTS,
    )  # fmt: skip
    assert only(saved, "CreateFrame")[0].args[1:3] == ("screen", "/data/f/1.jpg")
    encodable(plan)


def test_speaker_change_only_ensures_the_speaker() -> None:
    plan = plan_record(frame("speaker_change", 3.0, speaker="speaker1"), options=OPTS)
    assert reducers(plan) == ["RegisterDevice", "StartSession", "CreateOrUpdateSpeaker"]
    assert plan.steps[-1].kind == "ensure"


def test_client_resolution_and_heartbeat() -> None:
    plan = plan_record(utterance(1.0), options=OPTS, client="desk", heartbeat=True)
    assert plan.device == "ambient-flow:desk"
    assert plan.steps[-1] == Step("DeviceHeartbeat", ("ambient-flow:desk",), "update")
    assert plan_record(utterance(1.0), options=OPTS).device == "ambient-flow:unknown"
    assert plan_record(utterance(1.0), {"client": "x"}, options=OPTS).device == "ambient-flow:x"


@pytest.mark.parametrize(
    ("change", "side"),
    [
        ({"session_id": ""}, None),
        ({"timestamp": math.nan}, None),
        ({"timestamp": -1.0}, None),
        ({"timestamp": 5e6}, None),  # beyond the module's uint milliseconds
        ({"event_type": "laugh"}, None),
        ({"created_at": "yesterday"}, None),
        ({"frame_id": None}, None),
        ({}, {"end": 0.5}),  # ends before it starts
        ({}, {"speakers": [{"start": 1, "end": 2}]}),  # a turn without a label
    ],
)
def test_invalid_records_are_refused(change: dict[str, Any], side: dict[str, Any] | None) -> None:
    with pytest.raises(InvalidRecord):
        plan_record({**utterance(1.0), **change}, side, options=OPTS)


def test_unserializable_detections_are_refused() -> None:
    record = detections(1.0, "person")
    record["visual_context"]["detections"][0]["confidence"] = math.nan
    with pytest.raises(InvalidRecord, match="not JSON"):
        plan_record(record, options=OPTS)


@pytest.mark.parametrize(
    "kw",
    [
        {"device_identity": "{host}"},
        {"audio_path": "/data/audio.wav"},
        {"image_path": "{session_id}"},
        {"speaker_name": "{session_id}"},
        {"platform": ""},
        {"audio_path": "{session_id"},
    ],
)
def test_mapping_options_are_validated(kw: dict[str, Any]) -> None:
    with pytest.raises(SpacetimeConfigError):
        MappingOptions(**kw)


_times = st.floats(min_value=0, max_value=86_400, allow_nan=False)


@given(
    start=_times,
    length=st.floats(min_value=0, max_value=600, allow_nan=False),
    turns=st.lists(
        st.tuples(st.sampled_from(["a", "b", "c"]), _times, _times, st.none() | st.floats(0, 1)),
        max_size=5,
    ),
    speaker=st.none() | st.sampled_from(["a", "b"]),
)
def test_any_utterance_plan_fits_the_module(
    start: float,
    length: float,
    turns: list[tuple[str, float, float, float | None]],
    speaker: str | None,
) -> None:
    side = {
        "end": start + length,
        "speakers": [
            {"label": label, "start": s, "end": e, "confidence": c} for label, s, e, c in turns
        ],
    }
    record = utterance(start, "x", speaker=speaker)
    plan = plan_record(record, side, options=OPTS)
    assert plan == plan_record(record, side, options=OPTS)  # deterministic
    encodable(plan)
    duration = only(plan, "CreateEntry")[0].args[2]
    assert isinstance(duration, int)
    keys = set()
    for step in only(plan, "CreateDiarizationSegment"):
        start_ms, end_ms = step.args[1], step.args[2]
        assert isinstance(start_ms, int) and isinstance(end_ms, int)
        assert 0 <= start_ms <= end_ms <= duration
        keys.add(step.key)
    assert len(keys) == len(only(plan, "CreateDiarizationSegment"))  # one key per segment
