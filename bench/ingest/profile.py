"""Where ingest's time goes per message: the live ingest graph under cProfile.

    python -m bench.ingest.profile [--clients 100] [--per-client 300] [--top 25]

The live graph's steps from parse to the session sink (`graph.build_ingest` +
`attach_sessions`, the host's live runtime, sessions written to a temp dir), fed by
Bytewax's `TestingSource` with prebuilt raw audio messages (100 clients interleaved,
arrival times now, `--batch` messages per source batch: a live source takes up to 512),
so no socket and no sender share the CPU: what is left is the
per-message cost of the flow itself. Prints messages/s without and with the profiler,
the CPU per message of the worker thread and of the other threads (the session writer's:
on a shared machine CPU time moves less than wall time), and the functions with the most
own time (worker thread only), in µs per message.
"""

from __future__ import annotations

import argparse
import cProfile
import dataclasses
import io
import pstats
import resource
import time
from typing import Any

from bytewax.dataflow import Dataflow
from bytewax.testing import TestingSource, run_main

from ambient_flow.config import Settings
from ambient_flow.graph.ingest import attach_sessions, build_ingest
from ambient_flow.protocol.messages import RawMessage
from ambient_flow.runtime import HostRuntime
from ambient_flow.testing.messages import audio_parts, raw
from bench.core.hostproc import SIMULATED_CLIENTS
from bench.core.procs import temp_dir

__all__ = ["main", "messages", "run_once"]


def messages(clients: int, per_client: int) -> list[RawMessage]:
    """`clients` x `per_client` audio messages (3306 B envelopes), interleaved, arriving now."""
    now_ms = time.time_ns() // 1_000_000
    out = []
    for seq in range(per_client):
        for c in range(clients):
            ts = now_ms + 100 * seq
            out.append(raw("audio", audio_parts(seq, client=f"c{c}", ts=ts), at_ns=ts * 1_000_000))
    return out


def run_once(
    msgs: list[RawMessage],
    profile: cProfile.Profile | None = None,
    batch: int = 100,
    cpu: dict[str, float] | None = None,
) -> float:
    """Seconds the live ingest graph takes for `msgs` (sessions written); with `cpu`, the
    CPU seconds (user + system) of the worker thread (`worker`) and of the process's
    other threads, the session writer's (`others`), are put there."""
    with temp_dir("af-bench-prof-") as tmp:
        settings = Settings(data_dir=str(tmp), metrics_port=0, enrich=False, tcp_port=0)
        settings = dataclasses.replace(settings, **SIMULATED_CLIENTS)  # type: ignore[arg-type]
        runtime = HostRuntime(settings=settings)
        flow = Dataflow("bench_profile")
        ingest = build_ingest(
            flow, runtime, {"in": TestingSource(msgs, batch_size=batch)}, write_sessions=False
        )
        attach_sessions(runtime, ingest, None)
        t = time.perf_counter()
        thread0, process0 = _cpu(resource.RUSAGE_THREAD), _cpu(resource.RUSAGE_SELF)
        if profile is not None:
            profile.enable()
        run_main(flow)  # type: ignore[no-untyped-call]  # the writer thread is joined at its end
        if profile is not None:
            profile.disable()
        dt = time.perf_counter() - t
        thread, process = _cpu(resource.RUSAGE_THREAD) - thread0, _cpu(resource.RUSAGE_SELF)
        if cpu is not None:
            cpu.update(worker=thread, others=process - process0 - thread)
        runtime.close()
    return dt


def _cpu(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(prog="python -m bench.ingest.profile", description=__doc__)
    p.add_argument("--clients", type=int, default=100)
    p.add_argument("--per-client", type=int, default=300)
    p.add_argument("--top", type=int, default=25)
    p.add_argument("--batch", type=int, default=100, help="messages per source batch")
    args = p.parse_args(argv)
    n = args.clients * args.per_client
    # fresh arrival times for every run (stale ones would make every client look gone)
    runs = []
    for _ in range(3):
        cpu: dict[str, float] = {}
        runs.append((run_once(messages(args.clients, args.per_client), None, args.batch, cpu), cpu))
    plain = min(dt for dt, _ in runs)
    worker = min(cpu["worker"] for _, cpu in runs)
    others = min(cpu["others"] for _, cpu in runs)
    prof = cProfile.Profile()
    profiled = run_once(messages(args.clients, args.per_client), prof, args.batch)
    print(
        f"{n} audio messages, {args.clients} clients: {n / plain:,.0f} msgs/s "
        f"({1e6 * plain / n:.1f} µs per message; best of 3); under cProfile "
        f"{1e6 * profiled / n:.1f} µs per message"
    )
    print(
        f"CPU per message (user + system, best of 3): worker thread {1e6 * worker / n:.1f} µs, "
        f"other threads (the session writer) {1e6 * others / n:.1f} µs"
    )
    buf = io.StringIO()
    stats = pstats.Stats(prof, stream=buf).sort_stats("tottime")
    rows = []
    for (file, line, fn), (_cc, nc, tt, ct, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        rows.append((tt, ct, nc, f"{file.rsplit('/', 2)[-2:][-1]}:{line} {fn}"))
    rows.sort(reverse=True)
    total = sum(r[0] for r in rows)
    print(f"{'own µs/msg':>10} {'cum µs/msg':>10} {'calls/msg':>9}  function")
    for tt, ct, nc, name in rows[: args.top]:
        print(f"{1e6 * tt / n:>10.2f} {1e6 * ct / n:>10.2f} {nc / n:>9.2f}  {name}")
    print(f"{1e6 * total / n:>10.2f} {'':>10} {'':>9}  (all functions, profiled)")
    return {
        "messages": n,
        "us_per_message": 1e6 * plain / n,
        "worker_cpu_us_per_message": 1e6 * worker / n,
        "other_threads_cpu_us_per_message": 1e6 * others / n,
    }


if __name__ == "__main__":
    main()
