"""EPCIS 2.0 events → partner operations (one event may become several operations).

The ledger records custody, not observations, so only events that change what the ledger
knows are accepted; everything else is refused with a code, rather than silently dropped, so
a capture that returns 202 has recorded every event it carried.

======================================  =====================================================
EPCIS event                             partner operation
======================================  =====================================================
ObjectEvent ADD, bizStep                ``register_items`` for SGTINs in ``epcList`` (lot
``commissioning``                       ``cbvmda:lotNumber``, expiry ``cbvmda:itemExpirationDate``
                                        else ``cbvmda:bestBeforeDate`` from ``ilmd``; origin GLN
                                        from ``bizLocation``); ``register_logistic_units`` for
                                        SSCCs; one ``register_lot`` per LGTIN in
                                        ``quantityList`` (``quantity`` required, whole number;
                                        ``uom`` default ``EA``)
ObjectEvent OBSERVE ``shipping``        ``ship``: receiver = partner of the ``destinationList``
                                        ``possessing_party``, else ``owning_party``, else of the
                                        ``location``; ``transfer_ownership`` when an
                                        ``owning_party`` is named; ship-from/ship-to GLN from the
                                        ``location`` entries of ``sourceList``/``destinationList``
ObjectEvent OBSERVE ``receiving``       ``receive`` at the GLN of ``bizLocation``
ObjectEvent OBSERVE/DELETE              ``set_status`` decommissioned, reason = disposition
``decommissioning``, ``destroying``     (else the bizStep)
ObjectEvent OBSERVE ``dispensing``      ``set_status`` dispensed, reason = disposition
ObjectEvent OBSERVE ``holding``         disposition ``recalled``: one ``recall`` per object;
                                        ``expired``: ``set_status`` expired; otherwise
                                        ``set_status`` quarantined, reason = disposition
AggregationEvent ADD / DELETE           ``pack`` / ``unpack``: ``parentID`` (SSCC or SGTIN),
                                        children from ``childEPCs`` and ``childQuantityList``
TransformationEvent                     ``transform``: inputs from ``inputEPCList`` (quantity 1)
                                        and ``inputQuantityList``; item outputs from
                                        ``outputEPCList`` (SGTIN, ILMD as for commissioning); lot
                                        outputs from ``outputQuantityList``
======================================  =====================================================

Rules that hold for every event:

* Objects are SGTINs and SSCCs (instance lists) and LGTINs (quantity lists), as EPC URNs or
  Digital Link URIs (:mod:`gateway.epcis.identifiers`, read by :mod:`gateway.epcis.reader`);
  anything else is ``epcis.invalid_epc``.
* Where an event moves or changes existing lots (ship, receive, status, pack), a quantity
  element names the whole lot and must not carry a ``quantity``: the ledger moves whole lots, so
  "10 KGM of lot X" cannot be recorded truthfully (``epcis.unsupported_field``; split the lot
  first). Commissioning and transformation need the quantity.
* GLNs are resolved to partners through the ledger's ``locationOwner``: a source must be the
  capturing partner's, a destination location the receiver's, a receiving ``bizLocation`` the
  capturing partner's — the ledger would revert otherwise, after the 202.
* ``errorDeclaration`` (a correction of an earlier event) is refused: the ledger's history is
  append-only, corrections are new operations (``epcis.unsupported_field``).
* ``bizStep`` decides for ObjectEvents; for Aggregation and Transformation events the event type
  and action decide and the bizStep is only kept. The whole event, including
  ``bizTransactionList``, ``sensorElementList``, ``readPoint`` and ``eventTime``, is kept in the
  submission (:mod:`gateway.epcis.operations`).

Every event is checked, and the first problem of each is reported; any problem rejects the
whole capture (:class:`~gateway.epcis.errors.CaptureRejected`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from pydantic import BaseModel, ValidationError

from chain_client import gs1
from gateway.epcis.document import EventList
from gateway.epcis.errors import CaptureRejected, EventProblem
from gateway.epcis.locations import LocationOwners
from gateway.epcis.reader import PARTIES, Endpoint, EventReader, Stop
from gateway.partner import operations as ops

__all__ = ["MappedEvent", "map_events"]

# ObjectEvent bizSteps the ledger records, with the actions that fit them.
OBJECT_EVENT_STEPS: Final[dict[str, frozenset[str]]] = {
    "commissioning": frozenset({"ADD"}),
    "shipping": frozenset({"OBSERVE"}),
    "receiving": frozenset({"OBSERVE"}),
    "decommissioning": frozenset({"OBSERVE", "DELETE"}),
    "destroying": frozenset({"OBSERVE", "DELETE"}),
    "dispensing": frozenset({"OBSERVE"}),
    "holding": frozenset({"OBSERVE"}),
}


@dataclass(frozen=True)
class MappedEvent:
    """An event and the operations that record it, in order."""

    index: int
    event_id: str | None
    event: dict[str, Any]
    operations: tuple[BaseModel, ...]


class _EventMapper(EventReader):
    """Maps one event to operations; the first problem stops it."""

    # -- dispatch ------------------------------------------------------------------------------

    def map(self) -> list[BaseModel]:
        kind = self.event.get("type")
        mappers = {
            "ObjectEvent": self._object_event,
            "AggregationEvent": self._aggregation,
            "TransformationEvent": self._transformation,
        }
        if kind not in mappers:
            raise self.stop(
                "epcis.unsupported_event",
                ("type",),
                f"{kind} events have no ledger operation; captured are ObjectEvent, AggregationEvent, "
                "TransformationEvent",
            )
        if self.event.get("errorDeclaration") is not None:
            raise self.stop(
                "epcis.unsupported_field",
                ("errorDeclaration",),
                "The ledger's history is append-only: an error declaration cannot retract a recorded event; "
                "record the correction as new events",
            )
        try:
            operations = mappers[str(kind)]()
            for op in operations:
                ops.resolve(op)  # GS1 checks now, so that storing cannot fail half-way
        except ValidationError as exc:
            raise self.stop("epcis.invalid_value", (), f"The event maps to an invalid operation: {exc}") from None
        except gs1.GS1Error as exc:
            raise self.stop("epcis.invalid_value", (), f"{exc.field}: {exc.message}") from None
        return operations

    def _object_event(self) -> list[BaseModel]:
        action, step = self.event.get("action"), self.event.get("bizStep")
        if step is None:
            raise self.stop("epcis.missing_field", ("bizStep",), "An ObjectEvent needs a bizStep to say what happened")
        if step not in OBJECT_EVENT_STEPS:
            raise self.stop(
                "epcis.unsupported_bizstep",
                ("bizStep",),
                f"bizStep {step!r} has no ledger operation; ObjectEvents are captured for "
                + ", ".join(sorted(OBJECT_EVENT_STEPS)),
            )
        if action not in OBJECT_EVENT_STEPS[step]:
            allowed = " or ".join(sorted(OBJECT_EVENT_STEPS[step]))
            raise self.stop("epcis.unsupported_action", ("action",), f"bizStep {step!r} is captured with {allowed}")
        if step == "commissioning":
            return self._commission()
        if step == "shipping":
            return [self._ship()]
        if step == "receiving":
            return [self._receive()]
        return self._status(step)

    # -- ObjectEvent operations ----------------------------------------------------------------

    def _commission(self) -> list[BaseModel]:
        instances = self.instances("epcList")
        lots = self.quantified_lots("quantityList")
        if not instances and not lots:
            raise self.stop("epcis.missing_field", ("epcList",), "Commissioning names no objects")
        lot_number, expiry, origin = self.lot_number(), self.expiry(), self.biz_location()
        self.check_lot_number(lot_number, lots)
        result: list[BaseModel] = []
        items = [self.item(e, lot_number, expiry, origin) for e in instances if e.kind == "sgtin"]
        if items:
            result.append(ops.RegisterItems(items=items))
        by_prefix: dict[int, list[str]] = {}
        for epc in instances:
            if isinstance(epc.ident, gs1.Sscc):
                by_prefix.setdefault(epc.ident.company_prefix_length, []).append(epc.ident.value)
        for prefix_length, ssccs in by_prefix.items():
            result.append(ops.RegisterLogisticUnits(ssccs=ssccs, company_prefix_length=prefix_length))
        result.extend(ops.RegisterLot(lot=self.lot(e, q, u, expiry, origin)) for e, q, u in lots)
        return result

    def _ship(self) -> ops.Ship:
        objects = self.objects()
        sources = self.endpoints("sourceList", "source")
        destinations = self.endpoints("destinationList", "destination")
        for kind in PARTIES:
            if kind in sources:
                parts = ("sourceList", sources[kind].index, "source")
                if self.owner(sources[kind], parts, party=True) != self.partner_id:
                    raise self.stop(
                        "epcis.invalid_source", parts, f"The {kind} of a shipment must be the capturing partner"
                    )
        ship_from = None
        if "location" in sources:
            ship_from = self.own_location(sources["location"].gln, ("sourceList", sources["location"].index, "source"))
        receiver, transfer_ownership, ship_to = self._receiver(destinations)
        return ops.Ship(
            objects=objects, receiver=receiver, ship_from_gln=ship_from, ship_to_gln=ship_to,
            transfer_ownership=transfer_ownership,
        )  # fmt: skip

    def _receiver(self, destinations: dict[str, Endpoint]) -> tuple[int, bool, str | None]:
        if not destinations:
            raise self.stop(
                "epcis.missing_field",
                ("destinationList",),
                "A shipment needs its receiver: a destinationList entry of type possessing_party, owning_party or "
                "location with a GLN a partner registered",
            )
        parties = {
            kind: self.owner(end, ("destinationList", end.index, "destination"), party=True)
            for kind, end in destinations.items()
            if kind in PARTIES
        }
        if len(set(parties.values())) > 1:
            owning = destinations["owning_party"]
            raise self.stop(
                "epcis.invalid_destination",
                ("destinationList", owning.index, "destination"),
                "The owning and the possessing party differ; the ledger passes custody and ownership to one partner",
            )
        receiver = parties.get("possessing_party") or parties.get("owning_party")
        used = destinations.get("possessing_party") or destinations.get("owning_party")
        ship_to = None
        if "location" in destinations:
            end = destinations["location"]
            parts = ("destinationList", end.index, "destination")
            owner = self.owner(end, parts, party=False)
            if receiver is not None and owner != receiver:
                raise self.stop(
                    "epcis.location_mismatch", parts, f"GLN {end.gln} belongs to partner {owner}, not the receiver"
                )
            receiver, used, ship_to = owner, used or end, end.gln
        assert receiver is not None and used is not None
        if receiver == self.partner_id:
            raise self.stop(
                "epcis.invalid_destination",
                ("destinationList", used.index, "destination"),
                "The destination is the capturing partner itself",
            )
        return receiver, "owning_party" in parties, ship_to

    def _receive(self) -> ops.Receive:
        objects = self.objects()
        gln = self.biz_location()
        if gln is not None:
            self.own_location(gln, ("bizLocation", "id"))
        return ops.Receive(objects=objects, gln=gln)

    def _reason(self) -> str:
        reason = self.event.get("disposition") or self.event.get("bizStep") or ""
        if len(reason) > 32 or not reason.isascii():
            raise self.stop(
                "epcis.invalid_value",
                ("disposition",),
                "The ledger records a disposition of at most 32 ASCII characters",
            )
        return str(reason)

    def _status(self, step: str) -> list[BaseModel]:
        objects = self.objects()
        reason = self._reason()
        if step in ("decommissioning", "destroying"):
            return [ops.SetStatus(objects=objects, status="decommissioned", reason=reason)]
        if step == "dispensing":
            return [ops.SetStatus(objects=objects, status="dispensed", reason=reason)]
        disposition = self.event.get("disposition")
        if disposition == "recalled":
            return [ops.Recall(object=o, reason=reason) for o in objects]
        if disposition == "expired":
            return [ops.SetStatus(objects=objects, status="expired", reason=reason)]
        return [ops.SetStatus(objects=objects, status="quarantined", reason=reason)]

    # -- AggregationEvent, TransformationEvent -------------------------------------------------

    def _aggregation(self) -> list[BaseModel]:
        action = self.event.get("action")
        if action not in ("ADD", "DELETE"):
            raise self.stop(
                "epcis.unsupported_action",
                ("action",),
                "An AggregationEvent is captured as ADD (pack) or DELETE (unpack); OBSERVE changes nothing on the "
                "ledger",
            )
        if self.event.get("parentID") is None:
            raise self.stop("epcis.missing_field", ("parentID",), "Packing and unpacking need the parentID")
        parent = self.epc(self.event["parentID"], ("parentID",), ("sscc", "sgtin"))
        children = self.instances("childEPCs") + self.whole_lots("childQuantityList")
        if not children:
            raise self.stop(
                "epcis.missing_field",
                ("childEPCs",),
                "Name the children: the ledger packs and unpacks named objects (no implicit 'all children')",
            )
        refs = [ops.ObjectRef(epc=c.urn) for c in children]
        parent_ref = ops.ObjectRef(epc=parent.urn)
        if action == "ADD":
            return [ops.Pack(parent=parent_ref, children=refs)]
        return [ops.Unpack(parent=parent_ref, children=refs)]

    def _transformation(self) -> list[BaseModel]:
        inputs = [ops.InputIn(object=ops.ObjectRef(epc=e.urn)) for e in self.instances("inputEPCList")]
        consumed = self.quantified_lots("inputQuantityList")
        inputs += [ops.InputIn(object=ops.ObjectRef(epc=e.urn), quantity=q) for e, q, _ in consumed]
        if not inputs:
            raise self.stop("epcis.missing_field", ("inputEPCList",), "A transformation needs inputs")
        made = self.instances("outputEPCList", ("sgtin",))
        produced = self.quantified_lots("outputQuantityList")
        if not made and not produced:
            raise self.stop("epcis.missing_field", ("outputEPCList",), "A transformation needs outputs")
        lot_number, expiry, origin = self.lot_number(), self.expiry(), self.biz_location()
        self.check_lot_number(lot_number, produced)
        return [
            ops.Transform(
                inputs=inputs,
                item_outputs=[self.item(e, lot_number, expiry, origin) for e in made],
                lot_outputs=[self.lot(e, q, u, expiry, origin) for e, q, u in produced],
            )
        ]


def map_events(events: EventList, partner_id: int, locations: LocationOwners) -> list[MappedEvent]:
    """The operations of every event, or :class:`CaptureRejected` with the first problem of each bad event."""
    mapped: list[MappedEvent] = []
    problems: list[EventProblem] = []
    for index in range(len(events.events)):
        mapper = _EventMapper(events, index, partner_id, locations)
        try:
            operations = mapper.map()
        except Stop as stop:
            problems.append(stop.problem)
            continue
        mapped.append(MappedEvent(index, mapper.event_id, mapper.event, tuple(operations)))
    if problems:
        raise CaptureRejected(problems)
    return mapped
