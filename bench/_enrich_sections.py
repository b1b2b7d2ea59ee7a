"""Sections of the enrichment benchmark. Each returns a JSON-able dict; the runner catches
failures and goes on.

The models are loaded once (`Ctx`) and shared by every live host, replay and direct
timing, exactly as one host process shares them between its clients; each live host
gets its own micro-batchers and transcription pool (made by `build_enrichment`).
"""

from __future__ import annotations

import dataclasses
import json
import os
import queue
import subprocess
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from bench import _enrich_analysis as ana
from bench import _enrich_senders as es
from bench._enrich_speech import SR, Track, build_tracks
from bench._host import BenchHost, LatencyTap, Tap
from bench._media import camera_jpegs
from bench._procs import SenderGroup
from bench._sections import _cpu_s, _Machine, _med, _pct, _r, _TmpDir, _wait

__all__ = ["SECTIONS", "Ctx", "Plan"]

ROOT = Path(__file__).resolve().parent.parent
WL_VENV = ROOT / ".venv-wl"
WL_PACKAGE = "whisper-live==0.10.0"


@dataclass(frozen=True)
class Plan:
    """Sizes of one run (the default takes about 8 minutes, `quick` about 3)."""

    phrases: int = 6  # per client in the 1/2/4-client latency runs (~30 s of audio)
    levels: tuple[int, ...] = (1, 2, 4)
    capacity_levels: tuple[int, ...] = (6, 8, 12)
    capacity_phrases: int = 4
    video_fps: float = 1.0  # camera frames per client per second (640x480 JPEG)
    repeats: int = 3  # direct model timings
    replay_repeats: int = 2
    capacity_repeat: bool = True  # re-run the level where batching on/off disagree
    wl_final_wait_s: float = 15.0
    #: A level passes when transcript latency p90 stays under this (and see `_passes`).
    latency_bound_ms: float = 2500.0

    @classmethod
    def quick(cls) -> Plan:
        return cls(
            phrases=3,
            capacity_levels=(6,),
            capacity_phrases=3,
            repeats=1,
            replay_repeats=1,
            capacity_repeat=False,
            wl_final_wait_s=10.0,
        )


@dataclass
class Ctx:
    plan: Plan
    models: Any = None
    load_s: float = 0.0
    speech_cache: dict[Any, Any] = field(default_factory=dict)
    wl_venv: Path = WL_VENV
    live_rows: list[dict[str, Any]] = field(default_factory=list)

    def tracks(self, n: int, phrases: int) -> list[Track]:
        return build_tracks(n, phrases, cache=self.speech_cache)

    def load(self) -> None:
        from ambient_flow.backends.registry import build_models
        from ambient_flow.config import Settings

        t = time.perf_counter()
        self.models = build_models(Settings(enrich=True, data_dir=str(_scratch())))
        self.load_s = time.perf_counter() - t
        self._warm()

    def _warm(self) -> None:
        """First calls allocate (Whisper, resemblyzer, OpenCV): not what a run measures."""
        from ambient_flow.models.diarization import StepRequest

        audio = np.frombuffer(self.tracks(1, 1)[0].pcm, "<i2").astype(np.float32) / 32768.0
        self.models.transcriber.transcribe(audio, offset_s=0.0)
        self.models.diarizer.step_many(
            [StepRequest(self.models.diarizer.new_stream(), audio[: 5 * SR], 0, None)]
        )
        img = np.zeros((480, 640, 3), np.uint8)
        if self.models.detector is not None:
            self.models.detector.detect([img])


def _scratch() -> Path:
    path = Path(os.environ.get("TMPDIR", "/tmp")) / "af-bench-enrich"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _jpeg() -> tuple[bytes, tuple[int, int]]:
    return camera_jpegs(640, 480, count=1)[0], (640, 480)


