"""`status.json`: the status document on disk, replaced atomically."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["StatusFile"]

logger = logging.getLogger(__name__)


class StatusFile:
    """Writes a status document to `path` (via a temporary file and `os.replace`).

    A full disk must not stop ingest: a failed write is logged once and the document
    stays available through the control channel's `stats`.
    """

    def __init__(self, path: Path, document: Callable[[], dict[str, Any]]) -> None:
        self.path = path
        self._document = document
        self._warned = False
        self.writes = 0

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
