"""Results back to the client: the hello's offer, the per-connection bound, and the TCP
source writing them out only while the connection has room."""

from __future__ import annotations

import json
from typing import Any

from ambient_flow.backchannel import BackChannel
from ambient_flow.protocol.codec import EnvelopeStream, decode_envelope
from ambient_flow.protocol.results import encode_result, results_reply, wants_results
from ambient_flow.runtime import HostRuntime
from ambient_flow.sources.results import LOW_WATER, TcpResults
from ambient_flow.telemetry import Telemetry

HELLO = {"cmd": "hello", "client": "kitchen", "results": True}


def test_a_hello_asks_and_the_reply_says_how() -> None:
    assert wants_results(HELLO)
    assert not wants_results({**HELLO, "results": "yes"})  # only true means yes
    assert not wants_results({**HELLO, "cmd": "heartbeat"})
    kw: dict[str, Any] = {"enrich": True, "pub_port": 5559}
    assert results_reply(HELLO, transport="tcp", **kw) == {"transport": "tcp", "client": "kitchen"}
    assert results_reply(HELLO, transport="zmq", **kw) == {
        "transport": "pub", "port": 5559, "topic": "kitchen",
    }  # fmt: skip
    # the name is the flow's name for the client (sanitized)
    odd = results_reply({**HELLO, "client": "José"}, transport="tcp", **kw)
    assert odd["client"].startswith("Jose-")
    assert "error" in results_reply({**HELLO, "client": ""}, transport="tcp", **kw)
    assert "error" in results_reply(HELLO, transport="tcp", enrich=False, pub_port=5559)
    assert "error" in results_reply(HELLO, transport="zmq", enrich=True, pub_port=0)


def test_a_result_is_a_tagged_envelope() -> None:
    record = {"frame": {"event_type": "utterance"}, "detail": {"client": "kitchen"}}
    head, payload = decode_envelope(encode_result(record))
    assert json.loads(head) == {"type": "frame", **record}
    assert payload == b""
    (again,) = EnvelopeStream(1 << 20).feed(encode_result(record))  # one record on a stream
    assert again == encode_result(record)


def test_each_connection_gets_only_its_clients_results_within_its_bound() -> None:
    telemetry = Telemetry()
    channel = BackChannel(telemetry, max_pending_bytes=100)
    channel.subscribe("conn-a", "a")
    channel.subscribe("conn-b", "b")
    assert channel.wants("a") and not channel.wants("c")
    channel.offer("a", b"x" * 40)
    channel.offer("b", b"y" * 10)
    assert channel.take("conn-a", 1000) == b"x" * 40
    assert channel.take("conn-b", 1000) == b"y" * 10
    assert not channel.waiting
    for i in range(5):  # 5 x 40 bytes for a bound of 100: the oldest go, counted
        channel.offer("a", bytes([i]) * 40)
    assert channel.dropped == 3
    assert telemetry.status()["drops"]["results_dropped"] == 3
    assert channel.take("conn-a", 40) == bytes([3]) * 40  # whole results, up to the room
    assert channel.take("conn-a", 1, at_least_one=False) == b""
    assert channel.take("conn-a", 1) == bytes([4]) * 40  # at least one, even if larger
    channel.unsubscribe("conn-a")
    channel.offer("a", b"z")
    assert not channel.wants("a") and channel.take("conn-a", 100) == b""
    assert channel.status() == {"subscribed": 1, "waiting": 0, "delivered": 4, "dropped": 3}


class _Conn:
    def __init__(self) -> None:
        self.outbox = bytearray()


def test_the_tcp_source_fills_an_outbox_only_while_it_has_room() -> None:
    runtime = HostRuntime()
    results = TcpResults(runtime)
    slow, other = _Conn(), _Conn()
    results.on_reply(slow, HELLO, {"status": "ok", "results": {"transport": "tcp"}})
    results.on_reply(other, {**HELLO, "results": False}, {"status": "ok"})
    flushed: list[Any] = []
    one = encode_result({"frame": {"text_hypothesis": "x" * 1000}, "detail": {}})
    for _ in range(200):  # ~200 kB for a client that does not read
        runtime.back_channel.offer("kitchen", one)
    results.deliver([slow, other], flushed.append)
    assert LOW_WATER - len(one) < len(slow.outbox) <= LOW_WATER  # whole results only
    assert other.outbox == bytearray()
    assert flushed == [slow]
    results.deliver([slow, other], flushed.append)  # no room: nothing more is added
    assert len(slow.outbox) <= LOW_WATER
    left = runtime.back_channel.status()["waiting"]
    assert left == 200 - len(slow.outbox) // len(one)
    results.forget(slow)
    assert runtime.back_channel.status()["subscribed"] == 0
    runtime.close()
