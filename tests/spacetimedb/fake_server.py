"""A strict in-process stand-in for a SpacetimeDB host running the ambient-sub module.

No SpacetimeDB server can be installed here, so the sink is tested against this. It
enforces the contract as read from the sources (docs/spacetimedb.md lists them):

- routes: `POST /v1/identity`, `POST /v1/database/{db}/call/{reducer}`,
  `POST /v1/database/{db}/sql`; others 404 (405 for a known path and another method);
- auth (database routes): `Authorization: Bearer <token>` with a token this server issued;
  a malformed one is 400 "Authorization is invalid: malformed token", an unknown one 401.
  Stricter than the real server, a request without the header is 401 (the real one mints
  an anonymous identity): the client must always send its token;
- call: a missing Content-Type is 400, one other than exactly `application/json` 415;
  an unknown database 404 "No such database."; an unknown reducer 404 "no such reducer";
  the body must be a JSON array (the real server also takes an object keyed by parameter
  name; our client never sends one) with the reducer's arity and each argument's SATS-JSON
  type (u32 in range, finite f32, bool, string, hex bytes, options as `{"some": v}` or
  `{"none": []}`; `null` only with `accept_null_none`, as newer servers do) - else 400
  "invalid arguments for reducer X: ..."; a reducer that throws is 530 and rolls back;
- the reducers run as Lib.cs writes them (upserts, auto-increment `uint Id`s, unique
  `DeviceIdentity` and `Name`, server timestamps);
- sql: a subset: `SELECT * | col, ... FROM table [WHERE col = literal [AND ...]]`,
  `;`-separated, quoted or bare case-sensitive identifiers, literals 'text' ('' escapes),
  integers, true/false; comparing a column other than u32/string/bool is refused (400).
  The answer is `[{"schema": {"elements": [...]}, "rows": [[...]], ...}]`; options and
  timestamps are written tagged (`{"some": v}`, `{"__timestamp_micros_since_unix_epoch__":
  n}`) or, with `row_format="compact"`, as `[0, v]` / `[n]` (seen from newer servers).

Faults: `fail` (answer a status), `delay` (before or after the commit), `drop` (close the
connection with no answer, before or after the commit), and `stop`/`start`/`restart`
(connections refused while stopped; work in flight that had not committed is lost,
committed rows are kept, as a commitlog would; auto-increment values may jump after a
restart, as SpacetimeDB's sequence pre-allocation allows).
"""

from __future__ import annotations

import base64
import contextlib
import json
import math
import os
import re
import socket
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote, urlsplit

# -- the module, transcribed from Lib.cs (independently of the package's copy) ----------
SIGNATURES: dict[str, tuple[tuple[str, str], ...]] = {
    "RegisterDevice": (("deviceIdentity", "string"), ("name", "string"), ("platform", "string")),
    "DeviceHeartbeat": (("deviceIdentity", "string"),),
    "UpdateDeviceStatus": (("deviceIdentity", "string"), ("status", "string")),
    "StartSession": (
        ("deviceId", "u32"), ("date", "string"), ("mode", "string"), ("audioPath", "string"),
    ),
    "UpdateSessionStatus": (("sessionId", "u32"), ("status", "string")),
    "UpdateSessionDuration": (("sessionId", "u32"), ("durationMs", "u32")),
    "CreateEntry": (
        ("sessionId", "u32"), ("entryId", "string"), ("durationMs", "u32"),
        ("transcript", "string?"), ("confidence", "f32?"), ("audioClipPath", "string?"),
        ("recordingStartMs", "u32"), ("recordingEndMs", "u32"),
    ),
    "UpdateEntrySpeaker": (("entryId", "u32"), ("speakerName", "string")),
    "UpdateEntrySpeakerByEntryId": (("entryId", "string"), ("speakerName", "string")),
    "CreateOrUpdateSpeaker": (("name", "string"), ("embedding", "bytes?")),
    "CreateDiarizationSegment": (
        ("entryId", "u32"), ("startMs", "u32"), ("endMs", "u32"), ("pyannoteLabel", "string"),
        ("matchedSpeaker", "string?"), ("confidence", "f32?"), ("transcriptSlice", "string?"),
        ("embedding", "bytes?"),
    ),
    "CreateFrame": (
        ("sessionId", "u32"), ("frameType", "string"), ("imagePath", "string"),
        ("detections", "string"), ("reviewed", "bool"), ("notes", "string?"),
    ),
    "UpdateFrameDetections": (("frameId", "u32"), ("detections", "string")),
}  # fmt: skip

