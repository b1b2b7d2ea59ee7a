"""What a person reads: transcripts as they are heard, frames from `listen`, the live line,
a console without third-party chatter, and `--server HOST:PORT`."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from ambient_flow.cli.console import TranscriptPrinter, clock_time, frame_line
from ambient_flow.cli.display import live_line
from ambient_flow.cli.listen import decode_message, split_server
from ambient_flow.errors import ConfigError, ProtocolError
from ambient_flow.operators.attribution import Enrichment
from ambient_flow.protocol.codec import encode_envelope

ROOT = Path(__file__).resolve().parents[2]
AT = "2026-01-02T11:01:03.250000Z"


def utterance(text: str | None, client: str = "selestia", kind: str = "utterance") -> Enrichment:
    return Enrichment(
        client=client, session_id="s1", event_type=kind, sample_position=16000, timestamp=1.0,
        speaker_prediction="speaker1", text_hypothesis=text, confidence=0.9, weight=1.0,
        visual_context=None, created_at=AT, enriched_at=AT,
    )  # fmt: skip


def test_a_transcript_line_reads_like_the_issue_says() -> None:
    line = frame_line("selestia", utterance("did the build finish?").upstream_record())
    assert line == f"{clock_time(AT)} selestia speaker1: did the build finish?"
    assert len(clock_time(AT)) == 8 and clock_time(None) == "--:--:--"
    view = {"event_type": "detections", "created_at": AT,
            "visual_context": {"detections": [{"class": "person"}, {"class": "person"},
                                              {"class": "face"}]}}  # fmt: skip
    assert frame_line("k", view).endswith("k in view: 2 person, face")
    change = {"event_type": "speaker_change", "speaker_prediction": "speaker2", "created_at": AT}
    assert frame_line("k", change).endswith("k speaker change: speaker2")
    fix = {"event_type": "speaker_relabel", "speaker_prediction": "speaker2", "created_at": AT,
           "old": "speaker0", "start_sample": 16000 * 13, "end_sample": 16000 * 15,
           "sample_position": 16000 * 13, "timestamp": 3.0}  # fmt: skip
    assert frame_line("k", fix).endswith("k relabel: speaker0 -> speaker2 (3.0-5.0 s)")
    bare = {k: v for k, v in fix.items() if k != "old"}
    assert frame_line("k", bare).endswith("k relabel: speaker2")


class SlowTerminal(io.StringIO):
    """A terminal that takes 50 ms per write."""

    def write(self, s: str) -> int:
        time.sleep(0.05)
        return super().write(s)


def test_a_slow_terminal_never_stalls_the_flow_and_drops_are_counted() -> None:
    out = SlowTerminal()
    printer = TranscriptPrinter(out, capacity=10).start()
    started = time.perf_counter()
    for i in range(500):  # what the worker thread does, per enrichment
        printer.offer(utterance(f"line {i}"))
        printer.offer(utterance(None))  # no text: not a transcript
        printer.offer(utterance("x", kind="speaker_change"))
    offered_s = time.perf_counter() - started
    printer.stop(timeout=10)
    assert offered_s < 0.5  # 1,500 offers; printing 500 lines would take 25 s
    assert printer.dropped > 400 and printer.printed + printer.dropped == 500
    lines = out.getvalue().splitlines()
    assert lines[0].endswith("selestia speaker1: line 0")
    missed = [line for line in lines if "not shown" in line]
    assert sum(int(line.split()[0][1:]) for line in missed) == printer.dropped


def test_the_live_line_says_gap_fill_in_seconds_not_drops() -> None:
    doc = {
        "time": 10.0,
        "audio": {"chunks_received": 100},
        "video": {"frames_received": 5},
        "drops": {"filled_samples_gap": 16000, "filled_samples_restart": 8000,
                  "audio_gap_chunks": 10, "audio_reordered": 3, "video_late": 2},
        "rejects": {"not_json": 1},
        "clients": {"a": {"open": True, "latency_ms_p99": 4.6}},
    }  # fmt: skip
    line = live_line(None, doc)
    assert "| gap fill 1.5 s | drops 2 | rejects 1 |" in line, line
    assert line.endswith("latency p99 5 ms")


@pytest.mark.parametrize(
    ("spec", "port", "expected"),
    [
        ("127.0.0.1:5557", None, ("127.0.0.1", 5557)),
        ("127.0.0.1", None, ("127.0.0.1", 9)),
        ("host", 6000, ("host", 6000)),
        ("[::1]:7000", None, ("::1", 7000)),
        ("::1", None, ("::1", 9)),
        ("h:5557", 5557, ("h", 5557)),
    ],
)
def test_server_takes_host_or_host_port(
    spec: str, port: int | None, expected: tuple[str, int]
) -> None:
    assert split_server(spec, port, 9) == expected


@pytest.mark.parametrize("spec", ["h:0", "h:port", ":5557", "[::1", "[::1]x"])
def test_a_bad_server_is_a_clear_error(spec: str) -> None:
    with pytest.raises(ConfigError, match="--server"):
        split_server(spec, None, 9)
    with pytest.raises(ConfigError, match="disagree"):
        split_server("h:5557", 6000, 9)


def test_listen_decodes_the_envelope_and_refuses_what_is_not_a_frame() -> None:
    header = b'{"frame":{"event_type":"utterance"},"detail":{}}'
    assert decode_message([b"kitchen", encode_envelope(header, b"")]) == (
        "kitchen",
        {"frame": {"event_type": "utterance"}, "detail": {}},
    )
    for bad in ([b"x"], [b"k", b"short"], [b"k", encode_envelope(b'{"detail":{}}', b"")]):
        with pytest.raises(ProtocolError):
            decode_message(bad)


CHATTY = """
import logging, sys
from ambient_flow.graph.host import setup_logging
setup_logging(sys.argv[1])
logging.getLogger("faster_whisper").info("Processing audio with duration 00:02.000")
logging.getLogger("numba.core").debug("compiling")
logging.getLogger("ultralytics").warning("a library warning")
logging.getLogger("ambient_flow.cli").info("live host: ...")
"""


def test_third_party_info_stays_out_of_the_console_unless_debug() -> None:
    def run(level: str) -> str:
        env = dict(os.environ, PYTHONPATH=str(ROOT))
        done = subprocess.run([sys.executable, "-c", CHATTY, level], env=env,
                              capture_output=True, text=True, timeout=60)  # fmt: skip
        assert done.returncode == 0, done.stderr
        return done.stderr

    info = run("INFO")
    assert "live host" in info and "a library warning" in info
    assert "Processing audio" not in info and "compiling" not in info
    debug = run("DEBUG")
    assert "Processing audio" in debug and "compiling" in debug


def test_printer_stop_is_prompt_when_nothing_was_said() -> None:
    printer = TranscriptPrinter(io.StringIO()).start()
    started = time.perf_counter()
    printer.stop()
    assert time.perf_counter() - started < 1.0
    assert not [t for t in threading.enumerate() if t.name == "af-transcripts"]
