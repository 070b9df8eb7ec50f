"""Bulk INSERT and UPDATE through the driver's ``executemany``, without SQLAlchemy's per-row parameter work.

SQLAlchemy's executemany builds a parameter dict per row and runs every column's bind processor
on it, which costs more than SQLite's own insert for the narrow rows the indexer writes by the
hundred thousand. Here the statement is compiled once per (dialect, table, columns), the
processors are looked up once (only the columns that have one run anything), and rows go to the
driver as tuples (or dicts, for drivers with named parameters). The SQL and the conversions
are SQLAlchemy's own, so the stored values are exactly what a Core ``insert()`` would store.
:func:`bulk_execute` does the same for any statement with named bind parameters (the updates of
a batch: changed objects, closed containments), its processors taken from the bound types.
"""

from __future__ import annotations

import json
import weakref
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import ClauseElement, Connection, Dialect, Table, insert, text
from sqlalchemy.sql.compiler import SQLCompiler

__all__ = ["bulk_execute", "bulk_insert", "bulk_insert_tuples", "insert_plan", "key_set", "select_by_keys"]


@dataclass(frozen=True)
class BulkPlan:
    sql: str
    keys: tuple[str, ...]  # row keys, in the statement's parameter order
    processors: tuple[Callable[[Any], Any] | None, ...]
    positional: bool


_PLANS: weakref.WeakKeyDictionary[Dialect, dict[tuple[str, tuple[str, ...]], BulkPlan]] = weakref.WeakKeyDictionary()


def insert_plan(dialect: Dialect, table: Table, columns: tuple[str, ...]) -> BulkPlan:
    """The INSERT of ``columns`` into ``table`` compiled for ``dialect`` (cached): its SQL, the
    columns in the order of its parameters, and their bind processors."""
    plans = _PLANS.setdefault(dialect, {})
    key = (table.name, columns)
    plan = plans.get(key)
    if plan is None:
        compiled = insert(table).compile(dialect=dialect, column_keys=list(columns))
        keys = tuple(compiled.positiontup or ()) if compiled.positional else columns
        processors = tuple(table.c[k].type.dialect_impl(dialect).bind_processor(dialect) for k in keys)
        plan = plans[key] = BulkPlan(compiled.string, keys, processors, compiled.positional)
    return plan


def _statement_plan(dialect: Dialect, name: str, statement: ClauseElement) -> BulkPlan:
    plans = _PLANS.setdefault(dialect, {})
    key = ("statement " + name, ())
    plan = plans.get(key)
    if plan is None:
        compiled = cast(SQLCompiler, statement.compile(dialect=dialect))
        keys = tuple(compiled.positiontup or ()) if compiled.positional else tuple(compiled.binds)
        processors = tuple(compiled.binds[k].type.dialect_impl(dialect).bind_processor(dialect) for k in keys)
        plan = plans[key] = BulkPlan(compiled.string, keys, processors, compiled.positional)
    return plan


