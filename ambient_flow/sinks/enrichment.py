"""Enrichments out to files: `frames.jsonl`, `enrichment.jsonl` and `models.json` per session.

This sink owns exactly these three files of a session directory:

- `frames.jsonl`: one line per enrichment with exactly the keys the upstream consumer's
  `Frame` dataclass declares (`operators.attribution.UPSTREAM_KEYS`; it loads each line
  with `Frame(**line)`). Created, empty, when the session opens: a session in which
  nothing was said still has one.
- `enrichment.jsonl`: line for line the same enrichments, with what the upstream keys
  cannot carry (client, words, segments, speakers, counts, ...), keyed by `frame_id`.
- `models.json`: which models made them (path, sha256, options).

Lines are flushed after every batch. A session seen for the first time in this run
starts its files afresh (a replay into the same directory replaces them); nothing else
in the directory is touched. Schema: docs/frames.md.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from bytewax.outputs import DynamicSink, StatelessSinkPartition
from typing_extensions import override

from ambient_flow.operators.attribution import AttributionOutput, Enrichment, SessionBoundary
from ambient_flow.sinks.session_layout import SESSIONS_DIR, safe_session_name
from ambient_flow.telemetry import RateLimitedLog

__all__ = ["DETAIL_FILE", "FRAMES_FILE", "MODELS_FILE", "EnrichmentSink", "read_enrichments"]

logger = logging.getLogger(__name__)

FRAMES_FILE = "frames.jsonl"
DETAIL_FILE = "enrichment.jsonl"
MODELS_FILE = "models.json"
#: Sessions whose files stay open at once per worker; older ones are closed (and
#: reopened for appending if a late line comes).
MAX_OPEN_SESSIONS = 256


def _line(record: dict[str, Any]) -> str:
    return json.dumps(record, ensure_ascii=False, separators=(", ", ": ")) + "\n"


class _Files:
    """One session's two line files."""

    def __init__(self, folder: Path, mode: str) -> None:
        self.frames: IO[str] = (folder / FRAMES_FILE).open(mode, encoding="utf-8")
        try:
            self.detail: IO[str] = (folder / DETAIL_FILE).open(mode, encoding="utf-8")
        except OSError:
            self.frames.close()
            raise

    def write(self, enrichment: Enrichment) -> None:
        self.frames.write(_line(enrichment.upstream_record()))
        self.detail.write(_line(enrichment.detail_record()))

    def flush(self) -> None:
        self.frames.flush()
        self.detail.flush()

    def close(self) -> None:
        self.frames.close()
        self.detail.close()


class _EnrichmentPartition(StatelessSinkPartition[tuple[str, AttributionOutput]]):
    def __init__(self, root: Path, models: Callable[[], dict[str, Any]] | None) -> None:
        self._root = root
        self._models = models
        self._files: dict[str, _Files] = {}  # session -> its open files
        self._started: set[str] = set()  # sessions whose files this run has begun
        self._log = RateLimitedLog(logger)

    @override
    def write_batch(self, items: list[tuple[str, AttributionOutput]]) -> None:
        touched: set[str] = set()
        for _client, item in items:
            try:
                if isinstance(item, SessionBoundary):
                    self._boundary(item)
                    continue
                files = self._open(item.session_id)
                if files is not None:
                    files.write(item)
                    touched.add(item.session_id)
            except OSError as exc:  # a full disk must not stop the flow; say it
                self._log.log(logging.ERROR, "write", "session %s: cannot write %s: %s",
                              item.session_id, FRAMES_FILE, exc)  # fmt: skip
        for session in touched:
            files = self._files.get(session)
            if files is not None:
                files.flush()

    def _boundary(self, boundary: SessionBoundary) -> None:
        if boundary.kind == "open":
            self._open(boundary.session_id)  # an empty frames.jsonl, even with nothing said
        else:
            files = self._files.pop(boundary.session_id, None)
            if files is not None:
                files.close()

    def _open(self, session: str) -> _Files | None:
        files = self._files.get(session)
        if files is not None:
            return files
        name = safe_session_name(session)
        if name is None:
            self._log.log(logging.WARNING, "name", "refusing enrichments for unsafe session %r",
                          session)  # fmt: skip
            return None
        folder = self._root / SESSIONS_DIR / name
        folder.mkdir(parents=True, exist_ok=True)
        first = session not in self._started
        # First time this run: start afresh (an earlier run of the same capture is replaced);
        # reopened after being closed for the bound below: append.
        files = _Files(folder, "w" if first else "a")
        if first:
            self._started.add(session)
            if self._models is not None:  # which models made these lines (path, sha256, options)
                (folder / MODELS_FILE).write_text(json.dumps(self._models(), indent=2) + "\n")
        self._files[session] = files
        if len(self._files) > MAX_OPEN_SESSIONS:  # bounded: close the oldest sessions' files
            oldest = next(iter(self._files))
            self._files.pop(oldest).close()
        return files

    @override
    def close(self) -> None:
        for files in self._files.values():
            files.close()
        self._files.clear()


class EnrichmentSink(DynamicSink[tuple[str, AttributionOutput]]):
    """Writes each session's enrichments to `<data_dir>/sessions/<session>/` (see module doc).

    One partition per worker; a client's enrichments come from a keyed step, so one
    session's files are only ever written by one worker.
    """

    def __init__(
        self, data_dir: str | Path, models: Callable[[], dict[str, Any]] | None = None
    ) -> None:
        self._root = Path(data_dir)
        self._models = models

    @override
    def build(self, step_id: str, worker_index: int, worker_count: int) -> _EnrichmentPartition:
        return _EnrichmentPartition(self._root, self._models)


def read_enrichments(session_dir: str | Path) -> list[dict[str, Any]]:
    """A session's enrichments as written: each `frames.jsonl` line with its
    `enrichment.jsonl` detail merged in (joined by `frame_id`, in file order).

    Lines of a file cut short by a crash (the last one, unterminated) are skipped.
    """
    folder = Path(session_dir)

    def lines(name: str) -> list[dict[str, Any]]:
        path = folder / name
        if not path.exists():
            return []
        out = []
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                out.append(json.loads(line))
            except ValueError:
                continue
        return out

    details = lines(DETAIL_FILE)
    merged = []
    for i, frame in enumerate(lines(FRAMES_FILE)):
        detail = details[i] if i < len(details) else {}
        if detail.get("frame_id") != frame.get("frame_id"):
            detail = {}
        merged.append({**detail, **frame})
    return merged
