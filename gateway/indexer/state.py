"""The mutable rows a batch of events changes (objects, partners), held in memory for the batch.

A batch loads the rows its events name with a few ``IN`` queries, applies every event to these
in-memory states, then writes them back with one bulk insert and one bulk update: per-event
round trips to the database would cap the indexer at a few hundred events per second.

Undo log: the first time a row that existed before block ``b`` changes in block ``b``, its
mutable columns are saved as an undo entry for ``b``. Rolling back to block ``F`` restores, per
row, the entry of the earliest block after ``F`` — exactly the row's state at the end of ``F`` —
and deletes rows created after ``F``. Entries are kept only for blocks near the head (``undo_from``),
where reorgs happen; a deeper rollback replays the raw event table instead.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, fields
from operator import attrgetter
from typing import Any, ClassVar

from sqlalchemy import Connection, Table, Update, bindparam, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from gateway.indexer.bulk import bulk_execute, bulk_insert, select_by_keys
from gateway.indexer.errors import InconsistentEvents
from gateway.indexer.tables import ObjectRow, PartnerRow, ShipmentRow, table_of

__all__ = ["ObjectState", "PartnerState", "ShipmentInfo", "WorkingSet", "decode_undo", "encode_undo"]

_CHUNK = 500  # shipment ids per IN (...) query: far below every backend's parameter limit


def encode_undo(state: ObjectState | PartnerState) -> list[Any]:
    """The row's mutable column values, in ``MUTABLE`` order, as a JSON list (datetimes as Unix seconds).

    A list rather than an object keyed by column: a long catch-up writes an entry for about every
    event, and the list is half the text to serialise and store."""
    values = list(state.mutable_values())
    for i in state.TIME_INDEXES:
        if values[i] is not None:
            values[i] = int(values[i].timestamp())
    return values


def decode_undo(before: list[Any] | dict[str, Any], cls: type[ObjectState] | type[PartnerState]) -> dict[str, Any]:
    """The column values an undo entry saved (a list, or the object keyed by column of older entries)."""
    out = dict(zip(cls.MUTABLE, before, strict=True)) if isinstance(before, list) else dict(before)
    for column in cls.TIME_COLUMNS:
        if out.get(column) is not None:
            out[column] = dt.datetime.fromtimestamp(out[column], dt.UTC)
    return out


@dataclass(slots=True)
class ObjectState:
    """One ``idx_objects`` row being changed; field names are its columns."""

    MUTABLE: ClassVar[tuple[str, ...]] = (
        "custodian",
        "owner",
        "status",
        "own_status",
        "parent_id",
        "root_id",
        "shipment_id",
        "quantity",
        "last_event_block",
        "last_event_at",
    )
    TIME_COLUMNS: ClassVar[tuple[str, ...]] = ("last_event_at",)
    TIME_INDEXES: ClassVar[tuple[int, ...]] = (9,)  # of TIME_COLUMNS in MUTABLE

    object_id: str
    kind: str
    epc: str
    gtin: str | None
    serial: str | None
    sscc: str | None
    lot: str | None
    lot_id: str | None
    expiry_date: dt.date | None
    production_date: dt.date | None
    origin_gln: str | None
    quantity: int | None
    unit_of_measure: str | None
    registrant: int
    custodian: int
    owner: int
    status: str
    own_status: str
    parent_id: str | None
    root_id: str
    shipment_id: int | None
    registered_block: int
    registered_log_index: int
    registered_tx: str
    registered_at: dt.datetime
    last_event_block: int
    last_event_at: dt.datetime

    @classmethod
    def from_row(cls, row: ObjectRow) -> ObjectState:
        return cls(*_OBJECT_COLUMNS(row))

    def row(self) -> dict[str, Any]:
        return dict(zip(_OBJECT_FIELDS, _OBJECT_COLUMNS(self), strict=True))  # asdict() deep-copies: slow

    def mutable(self) -> dict[str, Any]:
        return dict(zip(self.MUTABLE, _OBJECT_MUTABLE(self), strict=True))

    def mutable_values(self) -> tuple[Any, ...]:
        return _OBJECT_MUTABLE(self)


_OBJECT_MUTABLE = attrgetter(*ObjectState.MUTABLE)
_OBJECT_FIELDS = tuple(f.name for f in fields(ObjectState))
_OBJECT_COLUMNS = attrgetter(*_OBJECT_FIELDS)
_OBJECTS = table_of(ObjectRow)


@dataclass(slots=True)
class PartnerState:
    MUTABLE: ClassVar[tuple[str, ...]] = ("active", "status_changed_block", "status_changed_at")
    TIME_COLUMNS: ClassVar[tuple[str, ...]] = ("status_changed_at",)
    TIME_INDEXES: ClassVar[tuple[int, ...]] = (2,)  # of TIME_COLUMNS in MUTABLE

    partner_id: int
    name: str
    role: str
    active: bool
    registered_block: int
    registered_log_index: int
    registered_tx: str
    registered_at: dt.datetime
    status_changed_block: int | None = None
    status_changed_at: dt.datetime | None = None

    @classmethod
    def from_row(cls, row: PartnerRow) -> PartnerState:
        return cls(**{f.name: getattr(row, f.name) for f in fields(cls)})

    def row(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def mutable(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.MUTABLE}

    def mutable_values(self) -> tuple[Any, ...]:
        return tuple(getattr(self, name) for name in self.MUTABLE)


@dataclass(frozen=True, slots=True)
class ShipmentInfo:
    sender: int
    receiver: int
    ship_from_gln: str | None
    ship_to_gln: str | None


class WorkingSet:
    """Objects and partners of one batch: loaded on demand, changed in memory, written back by :meth:`flush`.

    A working set may serve the next batch too (:meth:`begin`): after its batch committed, what it
    holds is what the database holds, so the next batch need not load it again. That is only true
    while nobody else writes the model; the indexer checks that (its checkpoint row) and otherwise
    starts a new one.
    """

    def __init__(self, session: Session, *, undo_from: int | None) -> None:
        self._objects: dict[str, ObjectState] = {}
        self._missing: set[str] = set()
        self._by_root: dict[str, set[str]] = {}
        self._children: dict[str, set[str]] = {}  # parent_id -> the loaded objects packed directly in it
        self._complete_roots: set[str] = set()
        self._partners: dict[int, PartnerState] = {}
        self._shipments: dict[int, ShipmentInfo] = {}
        self._max_shipment: int | None = None
        self.begin(session, undo_from=undo_from)

    def begin(self, session: Session, *, undo_from: int | None) -> None:
        """Starts a batch in ``session``, keeping what was loaded: for a later batch, call it only
        after the previous batch's :meth:`flush` was committed, and with nobody else writing since."""
        self.session = session
        self.undo_from = undo_from  # record undo entries for blocks >= this (None: never)
        self.undo_rows: list[dict[str, Any]] = []
        self._undo_seen: set[tuple[str, str, int]] = set()
        self._new_objects: set[str] = set()
        self._dirty_objects: set[str] = set()
        self._loaded_values: dict[str, tuple[Any, ...]] = {}  # mutable values of a dirty object before the batch
        self._new_partners: set[int] = set()
        self._dirty_partners: set[int] = set()

    @property
    def size(self) -> int:
        """Objects held in memory."""
        return len(self._objects)

    # -- loading --------------------------------------------------------------------------------

    def _cache(self, state: ObjectState) -> None:
        self._objects[state.object_id] = state
        self._by_root.setdefault(state.root_id, set()).add(state.object_id)
        if state.parent_id is not None:
            self._children.setdefault(state.parent_id, set()).add(state.object_id)

    def preload(self, object_ids: Iterable[str]) -> None:
        """Loads these objects (those not loaded yet) with one query."""
        wanted = [i for i in set(object_ids) if i not in self._objects and i not in self._missing]
        for row in select_by_keys(self.session.connection(), _OBJECTS, _OBJECT_FIELDS, "object_id", wanted):
            self._cache(ObjectState(*row))
        self._missing.update(i for i in wanted if i not in self._objects)

    def preload_subtrees(self, roots: Iterable[str]) -> None:
        """Loads everything packed (at any depth) in these outermost containers, and the containers."""
        wanted = [r for r in set(roots) if r not in self._complete_roots]
        for row in select_by_keys(self.session.connection(), _OBJECTS, _OBJECT_FIELDS, "root_id", wanted):
            if row[0] not in self._objects:  # a cached object may have moved in memory
                self._cache(ObjectState(*row))
                self._missing.discard(row[0])
        self._complete_roots.update(wanted)

    def object(self, object_id: str) -> ObjectState:
        if object_id not in self._objects:
            self.preload([object_id])
        state = self._objects.get(object_id)
        if state is None:
            raise InconsistentEvents(f"event names object {object_id}, which was never registered")
        return state

    def members(self, root_id: str) -> list[ObjectState]:
        """Everything whose outermost container is ``root_id`` (the root itself excluded)."""
        if root_id not in self._complete_roots:
            self.preload_subtrees([root_id])
        return [self._objects[i] for i in self._by_root.get(root_id, ()) if i != root_id]

    def descendants(self, state: ObjectState) -> list[ObjectState]:
        """Everything packed in ``state`` at any depth (``state`` excluded), without scanning its whole root."""
        if state.root_id not in self._complete_roots:
            self.preload_subtrees([state.root_id])  # the subtree lies within the root's
        found: list[ObjectState] = []
        seen = {state.object_id}
        pending = [state.object_id]
        while pending:
            for child_id in self._children.get(pending.pop(), ()):
                if child_id in seen:
                    raise InconsistentEvents(f"object {child_id} is packed in itself")
                seen.add(child_id)
                found.append(self._objects[child_id])
                pending.append(child_id)
        return found

    # -- changing -------------------------------------------------------------------------------

    def add_object(self, state: ObjectState) -> None:
        """A registered object. One the database already holds (and this set has not loaded) is not
        looked up here but refused by the table's primary key when :meth:`flush` writes it."""
        if state.object_id in self._objects:
            raise InconsistentEvents(f"object {state.object_id} is registered twice")
        self._missing.discard(state.object_id)
        self._cache(state)
        self._new_objects.add(state.object_id)
        self._complete_roots.add(state.object_id)  # nothing can be packed in it yet

    def touch(self, state: ObjectState, block: int, at: dt.datetime) -> None:
        """Call before changing ``state`` for an event of ``block``: saves undo, marks it for writing."""
        self._save_undo("idx_objects", state.object_id, state.registered_block, block, state)
        if state.object_id not in self._dirty_objects:
            self._dirty_objects.add(state.object_id)
            self._loaded_values[state.object_id] = _OBJECT_MUTABLE(state)
        state.last_event_block = block
        state.last_event_at = at

    def set_root(self, state: ObjectState, root_id: str) -> None:
        self._by_root[state.root_id].discard(state.object_id)
        state.root_id = root_id
        self._by_root.setdefault(root_id, set()).add(state.object_id)

    def set_parent(self, state: ObjectState, parent_id: str | None) -> None:
        if state.parent_id is not None:
            self._children[state.parent_id].discard(state.object_id)
        state.parent_id = parent_id
        if parent_id is not None:
            self._children.setdefault(parent_id, set()).add(state.object_id)

    def partner(self, partner_id: int) -> PartnerState:
        state = self._partners.get(partner_id)
        if state is None:
            row = self.session.get(PartnerRow, partner_id)
            if row is None:
                raise InconsistentEvents(f"event names partner {partner_id}, which was never registered")
            state = self._partners[partner_id] = PartnerState.from_row(row)
        return state

    def add_partner(self, state: PartnerState) -> None:
        self._partners[state.partner_id] = state
        self._new_partners.add(state.partner_id)

    def touch_partner(self, state: PartnerState, block: int) -> None:
        self._save_undo("idx_partners", str(state.partner_id), state.registered_block, block, state)
        self._dirty_partners.add(state.partner_id)

    def _save_undo(self, table: str, key: str, created: int, block: int, state: ObjectState | PartnerState) -> None:
        if self.undo_from is None or block < self.undo_from or created >= block:
            return  # no undo wanted here, or the row is new in this block (a rollback deletes it)
        mark = (table, key, block)
        if mark not in self._undo_seen:
            self._undo_seen.add(mark)
            self.undo_rows.append(
                {
                    "block_number": block,
                    "table_name": table,
                    "row_key": key,
                    "before": encode_undo(state),
                }
            )

    # -- shipments (read-only here; rows are appended by the projector) ------------------------

    def preload_shipments(self, shipment_ids: Iterable[int]) -> None:
        wanted = [s for s in set(shipment_ids) if s not in self._shipments]
        for start in range(0, len(wanted), _CHUNK):
            query = select(ShipmentRow).where(ShipmentRow.shipment_id.in_(wanted[start : start + _CHUNK]))
            for row in self.session.scalars(query):
                self._shipments[row.shipment_id] = ShipmentInfo(
                    row.sender, row.receiver, row.ship_from_gln, row.ship_to_gln
                )

    def add_shipment(self, shipment_id: int, info: ShipmentInfo) -> None:
        self._shipments[shipment_id] = info
        self._max_shipment = max(self.max_shipment(), shipment_id)

    def shipment(self, shipment_id: int) -> ShipmentInfo:
        if shipment_id not in self._shipments:
            self.preload_shipments([shipment_id])
        info = self._shipments.get(shipment_id)
        if info is None:
            raise InconsistentEvents(f"event names shipment {shipment_id}, which was never dispatched")
        return info

    def max_shipment(self) -> int:
        """The ledger's shipment count so far (the highest id dispatched)."""
        if self._max_shipment is None:
            self._max_shipment = int(self.session.scalar(select(func.max(ShipmentRow.shipment_id))) or 0)
        return self._max_shipment

    # -- writing --------------------------------------------------------------------------------

    def flush(self) -> None:
        """Writes new and changed rows with one bulk statement each (Core executemany, no ORM units of work)."""
        connection = self.session.connection()
        objects, partners = table_of(ObjectRow), table_of(PartnerRow)
        try:
            bulk_insert(connection, objects, [self._objects[i].row() for i in sorted(self._new_objects)])
        except IntegrityError as exc:
            raise InconsistentEvents(f"an object of this batch was registered before: {exc.orig}") from exc
        self._update_objects(connection)
        bulk_insert(connection, partners, [self._partners[i].row() for i in self._new_partners])
        changed = [{"b_key": i, **self._partners[i].mutable()} for i in self._dirty_partners - self._new_partners]
        if changed:
            connection.execute(_update_by_key(partners, "partner_id", PartnerState.MUTABLE), changed)

    def _update_objects(self, connection: Connection) -> None:
        """Updates changed objects, setting only the columns that changed: SQLite rewrites the entries of
        every index on a column in the SET list, changed or not, and most events change two or three
        of the ten mutable columns (one statement per set of changed columns; there are few)."""
        groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        for i in sorted(self._dirty_objects - self._new_objects):
            now = _OBJECT_MUTABLE(self._objects[i])
            changed = [
                (c, v) for c, old, v in zip(ObjectState.MUTABLE, self._loaded_values[i], now, strict=True) if old != v
            ]
            if changed:
                groups.setdefault(tuple(c for c, _ in changed), []).append({"b_key": i, **dict(changed)})
        for columns, rows in groups.items():
            statement = _OBJECT_UPDATES.get(columns)
            if statement is None:
                statement = _OBJECT_UPDATES[columns] = _update_by_key(_OBJECTS, "object_id", columns)
            bulk_execute(connection, "update idx_objects " + " ".join(columns), statement, rows)


def _update_by_key(table: Table, key: str, columns: Iterable[str]) -> Update:
    """``UPDATE table SET columns WHERE key = :b_key``, for executemany."""
    return update(table).where(table.c[key] == bindparam("b_key")).values({c: bindparam(c) for c in columns})


_OBJECT_UPDATES: dict[tuple[str, ...], Update] = {}
