"""Replay a `.zmqcap`: the same item shape as the live sources, recorded arrival times."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bytewax.inputs import FixedPartitionedSource, StatefulSourcePartition
from typing_extensions import override

from ambient_flow.capture.format import CaptureReader
from ambient_flow.protocol.messages import RawMessage
from ambient_flow.runtime import HostRuntime

__all__ = ["ReplaySource"]

logger = logging.getLogger(__name__)

BATCH = 256


class _ReplayPartition(StatefulSourcePartition[RawMessage, int]):
    def __init__(
        self, runtime: HostRuntime, reader: CaptureReader, start: int | None, realtime: bool
    ) -> None:
        self._runtime = runtime
        self._reader = reader
        self._records: Iterator[tuple[RawMessage, int]] = reader.records(start)
        self._offset = start if start is not None else reader.data_offset
        self._size = reader.path.stat().st_size
        self._realtime = realtime
        self._held: tuple[RawMessage, int] | None = None
        self._t0_wall: float | None = None
        self._t0_rec: int | None = None
        self._awake: datetime | None = None
        self._count = 0
        self._problems_seen = 0

    @override
    def next_batch(self) -> list[RawMessage]:
        if self._runtime.stop.is_set():
            raise StopIteration
        batch: list[RawMessage] = []
        self._awake = None
        while len(batch) < BATCH:
            item = self._held or next(self._records, None)
            self._held = None
            if item is None:
                self._count += len(batch)
                self._report(done=True)
                if batch:
                    return batch
                raise StopIteration
            msg, offset = item
            if self._realtime:
                due = self._due(msg)
                if due > 0:
                    self._held = item
                    self._awake = datetime.now(UTC) + timedelta(seconds=due)
                    break
            batch.append(msg)
            self._runtime.telemetry.raw(msg.channel, msg.size)
            self._offset = offset
        self._count += len(batch)
        self._report(done=False)
        return batch

    def _due(self, msg: RawMessage) -> float:
        """Seconds until `msg` is due at recorded pace (0 if it is due now)."""
        now = time.monotonic()
        if self._t0_wall is None or self._t0_rec is None:
            self._t0_wall, self._t0_rec = now, msg.received_ns
            return 0.0
        return max(0.0, self._t0_wall + (msg.received_ns - self._t0_rec) / 1e9 - now)

    def _report(self, *, done: bool) -> None:
        problems = self._reader.problems
        for p in problems[self._problems_seen :]:
            logger.warning(
                "%s: skipped %d damaged bytes at offset %d (%s)",
                self._reader.path,
                p.length,
                p.offset,
                p.detail,
            )
            self._runtime.telemetry.drop("capture_damaged")
        self._problems_seen = len(problems)
        self._runtime.telemetry.section(
            "replay",
            {
                "file": str(self._reader.path),
                "offset": self._offset,
                "size": self._size,
                "records": self._count,
                "problems": [p.detail for p in problems],
                "done": done,
            },
        )

    @override
    def next_awake(self) -> datetime | None:
        return self._awake

    @override
    def snapshot(self) -> int:
        return self._offset

    @override
    def close(self) -> None:
        self._records = iter(())


class ReplaySource(FixedPartitionedSource[RawMessage, int]):
    """Raw messages from a capture file, in file order, with their recorded arrival times.

    One partition (the file). Resume state is the byte offset after the last emitted
    record, so recovery continues exactly there. Modes: as fast as possible (the
    default, for tests) or `realtime=True`, paced by the recorded arrival times.
    The file header is checked here, at construction, so a wrong path fails at once.
    """

    def __init__(self, runtime: HostRuntime, path: str | Path, *, realtime: bool = False) -> None:
        self._runtime = runtime
        self._path = Path(path)
        self._realtime = realtime
        CaptureReader(self._path)  # raises CaptureError with a clear message

    @override
    def list_parts(self) -> list[str]:
        return ["capture"]

    @override
    def build_part(self, step_id: str, for_part: str, resume_state: int | None) -> _ReplayPartition:
        return _ReplayPartition(
            self._runtime, CaptureReader(self._path), resume_state, self._realtime
        )
