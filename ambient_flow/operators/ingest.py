"""Per-client ingest: order, repair and account for one client's stream.

Keyed by client, so two clients never share state. For each client this step keeps,
as Bytewax state: sequence tracking per channel (gaps, duplicates, reordering,
restarts, late arrivals — all counted; `ingest_media`), the audio timeline in samples
with gaps filled with silence so stream time stays true (principle 1), arrival
latency, counters, sessions, liveness and its place in the client table.

Bounds (principle 4), each counted and shown: sessions one client may open per minute
(`max_new_sessions_per_minute`), silence its gaps may add (`ingest_media`), clients
in the table (`max_clients`, judged from arrival times), and how long a silent client
is kept (`evict_after_seconds`: its session ends with reason `evicted`, and a client
that comes back starts a new one). A name that never sent a valid message keeps no
state at all: its rejects are counted and forgotten.

Everything here is decided from the data (sequence numbers, client timestamps,
recorded arrival times). The wall clock enters only through `HostRuntime.clock`
for the live timers, and the events they cause carry times computed from the data.
Eviction additionally waits until the host has seen later traffic (the latest arrival
time anywhere), so a replay of the same capture evicts the same clients at the same
times, also at its end.
"""

from __future__ import annotations

import dataclasses
import logging
from collections import deque
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from bytewax.operators import StatefulLogic
from typing_extensions import override

from ambient_flow.operators.budget import NEVER_NS, TokenBucket
from ambient_flow.operators.client_state import (
    LATENCY_WINDOW,
    RECENT_SEQS,
    ClientState,
    IngestOptions,
    client_status,
    session_dir_name,
)
from ambient_flow.operators.events import ClientEvent, EventKind
from ambient_flow.operators.ingest_media import MediaSteps
from ambient_flow.protocol.constants import AUDIO_SAMPLE_RATE
from ambient_flow.protocol.jsontext import wire_text
from ambient_flow.protocol.messages import AudioChunk, ControlEvent, Parsed, Rejected, VideoFrame
from ambient_flow.runtime import HostRuntime
from ambient_flow.telemetry import RateLimitedLog

__all__ = ["ClientState", "IngestItem", "IngestLogic", "IngestOptions", "session_dir_name"]

logger = logging.getLogger(__name__)

IngestItem = AudioChunk | VideoFrame | ClientEvent | Rejected
#: How often a live client due for eviction looks again for later traffic (ns).
_EVICT_RECHECK_NS = 5_000_000_000


