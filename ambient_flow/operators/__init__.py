"""Stateful per-client logic, between the sources and the sinks.

Ingest (`identify`, `ingest`): who sent a message, its order, gaps, sessions and
liveness. Enrichment (`speech`, `segmenter`, `model_stage`, `attribution`): speech
blocks, utterances and diarization windows, ordered model calls off the worker thread
(`offload`, `batching`), and the join into enrichments. Operators know models only by
their interfaces (`ambient_flow.models`).
"""

from ambient_flow.operators.events import EVENT_KINDS, ClientEvent
from ambient_flow.operators.identify import HostState, IdentifyLogic
from ambient_flow.operators.ingest import (
    ClientState,
    IngestItem,
    IngestLogic,
    IngestOptions,
    session_dir_name,
)
from ambient_flow.operators.offload import Lane, OffloadLogic, OffloadOptions, offload
from ambient_flow.operators.ringbuffer import AudioRing

__all__ = [
    "EVENT_KINDS",
    "AudioRing",
    "ClientEvent",
    "ClientState",
    "HostState",
    "IdentifyLogic",
    "IngestItem",
    "IngestLogic",
    "IngestOptions",
    "Lane",
    "OffloadLogic",
    "OffloadOptions",
    "offload",
    "session_dir_name",
]
