"""Shared fixtures of the protocol tests: the committed vectors and their generator."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent


def load_generator() -> ModuleType:
    """Import `make_vectors.py` by path (tests are not an installed package)."""
    spec = importlib.util.spec_from_file_location("make_vectors", HERE / "make_vectors.py")
    if spec is None or spec.loader is None:
        raise ImportError("cannot load make_vectors.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def make_vectors() -> ModuleType:
    return load_generator()


@pytest.fixture(scope="session")
def vectors_doc(make_vectors: ModuleType) -> dict[str, Any]:
    path: Path = make_vectors.VECTORS_PATH
    doc: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return doc
