"""From plain dict records to the ambient-sub module's reducer calls. Pure: no I/O, no clock.

A record becomes a `Plan`: the ordered `Step`s (reducer calls) that put it in the
database. The module assigns every row an auto-increment `uint Id` and its reducers
return nothing, so each row a step creates is named by a `Key` — a natural key we
choose and write into the row (`DeviceIdentity`, `AudioPath`, `EntryId`, ...). The
writer uses a key twice: to ask `/sql` whether the row already exists (an `ensure` step
is skipped if so; an `insert` whose last attempt may have committed is checked before it
is sent again), and to read back the `Id` a later step needs (`IdOf`).

Inputs (see docs/spacetimedb.md for the full table):

- session events: `{"event": "session_start" | "session_end", "session_id", "client",
  "at": ISO time, ...}` (optional: `platform`, `mode` — the session's recording mode,
  `duration_s` at the end);
- frames, upstream-shaped: `timestamp, sample_position, speaker_prediction,
  visual_context, text_hypothesis, confidence, weight, frame_id, session_id, event_type,
  created_at, enriched_at`; with an optional side record of ours: `words` (timed on the
  stream clock, `sample_position` / 16000), `end`, `speakers` (on the session's, as
  `timestamp`), `client` (and `image_path`, `frame_type` when frames are saved).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from string import Formatter
from typing import Any, Final

from ambient_flow.protocol.constants import AUDIO_SAMPLE_RATE
from ambient_flow.spacetimedb.errors import InvalidRecord, SpacetimeConfigError
from ambient_flow.spacetimedb.module import U32_MAX
from ambient_flow.spacetimedb.plan import IdOf, Key, Plan, Step, StepKind

__all__ = [
    "EVENT_TYPES",
    "IdOf",
    "Key",
    "MappingOptions",
    "Plan",
    "Step",
    "StepKind",
    "device_key",
    "entry_key",
    "plan_record",
    "record_kind",
    "session_key",
]

SESSION_EVENTS: Final = ("session_start", "session_end")
EVENT_TYPES: Final = ("utterance", "speaker_change", "speaker_relabel", "detections")

#: Each template option and the placeholders it may use.
_TEMPLATES: Final = (
    ("device_identity", frozenset({"client"})),
    ("audio_path", frozenset({"session_id"})),
    ("image_path", frozenset({"session_id", "frame_id"})),
    ("speaker_name", frozenset({"session_id", "label"})),
)


def _placeholders(template: str) -> set[str]:
    return {name for _, name, _, _ in Formatter().parse(template) if name is not None}


@dataclass(frozen=True)
class MappingOptions:
    """How our ids become the module's natural keys, and module-side defaults.

    Attributes:
        device_identity: `capture_device.DeviceIdentity` (unique) for a client: `{client}`.
        platform: `capture_device.Platform` for devices we register.
        mode: `audio_session.Mode` for sessions we start ("ambient", "meeting", ...).
        audio_path: `audio_session.AudioPath`, the session's key: `{session_id}`. Point it
            at the recording (e.g. `/data/sessions/{session_id}/audio.wav`) if you like;
            it must stay unique per session.
        image_path: `frame.ImagePath` when the frame image was not saved (the key of the
            frame row): `{session_id}`, `{frame_id}`.
        frame_type: `frame.FrameType` ("webcam" or "screen").
        speaker_name: Name of a diarized speaker (our labels are per session):
            `{session_id}`, `{label}`.
        register_speakers: Create a `speaker` row per speaker name (upstream's capture does
            the same for unmatched speakers) and name it in `MatchedSpeaker`.
        default_client: Client name when a record names none and no session_start did.
    """

    device_identity: str = "ambient-flow:{client}"
    platform: str = "ambient-flow"
    mode: str = "ambient"
    audio_path: str = "ambient-flow:session/{session_id}"
    image_path: str = "ambient-flow:frame/{session_id}/{frame_id}"
    frame_type: str = "webcam"
    speaker_name: str = "{session_id}/{label}"
    register_speakers: bool = True
    default_client: str = "unknown"

    def __post_init__(self) -> None:
        for name, allowed in _TEMPLATES:
            template = getattr(self, name)
            try:
                used = _placeholders(template)
            except ValueError as exc:
                raise SpacetimeConfigError(f"{name}: bad template {template!r}: {exc}") from exc
            if not used <= allowed:
                raise SpacetimeConfigError(
                    f"{name}: unknown placeholders {sorted(used - allowed)} in {template!r}"
                )
        for name in ("audio_path", "image_path"):
            if "{session_id}" not in getattr(self, name):
                raise SpacetimeConfigError(f"{name} must contain {{session_id}} to be unique")
        if "{frame_id}" not in self.image_path:
            raise SpacetimeConfigError("image_path must contain {frame_id} to be unique")
        if "{label}" not in self.speaker_name:
            raise SpacetimeConfigError("speaker_name must contain {label}")
        for name in ("platform", "mode", "frame_type", "default_client"):
            if not getattr(self, name):
                raise SpacetimeConfigError(f"{name} must not be empty")


# -- keys --------------------------------------------------------------------------------
def device_key(device_identity: str) -> Key:
    """`capture_device` by its unique `DeviceIdentity`."""
    return Key("capture_device", (("DeviceIdentity", device_identity),))


def session_key(audio_path: str) -> Key:
    """`audio_session` by the `AudioPath` we wrote (derived from our session id)."""
    return Key("audio_session", (("AudioPath", audio_path),))


def entry_key(entry_id: str) -> Key:
    """`transcript_entry` by its `EntryId` string (our frame id)."""
    return Key("transcript_entry", (("EntryId", entry_id),))


def _speaker_key(name: str) -> Key:
    return Key("speaker", (("Name", name),))


def _segment_key(entry: Key, start_ms: int, end_ms: int, label: str) -> Key:
    return Key(
        "diarization_segment",
        (("EntryId", IdOf(entry)), ("StartMs", start_ms), ("EndMs", end_ms),
         ("PyannoteLabel", label)),
    )  # fmt: skip


def _frame_key(session: Key, image_path: str) -> Key:
    return Key("frame", (("SessionId", IdOf(session)), ("ImagePath", image_path)))


# -- field readers -----------------------------------------------------------------------
def _str(record: Mapping[str, Any], key: str) -> str:
    value = record.get(key)
    if not isinstance(value, str) or not value:
        raise InvalidRecord(f"{key} must be a non-empty string, got {value!r}")
    return value


def _opt_str(value: Any) -> str | None:
    return value if isinstance(value, str) and value.strip() else None


def _number(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InvalidRecord(f"{what} must be a finite number, got {value!r}")
    return float(value)


def _opt_number(value: Any) -> float | None:
    ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    return float(value) if ok else None


def _ms(seconds: float, what: str) -> int:
    ms = round(seconds * 1000.0)
    if not 0 <= ms <= U32_MAX:
        raise InvalidRecord(f"{what} = {seconds!r} s does not fit the module's uint ms")
    return ms


def _when(value: Any, what: str) -> datetime:
    if not isinstance(value, str):
        raise InvalidRecord(f"{what} must be an ISO 8601 time, got {value!r}")
    try:
        return datetime.fromisoformat(value)
    except ValueError as exc:
        raise InvalidRecord(f"{what} is not an ISO 8601 time: {value!r}") from exc


def record_kind(record: Mapping[str, Any]) -> str:
    """`session_start`, `session_end`, an `event_type`, or `unknown` (cheap; for counters)."""
    event = record.get("event")
    if event in SESSION_EVENTS:
        return str(event)
    event_type = record.get("event_type")
    return str(event_type) if event_type in EVENT_TYPES else "unknown"


# -- plans -------------------------------------------------------------------------------
def _ensure_session(
    options: MappingOptions,
    session_id: str,
    client: str,
    date: str,
    platform: str,
    mode: str | None = None,
) -> tuple[str, Key, tuple[Step, ...]]:
    device = options.device_identity.format(client=client)
    audio_path = options.audio_path.format(session_id=session_id)
    dk, sk = device_key(device), session_key(audio_path)
    steps = (
        Step("RegisterDevice", (device, client, platform), "ensure", dk),
        Step("StartSession", (IdOf(dk), date, mode or options.mode, audio_path), "ensure", sk),
    )
    return device, sk, steps


def plan_record(
    record: Mapping[str, Any],
    side: Mapping[str, Any] | None = None,
    *,
    options: MappingOptions,
    client: str | None = None,
    started_at: str | None = None,
    heartbeat: bool = False,
) -> Plan:
    """The steps that put `record` in the database.

    Args:
        record: A session event or an upstream-shaped frame.
        side: Our side record for a frame (`words`, `end`, `speakers`, `client`, ...).
        options: Key templates and module-side defaults.
        client: The client, when the caller knows it better than the record does
            (frames do not carry one; the writer remembers it from `session_start`).
        started_at: The session's start time (ISO), for a `session_end` without duration.
        heartbeat: Append `DeviceHeartbeat` for the record's device.

    Raises:
        InvalidRecord: the record lacks a field or has one the module cannot store.
    """
    side = side or {}
    kind = record_kind(record)
    if kind == "unknown":
        raise InvalidRecord(
            f"neither a session event {SESSION_EVENTS} nor a frame of {EVENT_TYPES}: "
            f"event={record.get('event')!r} event_type={record.get('event_type')!r}"
        )
    session_id = _str(record, "session_id")
    who = client or _opt_str(side.get("client")) or _opt_str(record.get("client"))
    who = who or options.default_client
    if kind in SESSION_EVENTS:
        device, steps = _session_steps(kind, record, options, session_id, who, started_at)
    else:
        device, steps = _frame_steps(kind, record, side, options, session_id, who)
    if heartbeat:
        steps = (*steps, Step("DeviceHeartbeat", (device,), "update"))
    return Plan(kind, session_id, device, steps)


def _session_steps(
    kind: str,
    event: Mapping[str, Any],
    options: MappingOptions,
    session_id: str,
    client: str,
    started_at: str | None,
) -> tuple[str, tuple[Step, ...]]:
    at = _when(event.get("at"), "at")
    platform = _opt_str(event.get("platform")) or options.platform
    start_iso = started_at or _opt_str(event.get("started_at"))
    start = _when(start_iso, "started_at") if start_iso else None
    date = (start or at).date().isoformat() if kind == "session_end" else at.date().isoformat()
    mode = _opt_str(event.get("mode"))
    device, sk, steps = _ensure_session(options, session_id, client, date, platform, mode)
    if kind == "session_start":
        return device, (
            *steps,
            Step("UpdateDeviceStatus", (device, "recording"), "update"),
        )
    duration = _opt_number(event.get("duration_s"))
    if duration is None and start is not None:
        try:
            duration = max(0.0, (at - start).total_seconds())
        except TypeError as exc:  # one time has an offset, the other not
            raise InvalidRecord(f"at {at} and started_at {start} are not comparable") from exc
    tail: list[Step] = []
    if duration is not None:
        tail.append(Step("UpdateSessionDuration", (IdOf(sk), _ms(duration, "duration")), "update"))
    tail.append(Step("UpdateSessionStatus", (IdOf(sk), "completed"), "update"))
    tail.append(Step("UpdateDeviceStatus", (device, "online"), "update"))
    return device, (*steps, *tail)


def _frame_steps(
    kind: str,
    frame: Mapping[str, Any],
    side: Mapping[str, Any],
    options: MappingOptions,
    session_id: str,
    client: str,
) -> tuple[str, tuple[Step, ...]]:
    frame_id = _str(frame, "frame_id")
    start = _number(frame.get("timestamp"), "timestamp")
    if start < 0:
        raise InvalidRecord(f"timestamp must be >= 0, got {start}")
    date = _when(frame.get("created_at"), "created_at").date().isoformat()
    device, sk, steps = _ensure_session(options, session_id, client, date, options.platform)
    label = _opt_str(frame.get("speaker_prediction"))
    if kind == "utterance":
        steps += _utterance_steps(frame, side, options, session_id, frame_id, sk, start, label)
    elif kind in ("speaker_change", "speaker_relabel"):
        # a relabel names a speaker too; the entries already written keep their speaker
        # (frames.jsonl has the correction, docs/frames.md)
        if label is not None and options.register_speakers:
            name = options.speaker_name.format(session_id=session_id, label=label)
            steps += (Step("CreateOrUpdateSpeaker", (name, None), "ensure", _speaker_key(name)),)
    else:
        steps += (_frame_step(frame, side, options, session_id, frame_id, sk),)
    return device, steps


@dataclass(frozen=True)
class _Turn:
    label: str
    start: float
    end: float
    confidence: float | None


def _turns(speakers: Any, label: str | None, start: float, end: float) -> list[_Turn]:
    """Speaker turns within [start, end]: from a list of turns, else one for `label`."""
    turns: list[_Turn] = []
    if isinstance(speakers, Sequence) and not isinstance(speakers, str):
        for i, turn in enumerate(speakers):
            if not isinstance(turn, Mapping):
                raise InvalidRecord(f"speakers[{i}] must be an object, got {turn!r}")
            who = _opt_str(turn.get("label")) or _opt_str(turn.get("speaker"))
            if who is None:
                raise InvalidRecord(f"speakers[{i}] has no label")
            s = max(start, _number(turn.get("start"), f"speakers[{i}].start"))
            e = min(end, _number(turn.get("end"), f"speakers[{i}].end"))
            if e > s:
                turns.append(_Turn(who, s, e, _opt_number(turn.get("confidence"))))
    if turns or label is None:
        return turns
    share = speakers.get(label) if isinstance(speakers, Mapping) else None
    return [_Turn(label, start, end, _opt_number(share))]


def _slice(words: Any, turn: _Turn, offset: float = 0.0) -> str | None:
    """The words whose middle lies in `turn`; word times are on the stream clock, turn
    times on the session's (`offset`: the session's first sample, in seconds)."""
    if not isinstance(words, Sequence) or isinstance(words, str):
        return None
    picked = []
    for word in words:
        if not isinstance(word, Mapping):
            continue
        text = word.get("word", word.get("text"))
        s, e = _opt_number(word.get("start")), _opt_number(word.get("end"))
        if not isinstance(text, str) or s is None or e is None:
            continue
        if turn.start <= (s + e) / 2 - offset < turn.end:
            picked.append(text.strip())
    joined = " ".join(w for w in picked if w)
    return joined or None


def _utterance_steps(
    frame: Mapping[str, Any],
    side: Mapping[str, Any],
    options: MappingOptions,
    session_id: str,
    frame_id: str,
    sk: Key,
    start: float,
    label: str | None,
) -> tuple[Step, ...]:
    if side.get("end") is not None:
        end = _number(side["end"], "side.end")
    elif frame.get("duration") is not None:
        end = start + _number(frame["duration"], "duration")
    else:
        end = start
    if end < start:
        raise InvalidRecord(f"end {end} is before timestamp {start}")
    start_ms, end_ms = _ms(start, "timestamp"), _ms(end, "end")
    text = _opt_str(frame.get("text_hypothesis"))
    ek = entry_key(frame_id)
    steps: list[Step] = [
        Step(
            "CreateEntry",
            (
                IdOf(sk),
                frame_id,
                end_ms - start_ms,
                text,
                _opt_number(frame.get("confidence")),
                None,
                start_ms,
                end_ms,
            ),
            "insert",
            ek,
        )
    ]
    speakers = side["speakers"] if side.get("speakers") is not None else frame.get("speakers")
    turns = _turns(speakers, label, start, end)

    def name(who: str) -> str:
        return options.speaker_name.format(session_id=session_id, label=who)

    if options.register_speakers:
        for who in dict.fromkeys([*([label] if label else []), *(t.label for t in turns)]):
            steps.append(
                Step(
                    "CreateOrUpdateSpeaker",
                    (name(who), None),
                    "ensure",
                    _speaker_key(name(who)),
                )
            )
    if label is not None:
        steps.append(Step("UpdateEntrySpeakerByEntryId", (frame_id, name(label)), "update"))
    words = side.get("words")
    seen: set[tuple[int, int, str]] = set()
    for turn in turns:
        s_ms = min(end_ms, _ms(turn.start, "turn start")) - start_ms
        e_ms = min(end_ms, _ms(turn.end, "turn end")) - start_ms
        if (s_ms, e_ms, turn.label) in seen:
            continue  # the same turn twice (at ms resolution) is one segment, one key
        seen.add((s_ms, e_ms, turn.label))
        position = _opt_number(frame.get("sample_position"))
        offset = position / AUDIO_SAMPLE_RATE - start if position is not None else 0.0
        text_slice = _slice(words, turn, offset)
        if text_slice is None and len(turns) == 1 and words is None:
            text_slice = text
        steps.append(
            Step(
                "CreateDiarizationSegment",
                (
                    IdOf(ek),
                    s_ms,
                    e_ms,
                    turn.label,
                    name(turn.label) if options.register_speakers else None,
                    turn.confidence,
                    text_slice,
                    None,
                ),
                "insert",
                _segment_key(ek, s_ms, e_ms, turn.label),
            )
        )
    return tuple(steps)


def _frame_step(
    frame: Mapping[str, Any],
    side: Mapping[str, Any],
    options: MappingOptions,
    session_id: str,
    frame_id: str,
    sk: Key,
) -> Step:
    visual = frame.get("visual_context")
    if visual is not None and not isinstance(visual, Mapping):
        raise InvalidRecord(f"visual_context must be an object or null, got {visual!r}")
    detections = (visual or {}).get("detections") or []
    if not isinstance(detections, list):
        raise InvalidRecord(f"visual_context.detections must be a list, got {detections!r}")
    try:  # upstream stores the list as a JSON string: [{"class", "bbox", "confidence"}]
        detections_json = json.dumps(detections, ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise InvalidRecord(f"detections are not JSON: {exc}") from exc
    image_path = (
        _opt_str(side.get("image_path"))
        or _opt_str((visual or {}).get("image_path"))
        or options.image_path.format(session_id=session_id, frame_id=frame_id)
    )
    frame_type = _opt_str(side.get("frame_type")) or options.frame_type
    return Step(
        "CreateFrame",
        (IdOf(sk), frame_type, image_path, detections_json, False, None),
        "insert",
        _frame_key(sk, image_path),
    )
