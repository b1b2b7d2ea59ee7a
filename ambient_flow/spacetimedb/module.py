"""The wire contract: SpacetimeDB's HTTP API and the ambient-sub module's reducers and tables.

Protocol constants live here, with the versions they were read from (see
docs/spacetimedb.md): routes from `crates/client-api/src/routes/{database,identity,mod}.rs`,
SATS-JSON from `crates/sats/src/{de,ser}/serde.rs` (clockworklabs/SpacetimeDB), and the
module from `spacetime-module/Lib.cs` (fauxtrot/ambient-sub).

Encoding rules (SATS-JSON), as the server's deserializer reads reducer arguments:

- the arguments are one JSON array, in the reducer's parameter order;
- `uint` (u32) is a JSON integer in [0, 2**32); `float` (f32) a finite JSON number;
  `bool` a JSON boolean; `string` a JSON string; `byte[]` a hex string;
- a nullable C# parameter (`string?`, `float?`, `byte[]?`) is a SATS option, a sum type:
  `{"some": value}` or `{"none": []}`. Servers since the `OptionVisitor` change also take
  `null` for none, older ones do not; the tagged form is read by both, so it is what we send.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, TypeAlias

from ambient_flow.spacetimedb.errors import ArgumentError

__all__ = [
    "API_PREFIX",
    "BOOL",
    "BYTES",
    "F32",
    "MODULE_SOURCE",
    "REDUCERS",
    "SPACETIMEDB_SOURCE",
    "STRING",
    "TABLES",
    "U32",
    "JsonValue",
    "Opt",
    "Param",
    "SatsType",
    "encode_args",
    "encode_value",
    "select_sql",
    "sql_literal",
]

JsonValue: TypeAlias = "bool | int | float | str | list[JsonValue] | dict[str, JsonValue] | None"

#: Where the contract was read (see docs/spacetimedb.md for the files and commits).
SPACETIMEDB_SOURCE: Final = (
    "clockworklabs/SpacetimeDB@011bd4c7b7b649ae386282726d528fe6910866cb crates/client-api"
)
MODULE_SOURCE: Final = (
    "fauxtrot/ambient-sub@9b5a7ce69fc5da1afbc7afb6451d04303073f6ee spacetime-module/Lib.cs"
)

#: Every route of the HTTP API is nested under this prefix (`routes/mod.rs`).
API_PREFIX: Final = "/v1"
IDENTITY_ROUTE: Final = API_PREFIX + "/identity"
JSON_CONTENT_TYPE: Final = "application/json"  # the call route compares it exactly
SQL_CONTENT_TYPE: Final = "text/plain; charset=utf-8"  # the sql route reads the body as text

#: Status SpacetimeDB answers when a reducer threw (its transaction was rolled back).
REDUCER_FAILED_STATUS: Final = 530
#: The body of the 404 for an unknown database (`routes/database.rs`, NO_SUCH_DATABASE).
NO_SUCH_DATABASE_BODY: Final = "No such database."

U32_MAX: Final = 2**32 - 1
F32_MAX: Final = 3.4028234663852886e38


@dataclass(frozen=True)
class SatsType:
    """A SATS type this module's reducers use: `u32`, `f32`, `bool`, `string`, `bytes`."""

    name: str

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True)
class Opt:
    """A SATS option (`T?` in C#): the sum `some(T) | none`."""

    inner: SatsType

    def __str__(self) -> str:
        return f"Option<{self.inner}>"


U32: Final = SatsType("u32")
F32: Final = SatsType("f32")
BOOL: Final = SatsType("bool")
STRING: Final = SatsType("string")
BYTES: Final = SatsType("bytes")


@dataclass(frozen=True)
class Param:
    """One reducer parameter: its name in Lib.cs and its SATS type."""

    name: str
    type: SatsType | Opt


def _sig(*params: tuple[str, SatsType | Opt]) -> tuple[Param, ...]:
    return tuple(Param(name, ty) for name, ty in params)


