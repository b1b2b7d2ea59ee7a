"""No single message ends the host: each hostile message below is sent once on a real port.

After it, the host must still be running, a good message from another client must
still flow, and the message must be counted exactly once under the right reason.
"""

from __future__ import annotations

import json
import socket
import struct
from typing import Any

import pytest
import zmq

from ambient_flow.protocol.codec import audio_header, encode_envelope
from ambient_flow.testing import LiveHost, media

HUGE = "1" + "0" * 309  # 1e309: an integer JSON allows and no float holds
DEEP = "[" * 5000 + "]" * 5000


def head(**fields: Any) -> bytes:
    """A header with raw JSON values (so numbers too large for Python floats stay exact)."""
    return ("{" + ",".join(f'"{k}":{v}' for k, v in fields.items()) + "}").encode()


def audio_head(ts: str = "1000", seq: str = "0", **extra: str) -> bytes:
    return head(type='"audio"', ts=ts, seq=seq, **extra)


def envelope(header: bytes, payload: bytes) -> bytes:
    return struct.pack(">II", len(header), len(payload)) + header + payload


def zmq_send(host: LiveHost, channel: str, data: bytes) -> None:
    """One message on a new PUSH socket. The socket stays open (the host's client
    context closes it at stop): one closed at once with LINGER 0 would drop the message."""
    sock = host.push(channel)
    sock.send(data)
    host.__dict__.setdefault("_test_sockets", []).append(sock)


def tcp_send(host: LiveHost, data: bytes) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", host.settings.tcp_port), timeout=5)
    sock.sendall(data)
    return sock


def still_serving(host: LiveHost, name: str) -> None:
    """Another client's audio still flows and control still answers."""
    zmq_send(host, "audio", encode_envelope(audio_header(1000, 0, client=name), media.sine_pcm()))
    host.wait_for(lambda o: len(o.audio(name)) == 1)
    assert host.request({"cmd": "heartbeat"})["status"] == "ok"
    assert host.error is None


def control_parts(host: LiveHost, *parts: bytes) -> dict[str, Any]:
    """One raw control request (any parts, any bytes) and its reply."""
    sock = host.context.socket(zmq.REQ)
    sock.connect(host.endpoint("control"))
    sock.send_multipart(list(parts))
    assert sock.poll(2000)
    reply: dict[str, Any] = json.loads(sock.recv())
    sock.close(linger=0)
    return reply


def rejects(host: LiveHost) -> dict[str, int]:
    stats: dict[str, int] = host.request({"cmd": "stats"})["stats"]["rejects"]
    return stats


@pytest.mark.parametrize(
    ("field", "value"),
    [("ts", HUGE), ("seq", HUGE), ("seq", str(2**63)), ("ts", "-1"), ("ts", str(2**53))],
)
@pytest.mark.parametrize("port", ["zmq", "tcp"])
def test_out_of_range_numbers_are_rejected(live_host, port: str, field: str, value: str) -> None:
    host = live_host()
    fields = {"ts": "1000", "seq": "0", field: value}
    message = envelope(audio_head(**fields), media.sine_pcm())
    if port == "zmq":
        zmq_send(host, "audio", message)
    else:
        tcp_send(host, message).close()
    host.wait_for(lambda o: len(o.rejects()) == 1)
    still_serving(host, "after")
    assert rejects(host) == {"bad_field": 1}


def test_a_video_seq_of_two_to_the_63_is_rejected(live_host) -> None:
    host = live_host()
    video = head(type='"video"', ts="1", seq=str(2**63), w="640", h="480")
    zmq_send(host, "video", envelope(video, media.jpeg()))
    host.wait_for(lambda o: len(o.rejects()) == 1)
    still_serving(host, "after")
    assert rejects(host) == {"bad_field": 1}


