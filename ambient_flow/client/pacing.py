"""Real-time pacing on absolute deadlines.

A sender that sleeps `period` after each send drifts: every send, every wake-up
latency and every rounding error adds up, and after ten minutes the stream is
seconds behind its own timestamps. `Pacer` instead computes deadline *n* as
`start + n * period` from a monotonic clock, so an error in one tick is never
carried into the next. When the sender falls behind (a slow JPEG encode, a
stalled socket) it does not sleep until it has caught up.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from ambient_flow.errors import ConfigError

__all__ = ["Clock", "Pacer", "Sleep"]

#: A monotonic clock in seconds (`time.monotonic` unless a test injects a fake one).
Clock = Callable[[], float]
#: Sleeps for about the given number of seconds (`time.sleep` or a fake).
Sleep = Callable[[float], object]


class Pacer:
    """Waits for absolute deadlines `start + offset` on a monotonic clock.

    Args:
        period_s: Tick period for `wait_tick`; `None` when only `wait_until` is used.
        realtime: False sends as fast as possible: every wait returns at once.
        clock: Monotonic seconds; injectable so tests can simulate hours.
        sleep: How to sleep; ignored when `stop` is given (then `stop.wait` sleeps,
            so setting the event ends a wait at once).
        stop: Setting this event makes any wait return False immediately.
    """

    def __init__(
        self,
        period_s: float | None = None,
        *,
        realtime: bool = True,
        clock: Clock = time.monotonic,
        sleep: Sleep = time.sleep,
        stop: threading.Event | None = None,
    ) -> None:
        if period_s is not None and not period_s > 0:
            raise ConfigError(f"period_s={period_s} must be > 0")
        self.period_s = period_s
        self.realtime = realtime
        self._clock = clock
        self._sleep = sleep
        self._stop = stop
        self._start: float | None = None
        #: How late the last deadline was met (seconds, >= 0); 0 when not realtime.
        self.last_lateness_s = 0.0
        #: Largest lateness seen: how far the sender fell behind at worst.
        self.max_lateness_s = 0.0

    @property
    def start_time(self) -> float:
        """The clock reading every deadline is measured from (set on first use)."""
        if self._start is None:
            self._start = self._clock()
        return self._start

    def start(self, at: float | None = None) -> None:
        """Fix the origin of the deadlines (now, unless `at` is given)."""
        self._start = self._clock() if at is None else at

    def deadline(self, n: int) -> float:
        """Clock reading of tick `n`: `start + n * period`, never accumulated."""
        if self.period_s is None:
            raise ConfigError("this Pacer has no period; use wait_until")
        return self.start_time + n * self.period_s

    def wait_tick(self, n: int) -> bool:
        """Wait for tick `n`. Returns False if `stop` was set first."""
        return self._wait_for(self.deadline(n))

    def wait_until(self, offset_s: float) -> bool:
        """Wait until `offset_s` seconds after the start. Returns False if stopped."""
        return self._wait_for(self.start_time + offset_s)

    def _wait_for(self, deadline: float) -> bool:
        if self._stop is not None and self._stop.is_set():
            return False
        if not self.realtime:
            return True
        while (remaining := deadline - self._clock()) > 0:
            if self._stop is not None:
                if self._stop.wait(remaining):
                    return False
            else:
                self._sleep(remaining)
        self.last_lateness_s = -remaining
        self.max_lateness_s = max(self.max_lateness_s, self.last_lateness_s)
        return True
