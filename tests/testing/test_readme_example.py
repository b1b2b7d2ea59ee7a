"""The harness example in the README, run as written."""

from ambient_flow.testing import LiveHost, run_capture, run_messages
from ambient_flow.testing.messages import audio_parts, audio_raw


def test_my_flow(tmp_path):
    # The live flow on real sockets (127.0.0.1, free ports), stopped and leak-free at exit.
    with LiveHost(tmp_path / "live", record=str(tmp_path / "x.zmqcap")) as host:
        push = host.push("audio")
        for seq in range(3):
            push.send_multipart(audio_parts(seq, client="mic"))
        host.wait_for(lambda out: len(out.audio("mic")) == 3)
    live = host.outputs  # FlowOutputs
    assert [c.start_sample for c in live.audio("mic")] == [0, 1600, 3200]
    # Replaying the capture gives the same items.
    assert run_capture(tmp_path / "x.zmqcap", tmp_path / "replay").records() == live.records()
    # Or run built messages through the graph without sockets.
    out = run_messages([audio_raw(s) for s in (0, 1, 5, 6, 7, 8)], tmp_path / "msgs")
    assert out.events("gap")[0].data["missing"] == 3  # seq 2..4, filled with silence
