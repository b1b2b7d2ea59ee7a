"""Rate budgets on the data's own clock: a token bucket refilled by arrival time.

A per-client budget ("at most 120 s of gap fill per minute", "at most 10 new sessions
per minute") must be judged the same way live and in a replay, so it is refilled by
the recorded arrival times of the client's messages, never by the wall clock.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["NEVER_NS", "TokenBucket"]

#: A refill period so long the bucket only fills by `earn` (what it is given).
NEVER_NS = 2**62


@dataclass
class TokenBucket:
    """Holds up to `capacity` units, refilled at `capacity` per `period_ns` of data time.

    Starts full. `take` grants what it holds (all of `amount`, part of it, or nothing).
    Plain data: it is part of the client's state and of its snapshot.
    """

    capacity: float
    period_ns: int = 60_000_000_000
    level: float = -1.0  # -1: not started (full at the first take)
    at_ns: int = 0

    def __post_init__(self) -> None:
        if self.capacity < 0 or self.period_ns <= 0:
            raise ValueError("need capacity >= 0 and period_ns > 0")

    def _refill(self, now_ns: int) -> None:
        if self.level < 0:
            self.level, self.at_ns = self.capacity, now_ns
            return
        if now_ns > self.at_ns and self.period_ns < NEVER_NS:
            gained = (now_ns - self.at_ns) / self.period_ns * self.capacity
            self.level = min(self.capacity, self.level + gained)
            self.at_ns = now_ns

    def available(self, now_ns: int) -> float:
        """What the bucket holds at data time `now_ns`."""
        self._refill(now_ns)
        return self.level

    def earn(self, amount: float) -> None:
        """Add `amount` (up to the capacity): a bucket filled by what a client does."""
        if self.level < 0:
            self.level = self.capacity
        self.level = min(self.capacity, self.level + amount)

    def take(self, amount: float, now_ns: int) -> float:
        """Take up to `amount` at data time `now_ns`; returns what was granted."""
        self._refill(now_ns)
        granted = max(0.0, min(amount, self.level))
        self.level -= granted
        return granted

    def take_whole(self, amount: float, now_ns: int) -> bool:
        """Take all of `amount` if the bucket holds it, else nothing."""
        self._refill(now_ns)
        if self.level < amount:
            return False
        self.level -= amount
        return True

    def take_one(self, now_ns: int) -> bool:
        """Take one whole unit if there is one."""
        return self.take_whole(1.0, now_ns)
