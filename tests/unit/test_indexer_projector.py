"""The query model the projector builds from event sequences that follow the ledger's rules."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from gateway.indexer import tables as t
from gateway.indexer.indexer import Indexer, IndexerConfig
from tests.unit.test_indexer_support import (
    BACKENDS,
    GENESIS_TIME,
    LEDGER,
    Databases,
    Ev,
    FakeChain,
    cid_v0,
    databases,
    oid,
    sgtin,
)

ACTIVE, IN_TRANSIT, QUARANTINED, RECALLED, DECOMMISSIONED = 0, 1, 2, 3, 6
SPLIT, MERGE, TRANSFORM = 0, 1, 2


@pytest.fixture(params=BACKENDS)
def dbs(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Databases]:
    with databases(request.param, tmp_path) as d:
        yield d


@pytest.fixture
def chain() -> FakeChain:
    chain = FakeChain()
    chain.mine([Ev.partner(1, "maker"), Ev.partner(2, "distributor", 1), Ev.partner(3, "pharmacy", 2)])
    return chain


def index(dbs: Databases, chain: FakeChain, **config: Any) -> Engine:
    engine = dbs.new("live")
    Indexer(engine, chain, LEDGER, config=IndexerConfig(**config)).sync_once()
    return engine


def obj(engine: Engine, name: str) -> t.ObjectRow:
    with Session(engine) as session:
        row = session.get(t.ObjectRow, oid(name))
        assert row is not None, name
        return row


def history(engine: Engine, name: str) -> list[tuple[Any, ...]]:
    h = t.CustodyHistoryRow
    with Session(engine) as session:
        rows = session.scalars(select(h).where(h.object_id == oid(name)).order_by(h.block_number, h.log_index))
        return [(r.event, r.partner_id, r.custodian, r.owner, r.container_id) for r in rows]


def pallet_of_cases(chain: FakeChain) -> None:
    """item -> case -> pallet (three levels), plus a sibling item in another case."""
    chain.mine([Ev.item("i1"), Ev.item("i2"), Ev.unit("case1"), Ev.unit("case2"), Ev.unit("pallet")])
    chain.mine([Ev.pack("i1", "case1"), Ev.pack("i2", "case2")])
    chain.mine([Ev.pack("case1", "pallet"), Ev.pack("case2", "pallet")])


def test_packed_objects_take_custody_and_transit_from_their_outermost_container(
    dbs: Databases, chain: FakeChain
) -> None:
    pallet_of_cases(chain)
    chain.mine([Ev.dispatch(1, 1, 2, transfer_ownership=True), Ev.shipped("pallet", 1)])
    shipped = index(dbs, chain)
    item = obj(shipped, "i1")
    assert (item.status, item.own_status, item.shipment_id, item.custodian, item.root_id, item.parent_id) == (
        "IN_TRANSIT",
        "ACTIVE",
        1,
        1,
        oid("pallet"),
        oid("case1"),
    )
    chain.mine([Ev.received("pallet", 1, 2, "0614141000029"), Ev.owner("pallet", 1, 2)])
    received = index(dbs, chain)
    item = obj(received, "i1")
    assert (item.status, item.shipment_id, item.custodian, item.owner) == ("ACTIVE", None, 2, 2)
    assert history(received, "i1") == [
        ("registered", 1, 1, 1, None),
        ("packed", 1, 1, 1, oid("case1")),
        ("shipped", 1, 1, 1, oid("pallet")),
        ("received", 2, 2, 1, oid("pallet")),
        ("ownership_transferred", 1, 2, 2, oid("pallet")),
    ]


def test_unpacking_moves_the_subtree_of_the_child_only(dbs: Databases, chain: FakeChain) -> None:
    pallet_of_cases(chain)
    chain.mine([Ev.transferred("pallet", 1, 2)])
    chain.mine([Ev.unpack("case1", "pallet", 2)])
    engine = index(dbs, chain)
    assert (obj(engine, "case1").root_id, obj(engine, "case1").parent_id) == (oid("case1"), None)
    assert (obj(engine, "i1").root_id, obj(engine, "i1").parent_id) == (oid("case1"), oid("case1"))
    assert obj(engine, "i2").root_id == oid("pallet")  # the sibling stays in the pallet
    assert {obj(engine, n).custodian for n in ("i1", "i2", "case1", "case2")} == {2}
    with Session(engine) as session:
        c = t.ContainmentRow
        rows = session.scalars(select(c).where(c.child_id == oid("case1"))).all()
        assert [(r.parent_id, r.unpacked_by, r.unpacked_block) for r in rows] == [(oid("pallet"), 2, 6)]


def test_pack_and_unpack_in_separate_batches_close_the_stored_containment(dbs: Databases, chain: FakeChain) -> None:
    chain.mine([Ev.item("i1"), Ev.unit("case")])
    chain.mine([Ev.pack("i1", "case")])
    chain.mine([Ev.unpack("i1", "case")])
    chain.mine([Ev.pack("i1", "case")])
    engine = index(dbs, chain, initial_range=1, max_range=1)  # one block per batch
    with Session(engine) as session:
        c = t.ContainmentRow
        rows = session.scalars(select(c).order_by(c.block_number)).all()
        assert [(r.block_number, r.unpacked_block) for r in rows] == [(3, 4), (5, None)]


def test_a_container_decommissioned_in_transit_takes_its_contents_out_of_transit(
    dbs: Databases, chain: FakeChain
) -> None:
    pallet_of_cases(chain)
    chain.mine([Ev.dispatch(1, 1, 2), Ev.shipped("pallet", 1)])
    chain.mine([Ev.status("i2", ACTIVE, DECOMMISSIONED, reason="damaged")])  # packed: still in the shipment
    chain.mine([Ev.status("pallet", ACTIVE, DECOMMISSIONED, reason="stolen")])
    engine = index(dbs, chain)
    assert (obj(engine, "pallet").status, obj(engine, "pallet").shipment_id) == ("DECOMMISSIONED", None)
    assert (obj(engine, "i1").status, obj(engine, "i1").shipment_id) == ("ACTIVE", None)


def test_a_packed_object_decommissioned_in_transit_stays_in_the_shipment(dbs: Databases, chain: FakeChain) -> None:
    pallet_of_cases(chain)
    chain.mine([Ev.dispatch(1, 1, 2), Ev.shipped("pallet", 1)])
    chain.mine([Ev.status("i2", ACTIVE, DECOMMISSIONED, reason="damaged")])
    engine = index(dbs, chain)
    assert (obj(engine, "i2").status, obj(engine, "i2").shipment_id) == ("DECOMMISSIONED", 1)
    assert obj(engine, "i1").status == "IN_TRANSIT"


def test_rejected_and_cancelled_shipments_leave_custody_with_the_sender(dbs: Databases, chain: FakeChain) -> None:
    chain.mine([Ev.item("a"), Ev.item("b")])
    chain.mine([Ev.dispatch(1, 1, 2, count=2), Ev.shipped("a", 1), Ev.shipped("b", 1)])
    chain.mine([Ev.rejected("a", 1, 2, "damaged")], [Ev.cancelled("b", 1, 1)])
    engine = index(dbs, chain)
    for name in ("a", "b"):
        assert (obj(engine, name).custodian, obj(engine, name).status, obj(engine, name).shipment_id) == (
            1,
            "ACTIVE",
            None,
        )
    with Session(engine) as session:
        h = t.CustodyHistoryRow
        rejected = session.scalars(select(h).where(h.event == "rejected")).one()
        assert (rejected.reason, rejected.partner_id, rejected.counterparty_id) == ("damaged", 2, 1)


def test_genealogy_edges_join_every_input_to_every_output(dbs: Databases, chain: FakeChain) -> None:
    chain.mine([Ev.lot("A", 10), Ev.lot("B", 5)])
    chain.mine(
        [
            Ev.genealogy("g1", MERGE),
            Ev.consumed("g1", "A", 10, 0),
            Ev.consumed("g1", "B", 5, 0),
            Ev.consumed("g1", "B", 0, 0),
            Ev.lot("M", 15),
            Ev.produced("g1", "M", 15),
        ]
    )
    chain.mine(
        [
            Ev.genealogy("g2", SPLIT),
            Ev.consumed("g2", "M", 6, 9),
            Ev.lot("S1", 2),
            Ev.produced("g2", "S1", 2),
            Ev.lot("S2", 4),
            Ev.produced("g2", "S2", 4),
        ]
    )
    engine = index(dbs, chain)
    with Session(engine) as session:
        e = t.GenealogyEdgeRow
        edges = session.execute(
            select(e.genealogy_id, e.kind, e.input_id, e.output_id, e.input_quantity, e.output_quantity).order_by(
                e.block_number, e.output_log_index, e.input_log_index
            )
        ).all()
    assert [tuple(x) for x in edges] == [
        (oid("g1"), "MERGE", oid("A"), oid("M"), 10, 15),
        (oid("g1"), "MERGE", oid("B"), oid("M"), 5, 15),
        (oid("g1"), "MERGE", oid("B"), oid("M"), 0, 15),  # the same lot twice is two edges
        (oid("g2"), "SPLIT", oid("M"), oid("S1"), 6, 2),
        (oid("g2"), "SPLIT", oid("M"), oid("S2"), 6, 4),
    ]
    assert [obj(engine, n).quantity for n in ("A", "B", "M", "S1")] == [0, 0, 9, 2]


def test_quantities_beyond_64_bits_are_kept_exactly(dbs: Databases, chain: FakeChain) -> None:
    huge = 2**232 - 1
    chain.mine([Ev.lot("big", huge)])
    chain.mine(
        [Ev.genealogy("g", SPLIT), Ev.consumed("g", "big", 1, huge - 1), Ev.lot("one", 1), Ev.produced("g", "one", 1)]
    )
    engine = index(dbs, chain)
    assert obj(engine, "big").quantity == huge - 1
    with Session(engine) as session:
        assert session.scalars(select(t.GenealogyEdgeRow.input_quantity)).one() == 1


def test_document_subjects_are_shipments_up_to_the_shipment_count(dbs: Databases, chain: FakeChain) -> None:
    chain.mine([Ev.item("a"), Ev.dispatch(1, 1, 2), Ev.shipped("a", 1)])
    shipment_subject = "0x" + (1).to_bytes(32, "big").hex()
    future_shipment = "0x" + (2).to_bytes(32, "big").hex()  # no shipment 2 yet: an object id, for the ledger
    cid = cid_v0(b"bill of lading")
    chain.mine([Ev.document(shipment_subject, cid, doc_type=1)], [Ev.document(oid("a"), cid)])
    chain.mine([Ev.document(future_shipment, b"\x01\x02")])
    engine = index(dbs, chain)
    with Session(engine) as session:
        d = t.DocumentRow
        rows = session.execute(
            select(d.subject_type, d.shipment_id, d.object_id, d.doc_type, d.cid, d.cid_text).order_by(
                d.block_number, d.log_index
            )
        ).all()
    text = "QmRv7UqbYDfQmxLSw9ARJqSi3GGv4RL1mk9mGkjkjsXvnN"
    assert rows[0] == ("shipment", 1, None, "BILL_OF_LADING", cid, rows[0].cid_text)
    assert rows[0].cid_text is not None and rows[0].cid_text.startswith("Qm") and len(rows[0].cid_text) == len(text)
    assert rows[1][:4] == ("object", None, oid("a"), "CERTIFICATE_OF_ANALYSIS")
    assert rows[2][:3] == ("object", None, future_shipment) and rows[2].cid_text is None  # not a CID: no text


def test_partner_accounts_locations_and_suspension(dbs: Databases, chain: FakeChain) -> None:
    old, new = "0x" + "a1" * 20, "0x" + "b1" * 20
    chain.mine([Ev.account(1, old), Ev.location(1, "0614141000005")])
    chain.mine([Ev.account(1, old, removed=True), Ev.account(1, new)])
    chain.mine([Ev.account(2, old), Ev.account(2, old, removed=True)])  # added and removed in one batch
    chain.mine([Ev.partner_active(2, False)])
    engine = index(dbs, chain, initial_range=1, max_range=1)
    with Session(engine) as session:
        a = t.PartnerAccountRow
        accounts = session.execute(
            select(a.partner_id, a.account, a.block_number, a.removed_block).order_by(a.block_number, a.log_index)
        ).all()
        partner2 = session.get(t.PartnerRow, 2)
        locations = session.scalars(select(t.PartnerLocationRow.gln)).all()
    lower = [(p, acct.lower(), b, r) for p, acct, b, r in accounts]
    assert lower == [(1, old, 2, 3), (1, new, 3, None), (2, old, 4, 4)]
    assert partner2 is not None and (partner2.active, partner2.role, partner2.status_changed_block) == (
        False,
        "DISTRIBUTOR",
        5,
    )
    assert locations == ["0614141000005"]


def test_master_data_is_split_and_odd_values_become_nulls(dbs: Databases, chain: FakeChain) -> None:
    chain.mine(
        [
            Ev.item("good", expiry=20271231),
            Ev.item("bad-urn", epc="not a urn", lot=""),
            Ev.item("bad-date", expiry=20271399),
            Ev.item("bad-utf8", epc=b"urn:epc:id:sgtin:\xff\xfe", lot=""),
            Ev.lot("LOT7", 50, unit="EA"),
            Ev.unit("pallet"),
        ]
    )
    engine = index(dbs, chain)
    good = obj(engine, "good")
    assert (good.gtin, good.serial, good.lot, good.lot_id, good.expiry_date, good.kind) == (
        "80614141123458",
        "good",
        "L1",
        oid("lot:L1"),
        dt.date(2027, 12, 31),
        "ITEM",
    )
    assert good.registered_at == dt.datetime.fromtimestamp(GENESIS_TIME + 24, dt.UTC)
    bad = obj(engine, "bad-urn")
    assert (bad.epc, bad.gtin, bad.serial, bad.lot, bad.lot_id) == ("not a urn", None, None, None, None)
    assert obj(engine, "bad-date").expiry_date is None
    assert obj(engine, "bad-utf8").epc == "urn:epc:id:sgtin:\ufffd\ufffd" and obj(engine, "bad-utf8").gtin is None
    lot = obj(engine, "LOT7")
    assert (lot.kind, lot.gtin, lot.lot, lot.quantity, lot.unit_of_measure) == (
        "LOT",
        "80614141123458",
        "LOT7",
        50,
        "EA",
    )
    assert obj(engine, "pallet").kind == "LOGISTIC_UNIT" and obj(engine, "good").epc == sgtin("good")


def test_status_history_and_recalls(dbs: Databases, chain: FakeChain) -> None:
    chain.mine([Ev.lot("L", 5)])
    chain.mine([Ev.status("L", ACTIVE, QUARANTINED, reason="check")])
    chain.mine([Ev.recall("L"), Ev.status("L", QUARANTINED, RECALLED, reason="contaminated")])
    chain.mine([Ev.batch(oid("root"), 12, cid_v0(b"batch"))])
    engine = index(dbs, chain)
    assert obj(engine, "L").status == "RECALLED"
    with Session(engine) as session:
        s = t.StatusChangeRow
        changes = session.execute(select(s.previous, s.status, s.reason).order_by(s.block_number)).all()
        recall = session.scalars(select(t.RecallRow)).one()
        batch = session.scalars(select(t.EventBatchRow)).one()
    assert [tuple(c) for c in changes] == [
        ("ACTIVE", "QUARANTINED", "check"),
        ("QUARANTINED", "RECALLED", "contaminated"),
    ]
    assert (recall.object_id, recall.reason) == (oid("L"), "contaminated")
    assert (batch.root, batch.leaf_count, batch.cid_text is not None) == (oid("root"), 12, True)
    assert history(engine, "L")[-1] == ("status_changed", 1, 1, 1, None)


def test_every_event_is_stored_raw_with_its_block_time(dbs: Databases, chain: FakeChain) -> None:
    chain.mine([Ev.item("a")])
    chain.mine([Ev.partner(4, "ignored-by-relay")], contract=chain.relay)
    engine = index(dbs, chain)
    with Session(engine) as session:
        rows = session.scalars(select(t.EventRow).order_by(t.EventRow.block_number, t.EventRow.log_index)).all()
    assert [(r.event, r.block_number, r.contract == chain.relay) for r in rows] == [
        ("PartnerRegistered", 1, False),
        ("PartnerRegistered", 1, False),
        ("PartnerRegistered", 1, False),
        ("ItemRegistered", 2, False),
        ("PartnerRegistered", 3, True),
    ]
    assert rows[3].args["object_id"] == oid("a") and rows[3].args["epc"] == sgtin("a")
    assert rows[3].block_time == dt.datetime.fromtimestamp(GENESIS_TIME + 24, dt.UTC)