def bulk_insert(connection: Connection, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """Inserts ``rows`` (dicts with the same keys, all of them columns of ``table``) into ``table``."""
    if not rows:
        return
    _run(connection, insert_plan(connection.dialect, table, tuple(rows[0])), rows)


def bulk_insert_tuples(
    connection: Connection, table: Table, columns: tuple[str, ...], rows: Sequence[tuple[Any, ...]]
) -> None:
    """:func:`bulk_insert` of rows given as tuples of ``columns``' values: for callers that keep
    many rows for a while (a tuple of plain values is not tracked by the garbage collector)."""
    if not rows:
        return
    plan = insert_plan(connection.dialect, table, columns)
    _run(connection, plan, rows, positions=[columns.index(key) for key in plan.keys])


def bulk_execute(connection: Connection, name: str, statement: ClauseElement, rows: Sequence[dict[str, Any]]) -> None:
    """Runs ``statement`` once per row (dicts keyed by its bind parameter names); ``name`` identifies
    the statement in the plan cache (one statement per name)."""
    if rows:
        _run(connection, _statement_plan(connection.dialect, name, statement), rows)


def _run(connection: Connection, plan: BulkPlan, rows: Sequence[Any], *, positions: list[int] | None = None) -> None:
    """Runs ``plan`` for ``rows``: dicts read by the plan's keys, or with ``positions`` (the index
    in a row of each of the plan's keys) tuples."""
    converters = [(i, p) for i, p in enumerate(plan.processors) if p is not None]
    params: list[Any] = []
    for row in rows:
        values = [row[k] for k in plan.keys] if positions is None else [row[i] for i in positions]
        for i, convert in converters:
            if values[i] is not None:
                values[i] = convert(values[i])
        params.append(tuple(values) if plan.positional else dict(zip(plan.keys, values, strict=True)))
    connection.exec_driver_sql(plan.sql, params)


def key_set(dialect: Dialect, values: Iterable[str], param: str = "keys") -> tuple[str, Any]:
    """A FROM item ``f`` with one row (``f.value``) per text key, and the value to bind as ``:param``.

    The whole set is bound as one parameter (a JSON array on SQLite, a text array on PostgreSQL)
    and joined, so a statement is the same for any number of keys (no ``IN`` list to build, compile
    and bind, no chunks) and the planner drives the lookups from the keys through the indexes; with
    an ``IN`` list SQLite's statistics (after ``ANALYZE``) can make it scan a whole table instead.
    """
    keys = sorted(values)  # in index order: each B-tree page is then visited once, not once per key
    if dialect.name == "postgresql":
        return f"unnest(CAST(:{param} AS text[])) AS f(value)", keys
    return f"json_each(:{param}) AS f", json.dumps(keys)


@dataclass(frozen=True)
class _SelectPlan:
    sql: str
    positional: bool
    types: tuple[Any, ...]  # each column's type for the dialect


_SELECTS: weakref.WeakKeyDictionary[Dialect, dict[tuple[str, tuple[str, ...], str], _SelectPlan]] = (
    weakref.WeakKeyDictionary()
)


def _select_plan(dialect: Dialect, table: Table, columns: tuple[str, ...], key: str) -> _SelectPlan:
    plans = _SELECTS.setdefault(dialect, {})
    plan = plans.get((table.name, columns, key))
    if plan is None:
        keys, _ = key_set(dialect, ())
        listed = ", ".join(f"t.{c}" for c in columns)
        compiled = text(f"SELECT {listed} FROM {keys} JOIN {table.name} AS t ON t.{key} = f.value").compile(
            dialect=dialect
        )
        types = tuple(table.c[c].type.dialect_impl(dialect) for c in columns)
        plan = plans[(table.name, columns, key)] = _SelectPlan(compiled.string, compiled.positional, types)
    return plan


def select_by_keys(
    connection: Connection, table: Table, columns: tuple[str, ...], key: str, values: Sequence[str]
) -> list[tuple[Any, ...]]:
    """The ``columns`` of the rows of ``table`` whose ``key`` column is one of ``values`` (text keys),
    converted as SQLAlchemy's result processors convert them, through the driver's cursor.

    The keys are joined as one parameter (:func:`key_set`), so the statement is compiled once; the
    rows come back as the driver's tuples, without SQLAlchemy's result rows.
    """
    if not values:
        return []
    dialect = connection.dialect
    plan = _select_plan(dialect, table, columns, key)
    _, bound = key_set(dialect, values)
    cursor = connection.connection.cursor()
    try:
        cursor.execute(plan.sql, (bound,) if plan.positional else {"keys": bound})
        rows = cursor.fetchall()
        # a processor may depend on the driver's type code of the column (PostgreSQL numerics)
        processors = [
            (i, p)
            for i, (type_, described) in enumerate(zip(plan.types, cursor.description, strict=True))
            if (p := type_.result_processor(dialect, described[1])) is not None
        ]
    finally:
        cursor.close()
    if not processors:
        return [tuple(row) for row in rows]
    converted: list[tuple[Any, ...]] = []
    for row in rows:
        values_ = list(row)
        for i, convert in processors:
            values_[i] = convert(values_[i])
        converted.append(tuple(values_))
    return converted