#: The reducers this writer calls, by exported name (a C# reducer is exported under its
#: method name: the code generator registers `nameof(Method)`), with Lib.cs's parameters
#: after `ReducerContext`.
REDUCERS: Final[Mapping[str, tuple[Param, ...]]] = {
    "RegisterDevice": _sig(("deviceIdentity", STRING), ("name", STRING), ("platform", STRING)),
    "DeviceHeartbeat": _sig(("deviceIdentity", STRING)),
    "UpdateDeviceStatus": _sig(("deviceIdentity", STRING), ("status", STRING)),
    "StartSession": _sig(
        ("deviceId", U32), ("date", STRING), ("mode", STRING), ("audioPath", STRING)
    ),
    "UpdateSessionStatus": _sig(("sessionId", U32), ("status", STRING)),
    "UpdateSessionDuration": _sig(("sessionId", U32), ("durationMs", U32)),
    "CreateEntry": _sig(
        ("sessionId", U32),
        ("entryId", STRING),
        ("durationMs", U32),
        ("transcript", Opt(STRING)),
        ("confidence", Opt(F32)),
        ("audioClipPath", Opt(STRING)),
        ("recordingStartMs", U32),
        ("recordingEndMs", U32),
    ),
    "UpdateEntrySpeakerByEntryId": _sig(("entryId", STRING), ("speakerName", STRING)),
    "CreateOrUpdateSpeaker": _sig(("name", STRING), ("embedding", Opt(BYTES))),
    "CreateDiarizationSegment": _sig(
        ("entryId", U32),
        ("startMs", U32),
        ("endMs", U32),
        ("pyannoteLabel", STRING),
        ("matchedSpeaker", Opt(STRING)),
        ("confidence", Opt(F32)),
        ("transcriptSlice", Opt(STRING)),
        ("embedding", Opt(BYTES)),
    ),
    "CreateFrame": _sig(
        ("sessionId", U32),
        ("frameType", STRING),
        ("imagePath", STRING),
        ("detections", STRING),
        ("reviewed", BOOL),
        ("notes", Opt(STRING)),
    ),
}

#: Tables and the columns we query (`SELECT` by these; column names are the C# field
#: names, case-sensitive). Every table's primary key is `Id`, an auto-increment `uint`.
TABLES: Final[Mapping[str, tuple[str, ...]]] = {
    "capture_device": ("Id", "DeviceIdentity"),
    "audio_session": ("Id", "DeviceId", "AudioPath"),
    "transcript_entry": ("Id", "SessionId", "EntryId"),
    "speaker": ("Id", "Name"),
    "diarization_segment": ("Id", "EntryId", "StartMs", "EndMs", "PyannoteLabel"),
    "frame": ("Id", "SessionId", "ImagePath"),
}


def encode_value(ty: SatsType | Opt, value: Any, where: str = "value") -> JsonValue:
    """Encode one Python value as SATS-JSON of type `ty`; None is an option's `none`.

    Raises:
        ArgumentError: the value does not fit the type.
    """
    if isinstance(ty, Opt):
        if value is None:
            return {"none": []}
        return {"some": encode_value(ty.inner, value, where)}
    if value is None:
        raise ArgumentError(f"{where}: None for non-optional {ty}")
    if ty is U32:
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= U32_MAX:
            raise ArgumentError(f"{where}: {value!r} is not a u32")
        return value
    if ty is F32:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ArgumentError(f"{where}: {value!r} is not a number")
        number = float(value)
        if not math.isfinite(number) or abs(number) > F32_MAX:
            raise ArgumentError(f"{where}: {value!r} is not a finite f32")
        return number
    if ty is BOOL:
        if not isinstance(value, bool):
            raise ArgumentError(f"{where}: {value!r} is not a bool")
        return value
    if ty is STRING:
        if not isinstance(value, str):
            raise ArgumentError(f"{where}: {value!r} is not a string")
        return value
    if ty is BYTES:
        if not isinstance(value, bytes | bytearray):
            raise ArgumentError(f"{where}: {value!r} is not bytes")
        return bytes(value).hex()
    raise ArgumentError(f"{where}: unsupported type {ty}")


def encode_args(reducer: str, values: Sequence[Any]) -> list[JsonValue]:
    """The JSON array body for `POST /v1/database/{db}/call/{reducer}`.

    Raises:
        ArgumentError: unknown reducer, wrong arity, or a value of the wrong type.
    """
    params = REDUCERS.get(reducer)
    if params is None:
        raise ArgumentError(f"{reducer} is not a reducer of the ambient-sub module")
    if len(values) != len(params):
        raise ArgumentError(f"{reducer} takes {len(params)} arguments, got {len(values)}")
    return [
        encode_value(p.type, v, f"{reducer}.{p.name}") for p, v in zip(params, values, strict=True)
    ]


def sql_literal(value: str | int | bool) -> str:
    """A Spacetime SQL literal: `'text'` with `''` for a quote, an integer, true/false."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    return "'" + value.replace("'", "''") + "'"


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def select_sql(table: str, match: Sequence[tuple[str, str | int | bool]]) -> str:
    """`SELECT * FROM "table" WHERE "col" = literal AND ...` (quoted, case-sensitive names)."""
    where = " AND ".join(f"{_ident(col)} = {sql_literal(val)}" for col, val in match)
    query = f"SELECT * FROM {_ident(table)}"
    return f"{query} WHERE {where}" if where else query
