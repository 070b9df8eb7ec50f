"""Undoing everything derived from blocks after a fork point, exactly.

Every row records the block of the event that created it, so "created after ``F``" is one
``DELETE … WHERE block > F`` per table; rows that a later event closed (an account's removal, a
containment's unpack) are reopened by clearing the closing columns set after ``F``. The only rows
that events *update* — objects and partners — get their values at the end of ``F`` back from the
undo log (see :mod:`gateway.indexer.state`).

When the fork point lies below the undo log's floor (a reorg deeper than the window it keeps),
the model is instead rebuilt from the raw event table, which the same deletes have cut at ``F``:
slower (every event is applied again) but just as exact, and it needs no node.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from chain_client.events import LedgerEvent, LogMeta
from gateway.db.base import Base
from gateway.indexer import tables as t
from gateway.indexer.codec import event_from_json
from gateway.indexer.projector import Projector
from gateway.indexer.state import ObjectState, PartnerState, WorkingSet, decode_undo

__all__ = ["delete_after", "replay_raw_events", "rollback_to", "undo_after"]

# Per table: the column holding the block of the event that created the row.
_CREATED_IN: tuple[tuple[type[Base], str], ...] = (
    (t.EventRow, "block_number"),
    (t.BlockRow, "number"),
    (t.UndoRow, "block_number"),
    (t.PartnerRow, "registered_block"),
    (t.PartnerAccountRow, "block_number"),
    (t.PartnerLocationRow, "block_number"),
    (t.ObjectRow, "registered_block"),
    (t.CustodyHistoryRow, "block_number"),
    (t.ContainmentRow, "block_number"),
    (t.ShipmentRow, "block_number"),
    (t.GenealogyEventRow, "block_number"),
    (t.GenealogyEdgeRow, "block_number"),
    (t.DocumentRow, "block_number"),
    (t.StatusChangeRow, "block_number"),
    (t.RecallRow, "block_number"),
    (t.EventBatchRow, "block_number"),
)
# Per table: the column of the closing event's block, and the columns that event set.
_CLOSED_IN: tuple[tuple[type[Base], str, tuple[str, ...]], ...] = (
    (t.PartnerAccountRow, "removed_block", ("removed_block", "removed_log_index", "removed_tx", "removed_at")),
    (
        t.ContainmentRow,
        "unpacked_block",
        ("unpacked_block", "unpacked_log_index", "unpacked_tx", "unpacked_by", "unpacked_at"),
    ),
)
# Tables rebuilt by a replay (everything derived from the raw events).
_DERIVED = tuple(model for model, _ in _CREATED_IN if model not in (t.EventRow, t.BlockRow))


def undo_after(session: Session, fork_block: int) -> int:
    """Restores updated objects and partners to their values at the end of ``fork_block``; returns rows restored."""
    undo = t.table_of(t.UndoRow)
    entries = session.execute(
        select(undo.c.table_name, undo.c.row_key, undo.c.before)
        .where(undo.c.block_number > fork_block)
        .order_by(undo.c.block_number, undo.c.id)
    )
    earliest: dict[tuple[str, str], dict[str, Any]] = {}
    for table_name, key, before in entries:
        earliest.setdefault((table_name, key), before)
    objects = [
        {"object_id": key, **decode_undo(before, ObjectState)}
        for (table_name, key), before in earliest.items()
        if table_name == "idx_objects"
    ]
    partners = [
        {"partner_id": int(key), **decode_undo(before, PartnerState)}
        for (table_name, key), before in earliest.items()
        if table_name == "idx_partners"
    ]
    # Rows created after the fork point are deleted next, so restore only those that will stay.
    kept_objects = _existing(session, t.ObjectRow.object_id, [o["object_id"] for o in objects])
    kept_partners = _existing(session, t.PartnerRow.partner_id, [p["partner_id"] for p in partners])
    objects = [o for o in objects if o["object_id"] in kept_objects]
    partners = [p for p in partners if p["partner_id"] in kept_partners]
    if objects:
        session.execute(update(t.ObjectRow), objects)
    if partners:
        session.execute(update(t.PartnerRow), partners)
    return len(objects) + len(partners)


def _existing(session: Session, column: Any, keys: Sequence[Any]) -> set[Any]:
    found: set[Any] = set()
    for start in range(0, len(keys), 500):
        found.update(session.scalars(select(column).where(column.in_(keys[start : start + 500]))))
    return found


def delete_after(session: Session, fork_block: int) -> None:
    """Deletes rows created after ``fork_block`` and reopens rows closed after it."""
    for model, column in _CREATED_IN:
        table = t.table_of(model)
        session.execute(delete(table).where(table.c[column] > fork_block))
    for model, column, columns in _CLOSED_IN:
        table = t.table_of(model)
        session.execute(update(table).where(table.c[column] > fork_block).values(dict.fromkeys(columns)))


def _event_chunks(session: Session, up_to: int, size: int) -> Iterator[list[Any]]:
    """Raw events up to block ``up_to`` in chain order, ``size`` at a time, never splitting a block."""
    ev = t.table_of(t.EventRow)
    columns = (
        ev.c.block_number,
        ev.c.log_index,
        ev.c.tx_hash,
        ev.c.block_hash,
        ev.c.block_time,
        ev.c.contract,
        ev.c.event,
        ev.c.args,
    )
    last = -1
    while True:
        query = select(*columns).where(ev.c.block_number > last, ev.c.block_number <= up_to)
        rows = list(session.execute(query.order_by(ev.c.block_number, ev.c.log_index).limit(size)))
        if not rows:
            return
        if len(rows) == size:  # complete the last block
            tail = rows[-1]
            rest = select(*columns).where(ev.c.block_number == tail.block_number, ev.c.log_index > tail.log_index)
            rows.extend(session.execute(rest.order_by(ev.c.log_index)))
        yield rows
        last = rows[-1].block_number


def replay_raw_events(session: Session, up_to: int, *, chunk: int = 20_000) -> int:
    """Rebuilds the query model from ``idx_events`` (blocks up to ``up_to``); returns events applied."""
    for model in _DERIVED:
        session.execute(delete(t.table_of(model)))
    applied = 0
    for rows in _event_chunks(session, up_to, chunk):
        times: dict[int, dt.datetime] = {}
        events: list[LedgerEvent] = []
        for row in rows:
            times[row.block_number] = row.block_time
            meta = LogMeta(row.contract, row.block_number, row.block_hash, row.tx_hash, row.log_index)
            events.append(event_from_json(row.event, row.args, meta))
        projector = Projector(WorkingSet(session, undo_from=None), times)
        projector.prepare(events)
        for event in events:
            projector.apply(event)
        projector.flush()
        applied += len(events)
    return applied


def rollback_to(session: Session, fork_block: int, undo_floor: int) -> str:
    """Makes the model what it was after ``fork_block``; returns ``"undo"`` or ``"replay"`` (the path taken)."""
    if fork_block >= undo_floor:
        undo_after(session, fork_block)
        delete_after(session, fork_block)
        return "undo"
    delete_after(session, fork_block)
    replay_raw_events(session, fork_block)
    return "replay"
