class_name AmbientResults
extends RefCounted
## What one result means: an enrichment the host sent back because the hello asked for
## it (`"results": true`). A record is `{"frame": <frames.jsonl line>, "detail": <its
## enrichment.jsonl line>}`. Twin of ambient_flow/client/results.py `result_events`.

## Event names, and the record fields they come from (docs/frames.md).
const TRANSCRIPT := "transcript"
const SPEAKER := "speaker"
const DETECTIONS := "detections"


## One event for a record: [TRANSCRIPT, speaker, text], [SPEAKER, speaker] or
## [DETECTIONS, counts]; an empty Array for a record it does not understand.
static func event_of(record: Dictionary) -> Array:
	var frame_value: Variant = record.get("frame")
	if typeof(frame_value) != TYPE_DICTIONARY:
		return []
	var frame: Dictionary = frame_value
	var detail_value: Variant = record.get("detail", {})
	var detail: Dictionary = detail_value if typeof(detail_value) == TYPE_DICTIONARY else {}
	var kind := str(frame.get("event_type", ""))
	var speaker_value: Variant = frame.get("speaker_prediction")
	var speaker := str(speaker_value) if typeof(speaker_value) == TYPE_STRING else ""
	var text_value: Variant = frame.get("text_hypothesis")
	if kind == "utterance" and typeof(text_value) == TYPE_STRING:
		return [TRANSCRIPT, speaker, str(text_value)]
	if kind == "speaker_change" and not speaker.is_empty():
		return [SPEAKER, speaker]
	var counts_value: Variant = detail.get("counts")
	if kind == "detections" and typeof(counts_value) == TYPE_DICTIONARY:
		return [DETECTIONS, counts_value]
	return []
