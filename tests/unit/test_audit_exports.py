"""Ledger events → EPCIS 2.0 (gateway.audit.exports) over an indexed in-memory chain, on SQLite and
PostgreSQL: every event mapped, the EPCIS 2.0 JSON schema, the SimpleEventQuery parameters, pages,
and the round trip through the capture mapping."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from gateway.audit.errors import AuditInvalidQuery
from gateway.audit.exports import EventQuery, export_events, query_document
from gateway.epcis.document import EventList
from gateway.epcis.locations import StaticLocations
from gateway.epcis.mapping import map_events
from gateway.epcis.schema import check_document
from gateway.indexer.indexer import Indexer
from gateway.partner import operations as ops
from tests.unit.test_indexer_support import BACKENDS, LEDGER, Databases, Ev, Event, FakeChain, databases, oid

MAKER, DISTRIBUTOR, PHARMACY = 1, 2, 3
MAKER_GLN, DISTRIBUTOR_GLN, PHARMACY_GLN = "0614141000005", "0614141000029", "0614141000036"
CASE_URN = "urn:epc:id:sscc:0614141.1234567890"
ACTIVE, RECALLED, QUARANTINED, DECOMMISSIONED = 0, 3, 2, 6


def sgtin(name: str) -> str:
    return f"urn:epc:id:sgtin:0614141.812345.{name}"


def lgtin(name: str) -> str:
    return f"urn:epc:class:lgtin:0614141.812345.{name}"


def dispatch(shipment: int, sender: int, receiver: int, ship_from: str | None, ship_to: str | None) -> Event:
    return "ShipmentDispatched", {"shipment_id": shipment, "sender": sender, "receiver": receiver,
                                  "ship_from_gln": ship_from, "ship_to_gln": ship_to, "transfer_ownership": True,
                                  "object_count": 1}  # fmt: skip


def supply_chain(chain: FakeChain) -> dict[str, int]:
    """Three partners; items packed, shipped, received; a transformation; recall; status changes.
    Returns the block of each step."""
    blocks: dict[str, int] = {}

    def mine(name: str, *txs: list[Event]) -> None:
        blocks[name] = chain.mine(*txs).number

    mine("partners", [Ev.partner(MAKER, "Maker Inc"), Ev.location(MAKER, MAKER_GLN),
                      Ev.partner(DISTRIBUTOR, "Distributor Co", 1), Ev.location(DISTRIBUTOR, DISTRIBUTOR_GLN),
                      Ev.partner(PHARMACY, "Pharmacy Ltd", 2), Ev.location(PHARMACY, PHARMACY_GLN)])  # fmt: skip
    mine("register", [Ev.item("i1", lot="LA", expiry=20310331), Ev.item("i2", lot="LA", expiry=20310331)],
         [Ev.item("i3", lot="LB")], [Ev.lot("lotA", 100)],
         [("LogisticUnitRegistered", {"object_id": oid("case"), "partner_id": MAKER, "epc": CASE_URN})])  # fmt: skip
    mine("pack", [Ev.pack("i1", "case"), Ev.pack("i2", "case")])
    mine("ship", [dispatch(1, MAKER, DISTRIBUTOR, MAKER_GLN, DISTRIBUTOR_GLN), Ev.shipped("case", 1)])
    mine("receive", [Ev.received("case", 1, DISTRIBUTOR, DISTRIBUTOR_GLN), Ev.owner("case", MAKER, DISTRIBUTOR)])
    mine("transform", [Ev.genealogy("g1", 2), Ev.consumed("g1", "lotA", 40, 60), Ev.lot("lotB", 40),
                       Ev.produced("g1", "lotB", 40)])  # fmt: skip
    mine("recall", [Ev.recall("lotA"), Ev.status("lotA", ACTIVE, RECALLED, reason="contaminated")])
    mine("status", [Ev.status("i1", ACTIVE, QUARANTINED, DISTRIBUTOR, "damaged")],
         [Ev.status("i2", ACTIVE, DECOMMISSIONED, DISTRIBUTOR, "destroyed")])  # fmt: skip
    mine("hand_over", [Ev.transferred("i3", MAKER, DISTRIBUTOR)], [Ev.owner("i3", MAKER, DISTRIBUTOR)])
    mine("unpack", [Ev.unpack("i1", "case", DISTRIBUTOR)])
    mine("release", [Ev.status("i1", QUARANTINED, ACTIVE, DISTRIBUTOR, "cleared")])
    return blocks


@pytest.fixture(params=BACKENDS)
def dbs(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Databases]:
    with databases(request.param, tmp_path) as d:
        yield d


def indexed(dbs: Databases) -> tuple[Engine, FakeChain, dict[str, int]]:
    chain = FakeChain()
    blocks = supply_chain(chain)
    engine = dbs.new("audit")
    Indexer(engine, chain, LEDGER).sync_once()
    return engine, chain, blocks


def export(engine: Engine, **params: str) -> list[dict[str, Any]]:
    with Session(engine) as session:
        page = export_events(session, EventQuery.parse(params))
    check_document(query_document(page.events))
    return page.events


def steps(events: list[dict[str, Any]]) -> list[tuple[str, str | None, str | None, int]]:
    return [(e["type"], e.get("action"), e.get("bizStep"), e["custody:blockNumber"]) for e in events]


def test_every_ledger_event_maps_to_a_valid_epcis_event(dbs: Databases) -> None:
    engine, _, b = indexed(dbs)
    events = export(engine)
    o, a, t = "ObjectEvent", "AggregationEvent", "TransformationEvent"
    assert steps(events) == [
        (o, "ADD", "commissioning", b["register"]), (o, "ADD", "commissioning", b["register"]),
        (o, "ADD", "commissioning", b["register"]), (o, "ADD", "commissioning", b["register"]),
        (a, "ADD", "packing", b["pack"]), (o, "OBSERVE", "shipping", b["ship"]),
        (o, "OBSERVE", "receiving", b["receive"]),  # the ownership change of the receipt is said by it
        (t, None, "commissioning", b["transform"]),  # lotB's registration is the transformation's output
        (o, "OBSERVE", "holding", b["recall"]),  # the recall's own StatusChanged is said by it
        (o, "OBSERVE", "holding", b["status"]), (o, "DELETE", "destroying", b["status"]),
        (o, "OBSERVE", "accepting", b["hand_over"]), (o, "OBSERVE", "accepting", b["hand_over"]),
        (a, "DELETE", "unpacking", b["unpack"]), (o, "OBSERVE", "inspecting", b["release"]),
    ]  # fmt: skip
    commission, lot = events[0], events[2]
    assert commission["epcList"] == [sgtin("i1"), sgtin("i2")]
    assert commission["ilmd"] == {"cbvmda:lotNumber": "LA", "cbvmda:itemExpirationDate": "2031-03-31"}
    assert lot["quantityList"] == [{"epcClass": lgtin("lotA"), "quantity": 100, "uom": "KGM"}]
    assert events[3]["epcList"] == [CASE_URN] and "ilmd" not in events[3]
    assert events[4]["parentID"] == CASE_URN and events[4]["childEPCs"] == [sgtin("i1"), sgtin("i2")]
    ship = events[5]
    assert ship["sourceList"] == [
        {"type": "possessing_party", "source": "urn:epc:id:pgln:0614141.00000"},
        {"type": "owning_party", "source": "urn:epc:id:pgln:0614141.00000"},
        {"type": "location", "source": "urn:epc:id:sgln:0614141.00000.0"},
    ]
    assert ship["readPoint"] == {"id": "urn:epc:id:sgln:0614141.00000.0"} and "bizLocation" not in ship
    assert ship["custody:shipmentID"] == 1 and ship["custody:partnerID"] == MAKER
    assert events[6]["bizLocation"] == {"id": "urn:epc:id:sgln:0614141.00002.0"}
    transform = events[7]
    assert transform["inputQuantityList"] == [{"epcClass": lgtin("lotA"), "quantity": 40, "uom": "KGM"}]
    assert transform["outputQuantityList"] == [{"epcClass": lgtin("lotB"), "quantity": 40, "uom": "KGM"}]
    assert transform["ilmd"] == {"cbvmda:lotNumber": "lotB"} and transform["custody:genealogyKind"] == "transform"
    recall = events[8]
    assert (recall["disposition"], recall["custody:reason"], recall["quantityList"]) == (
        "recalled", "contaminated", [{"epcClass": lgtin("lotA")}],
    )  # fmt: skip
    assert (events[9]["disposition"], events[9]["custody:status"]) == ("damaged", "quarantined")
    assert events[10]["disposition"] == "destroyed"
    custody, ownership = events[11], events[12]
    assert [s["type"] for s in custody["sourceList"]] == ["possessing_party"]
    assert [s["type"] for s in ownership["destinationList"]] == ["owning_party"]
    assert (events[14]["disposition"], events[14]["custody:reason"]) == ("active", "cleared")
    assert len({e["eventID"] for e in events}) == len(events)
    assert all(e["eventTime"].endswith("Z") and e["eventTimeZoneOffset"] == "+00:00" for e in events)


def test_query_parameters_select_events(dbs: Databases) -> None:
    engine, chain, b = indexed(dbs)
    assert steps(export(engine, eventType="AggregationEvent")) == [
        ("AggregationEvent", "ADD", "packing", b["pack"]), ("AggregationEvent", "DELETE", "unpacking", b["unpack"]),
    ]  # fmt: skip
    assert [e["custody:blockNumber"] for e in export(engine, MATCH_epc=sgtin("i1"))] == [
        b["register"], b["pack"], b["status"], b["unpack"], b["release"],
    ]  # fmt: skip
    assert [e["custody:blockNumber"] for e in export(engine, MATCH_anyEPC=CASE_URN)] == [
        b["register"], b["pack"], b["ship"], b["receive"], b["unpack"],
    ]  # fmt: skip
    assert [e["custody:blockNumber"] for e in export(engine, MATCH_epc="urn:epc:idpat:sgtin:0614141.812345.*")] == [
        b["register"], b["register"], b["pack"], b["status"], b["status"], b["hand_over"], b["hand_over"],
        b["unpack"], b["release"],
    ]  # fmt: skip
    holding = export(engine, EQ_bizStep="holding,https://ref.gs1.org/cbv/BizStep-destroying")
    assert [(e["bizStep"], e["custody:blockNumber"]) for e in holding] == [
        ("holding", b["recall"]), ("holding", b["status"]), ("destroying", b["status"]),
    ]  # fmt: skip
    # a GLN matches whatever company prefix split the URN uses
    assert [e["bizStep"] for e in export(engine, EQ_bizLocation="urn:epc:id:sgln:061414.100002.0")] == ["receiving"]
    start = chain.blocks[b["receive"]].timestamp
    window = export(engine, GE_eventTime=f"{_iso(start)}", LT_eventTime=f"{_iso(start + 12 * 2)}")
    assert [e["custody:blockNumber"] for e in window] == [b["receive"], b["transform"]]


def _iso(timestamp: int) -> str:
    import datetime as dt

    return dt.datetime.fromtimestamp(timestamp, dt.UTC).isoformat()


def test_pages_hold_whole_transactions_and_chain_with_tokens(dbs: Databases) -> None:
    engine, _, _ = indexed(dbs)
    whole = export(engine)
    seen: list[dict[str, Any]] = []
    params: dict[str, str] = {"perPage": "2"}
    sizes = []
    with Session(engine) as session:
        while True:
            page = export_events(session, EventQuery.parse(params))
            seen += page.events
            sizes.append(len(page.events))
            if page.next_token is None:
                break
            params = {"perPage": "2", "nextPageToken": page.next_token}
    assert seen == whole and max(sizes) == 2 and len(sizes) == 8


def test_exported_events_capture_into_the_operations_that_made_them(dbs: Databases) -> None:
    engine, _, _ = indexed(dbs)
    events = export(engine)
    locations = StaticLocations({MAKER_GLN: MAKER, DISTRIBUTOR_GLN: DISTRIBUTOR, PHARMACY_GLN: PHARMACY})

    def capture(event: dict[str, Any], partner: int) -> list[Any]:
        mapped = map_events(EventList(("epcisBody", "eventList"), [event]), partner, locations)
        return [op for m in mapped for op in m.operations]

    [items] = capture(events[0], MAKER)
    assert isinstance(items, ops.RegisterItems)
    assert [(i.serial, i.lot, i.expiry_date.isoformat() if i.expiry_date else None) for i in items.items] == [
        ("i1", "LA", "2031-03-31"), ("i2", "LA", "2031-03-31"),
    ]  # fmt: skip
    [lot] = capture(events[2], MAKER)
    assert isinstance(lot, ops.RegisterLot) and (lot.lot.lot, lot.lot.quantity, lot.lot.unit_of_measure) == (
        "lotA", 100, "KGM",
    )  # fmt: skip
    [ship] = capture(events[5], MAKER)
    assert isinstance(ship, ops.Ship)
    assert (ship.receiver, ship.ship_from_gln, ship.ship_to_gln, ship.transfer_ownership) == (
        DISTRIBUTOR, MAKER_GLN, DISTRIBUTOR_GLN, True,
    )  # fmt: skip
    [receive] = capture(events[6], DISTRIBUTOR)
    assert isinstance(receive, ops.Receive) and receive.gln == DISTRIBUTOR_GLN
    [unpack] = capture(events[13], DISTRIBUTOR)
    assert isinstance(unpack, ops.Unpack) and [c.urn() for c in unpack.children] == [sgtin("i1")]
    [quarantine] = capture(events[9], DISTRIBUTOR)
    assert isinstance(quarantine, ops.SetStatus) and (quarantine.status, quarantine.reason) == (
        "quarantined", "damaged",
    )  # fmt: skip
    [destroy] = capture(events[10], DISTRIBUTOR)
    assert isinstance(destroy, ops.SetStatus) and (destroy.status, destroy.reason) == ("decommissioned", "destroyed")


@pytest.mark.parametrize(
    ("params", "code", "field"),
    [
        ({"eventType": "ObjectEvent,Shipment"}, "epcis.query_parameter_invalid", "eventType"),
        ({"GE_eventTime": "2026-13-01T00:00:00Z"}, "epcis.query_parameter_invalid", "GE_eventTime"),
        ({"LT_eventTime": "2026-01-01"}, "epcis.query_parameter_invalid", "LT_eventTime"),
        ({"MATCH_epc": "0614141812345"}, "epcis.query_parameter_invalid", "MATCH_epc"),
        ({"MATCH_epc": "https://id.gs1.org/01/09506000134352"}, "epcis.query_parameter_invalid", "MATCH_epc"),
        ({"MATCH_anyEPC": ","}, "epcis.query_parameter_invalid", "MATCH_anyEPC"),
        ({"EQ_bizLocation": "urn:epc:id:sgln:bad"}, "epcis.query_parameter_invalid", "EQ_bizLocation"),
        ({"perPage": "10001"}, "epcis.query_parameter_invalid", "perPage"),
        ({"nextPageToken": "12"}, "epcis.query_parameter_invalid", "nextPageToken"),
        ({"orderBy": "eventTime"}, "epcis.query_parameter_unknown", "orderBy"),
    ],
)  # fmt: skip
def test_bad_query_parameters_name_the_parameter(params: dict[str, str], code: str, field: str) -> None:
    with pytest.raises(AuditInvalidQuery) as caught:
        EventQuery.parse(params)
    assert (caught.value.code, caught.value.field) == (code, field)


def test_digital_link_and_patterns_match_as_urns() -> None:
    query = EventQuery.parse(
        {"MATCH_anyEPC": "https://id.gs1.org/01/80614141123458/21/i1,urn:epc:idpat:sscc:0614141.*"}
    )
    assert query.matches({"type": "ObjectEvent", "epcList": [sgtin("i1")]})
    assert query.matches({"type": "AggregationEvent", "parentID": CASE_URN})
    assert not query.matches({"type": "ObjectEvent", "epcList": [sgtin("i11")]})
