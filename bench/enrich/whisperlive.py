"""The peer: WhisperLive's own server (in its own venv) on the same tracks at the same pace.

`setup_peer` builds that venv from PyPI (`python -m bench.enrich --setup-peer`); without
it the section reports "skipped". The server runs `wl_server.py` with our tiny.en
directory; the clients are `senders.wl_clients`, one websocket per client.
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
import time
from collections import deque
from pathlib import Path
from typing import Any

import numpy as np

from ambient_flow.testing.harness import free_port
from bench.core.procs import SenderGroup, temp_dir
from bench.core.stats import rounded
from bench.enrich import analysis
from bench.enrich import senders as es
from bench.enrich.context import ROOT, Ctx

__all__ = ["WL_PACKAGE", "WL_VENV", "setup_peer", "whisperlive"]

WL_VENV = ROOT / ".venv-wl"
WL_PACKAGE = "whisper-live==0.10.0"
_SERVER = Path(__file__).resolve().parent / "wl_server.py"


def _python(venv: Path) -> Path:
    return venv / "bin" / "python"


def setup_peer(venv: Path = WL_VENV) -> int:
    """Create WhisperLive's own virtual environment (its pins differ from ours)."""
    py = Path(sys.base_prefix) / "bin" / "python3"
    print(f"creating {venv} with {py}; pip install {WL_PACKAGE} (about 8 GB, 2-3 min)")
    print("PyAudio (a WhisperLive dependency) builds from source: needs portaudio19-dev")
    subprocess.run([str(py), "-m", "venv", str(venv)], check=True)
    (venv / ".gitignore").write_text("*\n")  # never committed, whatever the repo ignores
    subprocess.run([str(venv / "bin" / "pip"), "install", "-q", WL_PACKAGE], check=True)
    check = "import whisper_live.server, faster_whisper; print(faster_whisper.__version__)"
    out = subprocess.run(
        [str(_python(venv)), "-c", check],
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    print(f"ok: whisper_live imports (faster_whisper {out.stdout.strip()})")
    return 0


class _WlServer:
    """WhisperLive's server in its venv, on 127.0.0.1, with our model directory."""

    def __init__(self, venv: Path, model_dir: str, cache: Path) -> None:
        self.port = free_port()
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "PYTHONPATH": ""}
        options = ["--port", str(self.port), "--model", model_dir, "--threads", "2"]
        self.proc = subprocess.Popen(
            [str(_python(venv)), str(_SERVER), *options, "--cache", str(cache)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
        )
        self.log: deque[str] = deque(maxlen=60)
        self._ready: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        try:
            line = self._ready.get(timeout=90)
        except queue.Empty:
            line = "no READY within 90 s"
        if not line.startswith("READY"):
            self.stop()
            raise RuntimeError(f"WhisperLive server: {line}; log: {list(self.log)[-8:]}")

    def _read(self) -> None:
        if self.proc.stdout is None:  # not with stdout=PIPE; says so to the type checker
            return
        for line in self.proc.stdout:
            self.log.append(line.rstrip())
            if line.startswith(("READY", "ERROR")):
                self._ready.put(line.strip())
        self._ready.put("exited")

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def cpu_s(self) -> float:
        import psutil

        t = psutil.Process(self.proc.pid).cpu_times()
        return float(t.user + t.system)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


def _warm(url: str) -> float:
    """Open one connection so the server loads its model before anything is timed."""
    import websocket

    t = time.perf_counter()
    ws = websocket.create_connection(url, timeout=60)
    try:
        ws.send(es.wl_options("warm-up"))
        while json.loads(ws.recv()).get("message") != "SERVER_READY":
            pass
        ws.send_binary(np.zeros(16000, np.float32).tobytes())
        ws.send_binary(b"END_OF_AUDIO")
    finally:
        ws.close()
    return time.perf_counter() - t


def _versions(venv: Path) -> dict[str, str]:
    code = (
        "import importlib.metadata as m; print(m.version('whisper-live'), "
        "m.version('faster-whisper'), m.version('torch'))"
    )
    out = subprocess.run(
        [str(_python(venv)), "-c", code], capture_output=True, text=True, check=True
    )
    names = ("whisper-live", "faster-whisper", "torch")
    return dict(zip(names, out.stdout.split(), strict=False))


def _level(ctx: Ctx, server: _WlServer, n: int) -> dict[str, Any]:
    """`n` clients, one websocket each, the same tracks as our live level of `n`."""
    tracks = ctx.tracks(n, ctx.plan.phrases)
    wait_s = ctx.plan.wl_final_wait_s
    args = [(server.url, [(t.client, t.pcm, t.offset_s)], wait_s) for t in tracks]
    with SenderGroup(es.wl_clients, args) as group:
        group.wait_ready(120)
        c0, t0 = server.cpu_s(), time.monotonic()
        group.start()
        longest = max(t.seconds + t.offset_s for t in tracks)
        group.wait_done(longest * 2 + wait_s + 60)
        wall, cpu = time.monotonic() - t0, server.cpu_s() - c0
    if group.errors:
        raise RuntimeError("; ".join(group.errors))
    reports = {name: c for r in group.reports.values() for name, c in r["clients"].items()}
    row = {"clients": n, **analysis.whisperlive(tracks, reports)}
    row["server_cpu_pct"] = round(100 * cpu / wall, 1)
    row["sender_max_lag_s"] = rounded(max(r["max_lag_s"] for r in group.reports.values()), 3)
    return row


def whisperlive(ctx: Ctx) -> dict[str, Any]:
    """WhisperLive (faster_whisper backend, VAD on, our tiny.en directory), 1/2/4 clients."""
    from ambient_flow.backends.whisper_ct2 import embedded_model_path

    venv = ctx.wl_venv
    if not _python(venv).exists():
        return {"skipped": f"no {venv}: run `python -m bench.enrich --setup-peer` first"}
    model_dir = str(embedded_model_path())
    out: dict[str, Any] = {
        "versions": _versions(venv),
        "model_dir": model_dir,
        "setup": "single_model=True (upstream run_server default), OMP_NUM_THREADS=2, "
        "use_vad=True, same_output_threshold=10, float32 100 ms chunks",
        "levels": [],
    }
    with temp_dir("af-bench-wl-") as tmp:
        server = _WlServer(venv, model_dir, tmp)
        try:
            out["warm_up_s"] = round(_warm(server.url), 2)
            for n in ctx.plan.levels:
                try:
                    row = _level(ctx, server, n)
                except Exception as exc:  # one level failing does not hide the others
                    row = {"clients": n, "error": repr(exc), "log": list(server.log)[-6:]}
                out["levels"].append(row)
        finally:
            server.stop()
    return out