class IngestLogic(MediaSteps, StatefulLogic[Parsed, IngestItem, ClientState]):
    """One client's ingest. Emits ordered audio (with `start_sample`), video, events, rejects."""

    def __init__(
        self, state: ClientState | None, runtime: HostRuntime, options: IngestOptions
    ) -> None:
        super().__init__()
        self._runtime = runtime
        self._tele = runtime.telemetry
        self._opt = options
        self._stale_ns = int(options.stale_after_seconds * 1e9)
        self._evict_ns = int(options.evict_after_seconds * 1e9)
        self._max_fill = int(options.max_gap_fill_seconds * AUDIO_SAMPLE_RATE)
        self._max_video_gap = max(1, int(options.max_gap_fill_seconds * 60))
        self._log = RateLimitedLog(logger)
        self._published = False
        #: The last wake-up time given to Bytewax: (unix ns, the same as a datetime).
        self._wake: tuple[int, datetime] | None = None
        # Bytewax hands a builder only the resume state, not the key: a new client's
        # state learns its name from the first item.
        self.state = state or self._fresh("")

    def _fresh(self, client: str) -> ClientState:
        opt = self._opt
        return ClientState(
            client,
            gap_budget=TokenBucket(opt.max_gap_fill_seconds_per_minute),
            gap_earned=TokenBucket(opt.max_gap_fill_seconds, period_ns=NEVER_NS, level=0.0),
            session_budget=TokenBucket(opt.max_new_sessions_per_minute),
        )

    # -- Bytewax hooks ----------------------------------------------------------------
    @override
    def on_item(self, value: Parsed) -> tuple[Iterable[IngestItem], bool]:
        st = self.state
        if not st.client:
            st.client = value.client or ""
        now = value.received_ns
        out: list[IngestItem] = []
        if st.valid and now - st.last_seen_ns > self._evict_ns:
            # Silent past evict_after (rejects are not being heard from): this message
            # starts afresh. Live, the timer has usually said so already.
            out += self._evict()
            st = self.state
        if isinstance(value, Rejected):
            if st.valid and not st.stale and now - st.last_seen_ns > self._stale_ns:
                out += self._go_stale()  # before the reject: live, the timer said it first
            # A name that never sent a valid message keeps no state: counted, forgotten.
            keep = StatefulLogic.RETAIN if st.valid else StatefulLogic.DISCARD
            return out + self._reject(value), keep
        if not st.valid:
            if self._tele.alive_clients(now, self._evict_ns) >= self._opt.max_clients:
                return out + self._refuse(value), StatefulLogic.DISCARD
            st.valid = True
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
        if not self._published:
            self._publish()
        return out, StatefulLogic.RETAIN

    @override
    def on_notify(self) -> tuple[Iterable[IngestItem], bool]:
        self._wake = None  # this time has passed: the next is made afresh
        st = self.state
        quiet_ns = self._runtime.clock() - st.last_seen_ns
        if st.session is not None and not st.stale and quiet_ns >= self._stale_ns:
            out = self._go_stale()
            self._publish()
            return out, StatefulLogic.RETAIN
        if st.valid and quiet_ns >= self._evict_ns and self._evict_due():
            return self._evict(), StatefulLogic.DISCARD
        return [], StatefulLogic.RETAIN

    @override
    def notify_at(self) -> datetime | None:
        st = self.state
        if not self._opt.use_timers or not st.valid:
            return None
        if st.session is not None and not st.stale:
            due = st.last_seen_ns + self._stale_ns
        else:
            # Eviction also waits for later traffic; until some comes, look again now and then.
            due = st.last_seen_ns + self._evict_ns
            now = self._runtime.clock()
            if due <= now:
                due = now + _EVICT_RECHECK_NS
        return self._wake_at(due)

    def _wake_at(self, due_ns: int) -> datetime:
        """A time to be woken at, not after `due_ns`.

        Bytewax asks after every message, and each message moves the due time on: the
        time given last is given again while it is not later than `due_ns` (and has not
        passed: `on_notify` forgets it), so a `datetime` is made about once per stale
        period instead of per message. Woken early, `on_notify` finds nothing due (its
        checks read the clock; the events carry times computed from the data) and the
        next time is exact: outputs are the same, at most one more wake-up a period.
        """
        wake = self._wake
        if wake is not None and wake[0] <= due_ns:
            return wake[1]
        at = datetime.fromtimestamp(due_ns / 1e9, tz=UTC)
        self._wake = (due_ns, at)
        return at

    @override
    def on_eof(self) -> tuple[Iterable[IngestItem], bool]:
        st = self.state
        if st.valid and self._evict_due():
            return self._evict(), StatefulLogic.DISCARD
        out = self._flush_pending()
        if st.session is not None and not st.stale and self._seen_since(self._stale_ns):
            out += self._go_stale()
        out += self._end_session("eof", st.last_seen_ns)
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
            gap_budget=dataclasses.replace(st.gap_budget),
            gap_earned=dataclasses.replace(st.gap_earned),
            session_budget=dataclasses.replace(st.session_budget),
            last_loss=dict(st.last_loss) if st.last_loss else None,
        )

    # -- liveness and the client table ------------------------------------------------
    def _seen_since(self, quiet_ns: int) -> bool:
        """The host has received anything at least `quiet_ns` after this client's last
        message (the latest arrival time anywhere: data, not the wall clock)."""
        return self._runtime.latest_arrival_ns() >= self.state.last_seen_ns + quiet_ns

    def _evict_due(self) -> bool:
        return self._seen_since(self._evict_ns)

    def _evict(self) -> list[IngestItem]:
        """Silent past `evict_after_seconds`: end its session and forget it."""
        st = self.state
        at_ns = st.last_seen_ns + self._evict_ns
        out = self._flush_pending()
        if st.session is not None and not st.stale:
            out += self._go_stale()
        out += self._end_session("evicted", at_ns)
        self._tele.client_event("evicted")
        logger.info("client %s evicted after %.0f s of silence", st.client, self._evict_ns / 1e9)
        self._publish(closed=True)
        self.state = self._fresh(st.client)
        self._published = False
        self._resampler = None
        return out

    # -- sessions and events ----------------------------------------------------------
    @override
    def _event(self, kind: EventKind, at_ns: int, **data: Any) -> ClientEvent:
        return ClientEvent(self.state.client, kind, at_ns, self.state.session or "", data)

    @override
    def _open(self, at_ns: int, client_session: str | None, source: str | None) -> list[IngestItem]:
        """Make sure a session is open (a new `session` header value starts the next one),
        within the client's session budget."""
        st = self.state
        out: list[IngestItem] = []
        switching = (
            st.session is not None and client_session and client_session != st.client_session
        )
        if not switching and st.session is not None:
            return out
        if not st.session_budget.take_one(at_ns):
            return self._session_refused(at_ns)
        if switching:
            out += self._flush_pending()
            out += self._end_session("new_session", at_ns)
        return out + self._start(at_ns, client_session, source)

    def _session_refused(self, at_ns: int) -> list[IngestItem]:
        """Past `max_new_sessions_per_minute`: a new session header value is not followed
        (the data stays in the open session); with none open, the message is dropped."""
        st = self.state
        self._tele.drop("session_budget")
        st.count("session_budget_refused")
        self._log.log(
            logging.WARNING,
            f"session_budget:{st.client}",
            "client %s: more than %g new sessions a minute; %s",
            st.client,
            self._opt.max_new_sessions_per_minute,
            "staying in its session" if st.session else "message dropped",
        )
        return []

    def _start(
        self, at_ns: int, client_session: str | None, source: str | None, **why: Any
    ) -> list[IngestItem]:
        st = self.state
        st.session = session_dir_name(st.client, at_ns)
        st.session_started_ns = at_ns
        st.client_session = client_session
        st.source = source or st.source
        st.counters, st.rejects = {}, {}
        st.sessions += 1
        out: list[IngestItem] = [
            self._event(
                "session_start",
                at_ns,
                client_session=client_session,
                source=st.source,
                capabilities=list(st.capabilities),
                config=self._opt.client_config,
                start_sample=st.next_sample,
                **why,
            )
        ]
        down_s = self._opt.host_down_s
        just_started = at_ns - self._opt.host_started_ns <= self._stale_ns
        if st.sessions == 1 and down_s is not None and just_started:
            # The host restarted as this client streamed (it is back within the stale
            # time of the host's start): the stretch the host was down is a fact of
            # this session's record.
            out.append(
                self._event(
                    "host_restart",
                    at_ns,
                    down_s=down_s,
                    host_stopped_ns=self._opt.host_stopped_ns,
                )
            )
        return out

    @override
    def _restart_session(self, at_ns: int, **why: Any) -> list[IngestItem] | None:
        st = self.state
        if not st.session_budget.take_one(at_ns):
            self._session_refused(at_ns)
            return None
        out = self._end_session("restart", at_ns)
        for seq_state in (st.audio, st.video):
            seq_state.expected, seq_state.last_ts = None, None
            seq_state.recent.clear()
        return out + self._start(at_ns, st.client_session, st.source, **why)

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

    # -- control ----------------------------------------------------------------------
    def _control(self, event: ControlEvent) -> list[IngestItem]:
        st = self.state
        st.count(f"control_{event.command}")
        if event.command == "hello":
            caps = event.body.get("capabilities")
            if isinstance(caps, list):
                texts = (wire_text(c, 32) for c in caps[:16])
                st.capabilities = [c for c in texts if c is not None]
            out = self._open(event.received_ns, wire_text(event.body.get("session")), None)
            if st.session is None:
                return out  # the session budget refused a new session: counted there
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
        """Bounded client count (principle 4): a new client past `max_clients` is rejected.

        Clients silent for `evict_after_seconds` (by arrival time) do not count."""
        self._tele.client_event("refused")
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
        """Register this client's status section (computed when status is read) and its
        last arrival time (what the client table counts)."""
        if closed:
            self._tele.client(self.state.client, client_status(self.state, closed=True))
        elif not self._published:
            self._published = True
            self._tele.client(self.state.client, self.status_section, self._last_seen)

    def _last_seen(self) -> int:
        return self.state.last_seen_ns

    def status_section(self) -> dict[str, Any]:
        """This client's part of the status document, computed when status is read."""
        return client_status(self.state)
