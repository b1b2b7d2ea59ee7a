"""Counters and status of one host process: what `stats`, `status.json` and /metrics show.

One `Telemetry` per process (made by the flow's `HostRuntime`, never a module
global). Bytewax workers are threads of that process, so updates take a lock.
Per-client figures are not Prometheus labels (two thousand clients would make two
thousand series per metric); they live in the status document's `clients` section.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, ProcessCollector

from ambient_flow.metric_buffer import Flushed, MessageCounts

__all__ = ["ClientSection", "RateLimitedLog", "Telemetry"]

ClientSection = Mapping[str, Any] | Callable[[], dict[str, Any]]

#: Sections of clients that ended (bye, end of input) kept in the status document.
MAX_CLOSED_CLIENTS = 256
_LATENCY_BUCKETS = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0)


class RateLimitedLog:
    """Log at most one line per key per `interval` seconds, saying how many were held back.

    Bad input can arrive thousands of times a second; the log must stay readable. Keys
    often name a client or a sending host, which a hostile network can make up without
    end: keys quiet for longer than `interval` are forgotten whenever more than
    `max_keys` (and twice as many as after the last pruning) are known, so memory stays
    bounded by the keys of the last `interval` seconds.
    """

    def __init__(
        self,
        logger: logging.Logger,
        interval: float = 5.0,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = 4096,
    ) -> None:
        self._logger = logger
        self._interval = interval
        self._clock = clock
        self._last: dict[str, float] = {}
        self._held: dict[str, int] = {}
        self._lock = threading.Lock()
        self._max_keys = max_keys
        self._prune_at = max_keys

    def log(self, level: int, key: str, msg: str, *args: object) -> None:
        now = self._clock()
        with self._lock:
            if now - self._last.get(key, -1e18) < self._interval:
                self._held[key] = self._held.get(key, 0) + 1
                return
            held = self._held.pop(key, 0)
            self._last[key] = now
            if len(self._last) > self._prune_at:
                self._prune(now)
        suffix = f" (+{held} more like this in the last {self._interval:g} s)" if held else ""
        self._logger.log(level, msg + suffix, *args)

    def _prune(self, now: float) -> None:
        """Forget keys quiet for a whole interval (what they held back goes unsaid)."""
        quiet = [k for k, t in self._last.items() if now - t >= self._interval]
        for k in quiet:
            del self._last[k]
            self._held.pop(k, None)
        self._prune_at = max(self._max_keys, 2 * len(self._last))  # amortized: O(1) a call

    def __len__(self) -> int:
        """Keys remembered (for tests and the curious)."""
        return len(self._last)


class Telemetry:
    """Thread-safe counters, a per-client table, and the Prometheus registry behind them."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        # process_resident_memory_bytes, process_open_fds, CPU seconds: what a soak watches.
        ProcessCollector(registry=self.registry)
        self.started_at = time.time()
        self._lock = threading.Lock()
        self._totals: dict[str, dict[str, Any]] = {
            "audio": {
                "chunks_received": 0,
                "bytes_received": 0,
                "last_ts": None,
                "samples": 0,
                "gap_samples": 0,
                # Silence inserted for audio that never arrived, and gaps left unfilled
                # (caps): padding, not drops.
                "gap_fill_seconds": 0.0,
                "gap_unfilled_seconds": 0.0,
            },
            "video": {"frames_received": 0, "bytes_received": 0, "last_ts": None},
            "control": {"requests": 0},
        }
        self._raw: dict[str, int] = {}
        self._parsed: dict[str, int] = {}
        self._rejects: dict[str, int] = {}
        self._drops: dict[str, int] = {}
        self._queues: dict[str, int] = {}
        self._clients: dict[str, ClientSection] = {}
        self._sections_for_counts: tuple[float, dict[str, dict[str, Any]]] = (-1e9, {})
        self._last_seen: dict[str, Callable[[], int]] = {}
        self._client_events: dict[str, int] = {"restart": 0, "evicted": 0, "refused": 0}
        self._extra: dict[str, ClientSection] = {}
        self._speech: dict[str, list[float]] = {}  # client -> [audio s, speech s]
        self._speech_total = [0.0, 0.0]

        r = self.registry
        self.m_raw = Counter(
            "ambient_raw_messages", "Raw messages received", ["channel"], registry=r
        )
        self.m_raw_bytes = Counter(
            "ambient_raw_bytes", "Raw bytes received", ["channel"], registry=r
        )
        # Audio and video messages are counted in bulk (`metric_buffer`): these three
        # are registered so that a read applies what is pending first.
        self.m_messages = Flushed(
            Counter("ambient_messages", "Valid messages", ["type"], registry=None),
            self.flush_metrics,
        ).register(r)
        self.m_bytes = Flushed(
            Counter("ambient_payload_bytes", "Valid payload bytes", ["type"], registry=None),
            self.flush_metrics,
        ).register(r)
        self.m_rejects = Counter(
            "ambient_rejects", "Rejected messages", ["reason", "channel"], registry=r
        )
        self.m_drops = Counter("ambient_drops", "Dropped or repaired data", ["reason"], registry=r)
        self.m_gap_fill = Counter(
            "ambient_gap_fill_seconds", "Silence inserted for audio that never arrived", registry=r
        )
        self.m_gap_unfilled = Counter(
            "ambient_gap_unfilled_seconds",
            "Audio gaps left unfilled (per-gap cap, per-minute budget)",
            registry=r,
        )
        self.m_latency = Flushed(
            Histogram(
                "ambient_arrival_latency_seconds",
                "Arrival time minus the client's ts",
                ["type"],
                buckets=_LATENCY_BUCKETS,
                registry=None,
            ),
            self.flush_metrics,
        ).register(r)
        self.m_clients = Gauge("ambient_clients", "Clients with an open session", registry=r)
        self.m_stale = Gauge("ambient_stale_clients", "Clients gone quiet", registry=r)
        # Read when scraped, so the gauges are as fresh as the scrape.
        self.m_clients.set_function(lambda: self._count_clients("open"))
        self.m_stale.set_function(lambda: self._count_clients("stale"))
        self.m_tcp = Gauge("ambient_tcp_connections", "Open raw-TCP connections", registry=r)
        self.m_stage_latency = Histogram(
            "ambient_stage_latency_seconds",
            "Model stage: from the data being ready to its result (speaker label, transcript, "
            "detections)",
            ["stage"],
            buckets=(0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0),
            registry=r,
        )
        self.m_stage_audio = Counter(
            "ambient_stage_audio_seconds", "Audio a model stage processed", ["stage"], registry=r
        )
        self.m_stage_busy = Counter(
            "ambient_stage_busy_seconds", "Time a model stage's calls took", ["stage"], registry=r
        )
        self.m_stage_skipped = Counter(
            "ambient_stage_skipped",
            "Items a model stage was not given by design (video frames over --detect-fps)",
            ["stage"],
            registry=r,
        )
        self.m_vad = Counter(
            "ambient_vad_audio_seconds",
            "Audio the VAD judged, by verdict (speech or not)",
            ["verdict"],
            registry=r,
        )
        self._vad_children = (self.m_vad.labels("speech"), self.m_vad.labels("not_speech"))
        self._stages: dict[str, dict[str, Any]] = {}
        # Labelled children resolved once (`.labels()` on every message cost ~12 % of a
        # worker in the throughput benchmark), updated in bulk (`flush_metrics`).
        self._audio_metrics = MessageCounts(
            self.m_messages.labels("audio"),
            self.m_bytes.labels("audio"),
            self.m_latency.labels("audio"),
        )
        self._video_metrics = MessageCounts(
            self.m_messages.labels("video"),
            self.m_bytes.labels("video"),
            self.m_latency.labels("video"),
        )
        self._flush_lock = threading.Lock()
        self._raw_children: dict[str, tuple[Any, Any]] = {}

    # -- updates (hot path: keep them cheap) -------------------------------------------
    def raw(self, channel: str, nbytes: int, messages: int = 1) -> None:
        """`messages` raw messages of `nbytes` bytes in all came in on `channel` (a source
        counts a whole batch at once: one update instead of one per message)."""
        with self._lock:
            self._raw[channel] = self._raw.get(channel, 0) + messages
        children = self._raw_children.get(channel)
        if children is None:
            children = (self.m_raw.labels(channel), self.m_raw_bytes.labels(channel))
            self._raw_children[channel] = children
        children[0].inc(messages)
        children[1].inc(nbytes)

    def parsed(self, kind: str) -> None:
        """One raw message parsed, as `audio`, `video`, `control`, `query` or `rejected`
        (every raw message once: with `raw` and `rejects`, the counts add up)."""
        with self._lock:
            self._parsed[kind] = self._parsed.get(kind, 0) + 1

    def audio(self, nbytes: int, samples: int, ts: int, latency_s: float) -> None:
        with self._lock:
            a = self._totals["audio"]
            a["chunks_received"] += 1
            a["bytes_received"] += nbytes
            a["samples"] += samples
            a["last_ts"] = ts
            full = self._audio_metrics.note(nbytes, latency_s)
        if full:
            self.flush_metrics()

    def video(self, nbytes: int, ts: int, latency_s: float) -> None:
        with self._lock:
            v = self._totals["video"]
            v["frames_received"] += 1
            v["bytes_received"] += nbytes
            v["last_ts"] = ts
            full = self._video_metrics.note(nbytes, latency_s)
        if full:
            self.flush_metrics()

    def flush_metrics(self) -> None:
        """Apply the audio and video messages counted since the last flush to their
        Prometheus metrics (the registry calls this before it reads them)."""
        with self._flush_lock:  # one at a time: a reader never sees a flush half applied
            with self._lock:
                pending = [(m, m.take()) for m in (self._audio_metrics, self._video_metrics)]
            for metrics, taken in pending:
                metrics.apply(taken)

    def control(self) -> None:
        with self._lock:
            self._totals["control"]["requests"] += 1
        self.m_messages.labels("control").inc()

    def reject(self, reason: str, channel: str) -> None:
        with self._lock:
            self._rejects[reason] = self._rejects.get(reason, 0) + 1
        self.m_rejects.labels(reason, channel).inc()

    def gap_fill(self, filled_s: float, unfilled_s: float) -> None:
        """One audio gap: seconds filled with silence, seconds left unfilled (caps)."""
        with self._lock:
            a = self._totals["audio"]
            a["gap_fill_seconds"] = round(a["gap_fill_seconds"] + filled_s, 6)
            a["gap_unfilled_seconds"] = round(a["gap_unfilled_seconds"] + unfilled_s, 6)
            a["gap_samples"] += round(filled_s * 16000)
        if filled_s:
            self.m_gap_fill.inc(filled_s)
        if unfilled_s:
            self.m_gap_unfilled.inc(unfilled_s)

    def client_event(self, what: str) -> None:
        """Something that happened to a client, not to its data: a sender `restart`, a
        client `evicted` (silent too long) or `refused` (the table is full)."""
        with self._lock:
            self._client_events[what] = self._client_events.get(what, 0) + 1

    def drop(self, reason: str, n: int = 1) -> None:
        """Count data lost or repaired, by reason (`gap_chunks`, `late`, `video_latest`, ...)."""
        with self._lock:
            self._drops[reason] = self._drops.get(reason, 0) + n
        self.m_drops.labels(reason).inc(n)

    def speech(self, client: str, audio_s: float, speech_s: float) -> None:
        """The VAD judged `audio_s` more of `client`'s audio, `speech_s` of it speech."""
        with self._lock:
            row = self._speech.setdefault(client, [0.0, 0.0])
            row[0] += audio_s
            row[1] += speech_s
            self._speech_total[0] += audio_s
            self._speech_total[1] += speech_s
        self._vad_children[0].inc(speech_s)
        self._vad_children[1].inc(max(0.0, audio_s - speech_s))

    def _speech_section(self, client: str) -> dict[str, float] | None:
        row = self._speech.get(client)
        if row is None:
            return None
        return {
            "audio_s": round(row[0], 2),
            "speech_s": round(row[1], 2),
            "share": round(row[1] / row[0], 3) if row[0] else 0.0,
        }

    def _stage(self, name: str) -> dict[str, Any]:
        return self._stages.setdefault(
            name,
            {"items": 0, "audio_s": 0.0, "busy_s": 0.0, "calls": 0, "skipped": 0, "latencies": []},
        )

    def stage(self, name: str, latency_s: float, audio_s: float = 0.0) -> None:
        """One result of a model stage: its latency and the audio it covered."""
        with self._lock:
            st = self._stage(name)
            st["items"] += 1
            st["audio_s"] += audio_s
            st["latencies"].append(latency_s)
            del st["latencies"][:-512]
        self.m_stage_latency.labels(name).observe(max(0.0, latency_s))
        if audio_s:
            self.m_stage_audio.labels(name).inc(audio_s)

    def busy(self, name: str, seconds: float, calls: int = 1) -> None:
        """Time a stage's model calls took (the real-time factor is busy / audio)."""
        with self._lock:
            st = self._stage(name)
            st["busy_s"] += seconds
            st["calls"] += calls
        self.m_stage_busy.labels(name).inc(seconds)

    def skipped(self, name: str, items: int = 1) -> None:
        """Items a stage was not given by design (video frames over `--detect-fps`): not
        lost — recorded, just not run through the model — and counted."""
        with self._lock:
            self._stage(name)["skipped"] += items
        self.m_stage_skipped.labels(name).inc(items)

    def _stage_sections(self) -> dict[str, dict[str, Any]]:
        with self._lock:
            stages = {k: dict(v, latencies=list(v["latencies"])) for k, v in self._stages.items()}
        out: dict[str, dict[str, Any]] = {}
        for name, st in sorted(stages.items()):
            lat = sorted(st["latencies"])
            out[name] = {
                "items": st["items"],
                "calls": st["calls"],
                "latency_ms_p50": round(1000 * lat[len(lat) // 2], 1) if lat else None,
                "latency_ms_p99": round(1000 * lat[min(len(lat) - 1, int(len(lat) * 0.99))], 1)
                if lat
                else None,
                "audio_s": round(st["audio_s"], 3),
                "busy_s": round(st["busy_s"], 3),
                "rtf": round(st["busy_s"] / st["audio_s"], 4) if st["audio_s"] else None,
                "skipped": st["skipped"],
            }
        return out

    def queue(self, name: str, size: int) -> None:
        with self._lock:
            self._queues[name] = size

    def client(
        self,
        name: str,
        section: ClientSection | None,
        last_seen: Callable[[], int] | None = None,
    ) -> None:
        """Set one client's section: a dict, or a function that makes it (None removes it).

        A function is called whenever the status is read, so the document is never
        older than the read and the ingest hot path pays nothing for it. A live client
        (a function) also gives `last_seen`: its last arrival time, which the client
        table counts by (`alive_clients`).
        """
        with self._lock:
            self._clients.pop(name, None)
            self._last_seen.pop(name, None)
            if section is None:
                self._speech.pop(name, None)
                return
            self._clients[name] = section if callable(section) else dict(section)
            if callable(section) and last_seen is not None:
                self._last_seen[name] = last_seen
            if not callable(section):  # a closed client: keep the last few for people to see
                closed = [k for k, v in self._clients.items() if not callable(v)]
                for old in closed[: max(0, len(closed) - MAX_CLOSED_CLIENTS)]:
                    del self._clients[old]
                    self._speech.pop(old, None)

    def _client_sections(self) -> dict[str, dict[str, Any]]:
        """Each client's section, with how much of its audio was judged speech (`speech`)."""
        with self._lock:
            entries = sorted(self._clients.items())
            speech = {name: self._speech_section(name) for name, _ in entries}
        out: dict[str, dict[str, Any]] = {}
        for name, s in entries:
            section = s() if callable(s) else dict(s)
            if speech[name] is not None:
                section["speech"] = speech[name]
            out[name] = section
        return out

    def _count_clients(self, flag: str) -> int:
        # A metrics scrape reads two counts: one pass over the clients serves both.
        now = time.monotonic()
        cached_at, sections = self._sections_for_counts
        if now - cached_at > 1.0:
            sections = self._client_sections()
            self._sections_for_counts = (now, sections)
        return sum(1 for c in sections.values() if c.get(flag))

    def section(self, name: str, values: ClientSection | None) -> None:
        """Publish a named section (e.g. `tcp`, `replay`, `sessions`) into the document.

        `values` is a dict, or a function that makes one whenever the status is read (a
        component with its own thread, like the SpacetimeDB writer); None removes it.
        """
        with self._lock:
            if values is None:
                self._extra.pop(name, None)
                return
            self._extra[name] = values if callable(values) else dict(values)
        if name == "tcp" and not callable(values) and "connections" in values:
            self.m_tcp.set(values["connections"])

    # -- reads -------------------------------------------------------------------------
    def totals(self, kind: str) -> dict[str, Any]:
        """A copy of one kind's totals (`audio`, `video`, `control`): cheaper than `status()`."""
        with self._lock:
            return dict(self._totals.get(kind, {}))

    def client_count(self) -> int:
        """Clients with live state in the flow."""
        with self._lock:
            return sum(1 for v in self._clients.values() if callable(v))

    def alive_clients(self, now_ns: int, window_ns: int) -> int:
        """Live clients heard from within `window_ns` before data time `now_ns`: what
        `max_clients` bounds (a client silent longer is due for eviction, and a replay,
        which evicts later, counts the same)."""
        with self._lock:
            seen = list(self._last_seen.values())
        return sum(1 for last_seen in seen if now_ns - last_seen() <= window_ns)

    def status(self) -> dict[str, Any]:
        """The status document (keys of the seed receiver kept: `audio.chunks_received`...)."""
        with self._lock:
            doc: dict[str, Any] = {
                "host": socket.gethostname(),
                "pid": os.getpid(),
                "time": time.time(),
                "uptime_s": round(time.time() - self.started_at, 3),
                "audio": dict(self._totals["audio"]),
                "video": dict(self._totals["video"]),
                "control": dict(self._totals["control"]),
                "raw": dict(self._raw),
                "parsed": dict(self._parsed),
                "rejects": dict(self._rejects),
                "drops": dict(self._drops),
                "queues": dict(self._queues),
                "client_events": dict(self._client_events),
            }
            heard, spoken = self._speech_total
            if heard:
                doc["speech"] = {
                    "audio_s": round(heard, 2),
                    "speech_s": round(spoken, 2),
                    "share": round(spoken / heard, 3),
                }
            extra = list(self._extra.items())
        for name, values in extra:
            doc[name] = values() if callable(values) else dict(values)
        doc["clients"] = self._client_sections()
        if self._stages:
            doc["stages"] = self._stage_sections()
        doc["client_count"] = len(doc["clients"])
        # Of those, the ones with state in the flow (the rest left: the last few kept to see).
        doc["clients_in_state"] = self.client_count()
        doc["stale_clients"] = sorted(k for k, v in doc["clients"].items() if v.get("stale"))
        return doc
