"""Enrichments out as they happen: a ZeroMQ PUB stream (`--pub-port`, default 5559).

Each enrichment goes out as two ZeroMQ frames: the client name as the topic (subscribe
to a prefix to follow one client), then the protocol envelope with the enrichment as its
JSON header and an empty payload — the same envelope clients send, so one decoder reads
both. The socket is an XPUB, so SUB clients connect as to any PUB.

Nothing is dropped uncounted: the socket refuses (`XPUB_NODROP`) a line that a
subscriber of its topic has no room for (10,000 lines behind, plus the kernel's
buffers), and the line is then dropped for that topic and counted (`pub_hwm` drops);
`frames.jsonl` has them all. (libzmq cannot send a line to some subscribers of a topic
and count who missed it: a lossy send would drop silently for the slow one.) So a
subscriber far behind holds up its topic; with `--auth` a subscriber sees, and can
hold up, only its own client's topic.

With `--auth token|curve` subscribers authenticate (PLAIN name + token, or CURVE) and
see only what they may: their subscriptions are applied by this sink (`XPUB_MANUAL`),
narrowed to their own client's topic; an admin may follow anyone.
"""

from __future__ import annotations

import json
import logging

import zmq
from bytewax.outputs import FixedPartitionedSink, StatefulSinkPartition
from typing_extensions import override

from ambient_flow.operators.attribution import Enrichment
from ambient_flow.ports import bind_or_explain
from ambient_flow.protocol.codec import encode_envelope
from ambient_flow.runtime import HostRuntime
from ambient_flow.telemetry import RateLimitedLog

__all__ = ["PUB_READY", "EnrichmentPublisher"]

logger = logging.getLogger(__name__)

#: The name the PUB partition marks ready (`HostRuntime.mark_ready`) once it is bound.
PUB_READY = "pub"

#: Subscription messages read per batch (each is one byte plus a topic).
_MAX_SUBSCRIPTIONS = 1024


class _PubPartition(StatefulSinkPartition[Enrichment | str, None]):
    def __init__(self, runtime: HostRuntime, endpoint: str, sndhwm: int = 10000) -> None:
        sock = runtime.context.socket(zmq.XPUB)
        sock.setsockopt(zmq.LINGER, 0)
        sock.setsockopt(zmq.SNDHWM, sndhwm)
        sock.setsockopt(zmq.XPUB_NODROP, 1)
        self._auth = runtime.auth
        if self._auth.enabled:
            sock.setsockopt(zmq.XPUB_MANUAL, 1)
            self._auth.secure(sock, publisher=True)
        bind_or_explain(sock, endpoint, "pub")
        self._sock = sock
        self._runtime = runtime
        self._log = RateLimitedLog(logger)
        self._counts = {"subscriptions": 0, "refused": 0, "sent": 0, "missed": 0}
        runtime.mark_ready(PUB_READY)
        logger.info("publishing enrichments on %s (ZeroMQ PUB, topic = client)", endpoint)

    @override
    def write_batch(self, values: list[Enrichment | str]) -> None:
        self._subscriptions()
        for enrichment in values:
            if not isinstance(enrichment, Enrichment):
                continue  # the start-up signal that had this partition built (and bound)
            header = json.dumps(enrichment.to_record(), ensure_ascii=False).encode("utf-8")
            self._send([enrichment.client.encode("utf-8"), encode_envelope(header, b"")])
        self._runtime.telemetry.section("pub", dict(self._counts))

    def _send(self, parts: list[bytes]) -> None:
        sock = self._sock
        try:
            sock.send_multipart(parts, zmq.NOBLOCK)
        except zmq.Again:  # a subscriber of this topic has no room: dropped, counted
            self._counts["missed"] += 1
            self._runtime.telemetry.drop("pub_hwm")
            return
        self._counts["sent"] += 1

    def _subscriptions(self) -> None:
        """Read (un)subscriptions; with `--auth`, apply each as the subscriber may."""
        sock = self._sock
        for _ in range(_MAX_SUBSCRIPTIONS):
            try:
                msg = sock.recv(zmq.NOBLOCK, copy=False)
            except zmq.Again:
                return
            data = msg.bytes
            if not data or data[0] not in (0, 1):
                continue
            subscribe, topic = data[0] == 1, data[1:]
            self._counts["subscriptions"] += 1 if subscribe else 0
            if self._auth.enabled:
                self._apply(msg, subscribe, topic)

    def _apply(self, msg: zmq.Frame, subscribe: bool, topic: bytes) -> None:
        """XPUB_MANUAL: (un)subscribe the pipe that just spoke, to what it may see."""
        try:
            user = str(msg.get("User-Id"))
        except zmq.ZMQError:
            user = ""
        own = user.encode("utf-8")
        if self._auth.is_admin(user):
            allowed: bytes | None = topic
        elif user and own.startswith(topic):
            allowed = own  # everything it may see: its own client (`b""` included)
        else:
            allowed = None
        if allowed is None:
            self._counts["refused"] += 1
            self._runtime.telemetry.drop("pub_subscription_refused")
            self._log.log(
                logging.WARNING,
                f"sub:{user}",
                "refused %r a subscription to %r",
                user,
                topic[:64],
            )
            return
        self._sock.setsockopt(zmq.SUBSCRIBE if subscribe else zmq.UNSUBSCRIBE, allowed)

    @override
    def snapshot(self) -> None:
        return None

    @override
    def close(self) -> None:
        self._sock.close(linger=0)


class EnrichmentPublisher(FixedPartitionedSink[Enrichment | str, None]):
    """Publishes enrichments on one PUB socket (one partition: bound once in the cluster).

    Other items (the flow's start-up signal) only make Bytewax build the partition, so
    the socket is bound before the first enrichment and early subscribers miss nothing.
    """

    def __init__(self, runtime: HostRuntime, endpoint: str, sndhwm: int = 10000) -> None:
        self._runtime = runtime
        self._endpoint = endpoint
        self._sndhwm = sndhwm

    @override
    def list_parts(self) -> list[str]:
        return ["pub"]

    @override
    def part_fn(self, item_key: str) -> int:
        return 0

    @override
    def build_part(self, step_id: str, for_part: str, resume_state: None) -> _PubPartition:
        return _PubPartition(self._runtime, self._endpoint, self._sndhwm)
