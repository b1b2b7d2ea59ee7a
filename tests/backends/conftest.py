"""Tiny random-weight Whisper models built with each library's own constructors.

They go through exactly the loading and inference code a user's real checkpoint goes
through (`FasterWhisperTranscriber`, `OpenAIWhisperTranscriber`); their text is garbage,
which is fine: the tests check shapes, times and the loading contract. No network: the
tokenizer comes from the ``multilingual.tiktoken`` file inside the openai-whisper wheel.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from ambient_flow.backends.base import offline_environment
from ambient_flow.testing.media import speech

# Whisper "tiny"-shaped but 64 wide: builds in well under a second.
TINY_DIMS = {
    "n_mels": 80,
    "n_audio_ctx": 1500,
    "n_audio_state": 64,
    "n_audio_head": 2,
    "n_audio_layer": 2,
    "n_vocab": 51865,
    "n_text_ctx": 448,
    "n_text_state": 64,
    "n_text_head": 2,
    "n_text_layer": 2,
}

PANGRAM = "the quick brown fox jumps over the lazy dog"


@pytest.fixture(scope="session", autouse=True)
def _offline(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Nothing in these tests may reach a model hub."""
    offline_environment(tmp_path_factory.mktemp("yolo-config"))


def _whisper_special_tokens(n_languages: int) -> list[str]:
    from whisper.tokenizer import LANGUAGES

    langs = [f"<|{code}|>" for code in list(LANGUAGES)[:n_languages]]
    return [
        "<|endoftext|>",
        "<|startoftranscript|>",
        *langs,
        "<|translate|>",
        "<|transcribe|>",
        "<|startoflm|>",
        "<|startofprev|>",
        "<|nospeech|>",
        "<|notimestamps|>",
    ]


def build_tiny_ctranslate2_whisper(out_dir: Path, work_dir: Path) -> Path:
    """A random 2-layer, 64-wide multilingual Whisper as a CTranslate2 directory.

    transformers builds the model (`WhisperForConditionalGeneration`) and the
    ``tokenizer.json`` (`TikTokenConverter` over whisper's ``multilingual.tiktoken``
    plus Whisper's special tokens); ctranslate2's own `TransformersConverter` writes
    ``model.bin``/``config.json``/``vocabulary`` and copies ``tokenizer.json``.
    """
    import whisper
    from ctranslate2.converters import TransformersConverter
    from transformers import (
        PreTrainedTokenizerFast,
        WhisperConfig,
        WhisperForConditionalGeneration,
    )
    from transformers.convert_slow_tokenizer import TikTokenConverter
    from whisper.tokenizer import get_encoding

    specials = _whisper_special_tokens(99)  # n_vocab 51865: 99 languages (not v3)
    tiktoken_file = Path(whisper.__file__).parent / "assets" / "multilingual.tiktoken"
    pattern = get_encoding("multilingual")._pat_str
    tok = TikTokenConverter(
        vocab_file=str(tiktoken_file), pattern=pattern, additional_special_tokens=specials
    ).converted()
    hf_dir = work_dir / "hf"
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token="<|endoftext|>",
        eos_token="<|endoftext|>",
        unk_token="<|endoftext|>",
        additional_special_tokens=specials[1:],
    )
    fast.save_pretrained(hf_dir)
    eot = tok.token_to_id("<|endoftext|>")
    sot = tok.token_to_id("<|startoftranscript|>")
    config = WhisperConfig(
        vocab_size=TINY_DIMS["n_vocab"],
        num_mel_bins=80,
        d_model=64,
        encoder_layers=2,
        encoder_attention_heads=2,
        decoder_layers=2,
        decoder_attention_heads=2,
        encoder_ffn_dim=256,
        decoder_ffn_dim=256,
        max_source_positions=1500,
        max_target_positions=448,
        bos_token_id=eot,
        eos_token_id=eot,
        pad_token_id=eot,
        decoder_start_token_id=sot,
    )
    import torch

    torch.manual_seed(0)
    model = WhisperForConditionalGeneration(config)
    model.generation_config.suppress_tokens = []
    model.generation_config.begin_suppress_tokens = [220, eot]
    model.save_pretrained(hf_dir)
    TransformersConverter(str(hf_dir), copy_files=["tokenizer.json"]).convert(
        str(out_dir), force=True
    )
    return out_dir


def build_tiny_openai_whisper(path: Path) -> Path:
    """A random openai-whisper checkpoint (``{"dims", "model_state_dict"}``) at `path`."""
    import torch
    from whisper.model import ModelDimensions, Whisper

    torch.manual_seed(0)
    dims = ModelDimensions(**TINY_DIMS)
    model = Whisper(dims)
    torch.save({"dims": dims.__dict__, "model_state_dict": model.state_dict()}, path)
    return path


@pytest.fixture(scope="session")
def tiny_ct2_whisper(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Directory of a tiny random CTranslate2 Whisper (model.bin, config.json, tokenizer.json)."""
    pytest.importorskip("transformers", reason="transformers builds the tiny CTranslate2 model")
    work = tmp_path_factory.mktemp("tiny-ct2-work")
    return build_tiny_ctranslate2_whisper(tmp_path_factory.mktemp("tiny-ct2") / "model", work)


@pytest.fixture(scope="session")
def tiny_openai_whisper(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Path of a tiny random openai-whisper checkpoint."""
    return build_tiny_openai_whisper(tmp_path_factory.mktemp("tiny-oaw") / "tiny.pt")


@pytest.fixture(scope="session")
def pangram_audio() -> npt.NDArray[np.float32]:
    """espeak-ng (en-us) saying `PANGRAM`, float32 16 kHz mono."""
    return (speech(PANGRAM, "en-us").astype(np.float32) / 32768.0).astype(np.float32)
