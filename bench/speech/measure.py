"""Each clip through the real replay graph, scored from the session it writes; set totals.

A clip is a WAV with its references. `measure_clip` runs `ambient_flow.cli.evaluate`
(the replay graph, the models loaded once, the session read back as a consumer reads
it) and adds what the replay's recorded arrival times tell about latency, *algorithmic*
(the model compute of the run is not in them; the live section measures that):

- first label: the first `speaker_change` line's decision time (the arrival of the chunk
  that completed its diarization window) minus the arrival of the chunk holding the
  first reference speech;
- transcript waits during continuous talk: in every stretch of reference speech of 6 s or
  more (pauses < 1 s), the longest time without a new transcript, counted from when each
  utterance closed (the arrival of the data that closed it).

`aggregate` sums seconds and words over clips (DER from summed seconds, WER and cpWER
from summed errors), and groups speakers found by kind of clip.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import tempfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from ambient_flow.capture import CaptureReader
from ambient_flow.cli.evaluate import evaluate
from ambient_flow.cli.scoring import normalize, read_rttm, read_transcript
from ambient_flow.config import Settings
from ambient_flow.models.bundle import Models
from bench.core.stats import percentile, rounded
from bench.speech.context import changed_settings

__all__ = ["ClipRef", "aggregate", "measure_clip", "real_call", "refs_of", "shifted_calls"]

SR = 16000
CHUNK = 1600
HERE = Path(__file__).resolve().parent


@dataclass(frozen=True)
class ClipRef:
    """One clip and its references (`num_speakers` 0: no speech in it)."""

    name: str
    kind: str
    wav: Path
    rttm: Path
    txt: Path
    num_speakers: int


def refs_of(folder: Path) -> list[ClipRef]:
    """The clips of a generated set, in manifest order."""
    out = []
    for line in (folder / "manifest.jsonl").read_text().splitlines():
        r = json.loads(line)
        n = r["name"]
        out.append(ClipRef(n, r["kind"], folder / f"{n}.wav", folder / f"{n}.rttm",
                           folder / f"{n}.txt", int(r["num_speakers"])))  # fmt: skip
    return out


def real_call() -> ClipRef:
    """pyannote.audio's real two-speaker call (in its wheel) with our transcript of it."""
    import pyannote.audio

    sample = Path(pyannote.audio.__file__).parent / "sample"
    return ClipRef("real-call", "real", sample / "sample.wav", sample / "sample.rttm",
                   HERE / "real_call.txt", 2)  # fmt: skip


#: Silence before the real call in `shifted_calls` (seconds): every alignment of the
#: 0.5 s diarization step and a different one of the 32 ms VAD block each.
SHIFTS_S = (0.0, 0.125, 0.25, 0.375, 0.5, 0.625, 0.75, 0.875)


