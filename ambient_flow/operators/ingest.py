"""Per-client ingest: order, repair and account for one client's stream.

Keyed by client, so two clients never share state. For each client this step keeps,
as Bytewax state: sequence tracking per channel (gaps, duplicates, reordering,
restarts, late arrivals — all counted), the audio timeline in samples with gaps
filled with silence so stream time stays true (principle 1), arrival latency,
counters, sessions and liveness.

Everything here is decided from the data (sequence numbers, client timestamps,
recorded arrival times). The wall clock enters only through `HostRuntime.clock`
for the live stale timer, and a stale event carries the time computed from the
data, so a replay produces the same items as the live run did.
"""

from __future__ import annotations

import dataclasses
import logging
from collections import deque
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import numpy as np
from bytewax.operators import StatefulLogic
from typing_extensions import override

from ambient_flow.operators.client_state import (
    LATENCY_WINDOW,
    RECENT_SEQS,
    ClientState,
    IngestOptions,
    client_status,
    session_dir_name,
)
from ambient_flow.operators.events import ClientEvent, EventKind
from ambient_flow.protocol.constants import AUDIO_SAMPLE_RATE
from ambient_flow.protocol.jsontext import wire_text
from ambient_flow.protocol.messages import AudioChunk, ControlEvent, Parsed, Rejected, VideoFrame
from ambient_flow.runtime import HostRuntime
from ambient_flow.telemetry import RateLimitedLog

__all__ = ["ClientState", "IngestItem", "IngestLogic", "IngestOptions", "session_dir_name"]

logger = logging.getLogger(__name__)

IngestItem = AudioChunk | VideoFrame | ClientEvent | Rejected


