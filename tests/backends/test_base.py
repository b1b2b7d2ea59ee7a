"""The shared backend helpers: identity, digests, offline environment, thread guard."""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path

import pytest

from ambient_flow.backends.base import (
    offline_environment,
    sha256_file,
    torch_threads,
    verify_sha256,
)
from ambient_flow.errors import StartupError
from ambient_flow.models.identity import ModelIdentity


def test_identity_is_a_json_ready_snapshot(tmp_path: Path) -> None:
    options = {"threads": 2, "path": tmp_path, "langs": ("en", "de")}
    digests = {"model.bin": "ab" * 32}
    ident = ModelIdentity(kind="vad", name="x", path=str(tmp_path), sha256=digests, options=options)
    options["threads"] = 99
    digests["model.bin"] = "changed"
    d = ident.to_dict()
    assert json.loads(json.dumps(d)) == {
        "kind": "vad",
        "name": "x",
        "path": str(tmp_path),
        "sha256": {"model.bin": "ab" * 32},
        "options": {"threads": 2, "path": str(tmp_path), "langs": ["en", "de"]},
    }
    with pytest.raises(ValueError, match="kind"):
        ModelIdentity(kind="", name="x", path=None)


def test_sha256_file_and_verify(tmp_path: Path) -> None:
    f = tmp_path / "w.bin"
    data = os.urandom(3 * (1 << 20) + 17)  # several read chunks
    f.write_bytes(data)
    digest = hashlib.sha256(data).hexdigest()
    assert sha256_file(f) == digest
    assert verify_sha256(f, digest.upper(), "weights") == digest
    assert verify_sha256(f, None, "weights") == digest
    with pytest.raises(StartupError, match=re.escape(f"weights {f}: sha256 {digest}")):
        verify_sha256(f, "0" * 64, "weights")
    with pytest.raises(StartupError, match=re.escape(str(tmp_path / "missing"))):
        sha256_file(tmp_path / "missing")


def test_offline_environment_is_idempotent(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("HF_HUB_OFFLINE", "YOLO_OFFLINE", "YOLO_AUTOINSTALL", "YOLO_CONFIG_DIR"):
        monkeypatch.delenv(var, raising=False)
    target = tmp_path / "cfg" / "ultralytics"
    with offline_environment(target):
        pass
    offline_environment(target)
    assert os.environ["HF_HUB_OFFLINE"] == "1"
    assert os.environ["YOLO_OFFLINE"] == "1"
    assert os.environ["YOLO_AUTOINSTALL"] == "0"
    assert os.environ["YOLO_CONFIG_DIR"] == str(target) and target.is_dir()
    offline_environment(None)  # keeps an existing config dir
    assert os.environ["YOLO_CONFIG_DIR"] == str(target)
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(StartupError, match=re.escape(str(blocker / "sub"))):
        offline_environment(blocker / "sub")


def test_torch_threads_sets_and_restores() -> None:
    torch = pytest.importorskip("torch")
    before = torch.get_num_threads()
    other = 1 if before != 1 else 2
    with torch_threads(other):
        assert torch.get_num_threads() == other
        torch.set_num_threads(before)  # a library changing it behind our back
        with torch_threads(other):
            assert torch.get_num_threads() == other
    assert torch.get_num_threads() == before
    with torch_threads(None):
        assert torch.get_num_threads() == before
    with pytest.raises(ValueError, match=">= 1"), torch_threads(0):
        pass
