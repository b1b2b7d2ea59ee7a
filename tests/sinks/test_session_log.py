"""What a session says in the log: opened, then "closed" once — after its last
transcript when the enrichment runs — and no false "replaced" warning."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from ambient_flow.config import Settings
from ambient_flow.operators.attribution import SessionBoundary
from ambient_flow.sinks.session import SessionOptions, SessionWriter
from ambient_flow.testing import fakes, run_messages
from ambient_flow.testing.messages import T0_MS

from .items import Client
from .test_upstream_contract import conversation

LOGGER = "ambient_flow.sinks.session_files"


def closed_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage() for r in caplog.records if r.name == LOGGER and " closed " in r.getMessage()
    ]


def test_with_the_enrichment_the_closed_line_waits_for_its_end(
    tmp_path: Path, alice: Client, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, LOGGER)
    w = SessionWriter(tmp_path, options=SessionOptions(enriched=True))
    w.write_batch([alice.start(), alice.audio(), alice.end("bye")])
    assert closed_lines(caplog) == []  # the files are closed; the transcripts may still come
    w.write_batch([SessionBoundary(alice.name, alice.session, "close", 7)])  # type: ignore[arg-type]
    (line,) = closed_lines(caplog)
    assert line.endswith("closed (bye): 0.1 s audio, 0 video frames, 7 enrichments"), line


def test_without_the_enrichment_it_is_logged_at_the_end(
    tmp_path: Path, alice: Client, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, LOGGER)
    w = SessionWriter(tmp_path)
    w.write_batch([alice.start(), alice.audio(), alice.end("bye")])
    (line,) = closed_lines(caplog)
    assert line.endswith("closed (bye): 0.1 s audio, 0 video frames"), line


def test_in_the_flow_the_closed_line_counts_every_enrichment(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    models = fakes.models(turns=[(0.0, 1.0, "a"), (1.0, 2.0, "b")])
    msgs = conversation("talker", (T0_MS - 50) * 1_000_000)
    run_messages(msgs, tmp_path, settings=Settings(enrich=True), models=models)
    (session,) = (tmp_path / "sessions").iterdir()
    lines = (session / "frames.jsonl").read_text().splitlines()
    assert any('"utterance"' in line for line in lines)
    (line,) = closed_lines(caplog)
    assert line.endswith(f", {len(lines)} enrichments"), line
    # The enrichment sink made the directory first: that is not an earlier run's.
    assert not [r for r in caplog.records if "existed" in r.getMessage()]
