"""Soak: the live host for an hour with clients coming and going and a hostile sender.

Not a test. Starts `ambient-flow live` as a process of its own (loopback, free ports, a
temporary data directory, the enrichment off unless `--enrich`), then the load of
`bench.soak.load` in two more processes: `--clients` well-behaved clients that come
and go (ZeroMQ and raw TCP, named by hello or not, bye or just gone), and a hostile
sender (`testing.hostile.Mutator` at `--rate` messages a second on every port, a flood
of large messages every minute, idle TCP connections). Every `--sample` seconds it
prints the host's RSS, open file descriptors, the data directory's size, and what the
host counted; at the end a verdict: RSS and descriptors flat after warm-up, the disk
growing steadily and by no more than the audio the host accepted (every client's,
the hostile one's within its budgets: no amplification).

    nice /work/main/.venv/bin/python -m bench.soak                 # one hour
    nice /work/main/.venv/bin/python -m bench.soak --minutes 10    # shorter
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import zmq

from ambient_flow.testing.harness import free_ports
from bench.soak.hostile import IDLE_TCP
from bench.soak.measure import Sample, disk_mb, fds, rss_mb, stats, summary_line, verdict

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="bench.soak", description=__doc__.split("\n\n")[0])
    p.add_argument("--minutes", type=float, default=60.0)
    p.add_argument("--clients", type=int, default=6)
    p.add_argument("--rate", type=float, default=300.0, help="hostile messages per second")
    p.add_argument("--sample", type=float, default=0.0, help="seconds between samples")
    p.add_argument("--enrich", action="store_true", help="run the enrichment too")
    p.add_argument("--keep", action="store_true", help="keep the data directory")
    args = p.parse_args(argv)
    # Started in the background (`... &`), a process inherits SIGINT ignored: stop cleanly
    # on SIGINT and SIGTERM alike (the load processes and the host stopped, data removed).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    seconds = args.minutes * 60
    every = args.sample or max(10.0, min(60.0, seconds / 40))
    data = Path(tempfile.mkdtemp(prefix="af-soak-"))
    audio, video, control, tcp, pub = free_ports(5)
    ports = ["--audio-port", str(audio), "--video-port", str(video),
             "--control-port", str(control), "--tcp-port", str(tcp)]  # fmt: skip
    host_cmd = [
        sys.executable, "-m", "ambient_flow.cli.main", "live", "--bind", "127.0.0.1",
        *ports, "--pub-port", str(pub), "--metrics-port", "0", "--data-dir", str(data / "host"),
        "--line-interval", "0", "--log-level", "ERROR",
        "--enrich" if args.enrich else "--no-enrich",
    ]  # fmt: skip
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[2]))
    host = subprocess.Popen(host_cmd, env=env, stderr=subprocess.DEVNULL)
    ctx = zmq.Context()
    loads: list[subprocess.Popen[str]] = []
    samples: list[Sample] = []
    results: list[dict[str, Any]] = []
    try:
        deadline = time.monotonic() + 120
        while not stats(ctx, control):
            if host.poll() is not None or time.monotonic() > deadline:
                print("the host did not start", file=sys.stderr)
                return 2
        print(f"soak: host pid {host.pid}, {args.minutes:g} min, {args.clients} clients, "
              f"hostile {args.rate:g} msg/s, data in {data}", flush=True)  # fmt: skip
        load = [sys.executable, "-m", "bench.soak.load"]
        common = [*ports, "--seconds", str(seconds)]
        loads.append(subprocess.Popen([*load, "clients", *common, "--clients", str(args.clients)],
                                      env=env, stdout=subprocess.PIPE, text=True))  # fmt: skip
        loads.append(subprocess.Popen([*load, "hostile", *common, "--rate", str(args.rate)],
                                      env=env, stdout=subprocess.PIPE, text=True))  # fmt: skip
        start = time.monotonic()
        while True:
            now = time.monotonic() - start
            if host.poll() is not None:
                print(f"THE HOST DIED (exit {host.returncode})", flush=True)
                return 1
            sample = Sample(
                now, rss_mb(host.pid), fds(host.pid), disk_mb(data), stats(ctx, control)
            )
            samples.append(sample)
            print(summary_line(sample), flush=True)
            if now >= seconds:
                break
            time.sleep(min(every, max(0.0, seconds - now)))
        for proc in loads:
            out, _ = proc.communicate(timeout=300)
            for line in out.splitlines():
                if line.startswith("{"):
                    results.append(json.loads(line))
    finally:
        for proc in loads:
            if proc.poll() is None:
                proc.terminate()
                proc.wait(30)
        if host.poll() is None:
            host.send_signal(signal.SIGINT)
            try:
                host.wait(60)
            except subprocess.TimeoutExpired:
                host.kill()
        ctx.destroy(linger=0)
        if not args.keep:
            shutil.rmtree(data, ignore_errors=True)
    clients = next((r for r in results if r["role"] == "clients"), {})
    hostile = next((r for r in results if r["role"] == "hostile"), {})
    last = samples[-1].stats
    print()
    print(f"well-behaved: {clients.get('sessions', 0)} sessions, "
          f"{clients.get('audio_seconds', 0) / 60:.1f} min of audio, "
          f"{clients.get('video_sent', 0)} frames")  # fmt: skip
    print(f"hostile: {hostile.get('messages', 0)} messages + {hostile.get('flood_messages', 0)} "
          f"flood messages, {hostile.get('bytes', 0) / 1e6:.0f} MB sent")  # fmt: skip
    print(f"host counted: {sum(last.get('rejects', {}).values())} rejects, "
          f"{sum(last.get('drops', {}).values())} drops, "
          f"{last.get('client_events', {}).get('evicted', 0)} evictions, "
          f"tcp closed {last.get('tcp', {}).get('closed', {})}")  # fmt: skip
    ok, lines = verdict(samples, fd_swing=IDLE_TCP)
    for line in lines:
        print(line)
    print("VERDICT:", "flat and bounded" if ok else "NOT flat")
    return 0 if ok else 1
