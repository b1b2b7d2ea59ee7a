"""The media half of per-client ingest: audio order and time, video order, restarts.

`MediaSteps` is the base of `IngestLogic` (`operators.ingest`): everything about one
client's audio and video sequence numbers — reordering, duplicates, late arrivals,
gaps filled with silence within budgets, restarts — lives here; sessions, control,
rejects, liveness and eviction live in `IngestLogic`.

Gap fill is bounded three times, all from the data so a replay decides alike: one gap
adds at most `max_gap_fill_seconds` of silence (a longer one is a *sequence jump*,
counted once); one client's gaps add at most `max_gap_fill_seconds_per_minute` (a token
bucket refilled by arrival time); and silence is earned by audio: each second of audio
a client sends earns a second of silence, up to a gap's worth held. So a client that
sends little and skips much writes little, and a gap is never padded with more than
the audio around it (a fuzzer's `seq` jumps cannot
turn kilobytes into gigabytes). What is not filled is counted as unfilled seconds and
shown; the sample clock then simply continues.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ambient_flow.operators.budget import TokenBucket
from ambient_flow.operators.client_state import ClientState, IngestOptions, SeqState
from ambient_flow.operators.events import ClientEvent, EventKind
from ambient_flow.protocol.constants import AUDIO_SAMPLE_RATE as SR
from ambient_flow.protocol.messages import AudioChunk, Rejected, VideoFrame
from ambient_flow.telemetry import RateLimitedLog, Telemetry

__all__ = ["GapPlan", "MediaSteps", "plan_gap"]

logger = logging.getLogger("ambient_flow.operators.ingest")

Item = AudioChunk | VideoFrame | ClientEvent | Rejected


@dataclass(frozen=True, slots=True)
class GapPlan:
    """What to do about a gap of `wanted` samples.

    Attributes:
        fill: Samples of silence to insert.
        unfilled: Samples of the gap, up to the per-gap cap, the budgets left unfilled.
            (A sequence jump's length beyond the cap is not a length of lost audio: a
            `seq` of 2**50 is not 2**50 chunks missing. It is one counted jump.)
        seq_jump: The gap is longer than one gap may be filled: a discontinuity.
    """

    fill: int
    unfilled: int
    seq_jump: bool


def plan_gap(wanted: int, max_fill: int, budgets: Sequence[TokenBucket], now_ns: int) -> GapPlan:
    """Decide the fill of one gap: capped per gap, then by each of the client's budgets
    (seconds), taking what is filled from all of them."""
    wanted = max(0, wanted)
    capped = min(wanted, max_fill)
    seconds = min([capped / SR, *(b.available(now_ns) for b in budgets)])
    fill = min(capped, max(0, int(seconds * SR)))
    for budget in budgets:
        budget.take(fill / SR, now_ns)
    return GapPlan(fill=fill, unfilled=capped - fill, seq_jump=wanted > max_fill)


class MediaSteps:
    """One client's audio and video ordering (the base of `IngestLogic`)."""

    state: ClientState
    _tele: Telemetry
    _opt: IngestOptions
    _log: RateLimitedLog
    _max_fill: int
    #: More missing video frames than this (a gap's time at 60 fps) is a `seq` jump.
    _max_video_gap: int

    def __init__(self) -> None:
        self._resampler: Any = None
        self._resampler_rate = SR

    # -- provided by IngestLogic ----------------------------------------------------------
    def _event(self, kind: EventKind, at_ns: int, **data: Any) -> ClientEvent:
        raise NotImplementedError

    def _open(self, at_ns: int, client_session: str | None, source: str | None) -> list[Item]:
        raise NotImplementedError

    def _restart_session(self, at_ns: int, **why: Any) -> list[Item] | None:
        """End the session and open the next (None: the session budget refused)."""
        raise NotImplementedError

    def _enter(self, msg: AudioChunk | VideoFrame) -> tuple[list[Item], bool]:
        """Open (or switch) the session `msg` belongs in; False if the session budget
        refused one and there is none to put it in (counted there)."""
        st = self.state
        if st.session is not None and (not msg.session or msg.session == st.client_session):
            return [], True  # the usual case: it belongs in the open session
        out = self._open(msg.received_ns, msg.session, msg.source)
        return out, st.session is not None

    # -- audio ------------------------------------------------------------------------------
    def _audio(self, chunk: AudioChunk) -> list[Item]:
        st = self.state
        out, admitted = self._enter(chunk)
        if not admitted:
            return out
        num_samples = chunk.num_samples
        nbytes = num_samples * 2 * chunk.source_channels
        latency_ms = chunk.received_ns / 1e6 - chunk.timestamp_ms
        st.latencies_ms.append(latency_ms)
        counters = st.counters  # `st.count` twice, without the calls (every chunk)
        counters["audio_chunks"] = counters.get("audio_chunks", 0) + 1
        counters["audio_bytes"] = counters.get("audio_bytes", 0) + nbytes
        self._tele.audio(nbytes, num_samples, chunk.timestamp_ms, latency_ms / 1e3)
        converted = chunk.sample_rate != SR or chunk.source_channels != 1
        if converted and not st.announced_conversion:
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
            if st.pending:
                out += self._drain_pending()
        elif seq > seq_state.expected:
            if seq in st.pending:
                out += self._duplicate("audio", chunk.received_ns, seq)
            else:
                st.pending[seq] = chunk
                held_s = sum(c.duration_s for c in st.pending.values())
                if (
                    len(st.pending) > self._opt.reorder_window
                    or held_s > self._opt.max_reorder_seconds
                ):  # waited enough (in chunks, or in audio held: in-flight audio is bounded)
                    out += self._fill_gap()
                    out += self._drain_pending()
        else:
            out += self._behind("audio", chunk)
        return out

    def _behind(self, channel: str, msg: AudioChunk | VideoFrame) -> list[Item]:
        """A sequence number below the expected one: duplicate, late, or a restart."""
        st = self.state
        seq_state = st.audio if channel == "audio" else st.video
        last_ts = seq_state.last_ts if seq_state.last_ts is not None else -1
        if msg.timestamp_ms > last_ts:
            # Newer in time but lower in sequence: the sender restarted its counter.
            return self._restart(channel, msg, seq_state, last_ts)
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

    def _restart(
        self, channel: str, msg: AudioChunk | VideoFrame, seq_state: SeqState, last_ts: int
    ) -> list[Item]:
        """The sender restarted: its stream (audio, or video of a video-only client) starts
        a new session; the pause is recorded, never filled with silence."""
        st = self.state
        out = self._flush_pending() if channel == "audio" else []
        st.count(f"{channel}_restarts")
        st.restarts += 1
        self._tele.client_event("restart")
        period_ms = 1000 * st.chunk_samples / SR if channel == "audio" else 0.0
        gap_s = round(max(0.0, (msg.timestamp_ms - last_ts - period_ms) / 1000), 3)
        why = {"channel": channel, "from_seq": seq_state.expected, "to_seq": msg.sequence}
        out.append(self._event("restart", msg.received_ns, **why, gap_s=gap_s))
        st.last_loss = {"kind": "restart", "at_ns": msg.received_ns, "seconds": gap_s}
        whole_stream = channel == "audio" or st.audio.expected is None
        if whole_stream:
            opened = self._restart_session(msg.received_ns, after="restart", gap_s=gap_s, **why)
            if opened is not None:
                self._resampler = None  # a new stream: the filter starts empty
                out += opened
        seq_state.expected = msg.sequence
        if isinstance(msg, AudioChunk):
            out += self._emit_audio(msg)
            out += self._drain_pending()
        return out

    def _duplicate(self, channel: str, at_ns: int, seq: int) -> list[Item]:
        self.state.count(f"{channel}_duplicates")
        self._tele.drop(f"{channel}_duplicate")
        return [self._event("duplicate", at_ns, channel=channel, seq=seq)]

    def _emit_audio(self, chunk: AudioChunk) -> list[Item]:
        st = self.state
        samples = self._to_16k(chunk)  # None: 16 kHz already, not decoded yet
        seq_state = st.audio
        seq_state.expected = chunk.sequence + 1
        seq_state.last_ts = chunk.timestamp_ms
        seq_state.recent.append(chunk.sequence)
        n = chunk.num_samples if samples is None else int(samples.shape[0])
        if n == 0:
            return []  # the resampler's filter is still filling; its delay is emitted later
        st.gap_earned.earn(n / SR)  # audio earns the silence that may pad it
        start = st.next_sample
        st.next_sample += n
        st.chunk_samples = (
            n if chunk.sample_rate == SR else round(chunk.num_samples * SR / chunk.sample_rate)
        )
        converted = chunk.sample_rate != SR or chunk.source_channels != 1
        # Built directly, not with `dataclasses.replace` (which looks every field up by
        # name, once per chunk on the hot path). Every field is given.
        return [
            AudioChunk(
                client=chunk.client,
                timestamp_ms=chunk.timestamp_ms,
                sequence=chunk.sequence,
                sample_rate=SR,
                channels=chunk.channels,
                received_ns=chunk.received_ns,
                session=chunk.session,
                source=chunk.source,
                source_channels=chunk.source_channels,
                start_sample=start,
                converted=converted,
                filled=chunk.filled,
                pcm=None if converted else chunk.pcm,  # resampled samples are new ones
                float_samples=chunk.float_samples if samples is None else samples,
            )
        ]

    def _to_16k(self, chunk: AudioChunk) -> np.ndarray[Any, np.dtype[np.float32]] | None:
        """The chunk's samples at 16 kHz, or None when they are already (left as they are:
        a recording host never needs them as floats)."""
        if chunk.sample_rate == SR:
            return None
        if self._resampler is None or self._resampler_rate != chunk.sample_rate:
            import soxr  # a proper band-limited filter, with state across chunks

            self._resampler = soxr.ResampleStream(
                chunk.sample_rate, SR, 1, dtype="float32", quality="HQ"
            )
            self._resampler_rate = chunk.sample_rate
        out: np.ndarray[Any, np.dtype[np.float32]] = self._resampler.resample_chunk(chunk.samples)
        return out

    def _silence(self, samples: int, like: AudioChunk) -> list[Item]:
        st = self.state
        if samples <= 0:
            return []
        start = st.next_sample
        st.next_sample += samples
        st.count("filled_samples", samples)
        zeros = np.zeros(samples, dtype=np.float32)
        return [
            AudioChunk(
                client=st.client,
                timestamp_ms=like.timestamp_ms,
                sequence=-1,
                sample_rate=SR,
                channels=1,
                received_ns=like.received_ns,
                session=like.session,
                source=like.source,
                start_sample=start,
                filled=True,
                float_samples=zeros,
            )
        ]

    def _fill_gap(self) -> list[Item]:
        """Give up waiting for the lowest missing sequence numbers: fill them with silence."""
        st = self.state
        seq_state = st.audio
        first = min(st.pending)
        expected = seq_state.expected if seq_state.expected is not None else first
        missing = first - expected
        if missing <= 0:
            return []
        nxt = st.pending[first]
        budgets = (st.gap_budget, st.gap_earned)
        plan = plan_gap(missing * st.chunk_samples, self._max_fill, budgets, nxt.received_ns)
        st.count("audio_gaps")
        if plan.seq_jump:
            st.count("audio_seq_jumps")
            self._tele.drop("audio_seq_jump")
        else:
            st.count("audio_missing_chunks", missing)
            self._tele.drop("audio_gap_chunks", missing)
        if plan.unfilled:
            st.count("gap_unfilled_samples", plan.unfilled)
        self._tele.gap_fill(plan.fill / SR, plan.unfilled / SR)
        st.last_loss = {
            "kind": "seq_jump" if plan.seq_jump else "gap",
            "at_ns": nxt.received_ns,
            "seconds": round((plan.fill + plan.unfilled) / SR, 3),
        }
        self._log.log(
            logging.INFO,
            f"gap:{st.client}",
            "client %s: audio seq %d..%d missing; filled %.2f s with silence%s",
            st.client,
            expected,
            first - 1,
            plan.fill / SR,
            f", {plan.unfilled / SR:.2f} s not filled (caps)" if plan.unfilled else "",
        )
        out: list[Item] = [
            self._event(
                "gap",
                max(nxt.received_ns, st.last_seen_ns),  # when it was decided: lines stay in order
                channel="audio",
                from_seq=expected,
                to_seq=first - 1,
                missing=missing,
                filled_samples=plan.fill,
                gap_fill_s=round(plan.fill / SR, 3),
                unfilled_s=round(plan.unfilled / SR, 3),
                seq_jump=plan.seq_jump,
            )
        ]
        out += self._silence(plan.fill, nxt)
        seq_state.expected = first
        return out

    def _drain_pending(self) -> list[Item]:
        st = self.state
        out: list[Item] = []
        while st.audio.expected in st.pending:
            out += self._emit_audio(st.pending.pop(st.audio.expected))
        return out

    def _flush_pending(self) -> list[Item]:
        out: list[Item] = []
        while self.state.pending:
            out += self._fill_gap()
            out += self._drain_pending()
        return out

    # -- video ------------------------------------------------------------------------------
    def _video(self, frame: VideoFrame) -> list[Item]:
        st = self.state
        out, admitted = self._enter(frame)
        if not admitted:
            return out
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
            if missing > self._max_video_gap:  # a jump, not frames lost: counted once
                st.count("video_seq_jumps")
                self._tele.drop("video_seq_jump")
            else:
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
