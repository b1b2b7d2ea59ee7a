"""`SpacetimeWriter`: records in, reducer calls out, on its own thread; never blocks the caller.

Delivery guarantee: at-least-once attempts, at-most-once rows. Every record submitted
is, in the end, exactly one of: delivered, failed (a verdict that retrying cannot change:
counted by reason, logged once per reason), dropped (the queue was full or the writer
closed: counted, `submit` returned False), or handed back by `close()` as undelivered.
Nothing disappears without a count.

- `submit` appends to a bounded deque under a lock and returns; it never waits for the
  network. Beyond `queue_bound` waiting records, new records are refused (tail drop).
- One worker thread takes up to `batch_size` records per wake-up and works through each
  record's `Plan` in order, on one keep-alive connection (the HTTP API has one reducer
  per request; there is no batch route).
- A transient failure (refused, timeout, reset, 5xx, 429) retries the same step after a
  capped exponential back-off with jitter, holding the records behind it (order matters:
  an entry needs its session). If the step's last attempt may have been applied (it was
  sent and no verdict came back), its key is checked through `/sql` first, so a commit
  whose answer was lost is never written twice.
- A call the server refuses (bad arguments, unknown reducer, the reducer threw) fails its
  record at once: counted, logged once (rate-limited), not retried. An unknown reducer
  is not called again, nor one refused for its arguments (the database runs another
  version of the module: ours are checked against its signatures before sending).
- A refusal of the whole database (unknown database, bad token, forbidden, budget) stops
  all calls: `status()["state"] == "blocked"`, one probe every `blocked_retry_s`. A token
  the writer minted itself is replaced once (the server's keys may have been rotated).
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any, Final

from ambient_flow.spacetimedb.errors import (
    ArgumentError,
    CallRejected,
    DatabaseRejected,
    InvalidRecord,
    ServerBusy,
    TransientError,
)
from ambient_flow.spacetimedb.http import SpacetimeClient
from ambient_flow.spacetimedb.mapping import plan_record, record_kind
from ambient_flow.spacetimedb.module import encode_args
from ambient_flow.spacetimedb.options import Backoff, CloseReport, Pending, WriterOptions
from ambient_flow.spacetimedb.plan import Plan, Step
from ambient_flow.spacetimedb.row_ids import Lru, MissingRow, RowIds
from ambient_flow.telemetry import RateLimitedLog

__all__ = ["Backoff", "CloseReport", "Pending", "SpacetimeWriter", "WriterOptions"]

logger = logging.getLogger(__name__)

_MAX_PERMANENT_KINDS: Final = 50  # distinct (reason, reducer) pairs kept in status()
_STATE_MAPS: Final = 10_000  # sessions remembered (client, start time)


class _Verdict(Enum):
    DONE = "done"  # the step is in the database (now or already)
    RETRY = "retry"  # transient: back off, then the same step again
    RETRY_NOW = "retry_now"  # something was repaired (a new token): again at once
    BLOCKED = "blocked"  # the database refuses everything: probe slowly
    FAILED = "failed"  # the record is given up (counted)


@dataclass
class _Item:
    record: Mapping[str, Any]
    side: Mapping[str, Any] | None
    kind: str
    submitted_at: float
    plan: Plan | None = None
    done: int = 0  # steps completed
    ambiguous: bool = False  # the current step's last attempt may have been applied
    server_errors: int = 0  # 5xx/429 answers to the current step

    def pending(self) -> Pending:
        return Pending(self.record, self.side, partial=self.done > 0 or self.ambiguous)


class SpacetimeWriter:
    """Writes records to a SpacetimeDB database running the ambient-sub module.

    Thread-safe: `submit` and `status` may be called from any thread. Nothing touches
    the network before the worker thread starts (not even to get a token).

    Args:
        options: Where and how (validated when built).
        clock: Seconds, monotonic; for what `status()` reports (lag), heartbeat spacing
            and log rate limits. Waiting itself always uses `time.monotonic`.
        rng: Jitter source for the back-off (seed it for a repeatable schedule).
        client: A ready `SpacetimeClient` (tests); by default one is built from options.
    """

    def __init__(
        self,
        options: WriterOptions,
        *,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
        client: SpacetimeClient | None = None,
    ) -> None:
        self.options = options
        self._clock = clock
        self._client = client or SpacetimeClient(
            options.url,
            options.database,
            token=options.token,
            timeout=options.request_timeout_s,
            connect_timeout=options.connect_timeout_s,
        )
        self._own_token = not self._client.token
        self._backoff = Backoff(
            options.backoff_base_s, options.backoff_cap_s, rng or random.Random()
        )
        self._log = RateLimitedLog(logger, options.log_interval_s, clock=clock)
        # Shared with the worker; guarded by _cond.
        self._cond = threading.Condition()
        self._queue: deque[_Item] = deque()
        self._inflight: deque[_Item] = deque()
        self._closing = False
        self._deadline: float | None = None  # time.monotonic() after which the worker quits
        self._worker_done = False
        self._crashed: str | None = None
        self._retrying = False
        self._blocked: dict[str, Any] | None = None
        self._last_error: str | None = None
        self._counts: Counter[str] = Counter()
        self._failures: Counter[str] = Counter()  # failed requests, by reason
        self._failed_records: Counter[str] = Counter()  # records given up, by reason
        self._dropped: Counter[str] = Counter()  # by why: queue_full, closed
        self._by_kind: dict[str, Counter[str]] = {}
        self._permanent: dict[tuple[str, str], dict[str, Any]] = {}
        self._last_delivery_lag: float | None = None
        # Worker-only state.
        self._ids = RowIds(self._client, options.id_cache_size, self._count, self._log)
        # reducer -> (reason, the server's words) of the refusal that stopped its calls
        self._dead_reducers: dict[str, tuple[str, str]] = {}
        self._session_client = Lru(_STATE_MAPS)
        self._session_start = Lru(_STATE_MAPS)
        self._last_heartbeat: dict[str, float] = {}
        self._need_identity = False
        self._reissued = False
        self._thread = threading.Thread(
            target=self._run,
            name=f"spacetimedb-writer[{options.database}]",
            daemon=True,
        )
        self._thread.start()

    # -- caller side ---------------------------------------------------------------------
    def submit(self, record: Mapping[str, Any], side: Mapping[str, Any] | None = None) -> bool:
        """Queue a record (and its side record) for the database; never blocks.

        Returns:
            False if it was dropped (queue full, or the writer is closing); counted.
        """
        kind = record_kind(record)
        now = self._clock()
        with self._cond:
            self._counts["submitted"] += 1
            self._kind(kind)["submitted"] += 1
            why = "closed" if self._closing else None
            if why is None and len(self._queue) >= self.options.queue_bound:
                why = "queue_full"
            if why is not None:
                self._dropped[why] += 1
                self._kind(kind)["dropped"] += 1
            else:
                self._queue.append(_Item(dict(record), dict(side) if side else None, kind, now))
                self._cond.notify()
                return True
        self._log.log(
            logging.WARNING, f"drop:{why}",
            "SpacetimeDB writer dropped a %s record (%s; %d waiting, bound %d)",
            kind, why, len(self._queue), self.options.queue_bound,
        )  # fmt: skip
        return False

    def status(self) -> dict[str, Any]:
        """Counters and state, JSON-ready (see docs/spacetimedb.md for each key)."""
        with self._cond:
            return self._status_locked()

    def close(self, timeout: float = 10.0) -> CloseReport:
        """Stop taking records, deliver what can be delivered within `timeout`, stop.

        The worker keeps retrying until the deadline; a request in flight then may take
        up to one request timeout more. Records left are returned, never silently lost.
        """
        with self._cond:
            if not self._closing:
                self._closing = True
                self._deadline = time.monotonic() + max(0.0, timeout)
            self._cond.notify_all()
        budget = max(0.0, timeout) + self.options.request_timeout_s
        self._thread.join(budget + self.options.connect_timeout_s + 1.0)
        with self._cond:
            left = tuple(item.pending() for item in (*self._inflight, *self._queue))
            status = self._status_locked()
        if left:
            logger.error(
                "SpacetimeDB writer closed with %d record(s) undelivered (%s); "
                "they are in the close report",
                len(left), status["last_error"] or "not reached before the deadline",
            )  # fmt: skip
        return CloseReport(left, self._thread.is_alive(), status)

    def __enter__(self) -> SpacetimeWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- bookkeeping (call with _cond held) ----------------------------------------------
    def _kind(self, kind: str) -> Counter[str]:
        return self._by_kind.setdefault(kind, Counter())

    def _state_locked(self) -> str:
        if self._crashed is not None:
            return "crashed"
        if self._worker_done:
            return "closed"
        if self._blocked is not None:
            return "blocked"
        if self._retrying:
            return "backing_off"
        return "closing" if self._closing else "running"

    def _status_locked(self) -> dict[str, Any]:
        oldest = self._inflight[0] if self._inflight else (self._queue[0] if self._queue else None)
        lag = max(0.0, self._clock() - oldest.submitted_at) if oldest is not None else 0.0
        counts = self._counts
        return {
            "state": self._state_locked(),
            "database": self.options.database,
            "identity": self._client.identity_hex,
            "calls": counts["calls"],
            "sql": counts["sql"],
            "ok": counts["ok"],
            "retries": counts["retries"],
            "failures": dict(self._failures),
            "records": {
                "submitted": counts["submitted"],
                "delivered": counts["delivered"],
                "failed": sum(self._failed_records.values()),
                "dropped": sum(self._dropped.values()),
                "pending": len(self._queue) + len(self._inflight),
            },
            "failed_records": dict(self._failed_records),
            "dropped": dict(self._dropped),
            "by_kind": {k: dict(v) for k, v in self._by_kind.items()},
            "queue_depth": len(self._queue),
            "queue_bound": self.options.queue_bound,
            "lag_s": lag,
            "last_delivery_lag_s": self._last_delivery_lag,
            "duplicates_avoided": counts["duplicates_avoided"],
            "duplicate_rows": counts["duplicate_rows"],
            "last_error": self._last_error,
            "blocked": dict(self._blocked) if self._blocked else None,
            "permanent_errors": [dict(v) for v in self._permanent.values()],
            "dead_reducers": sorted(self._dead_reducers),
            "crash": self._crashed,
        }

    def _count(self, name: str, n: int = 1) -> None:
        with self._cond:
            self._counts[name] += n

    def _failure(self, reason: str, detail: str) -> None:
        with self._cond:
            self._failures[reason] += 1
            self._last_error = f"{reason}: {detail}"

    def _record_failed(self, item: _Item, reason: str, detail: str, reducer: str | None) -> None:
        where = reducer or "-"
        with self._cond:
            self._failed_records[reason] += 1
            self._kind(item.kind)["failed"] += 1
            entry = self._permanent.get((reason, where))
            if entry is None and len(self._permanent) < _MAX_PERMANENT_KINDS:
                entry = self._permanent[(reason, where)] = {
                    "reason": reason, "reducer": reducer, "count": 0, "detail": "",
                }  # fmt: skip
            if entry is not None:
                entry["count"] += 1
                entry["detail"] = detail
        self._log.log(
            logging.ERROR, f"failed:{reason}:{where}",
            "SpacetimeDB: a %s record failed at %s (%s: %s); counted, not retried",
            item.kind, where, reason, detail,
        )  # fmt: skip

    def _delivered(self, item: _Item) -> None:
        with self._cond:
            self._counts["delivered"] += 1
            self._kind(item.kind)["delivered"] += 1
            self._last_delivery_lag = max(0.0, self._clock() - item.submitted_at)

    def _block(self, exc: DatabaseRejected) -> None:
        with self._cond:
            first = self._blocked is None
            if first:
                self._blocked = {
                    "reason": exc.reason,
                    "detail": exc.detail,
                    "since": self._clock(),
                }
            waiting = len(self._queue) + len(self._inflight)
        if first:
            logger.error(
                "SpacetimeDB database %r refuses every call (%s: %s); holding %d record(s), "
                "asking again every %g s",
                self.options.database, exc.reason, exc.detail, waiting,
                self.options.blocked_retry_s,
            )  # fmt: skip

    def _unblock(self) -> None:
        with self._cond:
            was, self._blocked = self._blocked, None
            self._retrying = False
        if was is not None:
            logger.warning("SpacetimeDB database %r accepts calls again", self.options.database)

    # -- worker --------------------------------------------------------------------------
    def _run(self) -> None:
        try:
            while (batch := self._take()) is not None:
                for item in batch:
                    if not self._deliver(item):
                        return  # the close deadline passed; the rest is reported
                    with self._cond:
                        self._inflight.popleft()
        except Exception as exc:  # a bug: say so in status; close() reports the records
            logger.exception("SpacetimeDB writer stopped by an unexpected error")
            with self._cond:
                self._crashed = f"{type(exc).__name__}: {exc}"
        finally:
            self._client.close()
            with self._cond:
                self._worker_done = True
                self._cond.notify_all()

    def _take(self) -> list[_Item] | None:
        with self._cond:
            while not self._queue:
                if self._closing:
                    return None
                if not self._cond.wait(timeout=self.options.request_timeout_s):
                    self._client.close()  # idle: don't keep a socket the server may drop
            if self._past_deadline():
                return None
            batch = [
                self._queue.popleft() for _ in range(min(len(self._queue), self.options.batch_size))
            ]
            self._inflight.extend(batch)
            return batch

    def _past_deadline(self) -> bool:
        return self._deadline is not None and time.monotonic() >= self._deadline

    def _sleep(self, delay: float) -> bool:
        """Wait `delay` s (less once closing); False when the close deadline has passed."""
        end = time.monotonic() + delay
        with self._cond:
            while True:
                now = time.monotonic()
                if self._deadline is not None and now >= self._deadline:
                    return False
                limit = end if self._deadline is None else min(end, self._deadline)
                if now >= limit:
                    return True
                self._cond.wait(limit - now)

    def _deliver(self, item: _Item) -> bool:
        """Work `item` through its plan; False when the close deadline passed first."""
        if item.plan is None:
            try:
                item.plan = self._plan(item)
            except InvalidRecord as exc:
                self._record_failed(item, exc.reason, exc.detail, None)
                return True
        steps = item.plan.steps
        while item.done < len(steps):
            if self._past_deadline():
                return False
            verdict = self._attempt(item, steps[item.done])
            if verdict is _Verdict.DONE:
                item.done += 1
                item.ambiguous = False
                item.server_errors = 0
                self._backoff.reset()
                self._reissued = False
                self._unblock()
                continue
            if verdict is _Verdict.FAILED:
                self._unblock()
                return True
            self._count("retries")
            if verdict is _Verdict.RETRY_NOW:
                continue
            if verdict is _Verdict.BLOCKED:
                delay = self.options.blocked_retry_s
            else:
                with self._cond:
                    self._retrying = True
                delay = self._backoff.next()
            if not self._sleep(delay):
                return False
        self._delivered(item)
        return True

    def _plan(self, item: _Item) -> Plan:
        record, mapping = item.record, self.options.mapping
        session = record.get("session_id")
        if item.kind == "session_start" and isinstance(session, str):
            client = record.get("client")
            if isinstance(client, str) and client:
                self._session_client.put(session, client)
            if isinstance(record.get("at"), str):
                self._session_start.put(session, record["at"])
        known = self._session_client.get(session) if isinstance(session, str) else None
        side_client = (item.side or {}).get("client") or record.get("client")
        client = side_client if isinstance(side_client, str) and side_client else known
        device = mapping.device_identity.format(client=client or mapping.default_client)
        now = self._clock()
        last = self._last_heartbeat.get(device)
        beat = item.kind not in ("session_start", "session_end") and (
            last is None or now - last >= self.options.heartbeat_s
        )
        if beat or item.kind in ("session_start", "session_end"):
            self._last_heartbeat[device] = now  # a status update stamps LastHeartbeat too
        started = self._session_start.get(session) if isinstance(session, str) else None
        return plan_record(
            record, item.side, options=mapping, client=client,
            started_at=started if item.kind == "session_end" else None, heartbeat=beat,
        )  # fmt: skip

    def _attempt(self, item: _Item, step: Step) -> _Verdict:
        try:
            if self._need_identity:
                self._client.identity()
                self._need_identity = False
            if (dead := self._dead_reducers.get(step.reducer)) is not None:
                reason, detail = dead
                self._record_failed(
                    item, reason, f"{detail} (refused earlier: not called again)", step.reducer
                )
                return _Verdict.FAILED
            key = self._ids.resolve_key(step.key) if step.key is not None else None
            check = step.kind == "ensure" or (
                step.kind == "insert" and (item.ambiguous or self.options.check_before_insert)
            )
            if key is not None and check:
                if step.kind == "ensure" and key in self._ids:
                    return _Verdict.DONE
                if self._ids.lookup(key):
                    if item.ambiguous:
                        self._count("duplicates_avoided")
                    return _Verdict.DONE
            args = encode_args(step.reducer, [self._ids.resolve_arg(a) for a in step.args])
            self._count("calls")
            self._client.call(step.reducer, args)
            self._count("ok")
            if key is not None:
                self._ids.exists(key)
            return _Verdict.DONE
        except MissingRow as exc:
            self._record_failed(item, "missing_dependency", str(exc), step.reducer)
            return _Verdict.FAILED
        except ArgumentError as exc:
            self._record_failed(item, exc.reason, exc.detail, step.reducer)
            return _Verdict.FAILED
        except TransientError as exc:
            self._failure(exc.reason, exc.detail)
            item.ambiguous = item.ambiguous or exc.ambiguous
            if isinstance(exc, ServerBusy):
                item.server_errors += 1
                if item.server_errors >= self.options.max_server_errors:
                    detail = f"{item.server_errors} server errors, last: {exc.detail}"
                    self._record_failed(item, "gave_up", detail, step.reducer)
                    return _Verdict.FAILED
            self._log.log(
                logging.WARNING, f"transient:{exc.reason}",
                "SpacetimeDB %s failed (%s: %s); retrying with back-off",
                step.reducer, exc.reason, exc.detail,
            )  # fmt: skip
            return _Verdict.RETRY
        except DatabaseRejected as exc:
            self._failure(exc.reason, exc.detail)
            if exc.reason == "unauthorized" and self._own_token and not self._reissued:
                logger.warning(
                    "SpacetimeDB refused our token (%s); asking for a new one",
                    exc.detail,
                )
                self._reissued = True
                self._need_identity = True
                return _Verdict.RETRY_NOW
            self._block(exc)
            return _Verdict.BLOCKED
        except CallRejected as exc:
            self._failure(exc.reason, exc.detail)
            if exc.reason in ("no_such_reducer", "bad_arguments"):
                # Our arguments already match the module's signature (checked before
                # sending): a refusal means the database runs another version of the
                # module, and every later call of this reducer would be refused alike.
                self._dead_reducers[step.reducer] = (exc.reason, exc.detail)
            self._record_failed(item, exc.reason, exc.detail, step.reducer)
            return _Verdict.FAILED
