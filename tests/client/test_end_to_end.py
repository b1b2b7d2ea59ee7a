"""The sender against the real live host, and synthesized captures through the replay flow."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from ambient_flow.client.playback import PlaybackOptions, stream_capture
from ambient_flow.client.sender import Sender, SenderOptions
from ambient_flow.client.synth import SynthOptions, synthesize_capture
from ambient_flow.testing import LiveHost, run_capture

MakeHost = Callable[..., LiveHost]


def _options(host: LiveHost, **kw: Any) -> SenderOptions:
    s = host.settings
    base: dict[str, Any] = {
        "audio_port": s.audio_port,
        "video_port": s.video_port,
        "control_port": s.control_port,
        "tcp_port": s.tcp_port,
        "duration_s": 1.0,
        "realtime": False,
        "send_block_ms": 2000,
        "hello_wait_s": 3.0,
    }
    base.update(kw)
    return SenderOptions(**base)


@pytest.mark.parametrize("transport", ["zmq", "tcp"])
def test_sender_streams_into_the_live_host(live_host: MakeHost, transport: Any) -> None:
    host = live_host(video_width=320, video_height=240, video_fps=4.0)
    stats = Sender(_options(host, transport=transport, client="desk-1")).run()
    host.wait_for(lambda o: len(o.audio("desk-1")) == 10 and len(o.video("desk-1")) == 4)
    out = host.stop()
    assert stats.server_config is not None
    assert (stats.settings.width, stats.settings.height) == (320, 240)  # type: ignore[union-attr]
    assert out.rejects() == []
    assert [a.sequence for a in out.audio("desk-1")] == list(range(10))
    assert {(v.width, v.height) for v in out.video("desk-1")} == {(320, 240)}
    kinds = [e.kind for e in out.events(client="desk-1")]
    assert "hello" in kinds
    assert "gap" not in kinds


def test_synthesized_capture_replays_through_the_flow_without_rejects(tmp_path: Path) -> None:
    path = tmp_path / "s.zmqcap"
    opts = SynthOptions(duration_s=2.0, width=160, height=120, client="synth-1")
    synthesize_capture(path, opts)
    out = run_capture(path, tmp_path / "replay")
    assert out.rejects() == []
    assert len(out.audio("synth-1")) == 20
    assert len(out.video("synth-1")) == 10
    legacy = tmp_path / "legacy.zmqcap"
    synthesize_capture(legacy, replace(opts, client=None, transport="tcp"))
    out = run_capture(legacy, tmp_path / "replay-legacy")
    assert out.rejects() == []
    assert sum(len(out.audio(c)) for c in out.clients()) == 20


def test_stream_capture_into_the_live_host(live_host: MakeHost, tmp_path: Path) -> None:
    path = tmp_path / "s.zmqcap"
    synthesize_capture(path, SynthOptions(duration_s=1.0, width=160, height=120, client="r-1"))
    host = live_host()
    s = host.settings
    stats = stream_capture(
        path,
        PlaybackOptions(
            audio_port=s.audio_port,
            video_port=s.video_port,
            control_port=s.control_port,
            tcp_port=s.tcp_port,
            realtime=False,
        ),
    )
    host.wait_for(lambda o: len(o.audio("r-1")) == 10 and len(o.video("r-1")) == 5)
    out = host.stop()
    assert out.rejects() == []
    assert stats.drops == {}
