"""Record only: what arrives goes straight into a capture (no ingest, no models).

    python -m bytewax.run flows.record    # AMBIENT_FLOW_RECORD=out.zmqcap

Control requests are still answered, so clients behave as with a full host.
`ambient-flow record OUT` runs the same graph.
"""

from __future__ import annotations

from bytewax.dataflow import Dataflow

from ambient_flow.config import Settings
from ambient_flow.graph.host import configure_logging, startup_errors_exit
from ambient_flow.graph.record import build_record
from ambient_flow.runtime import HostRuntime

__all__ = ["flow"]


def flow(config: str | None = None) -> Dataflow:
    """The record-only dataflow (needs `record`, e.g. AMBIENT_FLOW_RECORD=out.zmqcap)."""
    with startup_errors_exit("python -m bytewax.run flows.record"):
        settings = Settings.load(config_file=config)
        configure_logging(settings)
        runtime = HostRuntime(settings=settings)
        runtime.stop_on_signals()
        return build_record(runtime)
