"""Table-by-table comparison of two indexer databases (a live model and a rebuild from the chain).

Rows are matched on their primary keys, which are natural keys (event positions, object ids,
…), so equal models compare equal whatever order or batching built them. Both sides are read
in primary-key order and merged as streams, so memory stays flat however large the tables are;
string keys are ordered bytewise (``COLLATE "C"`` on PostgreSQL, SQLite's default), which is
also Python's order for the ASCII keys used here. Bookkeeping that legitimately differs (undo
log, which blocks ended a batch) is not compared; the checkpoints' last blocks are.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import Connection, Engine, String, Table, select
from sqlalchemy.sql.elements import ColumnElement

from gateway.db.base import Base
from gateway.indexer import tables as t

__all__ = ["Difference", "compare_databases"]

_MISSING = object()


@dataclass(frozen=True)
class Difference:
    table: str
    key: tuple[Any, ...]
    kind: Literal["only_live", "only_rebuilt", "changed"]
    column: str | None = None
    live: Any = None
    rebuilt: Any = None

    def __str__(self) -> str:
        key = ", ".join(str(k) for k in self.key)
        if self.kind == "only_live":
            return f"{self.table} [{key}]: only in live"
        if self.kind == "only_rebuilt":
            return f"{self.table} [{key}]: only in rebuilt"
        return f"{self.table} [{key}]: {self.column}: live={self.live!r} rebuilt={self.rebuilt!r}"


def _ordering(table: Table, connection: Connection) -> list[ColumnElement[Any]]:
    keys: list[ColumnElement[Any]] = []
    for column in table.primary_key.columns:
        if connection.dialect.name == "postgresql" and isinstance(column.type, String):
            keys.append(column.collate("C"))
        else:
            keys.append(column)
    return keys


def _rows(connection: Connection, table: Table) -> Iterator[tuple[tuple[Any, ...], dict[str, Any]]]:
    key_names = [c.name for c in table.primary_key.columns]
    query = select(table).order_by(*_ordering(table, connection))
    result = connection.execution_options(stream_results=True, yield_per=2000).execute(query)
    for row in result.mappings():
        yield tuple(row[k] for k in key_names), dict(row)


def _compare_table(live: Connection, rebuilt: Connection, table: Table) -> Iterator[Difference]:
    name = table.name
    left, right = _rows(live, table), _rows(rebuilt, table)
    a, b = next(left, None), next(right, None)
    while a is not None or b is not None:
        if b is None or (a is not None and a[0] < b[0]):
            assert a is not None
            yield Difference(name, a[0], "only_live")
            a = next(left, None)
        elif a is None or b[0] < a[0]:
            yield Difference(name, b[0], "only_rebuilt")
            b = next(right, None)
        else:
            for column, value in a[1].items():
                other = b[1].get(column, _MISSING)
                if value != other:
                    yield Difference(name, a[0], "changed", column, value, other)
            a, b = next(left, None), next(right, None)


def _checkpoints(connection: Connection) -> dict[tuple[Any, ...], int]:
    cp = t.table_of(t.CheckpointRow)
    return {(r.chain_id, r.contract): r.last_block for r in connection.execute(select(cp))}


def compare_databases(
    live: Engine, rebuilt: Engine, models: Sequence[type[Base]] = t.MODEL_TABLES
) -> Iterator[Difference]:
    """Every difference between the two models, table by table (checkpoints first)."""
    with live.connect() as lc, rebuilt.connect() as rc:
        left, right = _checkpoints(lc), _checkpoints(rc)
        for key in sorted(set(left) | set(right), key=str):
            if left.get(key) != right.get(key):
                yield Difference("idx_checkpoints", key, "changed", "last_block", left.get(key), right.get(key))
        for model in models:
            yield from _compare_table(lc, rc, t.table_of(model))
