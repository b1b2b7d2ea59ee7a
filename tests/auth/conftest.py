"""A credential directory with three clients: alice, bob, and ops (an admin)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import zmq

from ambient_flow.auth import CredentialStore, IssuedCredential


@pytest.fixture
def credentials(tmp_path: Path) -> dict[str, IssuedCredential]:
    store = CredentialStore(tmp_path / "auth")
    store.init()
    issued = {name: store.add(name, admin=name == "ops") for name in ("alice", "bob", "ops")}
    return {name: IssuedCredential.load(path) for name, path in issued.items()}


@pytest.fixture
def auth_dir(tmp_path: Path, credentials: dict[str, IssuedCredential]) -> str:
    return str(tmp_path / "auth")


def topics_received(subscribers: dict[str, zmq.Socket[Any]]) -> dict[str, set[bytes]]:
    """Each subscriber's topics among what has reached it (until 0.3 s of quiet)."""
    got: dict[str, set[bytes]] = {}
    for who, sub in subscribers.items():
        topics = set()
        while sub.poll(300):
            topics.add(sub.recv_multipart()[0])
        got[who] = topics
    return got
