"""Generate `ambient_flow/protocol/vectors.json`: byte-level examples of protocol v1.

Run `python tests/protocol/make_vectors.py` to rewrite the file; `--check` exits 1
when the committed file differs from what this script makes (the test suite does
the same comparison). The bytes are built here with `struct` and `json`, not with
`ambient_flow.protocol.codec`, so the vectors check the codec instead of echoing it.
Expected values are written down from the inputs, never taken from the parser.

The tiny JPEG is stored as bytes (made once with `cv2.imencode` at quality 70 from
an 8x16 image, red left half, blue right half) so the file does not depend on the
libjpeg build; `test_vectors.py` checks that OpenCV decodes it.
"""

from __future__ import annotations

import json
import math
import struct
import sys
from pathlib import Path
from typing import Any

from ambient_flow.protocol import constants as C
from ambient_flow.protocol.control import COMMANDS
from ambient_flow.protocol.identity import sanitize_client_name

VECTORS_PATH = Path(__file__).resolve().parents[2] / "ambient_flow" / "protocol" / "vectors.json"

#: Reject reasons that depend on server state or settings, not on the bytes of one message.
STATEFUL_REASONS = ("too_many_clients", "audio_too_long", "unauthenticated")
#: The connection identity the vectors are parsed with when the header names no client.
FALLBACK_CLIENT = "192.0.2.10"
TS = 1700000000000
N_FIRST = 8

TINY_JPEG = bytes.fromhex(
    "ffd8ffe000104a46494600010100000100010000ffdb0043000a07070807060a0808080b0a0a0b0e18100e0d0d0e"
    "1d15161118231f2524221f2221262b372f26293429212230413134393b3e3e3e252e4449433c48373d3e3bffdb00"
    "43010a0b0b0e0d0e1c10101c3b2822283b3b3b3b3b3b3b3b3b3b3b3b3b3b3b3b3b3b3b3b3b3b3b3b3b3b3b3b3b3b"
    "3b3b3b3b3b3b3b3b3b3b3b3b3b3b3b3b3b3b3b3b3b3b3b3b3bffc00011080008001003012200021101031101ffc4"
    "001f0000010501010101010100000000000000000102030405060708090a0bffc400b51000020103030204030505"
    "04040000017d01020300041105122131410613516107227114328191a1082342b1c11552d1f02433627282090a16"
    "1718191a25262728292a3435363738393a434445464748494a535455565758595a636465666768696a7374757677"
    "78797a838485868788898a92939495969798999aa2a3a4a5a6a7a8a9aab2b3b4b5b6b7b8b9bac2c3c4c5c6c7c8c9"
    "cad2d3d4d5d6d7d8d9dae1e2e3e4e5e6e7e8e9eaf1f2f3f4f5f6f7f8f9faffc4001f01000301010101010101010100"
    "00000000000102030405060708090a0bffc400b5110002010204040304070504040001027700010203110405213106"
    "1241510761711322328108144291a1b1c109233352f0156272d10a162434e125f11718191a262728292a3536373839"
    "3a434445464748494a535455565758595a636465666768696a737475767778797a82838485868788898a9293949596"
    "9798999aa2a3a4a5a6a7a8a9aab2b3b4b5b6b7b8b9bac2c3c4c5c6c7c8c9cad2d3d4d5d6d7d8d9dae2e3e4e5e6e7e8"
    "e9eaf2f3f4f5f6f7f8f9faffda000c03010002110311003f00e56b9aa28afa2e07ff00988ffb77ff006e3eab8c7fe5"
    "c7fdbdff00b69fffd9"
)
TINY_JPEG_SIZE = (16, 8)  # w, h


# -- byte builders (independent of the codec) --------------------------------------------
def jhead(header: dict[str, Any]) -> bytes:
    """Compact UTF-8 JSON, keys in the order written."""
    return json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def envelope(head: bytes, payload: bytes) -> bytes:
    return struct.pack(">II", len(head), len(payload)) + head + payload


