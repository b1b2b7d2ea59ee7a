"""What every graph builder returns, and what the bytewax.run entry points share: their
logging set-up, one line instead of a traceback for a start-up error, and whether
Bytewax was told to run as one of several processes."""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from bytewax.dataflow import Dataflow

from ambient_flow.config import Settings
from ambient_flow.errors import AmbientFlowError
from ambient_flow.graph.enrich import EnrichStreams
from ambient_flow.graph.ingest import IngestStreams

__all__ = [
    "OWN_LOGGERS",
    "HostGraph",
    "LibraryChatterFilter",
    "configure_logging",
    "one_of_several_processes",
    "setup_logging",
    "startup_errors_exit",
]


@dataclass(frozen=True)
class HostGraph:
    """A built dataflow and the streams later steps (tests, users' own steps) attach to."""

    dataflow: Dataflow
    ingest: IngestStreams
    enrich: EnrichStreams | None = None


#: Top-level logger names whose INFO lines a person reads; every other logger (model
#: libraries: faster_whisper, ultralytics, numba, matplotlib, urllib3, ...) is shown
#: from WARNING up, unless the level is DEBUG.
OWN_LOGGERS = ("ambient_flow", "flows", "__main__")


class LibraryChatterFilter(logging.Filter):
    """Pass our own records at any level, and other libraries' from WARNING up.

    A filter on the handler, not levels on named loggers: it also quiets libraries
    nobody listed (and ones that set their own logger's level at import).
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.WARNING or record.name.split(".")[0] in OWN_LOGGERS


def setup_logging(level: str, *, datefmt: str | None = None) -> None:
    """Log to stderr at `level`; libraries' INFO chatter stays out unless `level` is DEBUG.

    Does nothing when the root logger already has handlers (an embedding application
    or a test harness configured logging first).
    """
    root = logging.getLogger()
    if root.handlers:
        return
    logging.basicConfig(
        level=level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt=datefmt,
    )
    if level.upper() != "DEBUG":
        for handler in root.handlers:
            handler.addFilter(LibraryChatterFilter())


def configure_logging(settings: Settings) -> None:
    """`python -m bytewax.run` configures no logging of its own: do it once, readably."""
    setup_logging(settings.log_level)


@contextlib.contextmanager
def startup_errors_exit(prog: str) -> Iterator[None]:
    """For a factory `python -m bytewax.run` calls: our start-up error (a bad setting, a
    missing model or capture, a port in use) becomes one line on stderr and exit status
    2, instead of a traceback through Bytewax's loader.

    `bytewax.run` calls the factory before it starts the dataflow, so this covers every
    error the factory raises; errors raised later, inside the running dataflow (a port
    taken between the check and the bind), still reach the user as Bytewax's traceback.
    """
    try:
        yield
    except AmbientFlowError as exc:
        print(f"{prog}: {exc}", file=sys.stderr, flush=True)
        raise SystemExit(2) from None


def one_of_several_processes(
    argv: Sequence[str] | None = None, environ: dict[str, str] | None = None
) -> bool:
    """Whether `bytewax.run` was given other processes' addresses (`-a`, or its variables).

    Then a sibling process may legitimately hold one of our ports, so a port check
    before the flow starts would be wrong.
    """
    args = sys.argv[1:] if argv is None else argv
    env = os.environ if environ is None else environ
    flagged = any(a in ("-a", "--addresses") or a.startswith(("-a", "--addresses=")) for a in args)
    return flagged or bool(env.get("BYTEWAX_ADDRESSES") or env.get("BYTEWAX_HOSTFILE_PATH"))
