"""Host processes of the cluster benchmark: `python -m bytewax.run flows.live`, each
inside a network namespace, bound to that namespace's address, with its own data dir.

A host is the real entry point, run the way docs/cluster.md says: settings from
`AMBIENT_FLOW_*` variables, `-i`/`-a` for a Bytewax cluster, nothing else. Every
process is started in its own process group and ended by `stop` (SIGINT, the clean
stop: sessions flushed) or `kill` (SIGKILL: a host lost); `close` kills what is left.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import zmq

__all__ = ["HostProcess", "control_ok", "read_status"]

_ROOT = Path(__file__).resolve().parents[2]


def control_ok(ctx: zmq.Context[Any], endpoint: str, timeout_ms: int = 300) -> bool:
    """Whether a control REP at `endpoint` answers `get_config` within `timeout_ms`."""
    sock = ctx.socket(zmq.REQ)
    sock.setsockopt(zmq.LINGER, 0)
    try:
        sock.connect(endpoint)
        sock.send_json({"cmd": "get_config"})
        if sock.poll(timeout_ms):
            sock.recv()
            return True
        return False
    finally:
        sock.close(linger=0)


def read_status(data_dir: Path) -> dict[str, Any] | None:
    """The host's last status.json, or None before the first one."""
    try:
        doc: dict[str, Any] = json.loads((data_dir / "status.json").read_text())
    except (OSError, ValueError):
        return None
    return doc


class HostProcess:
    """One `bytewax.run flows.live` process in namespace `ns` (a `Namespaces` name)."""

    AUDIO, VIDEO, CONTROL = 5555, 5556, 5557

    def __init__(
        self,
        prefix: Sequence[str],
        ip: str,
        data_dir: Path,
        *,
        process_id: int | None = None,
        addresses: Sequence[str] = (),
        workers: int = 1,
        status_interval: float = 0.5,
        extra_env: dict[str, str] | None = None,
    ) -> None:
        self.ip = ip
        self.data_dir = data_dir
        data_dir.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ)
        env.update(
            {
                "PYTHONPATH": str(_ROOT),
                "AMBIENT_FLOW_BIND": ip,
                "AMBIENT_FLOW_DATA_DIR": str(data_dir),
                "AMBIENT_FLOW_ENRICH": "false",
                "AMBIENT_FLOW_TCP_PORT": "0",
                "AMBIENT_FLOW_METRICS_PORT": "0",
                "AMBIENT_FLOW_PUB_PORT": "0",
                "AMBIENT_FLOW_STATUS_INTERVAL": str(status_interval),
                "AMBIENT_FLOW_LOG_LEVEL": "WARNING",
            }
        )
        env.update(extra_env or {})
        cmd = [sys.executable, "-m", "bytewax.run", "flows.live", "-w", str(workers)]
        if process_id is not None:
            cmd += ["-i", str(process_id), "-a", ";".join(addresses)]
        self.cmd = cmd
        self._log = open(data_dir.parent / f"{data_dir.name}.log", "wb")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [*prefix, *cmd],
            cwd=_ROOT,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.started = time.monotonic()
        self.killed_at: float | None = None
        self._interrupted = False

    def endpoint(self, port: int) -> str:
        return f"tcp://{self.ip}:{port}"

    @property
    def endpoints(self) -> dict[str, str]:
        return {"audio": self.endpoint(self.AUDIO), "video": self.endpoint(self.VIDEO)}

    def alive(self) -> bool:
        return self.proc.poll() is None

    def interrupt(self) -> None:
        """One SIGINT: the clean stop (a second one would abort)."""
        if self.alive() and not self._interrupted:
            self._interrupted = True
            os.killpg(self.proc.pid, signal.SIGINT)

    def stop(self, timeout: float = 30.0) -> int | None:
        """SIGINT (a clean stop: sessions flushed); its exit status, None if it hung."""
        self.interrupt()
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def kill(self) -> None:
        """SIGKILL the whole process group: the host is lost, nothing is flushed."""
        self.killed_at = time.monotonic()
        if self.alive():
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    def log_tail(self, lines: int = 6) -> list[str]:
        self._log.flush()
        try:
            text = (self.data_dir.parent / f"{self.data_dir.name}.log").read_text(errors="replace")
        except OSError:
            return []
        return [ln[:200] for ln in text.splitlines()[-lines:]]

    def close(self) -> None:
        if self.alive():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
        self._log.close()
