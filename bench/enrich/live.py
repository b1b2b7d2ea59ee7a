"""Live runs of our host: N clients speak in real time, the PUB stream is timed.

`live_run` is one level: a `BenchHost` with the enrichment on the loaded models, a
subscriber process on its PUB endpoint, and sender processes playing the clients'
tracks (plus a camera). The `live` section runs 1, 2 and 4 clients and the same
senders with the enrichment off; `capacity` climbs from there.
"""

from __future__ import annotations

import multiprocessing as mp
import socket
import time
from typing import Any

from ambient_flow.operators.model_stage import Diarized, Transcribed
from ambient_flow.protocol.messages import AudioChunk, VideoFrame
from bench.core.host import BenchHost, LatencyTap, Tap
from bench.core.procs import SenderGroup, temp_dir, wait_for
from bench.core.stats import MachineLoad, cpu_seconds, percentile, rounded
from bench.enrich import analysis
from bench.enrich import senders as es
from bench.enrich.context import Ctx, Plan, camera_frame
from bench.enrich.speech import Track

__all__ = ["live", "live_run", "passes", "stage_rows"]

Row = dict[str, Any]


class ResultTap:
    """Model results as they leave the model stage (worker thread; appends only)."""

    def __init__(self) -> None:
        self.diar: list[float] = []  # chunk completing the window arrived -> label, ms
        self.utt: list[float] = []  # segmenter closed the utterance -> transcript, ms

    def __call__(self, _step: str, kv: tuple[str, Any]) -> None:
        now = time.time_ns()
        result = kv[1]
        if isinstance(result, Diarized) and not result.item.last:
            # (a session's closing step labels nothing and is due only once it ended)
            self.diar.append((now - result.item.received_ns) / 1e6)
        elif isinstance(result, Transcribed):
            self.utt.append((now - result.item.ended_ns) / 1e6)


class EnrichmentListener:
    """`senders.enrichment_listener` in its own process: every PUB message with its arrival."""

    def __init__(self, endpoint: str, max_s: float = 600.0) -> None:
        ctx = mp.get_context("spawn")
        self._stop, self._out = ctx.Event(), ctx.Queue()
        self._proc = ctx.Process(
            target=es.enrichment_listener,
            args=(endpoint, self._stop, self._out, max_s),
            daemon=True,
        )

    def __enter__(self) -> EnrichmentListener:
        self._proc.start()
        self._out.get(timeout=30)  # ("ready",): subscribed
        return self

    def collect(self) -> list[tuple[int, dict[str, Any]]]:
        """Stop listening; what arrived (unix ns, header fields)."""
        self._stop.set()
        msg = self._out.get(timeout=30)
        return list(msg[1]) if msg[0] == "enrichments" else []

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._proc.join(10)
        if self._proc.is_alive():
            self._proc.terminate()
            self._proc.join(5)
        self._out.close()
        self._out.join_thread()


def _wait_bound(port: int, timeout: float = 10.0) -> None:
    """The PUB endpoint accepts connections (the graph builds its sink at start-up)."""

    def bound() -> bool:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
        except OSError:
            return False
        return True

    if not wait_for(bound, timeout, 0.1):
        raise RuntimeError(f"the PUB endpoint :{port} was not bound {timeout:g} s after start")


def stage_rows(status: dict[str, Any], video_s: float) -> dict[str, Any]:
    """`status()["stages"]` with the mean batch, and detection's RTF per second of video."""
    rows: dict[str, Any] = {}
    for name, st in status.get("stages", {}).items():
        row = dict(st)
        if st.get("calls"):
            batch = round(st["items"] / st["calls"], 2) if name != "transcription" else 1
            row["mean_batch"] = batch
        if name == "detection" and video_s:
            row["rtf"] = round(st["busy_s"] / video_s, 4)  # busy per second of video offered
        rows[name] = row
    return rows


