class_name AmbientTransport
extends RefCounted
## Gets envelopes to the host without ever blocking the game.
##
## Producers (the streamers, on any thread) put envelopes in bounded queues; one
## worker Thread sends them. Audio waits in a FIFO of `audio_queue_max` messages and
## a message that does not fit is dropped and counted (the host sees the `seq` gap
## and counts it too). Video keeps one slot: a new frame replaces an unsent one. The
## link is ZMQSender (godot_zeromq) when that extension is installed and the mode
## allows it, else one StreamPeerTCP connection to the raw-TCP port. Twin:
## ambient_flow/client/godot.py SendQueue.

enum Mode { AUTO, ZMQ, TCP }

const _IDLE_WAIT_MS := 5
## The `type` of a result envelope on the TCP connection (docs/protocol.md section 11).
const RESULT_TYPE := "frame"
## Results kept unread; beyond, the oldest are dropped (counted in `results_dropped`).
const MAX_RESULTS := 256

var host := "127.0.0.1"
var audio_port := AmbientWire.DEFAULT_AUDIO_PORT
var video_port := AmbientWire.DEFAULT_VIDEO_PORT
var tcp_port := AmbientWire.DEFAULT_TCP_PORT
var mode := Mode.AUTO
var audio_queue_max := 32
var backoff_initial_s := 0.1
var backoff_max_s := 5.0
var _link: RefCounted = null
var _uses_zmq := false
var _thread: Thread = null
var _mutex := Mutex.new()
var _running := false
var _audio_queue: Array[PackedByteArray] = []
var _video_latest := PackedByteArray()
var _control_out: Array[PackedByteArray] = []
var _control_in: Array[Dictionary] = []
var _results_in: Array[Dictionary] = []
var _counters := {
	"audio_sent": 0,
	"audio_dropped": 0,
	"video_sent": 0,
	"video_replaced": 0,
	"video_dropped": 0,
	"bytes_sent": 0,
	"reconnects": 0,
	"connect_failures": 0,
	"results_dropped": 0,
}
var _link_ready := false
var _link_error := ""


## True when ZMQSender will carry the data (decided by `start`).
func uses_zmq() -> bool:
	return _uses_zmq


## Opens the link and starts the worker. Returns false if the chosen mode cannot run.
func start() -> bool:
	if _running:
		return true
	var want_zmq := mode == Mode.ZMQ or (mode == Mode.AUTO and AmbientZmqLink.available())
	if want_zmq:
		var zmq := AmbientZmqLink.new()
		if not zmq.open(host, audio_port, video_port):
			_link_error = "godot_zeromq (ZMQSender) is not installed"
			return false
		_link = zmq
		_uses_zmq = true
	else:
		_link = AmbientTcpLink.new(host, tcp_port, backoff_initial_s, backoff_max_s)
		_uses_zmq = false
	_running = true
	_thread = Thread.new()
	_thread.start(_worker)
	return true


## Stops the worker (after at most one send in flight) and closes the link.
func stop() -> void:
	_mutex.lock()
	var was_running := _running
	_running = false
	_mutex.unlock()
	if was_running and _thread != null:
		_thread.wait_to_finish()
	_thread = null
	if _link != null:
		_link.call("close")
		_link = null
	_mutex.lock()
	_audio_queue.clear()
	_video_latest = PackedByteArray()
	_control_out.clear()
	_results_in.clear()
	_mutex.unlock()


## Queues an audio envelope; false (and counted) when the queue is full.
func put_audio(envelope: PackedByteArray) -> bool:
	_mutex.lock()
	var ok := _audio_queue.size() < audio_queue_max
	if ok:
		_audio_queue.append(envelope)
	else:
		_counters["audio_dropped"] += 1
	_mutex.unlock()
	return ok


## Sets the video frame to send next, replacing (and counting) one not yet sent.
func put_video(envelope: PackedByteArray) -> void:
	_mutex.lock()
	if not _video_latest.is_empty():
		_counters["video_replaced"] += 1
	_video_latest = envelope
	_mutex.unlock()


## Queues a control envelope on the TCP connection (raw-TCP mode only).
func put_control(envelope: PackedByteArray) -> void:
	_mutex.lock()
	_control_out.append(envelope)
	_mutex.unlock()


## Control replies that arrived on the TCP connection, oldest first (and forgets them).
func take_control_replies() -> Array[Dictionary]:
	_mutex.lock()
	var replies := _control_in.duplicate()
	_control_in.clear()
	_mutex.unlock()
	return replies


## Results (`{"frame", "detail"}` records) the host sent on the TCP connection, oldest
## first (and forgets them).
func take_results() -> Array[Dictionary]:
	_mutex.lock()
	var results := _results_in.duplicate()
	_results_in.clear()
	_mutex.unlock()
	return results


## Drops queued control requests and unread replies (a control retry).
func discard_control() -> void:
	_mutex.lock()
	_control_out.clear()
	_control_in.clear()
	_mutex.unlock()


## A copy of the counters, plus queue depths and link state.
func stats() -> Dictionary:
	_mutex.lock()
	var out := _counters.duplicate()
	out["audio_queued"] = _audio_queue.size()
	out["video_pending"] = not _video_latest.is_empty()
	out["link_ready"] = _link_ready
	out["link_error"] = _link_error
	out["zmq"] = _uses_zmq
	_mutex.unlock()
	return out


func _worker() -> void:
	while true:
		var replies: Array[Dictionary] = _link.call("poll")
		var ready: bool = _link.call("is_ready")
		_mutex.lock()
		if not _running:
			_mutex.unlock()
			return
		_sort_in_locked(replies)
		_link_ready = ready
		_link_error = _link.get("last_error")
		_counters["reconnects"] = _link.get("reconnects")
		_counters["connect_failures"] = _link.get("connect_failures")
		var item := _take_locked(ready)
		_mutex.unlock()
		if item.is_empty():
			OS.delay_msec(_IDLE_WAIT_MS)
			continue
		_send(item[0], item[1])


## What came back on the connection: results wait for take_results(), the rest are
## control replies.
func _sort_in_locked(headers: Array[Dictionary]) -> void:
	for header in headers:
		if header.get("type", "") != RESULT_TYPE:
			_control_in.append(header)
			continue
		header.erase("type")
		_results_in.append(header)
		if _results_in.size() > MAX_RESULTS:
			_results_in.pop_front()
			_counters["results_dropped"] += 1


## Control first (small, and waited for), then audio (the stream clock), then video.
## Nothing is taken while the link is down: audio then fills its bound and drops.
func _take_locked(ready: bool) -> Array:
	if not ready:
		return []
	if not _control_out.is_empty():
		return ["control", _control_out.pop_front()]
	if not _audio_queue.is_empty():
		return ["audio", _audio_queue.pop_front()]
	if not _video_latest.is_empty():
		var frame := _video_latest
		_video_latest = PackedByteArray()
		return ["video", frame]
	return []


func _send(channel: String, data: PackedByteArray) -> void:
	var ok: bool
	if _uses_zmq:
		ok = _link.call("send", channel, data)
	else:
		ok = _link.call("send", data)
	_mutex.lock()
	if ok:
		_counters["bytes_sent"] += data.size()
		if channel != "control":
			_counters[channel + "_sent"] += 1
	elif channel == "audio":
		_counters["audio_dropped"] += 1
	elif channel == "video":
		_counters["video_dropped"] += 1
	_mutex.unlock()
