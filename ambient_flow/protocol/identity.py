"""Client names are untrusted input: they become directory names and metric labels."""

from __future__ import annotations

import hashlib
import re
import unicodedata

__all__ = ["MAX_CLIENT_NAME", "sanitize_client_name"]

MAX_CLIENT_NAME = 64
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
#: Names that are already safe (what real clients send): returned as they are, without
#: the folding below (which would return them unchanged, at a few times the cost).
_ALREADY_SAFE = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9._-]{0,62}[A-Za-z0-9])?")


def sanitize_client_name(name: str) -> str:
    """Map any string to a safe, non-empty name of at most 64 characters.

    The result matches `[A-Za-z0-9._-]+`, never starts with a dot (so it can't be
    `.` or `..` or hidden), and therefore can never name a path outside the data
    directory. Unicode is folded to ASCII where it has an ASCII form and replaced by
    `_` otherwise. Distinct names stay distinct: a name that had to
    be changed keeps a hash of the original as its suffix (`José` -> `Jose-1a2b3c4d`).
    """
    if _ALREADY_SAFE.fullmatch(name):
        return name
    folded = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    safe = _UNSAFE.sub("_", folded).strip("._-") or "client"
    if safe != name or len(safe) > MAX_CLIENT_NAME:
        # Keep two names that sanitize alike apart ("a/b" vs "a_b", "José" vs "Jose").
        digest = hashlib.sha1(name.encode("utf-8", "surrogatepass")).hexdigest()[:8]
        safe = f"{safe[: MAX_CLIENT_NAME - 9]}-{digest}"
    return safe
