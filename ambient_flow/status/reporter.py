"""The status reporter's place in the live dataflow: a timer that emits nothing.

Bytewax gives an input what a reporter needs: it is built on one worker per bind address
(so each host of a cluster writes its own status.json and binds its metrics port, and
processes sharing an address share one), it is woken at the time it asks for
(`next_awake`), and it is closed when the flow ends (a final write). It reads the
telemetry; it never emits an item. The document is built and written on a thread of its
own (`StatusFile.write_soon`): a tick costs the worker O(1), whatever the client count.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from bytewax.inputs import FixedPartitionedSource, StatefulSourcePartition
from typing_extensions import override

from ambient_flow.runtime import HostRuntime
from ambient_flow.status.file import StatusFile
from ambient_flow.status.host_run import HostRunFile
from ambient_flow.status.metrics import MetricsServer

__all__ = ["StatusReporter"]

_STOP_POLL = timedelta(milliseconds=100)


class _ReporterPartition(StatefulSourcePartition[None, None]):
    def __init__(self, runtime: HostRuntime) -> None:
        settings = runtime.settings
        self._runtime = runtime
        self._interval = timedelta(seconds=settings.status_interval)
        self._file = StatusFile(Path(settings.data_dir) / "status.json", runtime.telemetry.status)
        started = runtime.host_run.started_ns if runtime.host_run else 0
        self._run = HostRunFile(settings.data_dir, started_ns=started)
        port = settings.metrics_port
        self._metrics = (
            MetricsServer(runtime.telemetry.registry, settings.bind, port) if port else None
        )
        self._next = datetime.now(UTC)

    @override
    def next_batch(self) -> list[None]:
        if self._runtime.stop.is_set():
            raise StopIteration
        now = datetime.now(UTC)
        if now >= self._next:
            self._file.write_soon()  # built and written off the worker: O(1) here
            self._run.alive()
            self._next = now + self._interval
        return []

    @override
    def next_awake(self) -> datetime | None:
        # Also look at the stop signal every 100 ms, so the flow ends promptly.
        return min(self._next, datetime.now(UTC) + _STOP_POLL)

    @override
    def snapshot(self) -> None:
        return None

    @override
    def close(self) -> None:
        self._file.wait()
        self._file.write()
        self._run.stop()
        if self._metrics is not None:
            self._metrics.stop()


class StatusReporter(FixedPartitionedSource[None, None]):
    """Writes `status.json` every `status_interval` s and serves metrics (live flows)."""

    def __init__(self, runtime: HostRuntime) -> None:
        self._runtime = runtime

    @override
    def list_parts(self) -> list[str]:
        # One per bind address: each host of a cluster reports its own process.
        return [f"status@{self._runtime.settings.bind}"]

    @override
    def build_part(self, step_id: str, for_part: str, resume_state: None) -> _ReporterPartition:
        return _ReporterPartition(self._runtime)
