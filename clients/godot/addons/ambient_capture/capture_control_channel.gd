class_name CaptureControlChannel
extends Node
## The control channel: hello with capabilities, the server's config, heartbeats, bye.
##
## Over ZeroMQ it is a REQ socket (ZMQSender) to the control port; over raw TCP the
## same requests travel as control envelopes on the transport's connection. A request
## that gets no reply within `request_timeout_s` is resent on a NEW REQ socket (a REQ
## socket that missed its reply can never send again: the zguide "Lazy Pirate"
## pattern), at most `max_resends` times; then the host counts as unreachable and a
## new hello is tried every `retry_later_s` while media keeps streaming.
## godot_zeromq cannot cancel a receive that is waiting, so an abandoned REQ socket is
## kept (never stopped: stop() would wait for that receive) for the life of the
## program; at most `max_abandoned_sockets` of them, then control reports an error.
## Twin of ambient_flow/client/control.py ControlSession.

## "connecting", "ok", "retrying", "unreachable", "error", "stopped".
signal status_changed(state: String, detail: String)
## The `config` object of the hello reply (the streamers adopt it).
signal config_received(config: Dictionary)

@export var heartbeat_interval_s := AmbientWire.HEARTBEAT_INTERVAL_S
@export var request_timeout_s := 1.0
@export var max_resends := 2
@export var retry_later_s := 10.0
@export var max_abandoned_sockets := 8

## The last config the host sent (empty until a hello is answered).
var server_config := {}
## Ask for this client's results in the hello (set by AmbientCapture.receive_results).
var request_results := false
## The hello reply's `results` object: how results come (empty if not asked or refused).
var results_offer := {}
var state := "stopped"
var requests := 0
var replies := 0
var timeouts := 0
var heartbeats := 0
var _transport: AmbientTransport = null
var _host := ""
var _control_port := AmbientWire.DEFAULT_CONTROL_PORT
var _body_base := {}
var _capabilities := PackedStringArray()
var _req: Object = null
var _generation := 0
var _abandoned: Array[Object] = []
var _zmq_replies: Array[Dictionary] = []
var _reply_mutex := Mutex.new()
var _pending := {}
var _pending_sent_ms := 0
var _resends_left := 0
var _hello_ok := false
var _next_hello_ms := -1
var _next_heartbeat_ms := 0


## Starts talking to the host: over ZeroMQ when the transport uses it, else over TCP.
func begin(
	transport: AmbientTransport,
	host: String,
	control_port: int,
	client_name: String,
	session_id: String,
	capabilities: PackedStringArray,
	auth_token: String = ""
) -> void:
	_transport = transport
	_host = host
	_control_port = control_port
	_capabilities = capabilities
	_body_base = {}
	if not client_name.is_empty():
		_body_base["client"] = client_name
	if not session_id.is_empty():
		_body_base["session"] = session_id
	if not auth_token.is_empty():
		_body_base["token"] = auth_token
	_hello_ok = false
	_pending = {}
	_next_hello_ms = Time.get_ticks_msec()
	_set_state("connecting", "hello")


## Says bye, waits up to `request_timeout_s` for the reply, and stops.
func end() -> void:
	if _transport != null and _hello_ok:
		_drop_req()
		_pending = _body("bye")
		_send(_pending)
		var deadline := Time.get_ticks_msec() + int(request_timeout_s * 1000.0)
		while _transport.uses_zmq() and Time.get_ticks_msec() < deadline:
			if not _take_reply().is_empty():
				_close_req()
				break
			OS.delay_msec(10)
	_pending = {}
	_drop_req()
	_transport = null
	_set_state("stopped", "")


func _process(_delta: float) -> void:
	if _transport != null:
		poll()


## Takes a reply, retries on timeout, sends what is due. Never blocks.
func poll() -> void:
	var now := Time.get_ticks_msec()
	if not _pending.is_empty():
		_check_pending(now)
	if not _pending.is_empty():
		return
	if not _hello_ok:
		if _next_hello_ms >= 0 and now >= _next_hello_ms:
			_request(_body("hello"), now)
	elif now >= _next_heartbeat_ms:
		_next_heartbeat_ms = now + int(heartbeat_interval_s * 1000.0)
		heartbeats += 1
		_request(_body("heartbeat"), now)


func _exit_tree() -> void:
	end()


