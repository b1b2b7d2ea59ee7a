"""The readable lines of each enrichment section (the frame is `bench.core.report`)."""

from __future__ import annotations

from typing import Any

from bench.core.report import fmt, percent

__all__ = ["BODIES", "TITLES"]

Sec = dict[str, Any]


def _stage(row: Sec, name: str, key: str) -> Any:
    return row.get("stages", {}).get(name, {}).get(key)


def _live_header(capacity: bool) -> str:
    return (
        f"  {'clients':>7}{' -w' if capacity else ''} {'batch':>5} {'EoS->text p50':>13} "
        f"{'p90':>6} {'max':>6} "
        f"{'1st/last⅓':>11} {'miss':>5} {'WER':>6} {'label p50':>9} {'p99':>6} "
        f"{'RTF whisper':>11} {'diar':>6} {'det':>6} {'batch d/v':>9} {'stall v p99':>11} "
        f"{'max':>6} {'a p99':>6} {'CPU%':>5}" + ("  pass" if capacity else "")
    )


def _live_row(row: Sec, capacity: bool) -> list[str]:
    if "error" in row:
        return [f"  {row.get('clients'):>7} FAILED: {row['error']}"]
    tr, st = row["transcript"], row["stall"]
    third = f"{fmt(tr['latency_ms_first_third_p50'])}/{fmt(tr['latency_ms_last_third_p50'])}"
    batch = "/".join(fmt(_stage(row, k, "mean_batch")) for k in ("diarization", "detection"))
    verdict = ""
    if capacity:
        verdict = "  PASS" if row.get("pass") else "  FAIL " + "; ".join(row.get("why", []))
    workers = f" {row.get('workers', 1):>2}" if capacity else ""
    lines = [
        f"  {row['clients']:>7}{workers} {'on' if row['batching'] else 'off':>5} "
        f"{fmt(tr['latency_ms_p50']):>13} {fmt(tr['latency_ms_p90']):>6} "
        f"{fmt(tr['latency_ms_max']):>6} {third:>11} {tr['missed']:>2}/{tr['phrases']:<2} "
        f"{percent(tr['wer']):>6} {fmt(row['speaker_label_ms_p50']):>9} "
        f"{fmt(row['speaker_label_ms_p99']):>6} {fmt(_stage(row, 'transcription', 'rtf')):>11} "
        f"{fmt(_stage(row, 'diarization', 'rtf')):>6} {fmt(_stage(row, 'detection', 'rtf')):>6} "
        f"{batch:>9} {fmt(st['video_e2e_ms_p99']):>11} {fmt(st['video_e2e_ms_max']):>6} "
        f"{fmt(st['audio_e2e_ms_p99']):>6} {fmt(row['host_cpu_pct']):>5}{verdict}"
    ]
    if not capacity:
        lines.append(
            f"          audio {row['audio_delivered']}/{row['audio_sent']} delivered (filled "
            f"{row['audio_filled_chunks']}), video sent {row['video_sent']}, drops "
            f"{row['drops']}, speaker labels per client {tr['speaker_labels_per_client']}, "
            f"segmenter end - last word p50 {fmt(tr['utterance_end_after_last_word_ms_p50'])} "
            f"ms, segmenter end -> transcript p50 "
            f"{fmt(row['segmenter_end_to_transcript_ms_p50'])} ms, extra utterances "
            f"{tr['extra_utterances']}, telemetry diarization latency p50/p99 "
            f"{fmt(_stage(row, 'diarization', 'latency_ms_p50'))}/"
            f"{fmt(_stage(row, 'diarization', 'latency_ms_p99'))} ms, sender lag max "
            f"{fmt(row['sender_max_lag_s'])} s, machine busy {row['machine'].get('busy_pct')} %"
        )
    return lines


def _live_table(rows: list[Sec], *, capacity: bool = False) -> list[str]:
    lines = [_live_header(capacity)]
    for row in rows:
        lines += _live_row(row, capacity)
    return lines


