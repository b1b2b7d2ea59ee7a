"""Sender processes released together, temp dirs and bounded waits (the parent's side)."""

from __future__ import annotations

import multiprocessing as mp
import queue
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

__all__ = ["SenderGroup", "temp_dir", "wait_for"]


@contextmanager
def temp_dir(prefix: str) -> Iterator[Path]:
    """A fresh directory, removed with everything in it on the way out."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def wait_for(cond: Callable[[], bool], timeout: float, step: float = 0.02) -> bool:
    """Poll `cond` every `step` s for at most `timeout` s; its last value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(step)
    return cond()


class SenderGroup:
    """Spawned sender processes sharing one `go` event and one result queue.

    `target(idx, *args, go, results)` runs in each process (see `core.wire` for what a
    sender says). `spawn`, not `fork`: the parent runs Bytewax and ZeroMQ threads, which
    must not be forked. Use as a context manager: leaving it releases any sender still
    waiting and terminates anything still running.
    """

    def __init__(self, target: Callable[..., None], args: Sequence[tuple[Any, ...]]) -> None:
        ctx = mp.get_context("spawn")
        self.go = ctx.Event()
        self.results: Any = ctx.Queue()
        self.procs = [
            ctx.Process(target=target, args=(i, *a, self.go, self.results), daemon=True)
            for i, a in enumerate(args)
        ]
        self.reports: dict[int, dict[str, Any]] = {}
        self.errors: list[str] = []

    def __enter__(self) -> SenderGroup:
        for p in self.procs:
            p.start()
        return self

    def wait_ready(self, timeout: float = 30.0) -> None:
        ready: set[int] = set()
        deadline = time.monotonic() + timeout
        while len(ready) < len(self.procs):
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"only {len(ready)}/{len(self.procs)} senders ready")
            try:
                msg = self.results.get(timeout=left)
            except queue.Empty:
                continue
            if msg[0] == "ready":
                ready.add(msg[1])
            elif msg[0] == "error":
                raise RuntimeError(f"sender {msg[1]}: {msg[2]}")

    def start(self) -> int:
        """Release every sender; returns the time (unix ns) it did."""
        now = time.time_ns()
        self.go.set()
        return now

    def wait_done(self, timeout: float) -> dict[int, dict[str, Any]]:
        """Collect reports until every sender reported (or failed) or `timeout` s passed."""
        deadline = time.monotonic() + timeout
        while not self.done():
            left = deadline - time.monotonic()
            if left <= 0:
                break
            try:
                msg = self.results.get(timeout=min(left, 0.5))
            except queue.Empty:
                if not any(p.is_alive() for p in self.procs) and self.results.empty():
                    self.errors.append("a sender exited without a report")
                    break
                continue
            self._take(msg)
        return self.reports

    def done(self) -> bool:
        return len(self.reports) + len(self.errors) >= len(self.procs)

    def _take(self, msg: tuple[Any, ...]) -> None:
        if msg[0] == "done":
            self.reports[msg[1]] = msg[2]
        elif msg[0] == "error":
            self.errors.append(f"sender {msg[1]}: {msg[2]}")

    def __exit__(self, *exc: object) -> None:
        self.go.set()  # a sender still waiting for go must not wait out its timeout
        for p in self.procs:
            p.join(timeout=20)
        for p in self.procs:
            if p.is_alive():
                p.terminate()
                p.join(timeout=5)
        self.results.close()
        self.results.join_thread()
