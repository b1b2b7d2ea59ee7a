"""Enrichments out to files: `frames.jsonl` per session (and `models.json` beside it).

`frames.jsonl` sits beside the session's audio.wav and events.jsonl; one JSON object
per line (schema in docs/frames.md; the upstream consumer calls each line a frame),
flushed after every batch; `models.json` names the models that made them (path, sha256,
options). This sink owns exactly these two files of a session directory: a session
seen for the first time in this run starts them afresh (a replay into the same
directory replaces them), and nothing else in the directory is touched.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from bytewax.outputs import DynamicSink, StatelessSinkPartition
from typing_extensions import override

from ambient_flow.operators.attribution import Enrichment
from ambient_flow.sinks.session import SESSIONS_DIR, safe_session_name
from ambient_flow.telemetry import RateLimitedLog

__all__ = ["FRAMES_FILE", "MODELS_FILE", "EnrichmentSink"]

logger = logging.getLogger(__name__)

FRAMES_FILE = "frames.jsonl"
MODELS_FILE = "models.json"


def _line(enrichment: Enrichment) -> str:
    return json.dumps(enrichment.to_record(), ensure_ascii=False, separators=(", ", ": ")) + "\n"


class _EnrichmentPartition(StatelessSinkPartition[tuple[str, Enrichment]]):
    def __init__(self, root: Path, models: Callable[[], dict[str, Any]] | None) -> None:
        self._root = root
        self._models = models
        self._files: dict[str, IO[str]] = {}  # session -> open frames.jsonl
        self._started: set[str] = set()  # sessions whose files this run has begun
        self._log = RateLimitedLog(logger)

    @override
    def write_batch(self, items: list[tuple[str, Enrichment]]) -> None:
        touched: set[str] = set()
        for _client, enrichment in items:
            fh = self._file(enrichment.session_id)
            if fh is None:
                continue
            fh.write(_line(enrichment))
            touched.add(enrichment.session_id)
        for session in touched:
            self._files[session].flush()

    def _file(self, session: str) -> IO[str] | None:
        fh = self._files.get(session)
        if fh is not None:
            return fh
        name = safe_session_name(session)
        if name is None:
            self._log.log(logging.WARNING, "name", "refusing frames for unsafe session %r",
                          session)  # fmt: skip
            return None
        folder = self._root / SESSIONS_DIR / name
        folder.mkdir(parents=True, exist_ok=True)
        first = session not in self._started
        # First time this run: start afresh (an earlier run of the same capture is replaced);
        # reopened after being closed for the bound below: append.
        fh = (folder / FRAMES_FILE).open("w" if first else "a", encoding="utf-8")
        if first:
            self._started.add(session)
            if self._models is not None:  # which models made these lines (path, sha256, options)
                (folder / MODELS_FILE).write_text(json.dumps(self._models(), indent=2) + "\n")
        self._files[session] = fh
        if len(self._files) > 256:  # bounded: close the oldest sessions' files
            oldest = next(iter(self._files))
            self._files.pop(oldest).close()
        return fh

    @override
    def close(self) -> None:
        for fh in self._files.values():
            fh.close()
        self._files.clear()


class EnrichmentSink(DynamicSink[tuple[str, Enrichment]]):
    """Appends each session's enrichments to `<data_dir>/sessions/<session>/frames.jsonl`.

    One partition per worker; a client's enrichments come from a keyed step, so one
    session's file is only ever written by one worker.
    """

    def __init__(
        self, data_dir: str | Path, models: Callable[[], dict[str, Any]] | None = None
    ) -> None:
        self._root = Path(data_dir)
        self._models = models

    @override
    def build(self, step_id: str, worker_index: int, worker_count: int) -> _EnrichmentPartition:
        return _EnrichmentPartition(self._root, self._models)
