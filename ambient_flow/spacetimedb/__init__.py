"""Write sessions, transcripts, speakers and detections to a SpacetimeDB database.

The database runs the ambient-sub module (`spacetime-module/Lib.cs`): a device per
client, an `audio_session` per session, a `transcript_entry` per utterance, a `speaker`
and `diarization_segment`s per speaker turn, a `frame` per detections change. See
docs/spacetimedb.md for the mapping, the API as read from SpacetimeDB's sources, and
the delivery guarantee.

Layers, each usable alone: `module` (the wire contract and SATS-JSON), `mapping` (pure
record -> reducer-call plans), `http` (a blocking client for the three routes), `writer`
(a thread with a bounded queue, retries, idempotent inserts and status). Pure Python, no
dependencies beyond the standard library, nothing imported from Bytewax.

Example:
    writer = SpacetimeWriter(WriterOptions("http://127.0.0.1:3000", "ambient-listener"))
    writer.submit({"event": "session_start", "session_id": "s1", "client": "laptop",
                   "at": "2026-01-23T14:30:45+00:00"})
    ...
    report = writer.close(timeout=10)
"""

from ambient_flow.spacetimedb.errors import (
    ArgumentError,
    CallRejected,
    ConnectFailed,
    ConnectionLost,
    DatabaseRejected,
    InvalidRecord,
    PermanentError,
    RequestTimeout,
    ServerBusy,
    SpacetimeConfigError,
    SpacetimeError,
    TransientError,
    UnexpectedResponse,
)
from ambient_flow.spacetimedb.http import (
    CallResult,
    Identity,
    SpacetimeClient,
    SqlResult,
)
from ambient_flow.spacetimedb.mapping import MappingOptions, plan_record
from ambient_flow.spacetimedb.plan import Plan, Step
from ambient_flow.spacetimedb.writer import (
    Backoff,
    CloseReport,
    Pending,
    SpacetimeWriter,
    WriterOptions,
)

__all__ = [
    "ArgumentError",
    "Backoff",
    "CallRejected",
    "CallResult",
    "CloseReport",
    "ConnectFailed",
    "ConnectionLost",
    "DatabaseRejected",
    "Identity",
    "InvalidRecord",
    "MappingOptions",
    "Pending",
    "PermanentError",
    "Plan",
    "RequestTimeout",
    "ServerBusy",
    "SpacetimeClient",
    "SpacetimeConfigError",
    "SpacetimeError",
    "SpacetimeWriter",
    "SqlResult",
    "Step",
    "TransientError",
    "UnexpectedResponse",
    "WriterOptions",
    "plan_record",
]
