"""FSMA 204 traceability records as the electronic sortable spreadsheet of 21 CFR 1.1455(c)(3)(ii).

FDA may ask for the key data elements (KDEs) of the critical tracking events (CTEs) of a food on
the Food Traceability List, for traceability lot codes and dates it names, "in an electronic
sortable spreadsheet". :data:`COLUMNS` is that spreadsheet's column catalogue and :data:`KDES` lists
every KDE of every CTE of 21 CFR 1.1325 to 1.1350 with the section it comes from and the column that
holds it (a test checks that every KDE has one). One row is one critical tracking event of one
traceability lot (a transformation: one row per input lot of each output lot).

What the ledger records, and so what a row can say:

* a lot or item registration (not the output of a transformation) is the **initial packing**
  of the lot: the traceability lot code is assigned where the lot was commissioned (the origin
  GLN is the TLC source); the date is the production date when recorded, else the day of
  commissioning;
* shipments (``ShipmentDispatched``) and one-step hand-overs (``CustodyTransferred``) are
  **shipping**; receipts (``ObjectReceived``) and hand-overs are **receiving**;
* split, merge and transform are **transformation** (new TLCs from input lots);
* reference documents are the documents anchored on the ledger to the shipment (shipping,
  receiving) or to the lot (initial packing, transformation): their type and CID;
* the ledger has no harvesting, cooling or first land-based receiving events, no product
  descriptions, commodities, phone numbers or addresses: those cells stay empty. A value is
  never guessed; a location description holds the business name the ledger registered for the
  GLN's partner.

The TLC is GTIN + lot (GS1 AI 01 + AI 10), written as element strings ``(01)…(10)…``; items of
the lot count as ``EA``. A lot's quantity on a shipment is its quantity at that moment (the
registered quantity less what transformations had consumed before).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from chain_client import gs1
from gateway.audit.errors import AuditInvalidQuery, AuditNotFound
from gateway.audit.trace import chunks
from gateway.indexer import tables as t

__all__ = [
    "COLUMNS",
    "HEADERS",
    "KDES",
    "KEYS",
    "Column",
    "Cte",
    "Kde",
    "TraceabilityLot",
    "fsma_rows",
    "parse_tlc",
    "to_csv",
    "to_xlsx",
]


class Cte(StrEnum):
    """The critical tracking events of 21 CFR part 1 subpart S."""

    HARVESTING = "harvesting"
    COOLING = "cooling"
    INITIAL_PACKING = "initial_packing"
    FIRST_LAND_BASED_RECEIVING = "first_land_based_receiving"
    SHIPPING = "shipping"
    RECEIVING = "receiving"
    TRANSFORMATION = "transformation"


@dataclass(frozen=True)
class Column:
    key: str
    header: str
    description: str


@dataclass(frozen=True)
class Kde:
    """One key data element of one CTE: where the rule requires it and which column holds it."""

    cte: Cte
    cfr: str
    text: str
    column: str


def _c(key: str, header: str, description: str) -> Column:
    return Column(key, header, description)


COLUMNS: Final[tuple[Column, ...]] = (
    _c("cte", "Critical Tracking Event", "harvesting, cooling, initial_packing, first_land_based_receiving, "
       "shipping, receiving or transformation"),
    _c("event_date", "Event Date", "date of the CTE: harvested, cooled, initially packed, landed, shipped, received, "
       "or transformation completed"),
    _c("event_time", "Ledger Event Time (UTC)", "block time of the ledger event (sorting aid)"),
    _c("traceability_lot_code", "Traceability Lot Code", "TLC of the food (GTIN + lot as GS1 element strings)"),
    _c("gtin", "GTIN", "GS1 trade item number of the TLC (sorting aid)"),
    _c("lot", "Lot Code", "lot/batch number of the TLC (sorting aid)"),
    _c("product_description", "Product Description", "product name, brand, commodity, variety, packaging"),
    _c("commodity_variety", "Commodity and Variety", "commodity and, if applicable, variety"),
    _c("quantity", "Quantity", "quantity of the food"),
    _c("unit_of_measure", "Unit of Measure", "unit of that quantity"),
    _c("tlc_source_description", "TLC Source Location Description", "where the TLC was assigned"),
    _c("tlc_source_gln", "TLC Source GLN", "GLN of the TLC source"),
    _c("tlc_source_reference", "TLC Source Reference", "alternative reference to the TLC source (a GLN)"),
    _c("ship_from_description", "Ship-From Location Description", "location the food was shipped from"),
    _c("ship_from_gln", "Ship-From GLN", "GLN of that location"),
    _c("recipient_description", "Immediate Subsequent Recipient Location Description",
       "recipient (other than a transporter) the food went to: the ship-to location"),
    _c("recipient_gln", "Ship-To GLN", "GLN of the immediate subsequent recipient's location"),
    _c("previous_source_description", "Immediate Previous Source Location Description",
       "who the food came from (other than a transporter)"),
    _c("previous_source_gln", "Immediate Previous Source GLN", "GLN of that source's location"),
    _c("receiving_description", "Receiving Location Description", "where the food was received"),
    _c("receiving_gln", "Receiving GLN", "GLN of the receiving location"),
    _c("received_date", "Date Received (Initial Packer)", "date the initial packer received the RAC"),
    _c("received_quantity", "Quantity Received (Initial Packer)", "quantity of the RAC received"),
    _c("received_unit", "Unit Received (Initial Packer)", "unit of that quantity"),
    _c("farm_description", "Harvest Farm Location Description", "farm where the food was harvested"),
    _c("field_name", "Field or Growing Area", "name of the field or growing area harvested"),
    _c("aquaculture_container", "Aquaculture Container", "pond, pool, tank or cage harvested"),
    _c("harvester_business_name", "Harvester Business Name", "business name of the harvester"),
    _c("harvester_phone", "Harvester Phone Number", "phone number of the harvester"),
    _c("harvest_date", "Harvest Date", "date of harvesting"),
    _c("cooling_description", "Cooling Location Description", "where the food was cooled"),
    _c("cooling_date", "Cooling Date", "date of cooling"),
    _c("trip_harvest_dates", "Fishing Trip Harvest Date Range", "harvest date range of the fishing trip"),
    _c("trip_harvest_locations", "Fishing Trip Harvest Locations", "NMFS ocean codes or coordinates of the trip"),
    _c("input_traceability_lot_code", "Input Traceability Lot Code", "TLC of a food used in a transformation"),
    _c("input_product_description", "Input Product Description", "description of that input food"),
    _c("input_quantity", "Input Quantity", "quantity of that input lot used"),
    _c("input_unit", "Input Unit of Measure", "unit of that quantity"),
    _c("seed_grower", "Seed Grower, Seed Lot and Harvest Date", "sprouts: grower of the seeds, its seed lot, date"),
    _c("seed_conditioner", "Seed Conditioner, Seed Lot and Date", "sprouts: conditioning facility, lot, date"),
    _c("seed_packinghouse", "Seed Packinghouse, Seed Lot and Date", "sprouts: packinghouse, lot, packing date"),
    _c("seed_supplier", "Seed Supplier Location Description", "sprouts: the seed supplier"),
    _c("seed_description", "Seed Description", "sprouts: seed type, specifications, packaging, treatment"),
    _c("seed_lot_code", "Seed Supplier Lot Code", "sprouts: seed lot code of the supplier (and sprouter)"),
    _c("seed_receipt_date", "Seed Receipt Date", "sprouts: date the sprouter received the seeds"),
    _c("reference_document_type", "Reference Document Type", "e.g. bill_of_lading, invoice (anchored documents)"),
    _c("reference_document_number", "Reference Document Number", "the anchored document's CID"),
    _c("ledger_tx_hash", "Ledger Transaction", "transaction that recorded the event (sorting aid)"),
)  # fmt: skip

HEADERS: Final = tuple(c.header for c in COLUMNS)
KEYS: Final = tuple(c.key for c in COLUMNS)

_H, _C, _P, _F = Cte.HARVESTING, Cte.COOLING, Cte.INITIAL_PACKING, Cte.FIRST_LAND_BASED_RECEIVING
_S, _R, _T = Cte.SHIPPING, Cte.RECEIVING, Cte.TRANSFORMATION


def _k(cte: Cte, cfr: str, text: str, column: str) -> Kde:
    return Kde(cte, f"21 CFR 1.{cfr}", text, column)


KDES: Final[tuple[Kde, ...]] = (
    # § 1.1325(a) harvesting
    _k(_H, "1325(a)(1)(i)", "location description for the immediate subsequent recipient", "recipient_description"),
    _k(_H, "1325(a)(1)(ii)", "commodity and, if applicable, variety", "commodity_variety"),
    _k(_H, "1325(a)(1)(iii)", "quantity and unit of measure", "quantity"),
    _k(_H, "1325(a)(1)(iii)", "unit of measure", "unit_of_measure"),
    _k(_H, "1325(a)(1)(iv)", "location description for the farm where harvested", "farm_description"),
    _k(_H, "1325(a)(1)(v)", "field or other growing area name (produce)", "field_name"),
    _k(_H, "1325(a)(1)(vi)", "container name (aquacultured food)", "aquaculture_container"),
    _k(_H, "1325(a)(1)(vii)", "date of harvesting", "event_date"),
    _k(_H, "1325(a)(1)(viii)", "reference document type", "reference_document_type"),
    _k(_H, "1325(a)(1)(viii)", "reference document number", "reference_document_number"),
    _k(_H, "1325(a)(2)", "business name of the harvester (provided to the initial packer)", "harvester_business_name"),
    _k(_H, "1325(a)(2)", "phone number of the harvester (provided to the initial packer)", "harvester_phone"),
    # § 1.1325(b) cooling
    _k(_C, "1325(b)(1)(i)", "location description for the immediate subsequent recipient", "recipient_description"),
    _k(_C, "1325(b)(1)(ii)", "commodity and, if applicable, variety", "commodity_variety"),
    _k(_C, "1325(b)(1)(iii)", "quantity", "quantity"),
    _k(_C, "1325(b)(1)(iii)", "unit of measure", "unit_of_measure"),
    _k(_C, "1325(b)(1)(iv)", "location description for where the food was cooled", "cooling_description"),
    _k(_C, "1325(b)(1)(v)", "date of cooling", "event_date"),
    _k(_C, "1325(b)(1)(vi)", "location description for the farm where harvested", "farm_description"),
    _k(_C, "1325(b)(1)(vii)", "reference document type", "reference_document_type"),
    _k(_C, "1325(b)(1)(vii)", "reference document number", "reference_document_number"),
    # § 1.1330(a) initial packing of a RAC
    _k(_P, "1330(a)(1)", "commodity and, if applicable, variety of the food received", "commodity_variety"),
    _k(_P, "1330(a)(2)", "date the food was received", "received_date"),
    _k(_P, "1330(a)(3)", "quantity of the food received", "received_quantity"),
    _k(_P, "1330(a)(3)", "unit of measure of the food received", "received_unit"),
    _k(_P, "1330(a)(4)", "location description for the farm where harvested", "farm_description"),
    _k(_P, "1330(a)(5)", "field or other growing area name (produce)", "field_name"),
    _k(_P, "1330(a)(6)", "container name (aquacultured food)", "aquaculture_container"),
    _k(_P, "1330(a)(7)", "business name of the harvester", "harvester_business_name"),
    _k(_P, "1330(a)(7)", "phone number of the harvester", "harvester_phone"),
    _k(_P, "1330(a)(8)", "date of harvesting", "harvest_date"),
    _k(_P, "1330(a)(9)", "location description for where the food was cooled", "cooling_description"),
    _k(_P, "1330(a)(10)", "date of cooling", "cooling_date"),
    _k(_P, "1330(a)(11)", "traceability lot code assigned", "traceability_lot_code"),
    _k(_P, "1330(a)(12)", "product description of the packed food", "product_description"),
    _k(_P, "1330(a)(13)", "quantity of the packed food", "quantity"),
    _k(_P, "1330(a)(13)", "unit of measure of the packed food", "unit_of_measure"),
    _k(_P, "1330(a)(14)", "location description for where initially packed (TLC source)", "tlc_source_description"),
    _k(_P, "1330(a)(14)", "traceability lot code source reference", "tlc_source_reference"),
    _k(_P, "1330(a)(15)", "date of initial packing", "event_date"),
    _k(_P, "1330(a)(16)", "reference document type", "reference_document_type"),
    _k(_P, "1330(a)(16)", "reference document number", "reference_document_number"),
    # § 1.1330(b) initial packing of sprouts
    _k(_P, "1330(b)(1)", "seed grower location description, seed lot code and date of seed harvesting",
       "seed_grower"),
    _k(_P, "1330(b)(2)", "seed conditioning/processing facility, seed lot code and date", "seed_conditioner"),
    _k(_P, "1330(b)(3)", "seed packinghouse, seed lot code and date of packing", "seed_packinghouse"),
    _k(_P, "1330(b)(4)", "location description for the seed supplier", "seed_supplier"),
    _k(_P, "1330(b)(5)", "description of the seeds", "seed_description"),
    _k(_P, "1330(b)(6)", "seed lot code assigned by the seed supplier", "seed_lot_code"),
    _k(_P, "1330(b)(7)", "date the sprouter received the seeds", "seed_receipt_date"),
    # § 1.1335 first land-based receiving
    _k(_F, "1335(a)", "traceability lot code assigned", "traceability_lot_code"),
    _k(_F, "1335(b)", "species and/or acceptable market name, or product description", "product_description"),
    _k(_F, "1335(c)", "quantity", "quantity"),
    _k(_F, "1335(c)", "unit of measure", "unit_of_measure"),
    _k(_F, "1335(d)", "harvest date range of the trip", "trip_harvest_dates"),
    _k(_F, "1335(d)", "harvest locations of the trip", "trip_harvest_locations"),
    _k(_F, "1335(e)", "location description for the first land-based receiver (TLC source)",
       "tlc_source_description"),
    _k(_F, "1335(e)", "traceability lot code source reference", "tlc_source_reference"),
    _k(_F, "1335(f)", "date the food was landed", "event_date"),
    _k(_F, "1335(g)", "reference document type", "reference_document_type"),
    _k(_F, "1335(g)", "reference document number", "reference_document_number"),
    # § 1.1340(a) shipping
    _k(_S, "1340(a)(1)", "traceability lot code", "traceability_lot_code"),
    _k(_S, "1340(a)(2)", "quantity", "quantity"),
    _k(_S, "1340(a)(2)", "unit of measure", "unit_of_measure"),
    _k(_S, "1340(a)(3)", "product description", "product_description"),
    _k(_S, "1340(a)(4)", "location description for the immediate subsequent recipient", "recipient_description"),
    _k(_S, "1340(a)(4)", "GLN of the immediate subsequent recipient (ship-to)", "recipient_gln"),
    _k(_S, "1340(a)(5)", "location description for where the food was shipped from", "ship_from_description"),
    _k(_S, "1340(a)(5)", "GLN of the ship-from location", "ship_from_gln"),
    _k(_S, "1340(a)(6)", "date shipped", "event_date"),
    _k(_S, "1340(a)(7)", "location description for the TLC source", "tlc_source_description"),
    _k(_S, "1340(a)(7)", "GLN of the TLC source", "tlc_source_gln"),
    _k(_S, "1340(a)(7)", "traceability lot code source reference", "tlc_source_reference"),
    _k(_S, "1340(a)(8)", "reference document type", "reference_document_type"),
    _k(_S, "1340(a)(8)", "reference document number", "reference_document_number"),
    # § 1.1345(a) receiving
    _k(_R, "1345(a)(1)", "traceability lot code", "traceability_lot_code"),
    _k(_R, "1345(a)(2)", "quantity", "quantity"),
    _k(_R, "1345(a)(2)", "unit of measure", "unit_of_measure"),
    _k(_R, "1345(a)(3)", "product description", "product_description"),
    _k(_R, "1345(a)(4)", "location description for the immediate previous source", "previous_source_description"),
    _k(_R, "1345(a)(4)", "GLN of the immediate previous source", "previous_source_gln"),
    _k(_R, "1345(a)(5)", "location description for where the food was received", "receiving_description"),
    _k(_R, "1345(a)(5)", "GLN of the receiving location", "receiving_gln"),
    _k(_R, "1345(a)(6)", "date received", "event_date"),
    _k(_R, "1345(a)(7)", "location description for the TLC source", "tlc_source_description"),
    _k(_R, "1345(a)(7)", "GLN of the TLC source", "tlc_source_gln"),
    _k(_R, "1345(a)(7)", "traceability lot code source reference", "tlc_source_reference"),
    _k(_R, "1345(a)(8)", "reference document type", "reference_document_type"),
    _k(_R, "1345(a)(8)", "reference document number", "reference_document_number"),
    # § 1.1350(a) transformation
    _k(_T, "1350(a)(1)(i)", "traceability lot code of each food used", "input_traceability_lot_code"),
    _k(_T, "1350(a)(1)(ii)", "product description of each food used", "input_product_description"),
    _k(_T, "1350(a)(1)(iii)", "quantity of each traceability lot used", "input_quantity"),
    _k(_T, "1350(a)(1)(iii)", "unit of measure of each traceability lot used", "input_unit"),
    _k(_T, "1350(a)(2)(i)", "new traceability lot code of the food produced", "traceability_lot_code"),
    _k(_T, "1350(a)(2)(ii)", "location description for where transformed (TLC source)", "tlc_source_description"),
    _k(_T, "1350(a)(2)(ii)", "traceability lot code source reference", "tlc_source_reference"),
    _k(_T, "1350(a)(2)(iii)", "date transformation was completed", "event_date"),
    _k(_T, "1350(a)(2)(iv)", "product description of the food produced", "product_description"),
    _k(_T, "1350(a)(2)(v)", "quantity of the food produced", "quantity"),
    _k(_T, "1350(a)(2)(v)", "unit of measure of the food produced", "unit_of_measure"),
    _k(_T, "1350(a)(2)(vi)", "reference document type", "reference_document_type"),
    _k(_T, "1350(a)(2)(vi)", "reference document number", "reference_document_number"),
)  # fmt: skip


# ------------------------------------------------------------------------------------ the lot


@dataclass(frozen=True)
class TraceabilityLot:
    """A traceability lot code: GTIN + lot."""

    gtin: str
    lot: str

    @property
    def code(self) -> str:
        return f"(01){self.gtin}(10){self.lot}"


def parse_tlc(value: str, field: str = "tlc") -> TraceabilityLot:
    """An LGTIN URN, a GS1 Digital Link URI or element strings with AI 01 and AI 10."""
    text = value.strip()
    try:
        if text.startswith("urn:"):
            ident = gs1.parse_epc_urn(text)
            if not isinstance(ident, gs1.Lgtin):
                raise AuditInvalidQuery("fsma.invalid_tlc", field, f"{text!r} is not an LGTIN (GTIN + lot)")
            return TraceabilityLot(ident.gtin.value, ident.lot)
        data = gs1.parse_scan(text)
    except gs1.GS1Error as exc:
        raise AuditInvalidQuery("fsma.invalid_tlc", field, f"{field}: {exc.message}") from None
    if data.gtin is None or data.lot is None:
        raise AuditInvalidQuery(
            "fsma.invalid_tlc", field, "a traceability lot code is a GTIN (01) with a lot (10), e.g. (01)…(10)…"
        )
    return TraceabilityLot(data.gtin.value, data.lot)


def tlc_of(row: t.ObjectRow | None) -> TraceabilityLot | None:
    if row is None or not row.gtin or not row.lot:
        return None
    return TraceabilityLot(row.gtin, row.lot)


# ------------------------------------------------------------------------------------ rows


def _utc(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)


class _Model:
    """Lookups over the index shared by the row builders."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.partners = {p.partner_id: p.name for p in session.scalars(select(t.PartnerRow))}
        self.gln_owner = {row.gln: row.partner_id for row in session.scalars(select(t.PartnerLocationRow))}

    def place(self, gln: str | None, partner_id: int | None = None) -> str:
        """A location description: the business name of the GLN's partner (or of ``partner_id``)."""
        owner = self.gln_owner.get(gln) if gln else None
        return self.partners.get(owner or partner_id or 0, "")

    def documents(self, *, shipment_id: int | None = None, object_id: str | None = None) -> tuple[str, str]:
        d = t.DocumentRow
        query = select(d.doc_type, d.cid_text).order_by(d.block_number, d.log_index)
        query = (
            query.where(d.shipment_id == shipment_id)
            if shipment_id is not None
            else query.where(d.object_id == object_id)
        )
        docs = self.session.execute(query).all()
        return "; ".join(x.doc_type.lower() for x in docs), "; ".join(x.cid_text or "" for x in docs)

    def consumed(self, lot_id: str) -> list[tuple[tuple[int, int], int]]:
        """``((block, log index), quantity)`` of each consumption of a lot by a transformation."""
        e = t.GenealogyEdgeRow
        rows = self.session.execute(
            select(e.genealogy_id, e.input_log_index, e.block_number, e.input_quantity).where(e.input_id == lot_id)
        ).all()
        seen = {
            (r.genealogy_id, r.input_log_index): ((r.block_number, r.input_log_index), r.input_quantity) for r in rows
        }
        return list(seen.values())

    def quantity_at(self, lot: t.ObjectRow, position: tuple[int, int]) -> int | None:
        if lot.quantity is None:
            return None
        consumptions = self.consumed(lot.object_id)
        initial = lot.quantity + sum(q for _, q in consumptions)
        return initial - sum(q for at, q in consumptions if at < position)


