"""Hand a stream's items to a function of the embedding program (`ambient_flow.Host`).

The function runs on the Bytewax worker thread, once per batch: it must only hand the
items on (append to a bounded queue) and return, never wait.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

from bytewax.outputs import DynamicSink, StatelessSinkPartition
from typing_extensions import override

__all__ = ["CallbackSink"]

X = TypeVar("X")


class _CallbackPartition(StatelessSinkPartition[X], Generic[X]):
    def __init__(self, fn: Callable[[list[X]], None]) -> None:
        self._fn = fn

    @override
    def write_batch(self, items: list[X]) -> None:
        self._fn(items)


class CallbackSink(DynamicSink[X], Generic[X]):
    """Calls `fn(items)` with each batch, on every worker (`fn` must be thread-safe)."""

    def __init__(self, fn: Callable[[list[X]], None]) -> None:
        self._fn = fn

    @override
    def build(self, step_id: str, worker_index: int, worker_count: int) -> _CallbackPartition[X]:
        return _CallbackPartition(self._fn)
