from __future__ import annotations

import threading
import time

import pytest

from ambient_flow.operators.batching import MicroBatcher


def test_items_from_many_callers_share_calls_and_get_their_own_results() -> None:
    sizes: list[int] = []

    def double(items):  # type: ignore[no-untyped-def]
        sizes.append(len(items))
        time.sleep(0.02)
        return [2 * x for x in items]

    batcher = MicroBatcher(double, max_batch=8, max_wait=0.01)
    futures = [batcher.submit(i) for i in range(40)]
    assert [f.result(timeout=5) for f in futures] == [2 * i for i in range(40)]
    batcher.close()
    assert sum(sizes) == 40 and max(sizes) <= 8
    assert batcher.stats.calls == len(sizes) < 40  # batched, not one call per item


def test_a_failing_call_fails_every_item_of_its_batch_and_the_next_batch_runs() -> None:
    calls = 0

    def flaky(items):  # type: ignore[no-untyped-def]
        nonlocal calls
        calls += 1
        if calls == 1:
            raise ValueError("model broke")
        return items

    batcher = MicroBatcher(flaky, max_batch=4, max_wait=0.05)
    first = [batcher.submit(i) for i in range(3)]
    for f in first:
        with pytest.raises(ValueError, match="model broke"):
            f.result(timeout=5)
    assert batcher.submit(7).result(timeout=5) == 7
    batcher.close()
    assert batcher.stats.errors == 1


def test_close_finishes_what_was_submitted_and_joins_its_thread() -> None:
    batcher = MicroBatcher(lambda items: list(items), max_batch=2, max_wait=0.0)
    futures = [batcher.submit(i) for i in range(5)]
    batcher.close()
    assert all(f.done() for f in futures)
    assert not any(t.name == "af-batcher" for t in threading.enumerate())
