"""Whisper transcription: the wheel's tiny.en on espeak-ng speech, tiny random models
through the real loading code and load failures."""

from __future__ import annotations

import itertools
import math
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import jiwer
import numpy as np
import numpy.typing as npt
import pytest

from ambient_flow.backends.base import sha256_file, torch_threads
from ambient_flow.backends.whisper_ct2 import (
    TINY_EN_MODEL_SHA256,
    FasterWhisperOptions,
    FasterWhisperTranscriber,
    embedded_model_path,
)
from ambient_flow.backends.whisper_decode import DecodeOptions, transcript_of
from ambient_flow.backends.whisper_text import RawSegment, assemble, compute_confidence
from ambient_flow.backends.whisper_torch import OpenAIWhisperOptions, OpenAIWhisperTranscriber
from ambient_flow.errors import ConfigError, StartupError
from ambient_flow.models.transcription import Segment, Transcriber, Transcript
from ambient_flow.testing.media import speech
from tests.backends.conftest import PANGRAM

SR = 16000


def _normalize(text: str) -> str:
    return " ".join(re.sub(r"[^a-z0-9' ]+", " ", text.lower()).split())


def _check_shape(t: Transcript, *, offset_s: float, duration_s: float) -> None:
    assert isinstance(t, Transcript)
    assert all(isinstance(s, Segment) for s in t.segments)
    assert t.text == " ".join(s.text for s in t.segments)
    last = offset_s
    for s in t.segments:
        assert offset_s - 1e-9 <= s.start_s <= s.end_s <= offset_s + duration_s + 1e-9
        assert s.start_s >= last - 1e-9
        last = s.start_s
        assert s.text == s.text.strip() and s.text
        assert 0.0 <= s.no_speech_prob <= 1.0
    assert 0.0 <= t.confidence <= 1.0
    assert 0.0 <= t.no_speech_prob <= 1.0


@pytest.fixture(scope="module")
def tiny_en() -> FasterWhisperTranscriber:
    model = FasterWhisperTranscriber(FasterWhisperOptions(cpu_threads=2))
    model.load()
    return model


@pytest.fixture(scope="module")
def noise_10s() -> npt.NDArray[np.float32]:
    return np.random.default_rng(7).normal(0.0, 0.1, 10 * SR).astype(np.float32)


# ---- the wheel's real tiny.en on real (synthetic) speech ------------------------------


def test_tiny_en_transcribes_speech(
    tiny_en: FasterWhisperTranscriber, pangram_audio: npt.NDArray[np.float32]
) -> None:
    assert isinstance(tiny_en, Transcriber)
    offset = 123.25
    t = tiny_en.transcribe(pangram_audio, offset_s=offset)
    _check_shape(t, offset_s=offset, duration_s=pangram_audio.size / SR)
    assert t.segments, "no text for clear speech"
    wer = jiwer.wer(PANGRAM, _normalize(t.text))
    assert wer < 0.5, (t.text, wer)
    assert t.segments[0].start_s < offset + 0.5
    assert t.language == "en"
    lp, ns, conf = compute_confidence(t.segments)
    assert (t.avg_logprob, t.no_speech_prob, t.confidence) == (lp, ns, conf)
    assert conf == pytest.approx(math.exp(lp) * (1 - ns))
    assert t.confidence > 0.3
    assert t.model.sha256["model.bin"] == TINY_EN_MODEL_SHA256
    assert t.model.to_dict()["options"]["compute_type"] == "int8"
    assert t.model.to_dict()["options"]["fallback_beam_size"] == 1
    # every word timed on the stream clock, in order, inside its segment
    words = t.words
    assert len(words) >= 6 and _normalize("".join(w.word for w in words)) == _normalize(t.text)
    for seg in t.segments:
        for w in seg.words:
            assert seg.start_s - 0.05 <= w.start_s <= w.end_s <= seg.end_s + 0.05
            assert 0.0 <= w.probability <= 1.0
    assert all(a.start_s <= b.start_s for a, b in itertools.pairwise(words))
    assert words[0].start_s >= offset


