"""`IngestStreams`: the per-kind streams are steps only for the stages that use them."""

from __future__ import annotations

from pathlib import Path

import bytewax.operators as op
from bytewax.dataflow import Dataflow
from bytewax.testing import TestingSink, TestingSource, run_main

from ambient_flow.config import Settings
from ambient_flow.graph.ingest import build_ingest
from ambient_flow.protocol.messages import AudioChunk, VideoFrame
from ambient_flow.runtime import HostRuntime
from ambient_flow.testing.messages import audio_raw, video_raw

KINDS = {"audio", "video", "events", "rejects"}


def _steps(flow: Dataflow) -> set[str]:
    return {step.step_id.removeprefix(f"{flow.flow_id}.") for step in flow.substeps}


def test_a_kind_is_filtered_only_once_a_stage_asks_for_it(tmp_path: Path) -> None:
    runtime = HostRuntime(settings=Settings(data_dir=str(tmp_path), metrics_port=0), replay=True)
    try:
        flow = Dataflow("lazy")
        msgs = [audio_raw(0), video_raw(0), audio_raw(1)]
        streams = build_ingest(flow, runtime, {"in": TestingSource(msgs)}, write_sessions=False)
        assert not _steps(flow) & KINDS  # nothing asked: no filter sees every item
        audio = streams.audio
        assert streams.audio is audio  # one step, however often it is asked for
        video = streams.video
        assert _steps(flow) & KINDS == {"audio", "video"}
        got_audio: list[tuple[str, AudioChunk]] = []
        got_video: list[tuple[str, VideoFrame]] = []
        op.output("audio_out", audio, TestingSink(got_audio))
        op.output("video_out", video, TestingSink(got_video))
        run_main(flow)  # type: ignore[no-untyped-call]
    finally:
        runtime.close()
    assert [c.sequence for _, c in got_audio] == [0, 1]
    assert [f.sequence for _, f in got_video] == [0]
