"""Per-client state is bounded: clients that come, speak and leave leave nothing behind.

The enrichment keeps, per client session, an audio ring, a VAD stream, a segmenter, a
diarization stream, queued model work and an attribution timeline. All of it is released
at the session's end (bytewax's StatefulLogic DISCARD), so a host that has seen 200
clients holds what its still-open sessions need, not what every client ever needed.
The fakes (`ambient_flow.testing.fakes`) stand in for the models: this is about the
graph's state, not the models'.
"""

from __future__ import annotations

import gc
import json
import time
import tracemalloc
from typing import Any

import numpy as np
import zmq

from ambient_flow.operators.attribution import AttributionLogic
from ambient_flow.operators.ingest import IngestLogic
from ambient_flow.operators.offload import OffloadLogic
from ambient_flow.operators.ringbuffer import AudioRing
from ambient_flow.operators.speech import SpeechAnalysisLogic
from ambient_flow.testing import fakes
from ambient_flow.testing.media import sine_pcm
from ambient_flow.testing.messages import audio_parts

CHUNKS = 30  # 3 s of speech-loud audio per client: utterances, windows, model work


def speak(push: zmq.Socket[Any], client: str) -> None:
    for seq in range(CHUNKS):
        pcm = sine_pcm(220.0, phase_samples=1600 * seq, amplitude=0.3)
        push.send_multipart(audio_parts(seq, client=client, pcm=pcm))


def live_objects() -> dict[str, int]:
    gc.collect()
    kinds = (SpeechAnalysisLogic, OffloadLogic, AttributionLogic, IngestLogic)
    counts = {k.__name__: 0 for k in kinds}
    ring_bytes = 0
    for obj in gc.get_objects():
        try:
            kind_of = type(obj)  # not isinstance: a dead weakref proxy raises on that
        except ReferenceError:  # pragma: no cover - other libraries' proxies
            continue
        for kind in kinds:
            if issubclass(kind_of, kind):
                counts[kind.__name__] += 1
        if kind_of is AudioRing:
            ring_bytes += obj.allocated * 4
    counts["ring_bytes"] = ring_bytes
    return counts


def test_two_hundred_clients_come_and_go_and_leave_nothing_behind(live_host) -> None:  # type: ignore[no-untyped-def]
    host = live_host(enrich=True, models=fakes.models(), detector="none")
    push = host.push("audio")
    control = host.context.socket(zmq.REQ)
    control.setsockopt(zmq.LINGER, 0)
    control.connect(host.endpoint("control"))

    def bye(client: str) -> None:
        control.send_json({"cmd": "bye", "client": client})
        assert control.poll(5000), "no reply to bye"
        control.recv()

    def sessions_closed() -> int:
        return len(host.outputs.events("session_end"))

    for name in ("stay-0", "stay-1", "stay-2"):  # three sessions that stay open
        speak(push, name)
    host.wait_for(lambda out: len(out.audio()) == 3 * CHUNKS, timeout=30)
    tracemalloc.start()
    try:
        baseline = live_objects()
        base_mem, _ = tracemalloc.get_traced_memory()
        for i in range(200):
            name = f"visitor-{i}"
            speak(push, name)
            # A client says bye once its audio is in (ingest keeps per-client order only
            # within one channel, and the bye comes on the control channel).
            host.wait_for(lambda out, n=name: len(out.audio(n)) == CHUNKS, timeout=30)
            bye(name)
        host.wait_for(lambda out: sessions_closed() == 200, timeout=60)
        time.sleep(0.5)  # the model stage drains its last work, then discards
        # The harness keeps every ingest item it saw (the audio included): that is the
        # test's memory, not the host's.
        utterances = [e for e in host.outputs.lines("utterance") if e.client.startswith("v")]
        host.outputs.items.clear()
        after = live_objects()
        mem, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        control.close(linger=0)
        push.close(linger=0)
    assert len(utterances) >= 200  # every visitor was heard: the state was really used
    for kind in ("SpeechAnalysisLogic", "OffloadLogic", "AttributionLogic", "IngestLogic"):
        assert after[kind] <= baseline[kind], (kind, baseline, after)
    assert after["ring_bytes"] <= baseline["ring_bytes"], (baseline, after)
    # What the Python heap grew by while 200 sessions came and went (telemetry keeps the
    # last 256 closed clients' status sections, a few kB each): a few MB, not 200 x 2 MB.
    grown_mb = (mem - base_mem) / 1e6
    assert grown_mb < 8, (grown_mb, peak / 1e6)
    print(json.dumps({"baseline": baseline, "after": after, "grown_mb": round(grown_mb, 2)}))
    assert np.isfinite(grown_mb)


def test_names_that_only_ever_send_junk_leave_nothing_behind(live_host) -> None:  # type: ignore[no-untyped-def]
    """A fuzzer's identities that never send one valid message keep no per-client state."""
    host = live_host()
    push = host.push("audio")
    baseline = live_objects()["IngestLogic"]
    for i in range(500):
        push.send_multipart([b'{"type":"audio","client":"junk-%d","ts":1,"seq":-1}' % i, b"\0\0"])
    push.send_multipart(audio_parts(0, client="real"))
    host.wait_for(lambda o: len(o.rejects()) == 500 and len(o.audio("real")) == 1, timeout=20)
    assert live_objects()["IngestLogic"] <= baseline + 1  # the real client's only
    status = host.request({"cmd": "stats"})["stats"]
    assert set(status["clients"]) == {"real"} and status["rejects"] == {"bad_field": 500}
