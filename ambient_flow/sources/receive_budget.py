"""What one sending host may push into the flow: a byte budget per second, per host.

The sources read every socket as fast as they can (so libzmq's queues and the kernel's
buffers stay short) and hand on only what each peer host's budget allows; the rest is
dropped at once, before it costs a parse, and counted (`receive_budget` drops, by
channel, with bytes). A flood from one host then costs the worker a `recv` per message,
not a parse and a write, and other clients' audio keeps flowing.

The budget is a token bucket in bytes on the monotonic clock (this is the live edge:
what was dropped never reaches a capture, so a replay sees the same input).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["ReceiveBudget"]

#: Hosts whose buckets are remembered; the least recently seen are forgotten first.
MAX_HOSTS = 4096


@dataclass
class _Bucket:
    level: float
    at: float


class ReceiveBudget:
    """Per-host token buckets: `rate` bytes per second, up to `burst` bytes at once.

    One instance per source partition (each runs on one worker thread). `rate` 0
    turns the budget off.
    """

    def __init__(
        self, rate: float, burst: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if rate < 0 or burst < 0:
            raise ValueError("rate and burst must be >= 0")
        self._rate = rate
        self._burst = max(burst, rate)
        self._clock = clock
        self._hosts: OrderedDict[str, _Bucket] = OrderedDict()

    def allow(self, host: str, nbytes: int) -> bool:
        """Take `nbytes` from `host`'s budget; False (take nothing) if it has not got them."""
        if self._rate <= 0:
            return True
        now = self._clock()
        bucket = self._hosts.get(host)
        if bucket is None:
            bucket = _Bucket(self._burst, now)
            self._hosts[host] = bucket
            if len(self._hosts) > MAX_HOSTS:
                self._hosts.popitem(last=False)
        else:
            self._hosts.move_to_end(host)
            bucket.level = min(self._burst, bucket.level + (now - bucket.at) * self._rate)
            bucket.at = now
        if bucket.level < nbytes:
            return False
        bucket.level -= nbytes
        return True
