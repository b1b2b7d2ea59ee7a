"""A source that says when its worker has built every input, then waits for the stop signal.

Bytewax builds all input partitions of a worker (binding every port) before it asks any
of them for items. This source has a partition on every worker; its first `next_batch`
marks `inputs:<worker index>` ready on the runtime, so whoever started the flow in the
background knows the ports are bound without sending them anything. It emits nothing.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bytewax.inputs import DynamicSource, StatelessSourcePartition
from typing_extensions import override

from ambient_flow.runtime import HostRuntime

__all__ = ["ReadySignalSource", "inputs_ready"]

_STOP_POLL = timedelta(milliseconds=50)


def inputs_ready(worker_index: int) -> str:
    """The name worker `worker_index` marks ready once its inputs are built."""
    return f"inputs:{worker_index}"


class _ReadyPartition(StatelessSourcePartition[None]):
    def __init__(self, runtime: HostRuntime, worker_index: int) -> None:
        self._runtime = runtime
        self._name = inputs_ready(worker_index)
        self._said = False

    @override
    def next_batch(self) -> list[None]:
        if self._runtime.stop.is_set():
            raise StopIteration
        if not self._said:
            self._said = True
            self._runtime.mark_ready(self._name)
        return []

    @override
    def next_awake(self) -> datetime | None:
        return datetime.now(UTC) + _STOP_POLL  # only the stop signal to look at


class ReadySignalSource(DynamicSource[None]):
    """Marks each worker's inputs ready on `runtime`; ends when `runtime.stop` is set."""

    def __init__(self, runtime: HostRuntime) -> None:
        self._runtime = runtime

    @override
    def build(self, step_id: str, worker_index: int, worker_count: int) -> _ReadyPartition:
        return _ReadyPartition(self._runtime, worker_index)
