"""The PUB stream counts what a slow subscriber misses (a plain PUB drops silently)."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import zmq

from ambient_flow.operators.attribution import Enrichment
from ambient_flow.runtime import HostRuntime
from ambient_flow.sinks.publish import EnrichmentPublisher
from ambient_flow.testing import test_settings


def enrichment(i: int) -> Enrichment:
    return Enrichment(
        client="mic", session_id="s", event_type="utterance", sample_position=i,
        timestamp=i / 10, speaker_prediction="A", text_hypothesis="x" * 2000,
        confidence=1.0, weight=1.0, visual_context=None, created_at="", enriched_at="",
    )  # fmt: skip


def test_every_line_is_either_delivered_or_counted_as_missed(
    tmp_path: Path,
) -> None:
    runtime = HostRuntime(settings=test_settings(tmp_path))
    endpoint = f"tcp://127.0.0.1:{runtime.settings.pub_port}"
    part = EnrichmentPublisher(runtime, endpoint, sndhwm=4).build_part("pub", "pub", None)
    ctx = zmq.Context()
    slow, fast = ctx.socket(zmq.SUB), ctx.socket(zmq.SUB)
    got: list[Any] = []
    stop = threading.Event()
    try:
        for sub in (slow, fast):
            sub.setsockopt(zmq.RCVHWM, 4)
            sub.setsockopt(zmq.RCVBUF, 4096)
            sub.setsockopt(zmq.SUBSCRIBE, b"")
            sub.connect(endpoint)
        time.sleep(0.3)
        part.write_batch(["start"])  # reads the subscriptions

        def read() -> None:
            while not stop.is_set() or fast.poll(1000):
                if fast.poll(10):
                    got.append(fast.recv_multipart())

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        for start in range(0, 3000, 100):
            part.write_batch([enrichment(i) for i in range(start, start + 100)])
            time.sleep(0.002)
        stop.set()
        reader.join(30)
        drops = runtime.telemetry.status()["drops"].get("pub_hwm", 0)
        assert drops > 0  # the slow one stopped reading: the misses are counted
        assert len(got) + drops == 3000  # the counts add up
        pub = runtime.telemetry.status()["pub"]
        assert (pub["sent"], pub["missed"], pub["refused"]) == (3000 - drops, drops, 0)
    finally:
        stop.set()
        part.close()
        slow.close(linger=0)
        fast.close(linger=0)
        ctx.term()
        runtime.close()
