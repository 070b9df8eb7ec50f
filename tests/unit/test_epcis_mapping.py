"""EPCIS events → partner operations, without a node (GLN owners from a static table)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from gateway.epcis.document import EventList
from gateway.epcis.errors import CaptureRejected, EventProblem
from gateway.epcis.locations import StaticLocations
from gateway.epcis.mapping import map_events
from gateway.epcis.operations import EventContext, with_context
from gateway.partner import operations as ops

MAKER, DISTRIBUTOR, PHARMACY = 1, 2, 3
MAKER_GLN, DISTRIBUTOR_GLN, PHARMACY_GLN = "0614141000005", "0614141000029", "0614141000036"
MAKER_SGLN = "urn:epc:id:sgln:0614141.00000.0"
DISTRIBUTOR_SGLN = "urn:epc:id:sgln:0614141.00002.0"
DISTRIBUTOR_PGLN = "urn:epc:id:pgln:0614141.00002"
PHARMACY_PGLN = "urn:epc:id:pgln:0614141.00003"
UNKNOWN_SGLN = "urn:epc:id:sgln:0614141.00009.0"
LOCATIONS = StaticLocations({MAKER_GLN: MAKER, DISTRIBUTOR_GLN: DISTRIBUTOR, PHARMACY_GLN: PHARMACY})

ITEM1 = "urn:epc:id:sgtin:0614141.812345.A1"
ITEM2 = "urn:epc:id:sgtin:0614141.812345.A2"
CASE = "urn:epc:id:sscc:0614141.1234567890"
LOT = "urn:epc:class:lgtin:0614141.812345.LOT1"


def event(kind: str = "ObjectEvent", **fields: Any) -> dict[str, Any]:
    return {"type": kind, "eventTime": "2024-05-01T10:00:00Z", "eventTimeZoneOffset": "+00:00", **fields}


def operations(*events: dict[str, Any], partner: int = MAKER) -> list[Any]:
    mapped = map_events(EventList(("epcisBody", "eventList"), list(events)), partner, LOCATIONS)
    return [op for m in mapped for op in m.operations]


def problems(*events: dict[str, Any], partner: int = MAKER) -> list[tuple[str, str]]:
    with pytest.raises(CaptureRejected) as caught:
        map_events(EventList(("epcisBody", "eventList"), list(events)), partner, LOCATIONS)
    return [(p.code, p.pointer) for p in caught.value.problems]


def problem(ev: dict[str, Any], partner: int = MAKER) -> tuple[str, str]:
    found = problems(ev, partner=partner)
    assert len(found) == 1
    return found[0]


def at(*parts: str | int) -> str:
    return "/epcisBody/eventList/0" + "".join(f"/{p}" for p in parts)


# -- commissioning ---------------------------------------------------------------------------------


def test_commissioning_items_take_lot_expiry_and_origin() -> None:
    [op] = operations(
        event(
            action="ADD", bizStep="commissioning", epcList=[ITEM1, ITEM2], bizLocation={"id": MAKER_SGLN},
            ilmd={"cbvmda:lotNumber": "LOT1", "cbvmda:itemExpirationDate": "2027-03-31"},
        )
    )  # fmt: skip
    assert isinstance(op, ops.RegisterItems)
    assert [(i.serial, i.lot, i.expiry_date, i.origin_gln) for i in op.items] == [
        ("A1", "LOT1", dt.date(2027, 3, 31), MAKER_GLN),
        ("A2", "LOT1", dt.date(2027, 3, 31), MAKER_GLN),
    ]
    assert ops.resolve(op).object_ids == tuple(ops.ObjectRef(epc=u).object_id() for u in (ITEM1, ITEM2))


def test_commissioning_takes_digital_link_and_full_mda_iri_and_best_before() -> None:
    [op] = operations(
        event(
            action="ADD", bizStep="commissioning", epcList=["https://id.gs1.org/01/80614141123458/21/X%2F1"],
            ilmd={"urn:epcglobal:cbv:mda:bestBeforeDate": "2026-01-15"},
        )
    )  # fmt: skip
    assert isinstance(op, ops.RegisterItems)
    item = op.items[0]
    assert (item.gtin, item.serial, item.expiry_date, item.lot) == ("80614141123458", "X/1", dt.date(2026, 1, 15), "")
    assert item.registration("x").epc == "urn:epc:id:sgtin:0614141.812345.X%2F1"


def test_commissioning_logistic_units_and_lots() -> None:
    result = operations(
        event(
            action="ADD", bizStep="commissioning", epcList=[CASE],
            quantityList=[{"epcClass": LOT, "quantity": 250, "uom": "KGM"},
                          {"epcClass": "urn:epc:class:lgtin:0614141.812345.LOT2", "quantity": 12.0}],
        )
    )  # fmt: skip
    assert [type(o) for o in result] == [ops.RegisterLogisticUnits, ops.RegisterLot, ops.RegisterLot]
    assert result[0].ssccs == ["106141412345678908"] and result[0].company_prefix_length == 7
    assert (result[1].lot.lot, result[1].lot.quantity, result[1].lot.unit_of_measure) == ("LOT1", 250, "KGM")
    assert (result[2].lot.lot, result[2].lot.quantity, result[2].lot.unit_of_measure) == ("LOT2", 12, "EA")


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"epcList": []}, ("epcis.missing_field", at("epcList"))),
        ({"quantityList": [{"epcClass": LOT}]}, ("epcis.missing_field", at("quantityList", 0, "quantity"))),
        ({"quantityList": [{"epcClass": LOT, "quantity": 2.5}]}, ("epcis.invalid_quantity", at("quantityList", 0,
                                                                                               "quantity"))),
        ({"quantityList": [{"epcClass": LOT, "quantity": 0}]}, ("epcis.invalid_quantity", at("quantityList", 0,
                                                                                             "quantity"))),
        ({"quantityList": [{"epcClass": LOT, "quantity": 5}], "ilmd": {"cbvmda:lotNumber": "OTHER"}},
         ("epcis.invalid_value", at("ilmd", "cbvmda:lotNumber"))),
        ({"epcList": [ITEM1], "ilmd": {"cbvmda:itemExpirationDate": "2027-02-30"}},
         ("epcis.invalid_value", at("ilmd", "cbvmda:itemExpirationDate"))),
        ({"epcList": [ITEM1], "ilmd": {"cbvmda:lotNumber": "bad lot ä"}},
         ("epcis.invalid_value", at("ilmd", "cbvmda:lotNumber"))),
        ({"epcList": [ITEM1, LOT]}, ("epcis.invalid_epc", at("epcList", 1))),
        ({"epcList": [ITEM1, "urn:epc:id:giai:0614141.1"]}, ("epcis.invalid_epc", at("epcList", 1))),
        ({"epcList": ["urn:epc:id:sgtin:0614141.812345"]}, ("epcis.invalid_epc", at("epcList", 0))),
        ({"quantityList": [{"epcClass": "urn:epc:idpat:sgtin:0614141.812345.*", "quantity": 1}]},
         ("epcis.invalid_epc", at("quantityList", 0, "epcClass"))),
        ({"epcList": [ITEM1], "bizLocation": {"id": "urn:epc:id:sgln:0614141.0000.0"}},
         ("epcis.invalid_epc", at("bizLocation", "id"))),
    ],
)  # fmt: skip
def test_commissioning_problems(fields: dict[str, Any], expected: tuple[str, str]) -> None:
    assert problem(event(action="ADD", bizStep="commissioning", **fields)) == expected


# -- shipping and receiving ------------------------------------------------------------------------


def test_shipping_to_a_possessing_party_with_locations_and_ownership() -> None:
    [op] = operations(
        event(
            action="OBSERVE", bizStep="shipping", epcList=[ITEM1, CASE], quantityList=[{"epcClass": LOT}],
            sourceList=[{"type": "location", "source": MAKER_SGLN}, {"type": "owning_party", "source": MAKER_SGLN}],
            destinationList=[
                {"type": "possessing_party", "destination": DISTRIBUTOR_PGLN},
                {"type": "owning_party", "destination": "https://id.gs1.org/417/0614141000029"},
                {"type": "location", "destination": DISTRIBUTOR_SGLN},
                {"type": "https://example.org/carrier", "destination": "https://example.org/carrier/1"},
            ],
            bizTransactionList=[{"type": "po", "bizTransaction": "urn:epcglobal:cbv:bt:0614141000005:PO1"}],
        )
    )  # fmt: skip
    assert isinstance(op, ops.Ship)
    assert [o.epc for o in op.objects] == [ITEM1, CASE, LOT]
    assert (op.receiver, op.ship_from_gln, op.ship_to_gln, op.transfer_ownership) == (
        DISTRIBUTOR, MAKER_GLN, DISTRIBUTOR_GLN, True,
    )  # fmt: skip


def test_shipping_to_a_location_only_keeps_ownership() -> None:
    [op] = operations(
        event(action="OBSERVE", bizStep="shipping", epcList=[ITEM1],
              destinationList=[{"type": "location", "destination": "https://id.gs1.org/414/0614141000036"}])
    )  # fmt: skip
    assert (op.receiver, op.ship_from_gln, op.ship_to_gln, op.transfer_ownership) == (
        PHARMACY, None, PHARMACY_GLN, False,
    )  # fmt: skip


def _ship(**fields: Any) -> dict[str, Any]:
    fields.setdefault("destinationList", [{"type": "possessing_party", "destination": DISTRIBUTOR_PGLN}])
    fields.setdefault("epcList", [ITEM1])
    return event(action="OBSERVE", bizStep="shipping", **fields)


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"destinationList": []}, ("epcis.missing_field", at("destinationList"))),
        ({"destinationList": [{"type": "owning_party", "destination": "urn:epc:id:pgln:0614141.00009"}]},
         ("epcis.unknown_party", at("destinationList", 0, "destination"))),
        ({"destinationList": [{"type": "location", "destination": UNKNOWN_SGLN}]},
         ("epcis.unknown_location", at("destinationList", 0, "destination"))),
        ({"destinationList": [{"type": "possessing_party", "destination": DISTRIBUTOR_PGLN},
                              {"type": "location", "destination": "urn:epc:id:sgln:0614141.00003.0"}]},
         ("epcis.location_mismatch", at("destinationList", 1, "destination"))),
        ({"destinationList": [{"type": "possessing_party", "destination": DISTRIBUTOR_PGLN},
                              {"type": "owning_party", "destination": PHARMACY_PGLN}]},
         ("epcis.invalid_destination", at("destinationList", 1, "destination"))),
        ({"destinationList": [{"type": "location", "destination": DISTRIBUTOR_SGLN},
                              {"type": "location", "destination": DISTRIBUTOR_SGLN}]},
         ("epcis.invalid_destination", at("destinationList", 1, "type"))),
        ({"destinationList": [{"type": "location", "destination": MAKER_SGLN}]},
         ("epcis.invalid_destination", at("destinationList", 0, "destination"))),
        ({"destinationList": [{"type": "location", "destination": "urn:epc:id:sgtin:0614141.812345.A1"}]},
         ("epcis.invalid_epc", at("destinationList", 0, "destination"))),
        ({"sourceList": [{"type": "location", "source": DISTRIBUTOR_SGLN}]},
         ("epcis.location_mismatch", at("sourceList", 0, "source"))),
        ({"sourceList": [{"type": "possessing_party", "source": PHARMACY_PGLN}]},
         ("epcis.invalid_source", at("sourceList", 0, "source"))),
        ({"sourceList": [{"type": "location", "source": UNKNOWN_SGLN}]},
         ("epcis.unknown_location", at("sourceList", 0, "source"))),
        ({"quantityList": [{"epcClass": LOT, "quantity": 10, "uom": "KGM"}]},
         ("epcis.unsupported_field", at("quantityList", 0, "quantity"))),
        ({"epcList": []}, ("epcis.missing_field", at("epcList"))),
    ],
)  # fmt: skip
def test_shipping_problems(fields: dict[str, Any], expected: tuple[str, str]) -> None:
    assert problem(_ship(**fields)) == expected


def test_receiving_at_an_own_location() -> None:
    [op] = operations(
        event(action="OBSERVE", bizStep="receiving", epcList=[ITEM1], bizLocation={"id": DISTRIBUTOR_SGLN}),
        partner=DISTRIBUTOR,
    )
    assert isinstance(op, ops.Receive)
    assert ([o.epc for o in op.objects], op.gln) == ([ITEM1], DISTRIBUTOR_GLN)
    [without] = operations(event(action="OBSERVE", bizStep="receiving", epcList=[ITEM1]), partner=DISTRIBUTOR)
    assert without.gln is None


def test_receiving_elsewhere_is_refused() -> None:
    receiving = event(action="OBSERVE", bizStep="receiving", epcList=[ITEM1], bizLocation={"id": MAKER_SGLN})
    assert problem(receiving, partner=DISTRIBUTOR) == ("epcis.location_mismatch", at("bizLocation", "id"))
    receiving["bizLocation"] = {"id": UNKNOWN_SGLN}
    assert problem(receiving, partner=DISTRIBUTOR) == ("epcis.unknown_location", at("bizLocation", "id"))


# -- status --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("action", "step", "disposition", "expected"),
    [
        ("OBSERVE", "destroying", "destroyed", ("decommissioned", "destroyed")),
        ("DELETE", "decommissioning", None, ("decommissioned", "decommissioning")),
        ("OBSERVE", "decommissioning", "stolen", ("decommissioned", "stolen")),
        ("OBSERVE", "dispensing", "dispensed", ("dispensed", "dispensed")),
        ("OBSERVE", "holding", "expired", ("expired", "expired")),
        ("OBSERVE", "holding", "non_sellable_other", ("quarantined", "non_sellable_other")),
        ("OBSERVE", "holding", None, ("quarantined", "holding")),
    ],
)
def test_status_changes(action: str, step: str, disposition: str | None, expected: tuple[str, str]) -> None:
    fields: dict[str, Any] = {"action": action, "bizStep": step, "epcList": [ITEM1, ITEM2]}
    if disposition:
        fields["disposition"] = disposition
    [op] = operations(event(**fields))
    assert isinstance(op, ops.SetStatus)
    assert (op.status, op.reason, [o.epc for o in op.objects]) == (*expected, [ITEM1, ITEM2])


def test_holding_recalled_recalls_each_object() -> None:
    result = operations(event(action="OBSERVE", bizStep="holding", disposition="recalled", epcList=[ITEM1],
                              quantityList=[{"epcClass": LOT}]))  # fmt: skip
    assert [(type(o), o.object.epc, o.reason) for o in result] == [
        (ops.Recall, ITEM1, "recalled"),
        (ops.Recall, LOT, "recalled"),
    ]


def test_an_extension_disposition_longer_than_a_reason_is_refused() -> None:
    long = "https://example.org/disposition/" + "x" * 40
    assert problem(event(action="OBSERVE", bizStep="destroying", disposition=long, epcList=[ITEM1])) == (
        "epcis.invalid_value",
        at("disposition"),
    )


# -- aggregation and transformation --------------------------------------------------------------


def test_aggregation_packs_and_unpacks() -> None:
    packed, unpacked = operations(
        event("AggregationEvent", action="ADD", bizStep="packing", parentID=CASE, childEPCs=[ITEM1, ITEM2]),
        event("AggregationEvent", action="DELETE", parentID=CASE, childEPCs=[ITEM2],
              childQuantityList=[{"epcClass": LOT}]),
    )  # fmt: skip
    assert isinstance(packed, ops.Pack) and isinstance(unpacked, ops.Unpack)
    assert (packed.parent.epc, [c.epc for c in packed.children]) == (CASE, [ITEM1, ITEM2])
    assert (unpacked.parent.epc, [c.epc for c in unpacked.children]) == (CASE, [ITEM2, LOT])


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"action": "OBSERVE"}, ("epcis.unsupported_action", at("action"))),
        ({"parentID": None}, ("epcis.missing_field", at("parentID"))),
        ({"parentID": LOT}, ("epcis.invalid_epc", at("parentID"))),
        ({"childEPCs": []}, ("epcis.missing_field", at("childEPCs"))),
        ({"childQuantityList": [{"epcClass": LOT, "quantity": 3}]},
         ("epcis.unsupported_field", at("childQuantityList", 0, "quantity"))),
    ],
)  # fmt: skip
def test_aggregation_problems(fields: dict[str, Any], expected: tuple[str, str]) -> None:
    base: dict[str, Any] = {"action": "ADD", "parentID": CASE, "childEPCs": [ITEM1]}
    base.update(fields)
    if base["parentID"] is None:
        del base["parentID"]
    assert problem(event("AggregationEvent", **base)) == expected


def test_transformation_inputs_and_outputs() -> None:
    [op] = operations(
        event(
            "TransformationEvent", bizStep="commissioning", inputEPCList=[ITEM1],
            inputQuantityList=[{"epcClass": LOT, "quantity": 40, "uom": "KGM"}],
            outputEPCList=["urn:epc:id:sgtin:0614141.812346.B1"],
            outputQuantityList=[{"epcClass": "urn:epc:class:lgtin:0614141.812346.MIX1", "quantity": 35, "uom": "KGM"}],
            ilmd={"cbvmda:itemExpirationDate": "2028-01-31"}, bizLocation={"id": MAKER_SGLN},
        )
    )  # fmt: skip
    assert isinstance(op, ops.Transform)
    assert [(i.object.epc, i.quantity) for i in op.inputs] == [(ITEM1, 1), (LOT, 40)]
    assert [(o.serial, o.expiry_date, o.origin_gln) for o in op.item_outputs] == [
        ("B1", dt.date(2028, 1, 31), MAKER_GLN)
    ]
    assert [(o.lot, o.quantity, o.unit_of_measure) for o in op.lot_outputs] == [("MIX1", 35, "KGM")]


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"inputEPCList": []}, ("epcis.missing_field", at("inputEPCList"))),
        ({"outputEPCList": []}, ("epcis.missing_field", at("outputEPCList"))),
        ({"outputEPCList": [CASE]}, ("epcis.invalid_epc", at("outputEPCList", 0))),
        ({"inputQuantityList": [{"epcClass": LOT}]}, ("epcis.missing_field", at("inputQuantityList", 0, "quantity"))),
        ({"errorDeclaration": {"declarationTime": "2024-05-02T00:00:00Z"}},
         ("epcis.unsupported_field", at("errorDeclaration"))),
    ],
)  # fmt: skip
def test_transformation_problems(fields: dict[str, Any], expected: tuple[str, str]) -> None:
    base: dict[str, Any] = {"inputEPCList": [ITEM1], "outputEPCList": [ITEM2]}
    base.update(fields)
    assert problem(event("TransformationEvent", **base)) == expected


# -- what is not captured ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ev", "expected"),
    [
        (event("AssociationEvent", action="ADD", parentID=CASE), ("epcis.unsupported_event", at("type"))),
        (event("TransactionEvent", action="ADD"), ("epcis.unsupported_event", at("type"))),
        (event("https://example.org/MyEvent"), ("epcis.unsupported_event", at("type"))),
        (event(action="OBSERVE", bizStep="inspecting", epcList=[ITEM1]), ("epcis.unsupported_bizstep", at("bizStep"))),
        (event(action="OBSERVE", bizStep="https://example.org/step", epcList=[ITEM1]),
         ("epcis.unsupported_bizstep", at("bizStep"))),
        (event(action="ADD", bizStep="shipping", epcList=[ITEM1]), ("epcis.unsupported_action", at("action"))),
        (event(action="OBSERVE", bizStep="commissioning", epcList=[ITEM1]), ("epcis.unsupported_action", at("action"))),
        (event(action="OBSERVE", epcList=[ITEM1]), ("epcis.missing_field", at("bizStep"))),
    ],
)  # fmt: skip
def test_unsupported_events(ev: dict[str, Any], expected: tuple[str, str]) -> None:
    assert problem(ev) == expected


def test_every_bad_event_is_reported_with_its_index_and_id() -> None:
    good = event(action="ADD", bizStep="commissioning", epcList=[ITEM1])
    bad1 = event("AssociationEvent", eventID="urn:uuid:00000000-0000-4000-8000-000000000001")
    bad2 = event(action="OBSERVE", bizStep="receiving", epcList=["urn:epc:id:grai:0614141.12345.1"])
    events = EventList(("epcisBody", "eventList"), [good, bad1, good, bad2])
    with pytest.raises(CaptureRejected) as caught:
        map_events(events, MAKER, LOCATIONS)
    assert caught.value.code == "epcis.unsupported_event"
    assert caught.value.problems == [
        EventProblem("epcis.unsupported_event", "/epcisBody/eventList/1/type", caught.value.problems[0].detail, 1,
                     "urn:uuid:00000000-0000-4000-8000-000000000001"),
        EventProblem("epcis.invalid_epc", "/epcisBody/eventList/3/epcList/0", caught.value.problems[1].detail, 3, None),
    ]  # fmt: skip


def test_operations_keep_their_event_and_still_resolve() -> None:
    ev = _ship(
        bizTransactionList=[{"type": "po", "bizTransaction": "urn:epcglobal:cbv:bt:0614141000005:PO1"}],
        sensorElementList=[{"sensorReport": [{"type": "Temperature", "value": 4.5, "uom": "CEL"}]}],
    )
    [op] = operations(ev)
    context = EventContext(capture_id="c1", event_index=0, event_id="urn:uuid:x", event=ev)
    kept = with_context(op, context)
    assert isinstance(kept, ops.Ship)
    assert ops.resolve(kept) == ops.resolve(op)
    request = kept.model_dump(mode="json")
    assert request["operation"] == "ship"
    assert request["epcis"]["event"]["bizTransactionList"][0]["type"] == "po"
    assert request["epcis"]["event"]["sensorElementList"][0]["sensorReport"][0]["value"] == 4.5
