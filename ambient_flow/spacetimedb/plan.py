"""What a record becomes: a `Plan` of reducer calls (`Step`s), rows named by natural
`Key`s and `IdOf` references the writer resolves. Plain frozen values; `mapping` makes
them from records and `writer` carries them out."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, TypeAlias

__all__ = ["Arg", "IdOf", "Key", "KeyValue", "Plan", "Step", "StepKind"]

StepKind = Literal["ensure", "insert", "update"]


@dataclass(frozen=True)
class Key:
    """The rows of `table` whose columns equal `match` (values may be `IdOf`s)."""

    table: str
    match: tuple[tuple[str, KeyValue], ...]


@dataclass(frozen=True)
class IdOf:
    """The `Id` the module gave the row `key` names; resolved by the writer via `/sql`."""

    key: Key


KeyValue: TypeAlias = "str | int | bool | IdOf"
Arg: TypeAlias = "str | int | float | bool | bytes | IdOf | None"


@dataclass(frozen=True)
class Step:
    """One reducer call and how to make it safe to repeat.

    `kind`:
        - `ensure`: skipped when a row matches `key` (the writer remembers keys it saw);
          used for rows shared by many records (device, session, speaker).
        - `insert`: sent; if an attempt ended without a verdict, `key` is checked before
          the next attempt, so a commit whose answer was lost is not written twice.
        - `update`: naturally idempotent (sets a value); simply sent again.
    """

    reducer: str
    args: tuple[Arg, ...]
    kind: StepKind
    key: Key | None = None


@dataclass(frozen=True)
class Plan:
    """The steps for one record, in order; a later step may need an earlier one's `Id`."""

    kind: str
    session_id: str
    device: str
    steps: tuple[Step, ...]
