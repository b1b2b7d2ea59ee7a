"""Slow work off the worker thread: order per key, bounded waiting, no stall."""

from __future__ import annotations

import threading
import time

import bytewax.operators as op
import pytest
from bytewax.dataflow import Dataflow
from bytewax.testing import TestingSink, TestingSource

from ambient_flow.operators.batching import MicroBatcher
from ambient_flow.operators.offload import OffloadOptions, offload
from ambient_flow.runtime import HostRuntime, run_dataflow


def run(items, fn=None, options=None, submit_factory=None):  # type: ignore[no-untyped-def]
    runtime = HostRuntime()
    flow = Dataflow("offload_test")
    keyed = op.key_on("key", op.input("in", flow, TestingSource(items)), lambda kv: kv[0])
    values = op.map_value("value", keyed, lambda kv: kv[1])
    out: list = []  # type: ignore[type-arg]
    done = offload("work", values, fn, runtime, options, submit_factory=submit_factory)
    op.output("out", done, TestingSink(out))
    try:
        run_dataflow(flow)
    finally:
        runtime.close()
    return out, runtime


def test_results_keep_their_order_per_key() -> None:
    items = [(k, i) for i in range(20) for k in ("a", "b")]
    out, _ = run(items, fn=lambda v: (time.sleep(0.001), v * 10)[1])
    for key in ("a", "b"):
        assert [v for k, v in out if k == key] == [10 * i for i in range(20)]


def test_latest_policy_drops_superseded_items_and_counts_them() -> None:
    gate = threading.Event()

    def slow(v: int) -> int:
        gate.wait(2)
        return v

    items = [("cam", i) for i in range(50)]
    threading.Timer(0.3, gate.set).start()
    out, runtime = run(items, fn=slow, options=OffloadOptions(policy="latest"))
    values = [v for _, v in out]
    assert values[0] == 0 and values[-1] == 49 and len(values) < 50
    assert runtime.telemetry.status()["drops"]["work_superseded"] == 50 - len(values)


def test_queue_policy_bounds_the_backlog_and_counts_overflow() -> None:
    items = [("mic", i) for i in range(30)]
    out, runtime = run(
        items, fn=lambda v: (time.sleep(0.01), v)[1], options=OffloadOptions(max_backlog=5)
    )
    dropped = runtime.telemetry.status()["drops"].get("work_behind", 0)
    assert len(out) + dropped == 30
    assert [v for _, v in out] == sorted(v for _, v in out)


def test_errors_are_counted_not_silent() -> None:
    def broken(v: int) -> int:
        if v == 3:
            raise RuntimeError("model exploded")
        return v

    out, runtime = run([("k", i) for i in range(6)], fn=broken)
    assert [v for _, v in out] == [0, 1, 2, 4, 5]
    assert runtime.telemetry.status()["drops"]["work_error"] == 1


def test_per_key_submit_through_a_shared_batcher() -> None:
    batcher: MicroBatcher[tuple[str, int], int] = MicroBatcher(
        lambda items: [v + len(items) * 0 for _, v in items], max_batch=8, max_wait=0.005
    )
    seen_keys: list[str] = []

    def factory():  # type: ignore[no-untyped-def]
        state = {"n": 0}

        def submit(v: int):  # type: ignore[no-untyped-def]
            state["n"] += 1  # per-key state lives here
            return batcher.submit(("k", v * 100 + state["n"]))

        seen_keys.append("made")
        return submit

    items = [(k, i) for i in range(5) for k in ("x", "y", "z")]
    out, _ = run(items, submit_factory=factory)
    batcher.close()
    assert len(seen_keys) == 3  # one submit function per key
    assert sorted(v for k, v in out if k == "x") == [i * 100 + i + 1 for i in range(5)]
    assert batcher.stats.calls < 15


def test_offload_needs_work() -> None:
    with pytest.raises(ValueError, match="fn or submit_factory"):
        run([("k", 1)])


def test_a_lane_that_does_not_hold_lets_other_results_overtake_it_but_not_events() -> None:
    """Live transcription: a speaker label must not wait for a transcript to be seen."""
    from concurrent.futures import Future

    from ambient_flow.operators.offload import Lane, OffloadLogic

    futures: dict[str, Future[str | None]] = {}

    def submit(item: str) -> Future[str | None]:
        futures[item] = Future()
        return futures[item]

    slow = Lane("text", lambda: submit, hold=False)
    fast = Lane("speakers", lambda: submit)

    def route(item: str) -> Lane[str, str] | None:
        if item.startswith("event"):
            return None
        return slow if item.startswith("utt") else fast

    runtime = HostRuntime()
    logic = OffloadLogic(route, runtime, passthrough=lambda i: i,
                         may_overtake=lambda i: not i.startswith("event"))  # fmt: skip
    emitted: list[str] = []
    for item in ("utt1", "win1", "utt2", "win2", "event_end", "win3"):
        emitted += list(logic.on_item(item)[0])
    futures["win1"].set_result("win1")
    futures["win2"].set_result("win2")
    futures["win3"].set_result("win3")
    emitted += list(logic.on_notify()[0])
    assert emitted == ["win1", "win2"]  # past both transcripts; the event holds win3 back
    futures["utt2"].set_result("utt2")
    emitted += list(logic.on_notify()[0])
    assert emitted == ["win1", "win2"]  # a lane's own items stay in order
    futures["utt1"].set_result("utt1")
    emitted += list(logic.on_notify()[0])
    assert emitted == ["win1", "win2", "utt1", "utt2", "event_end", "win3"]
    strict = OffloadLogic(lambda i: Lane("t", lambda: submit), runtime, passthrough=lambda i: i)
    out = list(strict.on_item("a")[0]) + list(strict.on_item("b")[0])
    futures["b"].set_result("b")
    assert out + list(strict.on_notify()[0]) == []  # holding lanes keep the strict order
    runtime.close()
