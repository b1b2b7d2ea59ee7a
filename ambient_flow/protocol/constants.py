"""Wire constants of protocol version 1 (the contract in `docs/protocol.md`).

Kept in one module with a version tag so that a client in another language can be
checked against the same numbers (`vectors.json` repeats them).
"""

from __future__ import annotations

from typing import Final

PROTOCOL_VERSION: Final = 1

AUDIO_PORT: Final = 5555
VIDEO_PORT: Final = 5556
CONTROL_PORT: Final = 5557
TCP_PORT: Final = 5558

AUDIO_SAMPLE_RATE: Final = 16000
AUDIO_CHANNELS: Final = 1
AUDIO_FORMAT: Final = "int16"
AUDIO_CHUNK_MS: Final = 100
AUDIO_CHUNK_BYTES: Final = AUDIO_SAMPLE_RATE * AUDIO_CHUNK_MS // 1000 * 2  # 3200

VIDEO_WIDTH: Final = 640
VIDEO_HEIGHT: Final = 480
VIDEO_FORMAT: Final = "jpeg"
VIDEO_QUALITY: Final = 70
VIDEO_FPS: Final = 5

HEARTBEAT_INTERVAL_S: Final = 5.0
STALE_AFTER_HEARTBEATS: Final = 3

#: Envelope prefix: two unsigned 32-bit big-endian lengths (header, payload).
ENVELOPE_PREFIX_BYTES: Final = 8
#: Default bound on one message (ZMQ_MAXMSGSIZE and the TCP record limit).
MAX_MESSAGE_BYTES: Final = 8 * 1024 * 1024
#: A JSON header longer than this is rejected before it is parsed.
MAX_HEADER_BYTES: Final = 64 * 1024
#: Deepest nesting of arrays and objects accepted in a header or control request
#: (headers are flat; deeper JSON would cost the parser its stack).
MAX_JSON_DEPTH: Final = 32
#: Largest `ts` accepted: unix milliseconds of 3000-01-01 (a clock since boot is far below).
MAX_TS_MS: Final = 32_503_680_000_000
#: Largest `seq` accepted: the largest integer every JSON reader holds exactly (2**53 - 1).
MAX_SEQ: Final = 2**53 - 1
#: Longest `session` / `source` string accepted (characters).
MAX_TEXT_FIELD: Final = 256

MESSAGE_TYPES: Final = ("audio", "video")
SOURCES: Final = ("mic", "webcam", "screen", "file", "synthetic")
#: Audio rates accepted and converted to 16 kHz (anything else is `unsupported_sr`).
ACCEPTED_SAMPLE_RATES: Final = (8000, 11025, 16000, 22050, 24000, 32000, 44100, 48000, 96000)
ACCEPTED_CHANNELS: Final = (1, 2)
VIDEO_FORMATS: Final = ("jpeg", "rgb")
MAX_VIDEO_SIDE: Final = 8192

#: Every reason a message can be rejected with; the label set of the `rejects` counter.
REJECT_REASONS: Final = (
    "frame_count",  # not 1 or 2 ZeroMQ message parts ("frames" in ZeroMQ's word)
    "envelope_short",  # fewer bytes than the 8-byte prefix or than the lengths announce
    "envelope_trailing",  # bytes left over after header + payload
    "header_too_large",
    "not_json",
    "header_not_object",
    "unknown_type",
    "missing_field",
    "bad_field",  # a field has the wrong JSON type or an impossible value
    "odd_pcm",  # int16 payload with an odd byte count (or not a whole frame for stereo)
    "unsupported_sr",
    "unsupported_ch",
    "unsupported_fmt",
    "payload_too_large",
    "bad_jpeg",  # does not start with FF D8
    "rgb_size",  # rgb payload is not w*h*3 bytes
    "empty_payload",
    "unknown_command",  # control request with a cmd the server does not know
    "too_many_clients",  # max_clients distinct clients are already tracked
    # Added within protocol version 1 (additive: older clients never see them unless
    # they send what causes them).
    "header_too_deep",  # arrays/objects nested deeper than MAX_JSON_DEPTH
    "audio_too_long",  # more audio in one message than the server's max_audio_message_seconds
    "unauthenticated",  # --auth token/curve: no valid credential came with it
)

#: Channels a raw message can arrive on (and the channel column of a capture record).
CHANNELS: Final = ("audio", "video", "control", "tcp")
