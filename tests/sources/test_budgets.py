"""One client cannot exhaust the host: receive budgets in bytes, TCP buffers, idle TCP
connections and running out of file descriptors, on real sockets.

The hostile peer sends from 127.0.0.2 (Linux routes all of 127/8 to loopback), so the
host sees it as another host than the well-behaved client on 127.0.0.1.
"""

from __future__ import annotations

import json
import os
import socket
import struct
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import zmq

from ambient_flow.protocol.codec import audio_header, encode_envelope
from ambient_flow.testing import LiveHost, media

HOSTILE = "127.0.0.2"


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def stats(host: LiveHost) -> dict:  # type: ignore[type-arg]
    reply: dict = host.request({"cmd": "stats"}, timeout=5)["stats"]  # type: ignore[type-arg]
    return reply


def test_a_flood_of_large_messages_is_bounded_and_others_keep_flowing(live_host) -> None:
    """4 MiB messages as fast as the socket takes them, for 3 s, from another host."""
    host = live_host(max_host_bytes_per_second=8 * 1024 * 1024)
    flood = host.context.socket(zmq.PUSH)
    flood.setsockopt(zmq.LINGER, 0)
    flood.setsockopt(zmq.SNDHWM, 4)
    flood.connect(f"tcp://{HOSTILE}:0;127.0.0.1:{host.settings.audio_port}")
    big = encode_envelope(audio_header(1, 0, client="flood"), bytes(4 * 1024 * 1024))
    before = rss_mb()
    stop = threading.Event()
    sent = [0]

    def pump() -> None:
        while not stop.is_set():
            try:
                flood.send(big, zmq.NOBLOCK)
                sent[0] += 1
            except zmq.Again:
                time.sleep(0.001)

    thread = threading.Thread(target=pump, daemon=True)
    thread.start()
    good = host.push("audio")
    worst_latency = 0.0
    worst_control = 0.0
    try:
        for seq in range(30):  # 3 s of real-time audio from a well-behaved client
            t0 = time.monotonic()
            good.send(
                encode_envelope(
                    audio_header(1000 + 100 * seq, seq, client="good"), media.sine_pcm()
                )
            )
            host.wait_for(lambda o, n=seq + 1: len(o.audio("good")) == n, timeout=10)
            worst_latency = max(worst_latency, time.monotonic() - t0)
            if seq % 10 == 0:
                t0 = time.monotonic()
                assert host.request({"cmd": "heartbeat"}, timeout=5)["status"] == "ok"
                worst_control = max(worst_control, time.monotonic() - t0)
            time.sleep(max(0.0, 0.1 - (time.monotonic() - t0)))
    finally:
        stop.set()
        thread.join(5)
    grown = rss_mb() - before
    assert sent[0] > 20  # it really was a flood
    assert worst_latency < 1.0, worst_latency
    assert worst_control < 1.0, worst_control
    assert grown < 600, grown  # was 9.7 GB with a message-counted queue
    doc = stats(host)
    assert doc["drops"].get("receive_budget_audio", 0) > 0
    assert doc["zmq_audio"]["budget_dropped_bytes"] > 0


def test_the_zeromq_queue_is_bounded_in_bytes(tmp_path: Path) -> None:
    from ambient_flow.testing import test_settings

    settings = test_settings(tmp_path, receive_buffer_bytes=64 * 1024 * 1024)
    assert settings.zmq_rcvhwm == 7  # 64 MiB in messages of 8 MiB + header + prefix
    small = test_settings(tmp_path, receive_buffer_bytes=1, rcvhwm=1000)
    assert small.zmq_rcvhwm == 2


def tcp_connect(host: LiveHost, source: str = "127.0.0.1") -> socket.socket:
    sock = socket.socket()
    sock.bind((source, 0))
    sock.settimeout(5)
    sock.connect(("127.0.0.1", host.settings.tcp_port))
    return sock


def closed_by_server(sock: socket.socket, within: float = 5.0) -> bool:
    sock.settimeout(within)
    try:
        return sock.recv(1) == b""
    except (ConnectionResetError, TimeoutError):
        return False


def test_an_idle_tcp_connection_times_out(live_host) -> None:
    host = live_host(tcp_idle_timeout_seconds=0.5)
    idle, busy = tcp_connect(host), tcp_connect(host)
    try:
        for seq in range(12):  # the busy one completes a record every 100 ms
            busy.sendall(encode_envelope(audio_header(1, seq, client="busy"), media.sine_pcm()))
            time.sleep(0.1)
        assert closed_by_server(idle)
        busy.sendall(encode_envelope(audio_header(1, 12, client="busy"), media.sine_pcm()))
        host.wait_for(lambda o: len(o.audio("busy")) == 13)
    finally:
        idle.close()
        busy.close()
    assert stats(host)["tcp"]["closed"]["idle"] == 1


def test_unfinished_tcp_records_are_bounded_over_all_connections(live_host) -> None:
    host = live_host(max_message_bytes=100_000, max_tcp_buffer_bytes=250_000)
    socks = [tcp_connect(host, HOSTILE) for _ in range(4)]
    try:
        for i, sock in enumerate(socks):
            # Announce 90 kB, send most of it, never finish (a slowloris).
            sock.sendall(struct.pack(">II", 20, 90_000) + b"x" * (60_000 + 5_000 * i))
            time.sleep(0.2)
        assert closed_by_server(socks[3])  # the one holding most
        good = tcp_connect(host)
        good.sendall(encode_envelope(audio_header(1, 0, client="good"), media.sine_pcm()))
        host.wait_for(lambda o: len(o.audio("good")) == 1)
        good.close()
        doc = stats(host)["tcp"]
        assert doc["closed"]["buffer_budget"] >= 1
        assert doc["pending_bytes"] <= 250_000
    finally:
        for sock in socks:
            sock.close()


HOST_UNDER_LOW_FD_LIMIT = textwrap.dedent(
    """
    import json, resource, sys, time
    from ambient_flow.testing import LiveHost
    host = LiveHost(sys.argv[1]).start()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    import os
    resource.setrlimit(resource.RLIMIT_NOFILE, (len(os.listdir("/proc/self/fd")) + 40, hard))
    print(json.dumps({"tcp": host.settings.tcp_port}), flush=True)
    sys.stdin.readline()  # the test has opened its connections
    time.sleep(1.0)
    alive = host.error is None and host._thread.is_alive()
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    stats = host.request({"cmd": "stats"}, timeout=5)["stats"]
    print(json.dumps({"tcp": stats["tcp"], "alive": alive}), flush=True)
    host.stop()
    """
)


def test_running_out_of_file_descriptors_pauses_accepting_and_is_counted(tmp_path: Path) -> None:
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[2]))
    proc = subprocess.Popen(
        [sys.executable, "-c", HOST_UNDER_LOW_FD_LIMIT, str(tmp_path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    socks: list[socket.socket] = []
    try:
        assert proc.stdout is not None and proc.stdin is not None
        port = json.loads(proc.stdout.readline())["tcp"]
        for _ in range(120):  # three times what the host can hold
            sock = socket.socket()
            sock.settimeout(2)
            sock.connect(("127.0.0.1", port))
            socks.append(sock)
        proc.stdin.write("go\n")
        proc.stdin.flush()
        result = json.loads(proc.stdout.readline())
        assert proc.wait(30) == 0
    finally:
        for sock in socks:
            sock.close()
        proc.kill()
    assert result["alive"]  # the host lived through it
    assert result["tcp"]["accept_failed"].get("emfile", 0) >= 1
