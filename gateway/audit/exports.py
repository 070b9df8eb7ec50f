"""Ledger events → GS1 EPCIS 2.0 events, queried with the EPCIS 2.0 SimpleEventQuery parameters.

The source is the indexer's raw event table (``idx_events``), read in chain order, with master
data from ``idx_objects`` (EPCs, units), ``idx_shipments`` and ``idx_partner_locations`` (GLNs).
The ledger logs of one transaction that describe one business step become one EPCIS event (a
shipment of 40 objects is one shipping event with 40 EPCs), the way the capture mapping
(:mod:`gateway.epcis.mapping`) reads one EPCIS event into one operation. Exported events that a
partner could record are written the way that mapping reads them, so capturing an export again
means the same operations (round trip; tested).

=========================================  ==================================================
ledger logs (one transaction)               EPCIS 2.0 event (CBV 2.0 short names)
=========================================  ==================================================
ItemRegistered, LotRegistered,              ObjectEvent ADD ``commissioning``, disposition
LogisticUnitRegistered (same partner,       ``active``; SGTINs/SSCCs in ``epcList``, lots in
lot, expiry, origin)                        ``quantityList`` with quantity and UN/ECE uom;
                                            ``ilmd`` ``cbvmda:lotNumber``,
                                            ``cbvmda:itemExpirationDate``; origin GLN as
                                            ``bizLocation``
ShipmentDispatched + ObjectShipped          ObjectEvent OBSERVE ``shipping``, ``in_transit``;
                                            ``readPoint`` ship-from; ``sourceList`` /
                                            ``destinationList``: ``possessing_party`` (and
                                            ``owning_party`` when ownership passes on receipt)
                                            as PGLN, ``location`` ship-from / ship-to as SGLN
ObjectReceived                              ObjectEvent OBSERVE ``receiving``, ``in_progress``;
                                            ``bizLocation``/``readPoint`` the receiving GLN;
                                            source/destination parties
ObjectRejected                              ObjectEvent OBSERVE ``inspecting``,
                                            ``non_conformant`` (not capturable)
ShipmentCancelled                           ObjectEvent OBSERVE ``void_shipping``,
                                            ``in_progress`` (not capturable)
CustodyTransferred / OwnershipTransferred   ObjectEvent OBSERVE ``accepting`` with
                                            ``possessing_party`` / ``owning_party`` source and
                                            destination (not capturable); an ownership change
                                            that a receipt in the same transaction caused is
                                            already said by the receiving event
ObjectPacked / ObjectUnpacked               AggregationEvent ADD ``packing`` / DELETE
                                            ``unpacking``; lots in ``childQuantityList``
GenealogyRecorded + inputs + outputs        TransformationEvent; bizStep ``repackaging``
                                            (split, merge) or ``commissioning`` (transform);
                                            consumed lot quantities and produced lots with
                                            quantity and uom
RecallInitiated (+ its StatusChanged)       ObjectEvent OBSERVE ``holding``, ``recalled``
StatusChanged                               quarantined: ``holding`` with the reason as
                                            disposition when it is a CBV disposition, else
                                            ``non_sellable_other``; expired: ``holding``
                                            ``expired``; dispensed: ``dispensing``
                                            ``dispensed``; decommissioned: DELETE
                                            ``destroying`` ``destroyed`` (reason destroyed) or
                                            ``decommissioning`` with the reason as disposition
                                            (else ``inactive``); active again: ``inspecting``
                                            ``active`` (not capturable)
=========================================  ==================================================

Every event carries ``eventTime`` (the block time, UTC), a stable ``eventID`` (a UUID v5 of
ledger, transaction and first log index) and the ledger facts as extension members under the
``custody:`` prefix (``custody:txHash``, ``custody:blockNumber``, ``custody:partnerID`` and,
where there is one, ``custody:reason``, ``custody:shipmentID``, ``custody:genealogyID``).
GLNs become URNs with a 7-digit company prefix (:data:`chain_client.gs1.DEFAULT_COMPANY_PREFIX_LENGTH`;
the ledger keeps only the 13 digits, and a reader compares GLNs, not URN splits). A partner's
party GLN is its first registered location. An object whose EPC is not a GS1 EPC URN is named
``urn:custody:object:<object id>``.

Queries (:class:`EventQuery`) follow the SimpleEventQuery parameters of EPCIS 2.0 §8.2.7:
``eventType``, ``GE_eventTime``, ``LT_eventTime``, ``MATCH_epc`` (``epcList``, ``childEPCs``),
``MATCH_anyEPC`` (also ``parentID``, ``inputEPCList``, ``outputEPCList``), ``EQ_bizStep`` and
``EQ_bizLocation``; values are comma-separated and ``MATCH_*`` take EPC pattern URNs
(``urn:epc:idpat:sgtin:0614141.812345.*``). Results come in pages (``perPage``,
``nextPageToken``, as in the REST binding), the token being the chain position after the last
event returned.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
import uuid
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, NamedTuple

from sqlalchemy import select, tuple_
from sqlalchemy.orm import Session

from chain_client import gs1
from gateway.audit.errors import AuditInvalidQuery
from gateway.epcis.capture import CBV_VERSION, EPCIS_VERSION
from gateway.epcis.identifiers import IdentifierError, parse_gln
from gateway.indexer import tables as t

__all__ = [
    "CONTEXT",
    "EVENT_TYPES",
    "QUERY_PARAMETERS",
    "EventQuery",
    "ExportPage",
    "LedgerEpcis",
    "PartyDirectory",
    "export_events",
    "pgln",
    "query_document",
    "sgln",
]

EPCIS_CONTEXT: Final = "https://ref.gs1.org/standards/epcis/epcis-context.jsonld"
CUSTODY_NAMESPACE: Final = "urn:custody:epcis:"
CONTEXT: Final[list[Any]] = [EPCIS_CONTEXT, {"custody": CUSTODY_NAMESPACE}]
EVENT_TYPES: Final = frozenset(
    {"ObjectEvent", "AggregationEvent", "TransformationEvent", "TransactionEvent", "AssociationEvent"}
)
QUERY_PARAMETERS: Final = (
    "eventType", "GE_eventTime", "LT_eventTime", "MATCH_epc", "MATCH_anyEPC", "EQ_bizStep", "EQ_bizLocation",
    "perPage", "nextPageToken",
)  # fmt: skip
MAX_PER_PAGE: Final = 10_000
DEFAULT_PER_PAGE: Final = 1000
_ID_NAMESPACE: Final = uuid.UUID("0b7c6f4e-3f0a-5f7e-9d3c-6a1e2f4b8c90")
_STATUS: Final = ("ACTIVE", "IN_TRANSIT", "QUARANTINED", "RECALLED", "EXPIRED", "DISPENSED", "DECOMMISSIONED")
_GENEALOGY: Final = ("split", "merge", "transform")
# CBV 2.0 dispositions (short names), for ledger reasons that already are one.
DISPOSITIONS: Final = frozenset((
    "active", "container_closed", "damaged", "destroyed", "dispensed", "disposed", "encoded", "expired",
    "in_progress", "in_transit", "inactive", "no_pedigree_match", "non_sellable_other", "partially_dispensed",
    "recalled", "reserved", "retail_sold", "returned", "sellable_accessible", "sellable_not_accessible", "stolen",
    "unknown", "available", "completeness_verified", "completeness_inferred", "conformant", "container_open",
    "mismatch_instance", "mismatch_class", "mismatch_quantity", "needs_replacement", "non_conformant",
    "unavailable",
))  # fmt: skip
_CBV_PREFIXES: Final = (
    "urn:epcglobal:cbv:bizstep:",
    "https://ref.gs1.org/cbv/BizStep-",
    "https://gs1.org/voc/BizStep-",
)
_PAGE_TOKEN: Final = re.compile(r"^([0-9]{1,18})-([0-9]{1,9})$")


# ------------------------------------------------------------------------------------ identifiers


@functools.lru_cache(maxsize=4096)
def sgln(gln: str) -> str:
    """The SGLN URN of a 13-digit GLN (no extension), with the default company prefix length."""
    return gs1.Gln(gln).epc_urn


def pgln(gln: str) -> str:
    """The party GLN URN of a 13-digit GLN, with the default company prefix length."""
    cp = gs1.DEFAULT_COMPANY_PREFIX_LENGTH
    return f"urn:epc:id:pgln:{gln[:cp]}.{gln[cp:12]}"


def object_urn(object_id: str, epc: str | None) -> str:
    """The object's EPC URN, or ``urn:custody:object:<id>`` when its EPC is not a GS1 EPC URN."""
    if epc:
        try:
            gs1.parse_epc_urn(epc)
            return epc
        except (gs1.GS1Error, ValueError):
            pass
    return f"urn:custody:object:{object_id}"


