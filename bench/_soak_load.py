"""The soak's load, in processes of their own: well-behaved clients, and a hostile sender.

`python -m bench._soak_load clients --audio-port ... --seconds S --clients N` runs N
clients that come and go: each streams real-time audio (100 ms chunks) and a small video
frame a second for 20-90 s over ZeroMQ or raw TCP, named by hello or not at all, then
says bye (or just stops, as a crashed client would), pauses, and starts again.

`python -m bench._soak_load hostile ... --rate R` sends `testing.hostile.Mutator`
messages at R per second to every port from 127.0.0.2 (another host, as the host sees
it), floods 4 MiB messages for 2 s every minute, and keeps 40 idle TCP connections open
(the host must close them).

Each prints one JSON line of what it sent when its time is up (or on SIGTERM).
"""

from __future__ import annotations

import argparse
import json
import random
import signal
import socket
import sys
import threading
import time
from typing import Any

import zmq

HOSTILE_SOURCE = "127.0.0.2"


def _ports(args: argparse.Namespace) -> dict[str, int]:
    return {
        "audio": args.audio_port,
        "video": args.video_port,
        "control": args.control_port,
        "tcp": args.tcp_port,
    }


# -- well-behaved clients ---------------------------------------------------------------------
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


# -- the hostile sender -----------------------------------------------------------------------
class _HostileTcp:
    def __init__(self, port: int) -> None:
        self.port = port
        self.sock: socket.socket | None = None

    def send(self, data: bytes) -> bool:
        try:
            if self.sock is None:
                self.sock = socket.socket()
                self.sock.bind((HOSTILE_SOURCE, 0))
                self.sock.settimeout(1)
                self.sock.connect(("127.0.0.1", self.port))
                self.sock.setblocking(False)
            try:
                while self.sock.recv(1 << 20):
                    pass
                raise OSError("closed by the host")
            except BlockingIOError:
                pass
            self.sock.sendall(data)
            return True
        except OSError:
            if self.sock is not None:
                self.sock.close()
            self.sock = None
            return False


def run_hostile(args: argparse.Namespace, stop: threading.Event) -> dict[str, Any]:
    from ambient_flow.testing.hostile import Mutator

    ports = _ports(args)
    ctx = zmq.Context()
    pushes = {}
    for channel in ("audio", "video"):
        sock = ctx.socket(zmq.PUSH)
        sock.setsockopt(zmq.LINGER, 0)
        sock.setsockopt(zmq.SNDHWM, 100)
        sock.connect(f"tcp://{HOSTILE_SOURCE}:0;127.0.0.1:{ports[channel]}")
        pushes[channel] = sock
    req: zmq.Socket[Any] | None = None
    tcp = _HostileTcp(ports["tcp"])
    idle: list[socket.socket] = []
    sent = {"messages": 0, "bytes": 0, "flood_messages": 0, "dropped_locally": 0}
    mutator = Mutator(args.seed)

    def envelope(header: dict[str, Any], payload: bytes) -> bytes:
        head = json.dumps(header).encode()
        return len(head).to_bytes(4, "big") + len(payload).to_bytes(4, "big") + head + payload

    huge, ten_s = bytes(4 << 20), bytes(10 * 16000 * 2)
    flood_seq = 0
    deadline = time.monotonic() + args.seconds
    next_flood = time.monotonic() + 30
    period = 1.0 / args.rate
    next_send = time.monotonic()
    try:
        while not stop.is_set() and time.monotonic() < deadline:
            now = time.monotonic()
            if len(idle) < 40:  # connections that never send: the idle timeout's work
                try:
                    s = socket.socket()
                    s.bind((HOSTILE_SOURCE, 0))
                    s.settimeout(1)
                    s.connect(("127.0.0.1", ports["tcp"]))
                    idle.append(s)
                except OSError:
                    pass
            if now >= next_flood:
                # 1 s of 4 MiB messages, then 1 s of valid 10 s chunks with seq jumps
                # (what a flood does to disk), as fast as the socket takes them.
                end = now + 2.0
                while time.monotonic() < end and not stop.is_set():
                    flood_seq += 350
                    payload = huge if time.monotonic() < end - 1.0 else ten_s
                    head = {"type": "audio", "ts": 1_700_000_000_000 + flood_seq * 100,
                            "seq": flood_seq, "client": "flood"}  # fmt: skip
                    data = envelope(head, payload)
                    try:
                        pushes["audio"].send(data, zmq.NOBLOCK)
                        sent["flood_messages"] += 1
                        sent["bytes"] += len(data)
                    except zmq.Again:
                        time.sleep(0.001)
                next_flood = time.monotonic() + 60
                for s in idle:  # replace the ones the host closed
                    s.close()
                idle.clear()
            msg = mutator.message()
            size = sum(len(p) for p in msg.parts)
            if msg.channel in pushes:
                try:
                    pushes[msg.channel].send_multipart(list(msg.parts), zmq.NOBLOCK)
                except zmq.Again:
                    sent["dropped_locally"] += 1
                    continue
            elif msg.channel == "tcp":
                if not tcp.send(msg.parts[0]):
                    continue
            else:
                if req is None:
                    req = ctx.socket(zmq.REQ)
                    req.setsockopt(zmq.LINGER, 0)
                    req.connect(f"tcp://{HOSTILE_SOURCE}:0;127.0.0.1:{ports['control']}")
                req.send_multipart(list(msg.parts))
                if req.poll(1000):
                    req.recv()
                else:  # Lazy Pirate: a REQ that lost its reply is reopened
                    req.close(linger=0)
                    req = None
            sent["messages"] += 1
            sent["bytes"] += size
            next_send += period
            delay = next_send - time.monotonic()
            if delay > 0:
                stop.wait(delay)
            elif delay < -1.0:
                next_send = time.monotonic()
    finally:
        for s in idle:
            s.close()
        if tcp.sock is not None:
            tcp.sock.close()
        if req is not None:
            req.close(linger=0)
        for sock in pushes.values():
            sock.close(linger=0)
        ctx.term()
    return sent


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="bench._soak_load")
    p.add_argument("role", choices=["clients", "hostile"])
    for name in ("audio", "video", "control", "tcp"):
        p.add_argument(f"--{name}-port", type=int, required=True)
    p.add_argument("--seconds", type=float, required=True)
    p.add_argument("--clients", type=int, default=6)
    p.add_argument("--rate", type=float, default=300.0)
    p.add_argument("--seed", type=int, default=1)
    args = p.parse_args(argv)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    result = run_clients(args, stop) if args.role == "clients" else run_hostile(args, stop)
    print(json.dumps({"role": args.role, **result}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
