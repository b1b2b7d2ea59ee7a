class_name AudioCaptureStreamer
extends Node
## Microphone -> 16 kHz mono int16 100 ms chunks -> the transport.
##
## An AudioStreamPlayer plays AudioStreamMicrophone into a dedicated bus (created if
## missing, muted so the player does not hear themselves) that carries an
## AudioEffectCapture. Needs the project setting `audio/driver/enable_input` = true.
## Each frame `_process` only copies the captured stereo frames (at
## AudioServer.get_mix_rate(), 44.1 or 48 kHz); a DSP thread downmixes them to mono,
## resamples to 16 kHz (AmbientResampler, windowed-sinc polyphase), cuts 1600-sample
## chunks, and hands envelopes to the transport's bounded queue. The same pipeline in
## Python: ambient_flow/client/godot.py GodotClient._capture_audio.

## "streaming", "buffering", "disconnected", "error", "stopped".
signal status_changed(state: String, detail: String)

## The audio bus that receives the microphone (made if it does not exist).
@export var bus_name := "AmbientCapture"
## Chunk length in ms; replaced by the host's `audio_chunk_ms` when adopt_server_config.
@export_range(20, 200) var chunk_ms := AmbientWire.AUDIO_CHUNK_MS
## Take the chunk length from the host's hello reply.
@export var adopt_server_config := true
## Mute the capture bus so the microphone is not played back (capture still works).
@export var mute_capture_bus := true
## AudioEffectCapture ring buffer length, seconds (frames beyond it are discarded).
@export_range(0.1, 10.0) var capture_buffer_s := 0.5

var state := "stopped"
var seq := 0
var frames_captured := 0
var frames_discarded := 0
var chunks_made := 0
var mix_rate := 0
var _transport: AmbientTransport = null
var _extra := {}
var _effect: AudioEffectCapture = null
var _player: AudioStreamPlayer = null
var _resampler: AmbientResampler = null
var _chunker: AmbientPcmChunker = null
var _thread: Thread = null
var _mutex := Mutex.new()
var _wake := Semaphore.new()
var _inbox: Array[PackedVector2Array] = []
var _running := false


## Starts capturing into `transport`; `extra` holds the header's client/session/source.
func start(transport: AmbientTransport, extra: Dictionary) -> void:
	if _running:
		return
	if not ProjectSettings.get_setting("audio/driver/enable_input", false):
		_set_state("error", "enable the project setting audio/driver/enable_input")
		return
	_transport = transport
	_extra = extra.duplicate()
	_extra["source"] = "mic"
	_effect = _ensure_capture_bus()
	_effect.buffer_length = capture_buffer_s
	_effect.clear_buffer()
	mix_rate = int(AudioServer.get_mix_rate())
	_resampler = AmbientResampler.new(mix_rate, AmbientWire.AUDIO_SAMPLE_RATE)
	@warning_ignore("integer_division")
	_chunker = AmbientPcmChunker.new(AmbientWire.AUDIO_SAMPLE_RATE * chunk_ms / 1000)
	_player = AudioStreamPlayer.new()
	_player.stream = AudioStreamMicrophone.new()
	_player.bus = bus_name
	add_child(_player)
	_player.play()
	_running = true
	_thread = Thread.new()
	_thread.start(_dsp_loop)
	_set_state("buffering", "%d Hz capture -> 16000 Hz" % mix_rate)


func stop() -> void:
	if not _running:
		return
	_mutex.lock()
	_running = false
	_mutex.unlock()
	_wake.post()
	_thread.wait_to_finish()
	_thread = null
	if _player != null:
		_player.stop()
		_player.queue_free()
		_player = null
	_inbox.clear()
	_set_state("stopped", "")


## Takes the host's chunk length (only between streams: the chunker is rebuilt on start).
func apply_server_config(config: Dictionary) -> void:
	if adopt_server_config and config.has("audio_chunk_ms") and not _running:
		chunk_ms = clampi(int(config["audio_chunk_ms"]), 20, 200)


func _process(_delta: float) -> void:
	if not _running:
		return
	var available := _effect.get_frames_available()
	var discarded := _effect.get_discarded_frames()
	if discarded > frames_discarded:
		frames_discarded = discarded
	if available <= 0:
		return
	var frames := _effect.get_buffer(available)
	frames_captured += frames.size()
	_mutex.lock()
	_inbox.append(frames)
	_mutex.unlock()
	_wake.post()
	_update_state()


func _exit_tree() -> void:
	stop()


func _ensure_capture_bus() -> AudioEffectCapture:
	var index := AudioServer.get_bus_index(bus_name)
	if index == -1:
		AudioServer.add_bus()
		index = AudioServer.bus_count - 1
		AudioServer.set_bus_name(index, bus_name)
	AudioServer.set_bus_mute(index, mute_capture_bus)
	for i in AudioServer.get_bus_effect_count(index):
		var effect := AudioServer.get_bus_effect(index, i)
		if effect is AudioEffectCapture:
			return effect
	var capture := AudioEffectCapture.new()
	AudioServer.add_bus_effect(index, capture)
	return capture


## Runs on the DSP thread: the resampler's cost never lands on a game frame.
func _dsp_loop() -> void:
	while true:
		_wake.wait()
		_mutex.lock()
		var running := _running
		var batch := _inbox.duplicate()
		_inbox.clear()
		_mutex.unlock()
		if not running:
			return
		for frames in batch:
			_process_frames(frames)


func _process_frames(frames: PackedVector2Array) -> void:
	var mono := _downmix(frames)
	var resampled := _resampler.process(mono)
	for chunk in _chunker.push_floats(resampled):
		var header := AmbientWire.audio_header(AmbientWire.unix_ms(), seq, _extra)
		_transport.put_audio(AmbientWire.encode_envelope(header, chunk))
		seq += 1
		chunks_made += 1


## Stereo Vector2 frames -> mono: (left + right) * 0.5.
static func _downmix(frames: PackedVector2Array) -> PackedFloat64Array:
	var mono := PackedFloat64Array()
	mono.resize(frames.size())
	for i in frames.size():
		mono[i] = (frames[i].x + frames[i].y) * 0.5
	return mono


func _update_state() -> void:
	var stats := _transport.stats()
	if not stats["link_ready"]:
		_set_state("disconnected", str(stats["link_error"]))
	elif stats["audio_queued"] > 2:
		_set_state("buffering", "%d chunks queued" % stats["audio_queued"])
	else:
		_set_state("streaming", "")


func _set_state(new_state: String, detail: String) -> void:
	if new_state == state:
		return
	state = new_state
	status_changed.emit(new_state, detail)