class PartyDirectory:
    """Partner id → name and party GLN (its first registered location), read once per export."""

    def __init__(self, session: Session) -> None:
        self.names = {p.partner_id: p.name for p in session.scalars(select(t.PartnerRow))}
        self.glns: dict[int, list[str]] = {}
        rows = session.scalars(
            select(t.PartnerLocationRow).order_by(t.PartnerLocationRow.block_number, t.PartnerLocationRow.log_index)
        )
        for row in rows:
            self.glns.setdefault(row.partner_id, []).append(row.gln)

    def gln(self, partner_id: int | None) -> str | None:
        found = self.glns.get(partner_id or 0)
        return found[0] if found else None


# ------------------------------------------------------------------------------------ the query


def _list(params: Mapping[str, str], name: str) -> tuple[str, ...] | None:
    raw = params.get(name)
    if raw is None:
        return None
    values = tuple(v.strip() for v in raw.split(",") if v.strip())
    if not values:
        raise AuditInvalidQuery("epcis.query_parameter_invalid", name, f"{name} names no value")
    return values


def _time(params: Mapping[str, str], name: str) -> dt.datetime | None:
    raw = params.get(name)
    if raw is None:
        return None
    try:
        value = dt.datetime.fromisoformat(raw.strip().replace("Z", "+00:00").replace(" ", "+"))
    except ValueError:
        value = None
    if value is None or value.tzinfo is None:
        raise AuditInvalidQuery(
            "epcis.query_parameter_invalid", name, f"{name} is an ISO 8601 date-time with a zone offset, not {raw!r}"
        )
    return value.astimezone(dt.UTC)


