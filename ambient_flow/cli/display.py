"""What a person reads: the live line, the status page, the replay progress bar."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from typing import Any, TextIO

from ambient_flow.client.playback import PlaybackStats
from ambient_flow.protocol.constants import AUDIO_SAMPLE_RATE

__all__ = [
    "LiveLine",
    "ProgressBar",
    "counted_drops",
    "format_status",
    "gap_fill_seconds",
    "live_line",
    "playback_summary",
]


#: Drop reasons (the status document's `drops`) that count audio samples filled with
#: silence: the live line shows their sum as seconds of gap fill, not as drops.
GAP_FILL_PREFIX = "filled_samples_"
#: Drop reasons the live line leaves out of `drops`: repairs that lost nothing
#: (`*_reordered`), and the chunk count of gaps already shown as gap fill.
NOT_DROPS_SUFFIXES = ("reordered", "audio_gap_chunks")


def gap_fill_seconds(drops: dict[str, int]) -> float:
    """Seconds of silence filled in for missing audio (gaps, restarts, ...), all clients."""
    samples = sum(n for k, n in drops.items() if k.startswith(GAP_FILL_PREFIX))
    return samples / AUDIO_SAMPLE_RATE


def counted_drops(drops: dict[str, int]) -> int:
    """Messages or items lost or refused (not repairs, not gap fill)."""
    return sum(
        n
        for k, n in drops.items()
        if not k.startswith(GAP_FILL_PREFIX) and not k.endswith(NOT_DROPS_SUFFIXES)
    )


def live_line(prev: dict[str, Any] | None, cur: dict[str, Any]) -> str:
    """One line: `clients 3 (1 stale) | audio 30.0 chunks/s | video 15.0 fps | gap fill
    1.2 s | drops 2 | rejects 0 | latency p99 5 ms` (totals since start, rates since the
    last line)."""
    dt = max(1e-6, cur["time"] - prev["time"]) if prev else None
    audio = cur["audio"]["chunks_received"]
    video = cur["video"]["frames_received"]
    a_rate = (audio - prev["audio"]["chunks_received"]) / dt if prev and dt else 0.0
    v_rate = (video - prev["video"]["frames_received"]) / dt if prev and dt else 0.0
    drops = dict(cur.get("drops", {}))
    rejects = sum(cur.get("rejects", {}).values())
    p99s = [c.get("latency_ms_p99") for c in cur.get("clients", {}).values()]
    p99 = max((p for p in p99s if p is not None), default=None)
    stale = len(cur.get("stale_clients", []))
    open_ = sum(1 for c in cur.get("clients", {}).values() if c.get("open"))
    return (
        f"clients {open_}"
        + (f" ({stale} stale)" if stale else "")
        + f" | audio {a_rate:.1f} chunks/s | video {v_rate:.1f} fps"
        + f" | gap fill {gap_fill_seconds(drops):.1f} s | drops {counted_drops(drops)}"
        + f" | rejects {rejects}"
        + (f" | latency p99 {p99:.0f} ms" if p99 is not None else "")
    )


def playback_summary(path: str, stats: PlaybackStats, name: str | None = None) -> str:
    """`send --capture`'s last line: what went out, what did not, how long it took."""
    sent = ", ".join(f"{n} {channel}" for channel, n in stats.sent.items()) or "nothing"
    drops = sum(stats.drops.values())
    dropped = ", ".join(f"{n} {channel}" for channel, n in stats.drops.items())
    return (
        f"sent {path}{f' as {name}' if name else ''}: {stats.records} records ({sent}), "
        f"{stats.bytes / 1e6:.2f} MB in {stats.elapsed_s:.1f} s; "
        + (f"{drops} not delivered ({dropped})" if drops else "nothing lost")
        + (f"; {stats.problems} damaged stretches skipped" if stats.problems else "")
    )


