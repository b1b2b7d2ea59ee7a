"""Raw message parts -> typed message: the first step of every flow, live or replayed."""

from __future__ import annotations

from typing import Any

from ambient_flow.errors import ProtocolError
from ambient_flow.protocol import constants as C
from ambient_flow.protocol.codec import (
    decode_tcp_record,
    message_type,
    parse_audio,
    parse_header,
    parse_video,
    split_parts,
)
from ambient_flow.protocol.control import parse_control
from ambient_flow.protocol.identity import sanitize_client_name
from ambient_flow.protocol.messages import ControlEvent, Parsed, RawMessage, Rejected

__all__ = ["header_client", "parse_raw"]


def header_client(header: dict[str, Any]) -> str | None:
    """The sanitized `client` a header names, or None (legacy clients send none)."""
    name = header.get("client")
    if isinstance(name, str) and name:
        return sanitize_client_name(name)
    return None


def parse_raw(
    raw: RawMessage,
    *,
    fallback_client: str,
    max_payload: int = C.MAX_MESSAGE_BYTES,
    max_audio_seconds: float = float("inf"),
    authenticated: bool = False,
) -> Parsed:
    """Parse one raw message; never raises for bad input, returns `Rejected` instead.

    `fallback_client` names the sender when the header has no `client` field
    (its connection identity, see `operators.identify`); `max_audio_seconds` bounds
    the audio of one message. With `authenticated` (`--auth token|curve`) the name is
    the one the source checked (`raw.user`), whatever the message says, and a message
    without one is rejected (`unauthenticated`).
    """
    header: dict[str, Any] = {}
    if authenticated:
        fallback_client = raw.user
    try:
        if authenticated and not raw.user:
            raise ProtocolError("unauthenticated", "no valid credential came with it")
        if raw.channel == "control":
            if len(raw.parts) != 1:
                raise ProtocolError("frame_count", f"control request has {len(raw.parts)} parts")
            request = parse_control(raw.parts[0])
            return _control_event(
                request.body, request.command, raw, fallback_client, authenticated
            )
        if raw.channel == "tcp":
            if len(raw.parts) != 1:
                raise ProtocolError("frame_count", f"TCP record has {len(raw.parts)} parts")
            head, payload = decode_tcp_record(raw.parts[0], max_payload)
        else:
            head, payload = split_parts(raw.parts)
        header = parse_header(head)
        if raw.channel == "tcp" and header.get("type") == "control":
            request = parse_control(head)
            return _control_event(
                request.body, request.command, raw, fallback_client, authenticated
            )
        kind = message_type(header)
        client = fallback_client if authenticated else header_client(header) or fallback_client
        if kind == "audio" and raw.channel in ("audio", "tcp"):
            return parse_audio(
                header,
                payload,
                client=client,
                received_ns=raw.received_ns,
                max_payload=max_payload,
                max_seconds=max_audio_seconds,
            )
        if kind == "video" and raw.channel in ("video", "tcp"):
            return parse_video(
                header, payload, client=client, received_ns=raw.received_ns, max_payload=max_payload
            )
        raise ProtocolError("unknown_type", f"{kind} message on the {raw.channel} port")
    except ProtocolError as exc:
        return Rejected(
            reason=exc.reason,
            detail=exc.detail,
            channel=raw.channel,
            peer=raw.peer,
            received_ns=raw.received_ns,
            size=raw.size,
            client=fallback_client if authenticated else header_client(header) or fallback_client,
        )


def _control_event(
    body: dict[str, Any], command: str, raw: RawMessage, fallback_client: str, authenticated: bool
) -> ControlEvent:
    return ControlEvent(
        client=fallback_client if authenticated else header_client(body) or fallback_client,
        command=command,
        body=body,
        received_ns=raw.received_ns,
        channel=raw.channel,
    )
