"""What a person (or Prometheus) looks at while the host runs: status.json and /metrics.

The counters themselves live in `ambient_flow.telemetry` (one `Telemetry` per process,
updated by sources, operators and sinks). This package publishes them: `StatusFile`
writes `<data_dir>/status.json` atomically, `MetricsServer` serves Prometheus, and
`StatusReporter` gives both a place in the live dataflow — built on exactly one worker,
woken on a timer, closed (with a final write) when the flow ends.
"""

from ambient_flow.status.file import StatusFile
from ambient_flow.status.metrics import MetricsServer
from ambient_flow.status.reporter import StatusReporter

__all__ = ["MetricsServer", "StatusFile", "StatusReporter"]
