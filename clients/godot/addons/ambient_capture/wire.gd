class_name AmbientWire
extends RefCounted
## Wire protocol version 1 (docs/protocol.md): header JSON and envelope packing.
##
## Pure functions, no scene or engine-state dependencies. The Python twin is
## ambient_flow/client/godot.py (encode_header, encode_envelope, _json_value,
## _json_string), kept line for line comparable: change one, change the other.
## The constants below are checked against ambient_flow/protocol/vectors.json by
## tests/clients/test_godot_static.py.

const PROTOCOL_VERSION := 1
const DEFAULT_AUDIO_PORT := 5555
const DEFAULT_VIDEO_PORT := 5556
const DEFAULT_CONTROL_PORT := 5557
const DEFAULT_TCP_PORT := 5558
const AUDIO_SAMPLE_RATE := 16000
const AUDIO_CHANNELS := 1
const AUDIO_FORMAT := "int16"
const AUDIO_CHUNK_MS := 100
const AUDIO_CHUNK_BYTES := 3200
const VIDEO_WIDTH := 640
const VIDEO_HEIGHT := 480
const VIDEO_FORMAT := "jpeg"
const VIDEO_QUALITY := 70
const VIDEO_FPS := 5
const MAX_VIDEO_SIDE := 8192
const HEARTBEAT_INTERVAL_S := 5.0
const ENVELOPE_PREFIX_BYTES := 8
const MAX_MESSAGE_BYTES := 8388608
const MAX_HEADER_BYTES := 65536
const SOURCES := ["mic", "webcam", "screen", "file", "synthetic"]
## Key order of the headers this client writes (the documented order).
const AUDIO_HEADER_KEYS := [
	"type", "ts", "seq", "sr", "ch", "fmt", "client", "session", "token", "source"
]
const VIDEO_HEADER_KEYS := [
	"type", "ts", "seq", "w", "h", "fmt", "quality", "client", "session", "token", "source"
]


## Wall-clock unix milliseconds: the header `ts`.
static func unix_ms() -> int:
	return int(Time.get_unix_time_from_system() * 1000.0)


## `{"type":"audio","ts","seq","sr":16000,"ch":1,"fmt":"int16"}` + `extra` (client,
## session, source) appended in its own order.
static func audio_header(ts: int, seq: int, extra: Dictionary) -> Dictionary:
	var header := {
		"type": "audio",
		"ts": ts,
		"seq": seq,
		"sr": AUDIO_SAMPLE_RATE,
		"ch": AUDIO_CHANNELS,
		"fmt": AUDIO_FORMAT,
	}
	header.merge(extra)
	return header


## `{"type":"video","ts","seq","w","h","fmt":"jpeg","quality"}` + `extra`.
static func video_header(
	ts: int, seq: int, width: int, height: int, quality: int, extra: Dictionary
) -> Dictionary:
	var header := {
		"type": "video",
		"ts": ts,
		"seq": seq,
		"w": width,
		"h": height,
		"fmt": VIDEO_FORMAT,
		"quality": quality,
	}
	header.merge(extra)
	return header


## Compact UTF-8 JSON, keys in insertion order. Written by hand rather than with
## JSON.stringify: that sorts keys by default, writes floats for whole numbers in
## some versions, and String.json_escape() emits `\v`, which is not JSON.
static func encode_header(fields: Dictionary) -> PackedByteArray:
	return _json_object(fields).to_utf8_buffer()


## One frame: `[u32 BE header_len][u32 BE payload_len][header][payload]`.
static func encode_envelope(fields: Dictionary, payload: PackedByteArray) -> PackedByteArray:
	var head := encode_header(fields)
	var out := u32_be(head.size())
	out.append_array(u32_be(payload.size()))
	out.append_array(head)
	out.append_array(payload)
	return out


## A TCP control request: the request plus `"type":"control"` first, empty payload.
static func encode_control(request: Dictionary) -> PackedByteArray:
	var fields := {"type": "control"}
	fields.merge(request)
	return encode_envelope(fields, PackedByteArray())


## Four bytes, big-endian (the envelope lengths; PCM samples are little-endian).
static func u32_be(value: int) -> PackedByteArray:
	var out := PackedByteArray()
	out.resize(4)
	out[0] = (value >> 24) & 0xFF
	out[1] = (value >> 16) & 0xFF
	out[2] = (value >> 8) & 0xFF
	out[3] = value & 0xFF
	return out


## Reads a big-endian u32 at `offset`.
static func read_u32_be(data: PackedByteArray, offset: int) -> int:
	return (
		(data[offset] << 24) | (data[offset + 1] << 16) | (data[offset + 2] << 8) | data[offset + 3]
	)


static func _json_object(fields: Dictionary) -> String:
	var parts := PackedStringArray()
	for key in fields:
		parts.append(_json_string(str(key)) + ":" + _json_value(fields[key]))
	return "{" + ",".join(parts) + "}"


static func _json_value(value: Variant) -> String:
	match typeof(value):
		TYPE_BOOL:
			return "true" if value else "false"
		TYPE_INT:
			return str(value)
		TYPE_FLOAT:
			# A whole float is written as an integer (fps 5.0 -> 5), like the Python twin.
			if value == floorf(value) and absf(value) < 1e15:
				return str(int(value))
			return str(value)
		TYPE_STRING, TYPE_STRING_NAME:
			return _json_string(str(value))
		TYPE_ARRAY, TYPE_PACKED_STRING_ARRAY:
			var items := PackedStringArray()
			for item in value:
				items.append(_json_value(item))
			return "[" + ",".join(items) + "]"
		TYPE_DICTIONARY:
			return _json_object(value)
	return "null"


## Escapes `"`, `\` and control characters the way Python's json.dumps does
## (ensure_ascii=False): everything else is written as raw UTF-8.
static func _json_string(text: String) -> String:
	var out := '"'
	for i in text.length():
		var code := text.unicode_at(i)
		if code == 0x22:
			out += '\\"'
		elif code == 0x5C:
			out += "\\\\"
		elif code == 0x0A:
			out += "\\n"
		elif code == 0x0D:
			out += "\\r"
		elif code == 0x09:
			out += "\\t"
		elif code == 0x08:
			out += "\\b"
		elif code == 0x0C:
			out += "\\f"
		elif code < 0x20:
			out += "\\u%04x" % code
		else:
			out += text[i]
	return out + '"'
