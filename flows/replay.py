"""Replay a capture through the same graph as the live flow.

    python -m bytewax.run "flows.replay:flow('recordings/x.zmqcap')"
    python -m flows.replay recordings/x.zmqcap [--realtime] [--data-dir DIR]

Output goes to `<data_dir>/replay/<capture name>/` unless a data dir is given, so a
replay never mixes with live sessions. Every time field comes from the capture:
replaying twice, or with `-w 2`, gives the same files.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import sys
from pathlib import Path

from bytewax.dataflow import Dataflow

from ambient_flow.capture import CaptureReader
from ambient_flow.config import ENRICHMENT_KNOBS, Settings
from ambient_flow.sources import HostRuntime, ReplaySource
from ambient_flow.sources.runtime import run_dataflow
from flows.enrich import build_enrichment
from flows.ingest import IngestStreams, build_ingest

__all__ = ["build", "flow", "main", "replay_settings"]

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
        models = {k: getattr(settings, k) for k in ENRICHMENT_KNOBS}
        settings = Settings(**{k: v for k, v in recorded.items() if k in known} | models)
    return dataclasses.replace(settings, data_dir=out, record="", metrics_port=0)


def build(runtime: HostRuntime, path: str | Path) -> tuple[Dataflow, IngestStreams]:
    dataflow = Dataflow("ambient_replay")
    source = ReplaySource(runtime, path, realtime=runtime.settings.realtime)
    streams = build_ingest(dataflow, runtime, {"capture_in": source})
    if runtime.settings.enrich:
        streams = dataclasses.replace(streams, enrich=build_enrichment(runtime, streams))
    return dataflow, streams


def flow(
    path: str, realtime: bool = False, data_dir: str | None = None, config: str | None = None
) -> Dataflow:
    """Factory for `python -m bytewax.run "flows.replay:flow('x.zmqcap')"`."""
    base = Settings.load(config_file=config)
    settings = dataclasses.replace(replay_settings(path, base, data_dir), realtime=realtime)
    if not logging.getLogger().handlers:
        logging.basicConfig(
            level=settings.log_level.upper(),
            format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        )
    dataflow, _ = build(HostRuntime(settings=settings, replay=True), path)
    return dataflow


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m flows.replay",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("capture", help="a .zmqcap file")
    parser.add_argument("--realtime", action="store_true", help="pace by recorded arrival times")
    parser.add_argument("--data-dir", help="where session directories go")
    parser.add_argument("--config", help="TOML settings file")
    args = parser.parse_args(argv)
    run_dataflow(flow(args.capture, args.realtime, args.data_dir, args.config))
    return 0


if __name__ == "__main__":
    sys.exit(main())