def _pattern(value: str, name: str) -> re.Pattern[str]:
    """An EPC URN, or an EPC pattern URN (``urn:epc:idpat:<scheme>:…`` with ``*`` fields), as a regex."""
    if value.startswith("urn:epc:idpat:"):
        scheme, _, fields = value[len("urn:epc:idpat:") :].partition(":")
        parts = fields.split(".")
        if not scheme or not fields or any("*" in p and p != "*" for p in parts):
            raise AuditInvalidQuery(
                "epcis.query_parameter_invalid", name, f"{value!r} is not an EPC pattern (a field is a value or *)"
            )
        regex = [("[^.]*" if i < len(parts) - 1 else ".*") if p == "*" else re.escape(p) for i, p in enumerate(parts)]
        return re.compile(f"^urn:epc:id:{re.escape(scheme)}:" + r"\.".join(regex) + "$")
    if not value.startswith("urn:") and not value.startswith(("http://", "https://")):
        raise AuditInvalidQuery("epcis.query_parameter_invalid", name, f"{value!r} is not an EPC URI or EPC pattern")
    if value.startswith(("http://", "https://")):
        from gateway.epcis.identifiers import parse_object

        try:
            value = parse_object(value).urn
        except IdentifierError as exc:
            raise AuditInvalidQuery("epcis.query_parameter_invalid", name, str(exc)) from None
    return re.compile("^" + re.escape(value) + "$")


def _biz_step(value: str) -> str:
    for prefix in _CBV_PREFIXES:
        if value.startswith(prefix):
            return value[len(prefix) :]
    return value


@dataclass(frozen=True)
class EventQuery:
    """The EPCIS SimpleEventQuery parameters this export answers (None: no restriction)."""

    event_types: frozenset[str] | None = None
    ge_event_time: dt.datetime | None = None
    lt_event_time: dt.datetime | None = None
    match_epc: tuple[re.Pattern[str], ...] | None = None
    match_any_epc: tuple[re.Pattern[str], ...] | None = None
    biz_steps: frozenset[str] | None = None
    biz_location_glns: frozenset[str] | None = None
    per_page: int = DEFAULT_PER_PAGE
    after: tuple[int, int] | None = None  # the page token: chain position of the last event already sent

    @classmethod
    def parse(cls, params: Mapping[str, str]) -> EventQuery:
        """From query parameters (EPCIS names); raises :class:`AuditInvalidQuery` naming the parameter."""
        unknown = sorted(set(params) - set(QUERY_PARAMETERS))
        if unknown:
            raise AuditInvalidQuery(
                "epcis.query_parameter_unknown",
                unknown[0],
                f"{unknown[0]} is not a query parameter of this export; it answers {', '.join(QUERY_PARAMETERS)}",
            )
        types = _list(params, "eventType")
        if types is not None and (bad := [v for v in types if v not in EVENT_TYPES]):
            raise AuditInvalidQuery(
                "epcis.query_parameter_invalid", "eventType", f"{bad[0]!r} is not an EPCIS 2.0 event type"
            )
        ge, lt = _time(params, "GE_eventTime"), _time(params, "LT_eventTime")
        if ge is not None and lt is not None and lt <= ge:
            raise AuditInvalidQuery(
                "epcis.query_parameter_invalid", "LT_eventTime", "LT_eventTime is not after GE_eventTime"
            )
        steps = _list(params, "EQ_bizStep")
        glns: list[str] = []
        for value in _list(params, "EQ_bizLocation") or ():
            try:
                glns.append(parse_gln(value))
            except IdentifierError as exc:
                raise AuditInvalidQuery("epcis.query_parameter_invalid", "EQ_bizLocation", str(exc)) from None
        match = _list(params, "MATCH_epc")
        match_any = _list(params, "MATCH_anyEPC")
        return cls(
            event_types=frozenset(types) if types is not None else None,
            ge_event_time=ge,
            lt_event_time=lt,
            match_epc=tuple(_pattern(v, "MATCH_epc") for v in match) if match is not None else None,
            match_any_epc=tuple(_pattern(v, "MATCH_anyEPC") for v in match_any) if match_any is not None else None,
            biz_steps=frozenset(_biz_step(s) for s in steps) if steps is not None else None,
            biz_location_glns=frozenset(glns) if "EQ_bizLocation" in params else None,
            per_page=_per_page(params.get("perPage")),
            after=_token(params.get("nextPageToken")),
        )

    def matches(self, event: dict[str, Any]) -> bool:
        if self.event_types is not None and event["type"] not in self.event_types:
            return False
        if self.biz_steps is not None and event.get("bizStep") not in self.biz_steps:
            return False
        if self.biz_location_glns is not None:
            location = (event.get("bizLocation") or {}).get("id")
            try:
                if location is None or parse_gln(location) not in self.biz_location_glns:
                    return False
            except IdentifierError:
                return False
        if self.match_epc is not None:
            epcs = [*event.get("epcList", ()), *event.get("childEPCs", ())]
            if not any(p.match(e) for p in self.match_epc for e in epcs):
                return False
        if self.match_any_epc is not None:
            epcs = [
                *event.get("epcList", ()), *event.get("childEPCs", ()), *event.get("inputEPCList", ()),
                *event.get("outputEPCList", ()), *([event["parentID"]] if "parentID" in event else []),
            ]  # fmt: skip
            if not any(p.match(e) for p in self.match_any_epc for e in epcs):
                return False
        return True


