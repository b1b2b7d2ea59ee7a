"""Results back to the client through a real host: the Godot addon's Python twin asks in
its hello and gets its own transcripts, speaker changes and detections — over raw TCP on
its connection, and over ZeroMQ from the PUB port — and never another client's."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable
from typing import Any

import pytest

from ambient_flow.client.godot import GodotClient, GodotProfileOptions
from ambient_flow.client.results import (
    DetectionsChanged,
    SpeakerChanged,
    TranscriptReceived,
    result_events,
)
from ambient_flow.models.detection import Detection
from ambient_flow.protocol.codec import EnvelopeStream, encode_envelope
from ambient_flow.testing import LiveHost, fakes

MakeHost = Callable[..., LiveHost]
PERSON = Detection("person", (1.0, 2.0, 30.0, 40.0), 0.9)


def enriching_host(live_host: MakeHost) -> LiveHost:
    models = fakes.models(
        turns=[(0.0, 600.0, "alice")], script=lambda s, e: "hello godot", found=lambda i: [PERSON]
    )
    # A steady tone is one long utterance: cut it every second so transcripts come while
    # the client still streams.
    return live_host(enrich=True, models=models, max_utterance=1.2, min_speech=0.3, video_fps=2.0)


def options(host: LiveHost, **kw: Any) -> GodotProfileOptions:
    s = host.settings
    base: dict[str, Any] = {
        "audio_port": s.audio_port,
        "video_port": s.video_port,
        "control_port": s.control_port,
        "tcp_port": s.tcp_port,
        "duration_s": 3.0,
        "realtime": True,
        "hello_wait_s": 3.0,
        "results": True,
        "results_wait_s": 3.0,
        "width": 64,
        "height": 48,
    }
    base.update(kw)
    return GodotProfileOptions(**base)


@pytest.mark.parametrize("transport", ["tcp", "zmq"])
def test_the_addon_twin_receives_its_own_results(live_host: MakeHost, transport: str) -> None:
    host = enriching_host(live_host)
    client = GodotClient(options(host, transport=transport, client="avatar"))
    stats = client.run()
    events = list(client.results.events)
    transcripts = [e for e in events if isinstance(e, TranscriptReceived)]
    assert transcripts, events
    assert {(e.speaker, e.text) for e in transcripts} == {("speaker0", "hello godot")}
    assert [e.speaker for e in events if isinstance(e, SpeakerChanged)][:1] == ["speaker0"]
    assert {"person": 1} in [e.counts for e in events if isinstance(e, DetectionsChanged)]
    assert stats.last_transcript == "hello godot"  # what the test scene shows
    assert stats.results >= len(transcripts)
    assert stats.control is not None and stats.control.errors == 0
    out = host.stop()
    made = out.lines(client="avatar")
    # over TCP nothing is lost; over PUB a SUB socket misses what came before it joined
    got = [e.record["frame"]["frame_id"] for e in events]
    if transport == "tcp":
        assert got == [e.frame_id for e in made][: len(got)]
    assert set(got) <= {e.frame_id for e in made}


def test_each_client_gets_only_its_own_results(live_host: MakeHost) -> None:
    host = enriching_host(live_host)
    clients = {name: GodotClient(options(host, transport="tcp", client=name, video=False))
               for name in ("left", "right")}  # fmt: skip
    threads = [threading.Thread(target=c.run) for c in clients.values()]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    for name, client in clients.items():
        events = list(client.results.events)
        assert any(isinstance(e, TranscriptReceived) for e in events), name
        assert {e.record["detail"]["client"] for e in events} == {name}


def test_a_client_that_does_not_ask_gets_none_and_the_reply_says_why(
    live_host: MakeHost,
) -> None:
    host = enriching_host(live_host)
    quiet = GodotClient(options(host, transport="tcp", client="quiet", results=False))
    quiet.run()
    assert list(quiet.results.events) == []
    # without the enrichment, a hello that asks is told there are none
    plain = live_host()
    reply = plain.request({"cmd": "hello", "client": "x", "results": True})
    assert "error" in reply["results"]
    reply = host.request({"cmd": "hello", "client": "x", "results": True})
    assert reply["results"] == {"transport": "pub", "port": host.settings.pub_port, "topic": "x"}


def test_results_never_pass_for_control_replies_on_a_raw_connection(
    live_host: MakeHost,
) -> None:
    """A raw client (no twin): the hello reply, then result envelopes tagged `frame`."""
    host = enriching_host(live_host)
    from ambient_flow.protocol.codec import audio_header
    from ambient_flow.testing.media import sine_pcm

    sock = socket.create_connection(("127.0.0.1", host.settings.tcp_port), timeout=5)
    stream = EnvelopeStream(1 << 20)
    hello = {"type": "control", "cmd": "hello", "client": "raw", "results": True}
    sock.sendall(encode_envelope(json.dumps(hello).encode(), b""))
    for seq in range(30):
        head = audio_header(1_700_000_000_000 + 100 * seq, seq, client="raw")
        sock.sendall(encode_envelope(head, sine_pcm(220.0, phase_samples=1600 * seq)))
    headers: list[dict[str, Any]] = []
    try:
        while not any(h.get("type") == "frame" and h["frame"]["event_type"] == "utterance"
                      for h in headers):  # fmt: skip
            data = sock.recv(65536)
            assert data, "the host closed the connection"
            headers += [json.loads(r[8 : 8 + int.from_bytes(r[:4], "big")])
                        for r in stream.feed(data)]  # fmt: skip
    finally:
        sock.close()
    assert headers[0]["type"] == "control" and headers[0]["results"]["transport"] == "tcp"
    frames = [h for h in headers if h["type"] == "frame"]
    assert all(set(h) == {"type", "frame", "detail"} for h in frames)
    assert any(isinstance(e, TranscriptReceived) for h in frames for e in result_events(h))
