class_name AmbientResampler
extends RefCounted
## Streaming polyphase resampler: Kaiser-windowed sinc low-pass, rational rate L/M.
##
## Converts the engine's mix rate (44100 or 48000 Hz) to the wire's 16000 Hz with a
## proper anti-aliasing filter: flat to 6 kHz, below -90 dB from 8 kHz up. Feeding n
## samples in any chunking yields exactly ceil(n * up / down) samples, identical to
## feeding them at once. Line-for-line twin of ambient_flow/client/godot.py
## (bessel_i0, design_polyphase, PolyphaseResampler); tests there check the filter
## against scipy/soxr.

## Taps of each polyphase branch, at the input rate.
const TAPS_PER_PHASE := 128
## Kaiser window beta: about 90 dB stopband attenuation.
const KAISER_BETA := 9.0
## Cut-off as a fraction of the lower Nyquist rate (6880 Hz for 16 kHz output).
const CUTOFF := 0.86
const _BESSEL_EPS := 1e-12

var in_rate: int
var out_rate: int
var taps: int
## Interpolation factor L.
var up: int
## Decimation factor M.
var down: int
var _bank := PackedFloat64Array()
var _history := PackedFloat64Array()
var _phase := 0
var _base := 0


func _init(
	p_in_rate: int,
	p_out_rate: int = AmbientWire.AUDIO_SAMPLE_RATE,
	p_taps: int = TAPS_PER_PHASE,
	p_beta: float = KAISER_BETA,
	p_cutoff: float = CUTOFF
) -> void:
	in_rate = p_in_rate
	out_rate = p_out_rate
	taps = p_taps
	_design(p_beta, p_cutoff)
	reset()


## Modified Bessel function I0 by its power series (GDScript has none built in).
static func bessel_i0(x: float) -> float:
	var total := 1.0
	var term := 1.0
	var half := x / 2.0
	var k := 1
	while term > _BESSEL_EPS * total:
		term *= (half / k) * (half / k)
		total += term
		k += 1
	return total


## Greatest common divisor (the rate ratio in lowest terms).
static func gcd(a: int, b: int) -> int:
	while b != 0:
		var rest := a % b
		a = b
		b = rest
	return a


## Group delay in input samples (half the filter).
func delay_in() -> float:
	return (up * taps - 1) / 2.0 / up


## Starts a new stream: taps-1 zeros of history.
func reset() -> void:
	_history = PackedFloat64Array()
	_history.resize(taps - 1)
	_history.fill(0.0)
	_phase = 0
	_base = taps - 1


## Mono floats in, resampled floats out.
func process(samples: PackedFloat64Array) -> PackedFloat64Array:
	_history.append_array(samples)
	var out := PackedFloat64Array()
	var count := _history.size()
	while _base < count:
		var start := _base - (taps - 1)
		var row := _phase * taps
		var acc := 0.0
		for j in taps:
			acc += _bank[row + j] * _history[start + j]
		out.append(acc)
		_phase += down
		@warning_ignore("integer_division")
		_base += _phase / up
		_phase = _phase % up
	var drop := _base - (taps - 1)
	if drop > 0:
		_history = _history.slice(drop)
		_base -= drop
	return out


func _design(beta: float, cutoff: float) -> void:
	var g := gcd(in_rate, out_rate)
	@warning_ignore("integer_division")
	up = out_rate / g
	@warning_ignore("integer_division")
	down = in_rate / g
	var n_total := up * taps
	var centre := (n_total - 1) / 2.0
	var fc := cutoff * mini(in_rate, out_rate) / 2.0 / in_rate
	var i0_beta := bessel_i0(beta)
	var proto := PackedFloat64Array()
	proto.resize(n_total)
	for n in n_total:
		var t := (n - centre) / up
		var x := 2.0 * fc * t
		var sinc := 1.0 if x == 0.0 else sin(PI * x) / (PI * x)
		var r := 2.0 * n / (n_total - 1) - 1.0
		var window := bessel_i0(beta * sqrt(maxf(0.0, 1.0 - r * r))) / i0_beta
		proto[n] = 2.0 * fc * sinc * window
	_bank = PackedFloat64Array()
	_bank.resize(up * taps)
	for p in up:
		var total := 0.0
		for j in taps:
			var value := proto[p + (taps - 1 - j) * up]
			_bank[p * taps + j] = value
			total += value
		for j in taps:
			_bank[p * taps + j] /= total
