"""ambient-flow: the streaming host of an ambient AI copilot.

Capture clients stream audio and video over ZeroMQ or TCP; Bytewax dataflows
validate, order and record it per client (`flows/live.py`, `flows/replay.py`).
In your own process: `from ambient_flow import Host` (see `ambient_flow.host`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["CaptureReceiver", "Host", "__version__"]

if TYPE_CHECKING:
    from ambient_flow.host import CaptureReceiver, Host


def __getattr__(name: str) -> Any:
    # Lazy: `import ambient_flow` (the CLI, a client) stays light; `Host` brings in
    # Bytewax and pyzmq only when asked for, and never a model library.
    if name in ("Host", "CaptureReceiver"):
        from ambient_flow import host

        return getattr(host, name)
    raise AttributeError(f"module 'ambient_flow' has no attribute {name!r}")
