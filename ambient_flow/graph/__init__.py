"""The dataflows: how sources, operators, models and sinks are wired.

```
ingest.py   raw messages -> identify -> per-client ingest -> sessions sink; IngestStreams
enrich.py   ingest's items -> speech analysis -> model stage -> attribution -> enrichment sinks
live.py     the live host: ZeroMQ/TCP/control sources + status reporter + ingest (+ enrich)
replay.py   a capture through the same graph (recorded settings, recorded arrival times)
record.py   the live sources straight into a capture
```

`flows/live.py` and `flows/replay.py` (what `python -m bytewax.run` loads) only call
the factories here; the CLI and `ambient_flow.testing` build the same graphs.
"""

from ambient_flow.graph.enrich import EnrichStreams, build_enrichment
from ambient_flow.graph.host import HostGraph, configure_logging
from ambient_flow.graph.ingest import IngestStreams, build_ingest
from ambient_flow.graph.live import build_live, live_flow, live_sources
from ambient_flow.graph.record import build_record
from ambient_flow.graph.replay import build_replay, replay_flow, replay_settings

__all__ = [
    "EnrichStreams",
    "HostGraph",
    "IngestStreams",
    "build_enrichment",
    "build_ingest",
    "build_live",
    "build_record",
    "build_replay",
    "configure_logging",
    "live_flow",
    "live_sources",
    "replay_flow",
    "replay_settings",
]
