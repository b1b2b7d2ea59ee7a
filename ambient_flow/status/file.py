"""`status.json`: the status document on disk, replaced atomically."""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["StatusFile"]

logger = logging.getLogger(__name__)


class StatusFile:
    """Writes a status document to `path` (via a temporary file and `os.replace`).

    A full disk must not stop ingest: a failed write is logged once and the document
    stays available through the control channel's `stats`.

    `write_soon` builds and writes the document on a thread of its own: building it is
    O(clients) (each client's section, then JSON: ~50 ms at 1000 clients here), and
    the caller — the status reporter, on a worker thread — must not wait for that. The
    document's parts are read with copies that are safe from any thread (`Telemetry`).
    """

    def __init__(self, path: Path, document: Callable[[], dict[str, Any]]) -> None:
        self.path = path
        self._document = document
        self._warned = False
        self.writes = 0
        self.skipped = 0  # ticks that found the previous write still running
        self._thread: threading.Thread | None = None

    def write_soon(self) -> None:
        """Start a write in the background, unless the previous one is still running."""
        if self._thread is not None and self._thread.is_alive():
            self.skipped += 1
            return
        self._thread = threading.Thread(target=self.write, name="status-json", daemon=True)
        self._thread.start()

    def wait(self, timeout: float = 10.0) -> None:
        """Wait for a background write to finish."""
        if self._thread is not None:
            self._thread.join(timeout)

    def write(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_suffix(".json.tmp")
            tmp.write_text(json.dumps(self._document(), indent=1, default=str))
            os.replace(tmp, self.path)
            self.writes += 1
        except OSError as exc:
            if not self._warned:
                logger.error(
                    "cannot write %s: %s (status stays available via stats)", self.path, exc
                )
                self._warned = True