#: Columns in declaration order with their types ("ts" = Timestamp).
TABLES: dict[str, tuple[tuple[str, str], ...]] = {
    "capture_device": (
        ("Id", "u32"), ("DeviceIdentity", "string"), ("Name", "string"),
        ("Platform", "string"), ("Status", "string"), ("LastHeartbeat", "ts"),
        ("CreatedAt", "ts"),
    ),
    "audio_session": (
        ("Id", "u32"), ("DeviceId", "u32"), ("Date", "string"), ("Mode", "string"),
        ("Status", "string"), ("AudioPath", "string"), ("StartedAt", "ts"),
        ("EndedAt", "ts?"), ("DurationMs", "u32"),
    ),
    "transcript_entry": (
        ("Id", "u32"), ("SessionId", "u32"), ("EntryId", "string"), ("Timestamp", "ts"),
        ("DurationMs", "u32"), ("Transcript", "string?"), ("Confidence", "f32?"),
        ("Speaker", "string?"), ("Sentiment", "string?"), ("Intent", "string?"),
        ("AudioClipPath", "string?"), ("RecordingStartMs", "u32"), ("RecordingEndMs", "u32"),
        ("Reviewed", "bool"), ("Notes", "string?"), ("CreatedAt", "ts"), ("UpdatedAt", "ts"),
        ("EnrichedAt", "ts?"),
    ),
    "speaker": (
        ("Id", "u32"), ("Name", "string"), ("SimilarityThreshold", "f32"),
        ("Embedding", "bytes?"), ("SampleCount", "u32"), ("CreatedAt", "ts"),
        ("UpdatedAt", "ts"),
    ),
    "diarization_segment": (
        ("Id", "u32"), ("EntryId", "u32"), ("StartMs", "u32"), ("EndMs", "u32"),
        ("PyannoteLabel", "string"), ("MatchedSpeaker", "string?"), ("Confidence", "f32?"),
        ("TranscriptSlice", "string?"), ("Embedding", "bytes?"),
    ),
    "frame": (
        ("Id", "u32"), ("SessionId", "u32"), ("Timestamp", "ts"), ("FrameType", "string"),
        ("ImagePath", "string"), ("Detections", "string"), ("Reviewed", "bool"),
        ("Notes", "string?"), ("CreatedAt", "ts"),
    ),
}  # fmt: skip

UNIQUE = {"capture_device": "DeviceIdentity", "speaker": "Name"}
U32_MAX = 2**32 - 1
F32_MAX = 3.4028234663852886e38


class _ArgError(Exception):
    pass


class _ReducerError(Exception):
    """The reducer threw: 530, transaction rolled back."""


class _SqlError(Exception):
    pass


def _describe(v: Any) -> str:
    """How serde_json names an unexpected value."""
    if v is None:
        return "null"
    if isinstance(v, bool):
        return f"boolean `{str(v).lower()}`"
    if isinstance(v, int):
        return f"integer `{v}`"
    if isinstance(v, float):
        return f"floating point `{v}`"
    if isinstance(v, str):
        return f'string "{v}"'
    return "sequence" if isinstance(v, list) else "map"


@dataclass
class Fault:
    """One injected misbehaviour for the next `count` matching requests."""

    route: str  # "call", "sql", "identity" or "*"
    kind: str  # "status", "delay", "drop"
    status: int = 503
    body: str = ""
    seconds: float = 0.0
    after_commit: bool = True
    reducer: str | None = None
    count: int = 1

    def matches(self, route: str, reducer: str | None) -> bool:
        return (self.route in ("*", route)) and (self.reducer in (None, reducer))


@dataclass
class Logged:
    """A request as the server saw it."""

    method: str
    path: str
    route: str
    headers: dict[str, str]
    body: bytes
    reducer: str | None = None
    status: int | None = None  # None: no answer was sent


@dataclass
class _Answer:
    status: int
    body: bytes = b""
    content_type: str = "text/plain; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)


