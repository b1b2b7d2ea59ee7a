"""Stateful per-client logic: identify senders, order and repair streams, offload slow work."""

from ambient_flow.operators.events import EVENT_KINDS, ClientEvent
from ambient_flow.operators.identify import HostState, IdentifyLogic
from ambient_flow.operators.ingest import (
    ClientState,
    IngestItem,
    IngestLogic,
    IngestOptions,
    session_dir_name,
)
from ambient_flow.operators.offload import OffloadLogic, OffloadOptions, offload
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
    "OffloadLogic",
    "OffloadOptions",
    "offload",
    "session_dir_name",
]