def format_status(doc: dict[str, Any]) -> str:
    """The `stats` document as a page: totals, then one line per client."""
    a, v = doc["audio"], doc["video"]
    lines = [
        f"host {doc.get('host')} pid {doc.get('pid')}  up {doc.get('uptime_s', 0):.0f} s",
        f"audio  {a['chunks_received']} chunks  {a['bytes_received'] / 1e6:.1f} MB  "
        f"{a.get('samples', 0) / AUDIO_SAMPLE_RATE:.1f} s",
        f"video  {v['frames_received']} frames  {v['bytes_received'] / 1e6:.1f} MB",
        "rejects " + (", ".join(f"{k} {n}" for k, n in sorted(doc["rejects"].items())) or "none"),
        "drops   " + (", ".join(f"{k} {n}" for k, n in sorted(doc["drops"].items())) or "none"),
    ]
    if doc.get("tcp"):
        t = doc["tcp"]
        lines.append(f"tcp    {t.get('connections', 0)} open, {t.get('accepted', 0)} accepted")
    heard = doc.get("speech")
    if heard:
        lines.append(
            f"speech {heard['speech_s']:.1f} s of {heard['audio_s']:.1f} s the VAD judged "
            f"({100 * heard['share']:.0f} %)"
        )
    clients = doc.get("clients", {})
    lines.append(f"clients {len(clients)}")
    if clients:
        lines.append(
            f"  {'client':<24} {'state':<7} {'audio s':>8} {'speech s':>8} {'frames':>7} "
            f"{'p50 ms':>7} {'p99 ms':>7} {'gaps':>5} {'rejects':>7}"
        )
        for name, c in clients.items():
            counters = c.get("counters", {})
            state = "stale" if c.get("stale") else ("open" if c.get("open") else "closed")
            p50, p99 = c.get("latency_ms_p50"), c.get("latency_ms_p99")
            p50_text = "-" if p50 is None else f"{p50:.0f}"
            p99_text = "-" if p99 is None else f"{p99:.0f}"
            speech = c.get("speech")  # absent: no VAD ran (enrichment off)
            speech_text = "-" if not speech else f"{speech['speech_s']:.1f}"
            lines.append(
                f"  {name[:24]:<24} {state:<7} {c.get('audio_seconds', 0):>8.1f} "
                f"{speech_text:>8} {counters.get('video_frames', 0):>7} {p50_text:>7} "
                f"{p99_text:>7} {counters.get('audio_gaps', 0):>5} "
                f"{sum(c.get('rejects', {}).values()):>7}"
            )
    return "\n".join(lines)


class LiveLine:
    """Prints `live_line` every `interval` seconds from a thread until stopped."""

    def __init__(
        self, status: Callable[[], dict[str, Any]], interval: float = 5.0, out: TextIO = sys.stderr
    ) -> None:
        self._status = status
        self._interval = interval
        self._out = out
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="af-live-line", daemon=True)

    def start(self) -> LiveLine:
        self._thread.start()
        return self

    def _run(self) -> None:
        prev: dict[str, Any] | None = None
        while not self._stop.wait(self._interval):
            cur = self._status()
            print(time.strftime("%H:%M:%S ") + live_line(prev, cur), file=self._out, flush=True)
            prev = cur

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)


class ProgressBar:
    """A one-line progress bar for replays (`\\r`-redrawn on a terminal)."""

    def __init__(self, status: Callable[[], dict[str, Any]], out: TextIO = sys.stderr) -> None:
        self._status = status
        self._out = out
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="af-progress", daemon=True)
        self._started = time.monotonic()

    def start(self) -> ProgressBar:
        self._thread.start()
        return self

    def _draw(self, final: bool = False) -> None:
        replay = self._status().get("replay")
        if not replay:
            return
        size = max(1, replay["size"])
        frac = 1.0 if final and replay.get("done") else min(1.0, replay["offset"] / size)
        bar = "#" * int(frac * 30)
        elapsed = time.monotonic() - self._started
        line = f"\r[{bar:<30}] {frac * 100:5.1f}%  {replay['records']} records  {elapsed:.1f} s"
        end = "\n" if final else ""
        if self._out.isatty() or final:
            print(line, end=end, file=self._out, flush=True)

    def _run(self) -> None:
        while not self._stop.wait(0.2):
            self._draw()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self._draw(final=True)
