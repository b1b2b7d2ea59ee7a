"""The control channel's request parser."""

from __future__ import annotations

import pytest

from ambient_flow.errors import ProtocolError
from ambient_flow.protocol import parse_control
from ambient_flow.protocol.control import COMMANDS, FLOW_COMMANDS, error_reply


@pytest.mark.parametrize("cmd", COMMANDS)
def test_every_known_command_parses(cmd: str) -> None:
    request = parse_control(f'{{"cmd":"{cmd}","client":"x"}}'.encode())
    assert request.command == cmd
    assert request.client == "x"


def test_commands_are_the_documented_set() -> None:
    assert set(COMMANDS) == {"hello", "heartbeat", "get_config", "stats", "bye"}
    assert set(FLOW_COMMANDS) <= set(COMMANDS)


def test_body_is_kept_whole() -> None:
    raw = b'{"cmd":"hello","client":"c","capabilities":["audio","video"],"extra":{"k":1}}'
    request = parse_control(raw)
    assert request.body["capabilities"] == ["audio", "video"]
    assert request.body["extra"] == {"k": 1}


@pytest.mark.parametrize("client", [None, "", 5, ["x"]])
def test_client_is_none_unless_a_nonempty_string(client: object) -> None:
    import json

    request = parse_control(json.dumps({"cmd": "bye", "client": client}).encode())
    assert request.client is None


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"", "not_json"),
        (b"hello", "not_json"),
        (b"\xc3\x28", "not_json"),
        (b"{" * 5000, "header_too_deep"),
        (b"[" * 30_000 + b"]" * 30_000, "header_too_deep"),
        (b'{"cmd":"hello","x":' + b"[" * 32 + b"]" * 32 + b"}", "header_too_deep"),
        (b'{"cmd":"hello","x":NaN}', "not_json"),
        (b'{"cmd":"hello","x":"' + b"a" * 70_000 + b'"}', "header_too_large"),
        (b"[]", "header_not_object"),
        (b"{}", "missing_field"),
        (b'{"cmd":5}', "missing_field"),
        (b'{"cmd":"reboot"}', "unknown_command"),
        (b'{"cmd":"HELLO"}', "unknown_command"),
    ],
)
def test_bad_requests(raw: bytes, reason: str) -> None:
    with pytest.raises(ProtocolError) as info:
        parse_control(raw)
    assert info.value.reason == reason


def test_error_reply_shape() -> None:
    assert error_reply("unknown command") == {"error": "unknown command"}
