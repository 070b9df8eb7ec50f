"""Reading an EPCIS event's fields in ledger terms, with a JSON pointer for every problem.

:class:`EventReader` turns the parts of one event that several mappings share — object lists,
quantity lists, ILMD master data, locations and parties — into EPC URNs, whole quantities,
dates and GLNs resolved to partners. The first problem stops the event (:class:`Stop`, carrying
an :class:`~gateway.epcis.errors.EventProblem`), so each value is checked once, where it is read.
:mod:`gateway.epcis.mapping` builds the operations on top.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Final

from chain_client import gs1
from gateway.epcis.document import EventList
from gateway.epcis.errors import EventProblem, ProblemCode
from gateway.epcis.identifiers import Epc, EpcKind, IdentifierError, parse_gln, parse_object
from gateway.epcis.locations import LocationOwners
from gateway.partner import operations as ops

__all__ = ["PARTIES", "Endpoint", "EventReader", "Stop"]

_MDA_PREFIXES: Final = ("cbvmda:", "urn:epcglobal:cbv:mda:")
PARTIES: Final = ("possessing_party", "owning_party")
_MAX_QUANTITY: Final = 2**232  # the ledger's lot quantities are uint232
_WHOLE_LOTS: Final = (
    "the ledger moves whole lots, so part of a lot cannot be recorded: omit quantity to name the whole lot, "
    "or split the lot first (POST /v1/lot-splits) and name the new lot"
)


class Stop(Exception):
    """Ends the reading of one event with its problem; the mapper goes on with the next event."""

    def __init__(self, problem: EventProblem) -> None:
        super().__init__(problem.detail)
        self.problem = problem


@dataclass(frozen=True)
class Endpoint:
    """A source or destination entry: its index in the list (for pointers) and its GLN."""

    index: int
    gln: str


class EventReader:
    """Reads one event; the first problem stops it (:class:`Stop`)."""

    def __init__(self, events: EventList, index: int, partner_id: int, locations: LocationOwners) -> None:
        self.events = events
        self.index = index
        self.event = events.events[index]
        event_id = self.event.get("eventID")
        self.event_id = event_id if isinstance(event_id, str) else None
        self.partner_id = partner_id
        self.locations = locations

    # -- problems ----------------------------------------------------------------------------

    def stop(self, code: ProblemCode, parts: tuple[str | int, ...], detail: str) -> Stop:
        where = self.events.pointer(self.index, *parts)
        return Stop(EventProblem(code, where, detail, self.index, self.event_id))

    # -- objects ---------------------------------------------------------------------------------

    def epc(self, value: Any, parts: tuple[str | int, ...], kinds: tuple[EpcKind, ...]) -> Epc:
        try:
            epc = parse_object(value)
        except IdentifierError as exc:
            raise self.stop("epcis.invalid_epc", parts, str(exc)) from None
        if epc.kind not in kinds:
            expected = ", ".join(k.upper() for k in kinds)
            raise self.stop("epcis.invalid_epc", parts, f"{value!r} is an {epc.kind.upper()}; expected {expected}")
        return epc

    def instances(self, field: str, kinds: tuple[EpcKind, ...] = ("sgtin", "sscc")) -> list[Epc]:
        return [self.epc(v, (field, i), kinds) for i, v in enumerate(self.event.get(field) or [])]

    def whole_lots(self, field: str) -> list[Epc]:
        lots = []
        for k, element in enumerate(self.event.get(field) or []):
            lots.append(self.epc(element.get("epcClass"), (field, k, "epcClass"), ("lgtin",)))
            if "quantity" in element:
                raise self.stop("epcis.unsupported_field", (field, k, "quantity"), _WHOLE_LOTS)
        return lots

    def quantified_lots(self, field: str) -> list[tuple[Epc, int, str]]:
        lots = []
        for k, element in enumerate(self.event.get(field) or []):
            epc = self.epc(element.get("epcClass"), (field, k, "epcClass"), ("lgtin",))
            if "quantity" not in element:
                raise self.stop("epcis.missing_field", (field, k, "quantity"), "A new or consumed lot needs a quantity")
            lots.append((epc, self.quantity(element["quantity"], (field, k, "quantity")), element.get("uom", "EA")))
        return lots

    def quantity(self, value: Any, parts: tuple[str | int, ...]) -> int:
        whole = isinstance(value, int) or (isinstance(value, float) and value.is_integer())
        if isinstance(value, bool) or not whole or not 0 < value < _MAX_QUANTITY:
            raise self.stop(
                "epcis.invalid_quantity",
                parts,
                f"quantity {value!r} is not a positive whole number in the lot's unit; the ledger counts whole units "
                "(use a smaller unit, e.g. GRM instead of KGM)",
            )
        return int(value)

    def objects(self, instances: str = "epcList", lots: str = "quantityList") -> list[ops.ObjectRef]:
        found = self.instances(instances) + self.whole_lots(lots)
        if not found:
            raise self.stop("epcis.missing_field", (instances,), f"The event names no objects ({instances}, {lots})")
        return [ops.ObjectRef(epc=e.urn) for e in found]

    # -- master data ---------------------------------------------------------------------------

    def mda(self, name: str) -> tuple[Any, str] | None:
        ilmd = self.event.get("ilmd") or {}
        for prefix in _MDA_PREFIXES:
            if prefix + name in ilmd:
                return ilmd[prefix + name], prefix + name
        return None

    def lot_number(self) -> str | None:
        found = self.mda("lotNumber")
        if found is None:
            return None
        value, key = found
        try:
            return gs1.validate_lot(value) if isinstance(value, str) else gs1.validate_lot(str(value))
        except gs1.GS1Error as exc:
            raise self.stop("epcis.invalid_value", ("ilmd", key), exc.message) from None

    def expiry(self) -> dt.date | None:
        found = self.mda("itemExpirationDate") or self.mda("bestBeforeDate")
        if found is None:
            return None
        value, key = found
        try:
            if not isinstance(value, str) or len(value) != 10:
                raise ValueError(value)
            return dt.date.fromisoformat(value)
        except ValueError:
            raise self.stop("epcis.invalid_value", ("ilmd", key), f"{value!r} is not a date YYYY-MM-DD") from None

    def item(self, epc: Epc, lot: str | None, expiry: dt.date | None, origin: str | None) -> ops.ItemIn:
        assert isinstance(epc.ident, gs1.Sgtin)
        gtin = epc.ident.gtin
        return ops.ItemIn(
            gtin=gtin.value, serial=epc.ident.serial, lot=lot or "", expiry_date=expiry, origin_gln=origin,
            company_prefix_length=gtin.company_prefix_length,
        )  # fmt: skip

    def lot(self, epc: Epc, quantity: int, uom: str, expiry: dt.date | None, origin: str | None) -> ops.LotIn:
        assert isinstance(epc.ident, gs1.Lgtin)
        gtin = epc.ident.gtin
        return ops.LotIn(
            gtin=gtin.value, lot=epc.ident.lot, quantity=quantity, unit_of_measure=uom, expiry_date=expiry,
            origin_gln=origin, company_prefix_length=gtin.company_prefix_length,
        )  # fmt: skip

    def check_lot_number(self, lot_number: str | None, lots: list[tuple[Epc, int, str]]) -> None:
        for epc, _, _ in lots:
            assert isinstance(epc.ident, gs1.Lgtin)
            if lot_number is not None and lot_number != epc.ident.lot:
                found = self.mda("lotNumber")
                key = found[1] if found else "lotNumber"
                raise self.stop(
                    "epcis.invalid_value",
                    ("ilmd", key),
                    f"lotNumber {lot_number!r} contradicts the lot {epc.ident.lot!r} of {epc.urn}",
                )

    # -- places --------------------------------------------------------------------------------

    def gln(self, value: Any, parts: tuple[str | int, ...]) -> str:
        try:
            return parse_gln(value)
        except IdentifierError as exc:
            raise self.stop("epcis.invalid_epc", parts, str(exc)) from None

    def biz_location(self) -> str | None:
        location = self.event.get("bizLocation")
        return None if location is None else self.gln(location.get("id"), ("bizLocation", "id"))

    def endpoints(self, field: str, key: str) -> dict[str, Endpoint]:
        """``location``/``possessing_party``/``owning_party`` entries by type (other types are only kept)."""
        found: dict[str, Endpoint] = {}
        for i, entry in enumerate(self.event.get(field) or []):
            kind = entry.get("type")
            if kind not in ("location", *PARTIES):
                continue
            code: ProblemCode = "epcis.invalid_source" if field == "sourceList" else "epcis.invalid_destination"
            if kind in found:
                raise self.stop(code, (field, i, "type"), f"{field} names more than one {kind}")
            found[kind] = Endpoint(i, self.gln(entry.get(key), (field, i, key)))
        return found

    def owner(self, endpoint: Endpoint, parts: tuple[str | int, ...], party: bool) -> int:
        partner = self.locations.owner(endpoint.gln)
        if partner == 0:
            code: ProblemCode = "epcis.unknown_party" if party else "epcis.unknown_location"
            raise self.stop(code, parts, f"No partner of the network registered GLN {endpoint.gln}")
        return partner

    def own_location(self, gln: str, parts: tuple[str | int, ...]) -> str:
        owner = self.owner(Endpoint(0, gln), parts, party=False)
        if owner != self.partner_id:
            raise self.stop(
                "epcis.location_mismatch",
                parts,
                f"GLN {gln} belongs to partner {owner}, not to partner {self.partner_id} that captures the event",
            )
        return gln
