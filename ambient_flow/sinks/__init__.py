"""Where the streams end up: per-session directories (WAV, metadata, events, frames)."""

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
    "SessionFiles",
    "SessionItem",
    "SessionObserver",
    "SessionOptions",
    "SessionSink",
    "SessionWriter",
    "StreamingWavWriter",
    "read_wav",
]
