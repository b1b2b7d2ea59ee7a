"""Wire protocol v1: constants, typed messages, encoders and parsers. Pure code, no I/O."""

from ambient_flow.errors import ProtocolError
from ambient_flow.protocol import constants
from ambient_flow.protocol.codec import (
    EnvelopeStream,
    audio_header,
    decode_envelope,
    encode_envelope,
    encode_header,
    encode_multipart,
    parse_audio,
    parse_header,
    parse_video,
    split_parts,
    video_header,
)
from ambient_flow.protocol.control import ControlRequest, parse_control
from ambient_flow.protocol.identity import sanitize_client_name
from ambient_flow.protocol.messages import (
    AudioChunk,
    ControlEvent,
    Parsed,
    RawMessage,
    Rejected,
    VideoFrame,
)
from ambient_flow.protocol.parse import parse_raw

__all__ = [
    "AudioChunk",
    "ControlEvent",
    "ControlRequest",
    "EnvelopeStream",
    "Parsed",
    "ProtocolError",
    "RawMessage",
    "Rejected",
    "VideoFrame",
    "audio_header",
    "constants",
    "decode_envelope",
    "encode_envelope",
    "encode_header",
    "encode_multipart",
    "parse_audio",
    "parse_control",
    "parse_header",
    "parse_raw",
    "parse_video",
    "sanitize_client_name",
    "split_parts",
    "video_header",
]