func _body(cmd: String) -> Dictionary:
	var body := {"cmd": cmd}
	body.merge(_body_base)
	if cmd == "hello":
		body["capabilities"] = _capabilities
		if request_results:
			body["results"] = true
	return body


func _request(body: Dictionary, now: int) -> void:
	_pending = body
	_pending_sent_ms = now
	_resends_left = max_resends
	requests += 1
	_send(body)


func _send(body: Dictionary) -> void:
	if not _transport.uses_zmq():
		_transport.put_control(AmbientWire.encode_control(body))
		return
	if _req == null:
		if _abandoned.size() >= max_abandoned_sockets:
			_set_state("error", "too many REQ sockets without a reply; restart the capture")
			return
		_generation += 1
		var endpoint := AmbientZmqLink.endpoint(_host, _control_port)
		_req = AmbientZmqLink.make_socket(endpoint, AmbientZmqLink.SOCKET_REQ, true)
		if _req == null:
			_set_state("error", "godot_zeromq is not installed")
			return
		_req.call("onMessageBytes", _on_zmq_reply.bind(_generation))
	_req.call("sendBytes", AmbientWire.encode_header(body))


## Called on the extension's receive thread.
func _on_zmq_reply(data: PackedByteArray, generation: int) -> void:
	var parsed: Variant = JSON.parse_string(data.get_string_from_utf8())
	_reply_mutex.lock()
	if generation == _generation:
		_zmq_replies.append(parsed if typeof(parsed) == TYPE_DICTIONARY else {"error": "not_json"})
	_reply_mutex.unlock()


func _take_reply() -> Dictionary:
	if not _transport.uses_zmq():
		var got := _transport.take_control_replies()
		return got[got.size() - 1] if not got.is_empty() else {}
	_reply_mutex.lock()
	var reply: Dictionary = _zmq_replies.pop_front() if not _zmq_replies.is_empty() else {}
	_reply_mutex.unlock()
	return reply


## Lazy Pirate: forget the socket that missed its reply (the next send makes a new one).
func _drop_req() -> void:
	_reply_mutex.lock()
	_generation += 1
	_zmq_replies.clear()
	_reply_mutex.unlock()
	if _req != null:
		_abandoned.append(_req)
		_req = null
	if _transport != null and not _transport.uses_zmq():
		_transport.discard_control()


## The reply came: stop this REQ socket properly (its receive thread is idle now; the
## extension's thread spins while a socket lives, so a new one is made per request).
func _close_req() -> void:
	if _req != null:
		_req.call("stop")
		_req.free()
		_req = null


func _check_pending(now: int) -> void:
	var reply := _take_reply()
	if not reply.is_empty():
		var cmd: String = _pending["cmd"]
		_pending = {}
		replies += 1
		_close_req()
		_handle(cmd, reply, now)
		return
	if now - _pending_sent_ms < int(request_timeout_s * 1000.0):
		return
	timeouts += 1
	_drop_req()
	if _resends_left > 0:
		_resends_left -= 1
		_pending_sent_ms = now
		_set_state("retrying", "%s: no reply, resending" % _pending["cmd"])
		_send(_pending)
		return
	_pending = {}
	_hello_ok = false
	_next_hello_ms = now + int(retry_later_s * 1000.0)
	_set_state("unreachable", "no reply; trying again in %d s" % int(retry_later_s))


func _handle(cmd: String, reply: Dictionary, now: int) -> void:
	if reply.has("error"):
		_set_state("error", "%s: %s" % [cmd, reply["error"]])
		_hello_ok = false
		_next_hello_ms = now + (0 if cmd == "heartbeat" else int(retry_later_s * 1000.0))
		return
	if cmd != "hello":
		_set_state("ok", cmd)
		return
	var config: Variant = reply.get("config", {})
	server_config = config if typeof(config) == TYPE_DICTIONARY else {}
	var offer: Variant = reply.get("results", {})
	results_offer = offer if typeof(offer) == TYPE_DICTIONARY else {}
	if server_config.has("heartbeat_interval_s"):
		heartbeat_interval_s = maxf(0.5, float(server_config["heartbeat_interval_s"]))
	_hello_ok = true
	_next_heartbeat_ms = now + int(heartbeat_interval_s * 1000.0)
	_set_state("ok", "hello")
	config_received.emit(server_config)


func _set_state(new_state: String, detail: String) -> void:
	state = new_state
	status_changed.emit(new_state, detail)
