"""`ambient_flow.Host`: the live host in this process, with frames to read while it runs."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import zmq

from ambient_flow import Host
from ambient_flow.errors import StartupError
from ambient_flow.operators.attribution import Enrichment
from ambient_flow.testing import fakes, test_settings
from ambient_flow.testing.media import sine_pcm
from ambient_flow.testing.messages import audio_parts

from .conftest import open_fds, os_threads, python_threads, settle

SPEECH = "hello from the host"


def fake_models() -> Any:
    return fakes.models(turns=[(0.0, 60.0, "alice")], script=lambda s, e: SPEECH)


def make(tmp_path: Path, **kw: Any) -> Host:
    return Host(test_settings(tmp_path / "data", enrich=True, **kw), models=fake_models())


def speak(host: Host, client: str = "desk", seconds: float = 1.5, first_seq: int = 0) -> int:
    """`seconds` of tone then 1.5 s of silence, as a client would send it; returns the
    next sequence number."""
    ctx = zmq.Context()
    push = ctx.socket(zmq.PUSH)
    push.setsockopt(zmq.LINGER, 2000)
    push.connect(f"tcp://127.0.0.1:{host.settings.audio_port}")
    loud = int(seconds * 10)
    seq = first_seq
    for i in range(loud + 15):
        pcm = sine_pcm(220.0, phase_samples=1600 * i) if i < loud else bytes(3200)
        push.send_multipart(audio_parts(seq, client=client, pcm=pcm))
        seq += 1
    push.close()
    ctx.term()
    return seq


def control(host: Host, body: dict[str, Any]) -> dict[str, Any]:
    ctx = zmq.Context()
    req = ctx.socket(zmq.REQ)
    req.setsockopt(zmq.LINGER, 0)
    try:
        req.connect(f"tcp://127.0.0.1:{host.settings.control_port}")
        req.send_json(body)
        assert req.poll(3000), "no control reply"
        reply = req.recv_json()
        assert isinstance(reply, dict)
        return reply
    finally:
        req.close()
        ctx.term()


def test_frames_come_while_it_runs_and_stop_flushes_the_session(tmp_path: Path) -> None:
    host = make(tmp_path)
    with host:
        frames = host.frames(timeout=10)
        speak(host)
        utterance = next(f for f in frames if f.event_type == "utterance")
        assert isinstance(utterance, Enrichment)
        assert (utterance.client, utterance.text_hypothesis) == ("desk", SPEECH)
        status = host.status()
        stats = control(host, {"cmd": "stats"})
    doc = stats.get("stats", stats)
    # the same document as `stats` (its volatile parts aside)
    assert set(status) == set(doc)
    assert status["clients"].keys() == doc["clients"].keys()
    assert status["audio"]["chunks_received"] == 30
    (session,) = (host.data_dir / "sessions").glob("*/")
    events = [json.loads(x)["event"] for x in (session / "events.jsonl").read_text().splitlines()]
    assert events[0] == "session_start" and events[-1] == "session_end"
    assert json.loads((session / "metadata.json").read_text())["ended_at"] is not None
    # after stop, the last run's final status stays readable
    assert host.status()["audio"]["chunks_received"] == 30


def test_frames_end_after_the_timeout_without_frames_and_at_stop(tmp_path: Path) -> None:
    host = make(tmp_path)
    with host:
        began = time.monotonic()
        assert list(host.frames(timeout=0.5)) == []  # nothing said: ends after 0.5 s
        waited = time.monotonic() - began
        assert 0.45 <= waited < 3.0
        ended = threading.Event()
        got: list[Enrichment] = []

        def read() -> None:
            got.extend(host.frames())  # no timeout: ends when the host stops
            ended.set()

        reader = threading.Thread(target=read)
        reader.start()
        time.sleep(0.2)
        assert not ended.is_set()
    assert ended.wait(10)
    reader.join(5)
    assert got == []


def test_a_callback_and_an_asyncio_reader_get_every_frame(tmp_path: Path) -> None:
    host = make(tmp_path)
    got: list[Enrichment] = []
    seen = threading.Event()

    def on_frame(frame: Enrichment) -> None:
        got.append(frame)
        if frame.event_type == "utterance":
            seen.set()

    async def read() -> list[Enrichment]:
        out = []
        async for frame in host.aframes():
            out.append(frame)
        return out

    host.on_frame(on_frame)
    results: list[list[Enrichment]] = []

    def loop() -> None:
        results.append(asyncio.run(read()))

    reader = threading.Thread(target=loop)
    host.start()
    reader.start()
    time.sleep(0.2)  # the asyncio reader subscribes from its own loop
    speak(host)
    assert seen.wait(10)
    host.stop()
    reader.join(5)
    assert not reader.is_alive()  # the async iterator ended with the host
    (async_frames,) = results
    utterances = [f for f in async_frames if f.event_type == "utterance"]
    assert [f.text_hypothesis for f in utterances] == [SPEECH]
    assert [f.frame_id for f in got] == [f.frame_id for f in async_frames]


def test_a_callback_that_raises_is_counted_and_the_flow_goes_on(tmp_path: Path) -> None:
    host = make(tmp_path)

    def broken(frame: Enrichment) -> None:
        raise ValueError("a bug in the copilot")

    host.on_frame(broken)
    with host:
        frames = host.frames(timeout=10)
        speak(host)
        assert any(f.event_type == "utterance" for f in frames)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and not host.status()["drops"].get(
            "host_callback_errors"
        ):
            time.sleep(0.02)
    assert host.status()["drops"]["host_callback_errors"] >= 2


def drain(sub: Any) -> list[Enrichment]:
    """Everything a subscription still holds, up to its end."""
    out = []
    while True:
        try:
            item = sub.get(0)
        except EOFError:
            return out
        if item is None:
            return out
        out.append(item)


def test_a_reader_that_falls_behind_loses_its_oldest_frames_counted(tmp_path: Path) -> None:
    host = make(tmp_path)
    frames: list[Enrichment] = []
    with host:
        slow = host.subscribe(maxsize=1)
        everything = host.subscribe()
        speak(host)
        for frame in everything.iterate(timeout=10):
            frames.append(frame)
            if frame.event_type == "utterance":
                break
    frames += drain(everything)
    kept = slow.get(0)  # only the newest was kept...
    with pytest.raises(EOFError):  # ...and the subscription ended with the host
        slow.get(0)
    assert kept is not None and kept.frame_id == frames[-1].frame_id
    assert slow.dropped == len(frames) - 1 >= 1
    assert host.status()["drops"]["host_frames_dropped"] == slow.dropped


def test_a_taken_port_is_a_start_up_error_and_nothing_keeps_running(tmp_path: Path) -> None:
    settings = test_settings(tmp_path / "data")
    ctx = zmq.Context()
    squatter = ctx.socket(zmq.PULL)
    squatter.bind(f"tcp://127.0.0.1:{settings.video_port}")
    host = Host(settings)
    try:
        with pytest.raises(StartupError, match=str(settings.video_port)):
            host.start(timeout=10)
        assert not host.running
    finally:
        squatter.close(linger=0)
        ctx.term()
    with host:  # the port is free now: the same host starts
        assert control(host, {"cmd": "heartbeat"})["status"] == "ok"


def test_keyword_overrides_and_a_second_start_while_running(tmp_path: Path) -> None:
    base = test_settings(tmp_path / "data")
    host = Host(base, status_interval=0.5)
    assert host.settings.status_interval == 0.5
    assert host.settings.audio_port == base.audio_port
    with host, pytest.raises(RuntimeError, match="already running"):
        host.start()


def test_twenty_starts_and_stops_leak_no_threads_sockets_or_descriptors(tmp_path: Path) -> None:
    host = make(tmp_path)
    host.start()  # warm up: what a first run loads once for the process
    host.stop()
    settle(lambda: False, 0.3)
    threads, tasks, fds = python_threads(), os_threads(), open_fds()
    for i in range(20):
        h = host if i % 2 else make(tmp_path / f"h{i}")  # the same host again, or a new one
        h.start()
        frames = h.subscribe()
        assert control(h, {"cmd": "heartbeat"})["status"] == "ok"
        h.stop()
        with pytest.raises(EOFError):  # every subscription ends with its run
            frames.get(0)
    settle(lambda: python_threads() == threads and os_threads() <= tasks and open_fds() <= fds)
    assert python_threads() == threads
    assert os_threads() <= tasks, f"{os_threads() - tasks} OS threads leaked"
    assert open_fds() <= fds, f"descriptors leaked: {fds} -> {open_fds()}"


def test_two_workers_are_both_ready_before_start_returns(tmp_path: Path) -> None:
    host = Host(test_settings(tmp_path / "data"), workers=2)
    with host:
        assert host.runtime is not None
        assert host.runtime.wait_ready({"inputs:0", "inputs:1"}, 0) == set()
        assert control(host, {"cmd": "heartbeat"})["status"] == "ok"
        speak(host, seconds=0.2)
        deadline = time.monotonic() + 5
        while host.status()["audio"]["chunks_received"] < 17 and time.monotonic() < deadline:
            time.sleep(0.02)
    assert host.status()["audio"]["chunks_received"] == 17


def test_importing_host_loads_no_model_library() -> None:
    code = (
        "import sys; from ambient_flow import Host, CaptureReceiver; "
        "heavy = ('torch', 'onnxruntime', 'faster_whisper', 'ctranslate2', 'whisper', "
        "'resemblyzer', 'ultralytics', 'diart', 'pyannote.audio', 'cv2'); "
        "print([m for m in heavy if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
