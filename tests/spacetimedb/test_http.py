"""The HTTP client against the strict fake: each route, each error, and the fake's own rules."""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from typing import Any

import pytest

from ambient_flow.spacetimedb.errors import (
    CallRejected,
    ConnectFailed,
    ConnectionLost,
    DatabaseRejected,
    RequestTimeout,
    ServerBusy,
    SpacetimeConfigError,
)
from ambient_flow.spacetimedb.http import SpacetimeClient, classify
from ambient_flow.spacetimedb.module import encode_args, select_sql

from .conftest import DB
from .fake_server import FakeSpacetime

REGISTER = ["ambient-flow:laptop", "laptop", "ambient-flow"]


@pytest.fixture
def client(fake: FakeSpacetime) -> Iterator[SpacetimeClient]:
    with SpacetimeClient(fake.url, DB, timeout=0.5, connect_timeout=0.5) as c:
        yield c


def raw(
    fake: FakeSpacetime, path: str, body: bytes, headers: dict[str, str], method: str = "POST"
) -> tuple[int, str]:
    conn = http.client.HTTPConnection("127.0.0.1", fake.port, timeout=2)
    try:
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        return response.status, response.read().decode()
    finally:
        conn.close()


# -- routes ------------------------------------------------------------------------------
def test_identity_then_bearer_on_every_database_request(
    fake: FakeSpacetime, client: SpacetimeClient
) -> None:
    assert client.token == ""
    client.call("RegisterDevice", REGISTER)  # gets a token first, by itself
    assert client.token in fake.tokens
    assert client.identity_hex == fake.tokens[client.token]
    identity, call = fake.requests
    assert (identity.path, identity.route) == ("/v1/identity", "identity")
    assert "authorization" not in identity.headers
    assert call.path == f"/v1/database/{DB}/call/RegisterDevice"
    assert call.headers["authorization"] == f"Bearer {client.token}"
    assert call.headers["content-type"] == "application/json"
    assert json.loads(call.body) == REGISTER


def test_call_reports_what_the_server_measured(client: SpacetimeClient) -> None:
    result = client.call("RegisterDevice", REGISTER)
    assert (result.duration_us, result.energy_used) == (42, 1000)


@pytest.mark.parametrize("row_format", ["tagged", "compact"])
def test_sql_reads_rows_by_column_name(no_leaks: None, row_format: str) -> None:
    with FakeSpacetime(DB, row_format=row_format) as fake, SpacetimeClient(fake.url, DB) as c:
        c.call("RegisterDevice", REGISTER)
        c.call("StartSession", encode_args("StartSession", [1, "2026-01-23", "ambient", "k'1"]))
        (result,) = c.sql(select_sql("audio_session", [("AudioPath", "k'1")]))
        (row,) = result.dicts()
        assert (row["Id"], row["DeviceId"], row["AudioPath"]) == (1, 1, "k'1")
        assert result.columns[:3] == ("Id", "DeviceId", "Date")
        two = c.sql('SELECT "Id" FROM "capture_device"; SELECT * FROM speaker')
        assert [r.rows for r in two] == [((1,),), ()]
        assert fake.requests[-1].headers["content-type"].startswith("text/plain")


# -- errors ------------------------------------------------------------------------------
def test_wrong_arity_is_a_rejected_call(client: SpacetimeClient) -> None:
    with pytest.raises(CallRejected) as info:
        client.call("RegisterDevice", REGISTER[:2])
    assert (info.value.status, info.value.reason) == (400, "bad_arguments")
    assert "invalid arguments for reducer RegisterDevice" in info.value.detail
    assert "expected a 3-element tuple" in info.value.detail


def test_wrong_type_is_a_rejected_call(client: SpacetimeClient) -> None:
    with pytest.raises(CallRejected, match="expected u32"):
        client.call("StartSession", ["1", "2026-01-23", "ambient", "p"])


