"""Naming senders that send no `client` field (what real clients do today)."""

from __future__ import annotations

from pathlib import Path

from ambient_flow.testing import run_messages
from ambient_flow.testing.messages import T0_MS, audio_raw, control_raw, video_raw

NS = 1_000_000


def test_header_client_is_used_as_is_sanitized(tmp_path: Path) -> None:
    out = run_messages([audio_raw(0, client="../../etc/passwd")], tmp_path)
    (name,) = out.clients()
    assert "/" not in name and not name.startswith(".")
    assert (tmp_path / "sessions").exists()
    assert all(p.parent == tmp_path / "sessions" for p in (tmp_path / "sessions").iterdir())


def test_two_legacy_clients_on_one_host_are_kept_apart_by_connection(tmp_path: Path) -> None:
    msgs = []
    for s in range(4):
        msgs.append(audio_raw(s, conn="fd20"))
        msgs.append(audio_raw(s, conn="fd21", ts=T0_MS + 100 * s + 7))
    out = run_messages(msgs, tmp_path)
    assert out.clients() == ["127.0.0.1", "127.0.0.1-2"]
    for client in out.clients():
        assert [c.sequence for c in out.audio(client)] == [0, 1, 2, 3]
        assert not out.events("duplicate", client=client)


def test_a_clients_audio_and_video_connections_pair_into_one_client(tmp_path: Path) -> None:
    msgs = [audio_raw(0, conn="fd30"), video_raw(0, conn="fd31"), audio_raw(1, conn="fd30")]
    out = run_messages(msgs, tmp_path)
    assert out.clients() == ["127.0.0.1"]
    assert len(out.audio()) == 2 and len(out.video()) == 1


def test_hello_names_the_legacy_stream_from_the_same_host(tmp_path: Path) -> None:
    t = T0_MS * NS
    msgs = [
        control_raw(
            "hello",
            at_ns=t - 10 * NS,
            conn="fd40",
            client="selestia",
            capabilities=["audio", "video"],
        ),
        audio_raw(0, conn="fd41"),
        video_raw(0, conn="fd42"),
        control_raw("heartbeat", at_ns=t + 50 * NS, conn="fd40"),
    ]
    out = run_messages(msgs, tmp_path)
    assert out.clients() == ["selestia"]
    (start,) = out.events("session_start")
    assert start.data["capabilities"] == ["audio", "video"]


def test_two_named_legacy_clients_pair_by_order_of_arrival(tmp_path: Path) -> None:
    t = T0_MS * NS
    msgs = [
        control_raw("hello", at_ns=t - 20 * NS, conn="fd50", client="left"),
        control_raw("hello", at_ns=t - 10 * NS, conn="fd51", client="right"),
        audio_raw(0, conn="fd52"),
        audio_raw(0, conn="fd53", ts=T0_MS + 3),
        audio_raw(1, conn="fd52"),
        audio_raw(1, conn="fd53", ts=T0_MS + 103),
    ]
    out = run_messages(msgs, tmp_path)
    assert out.clients() == ["left", "right"]
    assert [c.sequence for c in out.audio("right")] == [0, 1]


def test_a_reconnecting_client_takes_back_its_slot_after_the_old_connection_expires(
    tmp_path: Path,
) -> None:
    t = T0_MS * NS
    msgs = [
        audio_raw(0, conn="fd60", at_ns=t),
        # Same client reconnected 20 s later (new socket, new fd, seq from 0).
        audio_raw(0, conn="fd61", ts=T0_MS + 20_000, at_ns=t + 20 * 10**9),
    ]
    out = run_messages(msgs, tmp_path)
    assert out.clients() == ["127.0.0.1"]
