"""Record only: the live sources straight into a capture, no ingest (`ambient-flow record`).

Control requests are still answered (by the control source), so clients behave as
with a full host; everything that arrives, good or bad, lands in the file.
"""

from __future__ import annotations

import bytewax.operators as op
from bytewax.dataflow import Dataflow

from ambient_flow.sinks.capture import CaptureSink
from ambient_flow.sources.runtime import HostRuntime
from flows.live import live_sources

__all__ = ["build"]


def build(runtime: HostRuntime) -> Dataflow:
    settings = runtime.settings
    if not settings.record:
        raise ValueError("record-only flow needs settings.record (the capture path)")
    flow = Dataflow("ambient_record")
    raws = [op.input(name, flow, src) for name, src in live_sources(runtime).items()]
    raw = op.merge("raw", *raws)
    keyed = op.key_on("capture_key", raw, lambda _m: "capture")
    op.output("record", keyed, CaptureSink(settings.record, {"config": settings.to_dict()}))
    return flow