def _per_page(raw: str | None) -> int:
    if raw is None:
        return DEFAULT_PER_PAGE
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_PER_PAGE:
        raise AuditInvalidQuery("epcis.query_parameter_invalid", "perPage", f"perPage is 1 to {MAX_PER_PAGE}")
    return int(raw)


def _token(raw: str | None) -> tuple[int, int] | None:
    if raw is None:
        return None
    found = _PAGE_TOKEN.match(raw)
    if found is None:
        raise AuditInvalidQuery("epcis.query_parameter_invalid", "nextPageToken", "not a page token of this export")
    return int(found.group(1)), int(found.group(2))


# ------------------------------------------------------------------------------------ mapping


class Log(NamedTuple):
    """The columns of an ``idx_events`` row the mapping reads (lighter than the ORM object)."""

    block_number: int
    log_index: int
    tx_hash: str
    block_time: dt.datetime
    contract: str
    event: str
    args: dict[str, Any]


class ObjectFacts(NamedTuple):
    """The columns of an ``idx_objects`` row the mapping reads."""

    object_id: str
    kind: str
    epc: str
    gtin: str | None
    sscc: str | None
    lot: str | None
    expiry_date: dt.date | None
    origin_gln: str | None
    unit_of_measure: str | None


@dataclass(frozen=True)
class _SaidElsewhere:
    """Objects whose log in a transaction another EPCIS event of that transaction already states."""

    received: set[str]
    recalled: set[str]
    produced: set[str]
    consumed: set[str]


@dataclass
class _Pending:
    """An EPCIS event being assembled from the logs of one transaction."""

    position: tuple[int, int]
    event: dict[str, Any]
    lists: dict[str, list[Any]] = field(default_factory=dict)

    def add(self, name: str, value: Any) -> None:
        values = self.lists.setdefault(name, [])
        if value not in values:
            values.append(value)


