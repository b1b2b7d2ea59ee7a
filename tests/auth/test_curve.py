"""`--auth curve` on real sockets: CURVE on every ZeroMQ socket, names from the keys."""

from __future__ import annotations

import socket
from typing import Any

import zmq

from ambient_flow.auth import IssuedCredential
from ambient_flow.client.transport import CurveKeys
from ambient_flow.protocol.codec import audio_header, encode_envelope
from ambient_flow.testing import LiveHost, fakes, media
from tests.auth.conftest import topics_received

Creds = dict[str, IssuedCredential]


def keys(cred: IssuedCredential) -> CurveKeys:
    return CurveKeys(cred.server_public, cred.curve_public, cred.curve_secret)


def curve_socket(host: LiveHost, kind: int, channel: str, cred: IssuedCredential) -> Any:
    sock = host.context.socket(kind)
    sock.setsockopt(zmq.LINGER, 0)
    keys(cred).apply(sock)
    port = getattr(host.settings, f"{channel}_port")
    sock.connect(f"tcp://127.0.0.1:{port}")
    return sock


def test_data_and_control_carry_the_keys_name(live_host, auth_dir: str, credentials: Creds) -> None:
    host = live_host(auth="curve", auth_dir=auth_dir)
    push = curve_socket(host, zmq.PUSH, "audio", credentials["alice"])
    for seq in range(3):
        head = audio_header(1000 + 100 * seq, seq, client="bob")  # claims bob: is alice
        push.send(encode_envelope(head, media.sine_pcm()))
    host.wait_for(lambda o: len(o.audio("alice")) == 3)
    req = curve_socket(host, zmq.REQ, "control", credentials["alice"])
    req.send_json({"cmd": "stats"})
    assert req.poll(3000)
    stats = req.recv_json()["stats"]
    assert set(stats["clients"]) == {"alice"}


def test_unknown_keys_and_plain_peers_are_refused(
    live_host, auth_dir: str, credentials: Creds
) -> None:
    host = live_host(auth="curve", auth_dir=auth_dir)
    stranger_public, stranger_secret = zmq.curve_keypair()
    server = credentials["alice"].server_public
    stranger = IssuedCredential("x", "", stranger_public.decode(), stranger_secret.decode(), server)
    push = curve_socket(host, zmq.PUSH, "audio", stranger)
    push.send(encode_envelope(audio_header(1, 0, client="x"), media.sine_pcm()), zmq.NOBLOCK)
    plain = host.push("audio")  # no CURVE at all
    plain.send(encode_envelope(audio_header(1, 0, client="y"), media.sine_pcm()))
    good = curve_socket(host, zmq.PUSH, "audio", credentials["bob"])
    good.send(encode_envelope(audio_header(1, 0), media.sine_pcm()))
    host.wait_for(lambda o: len(o.audio("bob")) == 1)
    ops = curve_socket(host, zmq.REQ, "control", credentials["ops"])
    ops.send_json({"cmd": "stats"})
    assert ops.poll(3000)
    stats = ops.recv_json()["stats"]
    assert host.outputs.clients() == ["bob"]
    assert stats["auth"]["handshakes"]["curve_refused"] >= 1
    assert stats["drops"]["auth_refused_curve"] >= 1


def test_tcp_under_curve_takes_a_token(live_host, auth_dir: str, credentials: Creds) -> None:
    host = live_host(auth="curve", auth_dir=auth_dir)
    with socket.create_connection(("127.0.0.1", host.settings.tcp_port), timeout=5) as sock:
        hello = {"type": "control", "cmd": "hello", "token": credentials["alice"].token}
        sock.sendall(encode_envelope(hello, b""))
        sock.recv(4096)
        sock.sendall(encode_envelope(audio_header(1, 0), media.sine_pcm()))
        host.wait_for(lambda o: len(o.audio("alice")) == 1)


def test_pub_under_curve_shows_each_subscriber_its_own(
    live_host, auth_dir: str, credentials: Creds
) -> None:
    host = live_host(
        auth="curve", auth_dir=auth_dir, enrich=True, models=fakes.models(), min_silence=0.3
    )
    subs = {}
    for name in ("alice", "ops"):
        sub = curve_socket(host, zmq.SUB, "pub", credentials[name])
        sub.setsockopt(zmq.SUBSCRIBE, b"")
        subs[name] = sub
    bob_sub = curve_socket(host, zmq.SUB, "pub", credentials["bob"])
    bob_sub.setsockopt(zmq.SUBSCRIBE, b"alice")  # asks for someone else's: refused
    subs["bob"] = bob_sub
    loud, quiet = media.sine_pcm(amplitude=0.5), bytes(3200)
    pushes = {name: curve_socket(host, zmq.PUSH, "audio", credentials[name]) for name in subs}
    for name in ("alice", "bob"):
        push = pushes[name]
        for seq in range(20):
            pcm = loud if seq < 10 else quiet
            push.send(encode_envelope(audio_header(1000 + 100 * seq, seq), pcm))
    host.wait_for(lambda o: {c for c, _ in o.enrichments} >= {"alice", "bob"}, timeout=10)
    got = topics_received(subs)
    assert got == {"alice": {b"alice"}, "ops": {b"alice", b"bob"}, "bob": set()}
