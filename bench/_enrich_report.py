"""The readable report of an enrichment benchmark result (the JSON has every raw figure)."""

from __future__ import annotations

from typing import Any

__all__ = ["render"]


def _f(x: Any, unit: str = "") -> str:
    if x is None:
        return "n/a"
    if isinstance(x, float):
        return (
            f"{x:,.3f}{unit}"
            if abs(x) < 1
            else f"{x:,.2f}{unit}"
            if abs(x) < 100
            else f"{x:,.0f}{unit}"
        )
    return f"{x}{unit}"


def _pct(x: Any) -> str:
    return "n/a" if x is None else f"{100 * x:.1f} %"


def _err(lines: list[str], sec: dict[str, Any]) -> bool:
    if "error" in sec:
        lines.append(f"  FAILED: {sec['error']}")
        lines += ["    " + ln for ln in sec.get("traceback", "").splitlines()[-4:]]
        return True
    if "skipped" in sec:
        lines.append(f"  skipped: {sec['skipped']}")
        return True
    return False


def _stage(row: dict[str, Any], name: str, key: str) -> Any:
    return row.get("stages", {}).get(name, {}).get(key)


def _live_table(lines: list[str], rows: list[dict[str, Any]], *, capacity: bool = False) -> None:
    lines.append(
        f"  {'clients':>7} {'batch':>5} {'EoS->text p50':>13} {'p90':>6} {'max':>6} "
        f"{'1st/last⅓':>11} {'miss':>5} {'WER':>6} {'label p50':>9} {'p99':>6} "
        f"{'RTF whisper':>11} {'diar':>6} {'det':>6} {'batch d/v':>9} {'stall v p99':>11} "
        f"{'max':>6} {'a p99':>6} {'CPU%':>5}" + ("  pass" if capacity else "")
    )
    for row in rows:
        if "error" in row:
            lines.append(f"  {row.get('clients'):>7} FAILED: {row['error']}")
            continue
        tr = row["transcript"]
        st = row["stall"]
        third = f"{_f(tr['latency_ms_first_third_p50'])}/{_f(tr['latency_ms_last_third_p50'])}"
        d_batch, v_batch = (_stage(row, k, "mean_batch") for k in ("diarization", "detection"))
        batch = f"{_f(d_batch)}/{_f(v_batch)}"
        lines.append(
            f"  {row['clients']:>7} {'on' if row['batching'] else 'off':>5} "
            f"{_f(tr['latency_ms_p50']):>13} {_f(tr['latency_ms_p90']):>6} "
            f"{_f(tr['latency_ms_max']):>6} {third:>11} "
            f"{tr['missed']:>2}/{tr['phrases']:<2} {_pct(tr['wer']):>6} "
            f"{_f(row['speaker_label_ms_p50']):>9} {_f(row['speaker_label_ms_p99']):>6} "
            f"{_f(_stage(row, 'transcription', 'rtf')):>11} "
            f"{_f(_stage(row, 'diarization', 'rtf')):>6} {_f(_stage(row, 'detection', 'rtf')):>6} "
            f"{batch:>9} {_f(st['video_e2e_ms_p99']):>11} {_f(st['video_e2e_ms_max']):>6} "
            f"{_f(st['audio_e2e_ms_p99']):>6} {_f(row['host_cpu_pct']):>5}"
            + (
                f"  {'PASS' if row.get('pass') else 'FAIL ' + '; '.join(row.get('why', []))}"
                if capacity
                else ""
            )
        )
        if not capacity:
            lines.append(
                f"          audio {row['audio_delivered']}/{row['audio_sent']} delivered "
                f"(filled {row['audio_filled_chunks']}), video sent {row['video_sent']}, "
                f"drops {row['drops']}, speaker labels per client "
                f"{tr['speaker_labels_per_client']}, segmenter end - last word p50 "
                f"{_f(tr['utterance_end_after_last_word_ms_p50'])} ms, segmenter end -> "
                f"transcript p50 {_f(row['segmenter_end_to_transcript_ms_p50'])} ms, "
                f"extra utterances {tr['extra_utterances']}, telemetry diarization latency "
                f"p50/p99 {_f(_stage(row, 'diarization', 'latency_ms_p50'))}/"
                f"{_f(_stage(row, 'diarization', 'latency_ms_p99'))} ms, sender lag max "
                f"{_f(row['sender_max_lag_s'])} s, machine busy {row['machine'].get('busy_pct')} %"
            )


