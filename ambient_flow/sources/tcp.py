"""Raw TCP :5558, the Godot `StreamPeerTCP` path: envelopes back to back.

One connection carries audio, video and control. Control records are answered on
the same connection (an envelope with header `{"type":"control", ...reply}` and an
empty payload). A record with impossible lengths closes only its own connection.
Everything runs inside `next_batch` on non-blocking sockets: no threads to leak.

Connections are kept by file descriptor (`_Conn`, with `conn_id` = `p<port>`, the
identity the flow sees), so whatever answers on a connection can find it again.

Bounded: `max_tcp_connections` at once (more are accepted and closed at once; when the
process is out of descriptors, accepting pauses, counted); unfinished records of all
connections together hold at most `max_tcp_buffer_bytes` (past it the connection holding
most is closed); a connection that completes no record for `tcp_idle_timeout_seconds`
is closed; each host gets `max_host_bytes_per_second`, the excess dropped and counted;
one batch takes at most `MAX_BATCH_BYTES`.
"""

from __future__ import annotations

import errno
import json
import logging
import selectors
import socket
import time
from dataclasses import dataclass, field
from datetime import datetime

from bytewax.inputs import FixedPartitionedSource, StatefulSourcePartition
from typing_extensions import override

from ambient_flow.errors import ProtocolError, StartupError
from ambient_flow.ports import port_hint
from ambient_flow.protocol.codec import EnvelopeStream, encode_envelope, parse_header
from ambient_flow.protocol.messages import RawMessage
from ambient_flow.runtime import HostRuntime
from ambient_flow.sources.control import ControlResponder
from ambient_flow.sources.receive_budget import ReceiveBudget
from ambient_flow.sources.results import TcpResults
from ambient_flow.telemetry import RateLimitedLog

__all__ = ["TcpSource"]

logger = logging.getLogger(__name__)

READ_BYTES = 256 * 1024
MAX_READS_PER_BATCH = 64
#: Most bytes of records one `next_batch` hands on.
MAX_BATCH_BYTES = 16 * 1024 * 1024
#: How long accepting pauses when the process is out of file descriptors (s).
ACCEPT_PAUSE_S = 0.5
#: How often idle connections are looked for (s).
IDLE_SWEEP_S = 1.0
#: accept() errors that mean "out of a resource", not "that one connection failed".
_RESOURCE_ERRNOS = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})
#: Replies waiting on a client that does not read are bounded; past this it is closed.
MAX_OUTBOX = 1024 * 1024
_CONTROL_MARK = b'"control"'


@dataclass(eq=False)
class _Conn:
    sock: socket.socket
    host: str
    port: int
    stream: EnvelopeStream
    #: Monotonic time of the accept or of the last complete record (the idle timeout).
    last_record: float = 0.0
    outbox: bytearray = field(default_factory=bytearray)
    #: The client a `hello` with a valid token bound this connection to (`--auth`).
    user: str = ""

    @property
    def conn_id(self) -> str:
        return f"p{self.port}"


