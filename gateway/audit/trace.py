"""Backward and forward trace over the indexer's query model, one set-based step per depth level.

The trace graph has three kinds of edges, each drawn in the direction material flows:

- ``split`` / ``merge`` / ``transform``: a genealogy input → each output (``idx_genealogy_edges``);
- ``lot_member``: a lot → each serialized item registered in it (``idx_objects.lot_id``);
- ``packed_in``: an object → each container it was ever packed in (``idx_containment``).

A **backward** trace walks genealogy and lot edges against the flow (to source lots) and a
**forward** trace with it (to derived lots and items); both also climb containment, so the cases
and pallets that carried the traced goods are part of the answer. Each depth level is one
statement (``UNION ALL`` of the edge kinds) joining the whole frontier, bound as one parameter,
to the indexes; forward, the items met as lot members get a statement of their own that leaves
out the edge kinds an item cannot have (see :func:`_walk`), which halves the index probes of a
forward trace. Then one statement for the objects' details and one for their holders (an object's
own rows, from ``ix_idx_custody_history_own_holders`` alone; see :func:`_holders`). Statements run
through the driver's cursor, so rows come back as the driver's tuples, and a lot member's details
ride along with its membership edge.

``since``/``until`` keep edges recorded in that window (a containment counts when it overlapped
the window) and custody rows inside it; ``max_depth`` bounds the number of edges from the root.
The partners of a trace are everyone who held a traced object (custodian in its history); its
locations the GLNs where the objects were commissioned, shipped from or received.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any, Literal, NamedTuple

from sqlalchemy import TextClause, bindparam, select, text
from sqlalchemy.orm import Session

from gateway.audit.errors import AuditInvalidQuery, AuditNotFound
from gateway.indexer import tables as t
from gateway.indexer.bulk import key_set
from gateway.indexer.coltypes import UtcDateTime
from gateway.indexer.indexer import gc_paused

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


# TraceObject and TraceEdge are built by the thousand per trace: they are named tuples (immutable
# values), built with tuple.__new__ in the hot loops. A tuple holding only strings, numbers,
# datetimes and None leaves the cyclic garbage collector's lists the first time the collector looks
# at it, so a trace's results are not carried into the older generations, and the collector's pass
# when a trace ends (gc_paused) costs about half what it did with slotted dataclasses.


class TraceObject(NamedTuple):
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


class TraceEdge(NamedTuple):
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


# ------------------------------------------------------------------------------------------ id sets


def _id_set(session: Session, ids: Iterable[str]) -> tuple[str, Any]:
    """A FROM item ``f`` with one row (``f.value``) per id, and the value to bind as ``:ids``
    (:func:`gateway.indexer.bulk.key_set`)."""
    return key_set(session.get_bind().dialect, ids, "ids")


def _window_sql(column: str, since: dt.datetime | None, until: dt.datetime | None) -> str:
    clauses = [f"{column} >= :since"] if since is not None else []
    clauses += [f"{column} <= :until"] if until is not None else []
    return "".join(f" AND {c}" for c in clauses)


def _query(sql: str, since: dt.datetime | None, until: dt.datetime | None) -> TextClause:
    """``sql`` with its window parameters typed as stored (UTC datetimes)."""
    window = (("since", since), ("until", until))
    return text(sql).bindparams(*(bindparam(k, type_=UtcDateTime()) for k, v in window if v is not None))


@dataclass(frozen=True, slots=True)
class _Compiled:
    sql: str  # in the driver's parameter style
    order: tuple[str, ...] | None  # parameter names in order for a positional style, else None
    to_time: Callable[[Any], Any] | None  # how the driver is given a window bound


_COMPILED: dict[tuple[str, str], _Compiled] = {}


def _fetch(
    session: Session, sql: str, ids: Any, since: dt.datetime | None, until: dt.datetime | None
) -> list[Sequence[Any]]:
    """The rows of ``sql`` (parameters ``:ids`` and the window's) as the driver returns them.

    SQLAlchemy compiles the statement once per dialect (parameter style, window bounds converted
    as :class:`UtcDateTime` stores them); it then runs on the session's connection through a
    plain DB-API cursor: building SQLAlchemy result rows for the thousands of rows of a large
    trace costs more than SQLite's reading them.
    """
    connection = session.connection()
    dialect = connection.dialect
    compiled = _COMPILED.get((dialect.name, sql))
    if compiled is None:
        statement = _query(sql, since, until).compile(dialect=dialect)
        order = tuple(statement.positiontup or ()) if statement.positional else None
        to_time = UtcDateTime().dialect_impl(dialect).bind_processor(dialect)
        compiled = _COMPILED[(dialect.name, sql)] = _Compiled(statement.string, order, to_time)
    params = _bind(ids, since, until)
    if compiled.to_time is not None:
        for name in ("since", "until"):
            if name in params:
                params[name] = compiled.to_time(params[name])
    args = params if compiled.order is None else tuple(params[name] for name in compiled.order)
    cursor = connection.connection.cursor()
    try:
        cursor.execute(compiled.sql, args)
        rows: list[Sequence[Any]] = list(cursor.fetchall())
    finally:
        cursor.close()
    return rows


def _bind(ids: Any, since: dt.datetime | None, until: dt.datetime | None) -> dict[str, Any]:
    params: dict[str, Any] = {"ids": ids}
    if since is not None:
        params["since"] = since
    if until is not None:
        params["until"] = until
    return params


# ------------------------------------------------------------------------------------------ one level


def _step_query(
    ids_from: str,
    direction: Direction,
    since: dt.datetime | None,
    until: dt.datetime | None,
    containment: bool,
    edges: tuple[bool, bool] = (True, True),
) -> str:
    """Every edge out of a frontier (against the flow for genealogy and lots when backward), one
    statement: genealogy edges and lot memberships (each unless ``edges`` leaves it out), then
    (if asked) containments. A lot membership row also carries the member's :data:`_DETAILS`
    (its row is read anyway), so most objects of a trace need no second lookup."""
    more = f", {', '.join(f'o.{c}' for c in _DETAILS)}"
    none = ", NULL" * len(_DETAILS)
    g_key = "output_id" if direction == "backward" else "input_id"
    o_key = "object_id" if direction == "backward" else "lot_id"
    genealogy, lots = edges
    parts = []
    if genealogy:
        parts.append(
            "SELECT g.kind, g.input_id, g.output_id, g.recorded_at, g.block_number, g.tx_hash, g.genealogy_id"
            f"{none} FROM {ids_from} JOIN idx_genealogy_edges g ON g.{g_key} = f.value"
            f" WHERE 1 = 1{_window_sql('g.recorded_at', since, until)}"
        )
    if lots:
        parts.append(
            f"SELECT 'LOT', o.lot_id, o.object_id, o.registered_at, o.registered_block, o.registered_tx, NULL{more}"
            f" FROM {ids_from} JOIN idx_objects o ON o.{o_key} = f.value"
            f" WHERE o.lot_id IS NOT NULL{_window_sql('o.registered_at', since, until)}"
        )
    if containment:
        window = " AND c.packed_at <= :until" if until is not None else ""
        if since is not None:  # packed at some time in the window, or still packed when it began
            window += " AND (c.unpacked_at IS NULL OR c.unpacked_at >= :since)"
        parts.append(
            "SELECT 'PACKED', c.child_id, c.parent_id, c.packed_at, c.block_number, c.tx_hash, NULL"
            f"{none} FROM {ids_from} JOIN idx_containment c ON c.child_id = f.value WHERE 1 = 1{window}"
        )
    return " UNION ALL ".join(parts)


_DETAILS = ("kind", "epc", "gtin", "serial", "lot", "sscc", "status", "custodian", "origin_gln")
_STEP_RELATIONS: dict[str, Relation] = {**_RELATIONS, "LOT": "lot_member", "PACKED": "packed_in"}


def _utc_reader() -> Callable[[Any], dt.datetime]:
    """A converter from a stored time as the driver returns it (an ISO string on SQLite, a
    datetime on PostgreSQL) to an aware UTC datetime, remembering each value it converted: the
    rows of one block (a whole batch of items) share one time."""
    seen: dict[Any, dt.datetime] = {}

    def read(value: Any) -> dt.datetime:
        found = seen.get(value)
        if found is None:
            parsed = dt.datetime.fromisoformat(value) if isinstance(value, str) else value
            found = parsed.replace(tzinfo=dt.UTC) if parsed.tzinfo is None else parsed.astimezone(dt.UTC)
            seen[value] = found
        return found

    return read


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
    return _walk(session, root, direction, max_depth, since, until, containment, None)


def _walk(
    session: Session,
    root: str,
    direction: Direction,
    max_depth: int | None,
    since: dt.datetime | None,
    until: dt.datetime | None,
    containment: bool,
    details: dict[str, Sequence[Any]] | None,
) -> tuple[dict[str, int], list[TraceEdge]]:
    """:func:`walk`; fills ``details`` (if given) with the lot membership row of each member met
    (its :data:`_DETAILS` from index 7 on).

    Forward, a lot member (its membership row says it is an item) is looked up only where it can
    have an edge: an item has no lot members (a lot id is the hash of an LGTIN class URN, an item's
    id that of its SGTIN), and it is a genealogy input only once consumed by a transformation,
    which marks it ``DECOMMISSIONED`` in the same transaction for good (``Genealogy.transform``;
    no transition leaves that status). So most items of a forward trace cost one containment
    lookup instead of three index probes."""
    depths: dict[str, int] = {root: 0}
    edges: list[TraceEdge] = []
    seen: set[tuple[str, str, str, int, str | None]] = set()  # genealogy edges already followed
    frontier = [root]
    depth = 0
    ids_from, _ = _id_set(session, ())
    backward = direction == "backward"
    # forward: one statement per kind of frontier object (unknown, consumed item, other item)
    full = _step_query(ids_from, direction, since, until, containment)
    consumed_sql = _step_query(ids_from, direction, since, until, containment, (True, False))
    item_sql = _step_query(ids_from, direction, since, until, containment, (False, False)) if containment else None
    items: dict[str, bool] = {}  # forward: lot members met, and whether each was consumed
    utc = _utc_reader()
    relations = _STEP_RELATIONS
    new_edge = tuple.__new__  # TraceEdge(...) without its Python-level __new__
    while frontier and (max_depth is None or depth < max_depth):
        depth += 1
        groups: tuple[list[str], list[str], list[str]] = ([], [], [])  # unknown, consumed items, other items
        if backward:
            groups[0].extend(frontier)
        else:
            for oid in frontier:
                consumed = items.get(oid)
                groups[0 if consumed is None else 1 if consumed else 2].append(oid)
        rows: list[Sequence[Any]] = []
        for group, sql in zip(groups, (full, consumed_sql, item_sql), strict=True):
            if group and sql is not None:
                rows += _fetch(session, sql, _id_set(session, group)[1], since, until)
        reached: list[str] = []
        for row in rows:
            kind, source, target, at, block, tx, gid = row[:7]
            if kind == "LOT":  # one row per member (each object has one lot, each lot is met once)
                if details is not None:
                    details[target] = row  # its details from index 7 on (see _objects)
                if not backward and row[7] == "ITEM":
                    items[target] = row[13] == "DECOMMISSIONED"
            elif kind != "PACKED":  # the same lot twice among one genealogy's inputs or outputs
                key = (source, target, kind, block, gid)
                if key in seen:
                    continue
                seen.add(key)
            edges.append(new_edge(TraceEdge, (source, target, relations[kind], utc(at), block, tx, gid)))
            nxt = source if backward and kind != "PACKED" else target
            if nxt not in depths:
                depths[nxt] = depth
                reached.append(nxt)
        frontier = reached
    return depths, edges


def _objects(
    session: Session,
    depths: dict[str, int],
    since: dt.datetime | None,
    until: dt.datetime | None,
    known: dict[str, Sequence[Any]] | None = None,
) -> tuple[dict[str, TraceObject], set[str]]:
    """The objects at ``depths``, and the GLNs where those registered in the window were commissioned.

    ``known`` has the lot membership rows of objects already read (registered in the window), their
    :data:`_DETAILS` from index 7 on."""
    known = known or {}
    ids_from, ids = _id_set(session, (oid for oid in depths if oid not in known))
    in_window = "o.origin_gln IS NOT NULL" + _window_sql("o.registered_at", since, until)
    sql = (
        "SELECT o.object_id, o.kind, o.epc, o.gtin, o.serial, o.lot, o.sscc, o.status, o.custodian,"
        f" CASE WHEN {in_window} THEN o.origin_gln END FROM {ids_from} JOIN idx_objects o ON o.object_id = f.value"
    )
    found: dict[str, TraceObject] = {}
    origins: set[str] = set()
    new = tuple.__new__  # TraceObject(...) without its Python-level __new__
    for oid, row in known.items():  # a lot membership row: the member's details from index 7 on
        found[oid] = new(TraceObject, (oid, *row[7:13], depths[oid], row[13], row[14]))
        if row[15]:
            origins.add(row[15])
    for oid, kind, epc, gtin, serial, lot, sscc, status, custodian, origin in _fetch(session, sql, ids, since, until):
        found[oid] = new(TraceObject, (oid, kind, epc, gtin, serial, lot, sscc, depths[oid], status, custodian))
        if origin:
            origins.add(origin)
    return found, origins


# tables.OWN_HISTORY_ROWS over the alias h: the condition of ix_idx_custody_history_own_holders, which
# a statement must state for the planners to read that partial index
_OWN_ROWS = "h.container_id IS NULL OR h.event IN ('packed', 'unpacked')"


def _holders_query(ids_from: str, window: str, own: bool) -> str:
    """The distinct custodians and GLNs in the history rows (in ``window``) of the ids in
    ``ids_from``: their own rows only, or all of them."""
    rows = f"({_OWN_ROWS})" if own else "1 = 1"
    return (
        f"SELECT DISTINCT h.custodian, h.gln FROM {ids_from} JOIN idx_custody_history h ON h.object_id = f.value"
        f" WHERE {rows}{window}"
    )


def _holders(
    session: Session,
    object_ids: Iterable[str],
    since: dt.datetime | None,
    until: dt.datetime | None,
    cut: Iterable[str] = (),
) -> tuple[set[int], set[str]]:
    """The custodians in the objects' histories (in the window) and the GLNs of those entries.

    Of ``object_ids`` only the own rows are read (:data:`~gateway.indexer.tables.OWN_HISTORY_ROWS`):
    the others repeat, at the same time, a row of the outermost container, which the trace reached
    (it follows every containment that overlaps its window), so they add no custodian or GLN. The
    objects in ``cut`` (the last level of a trace cut by ``max_depth``, whose containers were not
    looked up) have all their rows read."""
    ids_from, _ = _id_set(session, ())
    window = _window_sql("h.at", since, until)
    cut = set(cut)
    partner_ids: set[int] = set()
    glns: set[str] = set()
    for own, group in ((True, [oid for oid in object_ids if oid not in cut]), (False, list(cut))):
        if not group:
            continue
        sql = _holders_query(ids_from, window, own)
        for custodian, gln in _fetch(session, sql, _id_set(session, group)[1], since, until):
            partner_ids.add(custodian)
            if gln:
                glns.add(gln)
    return partner_ids, glns


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


def _ordered_objects(depths: dict[str, int], objects: dict[str, TraceObject]) -> list[TraceObject]:
    """``objects`` by depth, then id. ``depths`` is in breadth-first order (depths never decrease),
    so each depth's ids are sorted alone, as plain strings (Python's fast path for them)."""
    levels: dict[int, list[str]] = {}
    for oid, depth in depths.items():
        if oid in objects:
            levels.setdefault(depth, []).append(oid)
    return [objects[oid] for depth in sorted(levels) for oid in sorted(levels[depth])]


def _ordered_edges(edges: list[TraceEdge]) -> list[TraceEdge]:
    """``edges`` by block, source, target: three stable sorts on one plain key each, which is
    several times faster than one sort on a tuple key for thousands of edges."""
    edges.sort(key=itemgetter(1))  # target
    edges.sort(key=itemgetter(0))  # source
    edges.sort(key=itemgetter(4))  # block_number
    return edges


def _root_id(session: Session, object_id: str) -> str:
    oid = object_id.lower()
    found = _fetch(session, "SELECT o.object_id FROM idx_objects o WHERE o.object_id = :ids", oid, None, None)
    if not found:
        raise AuditNotFound("audit.object_not_found", f"No object {object_id} in the ledger's index.")
    return str(found[0][0])


def _trace(
    session: Session,
    object_id: str,
    direction: Direction,
    max_depth: int | None,
    since: dt.datetime | None,
    until: dt.datetime | None,
) -> TraceResult:
    since, until = validate_window(max_depth, since, until)
    with gc_paused():  # as the indexer does per batch
        root = _root_id(session, object_id)
        known: dict[str, Sequence[Any]] = {}
        depths, edges = _walk(session, root, direction, max_depth, since, until, True, known)
        objects, origins = _objects(session, depths, since, until, known)
        known.clear()  # its rows need not wait for the collector's pass when it resumes
        # an item's lot id names a lot that need not be registered: such an edge leads nowhere
        edges = [e for e in edges if e.source in objects and e.target in objects]
        # the last level of a trace cut by max_depth: its containers were not looked up
        cut = [oid for oid, depth in depths.items() if depth == max_depth] if max_depth is not None else []
        partner_ids, glns = _holders(session, objects, since, until, cut)
        partners, locations = partners_by_id(session, partner_ids), _locations(session, glns | origins)
        return TraceResult(
            root=root,
            direction=direction,
            objects=_ordered_objects(depths, objects),
            edges=_ordered_edges(edges),
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
