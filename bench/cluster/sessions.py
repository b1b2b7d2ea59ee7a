"""What the hosts wrote: session directories read back from every host's data dir."""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Written", "read_sessions"]

_CHUNK = 3200  # bytes of one 100 ms chunk (16 kHz mono int16)


@dataclass(frozen=True)
class Written:
    """One session directory: its host, client, audio bytes (data chunk only)."""

    host: str
    client: str
    path: Path
    audio: bytes

    @property
    def chunks(self) -> float:
        return len(self.audio) / _CHUNK


def _pcm(wav: Path) -> bytes:
    """The data chunk's bytes up to the file's end (sizes are written only at close)."""
    raw = wav.read_bytes()
    at = raw.find(b"data", 12)
    return raw[at + 8 :] if at >= 0 else b""


def read_sessions(data_dirs: dict[str, Path]) -> dict[str, list[Written]]:
    """Client name -> its sessions on every host, oldest first by directory name."""
    out: dict[str, list[Written]] = defaultdict(list)
    for host, root in data_dirs.items():
        for d in sorted((root / "sessions").glob("*")):
            try:
                client = str(json.loads((d / "session.json").read_text())["client"])
            except (OSError, ValueError, KeyError):
                client = d.name.split("_", 2)[-1].rsplit("_", 1)[0]
            wav = d / "audio.wav"
            out[client].append(Written(host, client, d, _pcm(wav) if wav.exists() else b""))
    return out
