"""ambient-flow: the streaming host of an ambient AI copilot.

Capture clients stream audio and video over ZeroMQ or TCP; Bytewax dataflows
validate, order and record it per client (`flows/live.py`, `flows/replay.py`).
"""

__version__ = "0.1.0"
__all__ = ["__version__"]