def _models(sec: Sec, _all: dict[str, Sec]) -> list[str]:
    r = sec["rtf"]
    return [
        f"  {sec['audio']}; models loaded in {sec['load_s']} s",
        f"  RTF  VAD (Silero ONNX, per 100 ms chunk) {fmt(r['vad'])}   transcription "
        f"(faster-whisper tiny.en int8) {fmt(r['transcription'])}   diarization (resemblyzer "
        f"+ centroids, 1 client) {fmt(r['diarization'])}, 4 clients batched "
        f"{fmt(r['diarization_batch4_per_client'])} per client",
        f"       detection (HOG + Haar) {fmt(sec['detection_ms_per_frame_640x480'])} ms per "
        f"640x480 frame = {fmt(r['detection_at_video_fps'])} of a core per client at "
        f"{sec['video_fps']:g} fps",
    ]


def _live(sec: Sec, _all: dict[str, Sec]) -> list[str]:
    lines = _live_table(sec["levels"])
    b = sec.get("baseline_no_enrich", {})
    if "error" in b:
        lines.append(f"  baseline FAILED: {b['error']}")
    elif b:
        st = b["stall"]
        lines.append(
            f"  same {b['clients']} senders, enrichment off: stall video p99 "
            f"{fmt(st['video_e2e_ms_p99'])} / max {fmt(st['video_e2e_ms_max'])} ms, audio p99 "
            f"{fmt(st['audio_e2e_ms_p99'])} / max {fmt(st['audio_e2e_ms_max'])} ms, host CPU "
            f"{b['host_cpu_pct']} %"
        )
    return lines


def _whisperlive(sec: Sec, done: dict[str, Sec]) -> list[str]:
    lines = [
        f"  {sec['versions']}, model {sec['model_dir']}; {sec['setup']}; "
        f"warm-up {sec.get('warm_up_s')} s",
        f"  {'clients':>7} {'final p50':>9} {'p90':>6} {'max':>6} {'1st/last⅓':>11} "
        f"{'first p50':>9} {'p90':>6} {'never final':>11} {'WER':>6} {'server CPU%':>11}",
    ]
    for row in sec["levels"]:
        if "error" in row:
            lines.append(f"  {row['clients']:>7} FAILED: {row['error']} {row.get('log')}")
            continue
        third = f"{fmt(row['latency_ms_first_third_p50'])}/{fmt(row['latency_ms_last_third_p50'])}"
        lines.append(
            f"  {row['clients']:>7} {fmt(row['latency_ms_p50']):>9} "
            f"{fmt(row['latency_ms_p90']):>6} {fmt(row['latency_ms_max']):>6} {third:>11} "
            f"{fmt(row['first_hyp_latency_ms_p50']):>9} {fmt(row['first_hyp_latency_ms_p90']):>6} "
            f"{row['never_final']:>4}/{row['phrases']:<6} {percent(row['wer']):>6} "
            f"{fmt(row['server_cpu_pct']):>11}"
        )
    ours = {r["clients"]: r for r in done.get("live", {}).get("levels", []) if "transcript" in r}
    for row in sec["levels"]:
        o = ours.get(row["clients"])
        if o is None or "error" in row or not row.get("latency_ms_p50"):
            continue
        t = o["transcript"]
        lines.append(
            f"  {row['clients']} client(s): ours p50 {fmt(t['latency_ms_p50'])} ms / "
            f"WhisperLive final p50 {fmt(row['latency_ms_p50'])} ms = "
            f"{fmt(t['latency_ms_p50'] / row['latency_ms_p50'])}x; WER ours "
            f"{percent(t['wer'])} vs {percent(row['wer'])}"
        )
    return lines


def _where(sec: Sec, done: dict[str, Sec]) -> list[str]:
    """Where the time goes: the model stages' busy time in cores at the boundary levels,
    and the direct model timings (section 1) when they ran in the same invocation."""
    lines = [
        "  where the time goes (busy = wall time inside a stage's model calls per second of the "
        "run, so on a saturated box it includes waiting for a core; share = of all model-call "
        "time; host CPU = this process, senders apart):"
    ]
    for w in sec.get("where_time_goes", []):
        stages = ", ".join(
            f"{k} {fmt(v)} ({percent(w['stage_busy_share'][k])})"
            for k, v in w["stage_busy_per_s"].items()
        )
        lines.append(
            f"    -w {w['workers']} {w['clients']:>2} clients "
            f"{'PASS' if w['pass'] else 'FAIL'}: transcript p90 {fmt(w['transcript_p90_ms'])} "
            f"ms; busy {stages}; host CPU {fmt(w['host_cpu_cores'])} cores; machine busy "
            f"{w['machine_busy_pct']} % (of 100 x cores)"
        )
    models = done.get("models", {}).get("rtf")
    if models:
        lines.append(
            f"    direct timings (section 1), core-seconds per second of one client's audio: "
            f"transcription {fmt(models['transcription'])} (of speech), diarization "
            f"{fmt(models['diarization'])} ({fmt(models['diarization_batch4_per_client'])} "
            f"batched x4), VAD {fmt(models['vad'])}, detection "
            f"{fmt(models['detection_at_video_fps'])} at the camera's fps"
        )
    return lines


