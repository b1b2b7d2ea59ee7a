"""Which rows exist, and their `Id`s: the writer's memory of the database, and `/sql`.

The module's reducers return nothing, so a row a step made is found again by its
natural `Key` (`plan.py`). `RowIds` answers "is it there?" and "what is its Id?" from
a bounded LRU first and from `/sql` otherwise, and resolves the `IdOf` references in a
step's key and arguments. Worker thread only (not thread-safe).
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from ambient_flow.spacetimedb.errors import UnexpectedResponse
from ambient_flow.spacetimedb.http import SpacetimeClient
from ambient_flow.spacetimedb.module import select_sql
from ambient_flow.spacetimedb.plan import IdOf, Key
from ambient_flow.telemetry import RateLimitedLog

__all__ = ["Lru", "MissingRow", "RowIds"]


class MissingRow(Exception):
    """A row a step refers to is not in the database (the step that makes it failed)."""


class Lru(OrderedDict[Any, Any]):
    """A dict that keeps its `size` most recently put keys."""

    def __init__(self, size: int) -> None:
        super().__init__()
        self._size = size

    def put(self, key: Any, value: Any) -> None:
        self[key] = value
        self.move_to_end(key)
        while len(self) > self._size:
            self.popitem(last=False)


class RowIds:
    """Rows known to exist (resolved `Key` -> `Id`, or None when only existence is known).

    Args:
        client: Where `/sql` goes.
        size: Keys remembered (least recently used forgotten first).
        count: Called with a counter's name (`sql`, `duplicate_rows`).
        log: Where a key matching several rows is reported (rate-limited).
    """

    def __init__(
        self, client: SpacetimeClient, size: int, count: Callable[[str], None], log: RateLimitedLog
    ) -> None:
        self._client = client
        self._ids = Lru(size)
        self._count = count
        self._log = log

    def __contains__(self, key: Key) -> bool:
        return key in self._ids

    def exists(self, key: Key) -> None:
        """`key`'s row is there now (a call that makes it succeeded); its Id is read later."""
        self._ids.put(key, self._ids.get(key))

    def resolve_arg(self, arg: Any) -> Any:
        """An argument with an `IdOf` replaced by that row's Id."""
        return self.id_of(arg.key) if isinstance(arg, IdOf) else arg

    def resolve_key(self, key: Key) -> Key:
        """`key` with every `IdOf` in its match replaced by the row's Id."""
        if not any(isinstance(v, IdOf) for _, v in key.match):
            return key
        return Key(key.table, tuple((c, self.resolve_arg(v)) for c, v in key.match))

    def id_of(self, key: Key) -> int:
        """The Id of `key`'s row (`MissingRow` when there is none)."""
        resolved = self.resolve_key(key)
        cached = self._ids.get(resolved)
        if isinstance(cached, int):
            return cached
        if not self.lookup(resolved):
            raise MissingRow(f"no {resolved.table} row where {dict(resolved.match)}")
        found = self._ids.get(resolved)
        if not isinstance(found, int):
            raise UnexpectedResponse(200, f"{resolved.table} rows have no integer Id")
        return found

    def lookup(self, key: Key) -> bool:
        """Is there a row for `key`? Remembers its (lowest) Id."""
        query = select_sql(key.table, [(c, v) for c, v in key.match if not isinstance(v, IdOf)])
        self._count("sql")
        results = self._client.sql(query)
        rows = results[0].dicts() if results else []
        ids = sorted(i for r in rows if isinstance(i := r.get("Id"), int))
        if rows and not ids:
            raise UnexpectedResponse(200, f"{key.table} rows have no integer Id column")
        if len(ids) > 1:
            self._count("duplicate_rows")
            self._log.log(
                logging.WARNING, f"duplicates:{key.table}",
                "SpacetimeDB %s has %d rows for one key %s; using Id %d",
                key.table, len(ids), dict(key.match), ids[0],
            )  # fmt: skip
        if ids:
            self._ids.put(key, ids[0])
        return bool(ids)