class LedgerEpcis:
    """Builds the EPCIS events of transactions, reading master data from the index as it goes."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.parties = PartyDirectory(session)
        self._objects: dict[str, ObjectFacts] = {}
        self._shipments: dict[int, t.ShipmentRow] = {}

    # -- master data -----------------------------------------------------------------------------

    def _load(self, ids: Iterable[str]) -> None:
        missing = [i for i in dict.fromkeys(ids) if i not in self._objects]
        o = t.ObjectRow
        for start in range(0, len(missing), 500):
            chunk = missing[start : start + 500]
            query = select(*(getattr(o, name) for name in ObjectFacts._fields)).where(o.object_id.in_(chunk))
            for row in self.session.execute(query):
                self._objects[row.object_id] = ObjectFacts(*row)

    def obj(self, object_id: str) -> ObjectFacts | None:
        if object_id not in self._objects:
            self._load([object_id])
        return self._objects.get(object_id)

    def urn(self, object_id: str) -> str:
        row = self.obj(object_id)
        if row is not None and (row.gtin or row.sscc):
            return row.epc  # the indexer parsed it: a GS1 EPC URN
        return object_urn(object_id, row.epc if row else None)

    def shipment(self, shipment_id: int) -> t.ShipmentRow | None:
        if shipment_id not in self._shipments:
            row = self.session.get(t.ShipmentRow, shipment_id)
            if row is None:
                return None
            self._shipments[shipment_id] = row
        return self._shipments[shipment_id]

    def _place(self, event: dict[str, Any], object_id: str, lists: tuple[str, str]) -> None:
        """Puts an object in the EPC list, or (a lot) in the quantity list without a quantity."""
        row = self.obj(object_id)
        if row is not None and row.kind == "LOT" and row.epc.startswith("urn:epc:class:lgtin:"):
            event.setdefault(lists[1], [])
            element = {"epcClass": row.epc}
            if element not in event[lists[1]]:
                event[lists[1]].append(element)
        else:
            event.setdefault(lists[0], [])
            if (urn := self.urn(object_id)) not in event[lists[0]]:
                event[lists[0]].append(urn)

    def _party(self, kind: str, partner_id: int, key: str) -> list[dict[str, str]]:
        gln = self.parties.gln(partner_id)
        return [{"type": kind, key: pgln(gln)}] if gln else []

    # -- events ----------------------------------------------------------------------------------

    def events(self, rows: list[Log]) -> list[tuple[tuple[int, int], dict[str, Any]]]:
        """The EPCIS events of one transaction's logs (in log order), each with its chain position."""
        self._load(
            oid for r in rows for k in ("object_id", "child", "parent", "input", "output") if (oid := r.args.get(k))
        )
        said = _SaidElsewhere(
            received={r.args["object_id"] for r in rows if r.event == "ObjectReceived"},
            recalled={r.args["object_id"] for r in rows if r.event == "RecallInitiated"},
            produced={r.args["output"] for r in rows if r.event == "GenealogyOutputProduced"},
            consumed={r.args["input"] for r in rows if r.event == "GenealogyInputConsumed"},
        )
        pending: dict[tuple[Any, ...], _Pending] = {}
        for row in rows:
            handler = getattr(self, "_" + row.event, None)
            if handler is None:
                continue
            key, base = handler(row, said)
            if key is None:
                continue
            if key not in pending:
                pending[key] = _Pending((row.block_number, row.log_index), self._common(row, base))
            else:
                for name, value in base.items():
                    pending[key].event.setdefault(name, value)
            self._fill(pending[key], row)
        return [(p.position, self._finish(p)) for p in pending.values()]

    def _common(self, row: Log, body: dict[str, Any]) -> dict[str, Any]:
        seed = f"{row.contract.lower()}:{row.tx_hash}:{row.log_index}"
        at = row.block_time if row.block_time.tzinfo else row.block_time.replace(tzinfo=dt.UTC)
        event: dict[str, Any] = {
            "type": body.pop("type"),
            "eventTime": at.astimezone(dt.UTC).isoformat().replace("+00:00", "Z"),
            "eventTimeZoneOffset": "+00:00",
            "eventID": f"urn:uuid:{uuid.uuid5(_ID_NAMESPACE, seed)}",
        }
        event.update(body)
        event["custody:txHash"] = row.tx_hash
        event["custody:blockNumber"] = row.block_number
        return event

    def _fill(self, p: _Pending, row: Log) -> None:
        a, e = row.args, p.event
        name = row.event
        if name in ("ItemRegistered", "LogisticUnitRegistered"):
            e.setdefault("epcList", []).append(self.urn(a["object_id"]))
        elif name == "LotRegistered":
            e.setdefault("quantityList", []).append(
                {"epcClass": self.urn(a["object_id"]), "quantity": a["quantity"], "uom": a["unit_of_measure"]}
            )
        elif name in ("ObjectShipped", "ObjectReceived", "ObjectRejected", "ShipmentCancelled", "CustodyTransferred",
                      "OwnershipTransferred", "StatusChanged", "RecallInitiated"):  # fmt: skip
            self._place(e, a["object_id"], ("epcList", "quantityList"))
        elif name in ("ObjectPacked", "ObjectUnpacked"):
            self._place(e, a["child"], ("childEPCs", "childQuantityList"))
        elif name == "GenealogyInputConsumed":
            self._genealogy_side(e, a["input"], a["quantity"], ("inputEPCList", "inputQuantityList"))
        elif name == "GenealogyOutputProduced":
            self._genealogy_side(e, a["output"], a["quantity"], ("outputEPCList", "outputQuantityList"))
            p.add("outputs", a["output"])

    def _genealogy_side(self, e: dict[str, Any], object_id: str, quantity: int, lists: tuple[str, str]) -> None:
        row = self.obj(object_id)
        if row is not None and row.kind == "LOT":
            element: dict[str, Any] = {"epcClass": self.urn(object_id), "quantity": quantity}
            if row.unit_of_measure:
                element["uom"] = row.unit_of_measure
            e.setdefault(lists[1], []).append(element)
        else:
            e.setdefault(lists[0], []).append(self.urn(object_id))

    def _finish(self, p: _Pending) -> dict[str, Any]:
        outputs = p.lists.get("outputs")
        if outputs:  # a transformation: the outputs' shared lot and expiry as ILMD
            rows = [self.obj(o) for o in outputs]
            lots = {r.lot for r in rows if r is not None}
            expiries = {r.expiry_date for r in rows if r is not None}
            origins = {r.origin_gln for r in rows if r is not None}
            if len(origins) == 1 and (origin := origins.pop()):
                p.event["bizLocation"] = {"id": sgln(origin)}
            ilmd: dict[str, Any] = {}
            if len(lots) == 1 and (lot := lots.pop()):
                ilmd["cbvmda:lotNumber"] = lot
            if len(expiries) == 1 and (expiry := expiries.pop()):
                ilmd["cbvmda:itemExpirationDate"] = expiry.isoformat()
            if ilmd:
                p.event["ilmd"] = ilmd
        # the custody: members last, after the standard ones
        ordered = {k: v for k, v in p.event.items() if not k.startswith("custody:")}
        ordered.update({k: v for k, v in p.event.items() if k.startswith("custody:")})
        return ordered

    # -- one handler per ledger event: (grouping key, the event's fixed members) -----------------

    def _commission(self, row: Log, said: _SaidElsewhere) -> tuple[tuple[Any, ...] | None, dict[str, Any]]:
        a = row.args
        if a["object_id"] in said.produced:
            return None, {}  # an output of a transformation: its output list commissions it
        lot, expiry, origin = a.get("lot") or "", a.get("expiry_date") or 0, a.get("origin_gln")
        body: dict[str, Any] = {"type": "ObjectEvent", "action": "ADD", "bizStep": "commissioning",
                                "disposition": "active"}  # fmt: skip
        if origin:
            body["bizLocation"] = {"id": sgln(origin)}
        ilmd: dict[str, Any] = {}
        if lot:
            ilmd["cbvmda:lotNumber"] = lot
        if expiry:
            ilmd["cbvmda:itemExpirationDate"] = _yyyymmdd(expiry)
        if ilmd:
            body["ilmd"] = ilmd
        body["custody:partnerID"] = a["partner_id"]
        return ("commission", a["partner_id"], lot, expiry, origin), body

    _ItemRegistered = _LotRegistered = _LogisticUnitRegistered = _commission

    def _ShipmentDispatched(self, row: Log, said: _SaidElsewhere) -> tuple[tuple[Any, ...], dict[str, Any]]:
        a = row.args
        transfer = bool(a["transfer_ownership"])
        sources = self._party("possessing_party", a["sender"], "source")
        destinations = self._party("possessing_party", a["receiver"], "destination")
        if transfer:
            sources += self._party("owning_party", a["sender"], "source")
            destinations += self._party("owning_party", a["receiver"], "destination")
        if a.get("ship_from_gln"):
            sources.append({"type": "location", "source": sgln(a["ship_from_gln"])})
        if a.get("ship_to_gln"):
            destinations.append({"type": "location", "destination": sgln(a["ship_to_gln"])})
        body: dict[str, Any] = {"type": "ObjectEvent", "action": "OBSERVE", "bizStep": "shipping",
                                "disposition": "in_transit"}  # fmt: skip
        if a.get("ship_from_gln"):
            body["readPoint"] = {"id": sgln(a["ship_from_gln"])}
        if sources:
            body["sourceList"] = sources
        if destinations:
            body["destinationList"] = destinations
        body.update({"custody:partnerID": a["sender"], "custody:shipmentID": a["shipment_id"]})
        return ("ship", a["shipment_id"]), body

    def _ObjectShipped(self, row: Log, said: _SaidElsewhere) -> tuple[tuple[Any, ...], dict[str, Any]]:
        return ("ship", row.args["shipment_id"]), {"type": "ObjectEvent"}  # the dispatch came first

    def _ObjectReceived(self, row: Log, said: _SaidElsewhere) -> tuple[tuple[Any, ...], dict[str, Any]]:
        a = row.args
        body: dict[str, Any] = {"type": "ObjectEvent", "action": "OBSERVE", "bizStep": "receiving",
                                "disposition": "in_progress"}  # fmt: skip
        if a.get("gln"):
            body["readPoint"] = {"id": sgln(a["gln"])}
            body["bizLocation"] = {"id": sgln(a["gln"])}
        shipment = self.shipment(a["shipment_id"])
        if shipment is not None:
            sources = self._party("possessing_party", shipment.sender, "source")
            destinations = self._party("possessing_party", shipment.receiver, "destination")
            if shipment.transfer_ownership:
                sources += self._party("owning_party", shipment.sender, "source")
                destinations += self._party("owning_party", shipment.receiver, "destination")
            if sources:
                body["sourceList"] = sources
            if destinations:
                body["destinationList"] = destinations
        body.update({"custody:partnerID": a["receiver"], "custody:shipmentID": a["shipment_id"]})
        return ("receive", a["shipment_id"], a["receiver"], a.get("gln")), body

    def _ObjectRejected(self, row: Log, said: _SaidElsewhere) -> tuple[tuple[Any, ...], dict[str, Any]]:
        a = row.args
        body = {"type": "ObjectEvent", "action": "OBSERVE", "bizStep": "inspecting", "disposition": "non_conformant",
                "custody:partnerID": a["receiver"], "custody:shipmentID": a["shipment_id"],
                **_reason(a.get("reason"))}  # fmt: skip
        return ("reject", a["shipment_id"], a["receiver"], a.get("reason")), body

    def _ShipmentCancelled(self, row: Log, said: _SaidElsewhere) -> tuple[tuple[Any, ...], dict[str, Any]]:
        a = row.args
        body = {"type": "ObjectEvent", "action": "OBSERVE", "bizStep": "void_shipping", "disposition": "in_progress",
                "custody:partnerID": a["sender"], "custody:shipmentID": a["shipment_id"]}  # fmt: skip
        return ("cancel", a["shipment_id"]), body

    def _hand_over(self, kind: str, sender: int, receiver: int) -> dict[str, Any]:
        body: dict[str, Any] = {"type": "ObjectEvent", "action": "OBSERVE", "bizStep": "accepting"}
        if sources := self._party(kind, sender, "source"):
            body["sourceList"] = sources
        if destinations := self._party(kind, receiver, "destination"):
            body["destinationList"] = destinations
        body["custody:partnerID"] = sender
        return body

    def _CustodyTransferred(self, row: Log, said: _SaidElsewhere) -> tuple[tuple[Any, ...], dict[str, Any]]:
        a = row.args
        return ("transfer", a["sender"], a["receiver"]), self._hand_over("possessing_party", a["sender"], a["receiver"])

    def _OwnershipTransferred(self, row: Log, said: _SaidElsewhere) -> tuple[tuple[Any, ...] | None, dict[str, Any]]:
        a = row.args
        if a["object_id"] in said.received:
            return None, {}
        key = ("owner", a["previous_owner"], a["new_owner"])
        return key, self._hand_over("owning_party", a["previous_owner"], a["new_owner"])

    def _aggregation(self, row: Log, action: str, step: str) -> tuple[tuple[Any, ...], dict[str, Any]]:
        a = row.args
        body = {"type": "AggregationEvent", "parentID": self.urn(a["parent"]), "action": action, "bizStep": step,
                "custody:partnerID": a["partner_id"]}  # fmt: skip
        return (step, a["parent"], a["partner_id"]), body

    def _ObjectPacked(self, row: Log, said: _SaidElsewhere) -> tuple[tuple[Any, ...], dict[str, Any]]:
        return self._aggregation(row, "ADD", "packing")

    def _ObjectUnpacked(self, row: Log, said: _SaidElsewhere) -> tuple[tuple[Any, ...], dict[str, Any]]:
        return self._aggregation(row, "DELETE", "unpacking")

    def _GenealogyRecorded(self, row: Log, said: _SaidElsewhere) -> tuple[tuple[Any, ...], dict[str, Any]]:
        a = row.args
        kind = _GENEALOGY[int(a["kind"])]
        body = {"type": "TransformationEvent", "bizStep": "commissioning" if kind == "transform" else "repackaging",
                "custody:partnerID": a["partner_id"], "custody:genealogyID": a["genealogy_id"],
                "custody:genealogyKind": kind}  # fmt: skip
        return ("genealogy", a["genealogy_id"]), body

    def _genealogy_part(self, row: Log, said: _SaidElsewhere) -> tuple[tuple[Any, ...], dict[str, Any]]:
        return ("genealogy", row.args["genealogy_id"]), {"type": "TransformationEvent"}

    _GenealogyInputConsumed = _GenealogyOutputProduced = _genealogy_part

    def _RecallInitiated(self, row: Log, said: _SaidElsewhere) -> tuple[tuple[Any, ...], dict[str, Any]]:
        a = row.args
        body = {"type": "ObjectEvent", "action": "OBSERVE", "bizStep": "holding", "disposition": "recalled",
                "custody:partnerID": a["partner_id"], **_reason(a.get("reason"))}  # fmt: skip
        return ("recall", a["partner_id"], a.get("reason")), body

    def _StatusChanged(self, row: Log, said: _SaidElsewhere) -> tuple[tuple[Any, ...] | None, dict[str, Any]]:
        a = row.args
        status, reason = _STATUS[int(a["status"])], a.get("reason") or ""
        if status == "RECALLED" and a["object_id"] in said.recalled:
            return None, {}  # said by the recall event of the same transaction
        if status == "DECOMMISSIONED" and a["object_id"] in said.consumed:
            return None, {}  # an item consumed by a transformation: its input list says so
        action, step, disposition = "OBSERVE", "holding", "non_sellable_other"
        if status == "QUARANTINED":
            disposition = reason if reason in DISPOSITIONS - {"recalled", "expired"} else "non_sellable_other"
        elif status == "RECALLED":
            disposition = "recalled"
        elif status == "EXPIRED":
            disposition = "expired"
        elif status == "DISPENSED":
            step, disposition = "dispensing", "dispensed"
        elif status == "DECOMMISSIONED":
            action = "DELETE"
            step, disposition = (
                ("destroying", "destroyed") if reason == "destroyed" else ("decommissioning", "inactive")
            )
            if step == "decommissioning" and reason in DISPOSITIONS:
                disposition = reason
        elif status == "ACTIVE":
            step, disposition = "inspecting", "active"
        body = {"type": "ObjectEvent", "action": action, "bizStep": step, "disposition": disposition,
                "custody:partnerID": a["partner_id"], "custody:status": status.lower(),
                **_reason(reason)}  # fmt: skip
        return ("status", status, reason, a["partner_id"]), body


