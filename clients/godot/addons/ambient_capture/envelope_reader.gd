class_name AmbientEnvelopeReader
extends RefCounted
## Cuts a TCP byte stream into envelopes and decodes their JSON headers.
##
## Used for the control replies the host sends back on the raw-TCP connection
## (docs/protocol.md section 7). A broken prefix cannot be skipped: `error` is set
## and the connection must be dropped. Twin of ambient_flow.protocol.codec.EnvelopeStream.

## Why the stream broke ("" while it is fine).
var error := ""
var _buffer := PackedByteArray()


## Appends `data`; returns the headers (Dictionaries) of every complete envelope.
func feed(data: PackedByteArray) -> Array[Dictionary]:
	var headers: Array[Dictionary] = []
	_buffer.append_array(data)
	while error.is_empty() and _buffer.size() >= AmbientWire.ENVELOPE_PREFIX_BYTES:
		var header_len := AmbientWire.read_u32_be(_buffer, 0)
		var payload_len := AmbientWire.read_u32_be(_buffer, 4)
		if header_len == 0:
			error = "envelope_short"
		elif header_len > AmbientWire.MAX_HEADER_BYTES:
			error = "header_too_large"
		elif payload_len > AmbientWire.MAX_MESSAGE_BYTES:
			error = "payload_too_large"
		if not error.is_empty():
			break
		var total := AmbientWire.ENVELOPE_PREFIX_BYTES + header_len + payload_len
		if _buffer.size() < total:
			break
		var head := _buffer.slice(AmbientWire.ENVELOPE_PREFIX_BYTES, 8 + header_len)
		_buffer = _buffer.slice(total)
		var parsed: Variant = JSON.parse_string(head.get_string_from_utf8())
		if typeof(parsed) == TYPE_DICTIONARY:
			headers.append(parsed)
	return headers


## Forgets buffered bytes and any error (a new connection).
func reset() -> void:
	error = ""
	_buffer = PackedByteArray()
