"""Start-up errors a user hits end in one line that names the cause, and exit status 2,
before any port takes traffic — from `ambient-flow` and from `python -m bytewax.run`."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from ambient_flow.graph.host import one_of_several_processes
from ambient_flow.testing import free_port

ROOT = Path(__file__).resolve().parents[2]
#: A log line (`configure_logging`'s format, or the CLI's): not the error line.
LOG_LINE = re.compile(r"^(\d{4}-\d\d-\d\d )?\d\d:\d\d:\d\d(,\d+)? [A-Z]+ ")
#: What the installed `ambient-flow` script runs.
CLI = ["-c", "import sys; from ambient_flow.cli.main import main; sys.exit(main(sys.argv[1:]))"]


def host_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = dict(os.environ, PYTHONPATH=str(ROOT), AMBIENT_FLOW_DATA_DIR=str(tmp_path / "data"))
    env.update(AMBIENT_FLOW_BIND="127.0.0.1", AMBIENT_FLOW_METRICS_PORT="0")
    for name in ("audio", "video", "control", "tcp", "pub"):
        env[f"AMBIENT_FLOW_{name.upper()}_PORT"] = str(free_port())
    env.update(extra)
    return env


def one_line(done: subprocess.CompletedProcess[str]) -> str:
    """The run failed with status 2 and exactly one line that is not a log line."""
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Traceback" not in done.stderr and "panicked" not in done.stderr, done.stderr
    lines = [line for line in done.stderr.splitlines() if line and not LOG_LINE.match(line)]
    assert len(lines) == 1, done.stderr
    return lines[0]


def run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


@pytest.mark.parametrize("entry", ["cli", "bytewax.run"])
def test_a_missing_model_is_one_line_naming_the_setting_and_path(
    tmp_path: Path, entry: str
) -> None:
    pytest.importorskip("faster_whisper", reason="the [audio] extra provides the models")
    missing = tmp_path / "no-such-model"
    env = host_env(tmp_path)
    if entry == "cli":
        args = [*CLI, "live", "--whisper-model", str(missing)]
    else:
        env["AMBIENT_FLOW_WHISPER_MODEL"] = str(missing)
        args = ["-m", "bytewax.run", "flows.live"]
    line = one_line(run(args, env))
    assert "--whisper-model" in line and "AMBIENT_FLOW_WHISPER_MODEL" in line, line
    assert str(missing) in line and "does not exist" in line, line
    # Nothing was bound: the error came before the ports took traffic.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", int(env["AMBIENT_FLOW_AUDIO_PORT"])))


def test_bytewax_run_with_a_taken_port_is_one_line(tmp_path: Path) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        env = host_env(tmp_path, AMBIENT_FLOW_ENRICH="0", AMBIENT_FLOW_CONTROL_PORT=str(port))
        line = one_line(run(["-m", "bytewax.run", "flows.live"], env))
    assert f"cannot bind the control port 127.0.0.1:{port}" in line
    assert "--control-port" in line and "AMBIENT_FLOW_CONTROL_PORT" in line


@pytest.mark.parametrize(
    "args",
    [
        ["-m", "flows.replay", "missing.zmqcap"],
        ["-m", "bytewax.run", "flows.replay:flow('missing.zmqcap')"],
    ],
)
def test_replaying_a_missing_capture_is_one_line(tmp_path: Path, args: list[str]) -> None:
    env = dict(os.environ, PYTHONPATH=str(ROOT), AMBIENT_FLOW_ENRICH="0")
    line = one_line(run(args, env))
    assert "missing.zmqcap: cannot read" in line


def test_only_a_multi_process_run_skips_the_port_check() -> None:
    assert not one_of_several_processes(["flows.live", "-w", "2"], {})
    assert one_of_several_processes(["flows.live", "-a", "h:1;h:2", "-i", "0"], {})
    assert one_of_several_processes(["flows.live", "--addresses=h:1;h:2"], {})
    assert one_of_several_processes(["flows.live"], {"BYTEWAX_ADDRESSES": "h:1;h:2"})
