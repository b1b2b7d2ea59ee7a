"""Where the streams end up. Each sink writes only its own files.

- `session`: per-session directories — `audio.wav` (streaming, `wav`), `metadata.json`,
  `events.jsonl`, and JPEGs with `save_frames`;
- `enrichment`: `frames.jsonl` and `models.json` in the same directories;
- `publish`: the ZeroMQ PUB stream of enrichments;
- `record`: the capture (`.zmqcap`) of everything received.
"""

from ambient_flow.sinks.enrichment import EnrichmentSink
from ambient_flow.sinks.publish import EnrichmentPublisher
from ambient_flow.sinks.record import RecordSink
from ambient_flow.sinks.session import (
    SessionFiles,
    SessionItem,
    SessionObserver,
    SessionOptions,
    SessionSink,
    SessionWriter,
)
from ambient_flow.sinks.wav import StreamingWavWriter, read_wav

__all__ = [
    "EnrichmentPublisher",
    "EnrichmentSink",
    "RecordSink",
    "SessionFiles",
    "SessionItem",
    "SessionObserver",
    "SessionOptions",
    "SessionSink",
    "SessionWriter",
    "StreamingWavWriter",
    "read_wav",
]