def _reason(reason: str | None) -> dict[str, str]:
    return {"custody:reason": reason} if reason else {}


def _yyyymmdd(value: int) -> str:
    text = f"{int(value):08d}"
    return f"{text[:4]}-{text[4:6]}-{text[6:]}"


# ------------------------------------------------------------------------------------ the export


@dataclass(frozen=True)
class ExportPage:
    events: list[dict[str, Any]]
    next_token: str | None


def _transactions(session: Session, query: EventQuery) -> Iterator[list[Log]]:
    """The raw events in chain order, one list per transaction, from the query's time window."""
    e = t.EventRow
    statement = select(*(getattr(e, name) for name in Log._fields)).order_by(e.block_number, e.log_index)
    if query.ge_event_time is not None:
        statement = statement.where(e.block_time >= query.ge_event_time)
    if query.lt_event_time is not None:
        statement = statement.where(e.block_time < query.lt_event_time)
    if query.after is not None:
        statement = statement.where(tuple_(e.block_number, e.log_index) > tuple_(*query.after))
    group: list[Log] = []
    for values in session.execute(statement.execution_options(yield_per=2000)):
        row = Log(*values)
        if group and row.tx_hash != group[0].tx_hash:
            yield group
            group = []
        group.append(row)
    if group:
        yield group