def _row(**values: Any) -> dict[str, Any]:
    return {k: values.get(k, "") if values.get(k) is not None else "" for k in KEYS}


def _in_window(at: dt.datetime, since: dt.datetime | None, until: dt.datetime | None) -> bool:
    at = _utc(at)
    return (since is None or at >= since) and (until is None or at < until)


def fsma_rows(
    session: Session, tlc: TraceabilityLot, since: dt.datetime | None = None, until: dt.datetime | None = None
) -> list[dict[str, Any]]:
    """The spreadsheet rows (column key → value) of every CTE of ``tlc`` in ``[since, until)``."""
    o = t.ObjectRow
    objects = list(session.scalars(select(o).where(o.gtin == tlc.gtin, o.lot == tlc.lot).order_by(o.registered_block)))
    if not objects:
        raise AuditNotFound("fsma.tlc_not_found", f"The ledger has no lot or item with the TLC {tlc.code}.")
    model = _Model(session)
    by_id = {x.object_id: x for x in objects}
    base = {"traceability_lot_code": tlc.code, "gtin": tlc.gtin, "lot": tlc.lot}
    rows: list[tuple[dt.datetime, int, int, dict[str, Any]]] = []

    def source(obj: t.ObjectRow) -> dict[str, Any]:
        gln = obj.origin_gln
        return {"tlc_source_description": model.place(gln, obj.registrant) if gln else "",
                "tlc_source_gln": gln, "tlc_source_reference": f"GLN {gln}" if gln else None}  # fmt: skip

    lot_objects = [x for x in objects if x.kind == "LOT"]
    items = [x for x in objects if x.kind != "LOT"]
    produced = _produced(session, [x.object_id for x in objects])

    # initial packing: commissioning of the lot (or its items) where not a transformation output
    for lot in lot_objects:
        if lot.object_id in produced:
            continue
        position = (lot.registered_block, lot.registered_log_index)
        ref_type, ref_number = model.documents(object_id=lot.object_id)
        packed = lot.production_date.isoformat() if lot.production_date else _utc(lot.registered_at).date().isoformat()
        rows.append((lot.registered_at, *position, _row(
            **base, cte=Cte.INITIAL_PACKING, event_date=packed, event_time=_utc(lot.registered_at).isoformat(),
            quantity=model.quantity_at(lot, position), unit_of_measure=lot.unit_of_measure, **source(lot),
            reference_document_type=ref_type, reference_document_number=ref_number, ledger_tx_hash=lot.registered_tx,
        )))  # fmt: skip
    by_tx: dict[str, list[t.ObjectRow]] = defaultdict(list)
    for item in items:
        if item.object_id not in produced:
            by_tx[item.registered_tx].append(item)
    for tx, group in by_tx.items():
        head = group[0]
        day = head.production_date or _utc(head.registered_at).date()
        rows.append((head.registered_at, head.registered_block, head.registered_log_index, _row(
            **base, cte=Cte.INITIAL_PACKING, event_date=day.isoformat(),
            event_time=_utc(head.registered_at).isoformat(), quantity=len(group), unit_of_measure="EA",
            **source(head), ledger_tx_hash=tx,
        )))  # fmt: skip

    # shipping and receiving: the custody history of the lot's objects (items in containers too)
    h = t.CustodyHistoryRow
    moves = ["shipped", "received", "transferred"]
    history = sorted(
        (
            r
            for ids in chunks(by_id)
            for r in session.scalars(select(h).where(h.object_id.in_(ids), h.event.in_(moves)))
        ),
        key=lambda r: (r.block_number, r.log_index, r.object_id),
    )
    groups: dict[tuple[int, int, str], list[t.CustodyHistoryRow]] = defaultdict(list)
    for entry in history:
        groups[(entry.block_number, entry.log_index, entry.event)].append(entry)
    for (block, log_index, event), entries in groups.items():
        first = entries[0]
        quantity, unit = _quantity(model, [by_id[e.object_id] for e in entries], (block, log_index))
        shipment = session.get(t.ShipmentRow, first.shipment_id) if first.shipment_id is not None else None
        ref_type, ref_number = model.documents(shipment_id=first.shipment_id) if shipment else ("", "")
        common = dict(**base, event_date=_utc(first.at).date().isoformat(), event_time=_utc(first.at).isoformat(),
                      quantity=quantity, unit_of_measure=unit, **source(by_id[first.object_id]),
                      reference_document_type=ref_type, reference_document_number=ref_number,
                      ledger_tx_hash=first.tx_hash)  # fmt: skip
        sender = shipment.sender if shipment else first.partner_id
        receiver = shipment.receiver if shipment else first.counterparty_id
        ship_from = shipment.ship_from_gln if shipment else None
        ship_to = shipment.ship_to_gln if shipment else None
        if event in ("shipped", "transferred"):
            rows.append((first.at, block, log_index, _row(
                **common, cte=Cte.SHIPPING, ship_from_description=model.place(ship_from, sender),
                ship_from_gln=ship_from, recipient_description=model.place(ship_to, receiver), recipient_gln=ship_to,
            )))  # fmt: skip
        if event in ("received", "transferred"):
            received_at = first.gln if event == "received" else None
            rows.append((first.at, block, log_index, _row(
                **common, cte=Cte.RECEIVING, previous_source_description=model.place(ship_from, sender),
                previous_source_gln=ship_from, receiving_description=model.place(received_at, receiver),
                receiving_gln=received_at,
            )))  # fmt: skip

    # transformation: every genealogy edge into or out of the lot
    e = t.GenealogyEdgeRow
    found_edges = {
        (x.genealogy_id, x.input_log_index, x.output_log_index): x
        for ids in chunks(by_id)
        for x in session.scalars(select(e).where(or_(e.input_id.in_(ids), e.output_id.in_(ids))))
    }
    edges = sorted(found_edges.values(), key=lambda x: (x.block_number, x.output_log_index, x.input_log_index))
    ends = sorted({x.input_id for x in edges} | {x.output_id for x in edges})
    others = {x.object_id: x for ids in chunks(ends) for x in session.scalars(select(o).where(o.object_id.in_(ids)))}
    for edge in edges:
        output, input_ = others.get(edge.output_id), others.get(edge.input_id)
        out_tlc, in_tlc = tlc_of(output), tlc_of(input_)
        ref_type, ref_number = model.documents(object_id=edge.output_id)
        row = _row(
            cte=Cte.TRANSFORMATION, event_date=_utc(edge.recorded_at).date().isoformat(),
            event_time=_utc(edge.recorded_at).isoformat(), traceability_lot_code=out_tlc.code if out_tlc else None,
            gtin=out_tlc.gtin if out_tlc else None, lot=out_tlc.lot if out_tlc else None,
            quantity=edge.output_quantity, unit_of_measure=_unit(output),
            **(source(output) if output is not None else {}),
            input_traceability_lot_code=in_tlc.code if in_tlc else None, input_quantity=edge.input_quantity,
            input_unit=_unit(input_), reference_document_type=ref_type, reference_document_number=ref_number,
            ledger_tx_hash=edge.tx_hash,
        )  # fmt: skip
        rows.append((edge.recorded_at, edge.block_number, edge.output_log_index, row))
    rows = [r for r in rows if _in_window(r[0], since, until)]
    rows.sort(key=lambda r: (r[1], r[2], list(Cte).index(Cte(r[3]["cte"]))))
    return [r[3] for r in rows]


