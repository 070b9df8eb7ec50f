"""Backward and forward trace over the indexer's query model, one set-based step per depth level.

The trace graph has three kinds of edges, each drawn in the direction material flows:

- ``split`` / ``merge`` / ``transform``: a genealogy input → each output (``idx_genealogy_edges``);
- ``lot_member``: a lot → each serialized item registered in it (``idx_objects.lot_id``);
- ``packed_in``: an object → each container it was ever packed in (``idx_containment``).

A **backward** trace walks genealogy and lot edges against the flow (to source lots) and a
**forward** trace with it (to derived lots and items); both also climb containment, so the cases
and pallets that carried the traced goods are part of the answer. Each depth level costs one
query per edge kind with ``IN (…)`` over the frontier (in chunks), never one query per object,
so a trace over a large graph stays a handful of indexed queries per level.

``since``/``until`` keep edges recorded in that window (a containment counts when it overlapped
the window) and custody rows inside it; ``max_depth`` bounds the number of edges from the root.
The partners of a trace are everyone who held a traced object (custodian in its history); its
locations the GLNs where the objects were commissioned, shipped from or received.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from sqlalchemy import ColumnElement, or_, select
from sqlalchemy.orm import Session

from gateway.audit.errors import AuditInvalidQuery, AuditNotFound
from gateway.indexer import tables as t

__all__ = [
    "CHUNK",
    "Direction",
    "TraceEdge",
    "TraceLocation",
    "TraceObject",
    "TracePartner",
    "TraceResult",
    "backward_trace",
    "chunks",
    "forward_trace",
    "holders_and_places",
    "partners_by_id",
    "require_object",
    "validate_window",
    "walk",
]

CHUNK = 2000  # ids per IN (...) list: well below SQLite's (32766) and PostgreSQL's (65535) parameter limits
MAX_DEPTH = 1000

Direction = Literal["backward", "forward"]
Relation = Literal["split", "merge", "transform", "lot_member", "packed_in"]
_RELATIONS: dict[str, Relation] = {"SPLIT": "split", "MERGE": "merge", "TRANSFORM": "transform"}


@dataclass(frozen=True, slots=True)
class TraceObject:
    """A traced object with its GS1 identifiers and its distance (in edges) from the root."""

    object_id: str
    kind: str
    epc: str
    gtin: str | None
    serial: str | None
    lot: str | None
    sscc: str | None
    depth: int
    status: str
    custodian: int

    @property
    def identifiers(self) -> dict[str, str]:
        keys = {"epc": self.epc, "gtin": self.gtin, "serial": self.serial, "lot": self.lot, "sscc": self.sscc}
        return {k: v for k, v in keys.items() if v}


@dataclass(frozen=True, slots=True)
class TraceEdge:
    """``source`` → ``target`` in the direction material flows, with the event that made it."""

    source: str
    target: str
    relation: Relation
    at: dt.datetime
    block_number: int
    tx_hash: str
    genealogy_id: str | None = None


@dataclass(frozen=True, slots=True)
class TracePartner:
    partner_id: int
    name: str
    role: str


@dataclass(frozen=True, slots=True)
class TraceLocation:
    gln: str
    partner_id: int | None  # the partner that registered the location, if any


@dataclass(frozen=True)
class TraceResult:
    root: str
    direction: Direction
    objects: list[TraceObject]
    edges: list[TraceEdge]
    partners: list[TracePartner]
    locations: list[TraceLocation]
    max_depth: int | None = None
    since: dt.datetime | None = None
    until: dt.datetime | None = None
    _by_id: dict[str, TraceObject] = field(default_factory=dict, repr=False, compare=False)

    def object_ids(self) -> set[str]:
        return {o.object_id for o in self.objects}

    def get(self, object_id: str) -> TraceObject | None:
        if not self._by_id:
            self._by_id.update((o.object_id, o) for o in self.objects)
        return self._by_id.get(object_id)


# ------------------------------------------------------------------------------------------ helpers


def chunks(values: Iterable[str], size: int | None = None) -> Iterator[list[str]]:
    """``values`` in lists of at most ``size`` (default :data:`CHUNK`), one ``IN (...)`` each."""
    size = size or CHUNK
    batch: list[str] = []
    for value in values:
        batch.append(value)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def _utc(value: dt.datetime | None) -> dt.datetime | None:
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=dt.UTC)


def validate_window(
    max_depth: int | None, since: dt.datetime | None, until: dt.datetime | None
) -> tuple[dt.datetime | None, dt.datetime | None]:
    """The window in UTC; raises :class:`AuditInvalidQuery` for a bad depth or an inverted window."""
    if max_depth is not None and not 0 <= max_depth <= MAX_DEPTH:
        raise AuditInvalidQuery("audit.invalid_depth", "max_depth", f"max_depth must be 0..{MAX_DEPTH}")
    since, until = _utc(since), _utc(until)
    if since is not None and until is not None and since > until:
        raise AuditInvalidQuery("audit.invalid_window", "since", "since must not be after until")
    return since, until


def require_object(session: Session, object_id: str) -> t.ObjectRow:
    row = session.get(t.ObjectRow, object_id.lower())
    if row is None:
        raise AuditNotFound("audit.object_not_found", f"No object {object_id} in the ledger's index.")
    return row


def _in_window(column: Any, since: dt.datetime | None, until: dt.datetime | None) -> list[ColumnElement[bool]]:
    clauses: list[ColumnElement[bool]] = []
    if since is not None:
        clauses.append(column >= since)
    if until is not None:
        clauses.append(column <= until)
    return clauses


# ------------------------------------------------------------------------------------------ one level


def _genealogy_step(
    session: Session,
    frontier: Sequence[str],
    direction: Direction,
    since: dt.datetime | None,
    until: dt.datetime | None,
) -> list[TraceEdge]:
    g = t.GenealogyEdgeRow
    key = g.output_id if direction == "backward" else g.input_id
    columns = (g.input_id, g.output_id, g.kind, g.genealogy_id, g.recorded_at, g.block_number, g.tx_hash)
    window = _in_window(g.recorded_at, since, until)
    edges: list[TraceEdge] = []
    for batch in chunks(frontier):
        for source, target, kind, gid, at, block, tx in session.execute(
            select(*columns).where(key.in_(batch), *window)
        ):
            edges.append(TraceEdge(source, target, _RELATIONS[kind], at, block, tx, gid))
    return edges


def _lot_step(
    session: Session,
    frontier: Sequence[str],
    direction: Direction,
    since: dt.datetime | None,
    until: dt.datetime | None,
) -> list[TraceEdge]:
    o = t.ObjectRow
    key = o.object_id if direction == "backward" else o.lot_id
    columns = (o.lot_id, o.object_id, o.registered_at, o.registered_block, o.registered_tx)
    window = _in_window(o.registered_at, since, until)
    edges: list[TraceEdge] = []
    for batch in chunks(frontier):
        query = select(*columns).where(key.in_(batch), o.lot_id.is_not(None), *window)
        for lot_id, item, at, block, tx in session.execute(query):
            assert lot_id is not None
            edges.append(TraceEdge(lot_id, item, "lot_member", at, block, tx))
    return edges


def _containment_step(
    session: Session, frontier: Sequence[str], since: dt.datetime | None, until: dt.datetime | None
) -> list[TraceEdge]:
    c = t.ContainmentRow
    window: list[ColumnElement[bool]] = []
    if until is not None:
        window.append(c.packed_at <= until)
    if since is not None:  # packed at some time in the window, or still packed when it began
        window.append(or_(c.unpacked_at.is_(None), c.unpacked_at >= since))
    columns = (c.child_id, c.parent_id, c.packed_at, c.block_number, c.tx_hash)
    edges: list[TraceEdge] = []
    for batch in chunks(frontier):
        for child, parent, at, block, tx in session.execute(select(*columns).where(c.child_id.in_(batch), *window)):
            edges.append(TraceEdge(child, parent, "packed_in", at, block, tx))
    return edges


# ------------------------------------------------------------------------------------------ the walk


def walk(
    session: Session,
    root: str,
    direction: Direction,
    *,
    max_depth: int | None,
    since: dt.datetime | None,
    until: dt.datetime | None,
    containment: bool = True,
) -> tuple[dict[str, int], list[TraceEdge]]:
    """Breadth-first from ``root``: the depth of every object reached, and the edges followed."""
    depths: dict[str, int] = {root: 0}
    edges: dict[tuple[str, str, str, int, str], TraceEdge] = {}
    frontier = [root]
    depth = 0
    while frontier and (max_depth is None or depth < max_depth):
        depth += 1
        step = _genealogy_step(session, frontier, direction, since, until)
        step += _lot_step(session, frontier, direction, since, until)
        if containment:
            step += _containment_step(session, frontier, since, until)
        reached: list[str] = []
        for e in step:
            upstream = e.relation != "packed_in" and direction == "backward"
            nxt = e.source if upstream else e.target
            edges.setdefault((e.source, e.target, e.relation, e.block_number, e.genealogy_id or ""), e)
            if nxt not in depths:
                depths[nxt] = depth
                reached.append(nxt)
        frontier = reached
    return depths, list(edges.values())


def _objects(session: Session, depths: dict[str, int]) -> dict[str, TraceObject]:
    o = t.ObjectRow
    columns = (o.object_id, o.kind, o.epc, o.gtin, o.serial, o.lot, o.sscc, o.status, o.custodian)
    found: dict[str, TraceObject] = {}
    for batch in chunks(depths):
        for oid, kind, epc, gtin, serial, lot, sscc, status, custodian in session.execute(
            select(*columns).where(o.object_id.in_(batch))
        ):
            found[oid] = TraceObject(oid, kind, epc, gtin, serial, lot, sscc, depths[oid], status, custodian)
    return found


def holders_and_places(
    session: Session, object_ids: Iterable[str], since: dt.datetime | None = None, until: dt.datetime | None = None
) -> tuple[list[TracePartner], list[TraceLocation]]:
    """Who held the objects (custodians in their histories) and the GLNs they passed through."""
    h, o = t.CustodyHistoryRow, t.ObjectRow
    window = _in_window(h.at, since, until)
    partner_ids: set[int] = set()
    glns: set[str] = set()
    ids = list(object_ids)
    for batch in chunks(ids):
        for custodian, gln in session.execute(
            select(h.custodian, h.gln).where(h.object_id.in_(batch), *window).distinct()
        ):
            partner_ids.add(custodian)
            if gln:
                glns.add(gln)
        origin = select(o.origin_gln).where(o.object_id.in_(batch), o.origin_gln.is_not(None))
        origin = origin.where(*_in_window(o.registered_at, since, until)).distinct()
        glns.update(g for (g,) in session.execute(origin) if g)
    return partners_by_id(session, partner_ids), _locations(session, glns)


def partners_by_id(session: Session, partner_ids: Iterable[int]) -> list[TracePartner]:
    p = t.PartnerRow
    wanted = sorted(set(partner_ids))
    named: dict[int, TracePartner] = {}
    for start in range(0, len(wanted), CHUNK):
        batch = wanted[start : start + CHUNK]
        for pid, name, role in session.execute(select(p.partner_id, p.name, p.role).where(p.partner_id.in_(batch))):
            named[pid] = TracePartner(pid, name, role)
    return [named.get(pid, TracePartner(pid, "", "")) for pid in wanted]


def _locations(session: Session, glns: set[str]) -> list[TraceLocation]:
    loc = t.PartnerLocationRow
    owners: dict[str, int] = {}
    for batch in chunks(sorted(glns)):
        owners.update((g, p) for g, p in session.execute(select(loc.gln, loc.partner_id).where(loc.gln.in_(batch))))
    return [TraceLocation(g, owners.get(g)) for g in sorted(glns)]


def _trace(
    session: Session,
    object_id: str,
    direction: Direction,
    max_depth: int | None,
    since: dt.datetime | None,
    until: dt.datetime | None,
) -> TraceResult:
    since, until = validate_window(max_depth, since, until)
    root = require_object(session, object_id).object_id
    depths, edges = walk(session, root, direction, max_depth=max_depth, since=since, until=until)
    objects = _objects(session, depths)
    # an item's lot id names a lot that need not be registered: such an edge leads nowhere
    edges = [e for e in edges if e.source in objects and e.target in objects]
    partners, locations = holders_and_places(session, objects, since, until)
    return TraceResult(
        root=root,
        direction=direction,
        objects=sorted(objects.values(), key=lambda x: (x.depth, x.object_id)),
        edges=sorted(edges, key=lambda e: (e.block_number, e.source, e.target)),
        partners=partners,
        locations=locations,
        max_depth=max_depth,
        since=since,
        until=until,
    )


def backward_trace(
    session: Session,
    object_id: str,
    *,
    max_depth: int | None = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
) -> TraceResult:
    """From an item or lot back to every source lot (genealogy inputs, the lot of an item), the
    containers it travelled in, and everyone who held them and where."""
    return _trace(session, object_id, "backward", max_depth, since, until)


def forward_trace(
    session: Session,
    object_id: str,
    *,
    max_depth: int | None = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
) -> TraceResult:
    """From a lot (or item) to every lot and item derived from it, the containers that carried them,
    and everyone who held them and where."""
    return _trace(session, object_id, "forward", max_depth, since, until)
