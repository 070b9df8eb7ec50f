"""DSCSA-style transaction history of a product: GTIN + lot, or GTIN + serial.

The Drug Supply Chain Security Act (FD&C Act § 581) has trading partners exchange, for each
change of ownership, the *transaction information* (TI: product name, NDC, strength, dosage form,
container size, number of containers, lot number, expiry date, dates of the transaction and the
shipment, business names and addresses of the parties) and a *transaction statement* (TS); the
*transaction history* is the TI of every prior transaction back to the manufacturer.

From the ledger's read model, one entry per hand-over of the product's objects (the item, or the
lot and its items, packed in containers or not):

* a shipment (``idx_shipments``): sender → receiver, ship-from/ship-to GLNs, dispatch and
  receipt dates, its outcome (``received``, ``in_transit``, ``rejected``, ``cancelled``); it is
  a DSCSA *transaction* when ownership passed on receipt;
* a one-step custody hand-over or an ownership transfer without a shipment;
* the documents anchored to the shipment or to the product's objects, transaction statements
  (``transaction_statement``) separately, each with its CID and the ledger transaction.

The ledger knows no product names, strengths, dosage forms or postal addresses: those fields are
null, never guessed. The NDC is given only where the GTIN embeds one (GS1 US: a GTIN-14 whose
company prefix starts with ``03`` carries the 10-digit NDC in digits 4 to 13).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass
from typing import Any, Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from chain_client import gs1
from gateway.audit.errors import AuditInvalidQuery, AuditNotFound
from gateway.audit.trace import chunks
from gateway.indexer import tables as t

__all__ = ["CSV_COLUMNS", "ProductKey", "csv_rows", "ndc_of", "parse_product", "transaction_history"]

_MOVES: Final = ("shipped", "received", "rejected", "cancelled", "transferred", "ownership_transferred")


@dataclass(frozen=True)
class ProductKey:
    gtin: str
    lot: str | None = None
    serial: str | None = None


def parse_product(gtin: str | None, lot: str | None, serial: str | None) -> ProductKey:
    """GTIN with exactly one of lot and serial (DSCSA product identifier, lot-level or unit-level)."""
    if not gtin:
        raise AuditInvalidQuery("dscsa.gtin_required", "gtin", "name the product's GTIN")
    try:
        value = gs1.validate_gtin(gtin.strip())
    except gs1.GS1Error as exc:
        raise AuditInvalidQuery("dscsa.invalid_gtin", "gtin", exc.message) from None
    value = value.zfill(14)
    if (lot is None) == (serial is None):
        raise AuditInvalidQuery("dscsa.lot_or_serial", "lot" if lot is not None else "serial",
                                "give exactly one of lot and serial with the GTIN")  # fmt: skip
    return ProductKey(value, lot.strip() if lot is not None else None, serial.strip() if serial is not None else None)


def ndc_of(gtin: str) -> str | None:
    """The 10-digit NDC a GS1 US GTIN-14 embeds (company prefix ``03…``), else None."""
    return gtin[3:13] if len(gtin) == 14 and gtin[1:3] == "03" else None


def _utc(value: dt.datetime | None) -> str | None:
    if value is None:
        return None
    return (value if value.tzinfo else value.replace(tzinfo=dt.UTC)).isoformat()


class _Parties:
    def __init__(self, session: Session) -> None:
        self.names = {p.partner_id: p.name for p in session.scalars(select(t.PartnerRow))}
        self.glns: dict[int, list[str]] = defaultdict(list)
        locations = select(t.PartnerLocationRow).order_by(t.PartnerLocationRow.block_number)
        for row in session.scalars(locations):
            self.glns[row.partner_id].append(row.gln)

    def party(self, partner_id: int | None, gln: str | None = None) -> dict[str, Any] | None:
        if partner_id is None:
            return None
        return {"partner_id": partner_id, "business_name": self.names.get(partner_id), "gln": gln,
                "partner_glns": self.glns.get(partner_id, []), "address": None}  # fmt: skip


def _document(row: t.DocumentRow) -> dict[str, Any]:
    return {"document_type": row.doc_type.lower(), "cid": row.cid_text, "subject_type": row.subject_type,
            "shipment_id": row.shipment_id, "object_id": row.object_id, "partner_id": row.partner_id,
            "anchored_at": _utc(row.anchored_at), "tx_hash": row.tx_hash, "block_number": row.block_number}  # fmt: skip


def transaction_history(session: Session, key: ProductKey) -> dict[str, Any]:
    """The product's master data, its hand-overs (oldest first) and their documents."""
    o = t.ObjectRow
    query = select(o).where(o.gtin == key.gtin)
    query = query.where(o.serial == key.serial) if key.serial is not None else query.where(o.lot == key.lot)
    objects = list(session.scalars(query.order_by(o.registered_block, o.registered_log_index)))
    if not objects:
        named = f"serial {key.serial}" if key.serial is not None else f"lot {key.lot}"
        raise AuditNotFound("dscsa.product_not_found", f"The ledger has no GTIN {key.gtin} with {named}.")
    ids = [x.object_id for x in objects]
    parties = _Parties(session)
    h = t.CustodyHistoryRow
    history = sorted(
        (
            r
            for part in chunks(ids)
            for r in session.scalars(select(h).where(h.object_id.in_(part), h.event.in_(_MOVES)))
        ),
        key=lambda r: (r.block_number, r.log_index, r.object_id),
    )
    d = t.DocumentRow
    shipment_ids = sorted({r.shipment_id for r in history if r.shipment_id is not None})
    found = {x.document_id: x for part in chunks(ids) for x in session.scalars(select(d).where(d.object_id.in_(part)))}
    for start in range(0, len(shipment_ids), 500):
        part = shipment_ids[start : start + 500]
        found.update((x.document_id, x) for x in session.scalars(select(d).where(d.shipment_id.in_(part))))
    documents = sorted(found.values(), key=lambda x: (x.block_number, x.log_index))
    entries = _shipments(session, history, shipment_ids, parties, documents)
    received_txs = {r.tx_hash for r in history if r.event == "received"}
    by_event: dict[tuple[int, int], list[t.CustodyHistoryRow]] = defaultdict(list)
    for row in history:
        if row.event == "transferred" or (row.event == "ownership_transferred" and row.tx_hash not in received_txs):
            by_event[(row.block_number, row.log_index)].append(row)
    for (block, _), rows in by_event.items():
        first = rows[0]
        custody = first.event == "transferred"
        entries.append({
            "kind": "custody_transfer" if custody else "ownership_transfer", "shipment_id": None,
            "transaction": not custody, "transaction_date": _utc(first.at), "shipment_date": _utc(first.at) if custody
            else None, "received_at": _utc(first.at) if custody else None, "status": "completed",
            "sender": parties.party(first.partner_id), "receiver": parties.party(first.counterparty_id),
            "quantity": len({r.object_id for r in rows}), "unit_of_measure": "EA", "object_ids": sorted(
                {r.object_id for r in rows}), "tx_hash": first.tx_hash, "block_number": block,
            "documents": [], "transaction_statements": [],
        })  # fmt: skip
    entries.sort(key=lambda e: (e["block_number"], e["shipment_id"] or 0))
    lots = {x.lot for x in objects if x.lot}
    expiries = {x.expiry_date for x in objects if x.expiry_date}
    manufacturer = objects[0].registrant
    return {
        "product": {
            "gtin": key.gtin, "ndc": ndc_of(key.gtin), "product_name": None, "strength": None, "dosage_form": None,
            "lot": key.lot if key.lot is not None else (lots.pop() if len(lots) == 1 else None),
            "serial": key.serial, "expiry_date": expiries.pop().isoformat() if len(expiries) == 1 else None,
            "objects": [{"object_id": x.object_id, "epc": x.epc, "kind": x.kind.lower(), "quantity": x.quantity,
                         "unit_of_measure": x.unit_of_measure, "status": x.status.lower()} for x in objects],
            "manufacturer": parties.party(manufacturer, objects[0].origin_gln),
            "commissioned_at": _utc(objects[0].registered_at), "commissioning_tx": objects[0].registered_tx,
        },
        "transactions": entries,
        "transaction_statements": [_document(x) for x in documents if x.doc_type == "TRANSACTION_STATEMENT"],
        "documents": [_document(x) for x in documents],
    }  # fmt: skip


