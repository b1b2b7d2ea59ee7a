"""Fuzz: over 100 000 mutated messages through every port and the capture reader.

A seeded corpus (`ambient_flow.testing.hostile.Mutator`: numbers out of range, wrong
types, deep nesting, broken prefixes, wrong part counts, odd PCM, jumping sequence
numbers, ...) goes to the live host's audio, video, control and raw-TCP ports while a
well-behaved client streams beside it, and hypothesis adds its own message shapes. The
host must live through it, the good client must lose nothing, and the counts must add
up: every message received is parsed once (`raw` = `parsed`), every parse reject is
counted once under its reason, every valid audio and video message is counted as
received. The capture of the run replays to the same counts, and mutated captures
read and replay without an exception.
"""

from __future__ import annotations

import random
import socket
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import zmq
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ambient_flow.capture import CaptureReader
from ambient_flow.capture.format import CaptureWriter
from ambient_flow.config import Settings
from ambient_flow.protocol.codec import audio_header, encode_envelope
from ambient_flow.testing import LiveHost, media, run_capture, run_messages
from ambient_flow.testing.hostile import HOSTILE_VALUES, Mutator, WireMessage

LIVE_MESSAGES = 80_000
CAPTURE_MUTANTS = 40
SEED = 20260601
#: Bounds a fuzzer would hit that are not about one message: off, so the counts are exact.
UNBOUNDED: dict[str, Any] = {
    "max_host_bytes_per_second": 0,
    "max_clients": 1_000_000,
    "max_clients_per_host": 1_000_000,
    "max_new_sessions_per_minute": 1e9,
    "max_sessions_per_minute": 1e9,
    "max_client_disk_bytes_per_minute": 0,
    "min_free_disk_bytes": 0,
}


class _Tcp:
    """One raw-TCP connection, opened again whenever the host closed it (a bad prefix)."""

    def __init__(self, port: int) -> None:
        self._port = port
        self._sock: socket.socket | None = None
        self.sent = 0

    def send(self, data: bytes) -> None:
        for _ in range(2):
            if self._sock is None:
                self._sock = socket.create_connection(("127.0.0.1", self._port), timeout=5)
                self._sock.setblocking(False)
            try:
                self._drain_replies()
                self._sock.settimeout(5)
                self._sock.sendall(data)
                self._sock.setblocking(False)
                self.sent += 1
                return
            except OSError:
                self.close()

    def _drain_replies(self) -> None:
        assert self._sock is not None
        try:
            while self._sock.recv(1 << 20):
                pass
            self.close()  # b"": the host closed it
            raise OSError("closed")
        except BlockingIOError:
            return

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None


def _good_client(host: LiveHost, chunks: int, stop: threading.Event) -> None:
    ctx = zmq.Context()
    push = ctx.socket(zmq.PUSH)
    push.setsockopt(zmq.LINGER, 2000)
    push.connect(host.endpoint("audio"))
    try:
        for seq in range(chunks):
            if stop.is_set():
                break
            head = audio_header(1_700_000_000_000 + 100 * seq, seq, client="good-client")
            push.send(encode_envelope(head, media.sine_pcm(phase_samples=1600 * seq)))
            time.sleep(0.02)
    finally:
        push.close()
        ctx.term()


def _check_counts(status: dict[str, Any]) -> None:
    raw, parsed, rejects = status["raw"], status["parsed"], status["rejects"]
    assert sum(raw.values()) == sum(parsed.values())  # every message parsed, once
    assert parsed.get("rejected", 0) == sum(rejects.values()) - rejects.get("too_many_clients", 0)
    assert parsed.get("audio", 0) == status["audio"]["chunks_received"]
    assert parsed.get("video", 0) == status["video"]["frames_received"]


# 80 000 messages through real sockets: about 90 s on this shared 2-core machine when it
# is busy (45 s of CPU), so more than the suite's 120 s per test, to fail on a hang only.
@pytest.mark.timeout(360)
def test_the_host_survives_a_seeded_corpus_on_every_port(live_host, tmp_path: Path) -> None:
    capture = tmp_path / "fuzz.zmqcap"
    host: LiveHost = live_host(record=str(capture), **UNBOUNDED)
    audio, video = host.push("audio"), host.push("video")
    for sock in (audio, video):
        sock.setsockopt(zmq.SNDHWM, 0)  # never drop on our side: the counts are exact
    control = host.context.socket(zmq.REQ)
    control.setsockopt(zmq.LINGER, 0)
    control.connect(host.endpoint("control"))
    tcp = _Tcp(host.settings.tcp_port)
    sent = {"audio": 0, "video": 0, "control": 0}
    stop = threading.Event()
    good = threading.Thread(target=_good_client, args=(host, 200, stop), daemon=True)
    good.start()
    try:
        for msg in Mutator(SEED).messages(LIVE_MESSAGES):
            if msg.channel == "tcp":
                tcp.send(msg.parts[0])
                continue
            if msg.channel == "control":
                control.send_multipart(list(msg.parts))
                assert control.poll(5000), "the control port stopped answering"
                control.recv()  # every request is answered, even a bad one
            else:
                (audio if msg.channel == "audio" else video).send_multipart(list(msg.parts))
            sent[msg.channel] += 1
        good.join(30)
        host.wait_for(lambda o: len(o.audio("good-client")) == 200, timeout=30)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:  # everything sent has arrived
            raw = host.runtime.telemetry.status()["raw"]
            if all(raw.get(ch, 0) >= n for ch, n in sent.items()):
                break
            time.sleep(0.1)
    finally:
        stop.set()
        tcp.close()
        control.close(linger=0)
    out = host.stop()
    assert host.error is None
    status = host.runtime.telemetry.status()
    raw = status["raw"]
    assert raw["audio"] == sent["audio"] + 200 and raw["video"] == sent["video"]
    assert raw["control"] >= sent["control"]  # (and the harness's own requests)
    assert 0 < raw["tcp"] <= 2 * tcp.sent  # (a broken stream adds a record of its bytes)
    _check_counts(status)
    assert sum(status["rejects"].values()) > LIVE_MESSAGES // 4  # it really was hostile
    good_chunks = out.audio("good-client")
    assert [c.sequence for c in good_chunks] == list(range(200))  # nothing lost, in order
    assert not out.events("gap", client="good-client")
    # The capture replays to the same counts (the parser decides from the bytes alone).
    replayed = run_capture(capture, tmp_path / "replay")
    assert replayed.status["parsed"] == status["parsed"]
    assert replayed.status["rejects"] == status["rejects"]


