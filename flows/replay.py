"""Replay a capture through the same graph as the live flow.

    python -m bytewax.run "flows.replay:flow('recordings/x.zmqcap')"
    python -m flows.replay recordings/x.zmqcap [--realtime] [--data-dir DIR]

(`bytewax.run` takes no extra positional argument, hence the factory form.) Output goes
to `<data_dir>/replay/<capture name>/` unless a data dir is given. Every time field
comes from the capture: replaying twice, or with `-w 2`, gives the same files.
"""

from __future__ import annotations

import argparse
import sys

from bytewax.dataflow import Dataflow

from ambient_flow.errors import AmbientFlowError
from ambient_flow.graph.host import startup_errors_exit
from ambient_flow.graph.replay import replay_flow
from ambient_flow.runtime import run_dataflow

__all__ = ["flow", "main"]


def flow(
    path: str, realtime: bool = False, data_dir: str | None = None, config: str | None = None
) -> Dataflow:
    """The replay dataflow of capture `path` (a start-up error: one line, exit status 2)."""
    with startup_errors_exit("python -m bytewax.run flows.replay"):
        return replay_flow(path, realtime, data_dir, config)


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
    try:
        run_dataflow(replay_flow(args.capture, args.realtime, args.data_dir, args.config))
    except AmbientFlowError as exc:  # a missing or broken capture: one line, not a traceback
        print(f"python -m flows.replay: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
