"""Client names are untrusted: they must never escape the data directory or collide."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ambient_flow.protocol import sanitize_client_name
from ambient_flow.protocol.identity import MAX_CLIENT_NAME

SAFE = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9._-]*$")

HOSTILE = [
    "../",
    "../../etc/passwd",
    "/",
    "/abs/path",
    "a/b",
    "a_b",
    "a\x00b",
    "\x00",
    "x" * 300,
    "y" * 300,
    "x" * 299,
    "José",
    "Jose",
    "日本語",
    "🙂",
    "..",
    ".",
    ".hidden",
    "",
    " ",
    "-",
    "C:\\Windows",
    "name\nwith\nnewlines",
]


def _check_safe(name: str) -> None:
    assert SAFE.match(name), name
    assert "/" not in name
    assert "\\" not in name
    assert "\x00" not in name
    assert name not in (".", "..")
    assert 1 <= len(name) <= MAX_CLIENT_NAME


@pytest.mark.parametrize("name", HOSTILE)
def test_hostile_names_become_safe(name: str, tmp_path: Path) -> None:
    safe = sanitize_client_name(name)
    _check_safe(safe)
    # It really names a directory inside the data dir.
    target = (tmp_path / safe).resolve()
    assert target.parent == tmp_path.resolve()
    target.mkdir()


def test_distinct_names_stay_distinct() -> None:
    results = [sanitize_client_name(n) for n in HOSTILE]
    assert len(set(results)) == len(set(HOSTILE))


def test_safe_names_are_kept() -> None:
    for name in ("kitchen-mic", "cam_1", "a.b", "x" * MAX_CLIENT_NAME):
        assert sanitize_client_name(name) == name


def test_changed_names_keep_a_readable_stem() -> None:
    assert sanitize_client_name("José").startswith("Jose-")
    assert sanitize_client_name("../etc").startswith("etc-")
    assert len(sanitize_client_name("z" * 300)) == MAX_CLIENT_NAME


def test_idempotent_on_its_own_output() -> None:
    for name in HOSTILE:
        once = sanitize_client_name(name)
        assert sanitize_client_name(once) == once


@given(st.text())
def test_any_text_is_safe(name: str) -> None:
    _check_safe(sanitize_client_name(name))


@given(st.text(), st.text())
def test_any_two_distinct_texts_stay_distinct(a: str, b: str) -> None:
    if a != b:
        assert sanitize_client_name(a) != sanitize_client_name(b)


def _full_rules(name: str) -> str:
    """`sanitize_client_name` without its shortcut for names that are already safe."""
    import hashlib
    import unicodedata

    folded = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", folded).strip("._-") or "client"
    if safe != name or len(safe) > MAX_CLIENT_NAME:
        digest = hashlib.sha1(name.encode("utf-8", "surrogatepass")).hexdigest()[:8]
        safe = f"{safe[: MAX_CLIENT_NAME - 9]}-{digest}"
    return safe


@given(st.text(alphabet="aZ09._-\n é/", max_size=70) | st.text(max_size=70))
def test_the_shortcut_for_safe_names_agrees_with_the_full_rules(name: str) -> None:
    assert sanitize_client_name(name) == _full_rules(name)


@pytest.mark.parametrize("name", ["a", "a" * 64, "a" * 65, "a.b", "a.", "_a", "a\n", "kitchen-2"])
def test_the_shortcut_at_its_edges(name: str) -> None:
    assert sanitize_client_name(name) == _full_rules(name)
