"""A small blocking client for SpacetimeDB's HTTP API (stdlib `http.client` only).

Three routes, as the server implements them (`crates/client-api/src/routes`):

- `POST /v1/identity`: no body; answers `{"identity": ..., "token": ...}`.
- `POST /v1/database/{db}/call/{reducer}`: `Content-Type: application/json` (compared
  exactly), a JSON array of SATS-JSON arguments; 200 with an empty body when the reducer
  committed, 530 with its message when it threw, 400 for arguments that do not fit, 404
  for an unknown database or reducer.
- `POST /v1/database/{db}/sql`: the SQL text as the body; answers a JSON array of
  `{"schema": ProductType, "rows": [...], "total_duration_micros": n}`.

Every request carries `Authorization: Bearer <token>`. One keep-alive connection is
reused; it is closed after any error, and one the server has closed while idle is
noticed before sending (so a restart costs nothing ambiguous). A
client is not thread-safe: use one per thread.
"""

from __future__ import annotations

import http.client
import json
import select
import ssl
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal
from urllib.parse import quote, urlsplit

from ambient_flow.spacetimedb.errors import (
    CallRejected,
    ConnectFailed,
    ConnectionLost,
    DatabaseRejected,
    RequestTimeout,
    ServerBusy,
    SpacetimeConfigError,
    SpacetimeError,
    UnexpectedResponse,
)
from ambient_flow.spacetimedb.module import (
    API_PREFIX,
    IDENTITY_ROUTE,
    JSON_CONTENT_TYPE,
    NO_SUCH_DATABASE_BODY,
    REDUCER_FAILED_STATUS,
    SQL_CONTENT_TYPE,
    JsonValue,
)

__all__ = [
    "CallResult",
    "Identity",
    "Route",
    "SpacetimeClient",
    "SqlResult",
    "classify",
]

Route = Literal["identity", "call", "sql"]

USER_AGENT: Final = "ambient-flow-spacetimedb/1"
_DETAIL_CHARS = 500


@dataclass(frozen=True)
class Identity:
    """What `POST /v1/identity` answers: the new identity (hex) and its token."""

    identity: str
    token: str


@dataclass(frozen=True)
class CallResult:
    """A committed reducer call, with what the server reported about it."""

    duration_us: int | None
    energy_used: int | None


@dataclass(frozen=True)
class SqlResult:
    """One statement's result: column names from its schema, and its rows."""

    columns: tuple[str, ...]
    rows: tuple[tuple[JsonValue, ...], ...]

    def dicts(self) -> list[dict[str, JsonValue]]:
        """The rows as `{column: value}` dicts."""
        return [dict(zip(self.columns, row, strict=True)) for row in self.rows]


def classify(status: int, body: str, *, route: Route) -> SpacetimeError | None:
    """The error an HTTP answer means, or None for success (2xx).

    The mapping follows `routes/database.rs` and `auth.rs`: 530 is a reducer that threw;
    400/404 on the call route are this call's fault (bad arguments, unknown reducer),
    except 404 "No such database." and credential failures, which fail every call.
    """
    if 200 <= status < 300:
        return None
    text = body.strip()[:_DETAIL_CHARS]
    if status == REDUCER_FAILED_STATUS:
        return CallRejected(status, text or "reducer failed", reason="reducer_failed")
    if status in (408, 429) or status >= 500:
        return ServerBusy(status, text or http.client.responses.get(status, "server error"))
    if route == "identity":
        return DatabaseRejected(status, text or "identity refused", reason="identity_refused")
    if status == 401 or (status == 400 and text.startswith("Authorization")):
        return DatabaseRejected(status, text or "unauthorized", reason="unauthorized")
    if status == 403:
        return DatabaseRejected(status, text or "forbidden", reason="forbidden")
    if status == 402:
        return DatabaseRejected(status, text or "budget exhausted", reason="budget_exhausted")
    if status == 415:
        return DatabaseRejected(status, text, reason="unsupported_media_type")
    if status == 404:
        if text == NO_SUCH_DATABASE_BODY:
            return DatabaseRejected(status, text, reason="no_such_database")
        if text.startswith("Database is not scheduled"):
            return ServerBusy(503, text)  # misdirected in a cluster; asked again later
        if not text or route == "sql":
            return DatabaseRejected(status, text or "no such route", reason="no_such_route")
        return CallRejected(status, text, reason="no_such_reducer")
    if status == 405:
        return DatabaseRejected(status, text or "method not allowed", reason="no_such_route")
    if status == 400:
        return CallRejected(
            status,
            text or "bad request",
            reason="bad_arguments" if route == "call" else "bad_query",
        )
    return CallRejected(status, text or f"HTTP {status}", reason=f"http_{status}")


