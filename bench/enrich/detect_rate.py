"""Two clients with 5 fps cameras, live: detection of every frame against `--detect-fps 1`.

    python -m bench.enrich.detect_rate      # ~3 minutes: 2 runs of each, alternated

`hello` offers clients 5 fps and the default detector costs ~150–250 ms of CPU a 640x480
frame. One line per run: transcript latency, speaker-label p99, detection items, busy
seconds and skipped frames, drops, how busy the machine was, WER (a script, not a test;
see bench/README.md).
"""

from __future__ import annotations

from pathlib import Path

from bench.enrich.context import Ctx, Plan
from bench.enrich.live import live_run

CLIENTS = 2
PHRASES = 6


def main() -> None:
    base = Ctx(Plan(video_fps=5.0), wl_venv=Path(".venv-wl")).load()
    for _repeat in range(2):
        for fps in (0.0, 1.0):
            ctx = Ctx(base.plan, base.wl_venv, models=base.models, speech_cache=base.speech_cache)
            ctx.host_overrides["detect_fps"] = fps
            row = live_run(ctx, ctx.tracks(CLIENTS, PHRASES))
            det, tr = row["stages"].get("detection", {}), row["transcript"]
            print(
                f"--detect-fps {fps:g}: transcript p50/p90 {tr.get('latency_ms_p50')}/"
                f"{tr.get('latency_ms_p90')} ms, label p99 {row.get('speaker_label_ms_p99')} ms, "
                f"detection {det.get('items')} frames {det.get('busy_s')} s busy "
                f"{det.get('skipped')} skipped, drops {row['drops']}, machine "
                f"{row.get('machine', {}).get('busy_pct')} % busy, WER {tr.get('wer')}",
                flush=True,
            )


if __name__ == "__main__":
    main()
