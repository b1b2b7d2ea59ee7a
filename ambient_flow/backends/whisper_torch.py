"""openai-whisper on a local checkpoint file (`--transcriber openai-whisper`).

How segments become a `Transcript`: `whisper_text`.
"""

from __future__ import annotations

import re
import threading
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy.typing as npt

from ambient_flow.backends.base import (
    check_sha256_option,
    require_file,
    torch_threads,
    verify_sha256,
)
from ambient_flow.backends.whisper_text import RawSegment, as_audio, assemble, check_threshold
from ambient_flow.errors import ConfigError
from ambient_flow.models.identity import ModelIdentity
from ambient_flow.models.lazy import LazyModel
from ambient_flow.models.transcription import Transcript
from ambient_flow.protocol.constants import AUDIO_SAMPLE_RATE

__all__ = ["OpenAIWhisperOptions", "OpenAIWhisperTranscriber"]


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
        check_sha256_option("OpenAIWhisperOptions.expected_sha256", self.expected_sha256)
        if self.language is not None and not re.fullmatch(r"[a-z]{2,3}", self.language):
            raise ConfigError(f"OpenAIWhisperOptions.language {self.language!r} is not a code")
        if self.beam_size < 1:
            raise ConfigError(f"OpenAIWhisperOptions.beam_size must be >= 1, got {self.beam_size}")
        if self.threads < 1:
            raise ConfigError(f"OpenAIWhisperOptions.threads must be >= 1, got {self.threads}")
        check_threshold("no_speech_threshold", self.no_speech_threshold, 0.0, 1.0)
        check_threshold("logprob_threshold", self.logprob_threshold, -100.0, 0.0)
        check_threshold("compression_ratio_threshold", self.compression_ratio_threshold, 0, 100)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready options for `ModelIdentity`."""
        d = asdict(self)
        d["model_path"] = str(self.model_path)
        return d


class OpenAIWhisperTranscriber(LazyModel[Any]):
    """openai-whisper on a local checkpoint file, on the CPU in float32.

    Calls are serialized by a lock: openai-whisper's decoder keeps per-call state on
    the model (key/value cache hooks), so two concurrent calls on one model are unsafe.
    """

    describes = "openai-whisper checkpoint"

    def __init__(self, options: OpenAIWhisperOptions) -> None:
        super().__init__()
        self.options = options
        self._call_lock = threading.Lock()

    def describe(self) -> str:
        return f"openai-whisper checkpoint {self.options.model_path}"

    def _load(self) -> tuple[Any, ModelIdentity]:
        """Check the file and digest, then ``whisper.load_model(path)`` (a path, never a name)."""
        opts = self.options
        path = opts.model_path
        require_file(path, "openai-whisper checkpoint")
        digest = verify_sha256(path, opts.expected_sha256, "openai-whisper checkpoint")
        import whisper

        with torch_threads(opts.threads):
            # A path, never a name: names download from the hub.
            model = whisper.load_model(str(path.resolve()), device="cpu")
        identity = ModelIdentity(
            kind="transcription",
            name=f"openai-whisper:{path.stem}",
            path=str(path),
            sha256={path.name: digest},
            options=opts.to_dict(),
        )
        return model, identity

    def transcribe(self, audio: npt.ArrayLike, *, offset_s: float) -> Transcript:
        """Transcribe one utterance (see `FasterWhisperTranscriber.transcribe`)."""
        arr = as_audio(audio)
        model = self.loaded
        opts = self.options
        raw: list[RawSegment] = []
        language = opts.language or ""
        if arr.size:
            with self._call_lock, torch_threads(opts.threads):
                result = model.transcribe(
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
                RawSegment(
                    float(s["start"]),
                    float(s["end"]),
                    str(s["text"]),
                    float(s["avg_logprob"]),
                    float(s["no_speech_prob"]),
                )
                for s in result["segments"]
            ]
            language = str(result.get("language") or opts.language or "")
        return assemble(
            raw,
            duration_s=arr.size / AUDIO_SAMPLE_RATE,
            offset_s=offset_s,
            no_speech_threshold=opts.no_speech_threshold,
            logprob_threshold=opts.logprob_threshold,
            language=language,
            identity=self.identity,
        )