def test_a_deeply_nested_tcp_control_record_is_rejected(live_host) -> None:
    host = live_host()
    record = envelope(head(type='"control"', cmd='"hello"', x=DEEP), b"")
    sock = tcp_send(host, record)
    try:
        # The connection stays in step: a good request on it is answered.
        sock.sendall(envelope(head(type='"control"', cmd='"heartbeat"'), b""))
        reply = sock.recv(4096)
        assert b'"status": "ok"' in reply
    finally:
        sock.close()
    host.wait_for(lambda o: len(o.rejects()) == 1)
    still_serving(host, "after")
    assert rejects(host) == {"header_too_deep": 1}


@pytest.mark.parametrize("where", ["control", "audio"])
def test_deep_json_on_zeromq_is_rejected(live_host, where: str) -> None:
    host = live_host()
    if where == "control":
        reply = host.request({"cmd": "hello", "x": json.loads("[" * 30 + "]" * 30)})
        assert reply["status"] == "ok"  # 31 levels: within the limit
        answer = control_parts(host, b'{"cmd":"hello","x":' + DEEP.encode() + b"}")
        assert answer["error"].startswith("header_too_deep")
    else:
        zmq_send(host, "audio", envelope(audio_head(x=DEEP), media.sine_pcm()))
    host.wait_for(lambda o: len(o.rejects()) == 1)
    still_serving(host, "after")
    assert rejects(host) == {"header_too_deep": 1}


def test_a_control_request_of_two_parts_is_counted_once(live_host) -> None:
    host = live_host()
    answer = control_parts(host, b'{"cmd":"heartbeat"}', b"extra")
    assert answer["error"].startswith("frame_count")
    host.wait_for(lambda o: len(o.rejects()) == 1)
    still_serving(host, "after")
    assert rejects(host) == {"frame_count": 1}


@pytest.mark.parametrize(
    ("prefix", "reason"),
    [
        (struct.pack(">II", 70_000, 10), "header_too_large"),
        (struct.pack(">II", 20, 9 * 1024 * 1024), "payload_too_large"),
        (struct.pack(">II", 0, 10), "envelope_short"),
    ],
)
def test_a_bad_tcp_prefix_is_counted_under_its_own_reason(
    live_host, prefix: bytes, reason: str
) -> None:
    host = live_host()
    sock = tcp_send(host, prefix + b"x" * 100)
    assert sock.recv(10) == b""  # closed by the server
    sock.close()
    host.wait_for(lambda o: len(o.rejects()) == 1)
    still_serving(host, "after")
    assert rejects(host) == {reason: 1}
    assert host.request({"cmd": "stats"})["stats"]["tcp"]["closed"] == {reason: 1}


def test_too_much_audio_in_one_message_is_rejected(live_host) -> None:
    host = live_host()
    pcm = media.sine_pcm(ms=33_000)  # 1 MB: far under the size limit
    zmq_send(host, "audio", envelope(audio_head(), pcm))
    host.wait_for(lambda o: len(o.rejects()) == 1)
    still_serving(host, "after")
    assert rejects(host) == {"audio_too_long": 1}


def test_a_lone_surrogate_in_a_text_field_is_rejected(live_host) -> None:
    """`"\\ud800"` is valid JSON but no UTF-8 file can hold it (events.jsonl would)."""
    host = live_host()
    zmq_send(host, "audio", envelope(audio_head(session='"\\ud800"'), media.sine_pcm()))
    host.wait_for(lambda o: len(o.rejects()) == 1)
    still_serving(host, "after")
    assert rejects(host) == {"bad_field": 1}


def test_a_hello_with_a_lone_surrogate_keeps_only_what_can_be_written(live_host) -> None:
    host = live_host()
    hello = b'{"cmd":"hello","client":"s","session":"\\udc00","capabilities":["\\ud800","audio"]}'
    assert control_parts(host, hello)["status"] == "ok"
    zmq_send(host, "audio", encode_envelope(audio_header(1000, 0, client="s"), media.sine_pcm()))
    host.wait_for(lambda o: len(o.audio("s")) == 1)
    (start,) = host.outputs.events("session_start", client="s")
    assert start.data["capabilities"] == ["audio"] and start.data["client_session"] is None
    still_serving(host, "after")
