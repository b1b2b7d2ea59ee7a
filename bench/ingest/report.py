"""The readable lines of each ingest section (the frame is `bench.core.report`)."""

from __future__ import annotations

from typing import Any

from bench.core.report import fmt

__all__ = ["BODIES", "TITLES"]

Sec = dict[str, Any]


def _idle(sec: Sec, _all: dict[str, Sec]) -> list[str]:
    return [f"  host CPU {sec['host_cpu_pct']} % of one core over {sec['seconds']} s"]


def _throughput(sec: Sec, _all: dict[str, Sec]) -> list[str]:
    lines = [
        f"  {'case':<10} {'msg B':>7} {'flow msg/s':>11} {'flow MB/s':>10} "
        f"{'peer msg/s':>11} {'peer MB/s':>10} {'flow/peer':>9} {'host CPU%':>9} complete"
    ]
    for name, row in sec.items():
        if not isinstance(row, dict) or name == "audio_steady":
            continue
        lines.append(
            f"  {name:<10} {row['message_bytes']:>7} {fmt(row['flow_msgs_per_s']):>11} "
            f"{fmt(row['flow_MB_per_s']):>10} {fmt(row['peer_msgs_per_s']):>11} "
            f"{fmt(row['peer_MB_per_s']):>10} {fmt(row['ratio_flow_to_peer']):>9} "
            f"{fmt(row['flow_cpu_pct']):>9} {row['complete']}"
        )
        if "ratio_flow_to_same_work" in row:
            w2 = ""
            if "flow_w2_msgs_per_s" in row:
                w2 = (
                    f"; flow -w 2 {fmt(row['flow_w2_msgs_per_s'])} msg/s = "
                    f"{fmt(row['ratio_w2_to_same_work'])} of it"
                )
            lines.append(
                f"  {'':<10} {row['clients']} clients interleaved; same-work peer "
                f"{fmt(row['same_msgs_per_s'])} msg/s; flow/same-work = "
                f"{fmt(row['ratio_flow_to_same_work'])} (target >= 0.60){w2}"
            )
            lines += _steady(sec.get("audio_steady"))
    return lines


def _steady(steady: object) -> list[str]:
    if not isinstance(steady, dict):
        return []
    return [
        f"  {'':<10} long sessions, {steady['messages_per_client']} messages a client "
        f"({steady['count']:,} over {steady['clients']} clients): same-work peer "
        f"{fmt(steady['same_msgs_per_s'])} msg/s, flow {fmt(steady['flow_msgs_per_s'])} "
        f"msg/s; flow/same-work = {fmt(steady['ratio_flow_to_same_work'])} "
        f"(repeats {steady['ratios']}; target >= 0.60)"
    ]


def _imagezmq(sec: Sec, _all: dict[str, Sec]) -> list[str]:
    return [
        f"  JPEG {sec['jpeg_bytes']} B x {sec['count']}: imagezmq {fmt(sec['imagezmq_fps'])} "
        f"fps / {fmt(sec['imagezmq_MB_per_s'])} MB/s (lost by PUB/SUB: {sec['imagezmq_lost']}); "
        f"flow {fmt(sec['flow_fps'])} fps / {fmt(sec['flow_MB_per_s'])} MB/s; flow/imagezmq = "
        f"{fmt(sec['ratio_flow_to_imagezmq'])}"
    ]


def _latency(sec: Sec, _all: dict[str, Sec]) -> list[str]:
    lines = []
    for name in ("peer_pull", "zmq", "tcp"):
        row = sec[name]
        src = ""
        if name != "peer_pull":
            src = (
                f"source->flow p50 {fmt(row.get('source_to_flow_ms_p50'))} / p99 "
                f"{fmt(row.get('source_to_flow_ms_p99'))} ms, "
            )
        lines.append(
            f"  {name:<9} {src}e2e p50 {fmt(row['e2e_ms_p50'])} / p99 {fmt(row['e2e_ms_p99'])} "
            f"ms  ({', '.join(row['received/sent'])}; sender late vs ts p50 "
            f"{fmt(row.get('ts_offset_ms_p50'))} / p99 {fmt(row.get('ts_offset_ms_p99'))} ms)"
        )
    return lines


def _stall(sec: Sec, _all: dict[str, Sec]) -> list[str]:
    return [
        f"  {name:<14} ingest stall (tap - sender ts) p99 {fmt(row['stall_e2e_ms_p99'])} / max "
        f"{fmt(row['stall_e2e_ms_max'])} ms; tap - received_ns p99 "
        f"{fmt(row['after_arrival_ms_p99'])} / max {fmt(row['after_arrival_ms_max'])} ms; video "
        f"{row['video_at_tap']}/{row['video_sent']}; slow step finished "
        f"{row['slow_step_items_done_in_window']} items in the window"
        for name, row in sec.items()
        if isinstance(row, dict)
    ]


def _replay(sec: Sec, _all: dict[str, Sec]) -> list[str]:
    return [
        f"  {sec['capture']}: {sec['records']} records, {sec['bytes'] / 1e6:.1f} MB; flow "
        f"{sec['flow_s']} s = {fmt(sec['x_realtime'])}x real time ({fmt(sec['records_per_s'])} "
        f"records/s); read only {sec['read_only_s']} s (flow/read-only speed = "
        f"{fmt(sec['ratio_flow_to_read_only'])})"
    ]


