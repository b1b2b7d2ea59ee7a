"""The flow test harness: run ambient-flow graphs in-process and look at what came out.

For our tests and for users' own flows::

    from ambient_flow.testing import LiveHost, run_capture, run_messages, messages

    with LiveHost(tmp_path) as host:           # real sockets on 127.0.0.1, free ports
        host.send_audio(seq=0, client="a")      # or use ambient_flow.client.Sender
        host.wait_for(lambda out: len(out.audio("a")) == 1)
    out = host.outputs                          # FlowOutputs: audio, video, events, rejects

    out = run_capture("recordings/sample.zmqcap", tmp_path)   # replay a capture
    out = run_messages([messages.audio_raw(seq=i) for i in range(3)], tmp_path)

    # the enrichment graph on fake models (no [audio] extra needed)
    out = run_messages(msgs, tmp_path, settings=Settings(enrich=True), models=fakes.models())
    out.lines("utterance")                     # the enrichments (lines of frames.jsonl)
"""

from ambient_flow.testing import fakes, media, messages
from ambient_flow.testing.clock import FakeClock
from ambient_flow.testing.harness import (
    FlowOutputs,
    LiveHost,
    free_port,
    run_capture,
    run_messages,
    test_settings,
)

__all__ = [
    "FakeClock",
    "FlowOutputs",
    "LiveHost",
    "fakes",
    "free_port",
    "media",
    "messages",
    "run_capture",
    "run_messages",
    "test_settings",
]
