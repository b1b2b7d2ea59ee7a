"""Record only: the live sources straight into a capture, no ingest (`ambient-flow record`).

Control requests are still answered (by the control source), so clients behave as
with a full host; everything that arrives, good or bad, lands in the file.
"""

from __future__ import annotations

import bytewax.operators as op
from bytewax.dataflow import Dataflow

from ambient_flow.errors import ConfigError
from ambient_flow.graph.live import live_sources
from ambient_flow.runtime import HostRuntime
from ambient_flow.sinks.record import RecordSink

__all__ = ["build_record"]


def build_record(runtime: HostRuntime) -> Dataflow:
    settings = runtime.settings
    if not settings.record:
        raise ConfigError("the record-only flow needs settings.record (the capture path)")
    flow = Dataflow("ambient_record")
    raws = [op.input(name, flow, src) for name, src in live_sources(runtime).items()]
    raw = op.merge("raw", *raws)
    keyed = op.key_on("capture_key", raw, lambda _m: "capture")
    op.output("record", keyed, RecordSink(settings.record, {"config": settings.recordable()}))
    return flow
