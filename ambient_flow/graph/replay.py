"""Replay a capture through the same graph as the live flow.

Output goes to `<data_dir>/replay/<capture name>/` unless a data dir is given, so a
replay never mixes with live sessions. Every time field comes from the capture:
replaying twice, or with `-w 2`, gives the same files.
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

from bytewax.dataflow import Dataflow

from ambient_flow.capture.format import CaptureReader
from ambient_flow.config import ENRICHMENT_KNOBS, SPACETIMEDB_KNOBS, Settings
from ambient_flow.graph.enrich import build_enrichment
from ambient_flow.graph.host import HostGraph, configure_logging
from ambient_flow.graph.ingest import attach_sessions, build_ingest
from ambient_flow.graph.spacetimedb import attach_spacetimedb
from ambient_flow.models.bundle import Models
from ambient_flow.runtime import HostRun, HostRuntime
from ambient_flow.sources.replay import ReplaySource

__all__ = ["build_replay", "replay_flow", "replay_settings"]

logger = logging.getLogger(__name__)


def replay_settings(path: str | Path, settings: Settings, data_dir: str | None) -> Settings:
    """The settings the capture was recorded with (so ingest decides exactly as it did
    live) — except the enrichment models, which are the replayer's choice — writing
    under `data_dir`, binding nothing, recording nothing."""
    out = data_dir or str(Path(settings.data_dir) / "replay" / Path(path).stem)
    recorded = CaptureReader(path).meta.get("config")
    if isinstance(recorded, dict):
        known = {f.name for f in dataclasses.fields(Settings)}
        ignored = sorted(set(recorded) - known)
        if ignored:
            logger.warning(
                "%s: ignoring recorded settings this version does not know: %s", path, ignored
            )
        models = {k: getattr(settings, k) for k in (*ENRICHMENT_KNOBS, *SPACETIMEDB_KNOBS)}
        settings = Settings(**{k: v for k, v in recorded.items() if k in known} | models)
    return dataclasses.replace(settings, data_dir=out, record="", metrics_port=0)


def build_replay(runtime: HostRuntime, path: str | Path, models: Models | None = None) -> HostGraph:
    """The replay dataflow of capture `path` (models built from settings unless given)."""
    runtime.host_run = HostRun.from_dict(CaptureReader(path).meta.get("host_run"))
    dataflow = Dataflow("ambient_replay")
    source = ReplaySource(runtime, path, realtime=runtime.settings.realtime)
    ingest = build_ingest(dataflow, runtime, {"capture_in": source}, write_sessions=False)
    enrich = build_enrichment(runtime, ingest, models) if runtime.settings.enrich else None
    attach_sessions(runtime, ingest, enrich.boundaries if enrich is not None else None)
    attach_spacetimedb(runtime, ingest, enrich)
    return HostGraph(dataflow, ingest, enrich)


def replay_flow(
    path: str, realtime: bool = False, data_dir: str | None = None, config: str | None = None
) -> Dataflow:
    """What `flows.replay.flow` returns (settings: the recorded ones, models: the file's)."""
    base = Settings.load(config_file=config)
    settings = dataclasses.replace(replay_settings(path, base, data_dir), realtime=realtime)
    configure_logging(settings)
    return build_replay(HostRuntime(settings=settings, replay=True), path).dataflow
