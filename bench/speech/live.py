"""Latency at real-time pace: the live host, sender processes, the PUB stream (bench.enrich's).

Two runs, with the compute of this machine in every figure (the replay sections' latencies
are algorithmic):

- `phrases`: bench.enrich's live run — 1 and 4 clients speaking espeak-ng phrases 1.6-2.2 s
  apart, a camera each at 1 fps: end of speech (the send of the chunk holding a phrase's
  last word) -> its final transcript on the PUB stream, p50/p90/max; speaker labels (the
  window's last chunk arrived -> its label left the model stages), p50/p99;
- `call`: pyannote's real call streamed by one client at real-time pace: the first label
  after the first speech, label p99, and the longest wait for a transcript while people
  keep talking (stretches of speech of 6 s or more with pauses under 1 s), counted from
  the send of the chunk that starts the stretch to each utterance's arrival on the PUB;
  and the lines the PUB carried, scored as `ambient-flow eval` scores a session (DER at
  collar 0 and 0.25, WER, cpWER, speakers found): who said what, live.
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np

from ambient_flow.cli.evaluate import score_session
from ambient_flow.cli.scoring import read_rttm, read_transcript
from bench.core.stats import percentile, rounded
from bench.enrich.context import Ctx
from bench.enrich.live import live_run
from bench.enrich.speech import CHUNK, SR, Phrase, Track
from bench.speech.measure import ClipRef

__all__ = ["call_track", "live_call", "live_phrases"]

LEAD_S = 1.0
TAIL_S = 4.0


def call_track(ref: ClipRef) -> tuple[Track, list[tuple[float, float, str]]]:
    """The real call as one client's track (1 s of silence before it), and its reference
    turns shifted onto the track."""
    from bench.speech.voices import read_wav

    audio = read_wav(ref.wav)
    pcm = np.round(audio * 32767).clip(-32768, 32767).astype(np.int16)
    lead, tail = np.zeros(round(LEAD_S * SR), np.int16), np.zeros(round(TAIL_S * SR), np.int16)
    pcm = np.concatenate([lead, pcm, tail])
    pcm = np.concatenate([pcm, np.zeros(-pcm.size % CHUNK, np.int16)])
    turns = [(s + LEAD_S, e + LEAD_S, who) for s, e, who in read_rttm(ref.rttm)]
    phrases = tuple(Phrase(who, round(s * SR), round(e * SR)) for s, e, who in turns)
    track = Track("call", "real", pcm.astype("<i2").tobytes(), phrases, 0.0)
    return track, turns


def _stretches(turns: list[tuple[float, float, str]], bridge: float = 1.0) -> list[list[float]]:
    out: list[list[float]] = []
    for s, e in sorted((s, e) for s, e, _ in turns):
        if out and s - out[-1][1] < bridge:
            out[-1][1] = max(out[-1][1], e)
        else:
            out.append([s, e])
    return out


def live_call(ctx: Ctx, ref: ClipRef) -> dict[str, Any]:
    """One client streams the real call in real time: first label, label p99, waits."""
    track, turns = call_track(ref)
    row = live_run(ctx, [track], keep=True, video=False)
    sends: list[int] = row.pop("sends")["call"]
    published: list[tuple[int, dict[str, Any]]] = row.pop("published")
    labels: list[float] = row.pop("label_ms")

    def sent(sample: int) -> int:
        return sends[min(len(sends) - 1, sample // CHUNK)]

    first_speech = round(min(s for s, _, _ in turns) * SR)
    changes = [ns for ns, f in published if f["event_type"] == "speaker_change"]
    said = sorted(ns for ns, f in published if f["event_type"] == "utterance")
    waits = []
    for a, b in _stretches(turns):
        if b - a < 6.0:
            continue
        start, end = sent(round(a * SR)), sent(round(b * SR))
        inside = [t for t in said if start < t <= end + 1_500_000_000]
        marks = [start, *inside]
        gaps = [(y - x) / 1e9 for x, y in itertools.pairwise(marks)]
        if not inside or inside[-1] < end:
            gaps.append((end - marks[-1]) / 1e9)
        waits.append(max(gaps))
    scored = score_session([f for _, f in published], duration_s=len(sends) * CHUNK / SR,
                           reference=turns, transcript=read_transcript(ref.txt))  # fmt: skip
    return {
        "ders": scored.ders,
        "wer": scored.wer,
        "cpwer": scored.cpwer,
        "speakers_found": scored.speakers_hypothesis,
        "relabels": scored.relabels,
        "first_label_s": rounded((min(changes) - sent(first_speech)) / 1e9, 2) if changes else None,
        "speaker_label_ms_p50": rounded(percentile(labels, 50), 0),
        "speaker_label_ms_p99": rounded(percentile(labels, 99), 0),
        "transcript_wait_max_s": rounded(max(waits), 2) if waits else None,
        "continuous_stretches": len(waits),
        "utterance_lines": len(said),
        "turn_end_to_transcript_ms_p90": row["transcript"].get("latency_ms_p90"),
        "drops": row["drops"],
        "audio_lost": row["audio_lost"],
        "machine": row.get("machine"),
    }


def live_phrases(ctx: Ctx, levels: tuple[int, ...]) -> dict[str, Any]:
    """bench.enrich's live run: end of speech -> final transcript, speaker labels."""
    out: dict[str, Any] = {}
    for n in levels:
        row = live_run(ctx, ctx.tracks(n, ctx.plan.phrases))
        tr = row["transcript"]
        out[f"{n}_clients"] = {
            "end_of_speech_to_transcript_ms": {
                "p50": tr.get("latency_ms_p50"),
                "p90": tr.get("latency_ms_p90"),
                "max": tr.get("latency_ms_max"),
            },
            "phrases": tr.get("phrases"),
            "missed": tr.get("missed"),
            "wer": tr.get("wer"),
            "speaker_label_ms_p50": row.get("speaker_label_ms_p50"),
            "speaker_label_ms_p99": row.get("speaker_label_ms_p99"),
            "pass": row.get("pass"),
            "why": row.get("why"),
            "drops": row["drops"],
            "machine": row.get("machine"),  # who else was busy on the shared cores
            "stages": row.get("stages"),  # where the host's time went
        }
    return out
