"""Fixtures of the sink tests: two clients with distinct sessions."""

from __future__ import annotations

import pytest

from .items import T0_NS, Client


@pytest.fixture
def alice() -> Client:
    return Client("alice", "20250102_030405_alice_0123abcd")


@pytest.fixture
def bob() -> Client:
    return Client("bob", "20250102_030406_bob_89abcdef", at_ns=T0_NS + 7_000_000)
