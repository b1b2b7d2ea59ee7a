"""Sessions and enrichments into a SpacetimeDB database (`--spacetimedb-url`).

The sink turns the host's items into the writer's records (`SessionRecords`, pure) and
hands them to a `SpacetimeWriter` (`ambient_flow.spacetimedb`), which delivers them on
its own thread: `write_batch` only appends to the writer's bounded queue, so a slow or
absent database never stalls the flow; a full queue drops new records, counted
(`drops.spacetimedb_dropped`, and the writer's own `spacetimedb` status section and
`ambient_spacetimedb_*` metrics). At the end of the flow `close()` keeps delivering for
at most `spacetimedb_drain` seconds; what is left then is counted
(`drops.spacetimedb_undelivered`) and logged — `frames.jsonl` and `events.jsonl` still
hold every record. The mapping onto the ambient-sub module's tables: docs/spacetimedb.md.

What it takes: ingest's `session_start`, `hello` and `session_end` events and, with the
enrichment on, the attribution's enrichments and session boundaries. A session's
`session_end` is held until the enrichment has closed the session too (its last
utterances come after ingest has ended it), so the database sees the session completed
after its last entry.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from bytewax.outputs import FixedPartitionedSink, StatefulSinkPartition
from typing_extensions import override

from ambient_flow.operators.attribution import Enrichment, SessionBoundary
from ambient_flow.operators.events import ClientEvent
from ambient_flow.protocol.constants import AUDIO_SAMPLE_RATE
from ambient_flow.runtime import HostRuntime
from ambient_flow.sinks.session_layout import FRAMES_DIR, SESSIONS_DIR
from ambient_flow.spacetimedb import MappingOptions, SpacetimeWriter, WriterOptions
from ambient_flow.spacetimedb.metrics import WriterCollector
from ambient_flow.timefmt import iso_utc

__all__ = ["SESSION_EVENTS", "SessionRecords", "SpacetimeItem", "SpacetimeSink", "writer_options"]

logger = logging.getLogger(__name__)

#: The ingest events the sink uses (the graph filters the rest out before the sink).
SESSION_EVENTS = ("session_start", "hello", "session_end")
SpacetimeItem = ClientEvent | Enrichment | SessionBoundary
Submission = tuple[dict[str, Any], dict[str, Any] | None]

#: Sessions remembered (start sample, held ends, closes seen); older ones are let go.
MAX_SESSIONS = 4096


def writer_options(runtime: HostRuntime) -> WriterOptions:
    """The writer's options from the host's settings (replays check before inserting)."""
    s = runtime.settings
    root = str(Path(s.data_dir).resolve() / SESSIONS_DIR).replace("{", "{{").replace("}", "}}")
    return WriterOptions(
        s.spacetimedb_url,
        s.spacetimedb_database,
        token=s.spacetimedb_token,
        queue_bound=s.spacetimedb_queue,
        batch_size=s.spacetimedb_batch,
        request_timeout_s=s.spacetimedb_timeout,
        # A replay may feed what an earlier run already wrote: check every insert's key.
        check_before_insert=runtime.replay,
        mapping=MappingOptions(audio_path=root + "/{session_id}/audio.wav"),
    )


class SessionRecords:
    """The host's items as the writer's records, in an order the database can take. Pure.

    Args:
        data_dir: The host's data directory (for saved frames' image paths).
        save_frames: Whether the session sink saves video frames (`--save-frames`).
        wait_for_enrichment: Hold each `session_end` until the enrichment's close of
            that session (pass True when the enrichment runs).
    """

    def __init__(self, data_dir: str, *, save_frames: bool, wait_for_enrichment: bool) -> None:
        self._sessions = Path(data_dir).resolve() / SESSIONS_DIR
        self._save_frames = save_frames
        self._wait = wait_for_enrichment
        self._start_sample: OrderedDict[str, int] = OrderedDict()
        self._ends: OrderedDict[str, dict[str, Any]] = OrderedDict()  # waiting for the close
        self._closed: OrderedDict[str, None] = OrderedDict()  # closed before its end came

    def feed(self, items: Iterable[SpacetimeItem]) -> list[Submission]:
        """Records for `items` (a batch, in order): some may be held for later ones."""
        out: list[Submission] = []
        starts: dict[str, dict[str, Any]] = {}  # this batch's session_starts, by client
        for item in items:
            if isinstance(item, Enrichment):
                out.append(self._enrichment(item))
            elif isinstance(item, SessionBoundary):
                if item.kind == "close":
                    out += self._enrichment_closed(item.session_id)
            elif item.kind == "session_start":
                record = self._session_start(item)
                starts[item.client] = record
                out.append((record, None))
            elif item.kind == "hello":
                # A hello opens its session and follows its session_start in the same
                # batch: its recording mode is the session's mode.
                mode = item.data.get("recording_mode")
                start = starts.get(item.client)
                if isinstance(mode, str) and start is not None:
                    start["mode"] = mode
            elif item.kind == "session_end":
                out += self._session_end(item)
        return out

    def flush(self) -> list[Submission]:
        """The `session_end`s still held (the flow is ending)."""
        held: list[Submission] = [(record, None) for record in self._ends.values()]
        self._ends.clear()
        return held

    def _session_start(self, event: ClientEvent) -> dict[str, Any]:
        start = event.data.get("start_sample")
        if isinstance(start, int):
            _remember(self._start_sample, event.session, start)
        return {
            "event": "session_start",
            "session_id": event.session,
            "client": event.client,
            "at": iso_utc(event.at_ns),
        }

    def _session_end(self, event: ClientEvent) -> list[Submission]:
        record: dict[str, Any] = {
            "event": "session_end",
            "session_id": event.session,
            "client": event.client,
            "at": iso_utc(event.at_ns),
        }
        start = self._start_sample.pop(event.session, None)
        end = event.data.get("end_sample")
        if start is not None and isinstance(end, int) and end >= start:
            record["duration_s"] = (end - start) / AUDIO_SAMPLE_RATE
        if not self._wait:
            return [(record, None)]
        if event.session in self._closed:  # the enrichment is already done with it
            del self._closed[event.session]
            return [(record, None)]
        self._ends[event.session] = record
        out: list[Submission] = []
        while len(self._ends) > MAX_SESSIONS:  # never lost: sent early instead
            out.append((self._ends.popitem(last=False)[1], None))
        return out

    def _enrichment_closed(self, session: str) -> list[Submission]:
        held = self._ends.pop(session, None)
        if held is not None:
            return [(held, None)]
        _remember(self._closed, session, None)
        return []

    def _enrichment(self, e: Enrichment) -> Submission:
        record = e.upstream_record()
        record["confidence"] = e.confidence  # None stays none (the file writes 0.0)
        side = e.detail_record()
        duration = e.extra.get("duration")
        if e.event_type == "utterance" and isinstance(duration, int | float):
            side["end"] = round(e.timestamp + duration, 3)
        seq = e.extra.get("frame_seq")
        if e.event_type == "detections" and self._save_frames and isinstance(seq, int):
            side["image_path"] = str(self._sessions / e.session_id / FRAMES_DIR / f"{seq:08d}.jpg")
        return record, side


def _remember(table: OrderedDict[str, Any], key: str, value: Any) -> None:
    table[key] = value
    table.move_to_end(key)
    while len(table) > MAX_SESSIONS:
        table.popitem(last=False)


class _SpacetimePartition(StatefulSinkPartition[SpacetimeItem, None]):
    def __init__(self, runtime: HostRuntime, wait_for_enrichment: bool) -> None:
        settings = runtime.settings
        self._runtime = runtime
        self._drain = settings.spacetimedb_drain
        self._records = SessionRecords(
            settings.data_dir,
            save_frames=settings.save_frames,
            wait_for_enrichment=wait_for_enrichment,
        )
        self._writer = SpacetimeWriter(writer_options(runtime))
        self._collector = WriterCollector(self._writer.status)
        runtime.telemetry.registry.register(self._collector)
        runtime.telemetry.section("spacetimedb", self._writer.status)
        runtime.on_close(self._abandon)  # if the flow dies before close()
        self._closed = False
        logger.info(
            "writing to SpacetimeDB %s, database %r",
            settings.spacetimedb_url,
            settings.spacetimedb_database,
        )

    @override
    def write_batch(self, values: list[SpacetimeItem]) -> None:
        for record, side in self._records.feed(values):
            self._submit(record, side)

    def _submit(self, record: dict[str, Any], side: dict[str, Any] | None) -> None:
        if not self._writer.submit(record, side):  # never waits; counted by the writer too
            self._runtime.telemetry.drop("spacetimedb_dropped")

    @override
    def snapshot(self) -> None:
        return None

    @override
    def close(self) -> None:
        for record, side in self._records.flush():
            self._submit(record, side)
        self._finish(self._drain)

    def _abandon(self) -> None:
        self._finish(0.0)

    def _finish(self, drain: float) -> None:
        if self._closed:
            return
        self._closed = True
        report = self._writer.close(timeout=drain)
        telemetry = self._runtime.telemetry
        telemetry.registry.unregister(self._collector)
        telemetry.section("spacetimedb", report.status)  # the last word stays visible
        if report.undelivered:
            telemetry.drop("spacetimedb_undelivered", len(report.undelivered))
        if report.thread_alive:
            logger.error("the SpacetimeDB writer did not stop within its timeouts")


class SpacetimeSink(FixedPartitionedSink[SpacetimeItem, None]):
    """One writer for the whole cluster (one partition), so one client's records stay
    in order and rows are keyed once. Items must be keyed (any constant key)."""

    def __init__(self, runtime: HostRuntime, *, wait_for_enrichment: bool) -> None:
        self._runtime = runtime
        self._wait = wait_for_enrichment

    @override
    def list_parts(self) -> list[str]:
        return ["spacetimedb"]

    @override
    def part_fn(self, item_key: str) -> int:
        return 0

    @override
    def build_part(self, step_id: str, for_part: str, resume_state: None) -> _SpacetimePartition:
        return _SpacetimePartition(self._runtime, self._wait)
