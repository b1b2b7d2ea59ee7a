"""The control channel: ZeroMQ REP :5557, answered in the source itself.

A REP socket must answer every request or it stops serving, so replies are made
here, from the server's settings and live telemetry, never left to the flow. The
raw request is also emitted as an item, so hello/heartbeat/bye reach the per-client
state (liveness) and the capture like any other message.
"""

from __future__ import annotations

import json
import logging
import time
from datetime import datetime
from typing import Any, Literal

import zmq
from bytewax.inputs import FixedPartitionedSource, StatefulSourcePartition
from typing_extensions import override

from ambient_flow.errors import ProtocolError
from ambient_flow.ports import bind_or_explain
from ambient_flow.protocol.control import error_reply, parse_control
from ambient_flow.protocol.messages import RawMessage
from ambient_flow.protocol.results import results_reply, wants_results
from ambient_flow.runtime import HostRuntime
from ambient_flow.sources.zmq_pull import MAX_BATCH, peer_address

__all__ = ["ControlResponder", "ControlSource", "own_view"]

logger = logging.getLogger(__name__)


class ControlResponder:
    """Builds the reply to one control request (shared by the REP and TCP paths).

    With `--auth token|curve`, `user` is the client the source checked the request's
    credential for: without one every request is refused (`unauthenticated`), and
    `stats` shows everything only to an admin; anyone else sees its own client.
    """

    def __init__(self, runtime: HostRuntime) -> None:
        self._runtime = runtime

    def reply(
        self,
        request: bytes,
        peer: str,
        user: str = "",
        *,
        transport: Literal["tcp", "zmq"] = "zmq",
    ) -> dict[str, Any]:
        runtime = self._runtime
        runtime.telemetry.control()
        try:
            req = parse_control(request)
        except ProtocolError as exc:
            # Only answered here: the raw request also goes into the flow, where the
            # parser rejects it again and counts and logs it like any bad message.
            return error_reply(str(exc))
        auth = runtime.auth
        if auth.enabled and not user:
            # Counted in the flow, which rejects the same request as `unauthenticated`.
            return error_reply(f"unauthenticated: --auth {auth.mode} needs a valid credential")
        settings = runtime.settings
        if req.command in ("hello", "get_config"):
            reply: dict[str, Any] = {"status": "ok", "config": settings.client_config()}
            if wants_results(req.body):
                # With --auth the client is who the credential says, whatever the body names.
                body = {**req.body, "client": user} if user else req.body
                reply["results"] = results_reply(
                    body, transport=transport, enrich=settings.enrich,
                    pub_port=settings.pub_port, auth=auth.mode,
                )  # fmt: skip
            return reply
        if req.command == "heartbeat":
            return {"status": "ok", "ts": runtime.clock() // 1_000_000}
        if req.command == "stats":
            stats = runtime.telemetry.status()
            if auth.enabled and not auth.is_admin(user):
                stats = own_view(stats, user)
            return {"status": "ok", "stats": stats}
        return {"status": "ok"}  # bye


def own_view(stats: dict[str, Any], user: str) -> dict[str, Any]:
    """What a client that is not an admin may see of the status document: itself."""
    mine = stats.get("clients", {}).get(user)
    return {
        "time": stats.get("time"),
        "client": user,
        "clients": {user: mine} if mine is not None else {},
        "client_count": stats.get("client_count"),
    }


class _ControlPartition(StatefulSourcePartition[RawMessage, None]):
    def __init__(self, runtime: HostRuntime, endpoint: str) -> None:
        self._runtime = runtime
        self._responder = ControlResponder(runtime)
        sock = runtime.context.socket(zmq.REP)
        sock.setsockopt(zmq.LINGER, 0)
        sock.setsockopt(zmq.MAXMSGSIZE, 1024 * 1024)
        self._auth = runtime.auth
        self._auth.secure(sock)
        bind_or_explain(sock, endpoint, "control")
        self._sock = sock
        runtime.telemetry.section("control_port", {"endpoint": endpoint, "auth": self._auth.mode})
        logger.info("answering control on %s (ZeroMQ REP)", endpoint)

    @override
    def next_batch(self) -> list[RawMessage]:
        if self._runtime.stop.is_set():
            raise StopIteration
        batch: list[RawMessage] = []
        for _ in range(MAX_BATCH):
            try:
                parts = self._sock.recv_multipart(zmq.NOBLOCK, copy=False)
            except zmq.Again:
                break
            kept, user = self._auth.zmq_message(
                parts[0], [p.bytes for p in parts[:3]], control=True
            )
            raw = RawMessage(
                channel="control",
                parts=kept,
                received_ns=time.time_ns(),
                monotonic_ns=time.monotonic_ns(),
                peer_host=peer_address(parts[0]),
                peer_conn=f"fd{parts[0].get(zmq.SRCFD)}",
                user=user,
            )
            self._runtime.telemetry.raw("control", raw.size)
            if len(parts) == 1:
                reply = self._responder.reply(parts[0].bytes, raw.peer, user)
            else:
                # Counted once, in the flow, where the parser rejects the raw request too.
                reply = error_reply(f"frame_count: a control request is 1 part, got {len(parts)}")
            self._sock.send(json.dumps(reply, default=str).encode("utf-8"))
            batch.append(raw)
        return batch

    @override
    def next_awake(self) -> datetime | None:
        return None

    @override
    def snapshot(self) -> None:
        return None

    @override
    def close(self) -> None:
        self._sock.close(linger=0)


class ControlSource(FixedPartitionedSource[RawMessage, None]):
    """Control requests from a ZeroMQ REP socket, answered immediately, emitted raw.

    One partition (the REP socket), built on one worker.
    """

    def __init__(self, runtime: HostRuntime, endpoint: str) -> None:
        self._runtime = runtime
        self._endpoint = endpoint

    @override
    def list_parts(self) -> list[str]:
        return [f"control@{self._endpoint}"]  # one per bound address (docs/cluster.md)

    @override
    def build_part(self, step_id: str, for_part: str, resume_state: None) -> _ControlPartition:
        return _ControlPartition(self._runtime, self._endpoint)
