"""Choosing models by settings: bad choices fail at start-up, clearly, naming the path."""

from __future__ import annotations

import pytest

pytest.importorskip("faster_whisper", reason="the [audio] extra provides the models")

from ambient_flow.backends.registry import DETECTORS, DIARIZERS, TRANSCRIBERS, VADS, build_models
from ambient_flow.config import Settings
from ambient_flow.errors import ConfigError, StartupError


def test_a_missing_whisper_model_directory_is_named(tmp_path) -> None:  # type: ignore[no-untyped-def]
    missing = tmp_path / "no-such-model"
    with pytest.raises(StartupError, match="no-such-model") as caught:
        build_models(Settings(data_dir=str(tmp_path), whisper_model=str(missing)))
    # The setting to change, in each of its three spellings, and the path.
    assert str(caught.value).startswith(
        f"whisper_model={str(missing)!r} (--whisper-model, AMBIENT_FLOW_WHISPER_MODEL): "
    )


def test_a_failing_default_model_names_the_setting_that_chose_it(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from ambient_flow.backends.registry import setting_of

    settings = Settings(data_dir=str(tmp_path), diarizer="diart", segmentation_model="/s.ckpt",
                        embedding_model="/e.ckpt")  # fmt: skip
    assert setting_of("vad", settings, "sha256 mismatch").startswith("vad='silero' (--vad, ")
    assert setting_of("diarizer", settings, "embedding checkpoint /e.ckpt: bad").startswith(
        "embedding_model='/e.ckpt' (--embedding-model, AMBIENT_FLOW_EMBEDDING_MODEL)"
    )
    assert setting_of("diarizer", settings, "cannot import diart").startswith("segmentation_model")


@pytest.mark.parametrize(
    ("knobs", "message"),
    [
        ({"transcriber": "openai-whisper"}, "--whisper-model"),
        ({"diarizer": "diart"}, "--segmentation-model"),
        ({"detector": "yolo"}, "--yolo-model"),
    ],
)
def test_production_models_need_their_paths(tmp_path, knobs, message) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ConfigError, match=message):
        build_models(Settings(data_dir=str(tmp_path), vad="energy", **knobs))


def test_unknown_model_names_are_refused_when_settings_are_built() -> None:
    with pytest.raises(ConfigError, match="vad="):
        Settings(vad="webrtc")
    with pytest.raises(ConfigError, match="detector="):
        Settings(detector="sam")


def test_the_embedded_defaults_load_and_say_what_they_are(tmp_path) -> None:  # type: ignore[no-untyped-def]
    models = build_models(Settings(data_dir=str(tmp_path), detector="opencv"))
    identities = models.identities()
    assert set(identities) == {"vad", "transcriber", "diarizer", "detector"}
    assert all(len(digest) == 64 for digest in identities["transcriber"]["sha256"].values())
    assert identities["vad"]["name"]


def test_every_choice_settings_accept_has_a_backend() -> None:
    import dataclasses

    for role, table in (("vad", VADS), ("transcriber", TRANSCRIBERS), ("diarizer", DIARIZERS),
                        ("detector", DETECTORS)):  # fmt: skip
        for name in table:
            Settings(**{role: name})  # accepted
        default = next(f.default for f in dataclasses.fields(Settings) if f.name == role)
        assert default in table