class IngestLogic(StatefulLogic[Parsed, IngestItem, ClientState]):
    """One client's ingest. Emits ordered audio (with `start_sample`), video, events, rejects."""

    def __init__(
        self, state: ClientState | None, runtime: HostRuntime, options: IngestOptions
    ) -> None:
        # Bytewax hands a builder only the resume state, not the key: a new client's
        # state learns its name from the first item.
        self.state = state or ClientState("")
        self._runtime = runtime
        self._tele = runtime.telemetry
        self._opt = options
        self._stale_ns = int(options.stale_after_seconds * 1e9)
        self._max_fill = int(options.max_gap_fill_seconds * AUDIO_SAMPLE_RATE)
        self._resampler: Any = None
        self._resampler_rate = AUDIO_SAMPLE_RATE
        self._log = RateLimitedLog(logger)
        self._published = False

    # -- Bytewax hooks ----------------------------------------------------------------
    @override
    def on_item(self, value: Parsed) -> tuple[Iterable[IngestItem], bool]:
        st = self.state
        if not st.client:
            st.client = value.client or ""
            if self._tele.client_count() >= self._opt.max_clients:
                return self._refuse(value), StatefulLogic.DISCARD
        out: list[IngestItem] = []
        if isinstance(value, Rejected):
            return self._reject(value), StatefulLogic.RETAIN
        now = value.received_ns
        if st.last_seen_ns and not st.stale and now - st.last_seen_ns > self._stale_ns:
            out += self._go_stale()
        if st.stale:
            st.stale = False
            silent = round((now - st.last_seen_ns) / 1e9, 3)
            out.append(self._event("resumed", now, silent_for_s=silent))
        st.last_seen_ns = now
        if isinstance(value, AudioChunk):
            out += self._audio(value)
        elif isinstance(value, VideoFrame):
            out += self._video(value)
        else:
            out += self._control(value)
            if value.command == "bye":
                self._publish(closed=True)
                return out, StatefulLogic.DISCARD
        self._publish()
        return out, StatefulLogic.RETAIN

    @override
    def on_notify(self) -> tuple[Iterable[IngestItem], bool]:
        st = self.state
        quiet_ns = self._runtime.clock() - st.last_seen_ns
        if st.session is not None and not st.stale and quiet_ns >= self._stale_ns:
            out = self._go_stale()
            self._publish()
            return out, StatefulLogic.RETAIN
        return [], StatefulLogic.RETAIN

    @override
    def notify_at(self) -> datetime | None:
        st = self.state
        if not self._opt.use_timers or st.session is None or st.stale:
            return None
        return datetime.fromtimestamp((st.last_seen_ns + self._stale_ns) / 1e9, tz=UTC)

    @override
    def on_eof(self) -> tuple[Iterable[IngestItem], bool]:
        out = self._flush_pending()
        out += self._end_session("eof", self.state.last_seen_ns)
        self._publish(closed=True)
        return out, StatefulLogic.DISCARD

    @override
    def snapshot(self) -> ClientState:
        st = self.state
        return dataclasses.replace(
            st,
            audio=dataclasses.replace(st.audio, recent=deque(st.audio.recent, RECENT_SEQS)),
            video=dataclasses.replace(st.video, recent=deque(st.video.recent, RECENT_SEQS)),
            pending=dict(st.pending),
            counters=dict(st.counters),
            rejects=dict(st.rejects),
            capabilities=list(st.capabilities),
            latencies_ms=deque(st.latencies_ms, LATENCY_WINDOW),
        )

    # -- sessions and events ----------------------------------------------------------
    def _event(self, kind: EventKind, at_ns: int, **data: Any) -> ClientEvent:
        return ClientEvent(self.state.client, kind, at_ns, self.state.session or "", data)

    def _open(self, at_ns: int, client_session: str | None, source: str | None) -> list[IngestItem]:
        st = self.state
        out: list[IngestItem] = []
        if st.session is not None and client_session and client_session != st.client_session:
            out += self._flush_pending()
            out += self._end_session("new_session", at_ns)
        if st.session is None:
            st.session = session_dir_name(st.client, at_ns)
            st.session_started_ns = at_ns
            st.client_session = client_session
            st.source = source or st.source
            st.counters, st.rejects = {}, {}
            out.append(
                self._event(
                    "session_start",
                    at_ns,
                    client_session=client_session,
                    source=st.source,
                    capabilities=list(st.capabilities),
                    config=self._opt.client_config,
                    start_sample=st.next_sample,
                )
            )
        return out

    def _end_session(self, reason: str, at_ns: int) -> list[IngestItem]:
        st = self.state
        if st.session is None:
            return []
        out: list[IngestItem] = []
        if st.rejects:
            out.append(self._event("rejects", at_ns, by_reason=dict(st.rejects)))
        out.append(
            self._event(
                "session_end",
                at_ns,
                reason=reason,
                counters=dict(st.counters),
                end_sample=st.next_sample,
            )
        )
        st.session = None
        return out

    def _go_stale(self) -> list[IngestItem]:
        st = self.state
        st.stale = True
        out = self._flush_pending()
        out.append(
            self._event(
                "stale",
                st.last_seen_ns + self._stale_ns,
                silent_for_s=self._opt.stale_after_seconds,
            )
        )
        st.count("stale")
        return out

    # -- audio ------------------------------------------------------------------------
    def _audio(self, chunk: AudioChunk) -> list[IngestItem]:
        st = self.state
        out = self._open(chunk.received_ns, chunk.session, chunk.source)
        nbytes = chunk.num_samples * 2 * chunk.source_channels
        latency_ms = chunk.received_ns / 1e6 - chunk.timestamp_ms
        st.latencies_ms.append(latency_ms)
        st.count("audio_chunks")
        st.count("audio_bytes", nbytes)
        self._tele.audio(nbytes, chunk.num_samples, chunk.timestamp_ms, latency_ms / 1e3)
        if (chunk.sample_rate != AUDIO_SAMPLE_RATE or chunk.source_channels != 1) and not (
            st.announced_conversion
        ):
            st.announced_conversion = True
            logger.info(
                "client %s sends %d Hz, %d channel(s): converting to 16 kHz mono",
                st.client,
                chunk.sample_rate,
                chunk.source_channels,
            )
            out.append(
                self._event(
                    "converted", chunk.received_ns, sr=chunk.sample_rate, ch=chunk.source_channels
                )
            )
        seq_state = st.audio
        seq = chunk.sequence
        if seq_state.expected is None:
            seq_state.expected = seq
        if seq == seq_state.expected:
            if st.pending:  # it arrived after later chunks: put back in order
                st.count("audio_reordered")
                self._tele.drop("audio_reordered")
                out.append(self._event("reordered", chunk.received_ns, channel="audio", seq=seq))
            out += self._emit_audio(chunk)
            out += self._drain_pending()
        elif seq > seq_state.expected:
            if seq in st.pending:
                out += self._duplicate("audio", chunk.received_ns, seq)
            else:
                st.pending[seq] = chunk
                if len(st.pending) > self._opt.reorder_window:
                    out += self._fill_gap()
                    out += self._drain_pending()
        else:
            out += self._behind("audio", chunk)
        return out

    def _behind(self, channel: str, msg: AudioChunk | VideoFrame) -> list[IngestItem]:
        """A sequence number below the expected one: duplicate, late, or a restart."""
        st = self.state
        seq_state = st.audio if channel == "audio" else st.video
        last_ts = seq_state.last_ts if seq_state.last_ts is not None else -1
        if msg.timestamp_ms > last_ts:
            # Newer in time but lower in sequence: the sender restarted its counter.
            out = self._flush_pending() if channel == "audio" else []
            st.count(f"{channel}_restarts")
            self._tele.drop(f"{channel}_restart")
            out.append(
                self._event(
                    "restart",
                    msg.received_ns,
                    channel=channel,
                    from_seq=seq_state.expected,
                    to_seq=msg.sequence,
                )
            )
            if isinstance(msg, AudioChunk):
                gap_ms = msg.timestamp_ms - last_ts - 1000 * st.chunk_samples / AUDIO_SAMPLE_RATE
                if gap_ms > 0 and last_ts >= 0:
                    out += self._silence(int(gap_ms * AUDIO_SAMPLE_RATE / 1000), msg, "restart")
                seq_state.expected = msg.sequence
                out += self._emit_audio(msg)
                out += self._drain_pending()
            else:
                seq_state.expected = msg.sequence
            return out
        if msg.sequence in seq_state.recent:
            return self._duplicate(channel, msg.received_ns, msg.sequence)
        # Older than what we already emitted: its place was filled; count, don't reorder time.
        st.count(f"{channel}_late")
        self._tele.drop(f"{channel}_late")
        self._log.log(
            logging.WARNING,
            f"late:{st.client}",
            "client %s: %s seq %d arrived after its place was filled; dropped",
            st.client,
            channel,
            msg.sequence,
        )
        return [self._event("late", msg.received_ns, channel=channel, seq=msg.sequence)]

    def _duplicate(self, channel: str, at_ns: int, seq: int) -> list[IngestItem]:
        self.state.count(f"{channel}_duplicates")
        self._tele.drop(f"{channel}_duplicate")
        return [self._event("duplicate", at_ns, channel=channel, seq=seq)]

    def _emit_audio(self, chunk: AudioChunk) -> list[IngestItem]:
        st = self.state
        samples = self._to_16k(chunk)
        seq_state = st.audio
        seq_state.expected = chunk.sequence + 1
        seq_state.last_ts = chunk.timestamp_ms
        seq_state.recent.append(chunk.sequence)
        if samples.shape[0] == 0:
            return []  # the resampler's filter is still filling; its delay is emitted later
        start = st.next_sample
        st.next_sample += int(samples.shape[0])
        st.chunk_samples = (
            int(samples.shape[0])
            if chunk.sample_rate == AUDIO_SAMPLE_RATE
            else (round(chunk.num_samples * AUDIO_SAMPLE_RATE / chunk.sample_rate))
        )
        converted = chunk.sample_rate != AUDIO_SAMPLE_RATE or chunk.source_channels != 1
        return [
            dataclasses.replace(
                chunk,
                samples=samples,
                sample_rate=AUDIO_SAMPLE_RATE,
                start_sample=start,
                converted=converted,
            )
        ]

    def _to_16k(self, chunk: AudioChunk) -> np.ndarray[Any, np.dtype[np.float32]]:
        if chunk.sample_rate == AUDIO_SAMPLE_RATE:
            return chunk.samples
        if self._resampler is None or self._resampler_rate != chunk.sample_rate:
            import soxr  # a proper band-limited filter, with state across chunks

            self._resampler = soxr.ResampleStream(
                chunk.sample_rate, AUDIO_SAMPLE_RATE, 1, dtype="float32", quality="HQ"
            )
            self._resampler_rate = chunk.sample_rate
        out: np.ndarray[Any, np.dtype[np.float32]] = self._resampler.resample_chunk(chunk.samples)
        return out

    def _silence(self, samples: int, like: AudioChunk, why: str) -> list[IngestItem]:
        st = self.state
        wanted = samples
        samples = min(samples, self._max_fill)
        if samples <= 0:
            return []
        if wanted > samples:
            self._tele.drop("gap_fill_capped")
            st.count("gap_fill_capped_samples", wanted - samples)
        start = st.next_sample
        st.next_sample += samples
        st.count("filled_samples", samples)
        self._tele.drop(f"filled_samples_{why}", samples)
        zeros = np.zeros(samples, dtype=np.float32)
        return [
            AudioChunk(
                client=st.client,
                timestamp_ms=like.timestamp_ms,
                sequence=-1,
                sample_rate=AUDIO_SAMPLE_RATE,
                channels=1,
                samples=zeros,
                received_ns=like.received_ns,
                session=like.session,
                source=like.source,
                start_sample=start,
                filled=True,
            )
        ]

    def _fill_gap(self) -> list[IngestItem]:
        """Give up waiting for the lowest missing sequence numbers: fill them with silence."""
        st = self.state
        seq_state = st.audio
        first = min(st.pending)
        expected = seq_state.expected if seq_state.expected is not None else first
        missing = first - expected
        if missing <= 0:
            return []
        nxt = st.pending[first]
        filled = missing * st.chunk_samples
        st.count("audio_gaps")
        st.count("audio_missing_chunks", missing)
        self._tele.drop("audio_gap_chunks", missing)
        self._log.log(
            logging.INFO,
            f"gap:{st.client}",
            "client %s: audio seq %d..%d missing; filled %.2f s with silence",
            st.client,
            expected,
            first - 1,
            filled / AUDIO_SAMPLE_RATE,
        )
        out: list[IngestItem] = [
            self._event(
                "gap",
                nxt.received_ns,
                channel="audio",
                from_seq=expected,
                to_seq=first - 1,
                missing=missing,
                filled_samples=filled,
            )
        ]
        out += self._silence(filled, nxt, "gap")
        seq_state.expected = first
        return out

    def _drain_pending(self) -> list[IngestItem]:
        st = self.state
        out: list[IngestItem] = []
        while st.audio.expected in st.pending:
            out += self._emit_audio(st.pending.pop(st.audio.expected))
        return out

    def _flush_pending(self) -> list[IngestItem]:
        out: list[IngestItem] = []
        while self.state.pending:
            out += self._fill_gap()
            out += self._drain_pending()
        return out

    # -- video and control ------------------------------------------------------------
    def _video(self, frame: VideoFrame) -> list[IngestItem]:
        st = self.state
        out = self._open(frame.received_ns, frame.session, frame.source)
        latency_ms = frame.received_ns / 1e6 - frame.timestamp_ms
        st.count("video_frames")
        st.count("video_bytes", len(frame.payload))
        self._tele.video(len(frame.payload), frame.timestamp_ms, latency_ms / 1e3)
        seq_state = st.video
        seq = frame.sequence
        if seq_state.expected is not None and seq < seq_state.expected:
            out += self._behind("video", frame)
            if seq_state.expected != seq:  # duplicate or late: not forwarded
                return out
        elif seq_state.expected is not None and seq > seq_state.expected:
            missing = seq - seq_state.expected
            st.count("video_gaps")
            st.count("video_missing_frames", missing)
            self._tele.drop("video_gap_frames", missing)
            out.append(
                self._event(
                    "gap",
                    frame.received_ns,
                    channel="video",
                    from_seq=seq_state.expected,
                    to_seq=seq - 1,
                    missing=missing,
                    filled_samples=0,
                )
            )
        seq_state.expected = seq + 1
        seq_state.last_ts = frame.timestamp_ms
        seq_state.recent.append(seq)
        out.append(frame)
        return out

    def _control(self, event: ControlEvent) -> list[IngestItem]:
        st = self.state
        st.count(f"control_{event.command}")
        if event.command == "hello":
            caps = event.body.get("capabilities")
            if isinstance(caps, list):
                texts = (wire_text(c, 32) for c in caps[:16])
                st.capabilities = [c for c in texts if c is not None]
            out = self._open(event.received_ns, wire_text(event.body.get("session")), None)
            extra: dict[str, Any] = {}
            mode = wire_text(event.body.get("recording_mode"), 32)
            if mode is not None:  # upstream's "ambient", "meeting"...
                extra["recording_mode"] = mode
            out.append(
                self._event("hello", event.received_ns, capabilities=list(st.capabilities), **extra)
            )
            return out
        if event.command == "bye":
            if st.session is None:
                return []
            out = self._flush_pending()
            out.append(self._event("bye", event.received_ns))
            out += self._end_session("bye", event.received_ns)
            return out
        return []  # heartbeat: liveness was updated above

    def _refuse(self, value: Parsed) -> list[IngestItem]:
        """Bounded client count (principle 4): a new client past `max_clients` is rejected."""
        rejected = Rejected(
            reason="too_many_clients",
            detail=f"{self._opt.max_clients} clients are tracked (max_clients)",
            channel=value.channel
            if isinstance(value, ControlEvent | Rejected)
            else ("audio" if isinstance(value, AudioChunk) else "video"),
            peer=value.peer if isinstance(value, Rejected) else "",
            received_ns=value.received_ns,
            size=0,
            client=self.state.client,
        )
        return self._reject(rejected)

    def _reject(self, rejected: Rejected) -> list[IngestItem]:
        st = self.state
        st.rejects[rejected.reason] = st.rejects.get(rejected.reason, 0) + 1
        self._tele.reject(rejected.reason, rejected.channel)
        self._log.log(
            logging.WARNING,
            f"reject:{rejected.reason}",
            "rejected %s message from %s (%s): %s",
            rejected.channel,
            rejected.client or rejected.peer,
            rejected.reason,
            rejected.detail,
        )
        return [rejected]

    # -- status -----------------------------------------------------------------------
    def _publish(self, *, closed: bool = False) -> None:
        """Register this client's status section (computed when status is read)."""
        if closed:
            self._tele.client(self.state.client, client_status(self.state, closed=True))
        elif not self._published:
            self._published = True
            self._tele.client(self.state.client, self.status_section)

    def status_section(self) -> dict[str, Any]:
        """This client's part of the status document, computed when status is read."""
        return client_status(self.state)
