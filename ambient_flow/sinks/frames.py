"""Enrichment frames out: `frames.jsonl` per session, and a ZeroMQ PUB stream.

`frames.jsonl` sits beside the session's audio.wav and events.jsonl; one JSON object
per line (schema in docs/frames.md), flushed after every batch; `models.json` beside it
names the models that made them (path, sha256, options). The PUB endpoint sends
each frame as two ZeroMQ frames: the client name as the topic (subscribe to a prefix to
follow one client), then the protocol envelope with the frame as its JSON header and an
empty payload — the same envelope clients send, so one decoder reads both.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import zmq
from bytewax.outputs import (
    DynamicSink,
    FixedPartitionedSink,
    StatefulSinkPartition,
    StatelessSinkPartition,
)
from typing_extensions import override

from ambient_flow.operators.attribution import Frame
from ambient_flow.protocol.codec import encode_envelope
from ambient_flow.sinks.session import SESSIONS_DIR, safe_session_name
from ambient_flow.sources.runtime import HostRuntime
from ambient_flow.sources.zmq_pull import bind_or_explain
from ambient_flow.telemetry import RateLimitedLog

__all__ = ["FRAMES_FILE", "FramePublisher", "FramesSink"]

logger = logging.getLogger(__name__)

FRAMES_FILE = "frames.jsonl"


def _line(frame: Frame) -> str:
    return json.dumps(frame.to_record(), ensure_ascii=False, separators=(", ", ": ")) + "\n"


MODELS_FILE = "models.json"


class _FramesPartition(StatelessSinkPartition[tuple[str, Frame]]):
    def __init__(self, root: Path, models: Callable[[], dict[str, Any]] | None) -> None:
        self._root = root
        self._models = models
        self._files: dict[str, IO[str]] = {}  # session -> open frames.jsonl
        self._log = RateLimitedLog(logger)

    @override
    def write_batch(self, items: list[tuple[str, Frame]]) -> None:
        touched: set[str] = set()
        for _client, frame in items:
            fh = self._file(frame.session_id)
            if fh is None:
                continue
            fh.write(_line(frame))
            touched.add(frame.session_id)
        for session in touched:
            self._files[session].flush()

    def _file(self, session: str) -> IO[str] | None:
        fh = self._files.get(session)
        if fh is not None:
            return fh
        name = safe_session_name(session)
        if name is None:
            self._log.log(logging.WARNING, "name", "refusing frames for unsafe session %r",
                          session)  # fmt: skip
            return None
        folder = self._root / SESSIONS_DIR / name
        folder.mkdir(parents=True, exist_ok=True)
        fh = (folder / FRAMES_FILE).open("a", encoding="utf-8")
        if self._models is not None:  # which models made these frames (path, sha256, options)
            (folder / MODELS_FILE).write_text(json.dumps(self._models(), indent=2) + "\n")
        self._files[session] = fh
        if len(self._files) > 256:  # bounded: close the oldest sessions' files
            oldest = next(iter(self._files))
            self._files.pop(oldest).close()
        return fh

    @override
    def close(self) -> None:
        for fh in self._files.values():
            fh.close()
        self._files.clear()


class FramesSink(DynamicSink[tuple[str, Frame]]):
    """Appends each session's frames to `<data_dir>/sessions/<session>/frames.jsonl`.

    One partition per worker; a client's frames come from a keyed step, so one
    session's file is only ever written by one worker.
    """

    def __init__(
        self, data_dir: str | Path, models: Callable[[], dict[str, Any]] | None = None
    ) -> None:
        self._root = Path(data_dir)
        self._models = models

    @override
    def build(self, step_id: str, worker_index: int, worker_count: int) -> _FramesPartition:
        return _FramesPartition(self._root, self._models)


class _PubPartition(StatefulSinkPartition[Frame | str, None]):
    def __init__(self, runtime: HostRuntime, endpoint: str) -> None:
        sock = runtime.context.socket(zmq.PUB)
        sock.setsockopt(zmq.LINGER, 0)
        sock.setsockopt(zmq.SNDHWM, 10000)
        bind_or_explain(sock, endpoint, "pub")
        self._sock = sock
        self._runtime = runtime
        logger.info("publishing enrichment frames on %s (ZeroMQ PUB, topic = client)", endpoint)

    @override
    def write_batch(self, values: list[Frame | str]) -> None:
        for frame in values:
            if not isinstance(frame, Frame):
                continue  # the start-up signal that had this partition built (and bound)
            header = json.dumps(frame.to_record(), ensure_ascii=False).encode("utf-8")
            try:
                self._sock.send_multipart(
                    [frame.client.encode("utf-8"), encode_envelope(header, b"")], zmq.NOBLOCK
                )
            except zmq.Again:  # a PUB never blocks; a subscriber that is too slow misses frames
                self._runtime.telemetry.drop("pub_hwm")

    @override
    def snapshot(self) -> None:
        return None

    @override
    def close(self) -> None:
        self._sock.close(linger=0)


class FramePublisher(FixedPartitionedSink[Frame | str, None]):
    """Publishes frames on one PUB socket (one partition: bound once in the cluster).

    Other items (the flow's start-up signal) only make Bytewax build the partition, so
    the socket is bound before the first frame and early subscribers miss nothing.
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
