"""Control REP :5557: every request gets an answer; liveness lives in the flow."""

from __future__ import annotations

import json
import time
import urllib.request
from pathlib import Path

import zmq

from ambient_flow.testing import free_port
from ambient_flow.testing.messages import audio_parts


def test_hello_heartbeat_get_config_stats_and_bye(live_host) -> None:
    host = live_host(video_fps=2.5, video_quality=55)
    hello = host.request({"cmd": "hello", "client": "selestia", "capabilities": ["audio", "video"]})
    assert hello["status"] == "ok"
    config = hello["config"]
    assert config["video_fps"] == 2.5 and config["video_quality"] == 55  # from settings
    assert config["ports"]["audio"] == host.settings.audio_port
    assert host.request({"cmd": "get_config"})["config"] == config
    beat = host.request({"cmd": "heartbeat", "client": "selestia"})
    assert abs(beat["ts"] - time.time() * 1000) < 5000
    stats = host.request({"cmd": "stats"})["stats"]
    for key in ("audio", "video", "queues", "clients", "rejects", "drops"):
        assert key in stats
    assert {"chunks_received", "bytes_received", "last_ts"} <= set(stats["audio"])
    assert {"frames_received", "bytes_received"} <= set(stats["video"])
    assert host.request({"cmd": "bye", "client": "selestia"}) == {"status": "ok"}
    host.wait_for(lambda o: [e.kind for e in o.events(client="selestia")][-1:] == ["session_end"])


def test_bad_requests_get_error_replies_and_the_socket_keeps_serving(live_host) -> None:
    host = live_host()
    sock = host.context.socket(zmq.REQ)
    sock.connect(host.endpoint("control"))
    for request in (b"{not json", b"[1]", b'{"cmd": 7}', b'{"cmd":"reboot"}', b"\xff\xfe"):
        sock.send(request)
        assert sock.poll(2000), f"no reply to {request!r}"
        reply = json.loads(sock.recv())
        assert set(reply) == {"error"}, reply
    sock.send_multipart([b'{"cmd":"heartbeat"}', b"extra"])
    assert "error" in json.loads(sock.recv())
    sock.send(b'{"cmd":"heartbeat"}')
    assert json.loads(sock.recv())["status"] == "ok"
    sock.close()
    host.wait_for(lambda o: len(o.rejects()) == 6)


def test_a_client_whose_heartbeats_stop_is_marked_stale(live_host) -> None:
    host = live_host(heartbeat_interval=0.2, stale_after=3)
    host.request({"cmd": "hello", "client": "quiet"})
    push = host.push("audio")
    push.send_multipart(audio_parts(0, client="quiet"))
    host.wait_for(lambda o: len(o.events("stale", client="quiet")) == 1, timeout=5)
    stats = host.request({"cmd": "stats"})["stats"]
    assert stats["stale_clients"] == ["quiet"]
    host.request({"cmd": "heartbeat", "client": "quiet"})
    host.wait_for(lambda o: len(o.events("resumed", client="quiet")) == 1)


def test_status_json_and_prometheus_metrics(live_host) -> None:
    port = free_port()
    host = live_host(metrics_port=port)
    push = host.push("audio")
    for seq in range(3):
        push.send_multipart(audio_parts(seq, client="m"))
    push.send(b"junk")
    host.wait_for(lambda o: len(o.audio()) == 3 and len(o.rejects()) == 1)
    time.sleep(0.5)  # status_interval is 0.2 s in tests
    status = json.loads((Path(host.settings.data_dir) / "status.json").read_text())
    assert status["audio"]["chunks_received"] == 3
    assert status["clients"]["m"]["samples"] == 4800
    body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    assert 'ambient_messages_total{type="audio"} 3.0' in body
    assert 'ambient_rejects_total{channel="audio",reason="envelope_short"} 1.0' in body
    assert "ambient_arrival_latency_seconds_bucket" in body
    assert "process_resident_memory_bytes" in body and "process_open_fds" in body
    assert status["memory"]["rss_bytes"] > 0
