"""Bounded JSON: nesting measured without recursion, brackets in strings not counted."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ambient_flow.errors import ProtocolError
from ambient_flow.protocol.constants import MAX_JSON_DEPTH
from ambient_flow.protocol.jsontext import json_depth, loads_bounded

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(alphabet='[]{}"\\ab'),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3)
    ),
    max_leaves=30,
)


def depth_of(value: object) -> int:
    if isinstance(value, list):
        return 1 + max((depth_of(v) for v in value), default=0)
    if isinstance(value, dict):
        return 1 + max((depth_of(v) for v in value.values()), default=0)
    return 0


@given(JSON)
def test_depth_is_the_nesting_of_the_parsed_value(value: object) -> None:
    assert json_depth(json.dumps(value).encode()) == depth_of(value)


def test_brackets_inside_strings_do_not_nest() -> None:
    raw = json.dumps({"cmd": "hello", "x": "[" * 100 + '\\"{' * 50}).encode()
    assert json_depth(raw) == 1
    assert loads_bounded(raw, "request")["cmd"] == "hello"


@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH, MAX_JSON_DEPTH + 1])
def test_the_limit_is_inclusive(depth: int) -> None:
    raw = b"[" * depth + b"]" * depth
    if depth <= MAX_JSON_DEPTH:
        assert depth_of(loads_bounded(raw, "header")) == depth
    else:
        with pytest.raises(ProtocolError, match="header_too_deep"):
            loads_bounded(raw, "header")


def _as_json_loads_says(raw: bytes) -> str:
    """The reject detail of the plain `json.loads` route (what the host always wrote)."""

    def refuse(name: str) -> None:
        raise ValueError(f"{name} is not JSON")

    try:
        json.loads(raw.decode("utf-8"), parse_constant=refuse)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        return f"header is not UTF-8 JSON ({exc})"
    raise AssertionError(f"{raw!r} parsed")


@given(
    st.sampled_from(
        [b"\xef\xbb\xbf{}", b"{", b"", b"NaN", b'{"a": -Infinity}', b"\xff{}", b"{} x", b"[1,]"]
    )
    | st.binary(max_size=20)
)
def test_loads_refuses_what_json_loads_refuses_in_the_same_words(raw: bytes) -> None:
    """One decoder made once (not one per header): same values, same reject details."""
    try:
        expected: object = json.loads(raw.decode("utf-8"), parse_constant=_refuse)
    except (UnicodeDecodeError, ValueError, RecursionError):
        with pytest.raises(ProtocolError) as info:
            loads_bounded(raw, "header")
        assert info.value.reason == "not_json"
        assert info.value.detail == _as_json_loads_says(raw)
        return
    assert loads_bounded(raw, "header") == expected


def _refuse(name: str) -> None:
    raise ValueError(f"{name} is not JSON")
