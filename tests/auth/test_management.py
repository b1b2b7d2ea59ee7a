"""`ambient-flow auth`, revocation while running, the Python sender in each mode, and
the warning a host without authentication gives when it listens beyond loopback."""

from __future__ import annotations

import json
import logging
import stat
import time
from pathlib import Path

import pytest

from ambient_flow.auth import CredentialStore, IssuedCredential
from ambient_flow.cli.main import main
from ambient_flow.client.media import ToneOptions
from ambient_flow.client.sender import Sender, SenderOptions
from ambient_flow.config import Settings
from ambient_flow.errors import ConfigError
from ambient_flow.graph.live import is_loopback, warn_if_open
from ambient_flow.runtime import HostRuntime
from ambient_flow.testing import LiveHost

Creds = dict[str, IssuedCredential]


def test_init_add_list_revoke(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    d = str(tmp_path / "auth")
    assert main(["auth", "--dir", d, "init"]) == 0
    assert main(["auth", "--dir", d, "add", "kitchen"]) == 0
    assert main(["auth", "--dir", d, "add", "ops", "--admin"]) == 0
    assert main(["auth", "--dir", d, "list"]) == 0
    out = capsys.readouterr().out
    assert "kitchen" in out and "admin" in out
    issued = tmp_path / "auth" / "issued" / "kitchen.json"
    cred = IssuedCredential.load(issued)
    clients = json.loads((tmp_path / "auth" / "clients.json").read_text())
    assert cred.token not in json.dumps(clients)  # the host keeps a hash only
    assert cred.curve_secret not in json.dumps(clients)
    assert stat.S_IMODE(issued.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "auth" / "server.key_secret").stat().st_mode) == 0o600
    assert main(["auth", "--dir", d, "revoke", "kitchen"]) == 0
    assert not issued.exists()
    assert [c.name for c in CredentialStore(d).list()] == ["ops"]


@pytest.mark.parametrize(
    ("name", "why"),
    [("../x", "safe client name"), ("José", "safe client name"), ("kitchen-2", "begin with")],
)
def test_names_must_be_safe_and_not_prefixes_of_each_other(
    tmp_path: Path, name: str, why: str
) -> None:
    store = CredentialStore(tmp_path / "auth")
    store.init()
    store.add("kitchen")
    with pytest.raises(ConfigError, match=why):
        store.add(name)


def test_a_host_with_auth_but_no_credentials_refuses_to_start(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="auth init"):
        _ = HostRuntime(settings=Settings(auth="token", auth_dir=str(tmp_path / "none"))).auth


def test_a_revoked_token_stops_working_while_the_host_runs(
    live_host, auth_dir: str, credentials: Creds
) -> None:
    host = live_host(auth="token", auth_dir=auth_dir)
    token = credentials["alice"].token
    assert host.request({"cmd": "heartbeat", "token": token})["status"] == "ok"
    CredentialStore(auth_dir).revoke("alice")
    time.sleep(1.2)  # the host looks at clients.json at most once a second
    assert host.request({"cmd": "heartbeat", "token": token})["error"].startswith("unauthenticated")


@pytest.mark.parametrize(
    ("auth", "transport"), [("token", "zmq"), ("token", "tcp"), ("curve", "zmq"), ("curve", "tcp")]
)
def test_the_sender_speaks_each_mode(
    live_host, auth_dir: str, credentials: Creds, auth: str, transport: str
) -> None:
    host: LiveHost = live_host(auth=auth, auth_dir=auth_dir)
    s = host.settings
    options = SenderOptions(
        audio_port=s.audio_port,
        video_port=s.video_port,
        control_port=s.control_port,
        tcp_port=s.tcp_port,
        transport=transport,  # type: ignore[arg-type]
        audio=ToneOptions(),
        video=None,
        duration_s=1.0,
        realtime=False,
        send_block_ms=2000,
        auth=auth,  # type: ignore[arg-type]
        credentials=credentials["bob"],
    )
    stats = Sender(options).run()
    assert stats.server_config is not None  # hello was answered
    host.wait_for(lambda o: len(o.audio("bob")) == stats.audio_sent, timeout=10)
    assert [c for c in host.outputs.clients() if host.outputs.audio(c)] == ["bob"]
    assert not [r for r in host.outputs.rejects() if r.channel != "control"]


def test_without_auth_a_host_bound_beyond_loopback_warns(caplog: pytest.LogCaptureFixture) -> None:
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("*") and not is_loopback("0.0.0.0") and not is_loopback("10.0.0.2")
    with caplog.at_level(logging.WARNING):
        warn_if_open(HostRuntime(settings=Settings(bind="*")))
    assert "--auth off" in caplog.text and "docs/security.md" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        warn_if_open(HostRuntime(settings=Settings(bind="127.0.0.1")))
    assert not caplog.text