def shifted_calls(folder: Path, shifts: tuple[float, ...] = SHIFTS_S) -> list[ClipRef]:
    """The real call after each of `shifts` seconds of silence, with its RTTM moved to match.

    One clip's figures move with where its speech falls on the host's block and step
    grids: the live benchmark's call (which starts after 1 s of silence) replays to the
    same lines as this call after 1 s. So a figure on the one real clip is quoted as
    the pool over these offsets, with its spread.
    """
    import wave

    import numpy as np

    call = real_call()
    with wave.open(str(call.wav), "rb") as w:
        rate, pcm = w.getframerate(), w.readframes(w.getnframes())
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for shift in shifts:
        name = f"real-call+{shift:.3f}s"
        lead = np.zeros(round(shift * rate), "<i2").tobytes()
        with wave.open(str(folder / f"{name}.wav"), "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(rate)
            w.writeframes(lead + pcm)
        turns = [f"SPEAKER {name} 1 {s + shift:.3f} {e - s:.3f} <NA> <NA> {who} <NA> <NA>"
                 for s, e, who in read_rttm(call.rttm)]  # fmt: skip
        (folder / f"{name}.rttm").write_text("\n".join(turns) + "\n")
        out.append(ClipRef(name, "real", folder / f"{name}.wav", folder / f"{name}.rttm",
                           call.txt, call.num_speakers))  # fmt: skip
    return out


def spread(rows: list[dict[str, Any]]) -> dict[str, list[float]]:
    """The lowest and highest timeline DER (collar 0), WER and cpWER over `rows`."""
    values = {
        "der": [r["ders"]["timeline"]["0"]["der"] for r in rows if r["ders"].get("timeline")],
        "wer": [r["wer"] for r in rows if r["wer"] is not None],
        "cpwer": [r["cpwer"] for r in rows if r["cpwer"] is not None],
    }
    return {k: [round(min(v), 4), round(max(v), 4)] for k, v in values.items() if v}


def _ns(iso: str) -> int:
    dt = datetime.fromisoformat(iso.replace("Z", "+00:00"))
    return int(dt.timestamp()) * 1_000_000_000 + dt.microsecond * 1000


def _arrivals(capture: Path) -> list[int]:
    """Arrival time (ns) of each audio chunk, in order (chunk k: samples k*1600...)."""
    return [m.received_ns for m in CaptureReader(capture) if m.channel == "audio"]


def _stretches(ref: list[tuple[float, float, str]], bridge: float = 1.0) -> list[list[float]]:
    out: list[list[float]] = []
    for s, e in sorted((s, e) for s, e, _ in ref):
        if out and s - out[-1][1] < bridge:
            out[-1][1] = max(out[-1][1], e)
        else:
            out.append([s, e])
    return out


def measure_clip(ref: ClipRef, models: Models, settings: Settings) -> dict[str, Any]:
    """One clip through the replay graph, scored (one row of the set's table)."""
    rttm = read_rttm(ref.rttm)
    said = read_transcript(ref.txt) if ref.txt.exists() else []
    with tempfile.TemporaryDirectory(prefix="af-bench-speech-") as tmp:
        res = evaluate(ref.wav, rttm=ref.rttm if rttm else None,
                       transcript=ref.txt if said else None, settings=settings,
                       models=models, out_dir=tmp)  # fmt: skip
        arrivals = _arrivals(Path(tmp) / "input.zmqcap")
    lines = res.lines
    words = sum(len(normalize(t).split()) for _, t in said)
    row: dict[str, Any] = {
        "name": ref.name,
        "kind": ref.kind,
        "duration_s": round(res.duration_s, 2),
        "speakers_reference": ref.num_speakers,
        "speakers_found": res.speakers_hypothesis,
        "ders": res.ders,
        "ref_words": words,
        "wer": res.wer,
        "cpwer": res.cpwer,
        "utterance_lines": res.utterances,
        "relabels": res.relabels,
        "words_emitted": sum(
            len(normalize(ln.get("text_hypothesis") or "").split())
            for ln in lines
            if ln.get("event_type") == "utterance"
        ),
        "stages": {
            k: {"calls": v.get("calls"), "busy_s": v.get("busy_s"), "items": v.get("items")}
            for k, v in res.stages.items()
        },
    }
    if rttm and arrivals:
        row |= _latencies(rttm, lines, arrivals)
    return row


def _arrival(arrivals: list[int], sample: int) -> int:
    return arrivals[min(len(arrivals) - 1, max(0, sample // CHUNK))]


def _latencies(
    rttm: list[tuple[float, float, str]], lines: list[dict[str, Any]], arrivals: list[int]
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    first_speech = min(s for s, _, _ in rttm)
    changes = [ln for ln in lines if ln.get("event_type") == "speaker_change"]
    if changes:
        decided = min(_ns(ln["enriched_at"]) for ln in changes)
        out["first_label_s"] = (decided - _arrival(arrivals, round(first_speech * SR))) / 1e9
    closed = sorted((_ns(ln["enriched_at"]) - arrivals[0]) / 1e9 + CHUNK / SR
                    for ln in lines if ln.get("event_type") == "utterance")  # fmt: skip
    waits = []
    for a, b in _stretches(rttm):
        if b - a < 6.0:
            continue
        inside = [t for t in closed if a < t <= b + 1.5]
        marks = [a, *inside]
        gaps = [y - x for x, y in itertools.pairwise(marks)]
        if not inside or inside[-1] < b:
            gaps.append(b - marks[-1])
        waits.append(max(gaps))
    out["transcript_waits_s"] = waits
    return out


def aggregate(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Totals over a set's clips."""
    speech = [r for r in rows if r["speakers_reference"] > 0]
    out: dict[str, Any] = {"clips": len(rows), "speech_clips": len(speech)}
    for view in ("timeline", "utterances"):
        for collar in ("0", "0.25"):
            tot = dict.fromkeys(("missed", "false_alarm", "confusion"), 0.0)
            ref_s = 0.0
            for r in speech:
                d = r["ders"].get(view, {}).get(collar)
                if d is None:
                    continue
                ref_s += d["reference_s"]
                for k in tot:
                    tot[k] += d[k] * d["reference_s"]
            if ref_s:
                parts = {k: round(v / ref_s, 4) for k, v in tot.items()}
                out[f"der_{view}_c{collar}"] = {"der": round(sum(parts.values()), 4), **parts}
    words = sum(r["ref_words"] for r in speech if r["wer"] is not None)
    if words:
        out["wer"] = round(sum(r["wer"] * r["ref_words"] for r in speech if r["wer"] is not None)
                           / words, 4)  # fmt: skip
        cp = [r for r in speech if r["cpwer"] is not None]
        cp_words = sum(r["ref_words"] for r in cp)
        if cp_words:
            out["cpwer"] = round(sum(r["cpwer"] * r["ref_words"] for r in cp) / cp_words, 4)
    out["speakers_exact"] = round(
        sum(r["speakers_found"] == r["speakers_reference"] for r in speech) / max(1, len(speech)), 3
    )
    kinds: dict[str, list[int]] = {}
    for r in speech:
        kinds.setdefault(r["kind"], []).append(r["speakers_found"])
    out["found_by_kind"] = kinds
    firsts = [r["first_label_s"] for r in speech if r.get("first_label_s") is not None]
    out["first_label_s_median"] = rounded(percentile(firsts, 50), 2)
    out["first_label_s_max"] = rounded(max(firsts), 2) if firsts else None
    waits = [w for r in speech for w in r.get("transcript_waits_s", [])]
    out["transcript_wait_max_s"] = rounded(max(waits), 2) if waits else None
    out["transcript_wait_p90_s"] = rounded(percentile(waits, 90), 2)
    silent = [r for r in rows if r["speakers_reference"] == 0]
    if silent:
        out["nonspeech_words"] = sum(r["words_emitted"] for r in silent)
    calls = {k: [0.0, 0] for k in ("diarization", "transcription")}
    for r in rows:  # per item: a diarization call may hold several steps
        for k in calls:
            st = r["stages"].get(k) or {}
            calls[k][0] += st.get("busy_s") or 0.0
            calls[k][1] += st.get("items") or 0
    out["ms_per_diarization_step"] = rounded(1000 * calls["diarization"][0]
                                             / max(1, calls["diarization"][1]), 1)  # fmt: skip
    out["ms_per_transcription"] = rounded(1000 * calls["transcription"][0]
                                          / max(1, calls["transcription"][1]), 0)  # fmt: skip
    return out


def measure_set(refs: list[ClipRef], models: Models, settings: Settings) -> dict[str, Any]:
    """Every clip of a set, and the totals."""
    rows = [measure_clip(r, models, settings) for r in refs]
    return {"aggregate": aggregate(rows), "clips": rows,
            "settings": {k: v for k, v in dataclasses.asdict(settings).items()
                         if k in ("min_silence", "max_utterance", "speaker_change_cuts",
                                  "level_normalize", "fallback_beam_size", "prompt",
                                  "context_seconds")},
            "changed_settings": changed_settings(settings)}  # fmt: skip
