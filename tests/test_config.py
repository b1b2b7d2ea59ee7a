"""Settings: the SpacetimeDB knobs are checked at start-up, and secrets never reach a capture."""

from __future__ import annotations

from pathlib import Path

import pytest

from ambient_flow.capture.format import CaptureReader
from ambient_flow.config import (
    ENRICHMENT_KNOBS,
    SECRET_KNOBS,
    SPACETIMEDB_KNOBS,
    Settings,
)
from ambient_flow.errors import ConfigError
from ambient_flow.graph.replay import replay_settings
from ambient_flow.testing import LiveHost


def test_spacetimedb_is_off_by_default_and_checked_when_on() -> None:
    assert Settings().spacetimedb_url == ""
    ok = Settings(spacetimedb_url="http://db:3000", spacetimedb_database="ambient-listener")
    assert ok.spacetimedb_database == "ambient-listener"
    with pytest.raises(ConfigError, match="spacetimedb_url"):
        Settings(spacetimedb_url="db:3000", spacetimedb_database="x")
    with pytest.raises(ConfigError, match="spacetimedb_database"):
        Settings(spacetimedb_url="http://db:3000")
    with pytest.raises(ConfigError, match="spacetimedb_token"):
        Settings(spacetimedb_url="http://db:3000", spacetimedb_database="x",
                 spacetimedb_token="a b")  # fmt: skip
    with pytest.raises(ConfigError, match="spacetimedb_queue"):
        Settings(spacetimedb_queue=0)


def test_spacetimedb_knobs_come_from_the_environment() -> None:
    env = {
        "AMBIENT_FLOW_SPACETIMEDB_URL": "http://db:3000",
        "AMBIENT_FLOW_SPACETIMEDB_DATABASE": "ambient-listener",
        "AMBIENT_FLOW_SPACETIMEDB_TOKEN": "tok",
        "AMBIENT_FLOW_SPACETIMEDB_QUEUE": "50",
    }
    s = Settings.load(env=env)
    assert (s.spacetimedb_url, s.spacetimedb_token, s.spacetimedb_queue) == (
        "http://db:3000", "tok", 50,
    )  # fmt: skip


def test_the_knob_groups() -> None:
    assert ENRICHMENT_KNOBS[0] == "enrich" and ENRICHMENT_KNOBS[-1] == "batch_max"
    assert not set(ENRICHMENT_KNOBS) & set(SPACETIMEDB_KNOBS)
    assert set(SECRET_KNOBS) <= set(SPACETIMEDB_KNOBS)


def test_a_capture_never_keeps_the_token_and_a_replay_takes_the_replayers_sink(
    tmp_path: Path,
) -> None:
    capture = tmp_path / "x.zmqcap"
    with LiveHost(tmp_path / "live", record=str(capture), spacetimedb_token="s3cret") as host:
        host.request({"cmd": "get_config"})
    recorded = CaptureReader(capture).meta["config"]
    assert "spacetimedb_token" not in recorded
    assert "s3cret" not in capture.read_bytes().decode("latin-1")
    mine = Settings(spacetimedb_url="http://db:3000", spacetimedb_database="d",
                    spacetimedb_token="other")  # fmt: skip
    replay = replay_settings(capture, mine, str(tmp_path / "out"))
    assert (replay.spacetimedb_url, replay.spacetimedb_token) == ("http://db:3000", "other")


def test_the_speech_knobs_are_checked_together() -> None:
    Settings(vad_threshold=0.5, vad_neg_threshold=0.5, min_speech=0.3, max_utterance=0.7)
    with pytest.raises(ConfigError, match="vad_neg_threshold"):
        Settings(vad_threshold=0.4, vad_neg_threshold=0.45)
    with pytest.raises(ConfigError, match="max_utterance"):
        Settings(min_speech=1.0, max_utterance=1.5)
    with pytest.raises(ConfigError, match="prompt"):
        Settings(prompt="previous")
    with pytest.raises(ConfigError, match="num_speakers"):
        Settings(num_speakers=9, max_speakers=8)
    with pytest.raises(ConfigError, match="fallback_beam_size"):
        Settings(fallback_beam_size=-1)
    Settings(context_seconds=24.5, max_utterance=5.0, pre_roll=0.5)  # 30 s in all: fits
    for bad in ({"context_seconds": -1.0}, {"context_seconds": 20.0, "max_utterance": 10.0}):
        with pytest.raises(ConfigError, match="context_seconds"):
            Settings(**bad)  # type: ignore[arg-type]
    assert Settings.load(env={"AMBIENT_FLOW_CONTEXT_SECONDS": "3.5"}).context_seconds == 3.5
    assert Settings.load(env={"AMBIENT_FLOW_WHISPER_WORKERS": "2"}).whisper_workers == 2
    assert Settings.load(env={"AMBIENT_FLOW_DETECT_FPS": "0"}).detect_fps == 0.0
    with pytest.raises(ConfigError, match="detect_fps=-1"):
        Settings(detect_fps=-1.0)
    with pytest.raises(ConfigError, match="whisper_workers=0"):
        Settings(whisper_workers=0)
    with pytest.raises(ConfigError, match="only faster-whisper decodes in parallel"):
        Settings(whisper_workers=2, transcriber="openai-whisper", whisper_model="x.pt")
    env = {"AMBIENT_FLOW_SPEAKER_CHANGE_CUTS": "0", "AMBIENT_FLOW_LEVEL_NORMALIZE": "false"}
    loaded = Settings.load(env=env)
    assert not loaded.speaker_change_cuts and not loaded.level_normalize
