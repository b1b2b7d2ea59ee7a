class_name AmbientCapture
extends Node
## The addon's hub: owns the transport and starts the control channel and streamers.
##
## Add it to a scene with an AudioCaptureStreamer, a VideoCaptureStreamer and a
## CaptureControlChannel (children, or anywhere via the node paths), set the host,
## and call connect_to_host() (or enable autostart). Status changes of every part
## arrive on `status_changed(part, state, detail)`; counters on `counters_updated`
## twice a second. Nothing blocks the game: sends run on the transport's worker.

## part is "audio", "video", "control" or "transport".
signal status_changed(part: String, state: String, detail: String)
## Frame and byte counters (see README "What each node emits").
signal counters_updated(counters: Dictionary)
## The host's transcript of an utterance of this client (with receive_results).
signal transcript_received(speaker: String, text: String)
## The host heard a different speaker start (with receive_results).
signal speaker_changed(speaker: String)
## What the host sees in this client's video changed: {"person": 2, ...}.
signal detections_changed(counts: Dictionary)

## Host address (name or IP).
@export var host := "127.0.0.1"
@export var audio_port := AmbientWire.DEFAULT_AUDIO_PORT
@export var video_port := AmbientWire.DEFAULT_VIDEO_PORT
@export var control_port := AmbientWire.DEFAULT_CONTROL_PORT
@export var tcp_port := AmbientWire.DEFAULT_TCP_PORT
## auto: ZeroMQ when godot_zeromq is installed, else raw TCP.
@export var transport_mode := AmbientTransport.Mode.AUTO
## Name said in hello (and in data headers when send_client_in_headers).
@export var client_name := "redot-avatar"
## Put `client` in every audio/video header (recommended: identity survives reconnects).
@export var send_client_in_headers := true
## Optional `session` header field ("" = none).
@export var session_id := ""
## The host runs with `--auth token` (or `curve`, over raw TCP): this client's token from
## `ambient-flow auth add`. Sent in hello, every control request and every data header;
## the host then names this client after its credential. "" = no authentication.
@export var auth_token := ""
@export var enable_audio := true
@export var enable_video := true
## Bound of the audio send queue, in chunks (beyond it chunks are dropped and counted).
@export_range(1, 1000) var audio_queue_max := 32
## Raw-TCP reconnect back-off: first wait, doubling up to the cap.
@export var reconnect_backoff_initial_s := 0.1
@export var reconnect_backoff_max_s := 5.0
## Ask the host for this client's results (transcripts, speakers, detections) in hello.
@export var receive_results := true
## Connect when the scene starts.
@export var autostart := false
@export var audio_streamer_path: NodePath = ^"AudioCaptureStreamer"
@export var video_streamer_path: NodePath = ^"VideoCaptureStreamer"
@export var control_channel_path: NodePath = ^"CaptureControlChannel"

var transport: AmbientTransport = null
## The latest transcript the host sent back ("" until one comes).
var last_transcript := ""
var results_received := 0
var _audio: AudioCaptureStreamer = null
var _video: VideoCaptureStreamer = null
var _control: CaptureControlChannel = null
var _counter_clock := 0.0
var _transport_state := "stopped"
var _results_link: AmbientResultsLink = null


func _ready() -> void:
	_audio = get_node_or_null(audio_streamer_path) as AudioCaptureStreamer
	_video = get_node_or_null(video_streamer_path) as VideoCaptureStreamer
	_control = get_node_or_null(control_channel_path) as CaptureControlChannel
	if _audio != null:
		_audio.status_changed.connect(_relay.bind("audio"))
	if _video != null:
		_video.status_changed.connect(_relay.bind("video"))
	if _control != null:
		_control.status_changed.connect(_relay.bind("control"))
		_control.config_received.connect(_on_config)
	if autostart:
		connect_to_host()


