"""The wire contract: SATS-JSON encoding and SQL building (pure)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ambient_flow.spacetimedb.errors import ArgumentError
from ambient_flow.spacetimedb.module import (
    BYTES,
    F32,
    REDUCERS,
    STRING,
    U32,
    Opt,
    encode_args,
    encode_value,
    select_sql,
    sql_literal,
)

from .fake_server import SIGNATURES

_NAMES = {"u32": "u32", "f32": "f32", "bool": "bool", "string": "string", "bytes": "bytes"}


def _fake_type(ty: object) -> str:
    if isinstance(ty, Opt):
        return _NAMES[ty.inner.name] + "?"
    return _NAMES[str(ty)]


def test_package_signatures_match_the_fakes_transcription_of_lib_cs() -> None:
    """Two independent transcriptions of Lib.cs must agree on every reducer we call."""
    for reducer, params in REDUCERS.items():
        assert reducer in SIGNATURES, reducer
        assert [(p.name, _fake_type(p.type)) for p in params] == list(SIGNATURES[reducer])


def test_options_are_tagged_sums_never_null() -> None:
    assert encode_value(Opt(STRING), None) == {"none": []}
    assert encode_value(Opt(STRING), "x") == {"some": "x"}
    assert encode_value(Opt(F32), 1) == {"some": 1.0}
    assert encode_value(Opt(BYTES), b"\x01\xff") == {"some": "01ff"}


@pytest.mark.parametrize(
    ("ty", "value"),
    [
        (U32, -1),
        (U32, 2**32),
        (U32, 1.0),
        (U32, True),
        (U32, "1"),
        (F32, math.nan),
        (F32, math.inf),
        (F32, 1e39),
        (F32, False),
        (STRING, 3),
        (STRING, None),
        (BYTES, "00"),
    ],
)
def test_values_that_do_not_fit_are_refused_before_sending(ty: object, value: object) -> None:
    with pytest.raises(ArgumentError):
        encode_value(ty, value)  # type: ignore[arg-type]


def test_encode_args_checks_arity_and_reducer() -> None:
    assert encode_args("UpdateSessionStatus", [3, "completed"]) == [3, "completed"]
    with pytest.raises(ArgumentError, match="takes 2 arguments"):
        encode_args("UpdateSessionStatus", [3])
    with pytest.raises(ArgumentError, match="not a reducer"):
        encode_args("DropAllTables", [])


def test_create_entry_encodes_in_lib_cs_order() -> None:
    args = encode_args("CreateEntry", [7, "s1_1.500", 2000, "hi", 0.5, None, 1500, 3500])
    assert args == [7, "s1_1.500", 2000, {"some": "hi"}, {"some": 0.5}, {"none": []}, 1500, 3500]


@given(st.text())
def test_sql_string_literals_round_trip_quotes(text: str) -> None:
    literal = sql_literal(text)
    assert literal.startswith("'") and literal.endswith("'")
    assert literal[1:-1].replace("''", "'") == text
    assert "'" not in literal[1:-1].replace("''", "")


def test_select_sql_quotes_identifiers() -> None:
    query = select_sql("transcript_entry", [("EntryId", "it's"), ("SessionId", 3)])
    assert query == (
        'SELECT * FROM "transcript_entry" WHERE "EntryId" = \'it\'\'s\' AND "SessionId" = 3'
    )
    assert sql_literal(True) == "true"
