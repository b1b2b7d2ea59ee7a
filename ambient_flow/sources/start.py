"""A source that emits one item when the flow starts, then waits for the stop signal.

Bytewax builds a sink's partition when the first item reaches it. A sink that must be
ready before any data arrives — the PUB socket subscribers connect to — is sent this
one item at start-up, so its socket is bound while the host comes up.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bytewax.inputs import FixedPartitionedSource, StatefulSourcePartition
from typing_extensions import override

from ambient_flow.runtime import HostRuntime

__all__ = ["STARTED", "StartSignalSource"]

STARTED = "started"


class _StartPartition(StatefulSourcePartition[str, None]):
    def __init__(self, runtime: HostRuntime) -> None:
        self._runtime = runtime
        self._sent = False

    @override
    def next_batch(self) -> list[str]:
        if self._runtime.stop.is_set():
            raise StopIteration
        if self._sent:
            return []
        self._sent = True
        return [STARTED]

    @override
    def next_awake(self) -> datetime | None:
        # Nothing more to emit: look at the stop signal only every 50 ms.
        return datetime.now(UTC) + timedelta(milliseconds=50) if self._sent else None

    @override
    def snapshot(self) -> None:
        return None


class StartSignalSource(FixedPartitionedSource[str, None]):
    """One `"started"` item at start-up; ends when `runtime.stop` is set (live flows only)."""

    def __init__(self, runtime: HostRuntime) -> None:
        self._runtime = runtime

    @override
    def list_parts(self) -> list[str]:
        return ["start"]

    @override
    def build_part(self, step_id: str, for_part: str, resume_state: None) -> _StartPartition:
        return _StartPartition(self._runtime)
