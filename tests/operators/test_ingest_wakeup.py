"""Ingest's liveness timer: a wake-up time is made once per period, not per message."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from ambient_flow.config import Settings
from ambient_flow.operators.events import ClientEvent
from ambient_flow.operators.ingest import IngestLogic, IngestOptions
from ambient_flow.protocol.messages import AudioChunk
from ambient_flow.runtime import HostRuntime
from ambient_flow.testing import media
from ambient_flow.testing.messages import T0_MS

NS = 1_000_000


def _chunk(seq: int) -> AudioChunk:
    pcm = media.sine_pcm()
    return AudioChunk(
        client="cam-1",
        timestamp_ms=T0_MS + 100 * seq,
        sequence=seq,
        sample_rate=16000,
        channels=1,
        float_samples=np.frombuffer(pcm, "<i2") / np.float32(32768),
        received_ns=(T0_MS + 100 * seq) * NS,
        pcm=pcm,
    )


def _at(ns: int) -> datetime:
    return datetime.fromtimestamp(ns / 1e9, tz=UTC)


def test_the_wake_up_is_given_again_until_it_passes_and_then_made_exact(tmp_path: Path) -> None:
    now = [T0_MS * NS]
    settings = Settings(data_dir=str(tmp_path), metrics_port=0)
    runtime = HostRuntime(settings=settings, clock=lambda: now[0])
    stale_ns = 2_000_000_000
    try:
        options = IngestOptions.from_settings(settings, replay=False)
        logic = IngestLogic(None, runtime, dataclasses.replace(options, stale_after_seconds=2.0))
        wakes = []
        for seq in range(30):  # 3 s of audio, one chunk every 100 ms
            now[0] = (T0_MS + 100 * seq) * NS
            logic.on_item(_chunk(seq))
            wakes.append(logic.notify_at())
        first = wakes[0]
        assert first == _at(T0_MS * NS + stale_ns)  # exact for the first message
        # The same object while it has not passed, never later than the exact due time.
        assert all(w is first for w in wakes[:20])
        assert all(w is not None and w <= _at(now[0] + stale_ns) for w in wakes)

        # It passes: Bytewax calls on_notify; nothing is due yet (messages kept coming).
        now[0] = T0_MS * NS + stale_ns
        out, _ = logic.on_notify()
        assert list(out) == []
        last_ns = (T0_MS + 100 * 29) * NS
        assert logic.notify_at() == _at(last_ns + stale_ns)  # made afresh, exact

        # At that time the client went stale: the event's time comes from the data.
        now[0] = last_ns + stale_ns
        out, _ = logic.on_notify()
        stale = [e for e in out if isinstance(e, ClientEvent) and e.kind == "stale"]
        assert [e.at_ns for e in stale] == [last_ns + stale_ns]
    finally:
        runtime.close()
