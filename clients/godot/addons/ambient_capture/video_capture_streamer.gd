class_name VideoCaptureStreamer
extends Node
## Camera (CameraServer/CameraFeed) or screen (the viewport) -> JPEG -> the transport.
##
## A Timer ticks at `fps`, independent of the game's frame rate. On each tick one
## image is read on the main thread (the viewport texture, or the camera feed's
## CameraTexture), then scaled to width x height and JPEG-encoded
## (Image.save_jpg_to_buffer) on a WorkerThreadPool task; the envelope replaces any
## unsent frame in the transport (video is "latest wins"). While one encode runs,
## further ticks are skipped and counted. Where the platform has no camera support
## the status says so, and screen mode is used only if `allow_screen_fallback`.

## "streaming", "buffering", "disconnected", "error", "stopped".
signal status_changed(state: String, detail: String)

enum Mode { CAMERA, SCREEN }

## What to capture.
@export var mode := Mode.SCREEN
## With mode CAMERA and no usable camera: send the screen instead (else: error).
@export var allow_screen_fallback := false
## Which CameraServer feed to use.
@export var camera_index := 0
## Frame width and height sent (the image is scaled to exactly this).
@export_range(16, 8192) var width := AmbientWire.VIDEO_WIDTH
@export_range(16, 8192) var height := AmbientWire.VIDEO_HEIGHT
## Frames per second.
@export_range(0.1, 60.0) var fps := float(AmbientWire.VIDEO_FPS)
## JPEG quality, 1..100.
@export_range(1, 100) var quality := AmbientWire.VIDEO_QUALITY
## Take fps, resolution and quality from the host's hello reply.
@export var adopt_server_config := true

var state := "stopped"
var seq := 0
var frames_made := 0
var ticks_skipped := 0
var _transport: AmbientTransport = null
var _extra := {}
var _timer: Timer = null
var _camera_texture: CameraTexture = null
var _feed: CameraFeed = null
var _task := -1
var _active_mode := Mode.SCREEN


## Starts capturing into `transport`; `extra` holds the header's client/session.
func start(transport: AmbientTransport, extra: Dictionary) -> void:
	if _timer != null:
		return
	_transport = transport
	_extra = extra.duplicate()
	_active_mode = mode
	if mode == Mode.CAMERA and not _open_camera():
		if not allow_screen_fallback:
			return
		_active_mode = Mode.SCREEN
		_set_state("buffering", "no camera; sending the screen (allow_screen_fallback)")
	_extra["source"] = "webcam" if _active_mode == Mode.CAMERA else "screen"
	_timer = Timer.new()
	_timer.wait_time = 1.0 / maxf(0.1, fps)
	_timer.timeout.connect(_on_tick)
	add_child(_timer)
	_timer.start()
	if state != "buffering":
		_set_state("buffering", "waiting for the first frame")


func stop() -> void:
	if _timer != null:
		_timer.stop()
		_timer.queue_free()
		_timer = null
	_finish_task(true)
	if _feed != null:
		_feed.feed_is_active = false
		_feed = null
	_camera_texture = null
	_set_state("stopped", "")


## Takes fps, resolution and quality from the host (applied to the next frame).
func apply_server_config(config: Dictionary) -> void:
	if not adopt_server_config:
		return
	if config.has("video_fps"):
		fps = clampf(float(config["video_fps"]), 0.1, 60.0)
		if _timer != null:
			_timer.wait_time = 1.0 / fps
	var res: Variant = config.get("video_res", [])
	if typeof(res) == TYPE_ARRAY and res.size() == 2:
		width = clampi(int(res[0]), 16, AmbientWire.MAX_VIDEO_SIDE)
		height = clampi(int(res[1]), 16, AmbientWire.MAX_VIDEO_SIDE)
	if config.has("video_quality"):
		quality = clampi(int(config["video_quality"]), 1, 100)


func _exit_tree() -> void:
	stop()


func _open_camera() -> bool:
	if ClassDB.class_has_method("CameraServer", "set_monitoring_feeds"):
		CameraServer.call("set_monitoring_feeds", true)
	if CameraServer.get_feed_count() <= camera_index:
		_set_state("error", "no camera feed %d on %s" % [camera_index, OS.get_name()])
		return false
	_feed = CameraServer.get_feed(camera_index)
	_feed.feed_is_active = true
	_camera_texture = CameraTexture.new()
	_camera_texture.camera_feed_id = _feed.get_id()
	_camera_texture.which_feed = CameraServer.FEED_RGBA_IMAGE
	return true


func _on_tick() -> void:
	_finish_task(false)
	if _task != -1:
		ticks_skipped += 1
		return
	var image: Image = null
	if _active_mode == Mode.SCREEN:
		image = get_viewport().get_texture().get_image()
	elif _camera_texture != null:
		image = _camera_texture.get_image()
	if image == null or image.is_empty():
		ticks_skipped += 1
		_set_state("buffering", "no image yet")
		return
	var header := AmbientWire.video_header(
		AmbientWire.unix_ms(), seq, width, height, quality, _extra
	)
	seq += 1
	_task = WorkerThreadPool.add_task(_encode.bind(image, header))
	_update_state()


## Runs on a WorkerThreadPool thread.
## Size and quality come from the header (the exports may change meanwhile).
func _encode(image: Image, header: Dictionary) -> void:
	var w: int = header["w"]
	var h: int = header["h"]
	if image.get_width() != w or image.get_height() != h:
		image.resize(w, h, Image.INTERPOLATE_BILINEAR)
	if image.get_format() != Image.FORMAT_RGB8:
		image.convert(Image.FORMAT_RGB8)
	var jpeg := image.save_jpg_to_buffer(int(header["quality"]) / 100.0)
	_transport.put_video(AmbientWire.encode_envelope(header, jpeg))
	frames_made += 1


func _finish_task(wait: bool) -> void:
	if _task == -1:
		return
	if wait or WorkerThreadPool.is_task_completed(_task):
		WorkerThreadPool.wait_for_task_completion(_task)
		_task = -1


func _update_state() -> void:
	var stats := _transport.stats()
	if not stats["link_ready"]:
		_set_state("disconnected", str(stats["link_error"]))
	elif stats["video_pending"]:
		_set_state("buffering", "frame waiting to be sent")
	else:
		_set_state("streaming", "")


func _set_state(new_state: String, detail: String) -> void:
	if new_state == state:
		return
	state = new_state
	status_changed.emit(new_state, detail)