class SpacetimeClient:
    """Blocking client for one database on one SpacetimeDB host.

    Args:
        url: `http://host:port` (or https), optionally with a path prefix.
        database: The database's name or identity (hex).
        token: A SpacetimeDB token; empty: `identity()` is called on first use.
        timeout: Seconds to wait for an answer once a request is sent.
        connect_timeout: Seconds to wait for the TCP (and TLS) connection.
        max_response_bytes: Larger answers are refused (a SQL result that big is a bug).

    Raises:
        SpacetimeConfigError: the URL or database name is unusable.
    """

    def __init__(
        self,
        url: str,
        database: str,
        *,
        token: str = "",
        timeout: float = 5.0,
        connect_timeout: float = 2.0,
        max_response_bytes: int = 16 << 20,
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise SpacetimeConfigError(f"url must be http(s)://host[:port][/prefix], got {url!r}")
        if not database or "/" in database:
            raise SpacetimeConfigError(f"database must be a name or identity, got {database!r}")
        try:
            port = parts.port
        except ValueError as exc:
            raise SpacetimeConfigError(f"bad port in {url!r}") from exc
        self._scheme = parts.scheme
        self._host = parts.hostname
        self._port = port
        self._base = parts.path.rstrip("/")
        self._db_path = f"{self._base}{API_PREFIX}/database/{quote(database, safe='')}"
        self.database = database
        self._token = token
        self._identity: str | None = None
        self._timeout = timeout
        self._connect_timeout = connect_timeout
        self._max_bytes = max_response_bytes
        self._conn: http.client.HTTPConnection | None = None

    # -- public API ----------------------------------------------------------------
    @property
    def token(self) -> str:
        """The bearer token in use (empty until `identity()` ran, if none was given)."""
        return self._token

    @property
    def identity_hex(self) -> str | None:
        """The identity `identity()` returned, if it was called."""
        return self._identity

    def identity(self) -> Identity:
        """`POST /v1/identity`: mint a new identity and keep its token for later requests."""
        status, _, data = self._request("identity", self._base + IDENTITY_ROUTE, b"", None)
        error = classify(status, _text(data), route="identity")
        if error is not None:
            raise error
        body = _json(data, "identity")
        token = body.get("token") if isinstance(body, dict) else None
        if not isinstance(token, str) or not token:
            raise UnexpectedResponse(status, f"no token in identity answer: {_text(data)[:200]}")
        raw = body.get("identity") if isinstance(body, dict) else None
        if isinstance(raw, dict):  # SATS-JSON product form: {"__identity__": "0x..."}
            raw = raw.get("__identity__")
        self._token = token
        self._identity = str(raw) if raw is not None else None
        return Identity(self._identity or "", token)

    def call(self, reducer: str, args: Sequence[JsonValue]) -> CallResult:
        """`POST /v1/database/{db}/call/{reducer}` with `args` as the JSON array body.

        Raises:
            TransientError: worth retrying later (see `errors`).
            PermanentError: the server refused; sending it again will not help.
        """
        path = f"{self._db_path}/call/{quote(reducer, safe='')}"
        body = json.dumps(list(args), ensure_ascii=True, separators=(",", ":")).encode()
        status, headers, data = self._authorized("call", path, body, JSON_CONTENT_TYPE)
        error = classify(status, _text(data), route="call")
        if error is not None:
            raise error
        return CallResult(
            duration_us=_int_header(headers, "spacetime-execution-duration-micros"),
            energy_used=_int_header(headers, "spacetime-energy-used"),
        )

    def sql(self, query: str) -> list[SqlResult]:
        """`POST /v1/database/{db}/sql`: run `query`, one result per statement."""
        status, _, data = self._authorized(
            "sql", f"{self._db_path}/sql", query.encode(), SQL_CONTENT_TYPE
        )
        error = classify(status, _text(data), route="sql")
        if error is not None:
            raise error
        return _sql_results(status, _json(data, "sql"))

    def close(self) -> None:
        """Close the connection (the next request opens a new one)."""
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()

    def __enter__(self) -> SpacetimeClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- internals -----------------------------------------------------------------
    def _authorized(
        self, route: Route, path: str, body: bytes, content_type: str
    ) -> tuple[int, Mapping[str, str], bytes]:
        if not self._token:
            self.identity()
        return self._request(route, path, body, content_type)

    def _connect(self) -> http.client.HTTPConnection:
        if self._conn is not None:
            if not _dropped(self._conn):
                return self._conn
            self.close()  # the server closed the kept-alive socket: nothing was sent yet
        conn: http.client.HTTPConnection
        if self._scheme == "https":
            conn = http.client.HTTPSConnection(
                self._host, self._port, timeout=self._connect_timeout,
                context=ssl.create_default_context(),
            )  # fmt: skip
        else:
            conn = http.client.HTTPConnection(self._host, self._port, timeout=self._connect_timeout)
        try:
            conn.connect()
        except OSError as exc:  # refused, unreachable, DNS, TLS, connect timeout
            conn.close()
            raise ConnectFailed(f"{self._host}:{self._port}: {exc}") from exc
        if conn.sock is not None:
            conn.sock.settimeout(self._timeout)
        self._conn = conn
        return conn

    def _request(
        self, route: Route, path: str, body: bytes, content_type: str | None
    ) -> tuple[int, Mapping[str, str], bytes]:
        conn = self._connect()
        headers = {"User-Agent": USER_AGENT, "Content-Length": str(len(body))}
        if content_type is not None:
            headers["Content-Type"] = content_type
        if route != "identity":
            headers["Authorization"] = f"Bearer {self._token}"
        try:
            conn.request("POST", path, body=body, headers=headers)
            response = conn.getresponse()
            data = self._read(response)
        except TimeoutError as exc:
            self.close()
            raise RequestTimeout(f"no answer to {route} within {self._timeout:g} s") from exc
        except (http.client.HTTPException, OSError) as exc:
            self.close()
            raise ConnectionLost(f"{route}: {type(exc).__name__}: {exc}") from exc
        if response.will_close:
            self.close()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, data

    def _read(self, response: http.client.HTTPResponse) -> bytes:
        length = response.getheader("Content-Length")
        if length is not None and length.isdigit() and int(length) > self._max_bytes:
            raise http.client.HTTPException(f"answer of {length} bytes is over the limit")
        data = response.read(self._max_bytes + 1)
        if len(data) > self._max_bytes:
            raise http.client.HTTPException("answer is over the size limit")
        if not response.isclosed():
            response.read()  # drain what is left so the connection can be reused
        return data


def _dropped(conn: http.client.HTTPConnection) -> bool:
    """Has an idle kept-alive connection been closed by the server (EOF waiting)?"""
    if conn.sock is None:
        return True
    if not hasattr(select, "poll"):  # Windows: find out by sending
        return False
    poller = select.poll()
    poller.register(conn.sock, select.POLLIN)
    return bool(poller.poll(0))  # an idle socket with anything to read is done for


def _text(data: bytes) -> str:
    return data.decode("utf-8", errors="replace")


def _json(data: bytes, route: str) -> Any:
    try:
        return json.loads(data)
    except ValueError as exc:
        raise UnexpectedResponse(200, f"{route} answer is not JSON: {_text(data)[:200]}") from exc


def _int_header(headers: Mapping[str, str], name: str) -> int | None:
    value = headers.get(name)
    return int(value) if value is not None and value.isdigit() else None


def _column_name(element: Any, index: int) -> str:
    name = element.get("name") if isinstance(element, dict) else None
    if isinstance(name, dict):  # SATS option: {"some": "Id"} or {"none": []}
        name = name.get("some")
    return name if isinstance(name, str) else f"column{index}"


def _sql_results(status: int, body: Any) -> list[SqlResult]:
    if not isinstance(body, list):
        raise UnexpectedResponse(status, "sql answer is not a JSON array of statements")
    results = []
    for statement in body:
        schema = statement.get("schema") if isinstance(statement, dict) else None
        elements = schema.get("elements") if isinstance(schema, dict) else None
        rows = statement.get("rows") if isinstance(statement, dict) else None
        if not isinstance(elements, list) or not isinstance(rows, list):
            raise UnexpectedResponse(status, "sql statement result lacks schema.elements/rows")
        columns = tuple(_column_name(e, i) for i, e in enumerate(elements))
        parsed: list[tuple[JsonValue, ...]] = []
        for row in rows:
            if isinstance(row, list) and len(row) == len(columns):
                parsed.append(tuple(row))
            elif isinstance(row, dict):  # a server writing named products
                parsed.append(tuple(row.get(c) for c in columns))
            else:
                raise UnexpectedResponse(status, f"sql row does not match its schema: {row!r}")
        results.append(SqlResult(columns, tuple(parsed)))
    return results
