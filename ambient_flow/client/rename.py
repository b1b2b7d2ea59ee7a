"""Give a recorded client another name when a capture is played back (`send --capture
--name`): the `hello` names it, and every header that named it carries the new name.

Only well-formed messages are touched; anything that does not decode (a capture
records malformed messages too, on purpose) is sent exactly as recorded, so the host
rejects it as it did the first time.
"""

from __future__ import annotations

import json
from typing import Any

from ambient_flow.errors import ProtocolError
from ambient_flow.protocol.codec import encode_envelope, encode_header, parse_header, split_parts

__all__ = ["rename_parts"]


def _renamed_body(body: dict[str, Any], name: str, *, control: bool) -> dict[str, Any] | None:
    """The body with `client` = `name` when it named a client or is a hello; else None."""
    if "client" in body or (control and body.get("cmd") == "hello"):
        return {**body, "client": name}
    return None


def _control(raw: bytes, name: str) -> bytes | None:
    try:
        body = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return None
    if not isinstance(body, dict):
        return None
    renamed = _renamed_body(body, name, control=True)
    return None if renamed is None else encode_header(renamed)


def rename_parts(channel: str, parts: tuple[bytes, ...], name: str) -> tuple[bytes, ...]:
    """The message parts of one recorded message, its client renamed to `name`.

    Control requests: a `hello` gets `client: name` (a legacy hello named none, so its
    stream was named by its connection); any request with a `client` field gets the
    new one. Data messages and TCP records (envelopes, or two parts) get it in their
    header when the header had a `client` field; legacy data without one follows its
    connection's hello. The encoding is kept (envelope or two parts).
    """
    if channel == "control":
        if len(parts) != 1:
            return parts
        renamed = _control(parts[0], name)
        return parts if renamed is None else (renamed,)
    try:
        head, payload = split_parts(parts)
        header = parse_header(head)
    except ProtocolError:
        return parts
    renamed_header = _renamed_body(header, name, control=header.get("type") == "control")
    if renamed_header is None:
        return parts
    if len(parts) == 2:
        return (encode_header(renamed_header), payload)
    return (encode_envelope(renamed_header, payload),)