def _send(
    host: BenchHost, tracks: list[Track], plan: Plan, video: bool = True
) -> tuple[SenderGroup, Row]:
    """Play the tracks (and a camera per client) in real time from up to 4 processes."""
    jpg, wh = camera_frame()
    procs = min(4, len(tracks))
    parts = [tracks[p::procs] for p in range(procs) if tracks[p::procs]]
    endpoints = (host.endpoint("audio"), host.endpoint("video"))
    fps = plan.video_fps if video else 0.0
    args = [
        (*endpoints, [(t.client, t.pcm, t.offset_s) for t in part], jpg, wh, fps) for part in parts
    ]
    longest = max(t.seconds + t.offset_s for t in tracks)
    with SenderGroup(es.speech_clients, args) as group:
        group.wait_ready(60)
        c0, t0, machine = cpu_seconds(), time.monotonic(), MachineLoad()
        group.start()
        group.wait_done(longest * 2 + 60)
        wall, cpu = time.monotonic() - t0, cpu_seconds() - c0
        load = {"seconds": wall, "cpu": cpu, "machine": machine.pct(wall, cpu)}
    return group, load


def _settle(host: BenchHost, results: ResultTap) -> None:
    """Let the models finish what is in flight: queue empty, no transcript for 1.5 s."""
    last = [len(results.utt), time.monotonic()]

    def settled() -> bool:
        if len(results.utt) != last[0]:
            last[0], last[1] = len(results.utt), time.monotonic()
        queued = host.runtime.telemetry.status()["queues"].get("models", 0)
        return queued == 0 and time.monotonic() - last[1] > 1.5

    wait_for(settled, 30.0, 0.2)
    time.sleep(0.3)


