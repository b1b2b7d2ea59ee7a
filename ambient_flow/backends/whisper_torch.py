"""openai-whisper on a local checkpoint file (`--transcriber openai-whisper`).

How an utterance is decoded: `whisper_decode` (shared with faster-whisper); how segments
become a `Transcript`: `whisper_text`.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy.typing as npt

from ambient_flow.backends.base import (
    check_sha256_option,
    require_file,
    torch_threads,
    verify_sha256,
)
from ambient_flow.backends.whisper_decode import DecodeOptions, Rung, transcript_of, with_context
from ambient_flow.backends.whisper_text import Audio, RawSegment, RawWord, as_audio
from ambient_flow.errors import ConfigError
from ambient_flow.models.identity import ModelIdentity
from ambient_flow.models.lazy import LazyModel
from ambient_flow.models.transcription import Transcript

__all__ = ["OpenAIWhisperOptions", "OpenAIWhisperTranscriber"]


@dataclass(frozen=True)
class OpenAIWhisperOptions:
    """How to load and run an openai-whisper checkpoint.

    Attributes:
        model_path: A local checkpoint file (``{"dims", "model_state_dict"}``, what
            ``whisper.load_model`` reads). Required: hub names would download.
        expected_sha256: Digest to require of the file (``None``: record only).
        threads: torch intra-op threads for each call (set per call: other libraries
            change torch's process-wide count).
        decode: How each utterance is decoded (as for faster-whisper).
    """

    model_path: Path
    expected_sha256: str | None = None
    threads: int = 2
    decode: DecodeOptions = field(default_factory=DecodeOptions)

    def __post_init__(self) -> None:
        if not isinstance(self.model_path, Path):
            object.__setattr__(self, "model_path", Path(self.model_path))
        check_sha256_option("OpenAIWhisperOptions.expected_sha256", self.expected_sha256)
        if self.threads < 1:
            raise ConfigError(f"OpenAIWhisperOptions.threads must be >= 1, got {self.threads}")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready options for `ModelIdentity`."""
        return {
            "model_path": str(self.model_path),
            "expected_sha256": self.expected_sha256,
            "threads": self.threads,
            **self.decode.to_dict(),
        }


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

    def transcribe(
        self,
        audio: npt.ArrayLike,
        *,
        offset_s: float,
        prompt: str | None = None,
        context: npt.ArrayLike | None = None,
    ) -> Transcript:
        """Transcribe one utterance (see `FasterWhisperTranscriber.transcribe`)."""
        arr = as_audio(audio)
        clip, context_s = with_context(arr, context)
        model = self.loaded
        opts = self.options.decode

        def rung(clip: Audio) -> Rung:
            def run(beam: int) -> tuple[Sequence[RawSegment], str]:
                with self._call_lock, torch_threads(self.options.threads):
                    result = model.transcribe(
                        clip,
                        language=opts.language,
                        beam_size=beam if beam > 1 else None,
                        temperature=0.0,
                        condition_on_previous_text=False,
                        initial_prompt=prompt,
                        fp16=False,
                        verbose=None,
                        word_timestamps=opts.word_timestamps,
                        suppress_blank=True,
                        # Whisper's checks are ours (`whisper_decode`), on every rung alike
                        no_speech_threshold=None,
                        logprob_threshold=None,
                        compression_ratio_threshold=None,
                    )
                raw = [
                    RawSegment(
                        float(s["start"]),
                        float(s["end"]),
                        str(s["text"]),
                        float(s["avg_logprob"]),
                        float(s["no_speech_prob"]),
                        tuple(
                            RawWord(
                                str(w["word"]),
                                float(w["start"]),
                                float(w["end"]),
                                float(w["probability"]),
                            )
                            for w in s.get("words") or ()
                        ),
                    )
                    for s in result["segments"]
                ]
                return raw, str(result.get("language") or opts.language or "")

            return run

        with_ctx = (rung(clip), context_s) if context_s else None
        return transcript_of(arr, rung(arr), opts, offset_s, prompt, self.identity, with_ctx)