def _unit(obj: t.ObjectRow | None) -> str | None:
    if obj is None:
        return None
    return obj.unit_of_measure if obj.kind == "LOT" else "EA"


def _quantity(model: _Model, objects: list[t.ObjectRow], position: tuple[int, int]) -> tuple[int | None, str | None]:
    """Items count as EA; a lot contributes its quantity at ``position`` (one unit, or none when mixed)."""
    items = [x for x in objects if x.kind != "LOT"]
    lots = [x for x in objects if x.kind == "LOT"]
    units = {x.unit_of_measure for x in lots} | ({"EA"} if items else set())
    if len(units) != 1:
        return None, None
    total = len(items)
    for lot in lots:
        quantity = model.quantity_at(lot, position)
        if quantity is None:
            return None, None
        total += quantity
    return total, units.pop()


def _produced(session: Session, ids: Sequence[str]) -> set[str]:
    e = t.GenealogyEdgeRow
    return {x for chunk in chunks(ids) for x in session.scalars(select(e.output_id).where(e.output_id.in_(chunk)))}


# ------------------------------------------------------------------------------------ writers


def _cell(value: Any) -> Any:
    return "" if value is None else value


def to_csv(headers: Sequence[str], keys: Sequence[str], rows: Iterable[dict[str, Any]]) -> str:
    """CSV text (RFC 4180, CRLF) with a header row."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(headers)
    for row in rows:
        writer.writerow([_cell(row.get(k)) for k in keys])
    return out.getvalue()


def to_xlsx(title: str, headers: Sequence[str], keys: Sequence[str], rows: Iterable[dict[str, Any]]) -> bytes:
    """An XLSX workbook of one sheet: bold header row, frozen, with an autofilter (sortable)."""
    from openpyxl import Workbook
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.title = title[:31]
    sheet.append(list(headers))
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    count = 0
    for row in rows:
        sheet.append([_cell(row.get(k)) for k in keys])
        count += 1
    sheet.freeze_panes = "A2"
    sheet.auto_filter.ref = f"A1:{get_column_letter(len(headers))}{count + 1}"
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()
