"""status.json is built and written off the caller's thread (the worker waits for nothing)."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

from ambient_flow.status.file import StatusFile


def test_write_soon_returns_at_once_and_skips_while_a_write_runs(tmp_path: Path) -> None:
    release = threading.Event()
    built: list[int] = []

    def document() -> dict[str, Any]:  # a slow document: many clients
        release.wait(5)
        built.append(1)
        return {"clients": len(built)}

    status = StatusFile(tmp_path / "status.json", document)
    t0 = time.perf_counter()
    status.write_soon()
    status.write_soon()  # the first is still building: this tick is skipped, not queued
    assert time.perf_counter() - t0 < 0.5  # the caller did not wait for the document
    assert status.skipped == 1
    assert not (tmp_path / "status.json").exists()
    release.set()
    status.wait()
    assert json.loads((tmp_path / "status.json").read_text()) == {"clients": 1}
    status.write_soon()
    status.wait()
    assert status.writes == 2 and built == [1, 1]