class _Server(ThreadingHTTPServer):
    daemon_threads = False  # server_close() joins every handler thread
    block_on_close = True
    allow_reuse_address = True


class FakeSpacetime:
    """A fake SpacetimeDB host with one database running the ambient-sub module.

    Args:
        database: The database's name (other names are "No such database.").
        accept_null_none: Read `null` as an option's none (newer servers do).
        strict_auth: Refuse requests without a bearer token (the real server would mint
            an anonymous identity).
        row_format: "tagged" or "compact" SQL rows (see the module docstring).
        signatures: Override reducer signatures (to play a different module version);
            a reducer mapped to None is absent.
    """

    def __init__(
        self,
        database: str = "ambient-listener",
        *,
        accept_null_none: bool = False,
        strict_auth: bool = True,
        row_format: str = "tagged",
        signatures: Mapping[str, tuple[tuple[str, str], ...] | None] | None = None,
    ) -> None:
        self.database = database
        self.accept_null_none = accept_null_none
        self.strict_auth = strict_auth
        self.row_format = row_format
        self.signatures: dict[str, tuple[tuple[str, str], ...]] = dict(SIGNATURES)
        for name, sig in (signatures or {}).items():
            if sig is None:
                self.signatures.pop(name, None)
            else:
                self.signatures[name] = sig
        self.tables: dict[str, list[dict[str, Any]]] = {t: [] for t in TABLES}
        self._next_id: dict[str, int] = dict.fromkeys(TABLES, 1)
        self.tokens: dict[str, str] = {}  # token -> identity hex
        self.requests: list[Logged] = []
        self.faults: list[Fault] = []
        self.clock_us = 1_769_000_000_000_000
        self._lock = threading.Lock()  # the "transaction" lock; also guards the above
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._sockets: set[socket.socket] = set()
        self._down = threading.Event()  # set while stopped: wakes delayed handlers
        self.port = 0

    # -- lifecycle ----------------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> FakeSpacetime:
        handler = _make_handler(self)
        self._server = _Server(("127.0.0.1", self.port), handler)
        self.port = self._server.server_address[1]
        self._down.clear()
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02},
            name=f"fake-spacetime:{self.port}",
        )  # fmt: skip
        self._thread.start()
        return self

    def stop(self) -> None:
        """Go down like a killed process: refuse connections, abort work in flight.

        Rows committed before are kept; a request that had not committed is lost.
        """
        server, self._server = self._server, None
        if server is None:
            return
        self._down.set()
        server.shutdown()
        with self._lock:
            sockets = list(self._sockets)
        for sock in sockets:
            with contextlib.suppress(OSError):  # already closed by its handler
                sock.shutdown(socket.SHUT_RDWR)
        server.server_close()  # joins the handler threads
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def restart(self, *, id_gap: int = 0) -> None:
        """Stop and start on the same port; `id_gap` makes auto-increment values jump."""
        self.stop()
        with self._lock:
            for table in self._next_id:
                self._next_id[table] += id_gap
        self.start()

    def __enter__(self) -> FakeSpacetime:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- test helpers -------------------------------------------------------------------
    def issue_token(self) -> str:
        """Mint a token as `POST /v1/identity` would."""
        identity = os.urandom(32).hex()

        def b64(obj: dict[str, Any]) -> str:
            return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode().rstrip("=")

        token = ".".join(
            (b64({"alg": "ES256", "typ": "JWT"}), b64({"hex_identity": identity}),
             base64.urlsafe_b64encode(os.urandom(32)).decode().rstrip("="))
        )  # fmt: skip
        with self._lock:
            self.tokens[token] = identity
        return token

    def revoke_tokens(self) -> None:
        """Forget every token (as if the server's signing keys were rotated)."""
        with self._lock:
            self.tokens.clear()

    def fail(self, route: str, status: int, body: str = "", *, count: int = 1,
             reducer: str | None = None) -> None:  # fmt: skip
        self._add(Fault(route, "status", status=status, body=body, count=count, reducer=reducer))

    def delay(self, route: str, seconds: float, *, after_commit: bool = True, count: int = 1,
              reducer: str | None = None) -> None:  # fmt: skip
        self._add(Fault(route, "delay", seconds=seconds, after_commit=after_commit,
                        count=count, reducer=reducer))  # fmt: skip

    def drop(self, route: str, *, after_commit: bool = True, count: int = 1,
             reducer: str | None = None) -> None:  # fmt: skip
        self._add(Fault(route, "drop", after_commit=after_commit, count=count, reducer=reducer))

    def _add(self, fault: Fault) -> None:
        with self._lock:
            self.faults.append(fault)

    def rows(self, table: str) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(r) for r in self.tables[table]]

    def calls(self, reducer: str | None = None) -> list[Logged]:
        with self._lock:
            return [
                r for r in self.requests
                if r.route == "call" and (reducer is None or r.reducer == reducer)
            ]  # fmt: skip

    # -- request handling (handler threads) ---------------------------------------------
    def _take_fault(self, route: str, reducer: str | None) -> Fault | None:
        with self._lock:
            for fault in self.faults:
                if fault.count > 0 and fault.matches(route, reducer):
                    fault.count -= 1
                    return fault
        return None

    def handle(self, log: Logged) -> _Answer | None:
        """The answer to a request, or None to close the connection without one."""
        parts = [unquote(p) for p in urlsplit(log.path).path.split("/")[1:]]
        if parts == ["v1", "identity"]:
            log.route = "identity"
            return self._with_faults(log, None, self._identity)
        if len(parts) >= 4 and parts[:2] == ["v1", "database"]:
            db = parts[2]
            if len(parts) == 5 and parts[3] == "call" and parts[4]:
                log.route, log.reducer = "call", parts[4]
                return self._with_faults(log, parts[4], lambda: self._call(log, db, parts[4]))
            if len(parts) == 4 and parts[3] == "sql":
                log.route = "sql"
                return self._with_faults(log, None, lambda: self._sql(log, db))
        return _Answer(404)

    def _with_faults(
        self, log: Logged, reducer: str | None, run: Callable[[], _Answer]
    ) -> _Answer | None:
        fault = self._take_fault(log.route, reducer)
        if fault is None:
            return run()
        if fault.kind == "status":
            return _Answer(fault.status, fault.body.encode())
        if not fault.after_commit:
            if fault.kind == "drop" or self._down.wait(fault.seconds):
                return None  # lost before it committed
            return run()
        answer = run()
        if fault.kind == "drop" or self._down.wait(fault.seconds):
            return None  # committed, but the answer is lost
        return answer

    def _auth(self, log: Logged) -> tuple[str, str] | _Answer:
        header = log.headers.get("authorization")
        if header is None:
            if self.strict_auth:
                return _Answer(401, b"Authorization required")
            token = self.issue_token()
            return token, self.tokens[token]
        scheme, _, token = header.partition(" ")
        if scheme != "Bearer" or token.count(".") != 2:
            return _Answer(400, b"Authorization is invalid: malformed token")
        with self._lock:
            identity = self.tokens.get(token)
        if identity is None:
            return _Answer(401, b"Authorization failed: token not signed by this instance")
        return token, identity

    def _identity(self) -> _Answer:
        token = self.issue_token()
        body = json.dumps({"identity": self.tokens[token], "token": token}).encode()
        return _Answer(200, body, "application/json")

    def _call(self, log: Logged, db: str, reducer: str) -> _Answer:
        auth = self._auth(log)
        if isinstance(auth, _Answer):
            return auth
        content_type = log.headers.get("content-type")
        if content_type is None:
            return _Answer(400, b"Header of type `content-type` was missing")
        if content_type != "application/json":
            return _Answer(415, b"Expected request with `Content-Type: application/json`")
        if db != self.database:
            return _Answer(404, b"No such database.")
        signature = self.signatures.get(reducer)
        if signature is None:
            return _Answer(404, b"no such reducer")
        try:
            args = self._check_args(reducer, signature, log.body)
        except _ArgError as exc:
            return _Answer(400, f"invalid arguments for reducer {reducer}: {exc}".encode())
        with self._lock:
            snapshot = {t: [dict(r) for r in rows] for t, rows in self.tables.items()}
            next_ids = dict(self._next_id)
            try:
                self.clock_us += 1000
                getattr(self, f"_r_{reducer}")(*args)
            except _ReducerError as exc:  # roll back
                self.tables, self._next_id = snapshot, next_ids
                return _Answer(530, str(exc).encode())
        identity_headers = {"spacetime-identity": auth[1], "spacetime-identity-token": auth[0]}
        return _Answer(200, b"", headers={
            **identity_headers, "spacetime-energy-used": "1000",
            "spacetime-execution-duration-micros": "42",
        })  # fmt: skip

    def _check_args(
        self, reducer: str, signature: tuple[tuple[str, str], ...], body: bytes
    ) -> list[Any]:
        try:
            value = json.loads(body)
        except ValueError as exc:
            raise _ArgError(f"expected value at line 1 column 1 ({exc})") from exc
        if not isinstance(value, list):
            raise _ArgError(f"invalid type: {_describe(value)}, expected a JSON array "
                            "(this fake accepts the positional form only)")  # fmt: skip
        if len(value) != len(signature):
            raise _ArgError(
                f"invalid length {len(value)}, expected a {len(signature)}-element tuple"
            )
        return [self._check(ty, v, f"[{i}]") for i, ((_, ty), v) in enumerate(
            zip(signature, value, strict=True))]  # fmt: skip

    def _check(self, ty: str, v: Any, path: str) -> Any:
        if ty.endswith("?"):
            if v is None:
                if self.accept_null_none:
                    return None
                raise _ArgError(f"{path}: invalid type: null, expected enum")
            if not isinstance(v, dict) or len(v) != 1:
                raise _ArgError(f"{path}: invalid type: {_describe(v)}, expected option")
            ((tag, inner),) = v.items()
            if tag == "some":
                return self._check(ty[:-1], inner, path)
            if tag == "none" and inner in ([], {}):
                return None
            raise _ArgError(f"{path}: unknown variant `{tag}`, expected `some` or `none`")
        if ty == "u32":
            if isinstance(v, bool) or not isinstance(v, int):
                raise _ArgError(f"{path}: invalid type: {_describe(v)}, expected u32")
            if not 0 <= v <= U32_MAX:
                raise _ArgError(f"{path}: invalid value: integer `{v}`, expected u32")
            return v
        if ty == "f32":
            if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
                raise _ArgError(f"{path}: invalid type: {_describe(v)}, expected f32")
            if abs(v) > F32_MAX:
                raise _ArgError(f"{path}: invalid value: {v}, expected f32")
            return float(v)
        if ty == "bool":
            if not isinstance(v, bool):
                raise _ArgError(f"{path}: invalid type: {_describe(v)}, expected a boolean")
            return v
        if ty == "string":
            if not isinstance(v, str):
                raise _ArgError(f"{path}: invalid type: {_describe(v)}, expected a string")
            return v
        if ty == "bytes":
            if isinstance(v, str):
                try:
                    return bytes.fromhex(v)
                except ValueError as exc:
                    raise _ArgError(f"{path}: invalid value: {_describe(v)}, expected hex") from exc
            if isinstance(v, list) and all(isinstance(b, int) and 0 <= b <= 255 for b in v):
                return bytes(v)
            raise _ArgError(f"{path}: invalid type: {_describe(v)}, expected a byte array")
        raise AssertionError(f"unknown type {ty}")

    # -- the module's reducers (Lib.cs), run under self._lock ---------------------------
    def _insert(self, table: str, row: dict[str, Any]) -> None:
        unique = UNIQUE.get(table)
        if unique and any(r[unique] == row[unique] for r in self.tables[table]):
            raise _ReducerError(
                f"The reducer panicked: unique constraint violation on {table}.{unique}"
            )
        row = {"Id": self._next_id[table], **row}
        self._next_id[table] += 1
        self.tables[table].append(row)

    def _find(self, table: str, col: str, value: Any) -> dict[str, Any] | None:
        return next((r for r in self.tables[table] if r[col] == value), None)

    def _r_RegisterDevice(self, identity: str, name: str, platform: str) -> None:
        now = self.clock_us
        existing = self._find("capture_device", "DeviceIdentity", identity)
        if existing is not None:
            existing.update(Status="online", LastHeartbeat=now)
        else:
            self._insert("capture_device", {
                "DeviceIdentity": identity, "Name": name, "Platform": platform,
                "Status": "online", "LastHeartbeat": now, "CreatedAt": now,
            })  # fmt: skip

    def _r_DeviceHeartbeat(self, identity: str) -> None:
        device = self._find("capture_device", "DeviceIdentity", identity)
        if device is not None:
            device["LastHeartbeat"] = self.clock_us

    def _r_UpdateDeviceStatus(self, identity: str, status: str) -> None:
        device = self._find("capture_device", "DeviceIdentity", identity)
        if device is not None:
            device.update(Status=status, LastHeartbeat=self.clock_us)

    def _r_StartSession(self, device_id: int, date: str, mode: str, audio_path: str) -> None:
        self._insert("audio_session", {
            "DeviceId": device_id, "Date": date, "Mode": mode, "Status": "recording",
            "AudioPath": audio_path, "StartedAt": self.clock_us, "EndedAt": None,
            "DurationMs": 0,
        })  # fmt: skip

    def _r_UpdateSessionStatus(self, session_id: int, status: str) -> None:
        session = self._find("audio_session", "Id", session_id)
        if session is not None:
            session["Status"] = status
            if status == "completed":
                session["EndedAt"] = self.clock_us

    def _r_UpdateSessionDuration(self, session_id: int, duration_ms: int) -> None:
        session = self._find("audio_session", "Id", session_id)
        if session is not None:
            session["DurationMs"] = duration_ms

    def _r_CreateEntry(self, session_id: int, entry_id: str, duration_ms: int,
                       transcript: str | None, confidence: float | None,
                       clip: str | None, start_ms: int, end_ms: int) -> None:  # fmt: skip
        now = self.clock_us
        self._insert("transcript_entry", {
            "SessionId": session_id, "EntryId": entry_id, "Timestamp": now,
            "DurationMs": duration_ms, "Transcript": transcript, "Confidence": confidence,
            "Speaker": None, "Sentiment": None, "Intent": None, "AudioClipPath": clip,
            "RecordingStartMs": start_ms, "RecordingEndMs": end_ms, "Reviewed": False,
            "Notes": None, "CreatedAt": now, "UpdatedAt": now, "EnrichedAt": None,
        })  # fmt: skip

    def _r_UpdateEntrySpeaker(self, entry_id: int, name: str) -> None:
        entry = self._find("transcript_entry", "Id", entry_id)
        if entry is not None:
            entry.update(Speaker=name, UpdatedAt=self.clock_us)

    def _r_UpdateEntrySpeakerByEntryId(self, entry_id: str, name: str) -> None:
        entry = self._find("transcript_entry", "EntryId", entry_id)
        if entry is not None:
            entry.update(Speaker=name, UpdatedAt=self.clock_us)

    def _r_CreateOrUpdateSpeaker(self, name: str, embedding: bytes | None) -> None:
        now = self.clock_us
        existing = self._find("speaker", "Name", name)
        if existing is not None:
            if embedding is not None:
                existing.update(Embedding=embedding, SampleCount=existing["SampleCount"] + 1)
            existing["UpdatedAt"] = now
        else:
            self._insert("speaker", {
                "Name": name, "SimilarityThreshold": 0.75, "Embedding": embedding,
                "SampleCount": 1 if embedding is not None else 0, "CreatedAt": now,
                "UpdatedAt": now,
            })  # fmt: skip

    def _r_CreateDiarizationSegment(self, entry_id: int, start_ms: int, end_ms: int,
                                    label: str, matched: str | None,
                                    confidence: float | None, text: str | None,
                                    embedding: bytes | None) -> None:  # fmt: skip
        self._insert("diarization_segment", {
            "EntryId": entry_id, "StartMs": start_ms, "EndMs": end_ms, "PyannoteLabel": label,
            "MatchedSpeaker": matched, "Confidence": confidence, "TranscriptSlice": text,
            "Embedding": embedding,
        })  # fmt: skip

    def _r_CreateFrame(self, session_id: int, frame_type: str, image_path: str,
                       detections: str, reviewed: bool, notes: str | None) -> None:  # fmt: skip
        now = self.clock_us
        self._insert("frame", {
            "SessionId": session_id, "Timestamp": now, "FrameType": frame_type,
            "ImagePath": image_path, "Detections": detections, "Reviewed": reviewed,
            "Notes": notes, "CreatedAt": now,
        })  # fmt: skip

    def _r_UpdateFrameDetections(self, frame_id: int, detections: str) -> None:
        frame = self._find("frame", "Id", frame_id)
        if frame is not None:
            frame.update(Detections=detections, Reviewed=True)

    # -- sql ----------------------------------------------------------------------------
    def _sql(self, log: Logged, db: str) -> _Answer:
        auth = self._auth(log)
        if isinstance(auth, _Answer):
            return auth
        if db != self.database:
            return _Answer(404, b"No such database.")
        try:
            text = log.body.decode("utf-8")
            with self._lock:
                results = [self._select(stmt) for stmt in _parse_sql(text)]
        except (_SqlError, UnicodeDecodeError) as exc:
            return _Answer(400, str(exc).encode())
        headers = {"spacetime-execution-duration-micros": "7"}
        return _Answer(200, json.dumps(results).encode(), "application/json", headers)

    def _select(self, stmt: _Select) -> dict[str, Any]:
        columns = TABLES.get(stmt.table)
        if columns is None:
            raise _SqlError(f"no such table: `{stmt.table}`")
        types = dict(columns)
        for col, lit in stmt.where:
            ty = types.get(col)
            if ty is None:
                raise _SqlError(f"`{col}` is not in scope")
            if ty not in ("u32", "string", "bool"):
                raise _SqlError(f"comparison on `{col}` of type {ty} is not supported here")
            ok = {
                "u32": isinstance(lit, int) and not isinstance(lit, bool),
                "string": isinstance(lit, str),
                "bool": isinstance(lit, bool),
            }[ty]
            if not ok:
                raise _SqlError(f"unexpected type: literal {lit!r} for column `{col}` ({ty})")
        chosen = list(columns) if stmt.columns is None else []
        for col in stmt.columns or ():
            if col not in types:
                raise _SqlError(f"`{col}` is not in scope")
            chosen.append((col, types[col]))
        rows = [
            [self._cell(ty, row[col]) for col, ty in chosen]
            for row in self.tables[stmt.table]
            if all(row[c] == v for c, v in stmt.where)
        ]
        return {
            "schema": {"elements": [{"name": {"some": c}, "algebraic_type": _type_json(t)}
                                    for c, t in chosen]},
            "rows": rows,
            "total_duration_micros": 7,
            "stats": {"rows_inserted": 0, "rows_deleted": 0, "rows_updated": 0},
        }  # fmt: skip

    def _cell(self, ty: str, v: Any) -> Any:
        compact = self.row_format == "compact"
        if ty.endswith("?"):
            if v is None:
                return [1, []] if compact else {"none": []}
            inner = self._cell(ty[:-1], v)
            return [0, inner] if compact else {"some": inner}
        if ty == "ts":
            return [v] if compact else {"__timestamp_micros_since_unix_epoch__": v}
        if ty == "bytes":
            return v.hex()
        return v