def live_run(
    ctx: Ctx,
    tracks: list[Track],
    *,
    batching: bool = True,
    enrich: bool = True,
    keep: bool = False,
    video: bool = True,
    workers: int = 1,
) -> Row:
    """Our live host on loopback; `len(tracks)` clients speak in real time (+ camera).

    Batching off = `batch_max=1`: every cross-client batcher of the model stage calls
    its model with one item. `keep`: the row also holds what was published (arrival ns,
    fields), the chunks' send times and the speaker-label latencies (ms), for callers
    that measure more. `video=False`: no camera. `workers`: Bytewax's `-w` (threads of
    this one process; the model stage is shared by them, as in `bytewax.run -w 2`).
    """
    plan = ctx.plan
    video_lat, audio_lat = LatencyTap((VideoFrame,)), LatencyTap((AudioChunk,))
    audio_tap, results = Tap(), ResultTap()
    published: list[tuple[int, dict[str, Any]]] = []
    overrides: dict[str, Any] = ctx.host_overrides | {"enrich": enrich}
    if not batching:
        overrides["batch_max"] = 1
    with temp_dir("af-bench-enrich-") as tmp:
        host = BenchHost(tmp, models=ctx.loaded if enrich else None, workers=workers, **overrides)
        host.tap("bench_items_video", host.streams.items, video_lat)
        host.tap("bench_items_audio", host.streams.items, audio_lat)
        host.tap("bench_audio", host.streams.audio, audio_tap)
        if host.graph.enrich is not None:
            host.tap("bench_results", host.graph.enrich.results, results)
        host.start()
        try:
            if enrich:
                _wait_bound(host.settings.pub_port)
                with EnrichmentListener(host.endpoint("pub")) as listener:
                    group, load = _send(host, tracks, plan, video)
                    wait_for(lambda: audio_tap.n >= _sent(group, "audio"), 10.0)
                    _settle(host, results)
                    published = listener.collect()
            else:
                group, load = _send(host, tracks, plan)
                wait_for(lambda: audio_tap.n >= _sent(group, "audio"), 10.0)
            status = host.runtime.telemetry.status()
        finally:
            host.stop()
    sent_a, sent_v = _sent(group, "audio"), _sent(group, "video")
    max_lag = max((r["max_lag_s"] for r in group.reports.values()), default=None)
    row: Row = {
        "clients": len(tracks),
        "workers": workers,
        "batching": batching,
        "enrich": enrich,
        "seconds": round(load["seconds"], 1),
        "speech_s_per_client": round(sum(t.speech_s for t in tracks) / len(tracks), 1),
        "audio_sent": sent_a,
        "audio_delivered": audio_tap.n,
        "audio_lost": sent_a - audio_tap.n,
        "audio_filled_chunks": audio_tap.filled,
        "video_sent": sent_v,
        "sender_max_lag_s": rounded(max_lag, 3),
        "host_cpu_pct": round(100 * load["cpu"] / load["seconds"], 1),
        "host_cpu_s": round(load["cpu"], 2),
        "machine": load["machine"],
        "stall": {
            **_stall("video", video_lat),
            **_stall("audio", audio_lat),
            "video_items": video_lat.n,
        },
        "drops": status["drops"],
        "sender_errors": group.errors,
    }
    sends = {n: c["sends_ns"] for r in group.reports.values() for n, c in r["clients"].items()}
    if keep:
        row |= {"published": published, "sends": sends, "label_ms": list(results.diar)}
    if enrich:
        video_s = sent_v / plan.video_fps if plan.video_fps else 0.0
        second_half = results.diar[len(results.diar) // 2 :]
        row |= {
            "transcript": analysis.ours(tracks, sends, published),
            "speaker_label_ms_p50": rounded(percentile(results.diar, 50), 0),
            "speaker_label_ms_p99": rounded(percentile(results.diar, 99), 0),
            "speaker_label_ms_p90_2nd_half": rounded(percentile(second_half, 90), 0),
            "segmenter_end_to_transcript_ms_p50": rounded(percentile(results.utt, 50), 0),
            "stages": stage_rows(status, video_s),
            "enrichments": len(published),
        }
        row["pass"], row["why"] = passes(row, plan)
    return row


def _sent(group: SenderGroup, kind: str) -> int:
    return sum(c[kind] for r in group.reports.values() for c in r["clients"].values())


def _stall(kind: str, tap: LatencyTap) -> dict[str, float | None]:
    """Arrival latency at `streams.items` (tap - sender ts), ms."""
    return {
        f"{kind}_e2e_ms_p50": rounded(percentile(tap.e2e_ms, 50), 1),
        f"{kind}_e2e_ms_p99": rounded(percentile(tap.e2e_ms, 99), 1),
        f"{kind}_e2e_ms_max": rounded(max(tap.e2e_ms), 1) if tap.e2e_ms else None,
    }


def passes(row: Row, plan: Plan) -> tuple[bool, list[str]]:
    """Real time sustained: no audio lost, latency bound held, models not falling behind."""
    why = []
    tr = row["transcript"]
    if row["audio_lost"] or row["audio_filled_chunks"] or row["sender_errors"]:
        why.append("audio lost")
    if (row["sender_max_lag_s"] or 0) > 1.0:
        why.append("senders off schedule")
    if tr["missed"] > 0.1 * tr["phrases"]:
        why.append(f"{tr['missed']}/{tr['phrases']} phrases without a transcript")
    p90 = tr["latency_ms_p90"]
    if p90 is None or p90 > plan.latency_bound_ms:
        why.append(f"transcript p90 {p90} ms > {plan.latency_bound_ms:g} ms")
    first, last = tr["latency_ms_first_third_p50"], tr["latency_ms_last_third_p50"]
    if first is not None and last is not None and last > first + 500:
        why.append(f"transcripts falling behind ({first} -> {last} ms)")
    if row["drops"].get("diarization_behind"):
        why.append("diarization windows dropped (behind)")
    lab = row["speaker_label_ms_p90_2nd_half"]
    if lab is not None and lab > 1500:
        why.append(f"speaker labels p90 {lab} ms in the 2nd half")
    return not why, why


def live(ctx: Ctx) -> dict[str, Any]:
    """1, 2, 4 clients: transcript latency, speaker labels, RTF in the flow, ingest stall."""
    levels: list[Row] = []
    for n in ctx.plan.levels:
        try:
            levels.append(live_run(ctx, ctx.tracks(n, ctx.plan.phrases)))
        except Exception as exc:  # a level that cannot run is reported; the others go on
            levels.append({"clients": n, "error": repr(exc)})
    ctx.live_rows = levels
    n = max(ctx.plan.levels)
    try:  # the same senders with the enrichment off: what ingest alone costs
        baseline = live_run(ctx, ctx.tracks(n, max(2, ctx.plan.phrases // 2)), enrich=False)
    except Exception as exc:  # reported like a failed level
        baseline = {"clients": n, "error": repr(exc)}
    return {"levels": levels, "baseline_no_enrich": baseline}
