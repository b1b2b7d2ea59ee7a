"""Start-up and shutdown: clear errors, fast stops, nothing leaked."""

from __future__ import annotations

import socket
import time

import pytest
import zmq

from ambient_flow.errors import StartupError
from ambient_flow.ports import check_ports
from ambient_flow.testing import LiveHost, test_settings
from ambient_flow.testing.messages import audio_parts


def test_port_in_use_is_a_clear_start_up_error(tmp_path) -> None:
    ctx = zmq.Context()
    squatter = ctx.socket(zmq.PULL)
    settings = test_settings(tmp_path)
    squatter.bind(f"tcp://127.0.0.1:{settings.audio_port}")
    try:
        with pytest.raises(StartupError) as checked:
            check_ports(settings)  # what the CLI and flows.live run before starting
        host = LiveHost(tmp_path, settings=settings)
        with pytest.raises(StartupError) as info:
            host.start(timeout=5)  # and what a worker raises if it is taken meanwhile
        host.runtime.stop.set()
        with pytest.raises(StartupError):
            host.stop()
    finally:
        squatter.close(linger=0)
        ctx.term()
    for message in (str(checked.value), str(info.value)):
        assert str(settings.audio_port) in message
        assert "--audio-port" in message and "AMBIENT_FLOW_AUDIO_PORT" in message


def test_tcp_port_in_use_names_the_port_and_the_fix(tmp_path) -> None:
    settings = test_settings(tmp_path)
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", settings.tcp_port))
        squatter.listen()
        host = LiveHost(tmp_path, settings=settings)
        with pytest.raises(StartupError, match=f"{settings.tcp_port}.*--tcp-port"):
            host.start(timeout=5)
        host.runtime.stop.set()
        with pytest.raises(StartupError):
            host.stop()


def test_stop_is_fast_and_flushes_open_sessions(live_host) -> None:
    host = live_host()
    push = host.push("audio")
    for seq in range(3):
        push.send_multipart(audio_parts(seq, client="x"))
    host.wait_for(lambda o: len(o.audio()) == 3)
    started = time.monotonic()
    out = host.stop()
    assert time.monotonic() - started < 1.0
    assert [e.kind for e in out.events(client="x")] == ["session_start", "session_end"]
    assert out.events("session_end")[0].data["reason"] == "eof"


def test_stop_then_start_again_on_the_same_ports(tmp_path, live_host) -> None:
    first = live_host()
    first.stop()
    second = live_host(settings=first.settings)
    assert second.request({"cmd": "heartbeat"})["status"] == "ok"


def test_a_host_restart_is_recorded_with_its_length(tmp_path) -> None:
    """A client streams through a host restart: its first session in the new run says how
    long the host was down, status shows the previous run, and a replay says the same."""
    from ambient_flow.testing import run_capture

    settings = test_settings(tmp_path / "data")
    with LiveHost(tmp_path / "data", settings=settings) as first:
        push = first.push("audio")
        for seq in range(3):
            push.send_multipart(audio_parts(seq, client="mic"))
        first.wait_for(lambda o: len(o.audio()) == 3)
    time.sleep(0.5)  # the host is down
    capture = tmp_path / "second.zmqcap"
    second_settings = test_settings(tmp_path / "data", record=str(capture))
    with LiveHost(tmp_path / "data", settings=second_settings) as second:
        push = second.push("audio")
        for seq in range(8, 11):  # the client kept counting while the host was down
            push.send_multipart(audio_parts(seq, client="mic"))
        second.wait_for(lambda o: len(o.audio()) == 3)
        host = second.request({"cmd": "stats"})["stats"]["host_run"]
    (restart,) = second.outputs.events("host_restart")
    assert 0.5 <= restart.data["down_s"] < 5
    assert host["down_s"] == restart.data["down_s"] and host["previous_stopped_ns"]
    assert not first.outputs.events("host_restart")  # a first run has no previous one
    replayed = run_capture(capture, tmp_path / "replay")
    assert [e.data for e in replayed.events("host_restart")] == [restart.data]