def test_null_for_an_option_is_refused_by_a_strict_server(client: SpacetimeClient) -> None:
    args: list[Any] = [1, "e", 0, None, None, None, 0, 0]
    with pytest.raises(CallRejected, match="null"):
        client.call("CreateEntry", args)
    client.call("CreateEntry", encode_args("CreateEntry", [1, "e", 0, None, None, None, 0, 0]))


def test_unknown_reducer(client: SpacetimeClient) -> None:
    with pytest.raises(CallRejected) as info:
        client.call("NoSuchThing", [])
    assert (info.value.status, info.value.reason) == (404, "no_such_reducer")


def test_unknown_database_fails_every_call(fake: FakeSpacetime) -> None:
    with (
        SpacetimeClient(fake.url, "nope", timeout=0.5) as c,
        pytest.raises(DatabaseRejected) as info,
    ):
        c.call("RegisterDevice", REGISTER)
    assert (info.value.status, info.value.reason) == (404, "no_such_database")


def test_bad_tokens(fake: FakeSpacetime, client: SpacetimeClient) -> None:
    client.call("RegisterDevice", REGISTER)
    fake.revoke_tokens()
    with pytest.raises(DatabaseRejected) as info:
        client.call("RegisterDevice", REGISTER)
    assert (info.value.status, info.value.reason) == (401, "unauthorized")
    with (
        SpacetimeClient(fake.url, DB, token="not-a-jwt") as c,
        pytest.raises(DatabaseRejected) as bad,
    ):
        c.sql("SELECT * FROM speaker")
    assert (bad.value.status, bad.value.reason) == (400, "unauthorized")


def test_reducer_that_throws(fake: FakeSpacetime, client: SpacetimeClient) -> None:
    fake.fail("call", 530, "The reducer panicked: boom")
    with pytest.raises(CallRejected) as info:
        client.call("RegisterDevice", REGISTER)
    assert (info.value.reason, info.value.detail) == (
        "reducer_failed",
        "The reducer panicked: boom",
    )


def test_bad_sql(client: SpacetimeClient) -> None:
    with pytest.raises(CallRejected) as info:
        client.sql("SELECT * FROM nowhere")
    assert info.value.reason == "bad_query"


@pytest.mark.parametrize(("status", "ambiguous"), [(503, True), (500, True), (429, False)])
def test_server_busy_is_transient(
    fake: FakeSpacetime, client: SpacetimeClient, status: int, ambiguous: bool
) -> None:
    fake.fail("call", status, "busy")
    with pytest.raises(ServerBusy) as info:
        client.call("RegisterDevice", REGISTER)
    assert (info.value.reason, info.value.ambiguous) == (f"http_{status}", ambiguous)
    client.call("RegisterDevice", REGISTER)  # and the next one goes through


def test_timeout_is_ambiguous_and_the_commit_happened(
    fake: FakeSpacetime, client: SpacetimeClient
) -> None:
    client.call("RegisterDevice", REGISTER)
    fake.delay("call", 2.0, after_commit=True)
    with pytest.raises(RequestTimeout) as info:
        client.call("StartSession", [1, "2026-01-23", "ambient", "p"])
    assert info.value.ambiguous
    assert len(fake.rows("audio_session")) == 1  # committed, though we never heard


def test_dropped_connection_is_ambiguous(fake: FakeSpacetime, client: SpacetimeClient) -> None:
    fake.drop("call", after_commit=False)
    with pytest.raises(ConnectionLost) as info:
        client.call("RegisterDevice", REGISTER)
    assert info.value.ambiguous
    assert fake.rows("capture_device") == []


def test_refused_connection_is_not_ambiguous(fake: FakeSpacetime, client: SpacetimeClient) -> None:
    client.call("RegisterDevice", REGISTER)
    fake.stop()
    with pytest.raises(ConnectFailed) as info:
        client.call("RegisterDevice", REGISTER)
    assert not info.value.ambiguous
    fake.start()
    client.call("RegisterDevice", REGISTER)