# -- 1. direct model timings ---------------------------------------------------------------
def models(ctx: Ctx) -> dict[str, Any]:
    """Each model alone on real speech / camera frames, timed around the call."""
    import cv2

    from ambient_flow.models.diarization import StepRequest

    m = ctx.models
    track = ctx.tracks(1, ctx.plan.phrases)[0]
    audio = np.frombuffer(track.pcm, "<i2").astype(np.float32) / 32768.0
    seconds = audio.shape[0] / SR
    runs: dict[str, list[float]] = {
        "vad": [],
        "transcription": [],
        "diarization": [],
        "diarization_x4": [],
        "detection_ms": [],
    }
    fs = m.vad.block_samples
    frames = audio[: audio.shape[0] // fs * fs].reshape(-1, fs)
    phrases = [
        audio[max(0, p.start_sample - 4800) : p.last_voiced_sample + 4800] for p in track.phrases
    ]
    speech_s = sum(p.shape[0] for p in phrases) / SR
    window, step = 5 * SR, SR // 2
    ends = list(range(window, audio.shape[0] + 1, step))
    img = cv2.imdecode(np.frombuffer(_jpeg()[0], np.uint8), cv2.IMREAD_COLOR)
    m.transcriber.transcribe(phrases[0], offset_s=0.0)  # warm-up (first call allocates)
    m.detector.detect([img])
    warm = m.diarizer.new_stream()
    m.diarizer.step_many([StepRequest(warm, audio[:window], 0, None)])
    for _ in range(ctx.plan.repeats):
        st = m.vad.new_stream()
        t = time.perf_counter()
        for i in range(0, frames.shape[0], 3):  # the flow asks per 100 ms chunk: ~3 frames
            st.probabilities(frames[i : i + 3])
        runs["vad"].append((time.perf_counter() - t) / seconds)
        t = time.perf_counter()
        for p in phrases:
            m.transcriber.transcribe(p, offset_s=0.0)
        runs["transcription"].append((time.perf_counter() - t) / speech_s)
        for batch, key in ((1, "diarization"), (4, "diarization_x4")):
            streams = [m.diarizer.new_stream() for _ in range(batch)]
            t = time.perf_counter()
            for end in ends:
                w = audio[end - window : end]
                m.diarizer.step_many([StepRequest(s, w, end - window, None) for s in streams])
            runs[key].append((time.perf_counter() - t) / (len(ends) * 0.5 * batch))
        t = time.perf_counter()
        for _ in range(10):
            m.detector.detect([img])
        runs["detection_ms"].append((time.perf_counter() - t) / 10 * 1e3)
    det_ms = _med(list(runs["detection_ms"])) or 0.0
    return {
        "load_s": round(ctx.load_s, 2),
        "audio": f"{seconds:.1f} s espeak-ng track ({speech_s:.1f} s in phrases, 0.3 s margins)",
        "rtf": {
            "vad": _r(_med(list(runs["vad"])), 4),
            "transcription": _r(_med(list(runs["transcription"])), 4),
            "diarization": _r(_med(list(runs["diarization"])), 4),
            "diarization_batch4_per_client": _r(_med(list(runs["diarization_x4"])), 4),
            "detection_at_video_fps": _r(det_ms * ctx.plan.video_fps / 1e3, 4),
        },
        "detection_ms_per_frame_640x480": _r(det_ms, 1),
        "video_fps": ctx.plan.video_fps,
        "models": ctx.models.identities(),
        "runs": runs,
    }


# -- live runs: our host --------------------------------------------------------------------
class _DoneTap:
    """Model results as they leave the model stage (worker thread; appends only)."""

    def __init__(self) -> None:
        self.diar: list[tuple[int, float]] = []  # (now ns, chunk arrival -> label ms)
        self.utt: list[tuple[int, float]] = []  # (now ns, segmenter end -> transcript ms)

    def __call__(self, _step: str, kv: tuple[str, Any]) -> None:
        from ambient_flow.operators.speech import DiarizationWindow, UtteranceAudio

        now = time.time_ns()
        item = kv[1].item
        if kv[0] == PRIMER:
            return
        if isinstance(item, DiarizationWindow):
            self.diar.append((now, (now - item.received_ns) / 1e6))
        elif isinstance(item, UtteranceAudio):
            self.utt.append((now, (now - item.ended_ns) / 1e6))


PRIMER = "bench-primer"


def _measured(tap: Any) -> Any:
    """The tap, for every client but the primer."""

    def inspect(step: str, kv: tuple[str, Any]) -> None:
        if kv[0] != PRIMER:
            tap(step, kv)

    return inspect


def _prime(ctx: Ctx, host: BenchHost) -> dict[str, Any]:
    """One spoken phrase from an extra client, before anything is measured.

    The PUB socket of `FramePublisher` is bound when its sink partition is built, and
    Bytewax builds it when the first frame reaches it: a subscriber that connected
    earlier misses the first frames while it reconnects. The primer's frames open the
    socket; its model work is subtracted from the stage figures (returned baseline).
    """
    import socket

    import zmq

    from bench._senders import envelope

    phrase = ctx.tracks(1, 1)[0].pcm
    zctx = zmq.Context()
    sock = zctx.socket(zmq.PUSH)
    sock.setsockopt(zmq.LINGER, 2000)
    sock.connect(host.endpoint("audio"))
    ts = time.time_ns() // 1_000_000
    for k in range(len(phrase) // 3200):
        sock.send(
            envelope(
                "audio", PRIMER.encode(), k, ts + 100 * k, phrase[k * 3200 : (k + 1) * 3200], (0, 0)
            )
        )
    sock.close()
    zctx.term()
    port = host.settings.pub_port
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.1)
    else:
        raise RuntimeError("the PUB endpoint was not bound 30 s after the primer's speech")
    queues = host.runtime.telemetry.status
    _wait(lambda: queues()["queues"].get("models", 0) == 0, 10.0, 0.1)
    time.sleep(0.3)
    return queues()


def _minus(status: dict[str, Any], base: dict[str, Any]) -> dict[str, Any]:
    """Stage counters of `status` less those already in `base` (the primer's)."""
    out = dict(status)
    stages = {}
    for name, st in status.get("stages", {}).items():
        b = base.get("stages", {}).get(name, {})
        row = dict(st)
        for k in ("items", "calls", "audio_s", "busy_s"):
            row[k] = round(st.get(k, 0) - b.get(k, 0), 3)
        row["rtf"] = round(row["busy_s"] / row["audio_s"], 4) if row["audio_s"] else None
        stages[name] = row
    out["stages"] = stages
    return out


def _split(tracks: list[Track], procs: int) -> list[list[Track]]:
    return [tracks[p::procs] for p in range(procs) if tracks[p::procs]]


def _stage_rows(status: dict[str, Any], video_s: float) -> dict[str, Any]:
    rows: dict[str, Any] = {}
    for name, st in status.get("stages", {}).items():
        row = dict(st)
        if st.get("calls"):
            row["mean_batch"] = (
                round(st["items"] / st["calls"], 2) if name != "transcription" else 1
            )
        if name == "detection" and video_s:
            row["rtf"] = round(st["busy_s"] / video_s, 4)  # busy per second of video offered
        rows[name] = row
    return rows


def live_run(
    ctx: Ctx, tracks: list[Track], *, batching: bool = True, enrich: bool = True
) -> dict[str, Any]:
    """Our live host on loopback; `len(tracks)` clients speak in real time (+ camera)."""
    import multiprocessing as mp

    from ambient_flow.graph import build_enrichment
    from ambient_flow.protocol.messages import AudioChunk, VideoFrame

    plan = ctx.plan
    holder: dict[str, Any] = {}

    def extend(streams: Any, runtime: Any) -> None:
        if enrich:
            holder["enrich"] = build_enrichment(runtime, streams, ctx.models)

    video_lat, audio_lat = LatencyTap((VideoFrame,)), LatencyTap((AudioChunk,))
    audio_tap, done = Tap(), _DoneTap()
    jpg, wh = _jpeg()
    mctx = mp.get_context("spawn")
    stop, frames_q = mctx.Event(), mctx.Queue()
    listener: Any = None
    base: dict[str, Any] = {}
    frames: list[tuple[int, dict[str, Any]]] = []
    with _TmpDir("af-bench-enrich-") as tmp:
        # batching off: every cross-client batcher of the model stage calls with one item
        overrides: dict[str, Any] = {} if batching else {"batch_max": 1}
        host = BenchHost(tmp, extend=extend, **overrides)
        host.tap("bench_items_video", host.streams.items, _measured(video_lat))
        host.tap("bench_items_audio", host.streams.items, _measured(audio_lat))
        host.tap("bench_audio", host.streams.audio, _measured(audio_tap))
        if enrich:
            host.tap("bench_done", holder["enrich"].results, done)
        host.start()
        try:
            if enrich:
                base = _prime(ctx, host)  # binds the PUB socket (built at its first frame)
                proc = mctx.Process(
                    target=es.frames_listener,
                    args=(f"tcp://127.0.0.1:{host.settings.pub_port}", stop, frames_q, 600.0),
                    daemon=True,
                )
                proc.start()
                listener = proc
                frames_q.get(timeout=30)  # ("ready",)
            procs = min(4, len(tracks))
            args = [
                (
                    host.endpoint("audio"),
                    host.endpoint("video"),
                    [(t.client, t.pcm, t.offset_s) for t in part],
                    jpg,
                    wh,
                    plan.video_fps,
                )
                for part in _split(tracks, procs)
            ]
            longest = max(t.seconds + t.offset_s for t in tracks)
            with SenderGroup(es.speech_clients, args) as group:
                group.wait_ready(60)
                c0, t0, machine = _cpu_s(), time.monotonic(), _Machine()
                group.start()
                group.wait_done(longest * 2 + 60)
                wall = time.monotonic() - t0
                cpu = _cpu_s() - c0
                box = machine.pct(wall, cpu)
            sent_a = sum(c["audio"] for r in group.reports.values() for c in r["clients"].values())
            sent_v = sum(c["video"] for r in group.reports.values() for c in r["clients"].values())
            _wait(lambda: audio_tap.n >= sent_a, 10.0)
            if enrich:  # let the models finish what is in flight
                last = [len(done.utt), time.monotonic()]

                def settled() -> bool:
                    if len(done.utt) != last[0]:
                        last[0], last[1] = len(done.utt), time.monotonic()
                    q = host.runtime.telemetry.status()["queues"].get("models", 0)
                    return q == 0 and time.monotonic() - last[1] > 1.5

                _wait(settled, 30.0, 0.2)
                time.sleep(0.3)
                stop.set()
                msg = frames_q.get(timeout=30)
                frames = msg[1] if msg[0] == "frames" else []
            status = host.runtime.telemetry.status()
        finally:
            stop.set()
            host.stop()
            if listener is not None:
                listener.join(10)
                if listener.is_alive():
                    listener.terminate()
            frames_q.close()
            frames_q.join_thread()
    sends = {n: c["sends_ns"] for r in group.reports.values() for n, c in r["clients"].items()}
    max_lag = max((r["max_lag_s"] for r in group.reports.values()), default=None)
    row: dict[str, Any] = {
        "clients": len(tracks),
        "batching": batching,
        "enrich": enrich,
        "seconds": round(wall, 1),
        "speech_s_per_client": round(sum(t.speech_s for t in tracks) / len(tracks), 1),
        "audio_sent": sent_a,
        "audio_delivered": audio_tap.n,
        "audio_lost": sent_a - audio_tap.n,
        "audio_filled_chunks": audio_tap.filled,
        "video_sent": sent_v,
        "sender_max_lag_s": _r(max_lag, 3),
        "host_cpu_pct": round(100 * cpu / wall, 1),
        "machine": box,
        "stall": {
            "video_e2e_ms_p50": _r(_pct(video_lat.e2e_ms, 50), 1),
            "video_e2e_ms_p99": _r(_pct(video_lat.e2e_ms, 99), 1),
            "video_e2e_ms_max": _r(max(video_lat.e2e_ms), 1) if video_lat.e2e_ms else None,
            "audio_e2e_ms_p50": _r(_pct(audio_lat.e2e_ms, 50), 1),
            "audio_e2e_ms_p99": _r(_pct(audio_lat.e2e_ms, 99), 1),
            "audio_e2e_ms_max": _r(max(audio_lat.e2e_ms), 1) if audio_lat.e2e_ms else None,
            "video_items": video_lat.n,
        },
        "drops": status["drops"],
        "sender_errors": group.errors,
    }
    if enrich:
        video_s = sent_v / plan.video_fps if plan.video_fps else 0.0
        diar = [ms for _, ms in done.diar]
        half = len(diar) // 2
        row.update(
            {
                "transcript": ana.ours(tracks, sends, frames),
                "speaker_label_ms_p50": _r(_pct(diar, 50), 0),
                "speaker_label_ms_p99": _r(_pct(diar, 99), 0),
                "speaker_label_ms_p90_2nd_half": _r(_pct(diar[half:], 90), 0),
                "segmenter_end_to_transcript_ms_p50": _r(_pct([ms for _, ms in done.utt], 50), 0),
                "stages": _stage_rows(_minus(status, base), video_s),
                "frames": len(frames),
            }
        )
        row["pass"], row["why"] = _passes(row, plan)
    return row


def _passes(row: dict[str, Any], plan: Plan) -> tuple[bool, list[str]]:
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
    levels = []
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


# -- 5. capacity ---------------------------------------------------------------------------
def capacity(ctx: Ctx) -> dict[str, Any]:
    """Most real-time clients that pass, with the batchers on and off (max_batch=1)."""
    plan = ctx.plan
    rows: list[dict[str, Any]] = []
    tally: dict[tuple[int, bool], list[bool]] = {}  # (clients, batching) -> pass per run

    def run(n: int, batching: bool) -> bool:
        try:
            row = live_run(ctx, ctx.tracks(n, plan.capacity_phrases), batching=batching)
        except Exception as exc:  # a level that cannot run fails
            row = {"clients": n, "batching": batching, "pass": False, "error": repr(exc)}
        rows.append(row)
        tally.setdefault((n, batching), []).append(bool(row.get("pass")))
        return bool(row.get("pass"))

    best: dict[bool, int] = {True: 0, False: 0}
    # the live section's levels (batched, same criteria) are the first rungs of the ladder
    seeded = [r for r in ctx.live_rows if "pass" in r and r.get("batching")]
    for r in sorted(seeded, key=lambda r: int(r["clients"])):
        if not r["pass"]:
            break
        best[True] = int(r["clients"])
    ladder = sorted({*(int(r["clients"]) for r in seeded), *plan.capacity_levels})
    if best[True] == max((int(r["clients"]) for r in seeded), default=0):
        for n in [n for n in ladder if n > best[True]]:
            if not run(n, True):
                break
            best[True] = n
    # batching off: the largest batched level, then one rung up (if it passes) or down
    start = best[True] or ladder[0]
    i = ladder.index(start)
    if run(start, False):
        best[False] = start
        if i + 1 < len(ladder) and run(ladder[i + 1], False):
            best[False] = ladder[i + 1]
    elif i > 0 and run(ladder[i - 1], False):
        best[False] = ladder[i - 1]
    # where the two modes disagree, run that level once more in both modes (the box is
    # noisy): a mode keeps a level only if every run of it passed
    if plan.capacity_repeat and best[True] != best[False]:
        top = max(best.values())
        for batching in (False, True):
            run(top, batching)
        for batching in (True, False):
            if best[batching] == top and not all(tally[(top, batching)]):
                lower = [n for n in ladder if n < top and all(tally.get((n, batching), [True]))]
                best[batching] = max(lower, default=0)
    return {
        "criteria": (
            f"no audio lost, senders on schedule, >= 90 % of phrases transcribed, transcript "
            f"p90 <= {plan.latency_bound_ms:g} ms, last-third median <= first-third + 500 ms, "
            "no diarization window dropped, speaker-label p90 (2nd half) <= 1500 ms"
        ),
        "phrases_per_client": plan.capacity_phrases,
        "video_fps": plan.video_fps,
        "seeded_from_live": [
            {"clients": r["clients"], "pass": r["pass"], "why": r["why"]} for r in seeded
        ],
        "rows": rows,
        "passes": {f"{n} {'on' if b else 'off'}": v for (n, b), v in sorted(tally.items())},
        "largest_passing_batched": best[True],
        "largest_passing_unbatched": best[False],
    }


# -- 8. WhisperLive ------------------------------------------------------------------------
def setup_peer(venv: Path = WL_VENV) -> int:
    """Create WhisperLive's own virtual environment (its pins differ from ours)."""
    py = Path(sys.base_prefix) / "bin" / "python3"
    print(f"creating {venv} with {py}; pip install {WL_PACKAGE} (about 8 GB, 2-3 min)")
    print("PyAudio (a WhisperLive dependency) builds from source: needs portaudio19-dev")
    subprocess.run([str(py), "-m", "venv", str(venv)], check=True)
    (venv / ".gitignore").write_text("*\n")  # never committed, whatever the repo ignores
    subprocess.run([str(venv / "bin" / "pip"), "install", "-q", WL_PACKAGE], check=True)
    out = subprocess.run(
        [
            str(venv / "bin" / "python"),
            "-c",
            "import whisper_live.server, faster_whisper; print(faster_whisper.__version__)",
        ],
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    print(f"ok: whisper_live imports (faster_whisper {out.stdout.strip()})")
    return 0


class _WlServer:
    """WhisperLive's server in its venv, on 127.0.0.1, with our model directory."""

    def __init__(self, venv: Path, model_dir: str, cache: Path) -> None:
        from ambient_flow.testing.harness import free_port

        self.port = free_port()
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "PYTHONPATH": ""}
        self.proc = subprocess.Popen(
            [
                str(venv / "bin" / "python"),
                str(ROOT / "bench" / "_enrich_wl_server.py"),
                "--port",
                str(self.port),
                "--model",
                model_dir,
                "--threads",
                "2",
                "--cache",
                str(cache),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
        )
        self.log: deque[str] = deque(maxlen=60)
        self._ready: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        try:
            line = self._ready.get(timeout=90)
        except queue.Empty:
            line = "no READY within 90 s"
        if not line.startswith("READY"):
            self.stop()
            raise RuntimeError(f"WhisperLive server: {line}; log: {list(self.log)[-8:]}")

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.log.append(line.rstrip())
            if line.startswith(("READY", "ERROR")):
                self._ready.put(line.strip())
        self._ready.put("exited")

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def cpu_s(self) -> float:
        import psutil

        t = psutil.Process(self.proc.pid).cpu_times()
        return float(t.user + t.system)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


def _wl_warm(url: str) -> float:
    """Open one connection so the server loads its model before anything is timed."""
    import websocket

    t = time.perf_counter()
    ws = websocket.create_connection(url, timeout=60)
    try:
        ws.send(es._wl_options("warm-up"))
        while json.loads(ws.recv()).get("message") != "SERVER_READY":
            pass
        ws.send_binary(np.zeros(16000, np.float32).tobytes())
        ws.send_binary(b"END_OF_AUDIO")
    finally:
        ws.close()
    return time.perf_counter() - t


def whisperlive(ctx: Ctx) -> dict[str, Any]:
    """WhisperLive (faster_whisper backend, VAD on, our tiny.en directory), 1/2/4 clients."""
    from ambient_flow.backends.whisper_ct2 import embedded_model_path

    venv = ctx.wl_venv
    if not (venv / "bin" / "python").exists():
        return {"skipped": f"no {venv}: run `python -m bench.enrich --setup-peer` first"}
    version = subprocess.run(
        [
            str(venv / "bin" / "python"),
            "-c",
            "import importlib.metadata as m; print(m.version('whisper-live'), "
            "m.version('faster-whisper'), m.version('torch'))",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    model_dir = str(embedded_model_path())
    out: dict[str, Any] = {
        "versions": dict(zip(("whisper-live", "faster-whisper", "torch"), version, strict=False)),
        "model_dir": model_dir,
        "setup": "single_model=True (upstream run_server default), OMP_NUM_THREADS=2, "
        "use_vad=True, same_output_threshold=10, float32 100 ms frames",
        "levels": [],
    }
    with _TmpDir("af-bench-wl-") as tmp:
        server = _WlServer(venv, model_dir, tmp)
        try:
            out["warm_up_s"] = round(_wl_warm(server.url), 2)
            for n in ctx.plan.levels:
                tracks = ctx.tracks(n, ctx.plan.phrases)
                args = [
                    (server.url, [(t.client, t.pcm, t.offset_s)], ctx.plan.wl_final_wait_s)
                    for t in tracks
                ]
                try:
                    with SenderGroup(es.wl_clients, args) as group:
                        group.wait_ready(120)
                        c0, t0 = server.cpu_s(), time.monotonic()
                        group.start()
                        longest = max(t.seconds + t.offset_s for t in tracks)
                        group.wait_done(longest * 2 + ctx.plan.wl_final_wait_s + 60)
                        wall, cpu = time.monotonic() - t0, server.cpu_s() - c0
                    if group.errors:
                        raise RuntimeError("; ".join(group.errors))
                    reports = {
                        n_: c for r in group.reports.values() for n_, c in r["clients"].items()
                    }
                    row = {"clients": n, **ana.whisperlive(tracks, reports)}
                    row["server_cpu_pct"] = round(100 * cpu / wall, 1)
                    row["sender_max_lag_s"] = _r(
                        max(r["max_lag_s"] for r in group.reports.values()), 3
                    )
                except Exception as exc:  # one level failing does not hide the others
                    row = {"clients": n, "error": repr(exc), "log": list(server.log)[-6:]}
                out["levels"].append(row)
        finally:
            server.stop()
    return out


# -- 6. replay -----------------------------------------------------------------------------
def replay(ctx: Ctx) -> dict[str, Any]:
    """recordings/sample.zmqcap through the replay graph with the enrichment, models loaded."""
    from bytewax.dataflow import Dataflow

    from ambient_flow.config import Settings
    from ambient_flow.graph import build_enrichment, build_ingest, replay_settings
    from ambient_flow.runtime import HostRuntime, run_dataflow
    from ambient_flow.sources import ReplaySource

    cap = ROOT / "recordings" / "sample.zmqcap"
    runs = []
    for i in range(ctx.plan.replay_repeats):
        with _TmpDir("af-bench-replay-") as tmp:
            settings = dataclasses.replace(
                replay_settings(cap, Settings(), str(tmp / "data")), enrich=True
            )
            runtime = HostRuntime(settings=settings, replay=True)
            flow = Dataflow(f"bench_replay_{i}")
            streams = build_ingest(flow, runtime, {"capture_in": ReplaySource(runtime, cap)})
            build_enrichment(runtime, streams, ctx.models)
            t = time.perf_counter()
            try:
                run_dataflow(flow)
            finally:
                runtime.close()
            elapsed = time.perf_counter() - t
            doc = runtime.telemetry.status()
            frames = sum(
                1 for f in (tmp / "data").rglob("frames.jsonl") for _ in f.read_text().splitlines()
            )
        audio_s = doc["audio"]["samples"] / SR
        runs.append(
            {
                "seconds": round(elapsed, 2),
                "audio_s": round(audio_s, 1),
                "x_realtime": round(audio_s / elapsed, 2),
                "frames": frames,
                "stages": _stage_rows(doc, 0.0),
            }
        )
    seconds = _med([r["seconds"] for r in runs]) or 0.0
    return {
        "capture": str(cap.relative_to(ROOT)),
        "x_realtime": _r(_med([r["x_realtime"] for r in runs]), 2),
        "x_realtime_with_model_load": _r(runs[0]["audio_s"] / (seconds + ctx.load_s), 2),
        "runs": runs,
    }


# -- 7. accuracy -----------------------------------------------------------------------------
def accuracy(ctx: Ctx) -> dict[str, Any]:
    """`ambient_flow.cli.evaluate.evaluate` on pyannote's sample and on ours."""
    import pyannote.audio

    from ambient_flow.cli.evaluate import evaluate

    sample = Path(pyannote.audio.__file__).parent / "sample"
    out: dict[str, Any] = {}
    cases = {
        "pyannote_sample": (sample / "sample.wav", sample / "sample.rttm", None),
        "our_sample": (
            ROOT / "recordings" / "sample.zmqcap",
            ROOT / "recordings" / "sample.rttm",
            ROOT / "recordings" / "sample.txt",
        ),
    }
    for name, (inp, rttm, txt) in cases.items():
        res = evaluate(inp, rttm=rttm, transcript=txt)
        out[name] = {
            "input": str(inp.relative_to(ROOT)) if inp.is_relative_to(ROOT) else inp.name,
            "duration_s": round(res.duration_s, 1),
            "der": _r(res.der, 4),
            "der_components": {k: round(v, 4) for k, v in res.der_components.items()},
            "wer": _r(res.wer, 4),
            "cpwer": _r(res.cpwer, 4),
            "speakers_found": res.speakers_hypothesis,
            "speakers_reference": res.speakers_reference,
            "utterances": res.utterances,
            "processing_s_incl_model_load": round(res.processing_s, 1),
        }
    return out


SECTIONS = {
    "models": models,
    "live": live,
    "whisperlive": whisperlive,
    "capacity": capacity,
    "replay": replay,
    "accuracy": accuracy,
}