def _type_json(ty: str) -> Any:
    if ty.endswith("?"):
        return {"Sum": {"variants": [
            {"name": {"some": "some"}, "algebraic_type": _type_json(ty[:-1])},
            {"name": {"some": "none"}, "algebraic_type": {"Product": {"elements": []}}},
        ]}}  # fmt: skip
    if ty == "ts":
        return {"Product": {"elements": [{
            "name": {"some": "__timestamp_micros_since_unix_epoch__"},
            "algebraic_type": {"I64": []},
        }]}}  # fmt: skip
    if ty == "bytes":
        return {"Array": {"U8": []}}
    return {{"u32": "U32", "f32": "F32", "bool": "Bool", "string": "String"}[ty]: []}


# -- the SQL subset -------------------------------------------------------------------------
@dataclass
class _Select:
    table: str
    columns: list[str] | None  # None: *
    where: list[tuple[str, Any]]


_TOKEN = re.compile(
    r"""\s*(?:
        (?P<str>'(?:[^']|'')*')
      | (?P<qid>"(?:[^"]|"")*")
      | (?P<num>-?\d+)
      | (?P<id>[A-Za-z_][A-Za-z0-9_]*)
      | (?P<sym>[*,=;])
    )""",
    re.VERBOSE,
)


def _tokens(text: str) -> Iterator[tuple[str, Any]]:
    pos = 0
    text = text.rstrip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:
            raise _SqlError(f"sql parse error at {text[pos : pos + 20]!r}")
        pos = m.end()
        kind = m.lastgroup
        raw = m.group(kind or "")
        if kind == "str":
            yield "lit", raw[1:-1].replace("''", "'")
        elif kind == "qid":
            yield "id", raw[1:-1].replace('""', '"')
        elif kind == "num":
            yield "lit", int(raw)
        elif kind == "id":
            low = raw.lower()
            if low in ("true", "false"):
                yield "lit", low == "true"
            elif low in ("select", "from", "where", "and"):
                yield "kw", low
            else:
                yield "id", raw
        else:
            yield "sym", raw


