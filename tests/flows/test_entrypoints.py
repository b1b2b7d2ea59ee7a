"""The entry points users type, run as real subprocesses."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import zmq

from ambient_flow.capture import CaptureWriter
from ambient_flow.testing import free_port
from ambient_flow.testing.messages import audio_parts, audio_raw, control_raw, video_raw

from .test_record_replay import tree_digest

ROOT = Path(__file__).resolve().parents[2]


def host_env(data_dir: Path) -> tuple[dict[str, str], dict[str, int]]:
    ports = {name: free_port() for name in ("audio", "video", "control", "tcp")}
    env = dict(os.environ)
    env.update({f"AMBIENT_FLOW_{k.upper()}_PORT": str(v) for k, v in ports.items()})
    env.update(
        AMBIENT_FLOW_ENRICH="0",  # ingest only here; tests/graph/test_enrich.py runs the models
        AMBIENT_FLOW_METRICS_PORT="0",
        AMBIENT_FLOW_DATA_DIR=str(data_dir),
        AMBIENT_FLOW_BIND="127.0.0.1",
        PYTHONPATH=str(ROOT),
    )
    return env, ports


def stats(  # type: ignore[type-arg]
    ctx: zmq.Context, port: int, timeout: float = 1.0, host: str = "127.0.0.1"
) -> dict | None:
    req = ctx.socket(zmq.REQ)
    req.setsockopt(zmq.LINGER, 0)
    req.connect(f"tcp://{host}:{port}")
    try:
        req.send_json({"cmd": "stats"})
        if not req.poll(int(timeout * 1000)):
            return None
        return req.recv_json()["stats"]  # type: ignore[index,no-any-return]
    finally:
        req.close()


def wait_until(predicate, timeout: float, procs: list[subprocess.Popen]) -> None:  # type: ignore[no-untyped-def,type-arg]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for proc in procs:
            if proc.poll() is not None:
                raise AssertionError(
                    f"host exited early: {proc.stdout.read() if proc.stdout else ''}"
                )
        if predicate():
            return
        time.sleep(0.1)
    raise TimeoutError("condition not met")


def stop(procs: list[subprocess.Popen]) -> list[str]:  # type: ignore[type-arg]
    for proc in procs:
        proc.send_signal(signal.SIGINT)
    outputs = []
    for proc in procs:
        out, _ = proc.communicate(timeout=20)
        assert proc.returncode == 0, out
        outputs.append(out)
    return outputs


def start(args: list[str], env: dict[str, str]) -> subprocess.Popen:  # type: ignore[type-arg]
    return subprocess.Popen(
        [sys.executable, "-m", "bytewax.run", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


@pytest.mark.parametrize("workers", ["1", "2"])
def test_bytewax_run_flows_live(tmp_path: Path, workers: str) -> None:
    env, ports = host_env(tmp_path / "data")
    proc = start(["flows.live", "-w", workers], env)
    ctx = zmq.Context()
    try:
        wait_until(lambda: stats(ctx, ports["control"]) is not None, 30, [proc])
        push = ctx.socket(zmq.PUSH)
        push.setsockopt(zmq.LINGER, 0)
        push.connect(f"tcp://127.0.0.1:{ports['audio']}")
        for seq in range(10):
            push.send_multipart(audio_parts(seq, client="sub"))
        wait_until(
            lambda: (
                (stats(ctx, ports["control"]) or {}).get("audio", {}).get("chunks_received") == 10
            ),
            15,
            [proc],
        )
        push.close()
    finally:
        (out,) = stop([proc])
        ctx.destroy(linger=0)
    assert "stopping (flushing sessions)" in out
    (session,) = (tmp_path / "data" / "sessions").iterdir()
    meta = json.loads((session / "session.json").read_text())
    assert meta["client"] == "sub" and meta["samples"] == 16000 and meta["end_reason"] == "eof"
    assert (
        json.loads((tmp_path / "data" / "status.json").read_text())["audio"]["chunks_received"]
        == 10
    )


def test_two_processes_on_localhost(tmp_path: Path) -> None:
    env, ports = host_env(tmp_path / "data")
    addresses = f"127.0.0.1:{free_port()};127.0.0.1:{free_port()}"
    procs = [start(["flows.live", "-a", addresses, "-i", str(i)], env) for i in range(2)]
    ctx = zmq.Context()
    try:
        wait_until(lambda: stats(ctx, ports["control"]) is not None, 40, procs)
        audio = ctx.socket(zmq.PUSH)
        audio.setsockopt(zmq.LINGER, 0)
        audio.connect(f"tcp://127.0.0.1:{ports['audio']}")
        for seq in range(10):
            for name in ("p", "q", "r", "s"):
                audio.send_multipart(audio_parts(seq, client=name))
        sessions = tmp_path / "data" / "sessions"

        def all_written() -> bool:
            if not sessions.exists():
                return False
            wavs = list(sessions.glob("*/audio.wav"))
            return len(wavs) == 4 and all(w.stat().st_size >= 44 + 10 * 3200 for w in wavs)

        wait_until(all_written, 20, procs)
        audio.close()
    finally:
        stop(procs)
        ctx.destroy(linger=0)
    names = sorted(p.name.split("_")[2] for p in (tmp_path / "data" / "sessions").iterdir())
    assert names == ["p", "q", "r", "s"]


def test_cluster_processes_bind_their_own_addresses(tmp_path: Path) -> None:
    """Two processes of one cluster, bound to different addresses (127.0.0.1 and
    127.0.0.2 here, two machines in docs/cluster.md): each binds its own ports and
    writes its own status.json, and a client that moves from one to the other halfway
    keeps one session (its state is keyed across the cluster)."""
    env, ports = host_env(tmp_path / "unused")
    ips = ("127.0.0.1", "127.0.0.2")
    addresses = f"127.0.0.1:{free_port()};127.0.0.1:{free_port()}"
    procs = []
    for i, ip in enumerate(ips):
        env_i = dict(env, AMBIENT_FLOW_BIND=ip, AMBIENT_FLOW_DATA_DIR=str(tmp_path / f"d{i}"))
        procs.append(start(["flows.live", "-a", addresses, "-i", str(i)], env_i))
    ctx = zmq.Context()
    names = ("p", "q", "r", "s")
    try:
        for ip in ips:
            wait_until(lambda ip=ip: stats(ctx, ports["control"], host=ip) is not None, 40, procs)
        pushes = []
        for ip in ips:
            push = ctx.socket(zmq.PUSH)
            push.setsockopt(zmq.LINGER, 2000)
            push.connect(f"tcp://{ip}:{ports['audio']}")
            pushes.append(push)

        def wavs() -> list[Path]:
            return [w for i in (0, 1) for w in (tmp_path / f"d{i}").glob("sessions/*/*.wav")]

        # The first half through one host; the client moves once that is written (as a
        # client that fails over does, later): sent at once through both, the second half
        # can reach the client's state first and make the first half late.
        for seq in range(10):
            if seq == 5:
                wait_until(
                    lambda: (
                        len(wavs()) == 4 and all(w.stat().st_size >= 44 + 5 * 3200 for w in wavs())
                    ),
                    20,
                    procs,
                )
            for name in names:
                pushes[seq // 5].send_multipart(audio_parts(seq, client=name))
        wait_until(
            lambda: len(wavs()) == 4 and all(w.stat().st_size >= 44 + 10 * 3200 for w in wavs()),
            20,
            procs,
        )
        for push in pushes:
            push.close()
    finally:
        stop(procs)
        ctx.destroy(linger=0)
    sessions = [json.loads((w.parent / "session.json").read_text()) for w in wavs()]
    assert sorted(m["client"] for m in sessions) == list(names)  # one session per client
    assert all(m["samples"] == 10 * 1600 for m in sessions)
    received = [json.loads((tmp_path / f"d{i}" / "status.json").read_text()) for i in (0, 1)]
    assert len({doc["pid"] for doc in received}) == 2  # each process reports itself
    assert sum(doc["audio"]["chunks_received"] for doc in received) == 40


@pytest.fixture
def capture(tmp_path: Path) -> Path:
    path = tmp_path / "small.zmqcap"
    t0 = 1_700_000_000_000_000_000
    with CaptureWriter(path, {"created_at": 0}) as writer:
        writer.write(control_raw("hello", at_ns=t0, client="cap", capabilities=["audio", "video"]))
        for seq in range(20):
            writer.write(audio_raw(seq, client="cap"))
            if seq % 4 == 0:
                writer.write(video_raw(seq // 4, client="cap", w=64, h=48))
    return path


def test_replay_entry_points_agree(tmp_path: Path, capture: Path) -> None:
    env = dict(os.environ, PYTHONPATH=str(ROOT), AMBIENT_FLOW_ENRICH="0")
    run = {"cwd": ROOT, "env": env, "capture_output": True, "text": True, "timeout": 120}
    a, b = tmp_path / "a", tmp_path / "b"
    done = subprocess.run(
        [sys.executable, "-m", "flows.replay", str(capture), "--data-dir", str(a)], **run
    )  # type: ignore[call-overload]
    assert done.returncode == 0, done.stdout + done.stderr
    factory = f"flows.replay:flow({str(capture)!r}, data_dir={str(b)!r})"
    done = subprocess.run([sys.executable, "-m", "bytewax.run", factory], **run)  # type: ignore[call-overload]
    assert done.returncode == 0, done.stdout + done.stderr
    digest = tree_digest(a)
    assert any(k.endswith("audio.wav") for k in digest)
    assert tree_digest(b) == digest
