"""Helpers shared by the sender tests (fixtures are in conftest.py)."""

from __future__ import annotations

import contextlib
import socket
import threading
import wave
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import zmq

from ambient_flow.protocol.codec import EnvelopeStream


class FakeClock:
    """A monotonic clock that only moves when someone sleeps on it (or `advance`s it)."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += max(0.0, seconds)

    def advance(self, seconds: float) -> None:
        self.now += seconds


def recv_all(sock: zmq.Socket[Any], count: int, timeout_ms: int = 3000) -> list[list[bytes]]:
    """Receive `count` messages (fewer if the timeout passes between two of them)."""
    out: list[list[bytes]] = []
    while len(out) < count and sock.poll(timeout_ms, zmq.POLLIN):
        out.append(sock.recv_multipart())
    return out


def drain(sock: zmq.Socket[Any], quiet_ms: int = 1000) -> list[list[bytes]]:
    """Receive until nothing arrives for `quiet_ms`."""
    out: list[list[bytes]] = []
    while sock.poll(quiet_ms, zmq.POLLIN):
        out.append(sock.recv_multipart())
    return out


def free_port() -> int:
    """A TCP port nobody listens on (bound then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class TcpSink:
    """A plain TCP listener in a thread: accepts connections and keeps every byte per connection.

    `reply` (optional) is called with each complete envelope and may return bytes to
    send back on the same connection.
    """

    def __init__(self, reply: Callable[[bytes], bytes | None] | None = None) -> None:
        self.server = socket.socket()
        self.server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.server.bind(("127.0.0.1", 0))
        self.server.listen(8)
        self.server.settimeout(0.1)
        self.port: int = self.server.getsockname()[1]
        self.connections: list[bytearray] = []
        self._conns: list[socket.socket] = []
        self.envelopes: list[list[bytes]] = []
        self._reply = reply
        self._stop = threading.Event()
        #: Set: connections are kept open but not read (bytes pile up in the kernel).
        self.paused = threading.Event()
        self._threads: list[threading.Thread] = []
        self._accept = threading.Thread(target=self._serve, daemon=True)
        self._accept.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            buf = bytearray()
            envs: list[bytes] = []
            self._conns.append(conn)
            self.connections.append(buf)
            self.envelopes.append(envs)
            t = threading.Thread(target=self._read, args=(conn, buf, envs), daemon=True)
            t.start()
            self._threads.append(t)

    def _read(self, conn: socket.socket, buf: bytearray, envs: list[bytes]) -> None:
        stream = EnvelopeStream()
        conn.settimeout(0.1)
        with conn:
            while not self._stop.is_set():
                if self.paused.is_set():
                    self._stop.wait(0.01)
                    continue
                try:
                    data = conn.recv(65536)
                except TimeoutError:
                    continue
                except OSError:
                    return
                if not data:
                    return
                buf += data
                for env in stream.feed(data):
                    envs.append(env)
                    if self._reply is not None:
                        answer = self._reply(env)
                        if answer:
                            conn.sendall(answer)

    def wait_bytes(self, n: int, timeout_s: float = 3.0) -> None:
        deadline = threading.Event()
        waited = 0.0
        while sum(len(b) for b in self.connections) < n and waited < timeout_s:
            deadline.wait(0.01)
            waited += 0.01

    def close_connections(self) -> None:
        """Drop every accepted connection (the server restarting, as the client sees it)."""
        for conn in self._conns:
            with contextlib.suppress(OSError):  # already gone: the state we want
                conn.shutdown(socket.SHUT_RDWR)
            conn.close()

    def close(self) -> None:
        self._stop.set()
        self._accept.join(2)
        for t in self._threads:
            t.join(2)
        self.server.close()


def write_wav(path: Path, samples: np.ndarray[Any, Any], rate: int, *, sampwidth: int = 2) -> Path:
    """Write int16 samples (frames x channels, or 1-D mono) as a PCM WAV."""
    data = np.asarray(samples)
    channels = 1 if data.ndim == 1 else data.shape[1]
    with wave.open(str(path), "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(sampwidth)
        w.setframerate(rate)
        if sampwidth == 2:
            w.writeframes(data.astype("<i2").tobytes())
        else:
            w.writeframes(bytes(len(data.reshape(-1)) * sampwidth))
    return path


def sine(freq: float, rate: int, seconds: float, amplitude: float = 0.5) -> np.ndarray[Any, Any]:
    t = np.arange(round(rate * seconds)) / rate
    tone: np.ndarray[Any, Any] = np.round(amplitude * 32767 * np.sin(2 * np.pi * freq * t))
    return tone.astype(np.int16)


def peak_hz(pcm: bytes, rate: int) -> float:
    """Frequency of the strongest FFT bin of int16 mono PCM."""
    x = np.frombuffer(pcm, "<i2").astype(np.float64)
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.fft.rfftfreq(len(x), 1 / rate)[int(np.argmax(spectrum))])


class ControlServer:
    """A REP (or ROUTER) control server in a thread, answering with `answer(request)`.

    `answer` returning None leaves that request unanswered (ROUTER only: a REP socket
    must answer before it can receive again), which is how a lost reply looks.
    """

    def __init__(
        self,
        ctx: zmq.Context[Any],
        answer: Callable[[dict[str, Any]], dict[str, Any] | None],
        *,
        router: bool = False,
        port: int | None = None,
    ) -> None:
        self.sock = ctx.socket(zmq.ROUTER if router else zmq.REP)
        self.sock.setsockopt(zmq.LINGER, 0)
        if port is None:
            self.port = self.sock.bind_to_random_port("tcp://127.0.0.1")
        else:
            self.sock.bind(f"tcp://127.0.0.1:{port}")
            self.port = port
        self.requests: list[dict[str, Any]] = []
        #: Each request's last frame, byte for byte.
        self.raw: list[bytes] = []
        self._answer = answer
        self._router = router
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        import json

        while not self._stop.is_set():
            if not self.sock.poll(20, zmq.POLLIN):
                continue
            frames = self.sock.recv_multipart()
            self.raw.append(frames[-1])
            body = json.loads(frames[-1])
            self.requests.append(body)
            reply = self._answer(body)
            if reply is None:
                continue
            data = json.dumps(reply).encode()
            self.sock.send_multipart([*frames[:-1], data] if self._router else [data])

    def commands(self) -> list[str]:
        return [r["cmd"] for r in self.requests]

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self.sock.close(linger=0)


SERVER_CONFIG = {
    "protocol_version": 1,
    "audio_chunk_ms": 50,
    "audio_sample_rate": 16000,
    "audio_channels": 1,
    "audio_format": "int16",
    "video_fps": 4.0,
    "video_res": [160, 120],
    "video_format": "jpeg",
    "video_quality": 40,
    "heartbeat_interval_s": 0.2,
    "max_message_bytes": 8388608,
    "ports": {"audio": 5555, "video": 5556, "control": 5557, "tcp": 5558},
}


def standard_answer(request: dict[str, Any]) -> dict[str, Any]:
    """What the real server answers (see sources/control.py)."""
    if request["cmd"] in ("hello", "get_config"):
        return {"status": "ok", "config": SERVER_CONFIG}
    if request["cmd"] == "heartbeat":
        return {"status": "ok", "ts": 1_700_000_000_000}
    return {"status": "ok"}
