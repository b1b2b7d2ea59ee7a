"""`--auth token` on real sockets: the name comes from the token, never from the message."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

import zmq

from ambient_flow.auth import IssuedCredential
from ambient_flow.protocol.codec import EnvelopeStream, audio_header, encode_envelope
from ambient_flow.testing import LiveHost, media, run_capture
from tests.auth.conftest import topics_received

Creds = dict[str, IssuedCredential]


def chunk(seq: int, **header: Any) -> bytes:
    return encode_envelope(audio_header(1000 + 100 * seq, seq, **header), media.sine_pcm())


def request(host: LiveHost, body: dict[str, Any]) -> dict[str, Any]:
    return host.request(body)


def test_data_streams_under_the_tokens_name_whatever_the_header_says(
    live_host, auth_dir: str, credentials: Creds
) -> None:
    host = live_host(auth="token", auth_dir=auth_dir)
    push = host.push("audio")
    alice, bob = credentials["alice"].token, credentials["bob"].token
    push.send(chunk(0, token=alice))  # no client field
    push.send(chunk(1, token=alice, client="bob"))  # claims to be bob: still alice
    push.send(chunk(0, client="alice"))  # no token: rejected
    push.send(chunk(0, token="x" * 43, client="alice"))  # a wrong token: rejected
    push.send(chunk(0, token=bob))

    def audio_rejects(o: Any) -> list[Any]:
        return [r for r in o.rejects() if r.channel == "audio"]

    host.wait_for(lambda o: len(o.audio()) == 3 and len(audio_rejects(o)) == 2)
    out = host.outputs
    assert [c.sequence for c in out.audio("alice")] == [0, 1]
    assert [c.sequence for c in out.audio("bob")] == [0]
    assert [r.reason for r in audio_rejects(out)] == ["unauthenticated"] * 2
    stats = request(host, {"cmd": "stats", "token": credentials["ops"].token})["stats"]
    assert stats["rejects"] == {"unauthenticated": 2}


def test_control_needs_a_token_and_acts_only_for_its_owner(
    live_host, auth_dir: str, credentials: Creds
) -> None:
    host = live_host(auth="token", auth_dir=auth_dir)
    alice, bob = credentials["alice"].token, credentials["bob"].token
    assert request(host, {"cmd": "hello", "client": "alice"})["error"].startswith("unauthenticated")
    assert request(host, {"cmd": "hello", "token": bob})["status"] == "ok"
    push = host.push("audio")
    push.send(chunk(0, token=bob))
    host.wait_for(lambda o: len(o.audio("bob")) == 1)
    # Alice says bye "for bob": it ends alice's (absent) session, never bob's.
    assert request(host, {"cmd": "bye", "client": "bob", "token": alice})["status"] == "ok"
    push.send(chunk(1, token=bob))
    host.wait_for(lambda o: len(o.audio("bob")) == 2)
    out = host.stop()
    assert [e.data["reason"] for e in out.events("session_end", client="bob")] == ["eof"]
    assert len(out.events("session_start", client="bob")) == 1


def test_stats_show_everything_to_an_admin_only(
    live_host, auth_dir: str, credentials: Creds
) -> None:
    host = live_host(auth="token", auth_dir=auth_dir)
    push = host.push("audio")
    for name in ("alice", "bob"):
        push.send(chunk(0, token=credentials[name].token))
    host.wait_for(lambda o: len(o.audio()) == 2)
    assert request(host, {"cmd": "stats"})["error"].startswith("unauthenticated")
    mine = request(host, {"cmd": "stats", "token": credentials["alice"].token})["stats"]
    assert set(mine["clients"]) == {"alice"}
    assert "host" not in mine and "pid" not in mine and "sessions" not in mine
    everything = request(host, {"cmd": "stats", "token": credentials["ops"].token})["stats"]
    assert set(everything["clients"]) == {"alice", "bob"} and "pid" in everything


def tcp_records(sock: socket.socket, n: int) -> list[dict[str, Any]]:
    stream, out = EnvelopeStream(), []
    while len(out) < n:
        for record in stream.feed(sock.recv(65536)):
            header_len = int.from_bytes(record[:4], "big")
            out.append(json.loads(record[8 : 8 + header_len]))
    return out


def test_a_tcp_hello_with_a_token_binds_the_connection(
    live_host, auth_dir: str, credentials: Creds
) -> None:
    host = live_host(auth="token", auth_dir=auth_dir)
    port = host.settings.tcp_port
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(chunk(0, client="alice"))  # before hello: not alice
        hello = {"type": "control", "cmd": "hello", "token": credentials["alice"].token}
        sock.sendall(encode_envelope(hello, b""))
        assert tcp_records(sock, 1)[0]["status"] == "ok"
        for seq in range(1, 4):
            sock.sendall(chunk(seq, client="bob"))  # bound to alice: says bob, is alice
        host.wait_for(lambda o: len(o.audio("alice")) == 3)
    with socket.create_connection(("127.0.0.1", port), timeout=5) as other:
        other.sendall(encode_envelope({"type": "control", "cmd": "heartbeat"}, b""))
        assert tcp_records(other, 1)[0]["error"].startswith("unauthenticated")
    host.wait_for(lambda o: len(o.rejects()) == 2)
    assert host.outputs.clients() == ["127.0.0.1", "alice"]  # rejects are the host's
    assert not host.outputs.audio("bob")


def test_a_capture_holds_no_token_and_replays_the_same_names(
    live_host, auth_dir: str, credentials: Creds, tmp_path: Path
) -> None:
    capture = tmp_path / "auth.zmqcap"
    host = live_host(auth="token", auth_dir=auth_dir, record=str(capture))
    push = host.push("audio")
    token = credentials["alice"].token
    for seq in range(3):
        push.send(chunk(seq, token=token))
    assert request(host, {"cmd": "heartbeat", "token": token})["status"] == "ok"
    host.wait_for(lambda o: len(o.audio("alice")) == 3)
    live = host.stop()
    assert token.encode() not in capture.read_bytes()
    replayed = run_capture(capture, tmp_path / "replay")  # needs no credentials
    assert replayed.records() == live.records()


def test_pub_delivers_only_what_a_subscriber_may_see(
    live_host, auth_dir: str, credentials: Creds
) -> None:
    from ambient_flow.testing import fakes

    host = live_host(
        auth="token", auth_dir=auth_dir, enrich=True, models=fakes.models(), min_silence=0.3
    )

    def subscriber(name: str, password: str) -> zmq.Socket[Any]:
        sub = host.context.socket(zmq.SUB)
        sub.setsockopt(zmq.PLAIN_USERNAME, name.encode())
        sub.setsockopt(zmq.PLAIN_PASSWORD, password.encode())
        sub.setsockopt(zmq.SUBSCRIBE, b"")
        sub.connect(f"tcp://127.0.0.1:{host.settings.pub_port}")
        return sub

    subs = {
        "alice": subscriber("alice", credentials["alice"].token),
        "ops": subscriber("ops", credentials["ops"].token),
        "thief": subscriber("alice", credentials["bob"].token),  # bob's token, alice's name
    }
    push = host.push("audio")
    loud, quiet = media.sine_pcm(amplitude=0.5), bytes(3200)
    for name in ("alice", "bob"):
        token = credentials[name].token
        for seq in range(20):  # 1 s of tone, 1 s of silence: one utterance each
            pcm = loud if seq < 10 else quiet
            push.send(encode_envelope(audio_header(1000 + 100 * seq, seq, token=token), pcm))
    host.wait_for(lambda o: {c for c, _ in o.enrichments} >= {"alice", "bob"}, timeout=10)
    got = topics_received(subs)
    assert got == {"alice": {b"alice"}, "ops": {b"alice", b"bob"}, "thief": set()}
    stats = request(host, {"cmd": "stats", "token": credentials["ops"].token})["stats"]
    assert stats["auth"]["handshakes"]["plain_refused"] >= 1
