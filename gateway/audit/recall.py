"""Recall scope, notification list, on-chain start plan and completion tracking.

**Scope.** A recall starts from one or more lots (or items): by id, or every lot and item of a
GTIN registered or produced in a date range. The objects *subject to the recall* are the roots
and everything derived from them (a forward trace over genealogy and lot membership). Aggregation
widens what must be pulled from the shelves: the containers that hold a subject object now (up
to its outermost pallet) and the other goods packed in them (``co_packed``) are affected too,
though not recalled themselves.

**Notification.** Every partner that holds an affected object now (its custodian, the whole of a
packed unit being held by the custodian of its outermost container), and every partner an
affected object is in transit to, with what it holds or will receive.

**Start.** The ledger recalls one object per call and only by its registrant
(``StatusControl.recall``): :func:`recall_plan` lists the subject objects the recalling partner
registered and that can still be recalled; the API submits one ``recall`` operation per object
through the partner outbox. Objects other partners registered are reported, not recalled.

**Tracking.** Each subject object is ``destroyed`` (decommissioned), ``quarantined``, ``returned``
(held again by the recalling partner, not in transit), ``dispensed`` (reached a patient or
consumer: not recovered) or ``outstanding``. A packed object counts with the status of its
outermost container (a quarantined pallet quarantines its contents). Completion is the share of
destroyed, quarantined and returned objects; the time to completion runs from the first
``RecallInitiated`` of the root to the last resolution.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from gateway.audit.errors import AuditInvalidQuery, AuditNotFound
from gateway.audit.trace import TracePartner, chunks, partners_by_id, require_object, walk
from gateway.indexer import tables as t

__all__ = [
    "AffectedObject",
    "Holding",
    "RecallPlan",
    "RecallProgress",
    "RecallScope",
    "TrackedObject",
    "objects_of_gtin",
    "recall_plan",
    "recall_progress",
    "recall_scope",
]

Role = Literal["subject", "container", "co_packed"]
State = Literal["destroyed", "quarantined", "returned", "dispensed", "outstanding"]
RESOLVED: frozenset[str] = frozenset({"destroyed", "quarantined", "returned"})


@dataclass(frozen=True, slots=True)
class AffectedObject:
    object_id: str
    kind: str
    epc: str
    role: Role
    depth: int | None  # edges from the nearest root (subject objects only)
    status: str
    own_status: str
    registrant: int
    custodian: int
    owner: int
    root_id: str
    parent_id: str | None
    shipment_id: int | None
    pending_receiver: int | None


@dataclass(frozen=True, slots=True)
class Holding:
    """What one partner must be told: the affected objects it holds, and those on their way to it."""

    partner: TracePartner
    holding: list[str]
    incoming: list[str]


@dataclass(frozen=True)
class RecallScope:
    roots: list[str]
    objects: list[AffectedObject]
    holdings: list[Holding]

    def ids(self, *roles: Role) -> set[str]:
        return {o.object_id for o in self.objects if not roles or o.role in roles}


def _check_ids(session: Session, object_ids: Sequence[str]) -> list[str]:
    if not object_ids:
        raise AuditInvalidQuery("audit.empty_scope", "object", "the recall names no lot or item")
    return sorted({require_object(session, oid).object_id for oid in object_ids})


def objects_of_gtin(
    session: Session,
    gtin: str,
    *,
    date_from: dt.date | None = None,
    date_to: dt.date | None = None,
    basis: Literal["production", "registration"] = "production",
) -> list[str]:
    """The lots and items of a GTIN produced (or registered) in ``[date_from, date_to]``."""
    if date_from is not None and date_to is not None and date_from > date_to:
        raise AuditInvalidQuery("audit.invalid_window", "date_from", "date_from must not be after date_to")
    o = t.ObjectRow
    query = select(o.object_id).where(o.gtin == gtin, o.kind.in_(("LOT", "ITEM")))
    if basis == "production":
        if date_from is not None:
            query = query.where(o.production_date >= date_from)
        if date_to is not None:
            query = query.where(o.production_date <= date_to)
    else:
        if date_from is not None:
            query = query.where(o.registered_at >= dt.datetime.combine(date_from, dt.time(), dt.UTC))
        if date_to is not None:
            query = query.where(
                o.registered_at < dt.datetime.combine(date_to + dt.timedelta(days=1), dt.time(), dt.UTC)
            )
    found = list(session.scalars(query.order_by(o.object_id)))
    if not found:
        raise AuditNotFound("audit.object_not_found", f"No lot or item of GTIN {gtin} in that date range.")
    return found


def _rows(session: Session, column: object, values: Iterable[str]) -> list[t.ObjectRow]:
    rows: list[t.ObjectRow] = []
    for batch in chunks(sorted(set(values))):
        rows.extend(session.scalars(select(t.ObjectRow).where(column.in_(batch))))  # type: ignore[attr-defined]
    return rows


def recall_scope(session: Session, object_ids: Sequence[str]) -> RecallScope:
    """The affected set of a recall of ``object_ids`` and the partners to notify."""
    roots = _check_ids(session, object_ids)
    depths: dict[str, int] = {}
    for root in roots:
        reached, _ = walk(session, root, "forward", max_depth=None, since=None, until=None, containment=False)
        for oid, depth in reached.items():
            depths[oid] = min(depth, depths.get(oid, depth))
    subjects = {r.object_id: r for r in _rows(session, t.ObjectRow.object_id, depths)}
    tops = {r.root_id for r in subjects.values() if r.root_id != r.object_id}
    units = {r.object_id: r for r in _rows(session, t.ObjectRow.root_id, tops)}  # everything packed in those
    containers: set[str] = set()
    for row in subjects.values():
        parent = row.parent_id
        while parent is not None and parent not in containers:
            containers.add(parent)
            up = units.get(parent)
            parent = up.parent_id if up is not None else None

    o = t.ShipmentRow
    shipments = {r.shipment_id for r in [*subjects.values(), *units.values()] if r.shipment_id is not None}
    receivers: dict[int, int] = {}
    wanted = sorted(shipments)
    for start in range(0, len(wanted), 500):
        query = select(o.shipment_id, o.receiver).where(o.shipment_id.in_(wanted[start : start + 500]))
        receivers.update((sid, rcv) for sid, rcv in session.execute(query))

    objects: list[AffectedObject] = []
    for oid, row in sorted({**units, **subjects}.items()):
        role: Role = "subject" if oid in subjects else "container" if oid in containers else "co_packed"
        objects.append(
            AffectedObject(
                object_id=oid, kind=row.kind, epc=row.epc, role=role,
                depth=depths.get(oid) if role == "subject" else None, status=row.status,
                own_status=row.own_status, registrant=row.registrant, custodian=row.custodian,
                owner=row.owner, root_id=row.root_id, parent_id=row.parent_id, shipment_id=row.shipment_id,
                pending_receiver=receivers.get(row.shipment_id) if row.shipment_id is not None else None,
            )
        )  # fmt: skip
    holding: dict[int, list[str]] = {}
    incoming: dict[int, list[str]] = {}
    for a in objects:
        holding.setdefault(a.custodian, []).append(a.object_id)
        if a.pending_receiver is not None:
            incoming.setdefault(a.pending_receiver, []).append(a.object_id)
    partners = partners_by_id(session, {*holding, *incoming})
    holdings = [Holding(p, holding.get(p.partner_id, []), incoming.get(p.partner_id, [])) for p in partners]
    return RecallScope(roots, objects, holdings)


# ------------------------------------------------------------------------------------------ start


@dataclass(frozen=True)
class RecallPlan:
    """What a partner's recall does on chain: ``to_recall`` (root first), and what it cannot recall."""

    scope: RecallScope
    to_recall: list[AffectedObject]
    skipped: list[tuple[AffectedObject, str]]