def render(result: dict[str, Any]) -> str:
    m = result["machine"]
    lines = [
        f"ambient-flow enrichment benchmark ({result['mode']}), {result['date']}",
        f"command: {result['command']}",
        f"machine: {m['cpus']} CPUs ({m['processor']}), {m['platform']}, Python {m['python']}",
        "note: senders, the host and the peer share these cores with whatever else runs;",
        "      the peer runs in the same session on the same audio; compare ratios.",
        "",
    ]
    s = result["sections"]
    if "models" in s:
        sec = s["models"]
        lines.append("[1 models] each model alone, timed around the call (median of repeats)")
        if not _err(lines, sec):
            r = sec["rtf"]
            lines.append(f"  {sec['audio']}; models loaded in {sec['load_s']} s")
            lines.append(
                f"  RTF  VAD (Silero ONNX, per 100 ms chunk) {_f(r['vad'])}   transcription "
                f"(faster-whisper tiny.en int8) {_f(r['transcription'])}   diarization "
                f"(resemblyzer + centroids, 1 client) {_f(r['diarization'])}, 4 clients "
                f"batched {_f(r['diarization_batch4_per_client'])} per client"
            )
            lines.append(
                f"       detection (HOG + Haar) {_f(sec['detection_ms_per_frame_640x480'])} ms "
                f"per 640x480 frame = {_f(r['detection_at_video_fps'])} of a core per client "
                f"at {sec['video_fps']:g} fps"
            )
        lines.append("")
    if "live" in s:
        sec = s["live"]
        lines.append(
            "[2 3 4 live] N clients speak espeak-ng phrases in real time (100 ms chunks, 1 fps "
            "640x480 camera each); EoS->text = PUB arrival of the utterance frame - send of "
            "the chunk holding the last word (ms); label = chunk completing a diarization "
            "window -> its result (ms); RTF = model busy / audio in the flow (detection: busy "
            "/ video seconds); stall = streams.items arrival latency (tap - sender ts, ms) "
            "while the models run"
        )
        if not _err(lines, sec):
            _live_table(lines, sec["levels"])
            b = sec.get("baseline_no_enrich", {})
            if "error" in b:
                lines.append(f"  baseline FAILED: {b['error']}")
            elif b:
                st = b["stall"]
                lines.append(
                    f"  same {b['clients']} senders, enrichment off: stall video p99 "
                    f"{_f(st['video_e2e_ms_p99'])} / max {_f(st['video_e2e_ms_max'])} ms, audio "
                    f"p99 {_f(st['audio_e2e_ms_p99'])} / max {_f(st['audio_e2e_ms_max'])} ms, "
                    f"host CPU {b['host_cpu_pct']} %"
                )
        lines.append("")
    if "whisperlive" in s:
        sec = s["whisperlive"]
        lines.append(
            "[8 WhisperLive] same tracks, same pace, websocket per client; final = segment "
            "marked completed, first = first hypothesis holding the phrase's last word"
        )
        if not _err(lines, sec):
            lines.append(
                f"  {sec['versions']}, model {sec['model_dir']}; {sec['setup']}; "
                f"warm-up {sec.get('warm_up_s')} s"
            )
            lines.append(
                f"  {'clients':>7} {'final p50':>9} {'p90':>6} {'max':>6} {'1st/last⅓':>11} "
                f"{'first p50':>9} {'p90':>6} {'never final':>11} {'WER':>6} {'server CPU%':>11}"
            )
            for row in sec["levels"]:
                if "error" in row:
                    lines.append(f"  {row['clients']:>7} FAILED: {row['error']} {row.get('log')}")
                    continue
                first, last = row["latency_ms_first_third_p50"], row["latency_ms_last_third_p50"]
                third = f"{_f(first)}/{_f(last)}"
                lines.append(
                    f"  {row['clients']:>7} {_f(row['latency_ms_p50']):>9} "
                    f"{_f(row['latency_ms_p90']):>6} {_f(row['latency_ms_max']):>6} {third:>11} "
                    f"{_f(row['first_hyp_latency_ms_p50']):>9} "
                    f"{_f(row['first_hyp_latency_ms_p90']):>6} "
                    f"{row['never_final']:>4}/{row['phrases']:<6} {_pct(row['wer']):>6} "
                    f"{_f(row['server_cpu_pct']):>11}"
                )
            ours = {
                r["clients"]: r for r in s.get("live", {}).get("levels", []) if "transcript" in r
            }
            for row in sec["levels"]:
                o = ours.get(row["clients"])
                if o is None or "error" in row or not row.get("latency_ms_p50"):
                    continue
                t = o["transcript"]
                lines.append(
                    f"  {row['clients']} client(s): ours p50 {_f(t['latency_ms_p50'])} ms / "
                    f"WhisperLive final p50 {_f(row['latency_ms_p50'])} ms = "
                    f"{_f(t['latency_ms_p50'] / row['latency_ms_p50'])}x; WER ours "
                    f"{_pct(t['wer'])} vs {_pct(row['wer'])}"
                )
        lines.append("")
    if "capacity" in s:
        sec = s["capacity"]
        lines.append(
            f"[5 capacity] real-time clients ({sec.get('phrases_per_client')} phrases each, "
            f"camera {sec.get('video_fps')} fps), diarization/detection batchers on and off "
            "(max_batch=1)"
        )
        if not _err(lines, sec):
            _live_table(lines, sec["rows"], capacity=True)
            lines.append(f"  pass = {sec['criteria']}")
            lines.append(
                "  runs per level (pass/fail): "
                + ", ".join(
                    f"{k}: {'/'.join('P' if v else 'F' for v in vs)}"
                    for k, vs in sec.get("passes", {}).items()
                )
                + "; live-section levels (batched): "
                + ", ".join(
                    f"{r['clients']}: {'P' if r['pass'] else 'F'}"
                    for r in sec.get("seeded_from_live", [])
                )
            )
            lines.append(
                f"  largest passing level: batched {sec['largest_passing_batched']} clients, "
                f"unbatched {sec['largest_passing_unbatched']} clients"
            )
        lines.append("")
    if "replay" in s:
        sec = s["replay"]
        lines.append("[6 replay] capture through the replay graph with the enrichment on")
        if not _err(lines, sec):
            run = sec["runs"][0]
            lines.append(
                f"  {sec['capture']}: {run['audio_s']} s of audio in {run['seconds']} s = "
                f"{_f(sec['x_realtime'])}x real time (median of {len(sec['runs'])}), "
                f"{_f(sec['x_realtime_with_model_load'])}x counting the model load; "
                f"{run['frames']} frames"
            )
        lines.append("")
    if "accuracy" in s:
        sec = s["accuracy"]
        lines.append(
            "[7 accuracy] ambient_flow.cli.evaluate.evaluate, embedded models, collar 0.25 s"
        )
        if not _err(lines, sec):
            for name, row in sec.items():
                if not isinstance(row, dict):
                    continue
                comp = ", ".join(f"{k} {_pct(v)}" for k, v in row["der_components"].items())
                lines.append(
                    f"  {name:<16} {row['input']} ({row['duration_s']} s): DER {_pct(row['der'])} "
                    f"({comp}), WER {_pct(row['wer'])}, cpWER {_pct(row['cpwer'])}, speakers "
                    f"{row['speakers_found']} found / {row['speakers_reference']} in reference"
                )
        lines.append("")
    lines.append(
        f"total {result['total_s']} s; per section: "
        + ", ".join(f"{k} {v.get('section_s')} s" for k, v in s.items())
    )
    return "\n".join(lines)
