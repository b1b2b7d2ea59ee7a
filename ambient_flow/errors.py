"""The one exception tree of ambient-flow.

```
AmbientFlowError
├── ProtocolError        a message on the wire broke the contract (has a machine-readable `reason`)
├── CaptureError         a .zmqcap file is not what it claims to be
│   └── CorruptRecord    one record failed its length or CRC check (has `offset`)
├── ConfigError          a setting is invalid (raised at construction, never while streaming)
├── StartupError         a resource could not be acquired at start-up (port in use, unwritable dir)
└── SpacetimeError       the SpacetimeDB writer (`ambient_flow.spacetimedb.errors`, its own subtree:
                         config, invalid record, transient / permanent HTTP failures)
```

While streaming, errors are data: a message that raises `ProtocolError` becomes a
`Rejected` item routed to the error branch and counted by its reason. Exceptions
escape only at set-up, where a person can fix the cause.
"""

from __future__ import annotations

__all__ = [
    "AmbientFlowError",
    "CaptureError",
    "ConfigError",
    "CorruptRecord",
    "ProtocolError",
    "StartupError",
]


class AmbientFlowError(Exception):
    """Base class of every error ambient-flow raises on purpose."""


class ProtocolError(AmbientFlowError):
    """A message broke the wire contract.

    Attributes:
        reason: A short machine-readable code (see `protocol.constants.REJECT_REASONS`),
            used as the label of the `rejects` counter.
        detail: Human-readable explanation for logs and error replies.
    """

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail

    def __reduce__(self) -> tuple[type[ProtocolError], tuple[str, str]]:
        return (type(self), (self.reason, self.detail))


class CaptureError(AmbientFlowError):
    """A `.zmqcap` file has a bad header or cannot be read."""


class CorruptRecord(CaptureError):
    """A record failed its length or CRC32 check; everything before `offset` is good."""

    def __init__(self, offset: int, detail: str) -> None:
        super().__init__(f"corrupt record at byte {offset}: {detail}")
        self.offset = offset
        self.detail = detail

    def __reduce__(self) -> tuple[type[CorruptRecord], tuple[int, str]]:
        return (type(self), (self.offset, self.detail))


class ConfigError(AmbientFlowError):
    """A setting is invalid; raised when settings are built, before anything runs."""


class StartupError(AmbientFlowError):
    """A resource could not be acquired at start-up (a port in use, an unwritable directory)."""
