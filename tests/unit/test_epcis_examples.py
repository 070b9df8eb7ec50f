"""This project's EPCIS 2.0 example documents (tests/data/epcis, see its README): each passes the
schema, then maps to exactly these operations or is refused with exactly these problems."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from gateway.epcis.document import EventList, event_list
from gateway.epcis.errors import CaptureRejected
from gateway.epcis.locations import StaticLocations
from gateway.epcis.mapping import MappedEvent, map_events
from gateway.epcis.schema import check_document
from gateway.partner import operations as ops

EXAMPLES = Path(__file__).resolve().parents[1] / "data" / "epcis"
L = "/epcisBody/eventList"
Q = "/epcisBody/queryResults/resultsBody/eventList"

MAKER, DISTRIBUTOR, PHARMACY = 1, 2, 3
MAKER_GLN, DISTRIBUTOR_GLN, PHARMACY_GLN = "0614141000005", "0614141000029", "0614141000036"
LOCATIONS = StaticLocations({MAKER_GLN: MAKER, DISTRIBUTOR_GLN: DISTRIBUTOR, PHARMACY_GLN: PHARMACY})

GTIN = "00614141123452"  # the packs: urn:epc:id:sgtin:0614141.012345.*
PALLET, CASE = "urn:epc:id:sscc:0614141.0000004711", "urn:epc:id:sscc:0614141.0000004712"
RAW = "urn:epc:class:lgtin:0614141.012346.RM-2406"
BLEND = "urn:epc:class:lgtin:0614141.012347.BX-2406"
LEAFLETS = "urn:epc:class:lgtin:0614141.012348.LF-2406"


def pack(serial: str) -> str:
    return f"urn:epc:id:sgtin:0614141.012345.{serial}"


def ref(epc: str) -> ops.ObjectRef:
    return ops.ObjectRef(epc=epc)


@dataclass(frozen=True)
class Outcome:
    """What capturing a document does: ``operations`` per event (``None`` for a refused event), and
    the problems ``(code, pointer, event index)`` that refuse the document, in order."""

    partner: int
    operations: list[list[type[BaseModel]] | None]
    problems: list[tuple[str, str, int]] = field(default_factory=list)


OUTCOMES: dict[str, Outcome] = {
    "commissioning.jsonld": Outcome(MAKER, [[ops.RegisterItems, ops.RegisterLogisticUnits], [ops.RegisterLot]]),
    "shipping-receiving.jsonld": Outcome(
        MAKER, [[ops.Ship], None], [("epcis.location_mismatch", f"{L}/1/bizLocation/id", 1)]
    ),
    "aggregation.jsonld": Outcome(
        MAKER, [[ops.Pack], [ops.Unpack], None], [("epcis.unsupported_action", f"{L}/2/action", 2)]
    ),
    "transformation.jsonld": Outcome(
        MAKER,
        [[ops.Transform], [ops.Transform], None],
        [("epcis.invalid_epc", f"{L}/2/inputQuantityList/1/epcClass", 2)],
    ),
    "association.jsonld": Outcome(
        MAKER,
        [None, None],
        [("epcis.unsupported_event", f"{L}/0/type", 0), ("epcis.unsupported_event", f"{L}/1/type", 1)],
    ),
    "transaction.jsonld": Outcome(
        MAKER,
        [None, None],
        [("epcis.unsupported_event", f"{L}/0/type", 0), ("epcis.unsupported_event", f"{L}/1/type", 1)],
    ),
    "sensor-data.jsonld": Outcome(
        DISTRIBUTOR,
        [[ops.SetStatus], None, None],
        [
            ("epcis.unsupported_bizstep", f"{L}/1/bizStep", 1),
            ("epcis.unsupported_field", f"{L}/2/childQuantityList/0/quantity", 2),
        ],
    ),
    "error-declaration.jsonld": Outcome(
        MAKER, [None, [ops.SetStatus]], [("epcis.unsupported_field", f"{L}/0/errorDeclaration", 0)]
    ),
    "digital-link.jsonld": Outcome(MAKER, [[ops.RegisterItems, ops.RegisterLot], [ops.Ship]]),
    "query-document.jsonld": Outcome(
        PHARMACY,
        [[ops.Receive], [ops.SetStatus], None],
        [("epcis.unsupported_field", f"{Q}/2/quantityList/0/quantity", 2)],
    ),
}


def load(name: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((EXAMPLES / name).read_text())
    return document


def map_one(name: str, index: int, partner: int) -> MappedEvent:
    """Event ``index`` of a document captured on its own by ``partner``."""
    events = event_list(load(name))
    [mapped] = map_events(EventList(events.path, [events.events[index]]), partner, LOCATIONS)
    return mapped


def test_every_example_has_an_expected_outcome() -> None:
    assert {p.name for p in EXAMPLES.glob("*.jsonld")} == set(OUTCOMES)
    for outcome in OUTCOMES.values():  # a refused event is exactly one whose problem is listed
        assert {i for i, o in enumerate(outcome.operations) if o is None} == {i for _, _, i in outcome.problems}


@pytest.mark.parametrize("name", sorted(OUTCOMES))
def test_example_passes_the_schema(name: str) -> None:
    check_document(load(name))


@pytest.mark.parametrize("name", sorted(OUTCOMES))
def test_example_capture(name: str) -> None:
    outcome, document = OUTCOMES[name], load(name)
    events = event_list(document)
    assert len(events.events) == len(outcome.operations)
    if outcome.problems:
        with pytest.raises(CaptureRejected) as caught:
            map_events(events, outcome.partner, LOCATIONS)
        assert [(p.code, p.pointer, p.event_index) for p in caught.value.problems] == outcome.problems
        assert [p.event_id for p in caught.value.problems] == [
            events.events[i]["eventID"] for _, _, i in outcome.problems
        ]
    else:
        mapped = map_events(events, outcome.partner, LOCATIONS)
        assert [[type(op) for op in m.operations] for m in mapped] == outcome.operations
    for index, expected in enumerate(outcome.operations):
        if expected is not None:  # the events that are not refused map on their own
            mapped_event = map_one(name, index, outcome.partner)
            assert [type(op) for op in mapped_event.operations] == expected
            assert (mapped_event.event_id, mapped_event.event) == (
                events.events[index]["eventID"],
                events.events[index],
            )


def test_commissioning_registers_packs_pallet_and_lot() -> None:
    items, pallet = map_one("commissioning.jsonld", 0, MAKER).operations
    expiry = dt.date(2026, 5, 31)
    assert items == ops.RegisterItems(items=[
        ops.ItemIn(gtin=GTIN, serial="S24-0001", lot="B24-061", expiry_date=expiry, origin_gln=MAKER_GLN),
        ops.ItemIn(gtin=GTIN, serial="S24-0002", lot="B24-061", expiry_date=expiry, origin_gln=MAKER_GLN),
    ])  # fmt: skip
    assert pallet == ops.RegisterLogisticUnits(ssccs=["006141410000047116"])
    [lot] = map_one("commissioning.jsonld", 1, MAKER).operations
    assert lot == ops.RegisterLot(lot=ops.LotIn(
        gtin="00614141123469", lot="RM-2406", quantity=250, unit_of_measure="KGM", expiry_date=dt.date(2025, 12, 31),
        origin_gln=MAKER_GLN,
    ))  # fmt: skip


def test_each_side_captures_its_own_half_of_a_shipment() -> None:
    [ship] = map_one("shipping-receiving.jsonld", 0, MAKER).operations
    assert ship == ops.Ship(
        objects=[ref(PALLET)], receiver=DISTRIBUTOR, ship_from_gln=MAKER_GLN, ship_to_gln=DISTRIBUTOR_GLN,
        transfer_ownership=True,
    )  # fmt: skip
    [receive] = map_one("shipping-receiving.jsonld", 1, DISTRIBUTOR).operations
    assert receive == ops.Receive(objects=[ref(PALLET)], gln=DISTRIBUTOR_GLN)
    with pytest.raises(CaptureRejected) as caught:  # the distributor cannot capture the maker's shipment
        map_events(event_list(load("shipping-receiving.jsonld")), DISTRIBUTOR, LOCATIONS)
    assert [(p.code, p.pointer) for p in caught.value.problems] == [
        ("epcis.invalid_source", f"{L}/0/sourceList/0/source")
    ]


def test_aggregation_packs_and_unpacks_named_children() -> None:
    assert map_one("aggregation.jsonld", 0, MAKER).operations == (
        ops.Pack(parent=ref(CASE), children=[ref(pack("S24-0003")), ref(pack("S24-0004")), ref(LEAFLETS)]),
    )
    assert map_one("aggregation.jsonld", 1, MAKER).operations == (
        ops.Unpack(parent=ref(CASE), children=[ref(pack("S24-0004"))]),
    )


def test_transformations_consume_and_produce() -> None:
    expiry = dt.date(2026, 6, 30)
    assert map_one("transformation.jsonld", 0, MAKER).operations == (
        ops.Transform(
            inputs=[ops.InputIn(object=ref(RAW), quantity=40)],
            lot_outputs=[ops.LotIn(gtin="00614141123476", lot="BX-2406", quantity=38, unit_of_measure="KGM",
                                   expiry_date=expiry, origin_gln=MAKER_GLN)],
        ),
    )  # fmt: skip
    assert map_one("transformation.jsonld", 1, MAKER).operations == (
        ops.Transform(
            inputs=[ops.InputIn(object=ref(BLEND), quantity=5)],
            item_outputs=[ops.ItemIn(gtin=GTIN, serial=s, lot="B24-062", expiry_date=expiry, origin_gln=MAKER_GLN)
                          for s in ("S24-0101", "S24-0102")],
        ),
    )  # fmt: skip


def test_a_sensor_excursion_holds_the_pallet_and_keeps_the_readings() -> None:
    mapped = map_one("sensor-data.jsonld", 0, DISTRIBUTOR)
    assert mapped.operations == (ops.SetStatus(objects=[ref(PALLET)], status="quarantined", reason="non_conformant"),)
    [element] = mapped.event["sensorElementList"]
    assert [r.get("exception") for r in element["sensorReport"]] == [None, "ALARM_CONDITION"]


def test_an_error_declaration_is_refused_but_its_correction_maps() -> None:
    events = event_list(load("error-declaration.jsonld")).events
    assert events[0]["errorDeclaration"]["correctiveEventIDs"] == [events[1]["eventID"]]
    assert map_one("error-declaration.jsonld", 1, MAKER).operations == (
        ops.SetStatus(objects=[ref(pack("S24-0009"))], status="decommissioned", reason="inactive"),
    )


def test_digital_link_identifiers_become_epc_urns_and_glns() -> None:
    items, lot = map_one("digital-link.jsonld", 0, MAKER).operations
    expiry = dt.date(2027, 1, 31)
    assert items == ops.RegisterItems(items=[
        ops.ItemIn(gtin="09506000134352", serial=s, lot="DL-LOT-7", expiry_date=expiry, origin_gln=MAKER_GLN)
        for s in ("DL-0001", "DL-0002")
    ])  # fmt: skip
    assert lot == ops.RegisterLot(lot=ops.LotIn(
        gtin="09506000134352", lot="DL-LOT-7", quantity=120, unit_of_measure="EA", expiry_date=expiry,
        origin_gln=MAKER_GLN,
    ))  # fmt: skip
    [ship] = map_one("digital-link.jsonld", 1, MAKER).operations
    assert ship == ops.Ship(
        objects=[ref("urn:epc:id:sgtin:9506000.013435.DL-0001"), ref("urn:epc:class:lgtin:9506000.013435.DL-LOT-7")],
        receiver=PHARMACY, ship_from_gln=MAKER_GLN, ship_to_gln=PHARMACY_GLN, transfer_ownership=False,
    )  # fmt: skip


def test_a_query_document_is_captured_like_a_document() -> None:
    assert event_list(load("query-document.jsonld")).path == ("epcisBody", "queryResults", "resultsBody", "eventList")
    assert map_one("query-document.jsonld", 0, PHARMACY).operations == (
        ops.Receive(objects=[ref(pack("S24-0101"))], gln=PHARMACY_GLN),
    )
    assert map_one("query-document.jsonld", 1, PHARMACY).operations == (
        ops.SetStatus(objects=[ref(pack("S24-0101"))], status="dispensed", reason="dispensed"),
    )
