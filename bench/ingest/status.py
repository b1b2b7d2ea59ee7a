"""What the status document costs to build, by client count.

    python -m bench.ingest.status [--clients 100 1000 5000] [--repeats 3]

Every status read (status.json every `--status-interval`, `stats`, a metrics scrape)
builds every client's section: its counters and its latency percentiles over the last
512 arrivals. This times `Telemetry.status()` and the JSON that status.json writes, for
clients with full latency windows (the worst case), best of `--repeats`. It runs on a
thread of its own in the host, but holds the GIL the worker needs while it runs.
"""

from __future__ import annotations

import argparse
import json
import random
import time

from ambient_flow.operators.client_state import LATENCY_WINDOW, ClientState, client_status
from ambient_flow.telemetry import Telemetry

__all__ = ["main", "measure"]


def _telemetry(clients: int) -> Telemetry:
    rng = random.Random(clients)
    tele = Telemetry()
    for i in range(clients):
        st = ClientState(client=f"client{i:05d}", session=f"s{i}", last_seen_ns=time.time_ns())
        st.latencies_ms.extend(rng.uniform(0.2, 40.0) for _ in range(LATENCY_WINDOW))
        st.counters.update(audio=1000 + i, video=500, duplicate=i % 3)

        def section(st: ClientState = st) -> dict[str, object]:
            return client_status(st)

        tele.client(st.client, section, lambda st=st: st.last_seen_ns)
    return tele


def measure(clients: int, repeats: int) -> tuple[float, float]:
    """Best-of-`repeats` seconds to build the document and to serialise it."""
    tele = _telemetry(clients)
    build = dump = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        doc = tele.status()
        t1 = time.perf_counter()
        json.dumps(doc, indent=1, default=str)
        t2 = time.perf_counter()
        build, dump = min(build, t1 - t0), min(dump, t2 - t1)
    return build, dump


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="bench.ingest.status", description=__doc__.split("\n\n")[0])
    p.add_argument("--clients", type=int, nargs="+", default=[100, 1000, 5000])
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args(argv)
    print("clients  document ms  per client µs  JSON ms")
    for n in args.clients:
        build, dump = measure(n, args.repeats)
        print(f"{n:7d}  {build * 1e3:11.1f}  {build / n * 1e6:13.1f}  {dump * 1e3:7.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
