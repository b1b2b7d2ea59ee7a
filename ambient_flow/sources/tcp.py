"""Raw TCP :5558, the Godot `StreamPeerTCP` path: envelopes back to back.

One connection carries audio, video and control. Control records are answered on
the same connection (an envelope with header `{"type":"control", ...reply}` and an
empty payload). A record with impossible lengths closes only its own connection.
Everything runs inside `next_batch` on non-blocking sockets: no threads to leak.
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
from ambient_flow.telemetry import RateLimitedLog

__all__ = ["TcpSource"]

logger = logging.getLogger(__name__)

READ_BYTES = 256 * 1024
MAX_READS_PER_BATCH = 64
#: Replies waiting on a client that does not read are bounded; past this it is closed.
MAX_OUTBOX = 1024 * 1024
_CONTROL_MARK = b'"control"'


@dataclass(eq=False)
class _Conn:
    sock: socket.socket
    host: str
    port: int
    stream: EnvelopeStream
    outbox: bytearray = field(default_factory=bytearray)

    @property
    def conn_id(self) -> str:
        return f"p{self.port}"


class _TcpPartition(StatefulSourcePartition[RawMessage, None]):
    def __init__(self, runtime: HostRuntime, host: str, port: int) -> None:
        self._runtime = runtime
        self._settings = runtime.settings
        self._responder = ControlResponder(runtime)
        self._log = RateLimitedLog(logger)
        self._conns: dict[int, _Conn] = {}
        self._sel = selectors.DefaultSelector()
        self._closed_by_reason: dict[str, int] = {}
        self._accepted = 0
        self._refused = 0
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
            if not progressed:
                break
        self._publish()
        return batch

    def _accept(self) -> None:
        try:
            sock, addr = self._listener.accept()
        except BlockingIOError:
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
            sock, str(addr[0]), int(addr[1]), EnvelopeStream(self._settings.max_message_bytes)
        )
        self._conns[sock.fileno()] = conn
        self._sel.register(sock, selectors.EVENT_READ, conn)
        self._accepted += 1
        logger.debug("TCP connection from %s:%d", conn.host, conn.port)

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
        for record in conn.stream.feed(data):
            batch.append(self._raw(conn, record, now_ns, mono_ns))
            self._maybe_answer_control(conn, record)
        error = conn.stream.error
        if error is not None:
            # Record what broke it, so the capture and the reject counters see it too.
            batch.append(self._raw(conn, conn.stream.peek(), now_ns, mono_ns))
            self._close(conn, error.reason, error.detail)
        return True

    def _raw(self, conn: _Conn, record: bytes, now_ns: int, mono_ns: int) -> RawMessage:
        self._runtime.telemetry.raw("tcp", len(record))
        return RawMessage("tcp", (record,), now_ns, mono_ns, conn.host, conn.conn_id)

    def _maybe_answer_control(self, conn: _Conn, record: bytes) -> None:
        header_len = int.from_bytes(record[:4], "big")
        header = record[8 : 8 + header_len]
        if _CONTROL_MARK not in header:  # cheap pre-check; audio/video never pay for JSON here
            return
        try:
            kind = parse_header(header).get("type")
        except ProtocolError:
            return  # not a control record the server can read; the parser rejects it downstream
        if kind != "control":
            return
        reply = self._responder.reply(header, f"{conn.host}:{conn.port}")
        head = json.dumps({"type": "control", **reply}, default=str).encode("utf-8")
        conn.outbox += encode_envelope(head, b"")
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
                "closed": dict(self._closed_by_reason),
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
        return ["tcp"]

    @override
    def build_part(self, step_id: str, for_part: str, resume_state: None) -> _TcpPartition:
        return _TcpPartition(self._runtime, self._host, self._port)
