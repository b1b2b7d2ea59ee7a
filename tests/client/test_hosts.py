"""The sender's host list: two real live hosts, the first stopped, the sender moves on."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
import zmq

from ambient_flow.client.hosts import parse_hosts
from ambient_flow.client.media import ToneOptions
from ambient_flow.client.sender import Sender, SenderOptions, SenderStats
from ambient_flow.errors import ConfigError
from ambient_flow.testing import LiveHost

MakeHost = Callable[..., LiveHost]


def _seqs(host_out: Any) -> list[int]:
    return [a.sequence for a in host_out.audio("desk-1") if not a.filled]


def _ports(host: LiveHost) -> dict[str, int]:
    s = host.settings
    return {k: getattr(s, k) for k in ("audio_port", "video_port", "control_port", "tcp_port")}


def _failover_options(first: str, ports: dict[str, int], **kw: Any) -> SenderOptions:
    """desk-1 streaming a tone to `first`, then 127.0.0.2; control gives up fast."""
    return SenderOptions(
        host=first,
        fallback_hosts=("127.0.0.2",),
        **ports,
        client="desk-1",
        audio=ToneOptions(),
        video=None,
        control_timeout_s=0.3,
        control_retries=0,
        **kw,
    )


def test_sender_moves_to_the_next_host_and_counts_what_the_dead_one_took(
    live_host: MakeHost,
) -> None:
    first = live_host(heartbeat_interval=0.2)
    ports = _ports(first)
    # the second host: another loopback address, the same ports (as on another machine)
    second = live_host(
        heartbeat_interval=0.2, bind="127.0.0.2", pub_port=first.settings.pub_port, **ports
    )
    options = _failover_options("127.0.0.1", ports, duration_s=3.0)
    result: list[SenderStats] = []
    sender = Sender(options)
    thread = threading.Thread(target=lambda: result.append(sender.run()))
    thread.start()
    try:
        first.wait_for(lambda o: len(o.audio("desk-1")) >= 5, timeout=5.0)
        before = first.stop()
        second.wait_for(lambda o: len(o.audio("desk-1")) >= 5, timeout=5.0)
    finally:
        thread.join(15.0)
    stats = result[0]
    assert (stats.failovers, stats.host) == (1, "127.0.0.2")
    second.wait_for(lambda o: stats.audio_chunks - 1 in _seqs(o), timeout=5.0)
    on_first, on_second = _seqs(before), _seqs(second.outputs)
    # the same client name and sequence numbers, a new session on the second host
    assert on_first == list(range(len(on_first)))
    assert on_second == sorted(set(on_second)) and on_second[-1] == stats.audio_chunks - 1
    assert on_second[0] > on_first[-1]
    assert "hello" in [e.kind for e in second.outputs.events(client="desk-1")]
    # what neither host got is counted by the sender: dropped, or sent unconfirmed
    missing = stats.audio_chunks - len(on_first) - len(on_second)
    assert 0 <= missing <= stats.drops + stats.unconfirmed
    assert stats.audio_sent + stats.drops == stats.audio_chunks


@pytest.mark.parametrize("first", ["absent", "hung"])
def test_a_first_host_that_never_answers_is_left_with_what_it_took_counted(
    live_host: MakeHost, first: str
) -> None:
    host = live_host(heartbeat_interval=0.2, bind="127.0.0.2")
    s = host.settings
    ports = _ports(host)
    ctx: zmq.Context[Any] = zmq.Context()
    hung = []
    if first == "hung":  # a host that accepts connections and never reads nor answers
        for kind, port in ((zmq.PULL, s.audio_port), (zmq.REP, s.control_port)):
            sock = ctx.socket(kind)
            sock.setsockopt(zmq.LINGER, 0)
            sock.bind(f"tcp://127.0.0.3:{port}")
            hung.append(sock)
    # 127.0.0.3: absent (nothing listens there) or hung
    options = _failover_options("127.0.0.3", ports, duration_s=2.0, hello_wait_s=0.0)
    try:
        stats = Sender(options).run()
    finally:
        for sock in hung:
            sock.close(linger=0)
        ctx.term()
    host.wait_for(lambda o: stats.audio_chunks - 1 in _seqs(o), timeout=5.0)
    got = _seqs(host.outputs)
    assert (stats.failovers, stats.host) == (1, "127.0.0.2")
    assert got[-1] == stats.audio_chunks - 1
    assert got[0] > 0  # what went to the first host
    assert stats.audio_chunks - len(got) <= stats.drops + stats.unconfirmed
    if first == "hung":  # accepted by its sockets, never confirmed: counted as such
        assert stats.unconfirmed == got[0]


def test_host_list_parsing_and_options() -> None:
    assert parse_hosts("10.0.0.1, 10.0.0.2") == ("10.0.0.1", "10.0.0.2")
    assert parse_hosts("box") == ("box",)
    for bad in ("a,,b", "a,a", ","):
        with pytest.raises(ConfigError):
            parse_hosts(bad)
    with pytest.raises(ConfigError, match="listed twice"):
        SenderOptions(host="a", fallback_hosts=("a",))
    with pytest.raises(ConfigError, match="ZeroMQ transport and control"):
        SenderOptions(host="a", fallback_hosts=("b",), transport="tcp")
    with pytest.raises(ConfigError, match="ZeroMQ transport and control"):
        SenderOptions(host="a", fallback_hosts=("b",), control=False)
    assert SenderOptions(host="a", fallback_hosts=("b",)).hosts == ("a", "b")