def _shipments(
    session: Session,
    history: list[t.CustodyHistoryRow] | Any,
    shipment_ids: list[int],
    parties: _Parties,
    documents: list[t.DocumentRow],
) -> list[dict[str, Any]]:
    entries = []
    rows = {
        s.shipment_id: s
        for s in session.scalars(select(t.ShipmentRow).where(t.ShipmentRow.shipment_id.in_(shipment_ids)))
    }
    for shipment_id in shipment_ids:
        s = rows.get(shipment_id)
        if s is None:
            continue
        mine = [r for r in history if r.shipment_id == shipment_id]
        shipped = {r.object_id for r in mine if r.event == "shipped"}
        received = [r for r in mine if r.event == "received"]
        outcome = {r.event for r in mine} - {"shipped"}
        status = (
            "received"
            if "received" in outcome
            else ("rejected" if "rejected" in outcome else "cancelled" if "cancelled" in outcome else "in_transit")
        )
        received_at = received[0].at if received else None
        docs = [_document(x) for x in documents if x.shipment_id == shipment_id]
        entries.append({
            "kind": "shipment", "shipment_id": shipment_id, "transaction": bool(s.transfer_ownership and received),
            "transaction_date": _utc(received_at if s.transfer_ownership and received_at else s.dispatched_at),
            "shipment_date": _utc(s.dispatched_at), "received_at": _utc(received_at), "status": status,
            "sender": parties.party(s.sender, s.ship_from_gln),
            "receiver": parties.party(s.receiver, received[0].gln if received and received[0].gln else s.ship_to_gln),
            "quantity": len(shipped), "unit_of_measure": "EA", "object_ids": sorted(shipped), "tx_hash": s.tx_hash,
            "block_number": s.block_number, "documents": docs,
            "transaction_statements": [x for x in docs if x["document_type"] == "transaction_statement"],
        })  # fmt: skip
    return entries


