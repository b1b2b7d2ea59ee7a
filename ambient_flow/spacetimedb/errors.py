"""The SpacetimeDB writer's exception tree.

```
AmbientFlowError (ambient_flow.errors)
└── SpacetimeError              anything this package raises on purpose (`reason`, `detail`)
    ├── SpacetimeConfigError    bad options (also a ConfigError, a ValueError); construction only
    ├── InvalidRecord           a submitted record cannot be mapped (missing key, bad number)
    ├── ArgumentError           arguments the module would refuse, caught before sending
    ├── TransientError          may succeed later; the writer backs off and retries
    │   ├── ConnectFailed       refused / unreachable / connect timeout: nothing was sent
    │   ├── RequestTimeout      sent, no answer in time: it may have been applied
    │   ├── ConnectionLost      sent, connection closed or reset before the answer
    │   └── ServerBusy          HTTP 5xx (not 530), 408, 429
    └── PermanentError          the same request will fail the same way (has `status`)
        ├── CallRejected        this call is wrong: bad arguments (400), no such reducer
        │                       (404), the reducer threw (530); one record fails
        └── DatabaseRejected    every call will fail: no such database, unauthorized,
            │                   forbidden, budget exhausted; the writer stops calling
            └── UnexpectedResponse  a 2xx answer we cannot read (another API version?)
```

`reason` is a short machine-readable code, the label of the writer's failure counters.
`ambiguous` is True when the request may have been applied on the server (it was
sent and no verdict came back): an insert is then checked by its key before it is sent
again, so a retry never writes a second row.

While streaming these are data: the writer counts them by `reason` and reports them in
`status()`; only `SpacetimeConfigError` escapes, at construction, where a person can fix it.
"""

from __future__ import annotations

from ambient_flow.errors import AmbientFlowError, ConfigError

__all__ = [
    "ArgumentError",
    "CallRejected",
    "ConnectFailed",
    "ConnectionLost",
    "DatabaseRejected",
    "InvalidRecord",
    "PermanentError",
    "RequestTimeout",
    "ServerBusy",
    "SpacetimeConfigError",
    "SpacetimeError",
    "TransientError",
    "UnexpectedResponse",
]


class SpacetimeError(AmbientFlowError):
    """Base class of every error this package raises on purpose.

    Attributes:
        reason: Short machine-readable code, used as a counter label.
        detail: Human-readable explanation (the server's message, when it sent one).
    """

    reason_default = "error"

    def __init__(self, detail: str, *, reason: str | None = None) -> None:
        self.reason = reason or self.reason_default
        self.detail = detail
        super().__init__(f"{self.reason}: {detail}")


class SpacetimeConfigError(SpacetimeError, ConfigError, ValueError):
    """An option is invalid; raised when options are built, before anything runs."""

    reason_default = "config"


class InvalidRecord(SpacetimeError, ValueError):
    """A record cannot be mapped to reducer calls; it is counted and skipped, never sent."""

    reason_default = "invalid_record"


class ArgumentError(SpacetimeError, ValueError):
    """Arguments do not fit the reducer's signature; found before anything was sent."""

    reason_default = "invalid_arguments"


class TransientError(SpacetimeError):
    """The request may succeed if sent again later.

    Attributes:
        ambiguous: True when the request was sent and may have been applied.
    """

    reason_default = "transient"
    ambiguous = True


class ConnectFailed(TransientError):
    """No connection could be made (refused, unreachable, DNS, connect timeout)."""

    reason_default = "refused"
    ambiguous = False


class RequestTimeout(TransientError):
    """The request was sent and no complete answer came within the timeout."""

    reason_default = "timeout"


class ConnectionLost(TransientError):
    """The connection was reset or closed after the request was sent."""

    reason_default = "reset"


class ServerBusy(TransientError):
    """The server answered 5xx (other than 530), 408 or 429.

    Attributes:
        status: The HTTP status code.
    """

    reason_default = "http_5xx"

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail, reason=f"http_{status}")
        self.status = status
        # 408 and 429 are refusals before the request ran; any other 5xx can come after a
        # commit (SpacetimeDB answers 500 when the disconnect hook fails after the reducer).
        self.ambiguous = status not in (408, 429)


class PermanentError(SpacetimeError):
    """The server gave a verdict that sending the same request again will not change.

    Attributes:
        status: The HTTP status code.
    """

    reason_default = "permanent"
    ambiguous = False

    def __init__(self, status: int, detail: str, *, reason: str | None = None) -> None:
        super().__init__(detail, reason=reason)
        self.status = status


class CallRejected(PermanentError):
    """This call is wrong (bad arguments, unknown reducer, the reducer threw)."""

    reason_default = "call_rejected"


class DatabaseRejected(PermanentError):
    """Every call to this database will fail (unknown database, credentials, budget)."""

    reason_default = "database_rejected"


class UnexpectedResponse(DatabaseRejected):
    """A success status with a body this client cannot read (an API it does not know)."""

    reason_default = "bad_response"
