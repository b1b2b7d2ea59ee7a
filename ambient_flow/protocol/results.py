"""Results back to the client: what a `hello` asks for, and what comes back. Pure.

A client that wants its own enrichments says so in its `hello` with `"results": true`
(and names itself with `client`). The reply's `results` object says how they come:

- on the raw-TCP connection that said hello: `{"transport": "tcp", "client": NAME}`;
  each enrichment of NAME then arrives on that connection as an envelope with an empty
  payload and the header `{"type": "frame", "frame": {...}, "detail": {...}}` (the PUB
  stream's record, tagged) — between control replies, which keep `"type": "control"`;
- over ZeroMQ: `{"transport": "pub", "port": PUB_PORT, "topic": NAME}`: subscribe a SUB
  socket to that topic on the PUB port; messages are `[topic][envelope]` with the same
  record as header (no `type`). ZeroMQ matches topics by prefix: compare the topic
  part with NAME exactly. With `--auth token` the offer adds `"auth": "plain"` (the PUB
  port takes ZeroMQ PLAIN: user name NAME, password the client's token), with `--auth
  curve` `"auth": "curve"` (the client's CURVE keys);
- or `{"error": "..."}` when the host cannot send any (enrichment off, no PUB port, no
  client name).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Final, Literal

from ambient_flow.protocol.codec import encode_envelope
from ambient_flow.protocol.identity import sanitize_client_name

__all__ = [
    "RESULTS_FIELD",
    "RESULT_TYPE",
    "encode_result",
    "results_name",
    "results_reply",
    "wants_results",
]

#: The `hello` field that asks for results.
RESULTS_FIELD: Final = "results"
#: The `type` of a result envelope on a TCP connection.
RESULT_TYPE: Final = "frame"


def wants_results(body: Mapping[str, Any]) -> bool:
    """Does this control request (a `hello`) ask for the client's results?"""
    return body.get("cmd") == "hello" and body.get(RESULTS_FIELD) is True


def results_name(body: Mapping[str, Any]) -> str | None:
    """The name results go to: the hello's `client`, sanitized as the flow names it."""
    name = body.get("client")
    return sanitize_client_name(name) if isinstance(name, str) and name else None


def results_reply(
    body: Mapping[str, Any],
    *,
    transport: Literal["tcp", "zmq"],
    enrich: bool,
    pub_port: int,
    auth: str = "off",
) -> dict[str, Any]:
    """The `results` object of the hello reply (call only when `wants_results(body)`)."""
    name = results_name(body)
    if name is None:
        return {"error": "name the client (`client`) in the hello to receive its results"}
    if not enrich:
        return {"error": "this host runs no enrichment (--no-enrich): there are no results"}
    if transport == "tcp":
        return {"transport": "tcp", "client": name}
    if not pub_port:
        return {"error": "this host publishes no results (--pub-port 0); use raw TCP"}
    offer: dict[str, Any] = {"transport": "pub", "port": pub_port, "topic": name}
    if auth != "off":  # the PUB port takes only authenticated subscribers (docs/security.md)
        offer["auth"] = "plain" if auth == "token" else auth
    return offer


def encode_result(record: Mapping[str, Any]) -> bytes:
    """One result as a TCP envelope: `{"type": "frame", **record}`, empty payload."""
    header = json.dumps({"type": RESULT_TYPE, **record}, ensure_ascii=False).encode("utf-8")
    return encode_envelope(header, b"")
