"""A host as its own process: `python -m bytewax.run flows.live` (optionally inside a
network namespace), bound to one address, with its own data dir.

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

__all__ = ["SIMULATED_CLIENTS", "HostProcess", "control_ok", "read_status"]

#: Settings for many simulated clients that share one sending address (a benchmark's
#: sender processes): the per-sending-host budgets of docs/security.md are made for one
#: address per machine, so here they are lifted (and the client cap raised); every
#: per-client budget stays as shipped.
SIMULATED_CLIENTS: dict[str, object] = {
    "max_clients": 20_000,
    "max_clients_per_host": 20_000,
    "max_host_bytes_per_second": 0,
    "max_sessions_per_minute": 1_000_000.0,
}

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
    """One `bytewax.run flows.live` process; `prefix` runs it inside a namespace."""

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
        ports: tuple[int, int, int] = (5555, 5556, 5557),
    ) -> None:
        self.ip = ip
        self.AUDIO, self.VIDEO, self.CONTROL = ports
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
                "AMBIENT_FLOW_AUDIO_PORT": str(ports[0]),
                "AMBIENT_FLOW_VIDEO_PORT": str(ports[1]),
                "AMBIENT_FLOW_CONTROL_PORT": str(ports[2]),
            }
        )
        env.update({f"AMBIENT_FLOW_{k.upper()}": str(v) for k, v in SIMULATED_CLIENTS.items()})
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
