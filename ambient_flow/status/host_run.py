"""`<data_dir>/host.json`: when this host started, was last alive, and stopped.

A host restart is a lost stretch like any other: clients streaming at the time lose
what they sent while it was down. The live host reads the previous run's file at start
(how long it was down, and whether it stopped cleanly), tells ingest (each client's
first session of the new run gets a `host_restart` event with that length) and the
status document (`host`), and records it in the capture's header so a replay says
the same. The status reporter refreshes `alive_ns` at every status write and sets
`stopped_ns` when the flow ends.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ambient_flow.runtime import HostRun

__all__ = ["RUN_FILE", "HostRunFile"]

logger = logging.getLogger(__name__)

RUN_FILE = "host.json"


class HostRunFile:
    """The run file in a data directory. Write failures are logged, never raised."""

    def __init__(
        self,
        data_dir: str | os.PathLike[str],
        clock: Callable[[], int] = time.time_ns,
        started_ns: int = 0,
    ) -> None:
        self.path = Path(data_dir) / RUN_FILE
        self._clock = clock
        self._started_ns = started_ns

    def start(self) -> HostRun:
        """Read how the previous run ended, then claim the file for this run."""
        previous: dict[str, Any] = {}
        try:
            loaded = json.loads(self.path.read_text())
            if isinstance(loaded, dict):
                previous = loaded
        except (OSError, ValueError):
            pass  # first run, or a damaged file: no previous run known
        self._started_ns = self._clock()
        run = HostRun(
            started_ns=self._started_ns,
            previous_alive_ns=_int_or_none(previous.get("alive_ns")),
            previous_stopped_ns=_int_or_none(previous.get("stopped_ns")),
        )
        self._write(alive_ns=self._started_ns, stopped_ns=None)
        if run.down_s is not None:
            logger.info(
                "the previous host run %s; down for %.1f s",
                "stopped cleanly" if run.previous_stopped_ns else "ended without stopping",
                run.down_s,
            )
        return run

    def alive(self) -> None:
        self._write(alive_ns=self._clock(), stopped_ns=None)

    def stop(self) -> None:
        now = self._clock()
        self._write(alive_ns=now, stopped_ns=now)

    def _write(self, *, alive_ns: int, stopped_ns: int | None) -> None:
        doc = {
            "pid": os.getpid(),
            "started_ns": self._started_ns or alive_ns,
            "alive_ns": alive_ns,
            "stopped_ns": stopped_ns,
        }
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_suffix(".json.tmp")
            tmp.write_text(json.dumps(doc) + "\n")
            os.replace(tmp, self.path)
        except OSError as exc:
            logger.warning("cannot write %s: %s", self.path, exc)


def _int_or_none(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None
