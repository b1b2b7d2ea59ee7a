class_name AmbientResultsLink
extends RefCounted
## This client's results over ZeroMQ: a SUB socket on the host's PUB port, subscribed to
## the topic the hello reply names, through godot_zeromq's ZMQReceiver (its thread hands
## over whole multipart messages: [topic, envelope]). ZeroMQ matches topics by prefix, so
## the topic part is compared with the name exactly. Twin of
## ambient_flow/client/results.py `PubResults`.
## ZMQReceiver.stop() waits for a next message that may never come, so a receiver is
## never stopped: close() only stops listening to it, and it is kept for the program's
## life (one per connect_to_host() that was granted results over ZeroMQ).

## ZMQReceiver class name, and the extension's ZMQ.SocketType / ConnectionMode values.
const RECEIVER_CLASS := "ZMQReceiver"
const SOCKET_SUB := 2
const MODE_CONNECT := 2
## Results kept unread; beyond, the oldest are dropped (counted in `dropped`).
const MAX_PENDING := 256

## Results dropped because nobody took them in time.
var dropped := 0
var _receiver: Object = null
var _topic := PackedByteArray()
var _pending: Array[Dictionary] = []
var _mutex := Mutex.new()
var _listening := false


static func available() -> bool:
	return ClassDB.class_exists(RECEIVER_CLASS)


## Subscribes to `topic` on the host's PUB port; false without the extension.
func open(host: String, port: int, topic: String) -> bool:
	if not available():
		return false
	_topic = topic.to_utf8_buffer()
	_receiver = ClassDB.instantiate(RECEIVER_CLASS)
	# init() first: it makes the mutex onMessageBytes() locks (a message before the handler
	# is set is not delivered; the subscription is that young).
	_receiver.call("init", AmbientZmqLink.endpoint(host, port), SOCKET_SUB, MODE_CONNECT, topic)
	_receiver.call("onMessageBytes", _on_message)
	_listening = true
	return true


## The result records that arrived, oldest first (and forgets them).
func take() -> Array[Dictionary]:
	_mutex.lock()
	var out := _pending.duplicate()
	_pending.clear()
	_mutex.unlock()
	return out


func close() -> void:
	_mutex.lock()
	_listening = false
	_pending.clear()
	_mutex.unlock()


## Called on the extension's receive thread.
func _on_message(parts: Array) -> void:
	if parts.size() != 2 or parts[0] != _topic:
		return
	var reader := AmbientEnvelopeReader.new()
	var headers := reader.feed(parts[1])
	_mutex.lock()
	if _listening:
		_pending.append_array(headers)
		while _pending.size() > MAX_PENDING:
			_pending.pop_front()
			dropped += 1
	_mutex.unlock()
