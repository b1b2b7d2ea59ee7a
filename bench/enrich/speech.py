"""Real speech for the enrichment benchmark: espeak-ng phrases laid out on a known schedule.

Each client gets its own voice and phrase order; phrases are separated by 1.6-2.2 s of
silence (more than the segmenter's 0.8 s, so every phrase is one utterance) and the
track ends with 3 s of silence. For every phrase we know its first and last voiced
sample, so the send time of the chunk holding its last word is read off the sender's
schedule, and a transcript is matched to a phrase by its sample position.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["PHRASES", "VOICES", "Phrase", "Track", "build_tracks"]

SR = 16000
CHUNK = 1600  # 100 ms: what a real client sends per message

#: IEEE/Harvard sentences (public domain), no digits (espeak and Whisper spell numbers
#: differently, which would be a WER artefact, not an error).
PHRASES: tuple[str, ...] = (
    "The birch canoe slid on the smooth planks.",
    "Glue the sheet to the dark blue background.",
    "It is easy to tell the depth of a well.",
    "These days a chicken leg is a rare dish.",
    "Rice is often served in round bowls.",
    "The juice of lemons makes fine punch.",
    "The box was thrown beside the parked truck.",
    "The hogs were fed chopped corn and garbage.",
    "Four hours of steady work faced us.",
    "A large size in stockings is hard to sell.",
    "The boy was there when the sun rose.",
    "A rod is used to catch pink salmon.",
    "The source of the huge river is the clear spring.",
    "Kick the ball straight and follow through.",
    "Help the woman get back to her feet.",
    "A pot of tea helps to pass the evening.",
    "Smoky fires lack flame and heat.",
    "The soft cushion broke the man's fall.",
    "The salt breeze came across from the sea.",
    "The girl at the booth sold fifty bonds.",
    "The small pup gnawed a hole in the sock.",
    "The fish twisted and turned on the bent hook.",
    "Press the pants and sew a button on the vest.",
    "The swan dive was far short of perfect.",
)
VOICES: tuple[str, ...] = ("en-us", "en-gb-scotland+f3", "en-gb", "en-us+m3")
LEAD_S = 1.0
TAIL_S = 3.0
#: |sample| above this (about -40 dBFS) counts as voiced when finding a phrase's edges.
VOICED = 330


@dataclass(frozen=True)
class Phrase:
    text: str
    start_sample: int  # first voiced sample in the client's track
    last_voiced_sample: int  # last voiced sample: the end of the last word

    @property
    def start_s(self) -> float:
        return self.start_sample / SR

    @property
    def end_s(self) -> float:
        return self.last_voiced_sample / SR

    @property
    def last_chunk(self) -> int:
        """Sequence number of the 100 ms chunk holding the last word's end."""
        return self.last_voiced_sample // CHUNK

    @property
    def last_word(self) -> str:
        return self.text.rstrip(".").split()[-1].lower()


@dataclass(frozen=True)
class Track:
    client: str
    voice: str
    pcm: bytes  # int16 LE mono 16 kHz, a whole number of 100 ms chunks
    phrases: tuple[Phrase, ...]
    offset_s: float  # when this client starts, after the common start

    @property
    def chunks(self) -> int:
        return len(self.pcm) // (2 * CHUNK)

    @property
    def seconds(self) -> float:
        return self.chunks * CHUNK / SR

    @property
    def speech_s(self) -> float:
        return sum(p.last_voiced_sample - p.start_sample for p in self.phrases) / SR

    def reference(self) -> str:
        return " ".join(p.text for p in self.phrases)


def _voiced_edges(audio: npt.NDArray[np.int16]) -> tuple[int, int]:
    loud = np.flatnonzero(np.abs(audio.astype(np.int32)) > VOICED)
    if loud.size == 0:
        raise RuntimeError("espeak-ng produced silence")
    return int(loud[0]), int(loud[-1])


def build_tracks(
    n: int, phrases_per_client: int, prefix: str = "talker", cache: dict[Any, Any] | None = None
) -> list[Track]:
    """`n` clients' tracks; client i speaks with voice i % 4, phrases rotated by 5 i."""
    from ambient_flow.testing.media import speech

    memo: dict[tuple[str, str], npt.NDArray[np.int16]] = cache if cache is not None else {}
    tracks = []
    for i in range(n):
        voice = VOICES[i % len(VOICES)]
        parts: list[npt.NDArray[np.int16]] = [np.zeros(int(LEAD_S * SR), np.int16)]
        pos = parts[0].shape[0]
        placed: list[Phrase] = []
        for j in range(phrases_per_client):
            text = PHRASES[(5 * i + j) % len(PHRASES)]
            key = (voice, text)
            if key not in memo:
                memo[key] = speech(text, voice)
            audio = memo[key]
            first, last = _voiced_edges(audio)
            placed.append(Phrase(text, pos + first, pos + last))
            gap = np.zeros(int((1.6 + 0.3 * ((i + j) % 3)) * SR), np.int16)
            parts += [audio, gap]
            pos += audio.shape[0] + gap.shape[0]
        parts.append(np.zeros(int(TAIL_S * SR), np.int16))
        pcm = np.concatenate(parts)
        pcm = np.concatenate([pcm, np.zeros(-pcm.shape[0] % CHUNK, np.int16)])
        tracks.append(
            Track(
                client=f"{prefix}-{i:02d}",
                voice=voice,
                pcm=pcm.astype("<i2").tobytes(),
                phrases=tuple(placed),
                offset_s=round(0.23 * i % 1.0, 2),
            )
        )
    return tracks
