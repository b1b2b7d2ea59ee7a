class_name AmbientPcmChunker
extends RefCounted
## Float samples in, whole little-endian int16 chunks out (100 ms = 1600 samples).
##
## Twin of ambient_flow/client/godot.py (to_int16_le, PcmChunker): clamp to [-1, 1],
## scale by 32767, round half away from zero, write low byte first.

var chunk_samples: int
var _pending := PackedByteArray()


func _init(p_chunk_samples: int) -> void:
	chunk_samples = maxi(1, p_chunk_samples)


## Samples waiting for a chunk to fill.
func pending_samples() -> int:
	@warning_ignore("integer_division")
	return _pending.size() / 2


## Appends `samples` as int16 LE; returns every chunk that is now complete.
func push_floats(samples: PackedFloat64Array) -> Array[PackedByteArray]:
	var start := _pending.size()
	_pending.resize(start + samples.size() * 2)
	for i in samples.size():
		var value := roundi(clampf(samples[i], -1.0, 1.0) * 32767.0)
		_pending[start + 2 * i] = value & 0xFF
		_pending[start + 2 * i + 1] = (value >> 8) & 0xFF
	var chunks: Array[PackedByteArray] = []
	var size := chunk_samples * 2
	while _pending.size() >= size:
		chunks.append(_pending.slice(0, size))
		_pending = _pending.slice(size)
	return chunks


## Drops a partial chunk (a new stream).
func reset() -> void:
	_pending = PackedByteArray()
