class_name AmbientZmqLink
extends RefCounted
## PUSH sockets to the host's audio (5555) and video (5556) ports through the
## godot_zeromq GDExtension's ZMQSender, one envelope per single-frame message.
##
## The extension is optional: nothing here names its classes at parse time, so the
## addon loads without it (AmbientTransport checks ClassDB.class_exists first).
## ZMQSender.sendBytes blocks when its queue (ZeroMQ's default high-water mark, 1000
## messages) is full; it is only called from the transport's worker thread.

## ZMQSender class name, and the extension's ZMQ.SocketType / ConnectionMode values.
const SENDER_CLASS := "ZMQSender"
const SOCKET_PUSH := 8
const SOCKET_REQ := 3
const MODE_CONNECT := 2

## Kept for the same counters as AmbientTcpLink (ZeroMQ reconnects silently).
var reconnects := 0
var connect_failures := 0
var last_error := ""
var _audio: Object = null
var _video: Object = null


static func available() -> bool:
	return ClassDB.class_exists(SENDER_CLASS)


## A connected ZMQSender (a Node not added to the tree), or null without the extension.
static func make_socket(endpoint: String, socket_type: int, auto_receive: bool) -> Object:
	if not available():
		return null
	var sender: Object = ClassDB.instantiate(SENDER_CLASS)
	sender.call("init", endpoint, socket_type, MODE_CONNECT, "", auto_receive)
	return sender


static func endpoint(host: String, port: int) -> String:
	if host.contains(":") and not host.begins_with("["):
		return "tcp://[%s]:%d" % [host, port]
	return "tcp://%s:%d" % [host, port]


func open(host: String, audio_port: int, video_port: int) -> bool:
	_audio = make_socket(endpoint(host, audio_port), SOCKET_PUSH, false)
	_video = make_socket(endpoint(host, video_port), SOCKET_PUSH, false)
	return _audio != null and _video != null


## ZeroMQ connects and reconnects by itself.
func is_ready() -> bool:
	return _audio != null


func poll() -> Array[Dictionary]:
	var none: Array[Dictionary] = []
	return none


func send(channel: String, data: PackedByteArray) -> bool:
	var sender := _audio if channel == "audio" else _video
	if sender == null:
		return false
	sender.call("sendBytes", data)
	return true


func close() -> void:
	for sender in [_audio, _video]:
		if sender != null:
			sender.call("stop")
			sender.free()
	_audio = null
	_video = null