def _parse_sql(text: str) -> list[_Select]:
    statements: list[list[tuple[str, Any]]] = [[]]
    for tok in _tokens(text):
        if tok == ("sym", ";"):
            statements.append([])
        else:
            statements[-1].append(tok)
    parsed = [_parse_select(toks) for toks in statements if toks]
    if not parsed:
        raise _SqlError("empty query")
    return parsed


def _parse_select(toks: list[tuple[str, Any]]) -> _Select:
    it = iter([*toks, ("end", None)])

    def expect(kind: str, value: Any = None) -> Any:
        got = next(it)
        if got[0] != kind or (value is not None and got[1] != value):
            raise _SqlError(f"sql parse error: expected {value or kind}, got {got[1]!r}")
        return got[1]

    expect("kw", "select")
    first = next(it)
    columns: list[str] | None
    if first == ("sym", "*"):
        columns = None
        expect("kw", "from")
    elif first[0] == "id":
        columns = [first[1]]
        while (tok := next(it)) == ("sym", ","):
            columns.append(expect("id"))
        if tok != ("kw", "from"):
            raise _SqlError(f"sql parse error: expected from, got {tok[1]!r}")
    else:
        raise _SqlError(f"sql parse error: unexpected {first[1]!r}")
    table = expect("id")
    where: list[tuple[str, Any]] = []
    tok = next(it)
    if tok == ("kw", "where"):
        while True:
            col = expect("id")
            expect("sym", "=")
            where.append((col, expect("lit")))
            tok = next(it)
            if tok != ("kw", "and"):
                break
    if tok[0] != "end":
        raise _SqlError(f"sql parse error: unexpected {tok[1]!r} (this fake's subset)")
    return _Select(table, columns, where)


