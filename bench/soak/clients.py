"""The soak's well-behaved clients: they come and go.

`--clients` real `ambient_flow.client.Sender`s, each streaming real-time audio (100 ms
chunks) and a small video frame a second for 20-90 s over ZeroMQ or raw TCP, named by
hello or not at all, then saying bye (or just stopping, as a crashed client would),
pausing, and starting again.
"""

from __future__ import annotations

import argparse
import random
import threading
import time
from typing import Any

import zmq

__all__ = ["run_clients"]


def run_clients(args: argparse.Namespace, stop: threading.Event) -> dict[str, Any]:
    from ambient_flow.client import PatternOptions, Sender, SenderOptions, ToneOptions

    totals = {"sessions": 0, "audio_sent": 0, "video_sent": 0, "audio_seconds": 0.0, "byes": 0}
    lock = threading.Lock()
    deadline = time.monotonic() + args.seconds
    running: set[threading.Event] = set()

    def stop_all() -> None:
        stop.wait()
        with lock:
            for event in running:
                event.set()

    threading.Thread(target=stop_all, daemon=True).start()

    def client(i: int) -> None:
        rng = random.Random(args.seed + i)
        ctx = zmq.Context()
        try:
            while not stop.is_set() and time.monotonic() < deadline - 5:
                duration = min(rng.uniform(20, 90), max(1.0, deadline - time.monotonic() - 3))
                legacy = rng.random() < 0.25  # no hello at all: named after its connection
                options = SenderOptions(
                    host="127.0.0.1",
                    audio_port=args.audio_port,
                    video_port=args.video_port,
                    control_port=args.control_port,
                    tcp_port=args.tcp_port,
                    transport=rng.choice(["zmq", "zmq", "tcp"]),
                    hello_name=f"soak-{i}",
                    audio=ToneOptions(frequency_hz=200 + 50 * i),
                    video=PatternOptions(),
                    fps=1.0,
                    width=160,
                    height=120,
                    duration_s=duration,
                    control=not legacy,
                )
                own = threading.Event()  # a Sender sets its event when it ends
                with lock:
                    running.add(own)
                    if stop.is_set():
                        own.set()
                stats = Sender(options, context=ctx, stop=own).run()
                with lock:
                    running.discard(own)
                    totals["sessions"] += 1
                    totals["audio_sent"] += stats.audio_sent
                    totals["video_sent"] += stats.video_sent
                    totals["audio_seconds"] += stats.audio_sent * 0.1
                    totals["byes"] += 0 if legacy else 1
                stop.wait(rng.uniform(3, 20))
        finally:
            ctx.term()

    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(args.clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(args.seconds + 120)
    return totals
