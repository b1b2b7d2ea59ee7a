"""Attach the SpacetimeDB sink (`--spacetimedb-url`) to a host graph, live or replay."""

from __future__ import annotations

from typing import cast

import bytewax.operators as op
from bytewax.dataflow import Stream

from ambient_flow.graph.enrich import EnrichStreams
from ambient_flow.graph.ingest import IngestStreams
from ambient_flow.operators.attribution import SessionBoundary
from ambient_flow.operators.events import ClientEvent
from ambient_flow.runtime import HostRuntime
from ambient_flow.sinks.spacetimedb import SESSION_EVENTS, SpacetimeItem, SpacetimeSink

__all__ = ["attach_spacetimedb"]


def attach_spacetimedb(
    runtime: HostRuntime, ingest: IngestStreams, enrich: EnrichStreams | None
) -> None:
    """Write sessions (and, with the enrichment, its enrichments) to SpacetimeDB.

    Does nothing when `spacetimedb_url` is empty.
    """
    if not runtime.settings.spacetimedb_url:
        return
    events = op.filter_value("stdb_events", ingest.events, _session_event)
    items = cast(Stream[tuple[str, SpacetimeItem]], events)
    if enrich is not None:
        closes = op.filter_value("stdb_closes", enrich.boundaries, _is_close)
        items = op.merge("stdb_items", events, enrich.enrichments, closes)
    op.output(
        "spacetimedb",
        op.map("stdb_key", items, _constant_key),
        SpacetimeSink(runtime, wait_for_enrichment=enrich is not None),
    )


def _session_event(event: ClientEvent) -> bool:
    return event.kind in SESSION_EVENTS


def _is_close(boundary: SessionBoundary) -> bool:
    return boundary.kind == "close"


def _constant_key(kv: tuple[str, SpacetimeItem]) -> tuple[str, SpacetimeItem]:
    """One partition takes everything; each client's items stay in order."""
    return ("spacetimedb", kv[1])
