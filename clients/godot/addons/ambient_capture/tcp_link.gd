class_name AmbientTcpLink
extends RefCounted
## One StreamPeerTCP connection to the host's raw-TCP port (5558).
##
## Envelopes are written back to back; control replies are read back from the same
## connection. Reconnects with a capped exponential back-off (initial, doubling, up
## to the cap). Used only from the transport's worker thread.

const _CONNECT_TIMEOUT_MS := 3000

var host: String
var port: int
var backoff_initial_s: float
var backoff_max_s: float
## Successful connections after the first.
var reconnects := 0
var connect_failures := 0
## Why the last connection ended ("" if never).
var last_error := ""
var _peer := StreamPeerTCP.new()
var _reader := AmbientEnvelopeReader.new()
var _connected := false
var _connecting_since_ms := -1
var _next_attempt_ms := 0
var _backoff_s: float
var _connections := 0


func _init(p_host: String, p_port: int, p_backoff_initial_s: float, p_backoff_max_s: float):
	host = p_host
	port = p_port
	backoff_initial_s = maxf(0.01, p_backoff_initial_s)
	backoff_max_s = maxf(backoff_initial_s, p_backoff_max_s)
	_backoff_s = backoff_initial_s


func is_ready() -> bool:
	return _connected


## Connects, reconnects and reads; returns the control replies that arrived.
func poll() -> Array[Dictionary]:
	var replies: Array[Dictionary] = []
	var now := Time.get_ticks_msec()
	if _connecting_since_ms < 0 and not _connected:
		if now >= _next_attempt_ms:
			_start_connect(now)
		return replies
	_peer.poll()
	var status := _peer.get_status()
	if status == StreamPeerTCP.STATUS_CONNECTING:
		if now - _connecting_since_ms > _CONNECT_TIMEOUT_MS:
			_fail("connect timed out", now)
		return replies
	if status != StreamPeerTCP.STATUS_CONNECTED:
		_fail("connection refused or lost", now)
		return replies
	if not _connected:
		_on_connected()
	var available := _peer.get_available_bytes()
	if available > 0:
		var got: Array = _peer.get_partial_data(available)
		if got[0] == OK:
			replies = _reader.feed(got[1])
		if not _reader.error.is_empty():
			_fail("host sent a broken stream (%s)" % _reader.error, now)
	return replies


## Writes one whole envelope (blocking on this worker thread only); false if down.
func send(data: PackedByteArray) -> bool:
	if not _connected:
		return false
	var err := _peer.put_data(data)
	if err != OK:
		_fail("write failed (error %d)" % err, Time.get_ticks_msec())
		return false
	return true


func close() -> void:
	_peer.disconnect_from_host()
	_connected = false
	_connecting_since_ms = -1


func _start_connect(now: int) -> void:
	_reader.reset()
	var err := _peer.connect_to_host(host, port)
	if err != OK:
		_fail("cannot connect (error %d)" % err, now)
		return
	_connecting_since_ms = now


func _on_connected() -> void:
	_connected = true
	_connecting_since_ms = -1
	_backoff_s = backoff_initial_s
	_peer.set_no_delay(true)
	if _connections > 0:
		reconnects += 1
	_connections += 1
	last_error = ""


func _fail(why: String, now: int) -> void:
	if not _connected:
		connect_failures += 1
	_peer.disconnect_from_host()
	_connected = false
	_connecting_since_ms = -1
	last_error = why
	_next_attempt_ms = now + int(_backoff_s * 1000.0)
	_backoff_s = minf(_backoff_s * 2.0, backoff_max_s)