def pcm(values: list[int]) -> bytes:
    return struct.pack(f"<{len(values)}h", *values)


def sine(freq: float, n: int, sr: int, amp: float = 0.5) -> list[int]:
    return [round(amp * 32767 * math.sin(2 * math.pi * freq * i / sr)) for i in range(n)]


def audio_expect(
    header: dict[str, Any], samples: list[int], *, client: str = FALLBACK_CLIENT
) -> dict[str, Any]:
    ch = header.get("ch", 1)
    out: dict[str, Any] = {
        "type": "audio",
        "client": client,
        "ts": header["ts"],
        "seq": header["seq"],
        "sr": header.get("sr", C.AUDIO_SAMPLE_RATE),
        "ch": ch,
        "samples": len(samples) // ch,
        "first_samples": samples[:N_FIRST],
        "payload_bytes": 2 * len(samples),
    }
    for key in ("session", "source"):
        if key in header:
            out[key] = header[key]
    return out


def video_expect(
    header: dict[str, Any], payload: bytes, *, client: str = FALLBACK_CLIENT
) -> dict[str, Any]:
    return {
        "type": "video",
        "client": client,
        "ts": header["ts"],
        "seq": header["seq"],
        "w": header["w"],
        "h": header["h"],
        "fmt": header["fmt"],
        "quality": header.get("quality"),
        "payload_bytes": len(payload),
    }


def vec(
    name: str,
    description: str,
    encoding: str,
    channel: str,
    frames: list[bytes],
    *,
    expect: dict[str, Any] | None = None,
    error: str | None = None,
    records_before_error: int | None = None,
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "name": name,
        "description": description,
        "encoding": encoding,
        "channel": channel,
        "frames_hex": [f.hex() for f in frames],
    }
    if expect is not None:
        out["expect"] = expect
    if error is not None:
        out["error"] = error
    if records_before_error is not None:
        out["records_before_error"] = records_before_error
    return out


