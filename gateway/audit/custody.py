"""The chain of custody of one object: every event, who and where, with the documents anchored.

Rows come from ``idx_custody_history`` (which already repeats a container's events on everything
packed in it), named with ``idx_partners``; documents anchored to the object or to one of its
shipments come from ``idx_documents`` and appear both on the events of that shipment and as
``document_anchored`` events of their own, so the timeline shows when each was anchored.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from gateway.audit.trace import TracePartner, partners_by_id, require_object
from gateway.indexer import tables as t

__all__ = ["CustodyChain", "CustodyEvent", "DocumentLink", "ObjectSummary", "chain_of_custody"]


@dataclass(frozen=True, slots=True)
class DocumentLink:
    document_id: str
    doc_type: str
    cid: str | None
    url: str | None  # the gateway's /ipfs/{cid} path
    anchored_at: dt.datetime
    partner_id: int
    shipment_id: int | None
    block_number: int
    log_index: int
    tx_hash: str


@dataclass(frozen=True, slots=True)
class CustodyEvent:
    at: dt.datetime
    event: str
    partner: TracePartner | None  # who acted
    counterparty: TracePartner | None
    custodian: TracePartner | None  # who held the object afterwards
    owner: TracePartner | None
    gln: str | None
    status: str | None
    reason: str | None
    shipment_id: int | None
    container_id: str | None
    documents: list[DocumentLink]
    block_number: int
    log_index: int
    tx_hash: str


@dataclass(frozen=True, slots=True)
class ObjectSummary:
    object_id: str
    kind: str
    epc: str
    gtin: str | None
    serial: str | None
    lot: str | None
    sscc: str | None
    lot_id: str | None
    quantity: int | None
    unit_of_measure: str | None
    expiry_date: dt.date | None
    production_date: dt.date | None
    origin_gln: str | None
    status: str
    own_status: str
    registrant: TracePartner
    custodian: TracePartner
    owner: TracePartner
    parent_id: str | None
    root_id: str
    shipment_id: int | None
    registered_at: dt.datetime


@dataclass(frozen=True)
class CustodyChain:
    object: ObjectSummary
    events: list[CustodyEvent]
    documents: list[DocumentLink]


def _link(row: t.DocumentRow) -> DocumentLink:
    cid = row.cid_text
    return DocumentLink(
        document_id=row.document_id,
        doc_type=row.doc_type,
        cid=cid,
        url=f"/ipfs/{cid}" if cid else None,
        anchored_at=row.anchored_at,
        partner_id=row.partner_id,
        shipment_id=row.shipment_id,
        block_number=row.block_number,
        log_index=row.log_index,
        tx_hash=row.tx_hash,
    )


def chain_of_custody(session: Session, object_id: str) -> CustodyChain:
    """Every custody event of the object, oldest first, with partners named and documents linked."""
    obj = require_object(session, object_id)
    h = t.CustodyHistoryRow
    rows = session.scalars(select(h).where(h.object_id == obj.object_id).order_by(h.block_number, h.log_index)).all()
    shipments = {r.shipment_id for r in rows if r.shipment_id is not None}
    d = t.DocumentRow
    subjects = [d.object_id == obj.object_id]
    if shipments:
        subjects.append(d.shipment_id.in_(sorted(shipments)))
    docs = [_link(r) for r in session.scalars(select(d).where(or_(*subjects)).order_by(d.block_number, d.log_index))]
    by_shipment: dict[int, list[DocumentLink]] = {}
    for doc in docs:
        if doc.shipment_id is not None:
            by_shipment.setdefault(doc.shipment_id, []).append(doc)

    ids: set[int] = {obj.registrant, obj.custodian, obj.owner, *(doc.partner_id for doc in docs)}
    for r in rows:
        ids.update(x for x in (r.partner_id, r.counterparty_id, r.custodian, r.owner) if x is not None)
    named = {p.partner_id: p for p in partners_by_id(session, ids)}

    def who(pid: int | None) -> TracePartner | None:
        return None if pid is None else named.get(pid)

    events = [
        CustodyEvent(
            at=r.at, event=r.event, partner=who(r.partner_id), counterparty=who(r.counterparty_id),
            custodian=who(r.custodian), owner=who(r.owner), gln=r.gln, status=r.status, reason=r.reason,
            shipment_id=r.shipment_id, container_id=r.container_id,
            documents=by_shipment.get(r.shipment_id, []) if r.shipment_id is not None else [],
            block_number=r.block_number, log_index=r.log_index, tx_hash=r.tx_hash,
        )
        for r in rows
    ]  # fmt: skip
    for doc in docs:  # each anchoring is an event of the timeline too
        events.append(
            CustodyEvent(
                at=doc.anchored_at, event="document_anchored", partner=who(doc.partner_id), counterparty=None,
                custodian=None, owner=None, gln=None, status=None, reason=None, shipment_id=doc.shipment_id,
                container_id=None, documents=[doc], block_number=doc.block_number, log_index=doc.log_index,
                tx_hash=doc.tx_hash,
            )
        )  # fmt: skip
    events.sort(key=lambda e: (e.block_number, e.log_index))

    summary = ObjectSummary(
        object_id=obj.object_id, kind=obj.kind, epc=obj.epc, gtin=obj.gtin, serial=obj.serial, lot=obj.lot,
        sscc=obj.sscc, lot_id=obj.lot_id, quantity=obj.quantity, unit_of_measure=obj.unit_of_measure,
        expiry_date=obj.expiry_date, production_date=obj.production_date, origin_gln=obj.origin_gln,
        status=obj.status, own_status=obj.own_status, registrant=named[obj.registrant],
        custodian=named[obj.custodian], owner=named[obj.owner], parent_id=obj.parent_id, root_id=obj.root_id,
        shipment_id=obj.shipment_id, registered_at=obj.registered_at,
    )  # fmt: skip
    return CustodyChain(summary, events, docs)
