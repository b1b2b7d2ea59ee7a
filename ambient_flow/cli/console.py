"""What is heard, as it is heard: one line per enrichment, for `live` and `listen`.

`frame_line` turns an enrichment (the `frames.jsonl` line and its client) into what a
person reads — `12:01:03 selestia speaker1: did the build finish?`. `TranscriptPrinter`
prints the final transcripts of `ambient-flow live` from its own thread: the flow's
worker only hands each enrichment to a bounded queue and never waits for the terminal;
when the terminal cannot keep up, lines are dropped, counted, and the count is printed.
"""

from __future__ import annotations

import contextlib
import queue
import sys
import threading
from datetime import datetime
from typing import Any, TextIO

from ambient_flow.operators.attribution import Enrichment

__all__ = ["TranscriptPrinter", "clock_time", "frame_line"]


def clock_time(iso: object) -> str:
    """`HH:MM:SS` in local time of an ISO 8601 time (`?` when it is not one)."""
    if not isinstance(iso, str):
        return "--:--:--"
    try:
        return datetime.fromisoformat(iso).astimezone().strftime("%H:%M:%S")
    except ValueError:
        return "--:--:--"


def frame_line(client: str, frame: dict[str, Any]) -> str:
    """One enrichment as a line: the time its audio arrived, the client, what happened.

    - `utterance`: `12:01:03 kitchen speaker1: did the build finish?` (`?` for a speaker
      not known: diarization dropped behind, live, or found no voice)
    - `speaker_change`: `12:01:05 kitchen speaker change: speaker2`
    - `speaker_relabel`: `12:01:07 kitchen relabel: speaker0 -> speaker2 (3.1-5.0 s)` (with
      the detail merged in; without it, `relabel: speaker2`)
    - `detections`: `12:01:06 kitchen in view: 2 person, face` (`nothing` when empty)
    """
    when = clock_time(frame.get("created_at"))
    kind = frame.get("event_type")
    speaker = frame.get("speaker_prediction") or "?"
    if kind == "utterance":
        return f"{when} {client} {speaker}: {frame.get('text_hypothesis') or ''}".rstrip()
    if kind == "speaker_change":
        return f"{when} {client} speaker change: {speaker}"
    if kind == "speaker_relabel":
        old, start, end = frame.get("old"), frame.get("start_sample"), frame.get("end_sample")
        if old is None or not isinstance(start, int) or not isinstance(end, int):
            return f"{when} {client} relabel: {speaker}"
        offset = frame.get("sample_position", start) - frame.get("timestamp", 0.0) * 16000
        a, b = (start - offset) / 16000, (end - offset) / 16000
        return f"{when} {client} relabel: {old} -> {speaker} ({a:.1f}-{b:.1f} s)"
    if kind == "detections":
        context = frame.get("visual_context") or {}
        found = context.get("detections") if isinstance(context, dict) else None
        names = [str(d.get("class")) for d in found or [] if isinstance(d, dict)]
        counts = {name: names.count(name) for name in dict.fromkeys(names)}
        seen = ", ".join(name if n == 1 else f"{n} {name}" for name, n in counts.items())
        return f"{when} {client} in view: {seen or 'nothing'}"
    return f"{when} {client} {kind}"


class TranscriptPrinter:
    """Prints each final transcript (an `utterance` enrichment with text) as it happens.

    `offer` is called on a Bytewax worker thread: it never blocks and never formats,
    it only puts the (immutable) enrichment on a bounded queue; a full queue drops the
    line and counts it (`dropped`). A printer thread writes the lines, and after a
    stretch of drops says how many it missed.

    Args:
        out: Where the lines go (stdout: the live line and logs are on stderr).
        capacity: Lines waiting for the terminal at most.
    """

    def __init__(self, out: TextIO = sys.stdout, capacity: int = 1000) -> None:
        if capacity < 1:
            raise ValueError(f"capacity={capacity} must be >= 1")
        self._out = out
        self._queue: queue.Queue[Enrichment | None] = queue.Queue(capacity)
        self._thread = threading.Thread(target=self._run, name="af-transcripts", daemon=True)
        self.dropped = 0
        self.write_errors = 0
        self.printed = 0
        self._reported = 0

    def start(self) -> TranscriptPrinter:
        self._thread.start()
        return self

    def offer(self, enrichment: Enrichment) -> None:
        """Queue `enrichment` if it is a transcript; never blocks (a full queue drops it)."""
        if enrichment.event_type != "utterance" or not enrichment.text_hypothesis:
            return
        try:
            self._queue.put_nowait(enrichment)
        except queue.Full:
            self.dropped += 1

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                break
            self._write(frame_line(item.client, item.upstream_record()))
            self.printed += 1
            missed = self.dropped - self._reported
            if missed and self._queue.empty():
                self._reported += missed
                self._write(f"({missed} transcripts not shown: the console was too slow)")

    def _write(self, line: str) -> None:
        try:
            print(line, file=self._out, flush=True)
        except (OSError, ValueError):  # a closed or broken terminal: count, keep going
            self.write_errors += 1

    def stop(self, timeout: float = 5.0) -> None:
        """Print what is queued (up to `timeout`), then end the thread."""
        if not self._thread.is_alive():
            return
        with contextlib.suppress(queue.Full):  # still full after `timeout`: give up waiting
            self._queue.put(None, timeout=timeout)
        self._thread.join(timeout)
        missed = self.dropped - self._reported
        if missed and not self._thread.is_alive():
            self._reported += missed
            self._write(f"({missed} transcripts not shown: the console was too slow)")
