"""`ambient-flow`: run, replay, record, send, synthesize, inspect and query a host."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence

from ambient_flow import __version__
from ambient_flow.cli import commands
from ambient_flow.cli.auth_cmd import add_auth_parser
from ambient_flow.cli.listen import add_listen_flags
from ambient_flow.cli.listen import listen as run_listen
from ambient_flow.cli.settings_flags import add_settings_flags
from ambient_flow.config import ENRICHMENT_KNOBS, ENV_PREFIX, SPACETIMEDB_KNOBS
from ambient_flow.errors import AmbientFlowError
from ambient_flow.graph.host import setup_logging

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ambient-flow",
        description="Streaming host of an ambient AI copilot: live ZeroMQ/TCP capture ingest "
        "as Bytewax dataflows, with record and replay.",
    )
    parser.add_argument("--version", action="version", version=f"ambient-flow {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    live = sub.add_parser(
        "live", help="run the live host (what `python -m bytewax.run flows.live` runs)"
    )
    live.add_argument(
        "--record", metavar="PATH", help="also tee everything received to this .zmqcap"
    )
    live.add_argument("-w", "--workers", type=int, default=1, help="Bytewax worker threads")
    live.add_argument(
        "--line-interval", type=float, default=5.0, help="seconds between live lines (0: off)"
    )
    live.add_argument(
        "--quiet", action="store_true", help="do not print transcripts as they are heard"
    )
    add_settings_flags(live)
    live.set_defaults(run=commands.live)

    replay = sub.add_parser("replay", help="replay a .zmqcap through the same flow")
    replay.add_argument("capture", help="a .zmqcap file")
    replay.add_argument("--realtime", action="store_true", help="pace by recorded arrival times")
    replay.add_argument("-w", "--workers", type=int, default=1, help="Bytewax worker threads")
    replay.add_argument("--data-dir", help="output directory (default data/replay/<name>)")
    replay.add_argument("--config", metavar="FILE", help="TOML settings (recorded ones win)")
    replay.add_argument("--log-level", default="WARNING")
    add_settings_flags(replay, only=(*ENRICHMENT_KNOBS, *SPACETIMEDB_KNOBS), config_flag=False)
    replay.set_defaults(run=commands.replay)

    record = sub.add_parser("record", help="only record what arrives to a .zmqcap (no ingest)")
    record.add_argument("out", help="the .zmqcap to write")
    record.add_argument("--duration", type=float, help="stop after this many seconds")
    add_settings_flags(record)
    record.set_defaults(run=commands.record)

    send = sub.add_parser("send", help="stream test media (or a capture) to a host")
    commands.add_send_flags(send)
    send.set_defaults(run=commands.send)

    synth = sub.add_parser("synth", help="write a realistic .zmqcap from a WAV and/or images")
    commands.add_synth_flags(synth)
    synth.set_defaults(run=commands.synth)

    ev = sub.add_parser("eval", help="run a capture or WAV through the enrichment; DER/WER/cpWER")
    ev.add_argument("input", help="a .zmqcap or a .wav (any rate/channels)")
    ev.add_argument("--rttm", help="reference speaker turns (RTTM) for DER")
    ev.add_argument("--transcript", help="reference text; `speaker: text` lines also give cpWER")
    ev.add_argument("--collar", type=float, default=0.25, help="DER collar (s)")
    ev.add_argument("-w", "--workers", type=int, default=1)
    ev.add_argument("--json", action="store_true")
    ev.add_argument("--config", metavar="FILE", help="TOML settings (models, thresholds)")
    ev.add_argument("--log-level", default="WARNING")
    add_settings_flags(ev, only=ENRICHMENT_KNOBS, skip={"enrich", "pub_port"}, config_flag=False)
    ev.set_defaults(run=commands.evaluate)

    inspect = sub.add_parser("inspect", help="summarize a .zmqcap, or a session directory")
    inspect.add_argument("capture", metavar="CAPTURE_OR_SESSION")
    inspect.add_argument("--plot", metavar="PNG", help="session: draw its timeline to this file")
    inspect.add_argument("--json", action="store_true", help="machine-readable output")
    inspect.set_defaults(run=commands.inspect)

    add_auth_parser(sub)

    listen = sub.add_parser("listen", help="print a running host's enrichments as they happen")
    add_listen_flags(listen)
    listen.set_defaults(run=run_listen)

    status = sub.add_parser("status", help="ask a running host for its status")
    status.add_argument("--server", default="127.0.0.1", help="host (or HOST:PORT) to ask")
    status.add_argument("--port", type=int, help="its control port (default 5557)")
    status.add_argument("--json", action="store_true", help="the raw status document")
    status.add_argument("--timeout", type=float, default=2.0, help="seconds to wait")
    status.add_argument(
        "--auth", choices=["off", "token", "curve"], default="off", help="the host's --auth"
    )
    status.add_argument("--credentials", help="an admin's credential file (sees every client)")
    status.set_defaults(run=commands.status)
    return parser


def _log_level(args: argparse.Namespace) -> str:
    """--log-level, else AMBIENT_FLOW_LOG_LEVEL (a bad value is refused later, by Settings)."""
    level = getattr(args, "log_level", None) or os.environ.get(ENV_PREFIX + "LOG_LEVEL", "")
    return level.upper() if level.upper() in ("DEBUG", "INFO", "WARNING", "ERROR") else "INFO"


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(_log_level(args), datefmt="%H:%M:%S")
    run: Callable[[argparse.Namespace], int] = args.run
    try:
        return run(args)
    except AmbientFlowError as exc:
        print(f"ambient-flow {args.command}: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