def export_events(session: Session, query: EventQuery) -> ExportPage:
    """One page of the EPCIS events that match ``query``, in chain order.

    A page holds whole transactions: it ends before the transaction whose events would pass
    ``perPage`` (a single transaction larger than a page is sent whole), and the token names
    the last log of the last transaction sent."""
    mapper = LedgerEpcis(session)
    events: list[dict[str, Any]] = []
    last_sent: tuple[int, int] | None = None
    for rows in _transactions(session, query):
        matched = [e for _, e in mapper.events(rows) if query.matches(e)]
        if matched and events and len(events) + len(matched) > query.per_page:
            assert last_sent is not None
            return ExportPage(events, f"{last_sent[0]}-{last_sent[1]}")
        events.extend(matched)
        last_sent = (rows[-1].block_number, rows[-1].log_index)
    return ExportPage(events, None)


def query_document(events: list[dict[str, Any]], created: dt.datetime | None = None) -> dict[str, Any]:
    """The EPCIS 2.0 ``EPCISQueryDocument`` of a SimpleEventQuery result (REST binding ``GET /events``)."""
    created = created or dt.datetime.now(dt.UTC)
    return {
        "@context": CONTEXT,
        "type": "EPCISQueryDocument",
        "schemaVersion": "2.0",
        "creationDate": created.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "epcisBody": {"queryResults": {"queryName": "SimpleEventQuery", "resultsBody": {"eventList": events}}},
    }


VERSION_HEADERS: Final = {"GS1-EPCIS-Version": EPCIS_VERSION, "GS1-CBV-Version": CBV_VERSION}
