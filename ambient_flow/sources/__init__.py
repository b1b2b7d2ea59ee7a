"""Bytewax inputs: ZeroMQ PULL, raw TCP, control REP and capture replay.

Every source emits `RawMessage`: message parts exactly as they arrived, with arrival time
and peer. Parsing is the next step of the flow, so a replay takes the same path.
"""

from ambient_flow.sources.control import ControlResponder, ControlSource
from ambient_flow.sources.replay import ReplaySource
from ambient_flow.sources.start import StartSignalSource
from ambient_flow.sources.tcp import TcpSource
from ambient_flow.sources.zmq_pull import ZmqPullSource

__all__ = [
    "ControlResponder",
    "ControlSource",
    "ReplaySource",
    "StartSignalSource",
    "TcpSource",
    "ZmqPullSource",
]