CSV_COLUMNS: Final[tuple[tuple[str, str], ...]] = (
    ("kind", "Kind"), ("transaction", "DSCSA Transaction (ownership changed)"),
    ("transaction_date", "Transaction Date"),
    ("shipment_date", "Shipment Date"), ("received_at", "Received At"), ("status", "Status"),
    ("shipment_id", "Shipment ID"), ("gtin", "GTIN"), ("ndc", "NDC"), ("product_name", "Product Name"),
    ("lot", "Lot"), ("serial", "Serial"), ("expiry_date", "Expiry Date"), ("quantity", "Quantity"),
    ("unit_of_measure", "Unit of Measure"), ("sender_name", "Sender Business Name"), ("sender_gln", "Sender GLN"),
    ("sender_address", "Sender Address"), ("receiver_name", "Receiver Business Name"),
    ("receiver_gln", "Receiver GLN"), ("receiver_address", "Receiver Address"),
    ("transaction_statements", "Transaction Statement CIDs"), ("tx_hash", "Ledger Transaction"),
)  # fmt: skip


def csv_rows(history: dict[str, Any]) -> list[dict[str, Any]]:
    """One flat row per hand-over (the CSV form of :func:`transaction_history`)."""
    product = history["product"]
    rows = []
    for e in history["transactions"]:
        sender, receiver = e["sender"] or {}, e["receiver"] or {}
        rows.append({
            **{k: e.get(k) for k in ("kind", "transaction", "transaction_date", "shipment_date", "received_at",
                                     "status", "shipment_id", "quantity", "unit_of_measure", "tx_hash")},
            **{k: product.get(k) for k in ("gtin", "ndc", "product_name", "lot", "serial", "expiry_date")},
            "sender_name": sender.get("business_name"), "sender_gln": sender.get("gln"),
            "sender_address": sender.get("address"), "receiver_name": receiver.get("business_name"),
            "receiver_gln": receiver.get("gln"), "receiver_address": receiver.get("address"),
            "transaction_statements": "; ".join(s["cid"] or "" for s in e["transaction_statements"]),
        })  # fmt: skip
    return rows