def test_a_restart_is_noticed_before_sending(fake: FakeSpacetime, client: SpacetimeClient) -> None:
    client.call("RegisterDevice", REGISTER)
    fake.restart()
    client.call("RegisterDevice", REGISTER)  # the closed kept-alive socket is noticed first
    assert len(fake.rows("capture_device")) == 1


def test_bad_urls_are_refused_at_construction() -> None:
    for url in ("ftp://x", "localhost:3000", "http://"):
        with pytest.raises(SpacetimeConfigError):
            SpacetimeClient(url, DB)
    with pytest.raises(SpacetimeConfigError):
        SpacetimeClient("http://127.0.0.1:3000", "a/b")


@pytest.mark.parametrize(
    ("status", "body", "route", "kind", "reason"),
    [
        (200, "", "call", None, None),
        (530, "x", "call", CallRejected, "reducer_failed"),
        (404, "No such database.", "sql", DatabaseRejected, "no_such_database"),
        (404, "No such procedure", "call", CallRejected, "no_such_reducer"),
        (404, "", "call", DatabaseRejected, "no_such_route"),
        (404, "Database is not scheduled on this host", "call", ServerBusy, "http_503"),
        (401, "", "call", DatabaseRejected, "unauthorized"),
        (403, "rejected", "call", DatabaseRejected, "forbidden"),
        (402, "", "call", DatabaseRejected, "budget_exhausted"),
        (415, "", "call", DatabaseRejected, "unsupported_media_type"),
        (400, "bad", "call", CallRejected, "bad_arguments"),
        (400, "Authorization is invalid: malformed token", "call", DatabaseRejected,
         "unauthorized"),
        (409, "", "call", CallRejected, "http_409"),
        (502, "", "sql", ServerBusy, "http_502"),
        (408, "", "call", ServerBusy, "http_408"),
        (404, "", "identity", DatabaseRejected, "identity_refused"),
    ],
)  # fmt: skip
def test_classify(status: int, body: str, route: Any, kind: Any, reason: str | None) -> None:
    error = classify(status, body, route=route)
    if kind is None:
        assert error is None
    else:
        assert type(error) is kind and error is not None and error.reason == reason


# -- the fake enforces the contract (so passing tests mean something) --------------------
def test_fake_rules(fake: FakeSpacetime) -> None:
    token = fake.issue_token()
    auth = {"Authorization": f"Bearer {token}"}
    call = f"/v1/database/{DB}/call/RegisterDevice"
    body = json.dumps(REGISTER).encode()
    assert raw(fake, call, body, {**auth, "Content-Type": "text/plain"})[0] == 415
    assert (
        raw(fake, call, body, {**auth, "Content-Type": "application/json; charset=utf-8"})[0] == 415
    )
    assert raw(fake, call, body, auth)[0] == 400  # no content type
    assert raw(fake, call, body, {"Content-Type": "application/json"})[0] == 401
    named = json.dumps({"deviceIdentity": "a", "name": "b", "platform": "c"}).encode()
    assert raw(fake, call, named, {**auth, "Content-Type": "application/json"})[0] == 400
    assert raw(fake, call, b"", {**auth}, method="GET")[0] == 405
    assert raw(fake, "/database/call/x", body, auth)[0] == 404  # no /v1: no such route
    assert raw(fake, call, body, {**auth, "Content-Type": "application/json"})[0] == 200
    status, text = raw(fake, f"/v1/database/{DB}/sql", b"SELECT * FROM frame WHERE Notes = 'x'",
                       auth)  # fmt: skip
    assert status == 400 and "not supported" in text  # options are not comparable


def test_fake_accepts_null_none_when_playing_a_newer_server(no_leaks: None) -> None:
    with FakeSpacetime(DB, accept_null_none=True) as fake, SpacetimeClient(fake.url, DB) as c:
        c.call("CreateEntry", [1, "e", 0, None, None, None, 0, 0])
        assert fake.rows("transcript_entry")[0]["Transcript"] is None