class _TcpPartition(StatefulSourcePartition[RawMessage, None]):
    def __init__(self, runtime: HostRuntime, host: str, port: int) -> None:
        self._runtime = runtime
        self._settings = runtime.settings
        self._responder = ControlResponder(runtime)
        self._auth = runtime.auth
        self._results = TcpResults(runtime)
        self._log = RateLimitedLog(logger)
        self._conns: dict[int, _Conn] = {}
        self._sel = selectors.DefaultSelector()
        self._closed_by_reason: dict[str, int] = {}
        self._accepted = 0
        self._refused = 0
        self._accept_failed: dict[str, int] = {}
        self._accept_paused_until = 0.0
        self._next_sweep = 0.0
        rate = self._settings.max_host_bytes_per_second
        self._budget = ReceiveBudget(rate, 2 * rate)
        self._dropped = 0
        self._dropped_bytes = 0
        listener = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            listener.bind((host, port))
        except OSError as exc:
            listener.close()
            hint = (
                port_hint("tcp")
                if exc.errno == errno.EADDRINUSE
                else "check --bind / AMBIENT_FLOW_BIND (an address of this host, or *)"
            )
            raise StartupError(
                f"cannot bind the tcp port {host}:{port}: {exc.strerror}; {hint}"
            ) from exc
        listener.listen(128)
        listener.setblocking(False)
        self._listener = listener
        self._sel.register(listener, selectors.EVENT_READ, None)
        logger.info("listening for raw TCP on %s:%d", host, port)

    # -- the batch ------------------------------------------------------------------------
    @override
    def next_batch(self) -> list[RawMessage]:
        if self._runtime.stop.is_set():
            raise StopIteration
        batch: list[RawMessage] = []
        now = time.monotonic()
        if self._accept_paused_until and now >= self._accept_paused_until:
            self._accept_paused_until = 0.0
            self._sel.register(self._listener, selectors.EVENT_READ, None)
        if now >= self._next_sweep:
            self._next_sweep = now + IDLE_SWEEP_S
            self._close_idle(now)
        taken = 0
        for _ in range(MAX_READS_PER_BATCH):
            events = self._sel.select(timeout=0)
            if not events:
                break
            progressed = False
            for key, mask in events:
                if key.data is None:
                    self._accept()
                    progressed = True
                    continue
                conn: _Conn = key.data
                if mask & selectors.EVENT_WRITE:
                    self._flush(conn)
                if mask & selectors.EVENT_READ:
                    progressed |= self._read(conn, batch)
            taken = sum(m.size for m in batch)
            if not progressed or taken >= MAX_BATCH_BYTES:
                break
        self._enforce_buffer_budget()
        self._results.deliver(self._conns.values(), self._flush)
        self._publish()
        return batch

    def _accept(self) -> None:
        try:
            sock, addr = self._listener.accept()
        except BlockingIOError:
            return
        except OSError as exc:
            self._accept_error(exc)
            return
        if len(self._conns) >= self._settings.max_tcp_connections:
            self._refused += 1
            self._runtime.telemetry.drop("tcp_refused")
            self._log.log(
                logging.WARNING,
                "refused",
                "refused TCP connection from %s: %d open (max_tcp_connections)",
                addr[0],
                len(self._conns),
            )
            sock.close()
            return
        sock.setblocking(False)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conn = _Conn(
            sock,
            str(addr[0]),
            int(addr[1]),
            EnvelopeStream(self._settings.max_message_bytes),
            last_record=time.monotonic(),
        )
        self._conns[sock.fileno()] = conn
        self._sel.register(sock, selectors.EVENT_READ, conn)
        self._accepted += 1
        logger.debug("TCP connection from %s:%d", conn.host, conn.port)

    def _accept_error(self, exc: OSError) -> None:
        """accept() failed. Out of descriptors (or memory): pause accepting a moment, or the
        listener, still readable, would spin; counted either way."""
        name = errno.errorcode.get(exc.errno or 0, "error").lower()
        self._accept_failed[name] = self._accept_failed.get(name, 0) + 1
        self._runtime.telemetry.drop(f"tcp_accept_failed_{name}")
        self._log.log(logging.ERROR, f"accept:{name}", "TCP accept failed: %s", exc)
        if exc.errno in _RESOURCE_ERRNOS and not self._accept_paused_until:
            self._accept_paused_until = time.monotonic() + ACCEPT_PAUSE_S
            self._sel.unregister(self._listener)

    def _close_idle(self, now: float) -> None:
        timeout = self._settings.tcp_idle_timeout_seconds
        for conn in [c for c in self._conns.values() if now - c.last_record > timeout]:
            self._close(conn, "idle", f"no complete record for {timeout:g} s")

    def _enforce_buffer_budget(self) -> None:
        """Unfinished records over all connections hold at most `max_tcp_buffer_bytes`."""
        limit = self._settings.max_tcp_buffer_bytes
        while self._conns:
            pending = sum(c.stream.pending for c in self._conns.values())
            if pending <= limit:
                return
            worst = max(self._conns.values(), key=lambda c: c.stream.pending)
            self._close(
                worst, "buffer_budget", f"{worst.stream.pending} bytes of unfinished records"
            )

    def _read(self, conn: _Conn, batch: list[RawMessage]) -> bool:
        try:
            data = conn.sock.recv(READ_BYTES)
        except BlockingIOError:
            return False
        except OSError as exc:
            self._close(conn, "reset", str(exc))
            return False
        if not data:
            self._close(conn, "eof", "peer closed the connection")
            return False
        now_ns, mono_ns = time.time_ns(), time.monotonic_ns()
        records = conn.stream.feed(data)
        if records:
            conn.last_record = mono_ns / 1e9
        for record in records:
            if not self._budget.allow(conn.host, len(record)):
                self._over_budget(conn, len(record))
                continue
            kept, user = record, conn.user
            if self._auth.enabled:
                kept, name = self._auth.token_record(record)
                user = name or user
            batch.append(self._raw(conn, kept, now_ns, mono_ns, user))
            self._maybe_answer_control(conn, record, user)
        error = conn.stream.error
        if error is not None:
            # Record what broke it, so the capture and the reject counters see it too.
            # (Only its prefix when credentials travel on the wire: what follows may hold one.)
            kept = conn.stream.peek(8 if self._auth.enabled else 64)
            batch.append(self._raw(conn, kept, now_ns, mono_ns, conn.user))
            self._close(conn, error.reason, error.detail)
        return True

    def _over_budget(self, conn: _Conn, size: int) -> None:
        self._dropped += 1
        self._dropped_bytes += size
        self._runtime.telemetry.drop("receive_budget_tcp")
        self._log.log(
            logging.WARNING,
            f"budget:{conn.host}",
            "tcp: host %s sends more than %d bytes/s; dropping",
            conn.host,
            self._settings.max_host_bytes_per_second,
        )

    def _raw(
        self, conn: _Conn, record: bytes, now_ns: int, mono_ns: int, user: str = ""
    ) -> RawMessage:
        self._runtime.telemetry.raw("tcp", len(record))
        return RawMessage("tcp", (record,), now_ns, mono_ns, conn.host, conn.conn_id, user)

    def _maybe_answer_control(self, conn: _Conn, record: bytes, user: str) -> None:
        header_len = int.from_bytes(record[:4], "big")
        header = record[8 : 8 + header_len]
        if _CONTROL_MARK not in header:  # cheap pre-check; audio/video never pay for JSON here
            return
        try:
            fields = parse_header(header)
        except ProtocolError:
            return  # not a control record the server can read; the parser rejects it downstream
        if fields.get("type") != "control":
            return
        if user and fields.get("cmd") == "hello":
            conn.user = user  # the token in this hello binds the connection to its client
        reply = self._responder.reply(header, f"{conn.host}:{conn.port}", user, transport="tcp")
        head = json.dumps({"type": "control", **reply}, default=str).encode("utf-8")
        conn.outbox += encode_envelope(head, b"")
        # With --auth the results go to the client the credential names.
        self._results.on_reply(conn, {**fields, "client": user} if user else fields, reply)
        self._flush(conn)

    def _flush(self, conn: _Conn) -> None:
        try:
            sent = conn.sock.send(conn.outbox) if conn.outbox else 0
        except BlockingIOError:
            sent = 0
        except OSError as exc:
            self._close(conn, "reset", str(exc))
            return
        del conn.outbox[:sent]
        if len(conn.outbox) > MAX_OUTBOX:
            self._close(conn, "outbox_full", "client does not read its control replies")
            return
        want = selectors.EVENT_READ | (selectors.EVENT_WRITE if conn.outbox else 0)
        if conn.sock.fileno() in self._conns:
            self._sel.modify(conn.sock, want, conn)

    def _close(self, conn: _Conn, reason: str, detail: str) -> None:
        fd = conn.sock.fileno()
        if self._conns.pop(fd, None) is None:
            return
        self._sel.unregister(conn.sock)
        conn.sock.close()
        self._results.forget(conn)
        self._closed_by_reason[reason] = self._closed_by_reason.get(reason, 0) + 1
        if reason not in ("eof", "reset"):
            self._runtime.telemetry.drop(f"tcp_closed_{reason}")
            self._log.log(
                logging.WARNING,
                reason,
                "closed TCP connection %s:%d: %s (%s)",
                conn.host,
                conn.port,
                reason,
                detail,
            )
        else:
            pending = conn.stream.pending
            if pending:  # a record cut off by the disconnect
                self._runtime.telemetry.drop("tcp_partial_record")
                logger.info(
                    "TCP %s:%d closed mid-record (%d bytes discarded)",
                    conn.host,
                    conn.port,
                    pending,
                )

    def _publish(self) -> None:
        self._runtime.telemetry.section(
            "tcp",
            {
                "connections": len(self._conns),
                "accepted": self._accepted,
                "refused": self._refused,
                "accept_failed": dict(self._accept_failed),
                "accepting": not self._accept_paused_until,
                "closed": dict(self._closed_by_reason),
                "pending_bytes": sum(c.stream.pending for c in self._conns.values()),
                "budget_dropped": self._dropped,
                "budget_dropped_bytes": self._dropped_bytes,
            },
        )

    @override
    def next_awake(self) -> datetime | None:
        return None

    @override
    def snapshot(self) -> None:
        return None

    @override
    def close(self) -> None:
        for conn in list(self._conns.values()):
            self._close(conn, "shutdown", "server stopping")
        self._sel.close()
        self._listener.close()


class TcpSource(FixedPartitionedSource[RawMessage, None]):
    """Raw envelopes from TCP connections; one partition (the listening socket).

    Delivery: at most once. Each complete envelope is emitted as one raw `tcp`
    message; control records are also answered in place.
    """

    def __init__(self, runtime: HostRuntime, host: str, port: int) -> None:
        self._runtime = runtime
        self._host = "0.0.0.0" if host == "*" else host
        self._port = port

    @override
    def list_parts(self) -> list[str]:
        return [f"tcp@{self._host}:{self._port}"]  # one per bound address (docs/cluster.md)

    @override
    def build_part(self, step_id: str, for_part: str, resume_state: None) -> _TcpPartition:
        return _TcpPartition(self._runtime, self._host, self._port)