def recall_plan(session: Session, object_ids: Sequence[str], partner_id: int) -> RecallPlan:
    """The subject objects ``partner_id`` can recall (it registered them; not recalled or decommissioned)."""
    scope = recall_scope(session, object_ids)
    for root in scope.roots:
        row = require_object(session, root)
        if row.registrant != partner_id:
            raise AuditInvalidQuery(
                "audit.not_registrant", "object", f"only the registrant (partner {row.registrant}) recalls {root}"
            )
    to_recall: list[AffectedObject] = []
    skipped: list[tuple[AffectedObject, str]] = []
    for a in sorted(scope.objects, key=lambda x: (x.depth or 0, x.object_id)):
        if a.role != "subject":
            continue
        if a.registrant != partner_id:
            skipped.append((a, "registered_by_another_partner"))
        elif a.own_status in ("RECALLED", "DECOMMISSIONED"):
            skipped.append((a, a.own_status.lower()))
        else:
            to_recall.append(a)
    return RecallPlan(scope, to_recall, skipped)


# ------------------------------------------------------------------------------------------ tracking


@dataclass(frozen=True, slots=True)
class TrackedObject:
    object_id: str
    epc: str
    state: State
    custodian: int
    resolved_at: dt.datetime | None


@dataclass(frozen=True)
class RecallProgress:
    root: str
    initiated_by: int
    initiated_at: dt.datetime
    reason: str
    objects: list[TrackedObject]
    counts: dict[str, int]
    completion: float  # percent of subject objects resolved
    completed_at: dt.datetime | None
    time_to_completion: dt.timedelta | None
    scope: RecallScope


