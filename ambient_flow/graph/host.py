"""What every graph builder returns, and the logging set-up of the bytewax.run entry points."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from bytewax.dataflow import Dataflow

from ambient_flow.config import Settings
from ambient_flow.graph.enrich import EnrichStreams
from ambient_flow.graph.ingest import IngestStreams

__all__ = ["HostGraph", "configure_logging"]


@dataclass(frozen=True)
class HostGraph:
    """A built dataflow and the streams later steps (tests, users' own steps) attach to."""

    dataflow: Dataflow
    ingest: IngestStreams
    enrich: EnrichStreams | None = None


def configure_logging(settings: Settings) -> None:
    """`python -m bytewax.run` configures no logging of its own: do it once, readably."""
    if not logging.getLogger().handlers:
        logging.basicConfig(
            level=settings.log_level.upper(),
            format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        )
