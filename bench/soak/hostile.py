"""The soak's hostile sender, from another address (127.0.0.2, another host to the host).

`testing.hostile.Mutator` messages at `--rate` a second on every port (ZeroMQ audio,
video and control, raw TCP); every minute a flood (1 s of 4 MiB messages, then 1 s of
valid 10 s chunks whose `seq` jumps: what a flood does to disk); and 40 idle TCP
connections kept open (the host must close them).
"""

from __future__ import annotations

import argparse
import json
import socket
import threading
import time
from typing import Any

import zmq

from ambient_flow.protocol.codec import encode_envelope

__all__ = ["HOSTILE_SOURCE", "IDLE_TCP", "run_hostile"]

#: Idle TCP connections held open (the host closes them after its idle timeout; they are
#: replaced every minute): the host's descriptor count swings by this many, by design.
IDLE_TCP = 40

HOSTILE_SOURCE = "127.0.0.2"


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

    ports = {
        "audio": args.audio_port,
        "video": args.video_port,
        "control": args.control_port,
        "tcp": args.tcp_port,
    }
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

    huge, ten_s = bytes(4 << 20), bytes(10 * 16000 * 2)
    flood_seq = 0
    deadline = time.monotonic() + args.seconds
    next_flood = time.monotonic() + 30
    period = 1.0 / args.rate
    next_send = time.monotonic()
    try:
        while not stop.is_set() and time.monotonic() < deadline:
            now = time.monotonic()
            if len(idle) < IDLE_TCP:  # connections that never send: the idle timeout's work
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
                    data = encode_envelope(json.dumps(head).encode(), payload)
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