def _capacity(sec: Sec, done: dict[str, Sec]) -> list[str]:
    runs = ", ".join(
        f"{k}: {'/'.join('P' if v else 'F' for v in vs)}" for k, vs in sec["passes"].items()
    )
    seeded = ", ".join(
        f"{r['clients']}: {'P' if r['pass'] else 'F'}" for r in sec["seeded_from_live"]
    )
    return [
        *_live_table(sec["rows"], capacity=True),
        f"  pass = {sec['criteria']}",
        f"  runs per level (pass/fail): {runs}; live-section levels (batched): {seeded}",
        f"  largest passing level: batched {sec['largest_passing_batched']} clients, "
        f"unbatched {sec['largest_passing_unbatched']} clients (1 worker); "
        + ", ".join(
            f"-w {w}: {n} clients"
            for w, n in sec.get("largest_passing_by_workers", {}).items()
            if w != "1"
        )
        + " (batched)",
        *_where(sec, done),
    ]


def _replay(sec: Sec, _all: dict[str, Sec]) -> list[str]:
    run = sec["runs"][0]
    return [
        f"  {sec['capture']}: {run['audio_s']} s of audio in {run['seconds']} s = "
        f"{fmt(sec['x_realtime'])}x real time (median of {len(sec['runs'])}), "
        f"{fmt(sec['x_realtime_with_model_load'])}x counting the model load; "
        f"{run['enrichments']} enrichments (lines of frames.jsonl)"
    ]


def _accuracy(sec: Sec, _all: dict[str, Sec]) -> list[str]:
    lines = []
    for name, row in sec.items():
        if not isinstance(row, dict):
            continue
        comp = ", ".join(f"{k} {percent(v)}" for k, v in row["der_components"].items())
        lines.append(
            f"  {name:<16} {row['input']} ({row['duration_s']} s): DER {percent(row['der'])} "
            f"({comp}), WER {percent(row['wer'])}, cpWER {percent(row['cpwer'])}, speakers "
            f"{row['speakers_found']} found / {row['speakers_reference']} in reference"
        )
    return lines


TITLES = {
    "models": lambda _s: "[1 models] each model alone, timed around the call (median of repeats)",
    "live": lambda _s: (
        "[2 3 4 live] N clients speak espeak-ng phrases in real time (100 ms chunks, 1 fps "
        "640x480 camera each); EoS->text = PUB arrival of the utterance enrichment - send of "
        "the chunk holding the last word (ms); label = chunk completing a diarization window "
        "-> its result (ms); RTF = model busy / audio in the flow (detection: busy / video "
        "seconds); stall = streams.items arrival latency (tap - sender ts, ms) while the "
        "models run"
    ),
    "whisperlive": lambda _s: (
        "[8 WhisperLive] same tracks, same pace, websocket per client; final = segment "
        "marked completed, first = first hypothesis holding the phrase's last word"
    ),
    "capacity": lambda s: (
        f"[5 capacity] real-time clients ({s.get('phrases_per_client')} phrases each, camera "
        f"{s.get('video_fps')} fps), 1 worker with the diarization/detection batchers on and "
        f"off (batch_max=1), and -w 2 (batched)"
    ),
    "replay": lambda _s: "[6 replay] capture through the replay graph with the enrichment on",
    "accuracy": lambda _s: (
        "[7 accuracy] ambient_flow.cli.evaluate.evaluate, embedded models, collar 0.25 s"
    ),
}
BODIES = {
    "models": _models,
    "live": _live,
    "whisperlive": _whisperlive,
    "capacity": _capacity,
    "replay": _replay,
    "accuracy": _accuracy,
}
