"""The control channel: plain JSON requests and replies (REP :5557 or TCP records)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from ambient_flow.errors import ProtocolError
from ambient_flow.protocol.jsontext import loads_bounded

__all__ = ["COMMANDS", "ControlRequest", "error_reply", "parse_control"]

#: Commands the server answers. `hello`, `heartbeat` and `bye` also flow into the dataflow.
COMMANDS: Final = ("hello", "heartbeat", "get_config", "stats", "bye")
#: Commands that change per-client state and are therefore forwarded to the flow.
FLOW_COMMANDS: Final = ("hello", "heartbeat", "bye")


@dataclass(frozen=True, slots=True)
class ControlRequest:
    command: str
    body: dict[str, Any]

    @property
    def client(self) -> str | None:
        name = self.body.get("client")
        return name if isinstance(name, str) and name else None


def parse_control(raw: bytes) -> ControlRequest:
    """Parse one request; `cmd` must be a known command. At most 64 KiB, 32 levels deep."""
    body = loads_bounded(raw, "request")
    if not isinstance(body, dict):
        raise ProtocolError("header_not_object", f"request is a JSON {type(body).__name__}")
    cmd = body.get("cmd")
    if not isinstance(cmd, str):
        raise ProtocolError("missing_field", "request has no string 'cmd'")
    if cmd not in COMMANDS:
        raise ProtocolError(
            "unknown_command", f"unknown command {cmd!r:.40}; known: {list(COMMANDS)}"
        )
    return ControlRequest(cmd, body)


def error_reply(message: str) -> dict[str, Any]:
    return {"error": message}
