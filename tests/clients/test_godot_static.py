"""Static checks of the Redot/Godot addon in `clients/godot/` (no engine can run here).

Every `.gd` file must parse with gdtoolkit, pass `gdlint` and be `gdformat`-clean; the
resources a scene, the project or the plugin names must exist; the wire constants,
header key orders, ports, chunk sizes and formats written in GDScript must agree with
`vectors.json` and the Python defaults; the resampler's constants must equal the Python
twin's; and every `@export` knob must be documented in the addon's README.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import zmq
from gdtoolkit.formatter import format_code  # type: ignore[import-untyped]
from gdtoolkit.linter import DEFAULT_CONFIG, lint_code  # type: ignore[import-untyped]
from gdtoolkit.parser import parser  # type: ignore[import-untyped]

from ambient_flow.client import godot as twin
from ambient_flow.protocol import constants
from ambient_flow.protocol.results import RESULT_TYPE, RESULTS_FIELD

ROOT = Path(__file__).resolve().parents[2]
PROJECT = ROOT / "clients" / "godot"
ADDON = PROJECT / "addons" / "ambient_capture"
VECTORS = json.loads((ROOT / "ambient_flow" / "protocol" / "vectors.json").read_text())
GD_FILES = sorted(PROJECT.rglob("*.gd"))
NAMES = [str(p.relative_to(PROJECT)) for p in GD_FILES]


def _source(name: str) -> str:
    return (ADDON / name).read_text(encoding="utf-8")


def _const(source: str, name: str) -> object:
    """The value of `const NAME := <literal>` (ints, floats, strings, lists of strings)."""
    match = re.search(rf"^const {name} := (.+?)$", source, re.MULTILINE)
    assert match, f"const {name} not found"
    raw = match.group(1).strip()
    if raw.endswith("["):  # a list spread over lines (gdformat's style)
        start = source.index(match.group(0))
        end = source.index("]", start)
        raw = source[start + len(match.group(0)) - 1 : end + 1]
    return json.loads(raw)


def test_the_project_holds_the_expected_scripts() -> None:
    expected = {
        "ambient_capture.gd",
        "audio_capture_streamer.gd",
        "capture_control_channel.gd",
        "envelope_reader.gd",
        "pcm_chunker.gd",
        "plugin.gd",
        "resampler.gd",
        "results.gd",
        "results_link.gd",
        "tcp_link.gd",
        "transport.gd",
        "video_capture_streamer.gd",
        "wire.gd",
        "zmq_link.gd",
    }
    assert expected <= {p.name for p in ADDON.glob("*.gd")}
    assert (PROJECT / "scenes" / "capture_test.gd").is_file()


@pytest.mark.parametrize("path", GD_FILES, ids=NAMES)
def test_gdscript_parses_lints_and_is_formatted(path: Path) -> None:
    code = path.read_text(encoding="utf-8")
    tree = parser.parse(code)
    assert tree is not None
    problems = lint_code(code, DEFAULT_CONFIG)
    assert problems == [], [f"{p.line}: {p.name}: {p.description}" for p in problems]
    assert format_code(code, max_line_length=100) == code, "run gdformat over clients/godot"


def _res_paths(text: str) -> list[str]:
    return re.findall(r'"res://([^"]+)"', text)


@pytest.mark.parametrize(
    "name", ["project.godot", "scenes/capture_test.tscn", "addons/ambient_capture/plugin.cfg"]
)
def test_referenced_resources_exist(name: str) -> None:
    text = (PROJECT / name).read_text(encoding="utf-8")
    paths = _res_paths(text)
    if name.endswith("plugin.cfg"):
        script = re.search(r'^script="([^"]+)"', text, re.MULTILINE)
        assert script, "plugin.cfg names no script"
        paths.append(f"addons/ambient_capture/{script.group(1)}")
    else:
        assert paths, f"{name} references nothing"
    missing = [p for p in paths if not (PROJECT / p).is_file()]
    assert missing == []


def test_scene_nodes_the_script_looks_up_exist() -> None:
    scene = (PROJECT / "scenes" / "capture_test.tscn").read_text(encoding="utf-8")
    script = (PROJECT / "scenes" / "capture_test.gd").read_text(encoding="utf-8")
    unique = set(
        re.findall(r'\[node name="(\w+)"[^\]]*\]\n(?:[^\[]*?)unique_name_in_owner = true', scene)
    )
    wanted = set(re.findall(r"%([A-Z]\w+)", script))
    assert wanted and wanted <= unique
    hub = _source("ambient_capture.gd")
    for default in re.findall(r'NodePath = \^"(\w+)"', hub):
        assert f'[node name="{default}"' in scene, default
    ext = dict(re.findall(r'path="res://([^"]+)" id="([^"]+)"', scene))
    used = set(re.findall(r'ExtResource\("([^"]+)"\)', scene))
    assert used == set(ext.values())


def test_wire_constants_match_the_vectors_and_python() -> None:
    wire = _source("wire.gd")
    d = VECTORS["defaults"]
    expected = {
        "PROTOCOL_VERSION": VECTORS["protocol_version"],
        "DEFAULT_AUDIO_PORT": d["ports"]["audio"],
        "DEFAULT_VIDEO_PORT": d["ports"]["video"],
        "DEFAULT_CONTROL_PORT": d["ports"]["control"],
        "DEFAULT_TCP_PORT": d["ports"]["tcp"],
        "AUDIO_SAMPLE_RATE": d["audio_sample_rate"],
        "AUDIO_CHANNELS": d["audio_channels"],
        "AUDIO_FORMAT": d["audio_format"],
        "AUDIO_CHUNK_MS": d["audio_chunk_ms"],
        "AUDIO_CHUNK_BYTES": d["audio_chunk_bytes"],
        "VIDEO_WIDTH": d["video_width"],
        "VIDEO_HEIGHT": d["video_height"],
        "VIDEO_FORMAT": d["video_format"],
        "VIDEO_QUALITY": d["video_quality"],
        "VIDEO_FPS": d["video_fps"],
        "MAX_VIDEO_SIDE": d["max_video_side"],
        "HEARTBEAT_INTERVAL_S": d["heartbeat_interval_s"],
        "ENVELOPE_PREFIX_BYTES": d["envelope_prefix_bytes"],
        "MAX_MESSAGE_BYTES": d["max_message_bytes"],
        "MAX_HEADER_BYTES": d["max_header_bytes"],
        "SOURCES": d["sources"],
    }
    got = {name: _const(wire, name) for name in expected}
    assert got == expected
    assert got["AUDIO_CHUNK_BYTES"] == constants.AUDIO_CHUNK_BYTES
    assert got["DEFAULT_TCP_PORT"] == constants.TCP_PORT
    assert list(constants.SOURCES) == got["SOURCES"]
    assert d["audio_format"] in constants.AUDIO_FORMAT
    assert d["video_format"] in d["video_formats"]


def _dict_keys(source: str, func: str) -> list[str]:
    body = source[source.index(f"static func {func}(") :]
    literal = body[body.index("{") : body.index("}")]
    return re.findall(r'"(\w+)":', literal)


def test_header_key_order_matches_the_vectors() -> None:
    wire = _source("wire.gd")
    encodes = {e["name"]: e for e in VECTORS["encode"]}
    audio_full = list(encodes["encode_audio_optional_fields"]["header"])
    audio_keys = _dict_keys(wire, "audio_header")
    assert audio_keys == list(encodes["encode_audio"]["header"])
    declared_audio = _const(wire, "AUDIO_HEADER_KEYS")
    assert isinstance(declared_audio, list)
    assert declared_audio[: len(audio_keys)] == audio_keys
    # The optional fields in the vectors' order (the addon never sends `v`).
    assert declared_audio[len(audio_keys) :] == [k for k in audio_full[6:] if k != "v"]
    video_keys = _dict_keys(wire, "video_header")
    assert video_keys == ["type", "ts", "seq", "w", "h", "fmt", "quality"]
    assert list(encodes["encode_video_rgb"]["header"]) == video_keys[:-1]
    optional = ["client", "session", "token", "source"]
    assert _const(wire, "VIDEO_HEADER_KEYS") == [*video_keys, *optional]
    hub = _source("ambient_capture.gd")
    extra = hub[hub.index("func header_extra") :]
    assert extra.index('extra["client"]') < extra.index('extra["session"]')
    assert extra.index('extra["session"]') < extra.index('extra["token"]')
    for name, source in (("audio_capture_streamer.gd", "mic"), ("video_capture_streamer.gd", "")):
        text = _source(name)
        assert '_extra["source"] = ' in text
        if source:
            assert f'_extra["source"] = "{source}"' in text
    video = _source("video_capture_streamer.gd")
    assert '"webcam" if _active_mode == Mode.CAMERA else "screen"' in video
    assert set(VECTORS["defaults"]["sources"]) >= {"mic", "webcam", "screen"}


def test_envelope_is_big_endian_and_pcm_little_endian() -> None:
    wire = _source("wire.gd")
    u32 = wire[wire.index("static func u32_be") :]
    shifts = re.findall(r"out\[(\d)\] = \(?value(?: >> (\d+))?\)?", u32)
    assert shifts[:4] == [("0", "24"), ("1", "16"), ("2", "8"), ("3", "")]
    envelope = wire[wire.index("static func encode_envelope") :]
    order = [
        envelope.index("u32_be(head.size())"),
        envelope.index("u32_be(payload.size())"),
        envelope.index("append_array(head)"),
        envelope.index("append_array(payload)"),
    ]
    assert order == sorted(order)
    chunker = _source("pcm_chunker.gd")
    assert "_pending[start + 2 * i] = value & 0xFF" in chunker
    assert "_pending[start + 2 * i + 1] = (value >> 8) & 0xFF" in chunker
    assert "roundi(clampf(samples[i], -1.0, 1.0) * 32767.0)" in chunker


def test_resampler_constants_match_the_python_twin() -> None:
    gd = _source("resampler.gd")
    assert _const(gd, "TAPS_PER_PHASE") == twin.RESAMPLER_TAPS_PER_PHASE
    assert _const(gd, "KAISER_BETA") == twin.RESAMPLER_KAISER_BETA
    assert _const(gd, "CUTOFF") == twin.RESAMPLER_CUTOFF
    # The streaming loop is the twin's, statement for statement.
    for line in (
        "var start := _base - (taps - 1)",
        "acc += _bank[row + j] * _history[start + j]",
        "_phase += down",
        "_base += _phase / up",
        "_phase = _phase % up",
        "var drop := _base - (taps - 1)",
        "_bank[p * taps + j] = value",
        "var value := proto[p + (taps - 1 - j) * up]",
    ):
        assert line in gd, line


def test_zmq_socket_constants_are_libzmq_values() -> None:
    link = _source("zmq_link.gd")
    # godot_zeromq hands these numbers straight to libzmq's zmq_socket().
    assert _const(link, "SOCKET_PUSH") == zmq.PUSH
    assert _const(link, "SOCKET_REQ") == zmq.REQ
    assert _const(link, "SENDER_CLASS") == "ZMQSender"
    transport = _source("transport.gd")
    assert "AmbientZmqLink.available()" in transport
    assert "ClassDB.class_exists(SENDER_CLASS)" in link


def test_every_exported_knob_is_documented() -> None:
    readme = (PROJECT / "README.md").read_text(encoding="utf-8")
    exported: list[str] = []
    for path in GD_FILES:
        exported += re.findall(r"^@export\S*(?:\([^)]*\))? var (\w+)", path.read_text(), re.M)
    assert len(exported) > 20
    missing = [name for name in exported if f"`{name}`" not in readme]
    assert missing == []


def test_python_defaults_agree_with_the_addon() -> None:
    hub = _source("ambient_capture.gd")
    assert "@export var send_client_in_headers := true" in hub
    assert twin.GodotProfileOptions().header_client is True
    assert "@export_range(1, 1000) var audio_queue_max := 32" in hub
    assert twin.GodotProfileOptions().audio_queue == 32
    assert "@export var receive_results := true" in hub
    assert twin.GodotProfileOptions().results is True


def test_results_come_back_as_the_protocol_and_the_python_twin_say() -> None:
    """Asked for in hello, split from control replies, signalled as the twin's events."""
    control = _source("capture_control_channel.gd")
    assert f'body["{RESULTS_FIELD}"] = true' in control
    assert 'reply.get("results", {})' in control
    transport = _source("transport.gd")
    assert _const(transport, "RESULT_TYPE") == RESULT_TYPE
    assert "_sort_in_locked(replies)" in transport and "func take_results()" in transport
    results = _source("results.gd")
    # the fields result_events reads, and the kinds it understands
    for literal in ('"frame"', '"detail"', '"event_type"', '"speaker_prediction"',
                    '"text_hypothesis"', '"counts"', '"utterance"', '"speaker_change"',
                    '"detections"'):  # fmt: skip
        assert literal in results, literal
    import inspect

    from ambient_flow.client import results as twin_results

    twin_source = inspect.getsource(twin_results.result_events)
    for literal in ('"frame"', '"detail"', '"event_type"', '"speaker_prediction"',
                    '"text_hypothesis"', '"counts"', '"utterance"', '"speaker_change"',
                    '"detections"'):  # fmt: skip
        assert literal in twin_source, literal
    hub = _source("ambient_capture.gd")
    for signal in ("signal transcript_received(speaker: String, text: String)",
                   "signal speaker_changed(speaker: String)",
                   "signal detections_changed(counts: Dictionary)"):  # fmt: skip
        assert signal in hub
    for emit in ("transcript_received.emit(", "speaker_changed.emit(", "detections_changed.emit("):
        assert emit in hub
    link = _source("results_link.gd")
    assert _const(link, "SOCKET_SUB") == zmq.SUB
    assert _const(link, "RECEIVER_CLASS") == "ZMQReceiver"
    assert "parts[0] != _topic" in link  # exact topic, not ZeroMQ's prefix match
    scene = (PROJECT / "scenes" / "capture_test.gd").read_text(encoding="utf-8")
    assert "_capture.transcript_received.connect(_on_transcript)" in scene
    assert "_transcript_label.text = " in scene
    assert set(twin.CAPTURE_MIX_RATES) <= set(constants.ACCEPTED_SAMPLE_RATES)
