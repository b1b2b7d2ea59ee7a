"""Record raw messages into a capture (`.zmqcap`): the live flow's `--record`."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from bytewax.outputs import FixedPartitionedSink, StatefulSinkPartition
from typing_extensions import override

from ambient_flow.capture.format import CaptureWriter
from ambient_flow.protocol.messages import RawMessage

__all__ = ["RecordSink"]

logger = logging.getLogger(__name__)


class _RecordPartition(StatefulSinkPartition[RawMessage, None]):
    def __init__(self, path: Path, meta: dict[str, Any]) -> None:
        self._writer = CaptureWriter(path, meta)
        logger.info("recording everything received to %s", path)

    @override
    def write_batch(self, values: list[RawMessage]) -> None:
        for msg in values:
            self._writer.write(msg)
        self._writer.flush()  # one flush per batch: a kill -9 loses at most this batch

    @override
    def snapshot(self) -> None:
        return None

    @override
    def close(self) -> None:
        self._writer.close()
        logger.info(
            "capture %s: %d records, %.1f MB",
            self._writer.path,
            self._writer.records,
            self._writer.bytes / 1e6,
        )


class RecordSink(FixedPartitionedSink[RawMessage, None]):
    """Writes every raw message to one capture (`.zmqcap`) file.

    One partition, so one worker in the cluster owns the file and all raw messages
    are routed to it; within one source partition the file keeps arrival order.
    """

    def __init__(self, path: str | Path, meta: dict[str, Any] | None = None) -> None:
        self._path = Path(path)
        self._meta = dict(meta or {})

    @override
    def list_parts(self) -> list[str]:
        return ["capture"]

    @override
    def part_fn(self, item_key: str) -> int:
        return 0

    @override
    def build_part(self, step_id: str, for_part: str, resume_state: None) -> _RecordPartition:
        return _RecordPartition(self._path, self._meta)
