"""Small statistics and CPU accounting (stdlib only: sender processes import this too)."""

from __future__ import annotations

import resource
import statistics
from collections.abc import Sequence

__all__ = ["MachineLoad", "cpu_seconds", "median", "percentile", "rounded"]


def cpu_seconds() -> float:
    """CPU time of this process, all its threads, no children (getrusage)."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def percentile(values: Sequence[float], q: float) -> float | None:
    """The nearest-rank `q`-th percentile, or None for no values."""
    if not values:
        return None
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(q / 100 * (len(s) - 1))))]


def median(values: Sequence[float | None]) -> float | None:
    """Median of the values that are not None (of repeats, some of which may have failed)."""
    vals = [v for v in values if v is not None]
    return statistics.median(vals) if vals else None


def rounded(x: float | None, digits: int = 2) -> float | None:
    return None if x is None else round(x, digits)


class MachineLoad:
    """System-wide CPU over a window (all cores, in % of one core): who else was busy.

    The cores are shared with other work; `steal` and a busy machine with an idle host
    explain a slow run better than guessing. Starts measuring when made.
    """

    def __init__(self) -> None:
        import psutil

        self._psutil = psutil
        self._t0 = psutil.cpu_times()

    def pct(self, wall: float, own_cpu_s: float) -> dict[str, float]:
        """Busy, other processes' (busy minus `own_cpu_s`), steal and iowait since made."""
        t1 = self._psutil.cpu_times()

        def d(name: str) -> float:
            return float(getattr(t1, name, 0.0) - getattr(self._t0, name, 0.0))

        busy = d("user") + d("system") + d("nice") + d("irq") + d("softirq")
        return {
            "busy_pct": round(100 * busy / wall, 1),
            # /proc/stat ticks vs getrusage: about +-10 points of noise, so clamp at 0
            "others_pct": round(max(0.0, 100 * (busy - own_cpu_s) / wall), 1),
            "steal_pct": round(100 * d("steal") / wall, 1),
            "iowait_pct": round(100 * d("iowait") / wall, 1),
        }
