"""Replay speed: a generated capture through the replay graph, next to reading it only."""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any

from bench.core.media import audio_pcm
from bench.core.procs import temp_dir
from bench.core.stats import median, rounded
from bench.core.wire import envelope
from bench.ingest.plan import Plan
from bench.ingest.throughput import payloads

__all__ = ["replay"]


def _make_capture(path: Path, minutes: float, jpgs: list[bytes]) -> dict[str, Any]:
    """1 client, 10 audio + 5 video (640x480) msgs/s, written with `CaptureWriter` directly."""
    from ambient_flow.capture.format import CaptureWriter
    from ambient_flow.protocol.messages import RawMessage

    pcm = audio_pcm()
    t0_ns = 1_760_000_000_000_000_000
    count = 0
    with CaptureWriter(path, {"tool": "bench", "clients": 1}) as cap:
        for k in range(int(minutes * 60 * 10)):
            at_ms = 100 * k
            ts = t0_ns // 1_000_000 + at_ms
            at_ns = t0_ns + at_ms * 1_000_000 + 5_000_000
            audio = envelope("audio", b"replay-1", k, ts, pcm, (0, 0))
            cap.write(RawMessage("audio", (audio,), at_ns, at_ns, "127.0.0.1", "fd10"))
            count += 1
            if k % 2 == 0:
                v = k // 2
                frame = envelope("video", b"replay-1", v, ts, jpgs[v % len(jpgs)], (640, 480))
                at_v = at_ns + 3_000_000
                cap.write(RawMessage("video", (frame,), at_v, at_v, "127.0.0.1", "fd11"))
                count += 1
    return {"records": count, "bytes": path.stat().st_size}


def replay(plan: Plan) -> dict[str, Any]:
    """`testing.harness.run_capture` timed as fast as possible; peer: `CaptureReader` alone."""
    from ambient_flow.capture.format import CaptureReader
    from ambient_flow.testing.harness import run_capture

    jpgs, _ = payloads("video")
    runs = []
    with temp_dir("af-bench-replay-") as tmp:
        cap = tmp / "one_client.zmqcap"
        made = _make_capture(cap, plan.replay_minutes, jpgs)
        real_s = plan.replay_minutes * 60
        for i in range(max(2, plan.repeats)):
            t = time.perf_counter()
            n_read = sum(1 for _ in CaptureReader(cap))
            read_s = time.perf_counter() - t
            t = time.perf_counter()
            out = run_capture(cap, tmp / f"data{i}")
            flow_s = time.perf_counter() - t
            runs.append(
                {
                    "flow_s": round(flow_s, 3),
                    "read_only_s": round(read_s, 3),
                    "items": len(out.items),
                    "records_read": n_read,
                    "audio": len(out.audio()),
                    "video": len(out.video()),
                }
            )
            del out
            shutil.rmtree(tmp / f"data{i}", ignore_errors=True)
    flow_s = median([r["flow_s"] for r in runs]) or 0.0
    read_s = median([r["read_only_s"] for r in runs]) or 0.0
    return {
        "capture": f"{plan.replay_minutes:g} min, 1 client, 10 audio + 5 video (640x480) msgs/s",
        **made,
        "flow_s": rounded(flow_s, 3),
        "x_realtime": rounded(real_s / flow_s, 1) if flow_s else None,
        "records_per_s": rounded(made["records"] / flow_s, 0) if flow_s else None,
        "read_only_s": rounded(read_s, 3),
        "ratio_flow_to_read_only": rounded(read_s / flow_s, 3) if flow_s else None,
        "runs": runs,
    }
