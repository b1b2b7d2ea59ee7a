"""Each enrichment to the raw-TCP connections of its client that asked for results.

Encodes an enrichment once (`protocol.results.encode_result`) when some connection is
subscribed to its client and offers it to the runtime's `BackChannel`, which the TCP
source drains. Never waits: the back channel is bounded per connection.
"""

from __future__ import annotations

from bytewax.outputs import DynamicSink, StatelessSinkPartition
from typing_extensions import override

from ambient_flow.backchannel import BackChannel
from ambient_flow.operators.attribution import Enrichment
from ambient_flow.protocol.results import encode_result
from ambient_flow.runtime import HostRuntime

__all__ = ["ResultsSink"]


class _ResultsPartition(StatelessSinkPartition[tuple[str, Enrichment]]):
    def __init__(self, channel: BackChannel) -> None:
        self._channel = channel

    @override
    def write_batch(self, items: list[tuple[str, Enrichment]]) -> None:
        for _, enrichment in items:
            if self._channel.wants(enrichment.client):
                self._channel.offer(enrichment.client, encode_result(enrichment.to_record()))


class ResultsSink(DynamicSink[tuple[str, Enrichment]]):
    """Offers enrichments to the back channel, on every worker."""

    def __init__(self, runtime: HostRuntime) -> None:
        self._runtime = runtime

    @override
    def build(self, step_id: str, worker_index: int, worker_count: int) -> _ResultsPartition:
        return _ResultsPartition(self._runtime.back_channel)
