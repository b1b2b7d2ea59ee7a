"""Senders: the stand-in for the real clients, capture replay, and capture synthesis.

`Sender` streams synthetic, file or device media to a server over ZeroMQ or raw TCP;
`stream_capture` plays a `.zmqcap` back to a server; `synthesize_capture` writes a
realistic `.zmqcap` with no sockets at all. Heavy media libraries load only when a
source that needs them is opened.
"""

from ambient_flow.client.control import ControlOptions, ControlSession, ControlStats, ServerConfig
from ambient_flow.client.media import (
    AudioOptions,
    ImageOptions,
    MicOptions,
    PatternOptions,
    ToneOptions,
    VideoOptions,
    WavOptions,
    WebcamOptions,
    open_audio,
    open_video,
)
from ambient_flow.client.pacing import Pacer
from ambient_flow.client.playback import PlaybackOptions, PlaybackStats, stream_capture
from ambient_flow.client.sender import MediaSettings, Sender, SenderOptions, SenderStats
from ambient_flow.client.synth import SynthOptions, SynthResult, synthesize_capture
from ambient_flow.client.tcp import TcpTransport
from ambient_flow.client.transport import TransportStats, ZmqTransport

__all__ = [
    "AudioOptions",
    "ControlOptions",
    "ControlSession",
    "ControlStats",
    "ImageOptions",
    "MediaSettings",
    "MicOptions",
    "Pacer",
    "PatternOptions",
    "PlaybackOptions",
    "PlaybackStats",
    "Sender",
    "SenderOptions",
    "SenderStats",
    "ServerConfig",
    "SynthOptions",
    "SynthResult",
    "TcpTransport",
    "ToneOptions",
    "TransportStats",
    "VideoOptions",
    "WavOptions",
    "WebcamOptions",
    "ZmqTransport",
    "open_audio",
    "open_video",
    "stream_capture",
    "synthesize_capture",
]
