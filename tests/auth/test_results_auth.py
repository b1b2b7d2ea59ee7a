"""Results back to the client under `--auth token`: they go to the client the token names,
the hello's offer of the PUB port says it takes PLAIN, a Python subscriber with the token
gets its own results there, and the addon's twin (godot_zeromq has no PLAIN) says results
are unavailable instead of subscribing in vain."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import zmq

from ambient_flow.auth import IssuedCredential
from ambient_flow.client.godot import GodotClient
from ambient_flow.client.results import PubResults, TranscriptReceived, result_events
from ambient_flow.testing import LiveHost, fakes
from tests.client.test_results import options

MakeHost = Callable[..., LiveHost]
Creds = dict[str, IssuedCredential]


def token_host(live_host: MakeHost, auth_dir: str) -> LiveHost:
    models = fakes.models(turns=[(0.0, 600.0, "alice")], script=lambda s, e: "hello godot")
    return live_host(
        auth="token", auth_dir=auth_dir, enrich=True, models=models,
        max_utterance=1.2, min_speech=0.3,
    )  # fmt: skip


def test_over_tcp_results_go_to_the_client_the_token_names(
    live_host: MakeHost, auth_dir: str, credentials: Creds
) -> None:
    host = token_host(live_host, auth_dir)
    alice = credentials["alice"].token
    # It calls itself "avatar"; the token says alice, and results follow the token.
    client = GodotClient(options(host, transport="tcp", client="avatar", token=alice))
    stats = client.run()
    assert stats.control is not None and stats.control.errors == 0
    assert stats.last_transcript == "hello godot"
    frames = {e.record["frame"]["frame_id"] for e in client.results.events}
    out = host.stop()
    assert frames and frames <= {e.frame_id for e in out.lines(client="alice")}
    assert not out.lines(client="avatar")


def test_the_pub_offer_needs_plain_and_the_addon_twin_says_results_are_unavailable(
    live_host: MakeHost, auth_dir: str, credentials: Creds
) -> None:
    host = token_host(live_host, auth_dir)
    alice = credentials["alice"].token
    reply = host.request({"cmd": "hello", "token": alice, "client": "avatar", "results": True})
    offer = reply["results"]
    assert offer == {
        "transport": "pub", "port": host.settings.pub_port, "topic": "alice", "auth": "plain",
    }  # fmt: skip
    client = GodotClient(options(host, transport="zmq", client="alice", token=alice))
    stats = client.run()
    assert stats.results == 0
    assert stats.results_unavailable is not None and "plain" in stats.results_unavailable


def test_a_python_subscriber_with_its_token_gets_its_own_results_on_pub(
    live_host: MakeHost, auth_dir: str, credentials: Creds
) -> None:
    host = token_host(live_host, auth_dir)
    port = host.settings.pub_port
    ctx = zmq.Context()
    try:
        mine = PubResults(ctx, "127.0.0.1", port, "alice", token=credentials["alice"].token)
        # bob's token does not open alice's topic: the handshake is refused
        wrong = PubResults(ctx, "127.0.0.1", port, "alice", token=credentials["bob"].token)
        time.sleep(0.5)  # the subscriptions reach the host
        GodotClient(options(host, transport="tcp", client="alice", token=credentials["alice"].token,
                            results=False)).run()  # fmt: skip
        records: list[dict[str, Any]] = []
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and not records:
            records += mine.poll()
            time.sleep(0.05)
        time.sleep(0.3)
        records += mine.poll()
        events = [e for r in records for e in result_events(r)]
        assert TranscriptReceived("speaker0", "hello godot") in events
        assert {r["detail"]["client"] for r in records} == {"alice"}
        assert wrong.poll() == []
        mine.close()
        wrong.close()
    finally:
        ctx.destroy(linger=0)
    assert host.runtime.telemetry.status()["auth"]["handshakes"]


def test_listen_with_a_token_prints_its_own_clients_lines(
    live_host: MakeHost, auth_dir: str, credentials: Creds, capsys: Any
) -> None:
    import argparse
    import threading
    from pathlib import Path

    from ambient_flow.cli.listen import add_listen_flags, listen

    host = token_host(live_host, auth_dir)
    parser = argparse.ArgumentParser()
    add_listen_flags(parser)
    issued = Path(auth_dir) / "issued"
    server = f"127.0.0.1:{host.settings.pub_port}"

    def args(name: str) -> argparse.Namespace:
        return parser.parse_args(["--server", server, "--auth", "token", "--json",
                                  "--credentials", str(issued / f"{name}.json"),
                                  "--duration", "8", "--count", "1"])  # fmt: skip

    results: dict[str, int] = {}
    threads = [
        threading.Thread(target=lambda n=n: results.__setitem__(n, listen(args(n))))
        for n in ("alice", "bob")
    ]
    for t in threads:
        t.start()
    time.sleep(0.5)  # the subscriptions reach the host
    GodotClient(options(host, transport="tcp", client="x", token=credentials["alice"].token,
                        results=False)).run()  # fmt: skip
    for t in threads:
        t.join(15)
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    assert results == {"alice": 0, "bob": 0}
    assert len(lines) == 1  # alice's listener saw her line; bob's saw nothing of hers
    assert '"client": "alice"' in lines[0]
