"""The readable lines of each speech section (the frame is `bench.core.report`)."""

from __future__ import annotations

from typing import Any

from bench.core.report import fmt, percent

__all__ = ["BODIES", "TITLES", "aggregate_lines"]

Sec = dict[str, Any]


def _der(agg: Sec, key: str) -> str:
    d = agg.get(key)
    if not d:
        return "n/a"
    return (f"{percent(d['der'])} (missed {percent(d['missed'])}, false alarm "
            f"{percent(d['false_alarm'])}, confusion {percent(d['confusion'])})")  # fmt: skip


def aggregate_lines(agg: Sec) -> list[str]:
    """One set's totals."""
    by_kind = agg.get("found_by_kind", {}).items()
    found = "  ".join(f"{k}: {','.join(map(str, v))}" for k, v in by_kind)
    lines = [
        f"  DER collar 0     {_der(agg, 'der_timeline_c0')}",
        f"  DER collar 0.25  {_der(agg, 'der_timeline_c0.25')}",
        f"  DER per utterance line, collar 0: {_der(agg, 'der_utterances_c0')}",
        f"  speakers found (exact {percent(agg.get('speakers_exact'))}): {found}",
        f"  WER {percent(agg.get('wer'))}   cpWER {percent(agg.get('cpwer'))}",
        f"  first label after speech: median {fmt(agg.get('first_label_s_median'))} s, max "
        f"{fmt(agg.get('first_label_s_max'))} s; longest wait for a transcript in continuous "
        f"talk (at close) {fmt(agg.get('transcript_wait_max_s'))} s (p90 "
        f"{fmt(agg.get('transcript_wait_p90_s'))} s)",
        f"  per step: diarization {fmt(agg.get('ms_per_diarization_step'))} ms, transcription "
        f"{fmt(agg.get('ms_per_transcription'))} ms per utterance",
    ]
    if "nonspeech_words" in agg:
        lines.append(f"  words emitted on clips without speech: {agg['nonspeech_words']}")
    return lines


def _sets(sec: Sec, _all: dict[str, Sec]) -> list[str]:
    return [f"  {name}: {s['clips']} clips, {s['seconds']} s, {s['kinds']} ({s['dir']})"
            for name, s in sec.items() if isinstance(s, dict) and "clips" in s]  # fmt: skip


def _set(sec: Sec, _all: dict[str, Sec]) -> list[str]:
    changed = sec.get("changed_settings") or {}
    lines = [f"  settings changed from the defaults: {changed}"] if changed else []
    lines += aggregate_lines(sec["aggregate"])
    for clip in sec["clips"]:
        der = (clip["ders"].get("timeline") or {}).get("0") or {}
        lines.append(
            f"    {clip['name']:<15} {clip['kind']:<10} found {clip['speakers_found']}/"
            f"{clip['speakers_reference']}  DER {percent(der.get('der'))}  WER "
            f"{percent(clip['wer'])}  cpWER {percent(clip['cpwer'])}  relabels {clip['relabels']}"
        )
    return lines


def _shifts(sec: Sec, _all: dict[str, Sec]) -> list[str]:
    lo_hi = sec.get("spread") or {}
    span = ", ".join(f"{k.upper() if k != 'cpwer' else 'cpWER'} {percent(a)}-{percent(b)}"
                     for k, (a, b) in lo_hi.items())  # fmt: skip
    return [*_set(sec, _all), f"  spread over the offsets: {span}"]


def _long(sec: Sec, _all: dict[str, Sec]) -> list[str]:
    lines = []
    for name in ("dev", "heldout"):
        if name in sec:
            lines.append(f"  {name}:")
            lines += ["  " + ln for ln in _set(sec[name], _all)]
    return lines


def _ablation(sec: Sec, _all: dict[str, Sec]) -> list[str]:
    lines = []
    for name in ("real", "dev", "heldout"):
        if name in sec:
            lines.append(f"  {name}:")
            lines += ["  " + ln for ln in aggregate_lines(sec[name])]
    return lines


def _load(row: Sec) -> str:
    m = row.get("machine")
    if not m:
        return ""
    return f"; machine busy {fmt(m.get('busy_pct'))} %, others {fmt(m.get('others_pct'))} %"


def _live(sec: Sec, _all: dict[str, Sec]) -> list[str]:
    lines = []
    for level, row in sec.get("phrases", {}).items():
        eos = row["end_of_speech_to_transcript_ms"]
        lines.append(
            f"  {level.replace('_', ' ')}: end of speech -> final transcript p50 {fmt(eos['p50'])}"
            f" / p90 {fmt(eos['p90'])} / max {fmt(eos['max'])} ms; speaker label p50 "
            f"{fmt(row['speaker_label_ms_p50'])} / p99 {fmt(row['speaker_label_ms_p99'])} ms; "
            f"missed {row['missed']}/{row['phrases']}, WER {percent(row['wer'])}, drops "
            f"{row['drops']}{_load(row)}"
        )
    call = sec.get("call")
    if call:
        lines.append(
            f"  real call live (1 client): first label {fmt(call['first_label_s'])} s after "
            f"speech; speaker label p50 {fmt(call['speaker_label_ms_p50'])} / p99 "
            f"{fmt(call['speaker_label_ms_p99'])} ms; longest wait for a transcript in "
            f"continuous talk {fmt(call['transcript_wait_max_s'])} s "
            f"({call['continuous_stretches']} stretches); {call['utterance_lines']} utterance lines"
            f"{_load(call)}"
        )
        timeline = call.get("ders", {}).get("timeline", {})
        for collar in ("0", "0.25"):
            d = timeline.get(collar)
            if d:
                lines.append(
                    f"    live, scored from the PUB lines: DER collar {collar} {percent(d['der'])} "
                    f"(missed {percent(d['missed'])}, false alarm {percent(d['false_alarm'])}, "
                    f"confusion {percent(d['confusion'])})"
                )
        if "wer" in call:
            lines.append(
                f"    live: speakers found {call['speakers_found']}, WER {percent(call['wer'])}, "
                f"cpWER {percent(call['cpwer'])}, {call['relabels']} relabels"
            )
    return lines


TITLES = {
    "sets": lambda sec: "[sets] generated dev and held-out sets (seeded, espeak-ng)",
    "real": lambda sec: "[real] pyannote's real two-speaker call, replayed, embedded models",
    "shifts": lambda sec: "[shifts] the real call after 0-0.875 s of silence (8 offsets), pooled",
    "dev": lambda sec: f"[dev] generated dev set ({sec.get('aggregate', {}).get('clips')} clips)",
    "heldout": lambda sec: (
        f"[heldout] generated held-out set ({sec.get('aggregate', {}).get('clips')} clips, "
        "voices and seed the defaults were never chosen on)"
    ),
    "long": lambda sec: (
        "[long] long sessions (4-5 min; talkers away for over a minute come back), dev and held-out"
    ),
    "ablation": lambda sec: "[ablation] the same with speaker-change cuts off",
    "live": lambda sec: "[live] real-time pace, the live host and sender processes",
}
BODIES = {
    "sets": _sets,
    "real": _set,
    "shifts": _shifts,
    "dev": _set,
    "heldout": _set,
    "long": _long,
    "ablation": _ablation,
    "live": _live,
}
