extends Control
## Standalone test scene: host address, connect/disconnect, a status light per part
## (green streaming, yellow buffering, red disconnected or error), counters, and the
## latest transcript the host sent back.

const COLORS := {
	"streaming": Color(0.2, 0.8, 0.3),
	"ok": Color(0.2, 0.8, 0.3),
	"buffering": Color(0.95, 0.8, 0.2),
	"connecting": Color(0.95, 0.8, 0.2),
	"retrying": Color(0.95, 0.8, 0.2),
}
const RED := Color(0.85, 0.2, 0.2)

@onready var _capture: AmbientCapture = %AmbientCapture
@onready var _host_edit: LineEdit = %HostEdit
@onready var _connect_button: Button = %ConnectButton
@onready var _disconnect_button: Button = %DisconnectButton
@onready var _counters_label: Label = %CountersLabel
@onready var _transcript_label: Label = %TranscriptLabel
@onready var _lights := {
	"audio": %AudioLight,
	"video": %VideoLight,
	"control": %ControlLight,
	"transport": %TransportLight,
}
@onready var _details := {
	"audio": %AudioDetail,
	"video": %VideoDetail,
	"control": %ControlDetail,
	"transport": %TransportDetail,
}


func _ready() -> void:
	_host_edit.text = _capture.host
	_capture.status_changed.connect(_on_status)
	_capture.counters_updated.connect(_on_counters)
	_capture.transcript_received.connect(_on_transcript)
	_connect_button.pressed.connect(_on_connect)
	_disconnect_button.pressed.connect(_on_disconnect)
	for part in _lights:
		_on_status(part, "stopped", "")


func _on_connect() -> void:
	_capture.host = _host_edit.text.strip_edges()
	_capture.connect_to_host()


func _on_disconnect() -> void:
	_capture.disconnect_from_host()


func _on_status(part: String, state: String, detail: String) -> void:
	var light: ColorRect = _lights.get(part)
	var label: Label = _details.get(part)
	if light == null or label == null:
		return
	light.color = COLORS.get(state, RED)
	label.text = "%s: %s %s" % [part, state, detail]


func _on_counters(counters: Dictionary) -> void:
	_counters_label.text = (
		"audio chunks %d sent %d dropped %d | video frames %d sent %d replaced %d | %d bytes"
		% [
			counters.get("audio_chunks", 0),
			counters.get("audio_sent", 0),
			counters.get("audio_dropped", 0),
			counters.get("video_frames", 0),
			counters.get("video_sent", 0),
			counters.get("video_replaced", 0),
			counters.get("bytes_sent", 0),
		]
	)


func _on_transcript(speaker: String, text: String) -> void:
	_transcript_label.text = "%s: %s" % [speaker if not speaker.is_empty() else "?", text]