def _mutate_capture(data: bytes, rng: random.Random) -> bytes:
    buf = bytearray(data)
    head = 40  # keep most file headers intact, so the records are what gets read
    for _ in range(rng.randrange(1, 30)):
        roll = rng.random()
        i = rng.randrange(head, len(buf))
        if roll < 0.6:
            buf[i] ^= 1 << rng.randrange(8)
        elif roll < 0.8:
            j = min(len(buf), i + rng.randrange(1, 200))
            buf[i:i] = buf[i:j]  # a stretch written twice
        else:
            del buf[i : i + rng.randrange(1, 200)]
    if rng.random() < 0.3:
        del buf[rng.randrange(head, len(buf)) :]  # cut short, as by a crash
    return bytes(buf)


def test_mutated_captures_read_and_replay(tmp_path: Path) -> None:
    mutator = Mutator(SEED + 1)
    t0 = 1_700_000_000_000_000_000
    source = tmp_path / "source.zmqcap"
    with CaptureWriter(source, {"config": Settings(**UNBOUNDED).to_dict()}) as writer:
        for i, msg in enumerate(mutator.messages(1500)):
            writer.write(msg.raw(t0 + i * 2_000_000, host=f"192.0.2.{i % 4}", conn=f"fd{i % 7}"))
    data = source.read_bytes()
    rng = random.Random(SEED)
    records = 0
    for k in range(CAPTURE_MUTANTS):
        path = tmp_path / f"mutant{k}.zmqcap"
        path.write_bytes(_mutate_capture(data, rng))
        reader = CaptureReader(path)  # the file header survived the mutation
        records += sum(1 for _ in reader)
        if k % 8 == 0:  # and the graph takes whatever the reader gives it
            _check_counts(run_capture(path, tmp_path / f"replay{k}").status)
    assert records > CAPTURE_MUTANTS * 1000  # damage skipped, the rest read


# -- hypothesis: shapes the corpus does not make ---------------------------------------
text_values = (
    st.sampled_from(HOSTILE_VALUES)
    | st.integers().map(str)
    | st.text(max_size=30).map(lambda t: '"' + t.replace("\\", "\\\\").replace('"', '\\"') + '"')
)


@st.composite
def messages(draw: st.DrawFn) -> WireMessage:
    channel = draw(st.sampled_from(["audio", "video", "control", "tcp"]))
    names = ["type", "ts", "seq", "sr", "ch", "w", "h", "cmd", "client", "session", "fmt"]
    keys = draw(st.lists(st.sampled_from(names), max_size=8))
    fields = {k: draw(text_values) for k in keys}
    header = ("{" + ",".join(f'"{k}":{v}' for k, v in fields.items()) + "}").encode()
    payload = draw(st.binary(max_size=64))
    if channel == "control":
        return WireMessage("control", (header,))
    framing = draw(st.sampled_from(["envelope", "multipart", "bare"]))
    if channel == "tcp" or framing == "envelope":
        prefix = len(header).to_bytes(4, "big") + len(payload).to_bytes(4, "big")
        return WireMessage(channel, (prefix + header + payload,))  # type: ignore[arg-type]
    parts = (header, payload) if framing == "multipart" else (header,)
    return WireMessage(channel, parts)  # type: ignore[arg-type]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(messages(), min_size=1, max_size=60))
def test_the_graph_survives_any_message_shape(
    tmp_path_factory: Any, batch: list[WireMessage]
) -> None:
    t0 = 1_700_000_000_000_000_000
    raws = [m.raw(t0 + i * 1_000_000, conn=f"fd{i % 3}") for i, m in enumerate(batch)]
    out = run_messages(
        raws, tmp_path_factory.mktemp("h"), settings=Settings(enrich=False, **UNBOUNDED)
    )
    status = out.status
    status["raw"] = {"all": len(raws)}  # run_messages has no source to count them
    _check_counts(status)


@pytest.mark.parametrize("seed", range(4))
def test_seeded_corpus_through_the_graph_with_the_enrichment(tmp_path: Path, seed: int) -> None:
    """The same corpus, in process, through ingest and the enrichment (fake models)."""
    from ambient_flow.testing import fakes

    t0 = 1_700_000_000_000_000_000
    batch = [
        m.raw(t0 + i * 3_000_000, host=f"192.0.2.{i % 3}", conn=f"fd{i % 5}")
        for i, m in enumerate(Mutator(SEED + 10 + seed).messages(5000))
    ]
    settings_ = Settings(enrich=True, **UNBOUNDED)
    out = run_messages(batch, tmp_path, settings=settings_, models=fakes.models())
    status = out.status
    status["raw"] = {"all": len(batch)}
    _check_counts(status)
