"""`ambient-flow inspect SESSION --plot`: the timeline picture of an enriched session."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("matplotlib", reason="the [audio] extra provides matplotlib")
pytest.importorskip("resemblyzer", reason="the [audio] extra provides the models")

ROOT = Path(__file__).resolve().parents[2]


def test_replay_with_enrichment_then_inspect_and_plot_the_session(tmp_path: Path) -> None:
    cli = [sys.executable, "-m", "ambient_flow.cli.main"]
    run = {"cwd": ROOT, "capture_output": True, "text": True, "timeout": 300}
    done = subprocess.run([*cli, "replay", "recordings/sample.zmqcap", "--data-dir",
                           str(tmp_path), "--enrich", "--num-speakers", "2"], **run)  # type: ignore[call-overload]  # fmt: skip
    assert done.returncode == 0, done.stderr
    (session,) = (tmp_path / "sessions").iterdir()
    png = tmp_path / "timeline.png"
    shown = subprocess.run([*cli, "inspect", str(session), "--plot", str(png)], **run)  # type: ignore[call-overload]
    assert shown.returncode == 0, shown.stderr
    assert "speakers: speaker0, speaker1" in shown.stdout
    assert "Sounds good" in shown.stdout
    import matplotlib.image

    image = matplotlib.image.imread(png)
    assert image.shape[0] > 300 and image.shape[1] > 1000
    assert image[..., :3].std() > 0.05  # not a blank canvas
    assert (session / "models.json").exists()
