"""SessionSink inside real Bytewax dataflows (run_main and a 2-worker cluster_main)."""

from __future__ import annotations

import json
import threading
import wave
from pathlib import Path
from typing import Any

import bytewax.operators as op
import numpy as np
import numpy.typing as npt
import pytest
from bytewax.dataflow import Dataflow
from bytewax.testing import TestingSource, cluster_main, run_main

from ambient_flow.sinks import SessionSink

from .items import CHUNK, Client


def _pcm(path: Path) -> npt.NDArray[np.int16]:
    with wave.open(str(path), "rb") as r:
        return np.frombuffer(r.readframes(r.getnframes()), "<i2")


def _items(alice: Client, bob: Client, *, end_bob: bool) -> list[object]:
    items: list[object] = [alice.start(), bob.start()]
    for i in range(5):
        items += [alice.audio(), bob.audio(), alice.frame(i)]
    if end_bob:
        items.append(bob.end("bye"))
    return items  # alice is still open at end of input: the sink closes it


def test_session_sink_in_run_main(tmp_path: Path, alice: Client, bob: Client) -> None:
    calls: list[tuple[int, dict[str, int]]] = []
    lock = threading.Lock()

    def observe(worker: int, counters: dict[str, int]) -> None:
        with lock:
            calls.append((worker, counters))

    flow = Dataflow("sessions")
    stream = op.input("in", flow, TestingSource(_items(alice, bob, end_bob=True), batch_size=4))
    op.output("out", stream, SessionSink(tmp_path, save_frames=True, observer=observe))
    run_main(flow)  # type: ignore[no-untyped-call]

    sessions = tmp_path / "sessions"
    assert sorted(p.name for p in sessions.iterdir()) == sorted([alice.session, bob.session])
    a, b = sessions / alice.session, sessions / bob.session
    np.testing.assert_array_equal(_pcm(a / "audio.wav"), alice.expected_pcm())
    np.testing.assert_array_equal(_pcm(b / "audio.wav"), bob.expected_pcm())
    assert len(list((a / "frames").iterdir())) == 5
    assert not (b / "frames").exists() or not any((b / "frames").iterdir())
    meta_a: dict[str, Any] = json.loads((a / "session.json").read_text())
    meta_b: dict[str, Any] = json.loads((b / "session.json").read_text())
    assert meta_a["end_reason"] == "shutdown"
    assert meta_b["end_reason"] == "bye"
    assert meta_a["samples"] == 5 * CHUNK
    last = (a / "events.jsonl").read_text().splitlines()[-1]
    assert json.loads(last)["event"] == "session_start"  # shutdown adds no fake event

    assert calls, "observer was never called"
    worker, final = calls[-1]
    assert worker == 0
    assert final["sessions_opened"] == final["sessions_closed"] == 2
    assert final["audio_chunks"] == 10
    assert final["video_frames_saved"] == 5


def test_session_sink_after_keyed_step_on_two_workers(
    tmp_path: Path, alice: Client, bob: Client
) -> None:
    """Keyed items ((client, item) tuples) spread over workers by client still land right."""
    opened: dict[int, int] = {}
    lock = threading.Lock()

    def observe(worker: int, counters: dict[str, int]) -> None:
        with lock:
            opened[worker] = counters["sessions_opened"]

    flow = Dataflow("sessions_keyed")
    stream = op.input("in", flow, TestingSource(_items(alice, bob, end_bob=False)))
    keyed = op.key_on("by_client", stream, lambda item: item.client)  # type: ignore[attr-defined]
    ordered = op.stateful_map("ingest", keyed, lambda state, item: (state, item))
    op.output("out", ordered, SessionSink(tmp_path, observer=observe))
    cluster_main(flow, [], 0, worker_count_per_proc=2)  # type: ignore[no-untyped-call]

    for client in (alice, bob):
        sdir = tmp_path / "sessions" / client.session
        np.testing.assert_array_equal(_pcm(sdir / "audio.wav"), client.expected_pcm())
        meta = json.loads((sdir / "session.json").read_text())
        assert meta["end_reason"] == "shutdown"
        assert meta["video_frames"] == (5 if client is alice else 0)
    # "alice" and "bob" hash to different workers: each worker's writer owned one session
    assert opened == {0: 1, 1: 1}


def test_session_sink_validates_arguments(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="data_dir"):
        SessionSink("")
    with pytest.raises(ValueError, match="save_frames"):
        SessionSink(tmp_path, save_frames="yes")  # type: ignore[arg-type]