def _client_rows(row: Sec) -> list[str]:
    if "error" in row:
        return [f"  {row['clients']:>7} FAILED: {row['error']}"]
    st, box = row["status"], row.get("machine", {})
    return [
        f"  {row['clients']:>7} {row['sender_procs']:>5} {row['audio_sent']:>10} "
        f"{row['audio_delivered']:>9} {row['audio_lost']:>5} "
        f"{row['video_delivered']:>5}/{row['video_sent']:<5} {fmt(row['host_cpu_pct']):>9} "
        f"{fmt(row['sender_cpu_pct']):>9} {fmt(row['sender_max_lag_s']):>6} "
        f"{fmt(row['audio_e2e_ms_p50']):>8} {fmt(row['audio_e2e_ms_p99']):>8} "
        f"{fmt(row['audio_e2e_ms_p99_2nd_half']):>8} {'PASS' if row['pass'] else 'FAIL'}"
        f"  {fmt(row.get('cpu_per_1000_clients_pct'))}"
        + ("" if row.get("sessions_written", True) else "  (no session sink)"),
        f"          status: audio.chunks_received={st['audio.chunks_received']} "
        f"video.frames_received={st['video.frames_received']} clients={st['client_count']} "
        f"drops={st['drops']} rejects={st['rejects']}; one status document: "
        f"{row['status_doc_ms']} ms, {row['status_doc_kB']} kB",
        f"          machine (% of one core, 200 = both): busy {box.get('busy_pct')}, other "
        f"processes {box.get('others_pct')}, steal {box.get('steal_pct')}, iowait "
        f"{box.get('iowait_pct')}",
    ]


def _clients(sec: Sec, _all: dict[str, Sec]) -> list[str]:
    lines = [
        f"  {'clients':>7} {'procs':>5} {'audio sent':>10} {'delivered':>9} {'lost':>5} "
        f"{'video':>11} {'host CPU%':>9} {'send CPU%':>9} {'lag s':>6} {'e2e p50':>8} "
        f"{'e2e p99':>8} {'p99 2nd½':>8} pass  CPU%/1000 clients"
    ]
    for row in sec["levels"]:
        lines += _client_rows(row)
    lines.append(
        f"  largest level with zero audio loss in real time: {sec['largest_passing']} clients "
        f"(first failing: {sec.get('first_failing') or 'none'}); pass = no audio lost, senders "
        "on schedule (lag < 1 s) and audio e2e p99 over the 2nd half < 500 ms"
    )
    return lines


def _scaleout(sec: Sec, _all: dict[str, Sec]) -> list[str]:
    lines = []
    for row in sec["blast"]:
        if "error" in row:
            lines.append(f"  blast   {row['mode']:<12} FAILED: {row['error']}")
            continue
        lines.append(
            f"  blast   {row['mode']:<12} {row['audio_received']}/{row['audio_sent']} audio, "
            f"{fmt(row['msgs_per_s'])} msg/s (x{fmt(row.get('ratio_to_1_process'))} of 1 "
            f"process), host CPU {fmt(row['host_cpu_pct'])} %"
        )
    for row in sec["clients"]:
        if "error" in row:
            lines.append(f"  clients {row['mode']:<12} FAILED: {row['error']}")
            continue
        lines.append(
            f"  clients {row['mode']:<12} {row['clients']} clients: audio "
            f"{row['audio_received']}/{row['audio_sent']}, video "
            f"{row['video_received']}/{row['video_sent']}, sender lag "
            f"{fmt(row['sender_max_lag_s'])} s, all counted {fmt(row['drain_s'])} s after the "
            f"last send, host CPU {fmt(row['host_cpu_pct'])} % "
            f"({fmt(row['cpu_per_1000_clients_pct'])} % per 1000 clients) "
            f"{'PASS' if row['pass'] else 'FAIL'}"
        )
    return lines


TITLES = {
    "idle": lambda _s: "[idle] live host, no traffic",
    "throughput": lambda _s: (
        "[1 throughput] blast N envelopes, first->last item at the ingest tap; "
        "peer = plain pyzmq PULL recv loop, same senders; same-work peer = a plain PULL loop "
        "that parses, sequences and writes each client's WAV (bench/ingest/peer.py)"
    ),
    "imagezmq": lambda _s: (
        "[6 imagezmq] same JPEGs, imagezmq PUB->ImageHub SUB vs our whole flow (video)"
    ),
    "latency": lambda s: (
        f"[3 latency] one client, audio at {s.get('rate_msgs_per_s')} msgs/s for "
        f"{s.get('seconds')} s, sent on whole ms; e2e = tap - sender ts, "
        "source->flow = tap - received_ns"
    ),
    "stall": lambda _s: (
        "[4 stall] 3 clients x (10 audio + 5 video msgs/s); a 300 ms step on "
        "streams.audio; latency of *video* items at streams.items"
    ),
    "replay": lambda _s: (
        "[5 replay] run_capture as fast as possible; peer = reading the capture only"
    ),
    "clients": lambda s: f"[2 clients] real-time clients, {s.get('rates')}, video {s.get('video')}",
    "clients_w2": lambda s: f"[2b clients -w 2] the same with two worker threads, {s.get('rates')}",
    "scaleout": lambda _s: (
        "[7 scale-out] the host as its own process(es), measured from outside (stats, /proc): "
        "1 process, -w 2, 2 processes (-i/-a on 127.0.0.1 and 127.0.0.2)"
    ),
}
BODIES = {
    "idle": _idle,
    "throughput": _throughput,
    "imagezmq": _imagezmq,
    "latency": _latency,
    "stall": _stall,
    "replay": _replay,
    "clients": _clients,
    "clients_w2": _clients,
    "scaleout": _scaleout,
}