# -- the vectors ---------------------------------------------------------------------------
def good_vectors() -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []

    sine_samples = sine(440.0, C.AUDIO_SAMPLE_RATE * C.AUDIO_CHUNK_MS // 1000, C.AUDIO_SAMPLE_RATE)
    head = {"type": "audio", "ts": TS, "seq": 0, "sr": 16000, "ch": 1, "fmt": "int16"}
    payload = pcm(sine_samples)
    out.append(
        vec(
            "audio_sine_envelope",
            "100 ms of a 440 Hz sine (amplitude 0.5) at 16 kHz mono, one envelope frame "
            "(what real clients send). No client field: the connection names the client.",
            "envelope",
            "audio",
            [envelope(jhead(head), payload)],
            expect=audio_expect(head, sine_samples),
        )
    )
    out.append(
        vec(
            "audio_sine_multipart",
            "The same header and payload as audio_sine_envelope as two ZeroMQ frames.",
            "multipart",
            "audio",
            [jhead(head), payload],
            expect=audio_expect(head, sine_samples),
        )
    )

    ramp = list(range(-800, 800, 10))  # 160 samples = 10 ms
    head = {
        "type": "audio",
        "ts": TS + 100,
        "seq": 1,
        "sr": 16000,
        "ch": 1,
        "fmt": "int16",
        "client": "kitchen-mic",
        "session": "s-2024-01",
        "source": "mic",
        "v": 1,
    }
    out.append(
        vec(
            "audio_named_client",
            "Audio with the optional fields client, session, source and v: the header's "
            "client names the stream.",
            "envelope",
            "audio",
            [envelope(jhead(head), pcm(ramp))],
            expect=audio_expect(head, ramp, client="kitchen-mic"),
        )
    )

    left = sine(440.0, 4410, 44100)
    right = sine(660.0, 4410, 44100, amp=0.25)
    inter = [v for pair in zip(left, right, strict=True) for v in pair]
    head = {"type": "audio", "ts": TS, "seq": 7, "sr": 44100, "ch": 2, "fmt": "int16"}
    out.append(
        vec(
            "audio_44k1_stereo",
            "100 ms at 44.1 kHz, 2 channels interleaved L R L R (4410 frames, 17640 bytes); "
            "accepted, downmixed to mono by averaging, resampled to 16 kHz later.",
            "envelope",
            "audio",
            [envelope(jhead(head), pcm(inter))],
            expect=audio_expect(head, inter),
        )
    )

    name = "café/../x"
    head = {"type": "audio", "ts": TS, "seq": 2, "client": name}
    short = [1, -1, 2, -2]
    out.append(
        vec(
            "audio_unsafe_client_name",
            "A client name that is unsafe as a directory name is sanitized (ASCII folding, "
            "'/' and '..' replaced, hash suffix); sr/ch/fmt absent mean 16000/1/int16. "
            "The header is sent with \\u escapes; the server accepts both forms of JSON.",
            "envelope",
            "audio",
            [envelope(json.dumps(head, separators=(",", ":")).encode("ascii"), pcm(short))],
            expect=audio_expect(head, short, client=sanitize_client_name(name)),
        )
    )

    head = {"type": "video", "ts": TS, "seq": 0, "w": 16, "h": 8, "fmt": "jpeg", "quality": 70}
    out.append(
        vec(
            "video_tiny_jpeg",
            "A real 16x8 JPEG (quality 70; left half red, right half blue), one envelope frame.",
            "envelope",
            "video",
            [envelope(jhead(head), TINY_JPEG)],
            expect=video_expect(head, TINY_JPEG),
        )
    )
    out.append(
        vec(
            "video_tiny_jpeg_multipart",
            "The same JPEG message as two frames.",
            "multipart",
            "video",
            [jhead(head), TINY_JPEG],
            expect=video_expect(head, TINY_JPEG),
        )
    )

    rgb = bytes([255, 0, 0, 0, 255, 0, 0, 0, 255, 255, 255, 255])
    head = {
        "type": "video",
        "ts": TS + 200,
        "seq": 1,
        "w": 2,
        "h": 2,
        "fmt": "rgb",
        "client": "cam-1",
    }
    out.append(
        vec(
            "video_rgb_2x2",
            "Raw RGB24, 2x2, rows top to bottom: red green / blue white (w*h*3 = 12 bytes). "
            "No quality field (it only means something for JPEG).",
            "envelope",
            "video",
            [envelope(jhead(head), rgb)],
            expect=video_expect(head, rgb, client="cam-1"),
        )
    )

    hello = {"cmd": "hello", "client": "kitchen-mic", "capabilities": ["audio", "video"]}
    out.append(
        vec(
            "control_hello",
            "A hello on the control REP socket: one frame of plain JSON (no envelope). "
            "The reply carries the server's config.",
            "control",
            "control",
            [jhead(hello)],
            expect={"type": "control", "client": "kitchen-mic", "cmd": "hello"},
        )
    )
    out.append(
        vec(
            "control_heartbeat",
            'A heartbeat on the control socket; the reply is {"status":"ok","ts":server_ms}.',
            "control",
            "control",
            [jhead({"cmd": "heartbeat", "client": "kitchen-mic"})],
            expect={"type": "control", "client": "kitchen-mic", "cmd": "heartbeat"},
        )
    )
    out.append(
        vec(
            "control_bye_legacy",
            "A bye with no client field: it is attributed to the connection.",
            "control",
            "control",
            [jhead({"cmd": "bye"})],
            expect={"type": "control", "client": FALLBACK_CLIENT, "cmd": "bye"},
        )
    )

    tcp_hello = {
        "type": "control",
        "cmd": "hello",
        "client": "tcp-cam",
        "capabilities": ["audio", "video"],
    }
    tcp_audio = {
        "type": "audio",
        "ts": TS,
        "seq": 0,
        "sr": 16000,
        "ch": 1,
        "fmt": "int16",
        "client": "tcp-cam",
    }
    tcp_video = {
        "type": "video",
        "ts": TS + 40,
        "seq": 0,
        "w": 2,
        "h": 2,
        "fmt": "rgb",
        "client": "tcp-cam",
    }
    tcp_samples = sine(1000.0, 160, 16000)
    stream = (
        envelope(jhead(tcp_hello), b"")
        + envelope(jhead(tcp_audio), pcm(tcp_samples))
        + envelope(jhead(tcp_video), rgb)
    )
    out.append(
        vec(
            "tcp_stream_three_records",
            "The raw-TCP byte stream: a control hello record (header type 'control', empty "
            "payload), 10 ms of audio and a 2x2 rgb frame, envelopes back to back. Split it "
            "anywhere; the decoder must return the same three envelopes.",
            "tcp_stream",
            "tcp",
            [stream],
            expect={
                "records": [
                    {"type": "control", "client": "tcp-cam", "cmd": "hello"},
                    audio_expect(tcp_audio, tcp_samples, client="tcp-cam"),
                    video_expect(tcp_video, rgb, client="tcp-cam"),
                ]
            },
        )
    )
    return out


def bad_vectors() -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    ok_audio = {"type": "audio", "ts": TS, "seq": 0, "sr": 16000, "ch": 1, "fmt": "int16"}
    two = pcm([0, 1])

    def bad(
        name: str, description: str, encoding: str, channel: str, frames: list[bytes], reason: str
    ) -> None:
        out.append(vec(name, description, encoding, channel, frames, error=reason))

    bad(
        "bad_frame_count",
        "Three ZeroMQ frames: only 1 (envelope) or 2 (header, payload) exist.",
        "multipart",
        "audio",
        [jhead(ok_audio), two, b"extra"],
        "frame_count",
    )
    bad(
        "bad_envelope_short_prefix",
        "One frame of 7 bytes: shorter than the 8-byte prefix.",
        "envelope",
        "audio",
        [bytes.fromhex("00000002000000")],
        "envelope_short",
    )
    head = jhead(ok_audio)
    bad(
        "bad_envelope_short_lengths",
        "The prefix announces a 6-byte payload; the frame carries 4.",
        "envelope",
        "audio",
        [struct.pack(">II", len(head), 6) + head + two],
        "envelope_short",
    )
    bad(
        "bad_envelope_trailing",
        "A valid envelope followed by 3 stray bytes in the same frame.",
        "envelope",
        "audio",
        [envelope(head, two) + b"\x00\x00\x00"],
        "envelope_trailing",
    )
    pad = C.MAX_HEADER_BYTES + 1 - len(jhead({"type": "audio", "pad": ""}))
    big = jhead({"type": "audio", "pad": "a" * pad})
    if len(big) != C.MAX_HEADER_BYTES + 1:
        raise RuntimeError("header_too_large vector has the wrong size")
    bad(
        "bad_header_too_large",
        "A JSON header of 65537 bytes (limit 65536), as multipart.",
        "multipart",
        "audio",
        [big, two],
        "header_too_large",
    )
    bad(
        "bad_not_json",
        "The header is not JSON.",
        "envelope",
        "audio",
        [envelope(b'{"type":"audio",', two)],
        "not_json",
    )
    bad(
        "bad_not_utf8",
        "The header is not UTF-8 (reported as not_json).",
        "envelope",
        "audio",
        [envelope(b'{"type":"\xff"}', two)],
        "not_json",
    )
    bad(
        "bad_header_not_object",
        "The header is a JSON array, not an object.",
        "envelope",
        "audio",
        [envelope(b"[1,2]", two)],
        "header_not_object",
    )
    bad(
        "bad_unknown_type",
        "type 'text' is not a data type.",
        "envelope",
        "audio",
        [envelope(jhead({"type": "text", "ts": TS, "seq": 0}), two)],
        "unknown_type",
    )
    bad(
        "bad_audio_on_video_port",
        "An audio message on the video socket.",
        "envelope",
        "video",
        [envelope(head, two)],
        "unknown_type",
    )
    bad(
        "bad_missing_field",
        "Audio without seq.",
        "envelope",
        "audio",
        [envelope(jhead({"type": "audio", "ts": TS}), two)],
        "missing_field",
    )
    bad(
        "bad_field_ts_string",
        "ts must be an integer (unix milliseconds).",
        "envelope",
        "audio",
        [envelope(jhead({"type": "audio", "ts": "yesterday", "seq": 0}), two)],
        "bad_field",
    )
    bad(
        "bad_field_seq_negative",
        "seq must be >= 0.",
        "envelope",
        "audio",
        [envelope(jhead({"type": "audio", "ts": TS, "seq": -1}), two)],
        "bad_field",
    )
    bad(
        "bad_field_ts_too_large",
        "ts above 32503680000000 (3000-01-01 in unix ms): out of range. JSON allows integers "
        "of any size; the server accepts ts 0..32503680000000 and seq 0..2**53-1.",
        "envelope",
        "audio",
        [envelope(jhead({"type": "audio", "ts": 10**309, "seq": 0}), two)],
        "bad_field",
    )
    bad(
        "bad_field_seq_too_large",
        "seq 2**63: above 2**53-1, the largest integer every JSON reader holds exactly.",
        "envelope",
        "audio",
        [envelope(jhead({"type": "audio", "ts": TS, "seq": 2**63}), two)],
        "bad_field",
    )
    deep = b'{"type":"audio","ts":1,"seq":0,"x":' + b"[" * 32 + b"]" * 32 + b"}"
    bad(
        "bad_header_too_deep",
        "Arrays nested 32 deep inside the header object: 33 levels of nesting, the limit "
        "is 32.",
        "envelope",
        "audio",
        [envelope(deep, two)],
        "header_too_deep",
    )
    bad(
        "bad_field_video_w_zero",
        "w and h must be >= 1.",
        "envelope",
        "video",
        [
            envelope(
                jhead({"type": "video", "ts": TS, "seq": 0, "w": 0, "h": 8, "fmt": "jpeg"}),
                TINY_JPEG,
            )
        ],
        "bad_field",
    )
    bad(
        "bad_odd_pcm",
        "3 bytes of int16 PCM.",
        "envelope",
        "audio",
        [envelope(head, b"\x00\x01\x02")],
        "odd_pcm",
    )
    stereo = dict(ok_audio, ch=2)
    bad(
        "bad_odd_pcm_stereo",
        "6 bytes is 3 int16 samples: not whole stereo frames.",
        "envelope",
        "audio",
        [envelope(jhead(stereo), pcm([1, 2, 3]))],
        "odd_pcm",
    )
    bad(
        "bad_unsupported_sr",
        "sr 12345 is not an accepted rate.",
        "envelope",
        "audio",
        [envelope(jhead(dict(ok_audio, sr=12345)), two)],
        "unsupported_sr",
    )
    bad(
        "bad_unsupported_ch",
        "3 channels.",
        "envelope",
        "audio",
        [envelope(jhead(dict(ok_audio, ch=3)), pcm([0, 0, 0]))],
        "unsupported_ch",
    )
    bad(
        "bad_unsupported_fmt_audio",
        "Audio fmt float32: only int16 is accepted.",
        "envelope",
        "audio",
        [envelope(jhead(dict(ok_audio, fmt="float32")), b"\x00" * 4)],
        "unsupported_fmt",
    )
    bad(
        "bad_unsupported_fmt_video",
        "Video fmt png: only jpeg and rgb.",
        "envelope",
        "video",
        [
            envelope(
                jhead({"type": "video", "ts": TS, "seq": 0, "w": 16, "h": 8, "fmt": "png"}),
                b"\x89PNG",
            )
        ],
        "unsupported_fmt",
    )
    vhead = {"type": "video", "ts": TS, "seq": 0, "w": 16, "h": 8, "fmt": "jpeg", "quality": 70}
    bad(
        "bad_jpeg",
        "A jpeg payload that does not start with FF D8.",
        "envelope",
        "video",
        [envelope(jhead(vhead), b"\x00\x00\x00\x00")],
        "bad_jpeg",
    )
    rhead = {"type": "video", "ts": TS, "seq": 0, "w": 2, "h": 2, "fmt": "rgb"}
    bad(
        "bad_rgb_size",
        "rgb 2x2 needs 12 bytes; 11 are sent.",
        "envelope",
        "video",
        [envelope(jhead(rhead), bytes(11))],
        "rgb_size",
    )
    bad(
        "bad_empty_payload",
        "Audio with a zero-length payload.",
        "envelope",
        "audio",
        [envelope(head, b"")],
        "empty_payload",
    )
    bad(
        "bad_unknown_command",
        "A control request with a cmd the server does not know.",
        "control",
        "control",
        [jhead({"cmd": "reboot"})],
        "unknown_command",
    )
    bad(
        "bad_control_no_cmd",
        "A control request without a string cmd.",
        "control",
        "control",
        [jhead({"client": "x"})],
        "missing_field",
    )
    bad(
        "bad_control_not_json",
        "A control request that is not JSON.",
        "control",
        "control",
        [b"hello"],
        "not_json",
    )
    bad(
        "bad_tcp_control_unknown_command",
        "A TCP control record with an unknown cmd.",
        "envelope",
        "tcp",
        [envelope(jhead({"type": "control", "cmd": "reboot"}), b"")],
        "unknown_command",
    )

    # Stream-level errors: the decoder raises, the server closes the connection.
    good = envelope(jhead(dict(ok_audio, client="tcp-cam")), two)
    out.append(
        vec(
            "bad_tcp_payload_too_large",
            "A TCP prefix announcing an 8 MiB + 1 payload: refused from the 8-byte prefix alone, "
            "before any payload is read; the connection is closed.",
            "tcp_stream",
            "tcp",
            [struct.pack(">II", 20, C.MAX_MESSAGE_BYTES + 1)],
            error="payload_too_large",
            records_before_error=0,
        )
    )
    out.append(
        vec(
            "bad_tcp_header_too_large",
            "A valid audio record, then a prefix announcing a 65537-byte header: the first "
            "record is delivered, then the connection is closed.",
            "tcp_stream",
            "tcp",
            [good + struct.pack(">II", C.MAX_HEADER_BYTES + 1, 0)],
            error="header_too_large",
            records_before_error=1,
        )
    )
    out.append(
        vec(
            "bad_tcp_zero_header",
            "A prefix with header length 0 (every record has a JSON header).",
            "tcp_stream",
            "tcp",
            [struct.pack(">II", 0, 2) + two],
            error="envelope_short",
            records_before_error=0,
        )
    )
    return out


def encode_vectors() -> list[dict[str, Any]]:
    cases: list[tuple[str, str, dict[str, Any], bytes]] = [
        (
            "encode_audio",
            "Audio header in the documented key order, 4 samples.",
            {"type": "audio", "ts": TS, "seq": 42, "sr": 16000, "ch": 1, "fmt": "int16"},
            pcm([0, 1, -1, 32767]),
        ),
        (
            "encode_audio_optional_fields",
            "Optional fields after the required ones; non-ASCII is sent as raw UTF-8 (no \\u).",
            {
                "type": "audio",
                "ts": TS,
                "seq": 0,
                "sr": 16000,
                "ch": 1,
                "fmt": "int16",
                "client": "café",
                "session": "s1",
                "token": "Xy1-token-example_9",
                "source": "mic",
                "v": 1,
            },
            pcm([-32768]),
        ),
        (
            "encode_video_rgb",
            "A 1x1 rgb frame with no quality field.",
            {"type": "video", "ts": TS, "seq": 3, "w": 1, "h": 1, "fmt": "rgb"},
            b"\x10\x20\x30",
        ),
        (
            "encode_tcp_control_request",
            "A TCP control request: header only, empty payload.",
            {"type": "control", "cmd": "heartbeat", "client": "tcp-cam"},
            b"",
        ),
        (
            "encode_tcp_control_reply",
            "The shape of a TCP control reply: header type control + reply fields, empty "
            "payload. Parse the reply's JSON; the server may space it differently.",
            {"type": "control", "status": "ok", "ts": TS + 5},
            b"",
        ),
    ]
    return [
        {
            "name": name,
            "description": description,
            "header": header,
            "payload_hex": payload.hex(),
            "header_hex": jhead(header).hex(),
            "envelope_hex": envelope(jhead(header), payload).hex(),
        }
        for name, description, header, payload in cases
    ]


def build() -> dict[str, Any]:
    """The whole vectors document."""
    return {
        "protocol_version": C.PROTOCOL_VERSION,
        "generated_by": "tests/protocol/make_vectors.py",
        "fallback_client": FALLBACK_CLIENT,
        "notes": [
            "frames_hex: the ZeroMQ frames of one message (envelope: 1 frame; multipart: "
            "header frame, payload frame; control: 1 JSON frame; tcp_stream: 1 string "
            "holding the byte stream, to be split anywhere).",
            "fallback_client: the connection identity a message is attributed to when "
            "its header has no 'client'.",
            "expect.samples: sample frames per channel; expect.first_samples: the first "
            "int16 values of the payload as sent (interleaved for stereo).",
            "error: the reject reason; records_before_error: envelopes a tcp_stream "
            "yields before its bad prefix (after which the server closes the connection).",
            "encode: header (keys in order) + payload -> the exact header JSON and envelope.",
        ],
        "defaults": {
            "ports": {
                "audio": C.AUDIO_PORT,
                "video": C.VIDEO_PORT,
                "control": C.CONTROL_PORT,
                "tcp": C.TCP_PORT,
            },
            "audio_sample_rate": C.AUDIO_SAMPLE_RATE,
            "audio_channels": C.AUDIO_CHANNELS,
            "audio_format": C.AUDIO_FORMAT,
            "audio_chunk_ms": C.AUDIO_CHUNK_MS,
            "audio_chunk_bytes": C.AUDIO_CHUNK_BYTES,
            "accepted_sample_rates": list(C.ACCEPTED_SAMPLE_RATES),
            "video_width": C.VIDEO_WIDTH,
            "video_height": C.VIDEO_HEIGHT,
            "video_format": C.VIDEO_FORMAT,
            "video_formats": list(C.VIDEO_FORMATS),
            "video_quality": C.VIDEO_QUALITY,
            "video_fps": C.VIDEO_FPS,
            "max_video_side": C.MAX_VIDEO_SIDE,
            "heartbeat_interval_s": C.HEARTBEAT_INTERVAL_S,
            "envelope_prefix_bytes": C.ENVELOPE_PREFIX_BYTES,
            "max_message_bytes": C.MAX_MESSAGE_BYTES,
            "max_header_bytes": C.MAX_HEADER_BYTES,
            "max_json_depth": C.MAX_JSON_DEPTH,
            "max_ts_ms": C.MAX_TS_MS,
            "max_seq": C.MAX_SEQ,
            "sources": list(C.SOURCES),
            "commands": list(COMMANDS),
            "reject_reasons": list(C.REJECT_REASONS),
            "stateful_reject_reasons": [r for r in C.REJECT_REASONS if r in STATEFUL_REASONS],
        },
        "vectors": good_vectors() + bad_vectors(),
        "encode": encode_vectors(),
    }


def render() -> str:
    """The file's exact text (stable: the test compares it byte for byte)."""
    return json.dumps(build(), indent=1, ensure_ascii=False) + "\n"


def main(argv: list[str]) -> int:
    text = render()
    if "--check" in argv:
        same = VECTORS_PATH.read_text(encoding="utf-8") == text
        print(
            "vectors.json is up to date" if same else "vectors.json is stale; rerun without --check"
        )
        return 0 if same else 1
    VECTORS_PATH.write_text(text, encoding="utf-8")
    print(f"wrote {VECTORS_PATH} ({len(text)} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