# -- HTTP plumbing -------------------------------------------------------------------------
def _make_handler(fake: FakeSpacetime) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def setup(self) -> None:
            super().setup()
            with fake._lock:
                fake._sockets.add(self.connection)

        def finish(self) -> None:
            with contextlib.suppress(OSError):  # the client went away first
                super().finish()
            with fake._lock:
                fake._sockets.discard(self.connection)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib name
            pass

        def _body(self) -> bytes:
            length = self.headers.get("Content-Length")
            return self.rfile.read(int(length)) if length else b""

        def do_POST(self) -> None:
            log = Logged(
                "POST", self.path, "other", {k.lower(): v for k, v in self.headers.items()},
                self._body(),
            )  # fmt: skip
            with fake._lock:
                fake.requests.append(log)
            answer = fake.handle(log)
            if answer is None or fake._down.is_set():
                self.close_connection = True
                return
            log.status = answer.status
            self._send(answer)

        def _other(self) -> None:
            self._body()
            path = urlsplit(self.path).path
            known = path == "/v1/identity" or re.fullmatch(
                r"/v1/database/[^/]+/(sql|call/[^/]+)", path
            )
            self._send(_Answer(405 if known else 404))

        do_GET = do_PUT = do_DELETE = _other  # noqa: N815 - http.server's names

        def _send(self, answer: _Answer) -> None:
            try:
                self.send_response(answer.status)
                self.send_header("Content-Type", answer.content_type)
                self.send_header("Content-Length", str(len(answer.body)))
                for name, value in answer.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(answer.body)
                self.wfile.flush()
            except OSError:
                self.close_connection = True  # the client gave up (timed out) first

    return Handler
