"""The readable report of a benchmark result (the JSON has every raw run as well)."""

from __future__ import annotations

from typing import Any

__all__ = ["render"]


def _f(x: Any, unit: str = "") -> str:
    if x is None:
        return "n/a"
    if isinstance(x, float):
        return f"{x:,.2f}{unit}" if abs(x) < 100 else f"{x:,.0f}{unit}"
    return f"{x}{unit}"


def _err(lines: list[str], sec: dict[str, Any]) -> bool:
    if "error" in sec:
        lines.append(f"  FAILED: {sec['error']}")
        lines += ["    " + ln for ln in sec.get("traceback", "").splitlines()[-4:]]
        return True
    return False


def render(result: dict[str, Any]) -> str:
    m = result["machine"]
    lines = [
        f"ambient-flow ingest benchmark ({result['mode']}), {result['date']}",
        f"command: {result['command']}",
        f"machine: {m['cpus']} CPUs ({m['processor']}), {m['platform']}, Python {m['python']}",
        "note: senders, peers and the host share these cores; figures are medians of repeats,",
        "      ratios are against a peer measured in the same run.",
        "",
    ]
    s = result["sections"]
    if "idle" in s:
        sec = s["idle"]
        lines.append("[idle] live host, no traffic")
        if not _err(lines, sec):
            lines.append(f"  host CPU {sec['host_cpu_pct']} % of one core over {sec['seconds']} s")
        lines.append("")
    if "throughput" in s:
        sec = s["throughput"]
        lines.append(
            "[1 throughput] blast N envelopes, first->last item at the ingest tap; "
            "peer = plain pyzmq PULL recv loop, same senders"
        )
        if not _err(lines, sec):
            lines.append(
                f"  {'case':<10} {'msg B':>7} {'flow msg/s':>11} {'flow MB/s':>10} "
                f"{'peer msg/s':>11} {'peer MB/s':>10} {'flow/peer':>9} "
                f"{'host CPU%':>9} complete"
            )
            for name, row in sec.items():
                if not isinstance(row, dict):
                    continue
                lines.append(
                    f"  {name:<10} {row['message_bytes']:>7} {_f(row['flow_msgs_per_s']):>11} "
                    f"{_f(row['flow_MB_per_s']):>10} {_f(row['peer_msgs_per_s']):>11} "
                    f"{_f(row['peer_MB_per_s']):>10} {_f(row['ratio_flow_to_peer']):>9} "
                    f"{_f(row['flow_cpu_pct']):>9} {row['complete']}"
                )
        lines.append("")
    if "imagezmq" in s:
        sec = s["imagezmq"]
        lines.append(
            "[6 imagezmq] same JPEGs, imagezmq PUB->ImageHub SUB vs our whole flow (video)"
        )
        if not _err(lines, sec):
            lines.append(
                f"  JPEG {sec['jpeg_bytes']} B x {sec['count']}: imagezmq "
                f"{_f(sec['imagezmq_fps'])} fps / {_f(sec['imagezmq_MB_per_s'])} MB/s "
                f"(lost by PUB/SUB: {sec['imagezmq_lost']}); flow {_f(sec['flow_fps'])} "
                f"fps / {_f(sec['flow_MB_per_s'])} MB/s; flow/imagezmq = "
                f"{_f(sec['ratio_flow_to_imagezmq'])}"
            )
        lines.append("")
    if "latency" in s:
        sec = s["latency"]
        lines.append(
            f"[3 latency] one client, audio at {sec.get('rate_msgs_per_s')} msgs/s for "
            f"{sec.get('seconds')} s, sent on whole ms; e2e = tap - sender ts, "
            "source->flow = tap - received_ns"
        )
        if not _err(lines, sec):
            for name in ("peer_pull", "zmq", "tcp"):
                row = sec[name]
                src = (
                    (
                        f"source->flow p50 {_f(row.get('source_to_flow_ms_p50'))} / p99 "
                        f"{_f(row.get('source_to_flow_ms_p99'))} ms, "
                    )
                    if name != "peer_pull"
                    else ""
                )
                lines.append(
                    f"  {name:<9} {src}e2e p50 {_f(row['e2e_ms_p50'])} / p99 "
                    f"{_f(row['e2e_ms_p99'])} ms  ({', '.join(row['received/sent'])}; sender "
                    f"late vs ts p50 {_f(row.get('ts_offset_ms_p50'))} / p99 "
                    f"{_f(row.get('ts_offset_ms_p99'))} ms)"
                )
        lines.append("")
    if "stall" in s:
        sec = s["stall"]
        lines.append(
            "[4 stall] 3 clients x (10 audio + 5 video msgs/s); a 300 ms step on "
            "streams.audio; latency of *video* items at streams.items"
        )
        if not _err(lines, sec):
            for name, row in sec.items():
                if not isinstance(row, dict):
                    continue
                lines.append(
                    f"  {name:<14} ingest stall (tap - sender ts) p99 "
                    f"{_f(row['stall_e2e_ms_p99'])} / max {_f(row['stall_e2e_ms_max'])} "
                    f"ms; tap - received_ns p99 {_f(row['after_arrival_ms_p99'])} / max "
                    f"{_f(row['after_arrival_ms_max'])} ms; video {row['video_at_tap']}/"
                    f"{row['video_sent']}; slow step finished "
                    f"{row['slow_step_items_done_in_window']} items in the window"
                )
        lines.append("")
    if "replay" in s:
        sec = s["replay"]
        lines.append("[5 replay] run_capture as fast as possible; peer = reading the capture only")
        if not _err(lines, sec):
            lines.append(
                f"  {sec['capture']}: {sec['records']} records, {sec['bytes'] / 1e6:.1f} MB;"
                f" flow {sec['flow_s']} s = {_f(sec['x_realtime'])}x real time "
                f"({_f(sec['records_per_s'])} records/s); read only {sec['read_only_s']} s "
                f"(flow/read-only speed = {_f(sec['ratio_flow_to_read_only'])})"
            )
        lines.append("")
    if "clients" in s:
        sec = s["clients"]
        lines.append(f"[2 clients] real-time clients, {sec.get('rates')}, video {sec.get('video')}")
        if not _err(lines, sec):
            lines.append(
                f"  {'clients':>7} {'procs':>5} {'audio sent':>10} {'delivered':>9} "
                f"{'lost':>5} {'video':>11} {'host CPU%':>9} {'send CPU%':>9} "
                f"{'lag s':>6} {'e2e p50':>8} {'e2e p99':>8} {'p99 2nd½':>8} pass"
            )
            for row in sec["levels"]:
                if "error" in row:
                    lines.append(f"  {row['clients']:>7} FAILED: {row['error']}")
                    continue
                lines.append(
                    f"  {row['clients']:>7} {row['sender_procs']:>5} {row['audio_sent']:>10} "
                    f"{row['audio_delivered']:>9} {row['audio_lost']:>5} "
                    f"{row['video_delivered']:>5}/{row['video_sent']:<5} "
                    f"{_f(row['host_cpu_pct']):>9} {_f(row['sender_cpu_pct']):>9} "
                    f"{_f(row['sender_max_lag_s']):>6} {_f(row['audio_e2e_ms_p50']):>8} "
                    f"{_f(row['audio_e2e_ms_p99']):>8} {_f(row['audio_e2e_ms_p99_2nd_half']):>8} "
                    f"{'PASS' if row['pass'] else 'FAIL'}"
                    + ("" if row.get("sessions_written", True) else "  (no session sink)")
                )
                st = row["status"]
                lines.append(
                    f"          status: audio.chunks_received={st['audio.chunks_received']}"
                    f" video.frames_received={st['video.frames_received']} clients="
                    f"{st['client_count']} drops={st['drops']} rejects={st['rejects']}; "
                    f"one status document: {row['status_doc_ms']} ms, "
                    f"{row['status_doc_kB']} kB"
                )
                box = row.get("machine", {})
                lines.append(
                    f"          machine (% of one core, 200 = both): busy {box.get('busy_pct')},"
                    f" other processes {box.get('others_pct')}, steal {box.get('steal_pct')},"
                    f" iowait {box.get('iowait_pct')}"
                )
            failing = sec.get("first_failing") or "none"
            lines.append(
                f"  largest level with zero audio loss in real time: "
                f"{sec['largest_passing']} clients (first failing: {failing}); "
                "pass = no audio lost, senders on schedule (lag < 1 s) and audio e2e p99 "
                "over the 2nd half < 500 ms"
            )
        lines.append("")
    lines.append(
        f"total {result['total_s']} s; per section: "
        + ", ".join(f"{k} {v.get('section_s')} s" for k, v in s.items())
    )
    return "\n".join(lines)
