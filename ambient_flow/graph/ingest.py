"""The ingest graph shared by the live and replay flows.

```
sources (raw) --> [record] --> key by host --> identify (parse, name the client)
  --> key by client --> ingest (order, fill gaps, sessions, liveness)
  --> sessions sink (audio.wav, metadata.json, events.jsonl)
  --> streams for the next stages: audio, video, events, rejects
```
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import Any, TypeVar

import bytewax.operators as op
from bytewax.dataflow import Dataflow, Stream
from bytewax.inputs import Source

from ambient_flow.operators.attribution import SessionBoundary
from ambient_flow.operators.events import ClientEvent
from ambient_flow.operators.identify import IdentifyLogic, IdentifyOptions
from ambient_flow.operators.ingest import IngestItem, IngestLogic, IngestOptions
from ambient_flow.protocol.messages import AudioChunk, Parsed, RawMessage, Rejected, VideoFrame
from ambient_flow.runtime import HostRuntime
from ambient_flow.sinks.disk_budget import DiskLimits
from ambient_flow.sinks.record import RecordSink
from ambient_flow.sinks.session import (
    SessionItem,
    SessionOptions,
    SessionSink,
    SessionStatusPublisher,
)

__all__ = ["IngestStreams", "attach_sessions", "build_ingest"]

T = TypeVar("T")


@dataclass(frozen=True)
class IngestStreams:
    """What the next stages consume, each keyed by client.

    `items` is ingest's output; `audio`, `video`, `events` and `rejects` are filters of
    it, each a step that sees every item, so each is added to the flow only when a
    stage first asks for it (a graph that consumes none pays for none).
    """

    items: Stream[tuple[str, IngestItem]]

    @cached_property
    def audio(self) -> Stream[tuple[str, AudioChunk]]:
        return op.filter_map_value("audio", self.items, _only(AudioChunk))

    @cached_property
    def video(self) -> Stream[tuple[str, VideoFrame]]:
        return op.filter_map_value("video", self.items, _only(VideoFrame))

    @cached_property
    def events(self) -> Stream[tuple[str, ClientEvent]]:
        return op.filter_map_value("events", self.items, _only(ClientEvent))

    @cached_property
    def rejects(self) -> Stream[tuple[str, Rejected]]:
        return op.filter_map_value("rejects", self.items, _only(Rejected))


def build_ingest(
    flow: Dataflow,
    runtime: HostRuntime,
    sources: dict[str, Source[RawMessage]],
    *,
    write_sessions: bool = True,
) -> IngestStreams:
    """Attach ingest to `sources` (merged) in `flow`.

    With `write_sessions`, the session sink is attached to ingest alone; a graph with the
    enrichment passes False and calls `attach_sessions` with the enrichment's boundaries.
    """
    settings = runtime.settings
    raws = [op.input(name, flow, src) for name, src in sources.items()]
    raw = raws[0] if len(raws) == 1 else op.merge("raw", *raws)

    if settings.record and not runtime.replay:
        meta: dict[str, Any] = {"config": settings.recordable()}
        if runtime.host_run is not None:
            meta["host_run"] = runtime.host_run.to_dict()
        op.output(
            "record",
            op.key_on("capture_key", raw, lambda _m: "capture"),
            RecordSink(settings.record, meta),
        )

    # Re-keying is a step that sees every item: a whole batch per Python call (`key_on`
    # and `map` call a function per item, and `key_on` type-checks each key).
    by_host: Stream[tuple[str, RawMessage]] = op.flat_map_batch("by_host", raw, _by_host)
    naming = IdentifyOptions(
        max_payload=settings.max_message_bytes,
        max_audio_seconds=settings.max_audio_message_seconds,
        conn_ttl_ns=int(settings.stale_after_seconds * 1e9),
        name_wait_ns=int(settings.name_wait_seconds * 1e9),
        on_arrival=runtime.note_arrival,
        on_parsed=runtime.telemetry.parsed,
        clock=None if runtime.replay else runtime.clock,
        authenticated=settings.auth != "off",
        max_names=settings.max_clients_per_host,
        name_ttl_ns=int(settings.evict_after_seconds * 1e9),
    )
    identified = op.stateful("identify", by_host, lambda state: IdentifyLogic(state, naming))
    by_client: Stream[tuple[str, Parsed]] = op.flat_map_batch("by_client", identified, _by_client)

    options = IngestOptions.from_settings(
        settings, replay=runtime.replay, host_run=runtime.host_run
    )
    ingested = op.stateful("ingest", by_client, _ingest_builder(runtime, options))
    streams = IngestStreams(items=ingested)
    if write_sessions:
        attach_sessions(runtime, streams)
    return streams


def attach_sessions(
    runtime: HostRuntime,
    ingest: IngestStreams,
    boundaries: Stream[tuple[str, SessionBoundary]] | None = None,
) -> None:
    """The session sink: ingest's items, and (with the enrichment) the sessions'
    boundaries, which carry each session's `frame_count` for `metadata.json`."""
    settings = runtime.settings
    items: Stream[tuple[str, SessionItem]] = ingest.items
    if boundaries is not None:
        items = op.merge("session_items", items, boundaries)
    options = SessionOptions(
        save_frames=settings.save_frames,
        enriched=boundaries is not None,
        max_event_lines=settings.max_event_lines_per_session,
        metadata_rewrites_per_second=settings.metadata_rewrites_per_second,
        disk=DiskLimits(
            client_bytes_per_minute=settings.max_client_disk_bytes_per_minute,
            max_bytes=settings.max_disk_bytes,
            min_free_bytes=settings.min_free_disk_bytes,
            sessions_per_minute=settings.max_sessions_per_minute,
        ),
    )
    sink = SessionSink(
        settings.data_dir,
        settings.save_frames,
        options=options,
        on_status=SessionStatusPublisher(runtime.telemetry),
        flush_s=settings.session_flush_seconds,
    )
    op.output("sessions", items, sink)


def _by_host(batch: list[RawMessage]) -> list[tuple[str, RawMessage]]:
    """Each raw message keyed by its sender's host (what `identify` is keyed by)."""
    return [(m.peer_host, m) for m in batch]


def _by_client(batch: list[tuple[str, tuple[str, Parsed]]]) -> list[tuple[str, Parsed]]:
    """`identify`'s `(host, (client, parsed))` keyed by client (what `ingest` is keyed by)."""
    return [named for _host, named in batch]


def _only(kind: type[T]) -> Callable[[IngestItem], T | None]:
    def pick(item: IngestItem) -> T | None:
        return item if isinstance(item, kind) else None

    return pick


def _ingest_builder(runtime: HostRuntime, options: IngestOptions) -> Callable[[Any], IngestLogic]:
    def build(state: Any) -> IngestLogic:
        return IngestLogic(state, runtime, options)

    return build