## Opens the transport, says hello, starts the enabled streamers.
func connect_to_host() -> bool:
	disconnect_from_host()
	transport = AmbientTransport.new()
	transport.host = host
	transport.audio_port = audio_port
	transport.video_port = video_port
	transport.tcp_port = tcp_port
	transport.mode = transport_mode
	transport.audio_queue_max = audio_queue_max
	transport.backoff_initial_s = reconnect_backoff_initial_s
	transport.backoff_max_s = reconnect_backoff_max_s
	if not transport.start():
		_set_transport_state("error", str(transport.stats()["link_error"]))
		transport = null
		return false
	_set_transport_state("buffering", "ZeroMQ" if transport.uses_zmq() else "raw TCP")
	var caps := PackedStringArray()
	if enable_audio and _audio != null:
		caps.append("audio")
	if enable_video and _video != null:
		caps.append("video")
	if _control != null:
		_control.request_results = receive_results
		_control.begin(transport, host, control_port, client_name, session_id, caps, auth_token)
	var extra := header_extra()
	if enable_audio and _audio != null:
		_audio.start(transport, extra)
	if enable_video and _video != null:
		_video.start(transport, extra)
	return true


## Stops the streamers, says bye, stops the transport.
func disconnect_from_host() -> void:
	if _audio != null:
		_audio.stop()
	if _video != null:
		_video.stop()
	if _control != null:
		_control.end()
	if _results_link != null:
		_results_link.close()
		_results_link = null
	if transport != null:
		transport.stop()
		transport = null
		_set_transport_state("stopped", "")


## The optional header fields, in header order: client, session, token (source is per
## stream).
func header_extra() -> Dictionary:
	var extra := {}
	if send_client_in_headers and not client_name.is_empty():
		extra["client"] = client_name
	if not session_id.is_empty():
		extra["session"] = session_id
	if not auth_token.is_empty():
		extra["token"] = auth_token
	return extra


## Counters of every part in one Dictionary.
func counters() -> Dictionary:
	var out := transport.stats() if transport != null else {}
	if _audio != null:
		out["audio_chunks"] = _audio.chunks_made
		out["audio_frames_captured"] = _audio.frames_captured
		out["audio_frames_discarded"] = _audio.frames_discarded
	if _video != null:
		out["video_frames"] = _video.frames_made
		out["video_ticks_skipped"] = _video.ticks_skipped
	if _control != null:
		out["control_requests"] = _control.requests
		out["control_replies"] = _control.replies
		out["control_timeouts"] = _control.timeouts
	out["results_received"] = results_received
	return out


func _process(delta: float) -> void:
	if transport == null:
		return
	var stats := transport.stats()
	if stats["link_ready"]:
		_set_transport_state("streaming", "ZeroMQ" if stats["zmq"] else "raw TCP")
	else:
		_set_transport_state("disconnected", str(stats["link_error"]))
	_deliver_results()
	_counter_clock += delta
	if _counter_clock >= 0.5:
		_counter_clock = 0.0
		counters_updated.emit(counters())


func _exit_tree() -> void:
	disconnect_from_host()


## The host's config: the streamers adopt it (video at once, audio on the next start).
## Over ZeroMQ, results come from the PUB port the hello reply names.
func _on_config(config: Dictionary) -> void:
	if _audio != null:
		_audio.apply_server_config(config)
	if _video != null:
		_video.apply_server_config(config)
	var offer := _control.results_offer if _control != null else {}
	if transport == null or not transport.uses_zmq() or offer.get("transport", "") != "pub":
		return
	if offer.has("auth"):
		# The PUB port takes only PLAIN/CURVE subscribers; godot_zeromq speaks neither.
		var why := "the host's PUB port needs %s; use transport tcp" % offer["auth"]
		status_changed.emit("results", "unavailable", why)
		return
	if _results_link == null:
		_results_link = AmbientResultsLink.new()
		if not _results_link.open(host, int(offer["port"]), str(offer["topic"])):
			_results_link = null


## Signals each result that came back (TCP: on the connection; ZeroMQ: the PUB link).
func _deliver_results() -> void:
	var records := transport.take_results()
	if _results_link != null:
		records.append_array(_results_link.take())
	for record in records:
		results_received += 1
		var event := AmbientResults.event_of(record)
		if event.is_empty():
			continue
		if event[0] == AmbientResults.TRANSCRIPT:
			last_transcript = event[2]
			transcript_received.emit(event[1], event[2])
		elif event[0] == AmbientResults.SPEAKER:
			speaker_changed.emit(event[1])
		else:
			detections_changed.emit(event[1])


func _relay(state: String, detail: String, part: String) -> void:
	status_changed.emit(part, state, detail)


func _set_transport_state(state: String, detail: String) -> void:
	if state == _transport_state:
		return
	_transport_state = state
	status_changed.emit("transport", state, detail)
