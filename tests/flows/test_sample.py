"""The committed sample capture replays cleanly (what the README tells people to try)."""

from __future__ import annotations

from pathlib import Path

from ambient_flow.capture.inspect import summarize
from ambient_flow.testing import run_capture

SAMPLE = Path(__file__).resolve().parents[2] / "recordings" / "sample.zmqcap"


def test_sample_capture_replays_without_rejects_or_gaps(tmp_path: Path) -> None:
    summary = summarize(SAMPLE)
    assert 30 < summary.duration_s < 35 and not summary.problems
    out = run_capture(SAMPLE, tmp_path)
    assert out.clients() == ["127.0.0.1"]  # a legacy client: named by its host
    assert not out.rejects() and not out.events("gap")
    audio = out.audio()
    assert sum(c.num_samples for c in audio) == audio[-1].start_sample + audio[-1].num_samples
    assert abs(audio[-1].start_sample / 16000 - 31.6) < 0.2
    assert len(out.video()) == 32
    assert [e.kind for e in out.events()][:2] == ["session_start", "hello"]
