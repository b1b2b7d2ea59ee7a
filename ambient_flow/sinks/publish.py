"""Enrichments out as they happen: a ZeroMQ PUB stream (`--pub-port`, default 5559).

Each enrichment goes out as two ZeroMQ frames: the client name as the topic (subscribe
to a prefix to follow one client), then the protocol envelope with the enrichment as its
JSON header and an empty payload — the same envelope clients send, so one decoder reads
both. PUB drops rather than blocks: a subscriber that reads too slowly misses lines
(`frames.jsonl` has them all).
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

__all__ = ["PUB_READY", "EnrichmentPublisher"]

logger = logging.getLogger(__name__)

#: The name the PUB partition marks ready (`HostRuntime.mark_ready`) once it is bound.
PUB_READY = "pub"


class _PubPartition(StatefulSinkPartition[Enrichment | str, None]):
    def __init__(self, runtime: HostRuntime, endpoint: str) -> None:
        sock = runtime.context.socket(zmq.PUB)
        sock.setsockopt(zmq.LINGER, 0)
        sock.setsockopt(zmq.SNDHWM, 10000)
        bind_or_explain(sock, endpoint, "pub")
        self._sock = sock
        self._runtime = runtime
        runtime.mark_ready(PUB_READY)
        logger.info("publishing enrichments on %s (ZeroMQ PUB, topic = client)", endpoint)

    @override
    def write_batch(self, values: list[Enrichment | str]) -> None:
        for enrichment in values:
            if not isinstance(enrichment, Enrichment):
                continue  # the start-up signal that had this partition built (and bound)
            header = json.dumps(enrichment.to_record(), ensure_ascii=False).encode("utf-8")
            try:
                self._sock.send_multipart(
                    [enrichment.client.encode("utf-8"), encode_envelope(header, b"")], zmq.NOBLOCK
                )
            except zmq.Again:  # a PUB never blocks; a subscriber that is too slow misses lines
                self._runtime.telemetry.drop("pub_hwm")

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

    def __init__(self, runtime: HostRuntime, endpoint: str) -> None:
        self._runtime = runtime
        self._endpoint = endpoint

    @override
    def list_parts(self) -> list[str]:
        return ["pub"]

    @override
    def part_fn(self, item_key: str) -> int:
        return 0

    @override
    def build_part(self, step_id: str, for_part: str, resume_state: None) -> _PubPartition:
        return _PubPartition(self._runtime, self._endpoint)
