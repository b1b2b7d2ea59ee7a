"""The README documents every knob, and its two set-up commands are the ones CI runs."""

from __future__ import annotations

from pathlib import Path

from ambient_flow.config import Settings

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def test_every_setting_is_in_the_readme_with_flag_and_variable() -> None:
    for knob in Settings.knobs():
        assert f"AMBIENT_FLOW_{knob.name.upper()}" in README, knob.name
        assert f"--{knob.name.replace('_', '-')}" in README, knob.name


def test_the_readme_set_up_commands_are_the_ci_ones() -> None:
    assert "bash .ci/install && .venv/bin/ambient-flow live" in README
    assert "bash .ci/run" in README
    assert "bash .ci/install" in (ROOT / ".ci" / "run").read_text()
