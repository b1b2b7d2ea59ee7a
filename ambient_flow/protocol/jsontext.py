"""JSON from the wire, bounded: size and nesting are checked before the parser runs.

Python's `json` recurses once per nesting level, so `[[[[...` a few thousand deep costs
the interpreter its stack (a `RecursionError`, or worse inside a native worker thread).
Headers are flat objects; nesting is measured here without recursion and refused
above `MAX_JSON_DEPTH`.
"""

from __future__ import annotations

import json
import re
from typing import Any

import numpy as np

from ambient_flow.errors import ProtocolError
from ambient_flow.protocol import constants as C

__all__ = ["json_depth", "loads_bounded", "wire_text"]

#: A JSON string literal (escapes included): brackets inside strings do not nest.
_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_OPEN = (ord("["), ord("{"))
_CLOSE = (ord("]"), ord("}"))


def json_depth(raw: bytes) -> int:
    """Deepest nesting of arrays and objects in `raw` (0 for a scalar), without parsing.

    Unbalanced input gets a best-effort figure; the parser rejects it anyway.
    """
    if raw.count(b"[") + raw.count(b"{") == 0:
        return 0
    text = np.frombuffer(_STRING.sub(b'""', raw), dtype=np.uint8)
    step = np.isin(text, _OPEN).astype(np.int32) - np.isin(text, _CLOSE).astype(np.int32)
    return int(np.cumsum(step).max(initial=0))


def loads_bounded(raw: bytes, what: str, *, max_bytes: int = C.MAX_HEADER_BYTES) -> Any:
    """`json.loads` of UTF-8 `raw` after the size and depth checks (`ProtocolError` otherwise).

    Reasons: `header_too_large`, `header_too_deep`, `not_json`. NaN and Infinity, which
    Python's parser would accept, are not JSON and are refused as `not_json`.
    """
    if len(raw) > max_bytes:
        raise ProtocolError("header_too_large", f"{what} is {len(raw)} bytes > {max_bytes}")
    # Cheap first: a header with fewer brackets than the limit cannot be too deep.
    if raw.count(b"[") + raw.count(b"{") > C.MAX_JSON_DEPTH:
        depth = json_depth(raw)
        if depth > C.MAX_JSON_DEPTH:
            raise ProtocolError(
                "header_too_deep", f"{what} nests {depth} levels > {C.MAX_JSON_DEPTH}"
            )
    try:
        text = raw.decode("utf-8")
        if text.startswith("\ufeff"):  # what json.loads says of it, word for word
            raise json.JSONDecodeError("Unexpected UTF-8 BOM (decode using utf-8-sig)", text, 0)
        return _DECODER.decode(text)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise ProtocolError("not_json", f"{what} is not UTF-8 JSON ({exc})") from exc


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


#: What `json.loads(text, parse_constant=_refuse_constant)` builds on every call (a
#: decoder and its scanner: half the cost of a header) made once; it keeps no state
#: between calls.
_DECODER = json.JSONDecoder(parse_constant=_refuse_constant)


def wire_text(value: object, max_chars: int = C.MAX_TEXT_FIELD) -> str | None:
    """`value` if it is a string the host can pass on and write: at most `max_chars`
    characters and real Unicode (JSON's `\\ud800` escapes decode to lone surrogates,
    which no UTF-8 file can hold). None otherwise."""
    if not isinstance(value, str) or len(value) > max_chars:
        return None
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return None
    return value