def test_tiny_en_accepts_int16_the_same(
    tiny_en: FasterWhisperTranscriber, pangram_audio: npt.NDArray[np.float32]
) -> None:
    pcm = np.round(pangram_audio * 32768).clip(-32768, 32767).astype(np.int16)
    a = tiny_en.transcribe(pcm, offset_s=0.0)
    b = tiny_en.transcribe(pcm.astype(np.float32) / 32768.0, offset_s=0.0)
    assert a.text == b.text and a.segments == b.segments


def test_parallel_workers_decode_at_once_and_say_the_same(
    pangram_audio: npt.NDArray[np.float32],
) -> None:
    # one thread per decode, as `--whisper-workers 2 --whisper-threads 1` loads it
    serial = FasterWhisperTranscriber(FasterWhisperOptions(cpu_threads=1))
    parallel = FasterWhisperTranscriber(FasterWhisperOptions(cpu_threads=1, workers=2))
    parallel.load()
    assert parallel.loaded.model.num_workers == 2  # two CTranslate2 replicas
    assert parallel.identity.options == serial.identity.options  # nothing else changes
    clips = [pangram_audio[: pangram_audio.size * k // 4] for k in (4, 3, 2, 4)]
    with ThreadPoolExecutor(2) as pool:
        together = list(pool.map(lambda c: parallel.transcribe(c, offset_s=0.0), clips))
    alone = [serial.transcribe(c, offset_s=0.0) for c in clips]
    assert [t.segments for t in together] == [t.segments for t in alone]
    assert together[0].text and together[0].segments == together[3].segments


def _voice(text: str) -> npt.NDArray[np.float32]:
    return (speech(text, "en-us").astype(np.float32) / 32768.0).astype(np.float32)


def test_tiny_en_with_left_context_returns_only_the_utterances_words(
    tiny_en: FasterWhisperTranscriber, pangram_audio: npt.NDArray[np.float32]
) -> None:
    """The context is decoded with the utterance, but its words are not the utterance's."""
    context = np.concatenate([_voice("Good morning everyone, thank you all for coming today."),
                              np.zeros(SR * 4 // 10, np.float32)])  # fmt: skip
    utterance = np.concatenate([np.zeros(SR * 3 // 10, np.float32), pangram_audio])
    offset = 42.0
    t = tiny_en.transcribe(utterance, offset_s=offset, context=context)
    _check_shape(t, offset_s=offset, duration_s=utterance.size / SR)
    said = _normalize(t.text)
    assert not {"morning", "everyone", "thank", "coming", "today"} & set(said.split()), t.text
    assert jiwer.wer(PANGRAM, said) < 0.5, t.text
    assert t.context_s == pytest.approx(context.size / SR)
    assert t.words and t.words[0].start_s >= offset
    assert _normalize("".join(w.word for w in t.words)) == said
    # silence and noise after speech still say nothing
    noise = np.random.default_rng(3).normal(0.0, 0.1, 2 * SR).astype(np.float32)
    for quiet in (np.zeros(2 * SR, np.float32), noise):
        nothing = tiny_en.transcribe(quiet, offset_s=offset, context=context)
        assert nothing.text == "" and nothing.confidence == 0.0
    # no context: as before
    assert tiny_en.transcribe(utterance, offset_s=offset, context=context[:0]).context_s == 0.0


@pytest.mark.parametrize("kind", ["silence", "white noise"])
def test_silence_and_noise_give_no_text(
    tiny_en: FasterWhisperTranscriber, noise_10s: npt.NDArray[np.float32], kind: str
) -> None:
    audio = np.zeros(10 * SR, np.float32) if kind == "silence" else noise_10s
    t = tiny_en.transcribe(audio, offset_s=5.0)
    assert t.text == "" and t.segments == ()
    assert t.confidence == 0.0
    assert t.no_speech_prob > 0.5


def test_empty_audio_gives_an_empty_transcript(tiny_en: FasterWhisperTranscriber) -> None:
    t = tiny_en.transcribe(np.zeros(0, np.float32), offset_s=1.0)
    assert t.text == "" and t.segments == () and t.confidence == 0.0
    with pytest.raises(ValueError, match="1-D"):
        tiny_en.transcribe(np.zeros((2, 100), np.float32), offset_s=0.0)


# ---- the rule that keeps silence out, and the confidence ------------------------------


def test_segments_whisper_calls_silence_are_dropped_and_times_clipped() -> None:
    from ambient_flow.models.identity import ModelIdentity

    ident = ModelIdentity(kind="transcription", name="x", path=None)
    raw = [
        RawSegment(0.0, 1.0, " Hello there.", -0.2, 0.1),
        RawSegment(1.0, 2.0, " Thanks for watching!", -1.5, 0.8),  # silence by Whisper's rule
        RawSegment(2.0, 2.5, " ...", -0.1, 0.0),  # no word
        RawSegment(2.5, 9.0, " Bye.", -0.4, 0.7),  # high no_speech but confident: kept
    ]
    audio = np.zeros(3 * SR, np.float32)
    opts = DecodeOptions()
    t = transcript_of(audio, lambda beam: (raw, "en"), opts, 10.0, None, ident)
    assert t.text == "Hello there. Bye."
    assert [(s.start_s, s.end_s) for s in t.segments] == [(10.0, 11.0), (12.5, 13.0)]
    # Weighted by duration: 1.0 s and 0.5 s.
    assert t.avg_logprob == pytest.approx((1.0 * -0.2 + 0.5 * -0.4) / 1.5)
    assert t.no_speech_prob == pytest.approx((1.0 * 0.1 + 0.5 * 0.7) / 1.5)
    assert t.confidence == pytest.approx(math.exp(t.avg_logprob) * (1 - t.no_speech_prob))
    # the kept text is mostly no speech to the model (0.62, by the segments' own lengths):
    # the next rung (greedy) is asked, says the same, and the narrower beam wins the tie
    assert (t.beam_size, t.attempts) == (1, 2)
    only_silence = transcript_of(audio, lambda beam: (raw[1:3], "en"), opts, 0.0, None, ident)
    assert only_silence.text == "" and only_silence.confidence == 0.0
    assert only_silence.no_speech_prob == 0.8


def test_confidence_of_nothing_is_zero() -> None:
    assert compute_confidence([]) == (0.0, 1.0, 0.0)


# ---- tiny random models through the real loading code ---------------------------------


def test_tiny_random_ctranslate2_model_loads_and_runs(
    tiny_ct2_whisper: Path, noise_10s: npt.NDArray[np.float32]
) -> None:
    model = FasterWhisperTranscriber(
        FasterWhisperOptions(
            model_path=tiny_ct2_whisper,
            cpu_threads=1,
            decode=DecodeOptions(no_speech_threshold=None, fallback_beam_size=2),
        )
    )
    audio = noise_10s[: 2 * SR]
    t = model.transcribe(audio, offset_s=3.0)
    _check_shape(t, offset_s=3.0, duration_s=2.0)
    ident = model.identity
    assert ident.path == str(tiny_ct2_whisper)
    assert ident.sha256["model.bin"] == sha256_file(tiny_ct2_whisper / "model.bin")
    assert set(ident.sha256) == {"model.bin", "config.json", "tokenizer.json"}


def test_tiny_random_openai_whisper_checkpoint_loads_and_runs(
    tiny_openai_whisper: Path, noise_10s: npt.NDArray[np.float32]
) -> None:
    torch = pytest.importorskip("torch")
    model = OpenAIWhisperTranscriber(
        OpenAIWhisperOptions(
            model_path=tiny_openai_whisper,
            threads=1,
            decode=DecodeOptions(no_speech_threshold=None, fallback_beam_size=2),
        )
    )
    with torch_threads(2):
        t = model.transcribe(noise_10s[: 2 * SR], offset_s=7.5)
        assert torch.get_num_threads() == 2  # restored after the call's own setting
    _check_shape(t, offset_s=7.5, duration_s=2.0)
    assert t.language == "en"
    assert model.identity.sha256 == {"tiny.pt": sha256_file(tiny_openai_whisper)}
    assert model.identity.name == "openai-whisper:tiny"


def test_openai_whisper_load_failures_name_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "nope.pt"
    with pytest.raises(StartupError, match=re.escape(f"{missing}: no such file")):
        OpenAIWhisperTranscriber(OpenAIWhisperOptions(model_path=missing)).load()
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a checkpoint" * 64)
    with pytest.raises(StartupError, match=re.escape(f"{junk}: cannot load")):
        OpenAIWhisperTranscriber(OpenAIWhisperOptions(model_path=junk)).load()
    with pytest.raises(StartupError, match=re.escape(f"{junk}: sha256")):
        OpenAIWhisperTranscriber(
            OpenAIWhisperOptions(model_path=junk, expected_sha256="f" * 64)
        ).load()


# ---- load failures of the CTranslate2 directory ---------------------------------------


def _copy_model(src: Path, dst: Path, *, skip: str | None = None) -> Path:
    dst.mkdir(parents=True)
    for f in src.iterdir():
        if f.is_file() and f.name != skip:
            (dst / f.name).symlink_to(f)
    return dst


def test_missing_directory_is_a_startup_error(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-model"
    with pytest.raises(StartupError, match=re.escape(f"{missing}: does not exist")):
        FasterWhisperTranscriber(FasterWhisperOptions(model_path=missing)).load()


def test_missing_tokenizer_is_a_startup_error(tmp_path: Path) -> None:
    model_dir = _copy_model(embedded_model_path(), tmp_path / "m", skip="tokenizer.json")
    with pytest.raises(StartupError, match=re.escape(str(model_dir / "tokenizer.json"))):
        FasterWhisperTranscriber(FasterWhisperOptions(model_path=model_dir)).load()


def test_wrong_digest_is_a_startup_error(tmp_path: Path) -> None:
    model_dir = _copy_model(embedded_model_path(), tmp_path / "m")
    with pytest.raises(StartupError, match=re.escape(f"{model_dir / 'model.bin'}: sha256")):
        FasterWhisperTranscriber(
            FasterWhisperOptions(model_path=model_dir, expected_sha256="0" * 64)
        ).load()


def test_corrupt_model_bin_is_a_startup_error(tmp_path: Path) -> None:
    model_dir = _copy_model(embedded_model_path(), tmp_path / "m", skip="model.bin")
    (model_dir / "model.bin").write_bytes(b"\0garbage" * 1000)
    with pytest.raises(StartupError, match=re.escape(f"{model_dir}: cannot load")):
        FasterWhisperTranscriber(FasterWhisperOptions(model_path=model_dir)).load()


def test_options_are_validated() -> None:
    with pytest.raises(ConfigError, match="compute_type"):
        FasterWhisperOptions(compute_type="int3")
    with pytest.raises(ConfigError, match="beam_size"):
        DecodeOptions(beam_size=0)
    with pytest.raises(ConfigError, match="cpu_threads"):
        FasterWhisperOptions(cpu_threads=0)
    with pytest.raises(ConfigError, match="workers"):
        FasterWhisperOptions(workers=0)
    with pytest.raises(ConfigError, match="device"):
        FasterWhisperOptions(device="tpu")
    with pytest.raises(ConfigError, match="no_speech_threshold"):
        DecodeOptions(no_speech_threshold=1.5)
    with pytest.raises(ConfigError, match="threads"):
        OpenAIWhisperOptions(model_path=Path("x.pt"), threads=0)


def test_non_finite_decoder_scores_still_give_a_valid_transcript() -> None:
    from ambient_flow.models.identity import ModelIdentity

    identity = ModelIdentity(kind="transcription", name="t", path=None)
    raw = [RawSegment(0.0, 1.0, " random words", float("nan"), float("nan")),
           RawSegment(1.0, 2.0, " more", float("-inf"), 0.1)]  # fmt: skip
    t = assemble(raw, duration_s=2.0, offset_s=0.0, dropped_no_speech=0.0, language="en",
                 identity=identity)  # fmt: skip
    assert t.text == "random words more"
    assert all(math.isfinite(v) for v in (t.avg_logprob, t.no_speech_prob, t.confidence))
    assert 0.0 <= t.confidence <= 1.0