def _utc(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)


def recall_progress(session: Session, object_id: str) -> RecallProgress:
    """Where the recall of ``object_id`` stands (404 ``audit.recall_not_found`` if it was never recalled)."""
    root = require_object(session, object_id)
    r = t.RecallRow
    first = session.execute(
        select(r.partner_id, r.initiated_at, r.reason)
        .where(r.object_id == root.object_id)
        .order_by(r.block_number, r.log_index)
        .limit(1)
    ).first()
    if first is None:
        raise AuditNotFound("audit.recall_not_found", f"No recall was initiated for {root.object_id}.")
    initiator, initiated_at, reason = first
    initiated_at = _utc(initiated_at)
    scope = recall_scope(session, [root.object_id])
    subjects = [a for a in scope.objects if a.role == "subject"]
    own = {a.object_id: a.own_status for a in scope.objects}
    missing_roots = {a.root_id for a in subjects} - set(own)
    for row in _rows(session, t.ObjectRow.object_id, missing_roots):
        own[row.object_id] = row.own_status

    def state(a: AffectedObject) -> State:
        statuses = (a.own_status, own.get(a.root_id, a.own_status))
        if "DECOMMISSIONED" in statuses:
            return "destroyed"
        if "QUARANTINED" in statuses:
            return "quarantined"
        if a.custodian == initiator and a.shipment_id is None:
            return "returned"
        if a.own_status == "DISPENSED":
            return "dispensed"
        return "outstanding"

    states = {a.object_id: state(a) for a in subjects}
    # when each resolved: the last status change to that status (of the object or its container),
    # or for a return the object's last custody event
    s, h = t.StatusChangeRow, t.CustodyHistoryRow
    changed: dict[tuple[str, str], dt.datetime] = {}
    watched = {a.object_id for a in subjects} | {a.root_id for a in subjects}
    for batch in chunks(sorted(watched)):
        changes = (
            select(s.object_id, s.status, func.max(s.changed_at))
            .where(s.object_id.in_(batch), s.status.in_(("QUARANTINED", "DECOMMISSIONED")))
            .group_by(s.object_id, s.status)
        )
        for oid, status, at in session.execute(changes):
            changed[(oid, status)] = _utc(at)
    returned = [oid for oid, st in states.items() if st == "returned"]
    last_event: dict[str, dt.datetime] = {}
    for batch in chunks(returned):
        query = select(h.object_id, func.max(h.at)).where(h.object_id.in_(batch)).group_by(h.object_id)
        last_event.update((oid, _utc(at)) for oid, at in session.execute(query))

    def resolved_at(a: AffectedObject, st: State) -> dt.datetime | None:
        if st == "returned":
            at = last_event.get(a.object_id)
        elif st in ("destroyed", "quarantined"):
            status = "DECOMMISSIONED" if st == "destroyed" else "QUARANTINED"
            times = [changed[k] for k in ((a.object_id, status), (a.root_id, status)) if k in changed]
            at = max(times) if times else None
        else:
            return None
        return max(at, initiated_at) if at is not None else initiated_at

    tracked = [
        TrackedObject(a.object_id, a.epc, states[a.object_id], a.custodian, resolved_at(a, states[a.object_id]))
        for a in sorted(subjects, key=lambda x: x.object_id)
    ]
    counts = {name: 0 for name in ("destroyed", "quarantined", "returned", "dispensed", "outstanding")}
    for obj in tracked:
        counts[obj.state] += 1
    done = sum(counts[k] for k in RESOLVED)
    completion = round(100.0 * done / len(tracked), 2) if tracked else 100.0
    completed_at = None
    if tracked and done == len(tracked):
        completed_at = max(o.resolved_at for o in tracked if o.resolved_at is not None)
    return RecallProgress(
        root=root.object_id,
        initiated_by=initiator,
        initiated_at=initiated_at,
        reason=reason,
        objects=tracked,
        counts=counts,
        completion=completion,
        completed_at=completed_at,
        time_to_completion=completed_at - initiated_at if completed_at is not None else None,
        scope=scope,
    )
