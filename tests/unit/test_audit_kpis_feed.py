"""KPIs, the live feed's polling, the integrity comparison and the DSCSA history over an indexed
in-memory chain (the supply chain of test_audit_exports), on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from chain_client.models import CustodyView, ObjectKind, Status
from gateway.audit import dscsa, feed, integrity, kpis
from gateway.audit.errors import AuditInvalidQuery, AuditNotFound
from gateway.indexer import tables as t
from gateway.indexer.indexer import Indexer
from gateway.partner.tables import SubmissionRow
from tests.unit.test_audit_exports import DISTRIBUTOR, MAKER, PHARMACY, supply_chain
from tests.unit.test_indexer_support import BACKENDS, LEDGER, Databases, FakeChain, databases, oid


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


def at(chain: FakeChain, block: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(chain.blocks[block].timestamp, dt.UTC)


# ------------------------------------------------------------------------------------------ KPIs


def submission(partner: int, operation: str, status: str, created: dt.datetime) -> SubmissionRow:
    return SubmissionRow(
        id=str(uuid.uuid4()), partner_id=partner, operation=operation, request={}, request_hash="0" * 64,
        mode="custodial", signer="0x" + "00" * 20, call_data="0x", status=status, created_at=created,
        updated_at=created,
    )  # fmt: skip


def test_kpis_of_the_supply_chain(dbs: Databases) -> None:
    engine, chain, b = indexed(dbs)
    now = at(chain, b["release"]) + dt.timedelta(seconds=1)
    with Session(engine) as session, session.begin():
        session.add_all([
            submission(MAKER, "ship", "confirmed", now - dt.timedelta(hours=2)),
            submission(MAKER, "ship", "failed", now - dt.timedelta(hours=2)),
            submission(MAKER, "cancel_shipment", "confirmed", now - dt.timedelta(hours=2)),
            submission(DISTRIBUTOR, "receive", "confirmed", now - dt.timedelta(hours=2)),
            submission(DISTRIBUTOR, "receive", "pending", now - dt.timedelta(hours=2)),  # not finished: not counted
            submission(DISTRIBUTOR, "receive", "failed", now - dt.timedelta(days=3)),  # before the period
        ])  # fmt: skip
    times = kpis.ResponseTimes()
    times.record("trace", 0.5, now - dt.timedelta(minutes=5))
    times.record("recall_scope", 1.5, now - dt.timedelta(minutes=1))
    times.record("trace", 9.0, now - dt.timedelta(days=2))  # before the period
    since = now - dt.timedelta(days=1)
    with Session(engine) as session:
        found = {k.name: k for k in kpis.compute_kpis(session, times, since, now, visibility_days=1)}
        # lotA was at its registrant's when recalled, and so was lotB made from it: resolved at once
        recall = found["recall_completion_time"]
        assert (recall.numerator, recall.denominator, recall.value) == (0.0, 1, 0.0)
        assert recall.details["recalls"][0]["affected"] == 2  # lotA and lotB made from it
        empty = {k.name: k for k in kpis.compute_kpis(session, kpis.ResponseTimes(), now, now + dt.timedelta(1))}
    rt = found["traceability_response_time"]
    assert (rt.numerator, rt.denominator, rt.value) == (2.0, 2, 1.0)
    accuracy = found["data_accuracy"]
    assert (accuracy.numerator, accuracy.denominator, accuracy.value) == (2, 4, 0.5)
    assert accuracy.details["by_partner"] == {"1": {"finished": 3, "failed": 1, "corrections": 1},
                                              "2": {"finished": 1, "failed": 0, "corrections": 0}}  # fmt: skip
    scans = found["scanning_compliance"]
    assert (scans.numerator, scans.denominator, scans.value) == (1, 1, 1.0)
    visibility = found["visibility_coverage"]  # every object moved within the last day
    assert (visibility.numerator, visibility.denominator) == (6, 6)
    assert all(k.definition for k in found.values())
    assert (empty["traceability_response_time"].value, empty["scanning_compliance"].value) == (None, None)
    assert empty["recall_completion_time"].denominator == 0


def test_visibility_counts_objects_by_their_last_event_before_until(dbs: Databases) -> None:
    engine, chain, b = indexed(dbs)
    until = at(chain, b["status"])  # events of that block and later are not seen yet
    days = (until - at(chain, b["recall"])).total_seconds() / 86400
    with Session(engine) as session:
        found = {k.name: k for k in kpis.compute_kpis(session, kpis.ResponseTimes(), None, until, days)}
    # registered before `until`: i1 i2 i3 lotA case lotB; seen since the recall block: lotA only
    assert (found["visibility_coverage"].numerator, found["visibility_coverage"].denominator) == (1, 6)


def test_a_recall_completes_when_the_last_affected_object_is_quarantined_or_returned(dbs: Databases) -> None:
    from tests.unit.test_indexer_support import Ev

    chain = FakeChain()
    chain.mine([Ev.partner(1, "maker"), Ev.partner(2, "distributor", 1)])
    x, y = Ev.item("x", lot="L9"), Ev.item("y", lot="L9")
    x[1]["lot_id"] = y[1]["lot_id"] = oid("lot")  # items of the lot
    chain.mine([Ev.lot("lot", 10)], [x, y])
    chain.mine([Ev.transferred("lot", 1, 2), Ev.transferred("x", 1, 2), Ev.transferred("y", 1, 2)])
    chain.mine([Ev.recall("lot"), Ev.status("lot", 0, 3)])  # block 4
    chain.mine([Ev.status("x", 0, 2, partner=2)])  # quarantined
    chain.mine([Ev.transferred("y", 2, 1)])  # returned
    engine = dbs.new("recall")
    Indexer(engine, chain, LEDGER).sync_once()

    def recall_kpi(until: dt.datetime) -> kpis.Kpi:
        with Session(engine) as session:
            return kpis.compute_kpis(session, kpis.ResponseTimes(), None, until)[1]

    assert recall_kpi(at(chain, 6) + dt.timedelta(seconds=1)).details["recalls"][0]["unresolved"] == [oid("lot")]
    chain.mine([Ev.transferred("lot", 2, 1)])  # block 7: the lot comes back too
    Indexer(engine, chain, LEDGER).sync_once()
    recall = recall_kpi(at(chain, 7) + dt.timedelta(seconds=1))
    seconds = (at(chain, 7) - at(chain, 4)).total_seconds()
    assert (recall.numerator, recall.denominator, recall.value) == (seconds, 1, seconds)
    assert (recall.details["recalls"][0]["resolved"], recall.details["recalls"][0]["affected"]) == (3, 3)


def test_response_times_measure_a_block_and_keep_a_rolling_window() -> None:
    times = kpis.ResponseTimes(size=2)
    with times.measure("fsma204"):
        pass
    times.record("trace", 1.0)
    times.record("trace", 2.0)
    later = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1)
    assert [(kind, seconds) for _, kind, seconds in times.between(None, later)] == [("trace", 1.0), ("trace", 2.0)]


# ------------------------------------------------------------------------------------------ feed


def test_feed_polls_after_a_cursor_with_object_and_partner_filters(dbs: Databases) -> None:
    engine, _, b = indexed(dbs)
    with Session(engine) as session:
        everything, cursor = feed.poll(session, (-1, -1), feed.FeedFilter(), limit=10_000)
        assert cursor == feed.head_position(session) == (everything[-1].block_number, everything[-1].log_index)
        first, cursor_a = feed.poll(session, (-1, -1), feed.FeedFilter(), limit=5)
        rest, _ = feed.poll(session, cursor_a, feed.FeedFilter(), limit=10_000)
        assert [e.id for e in first + rest] == [e.id for e in everything]
        i1, _ = feed.poll(session, (-1, -1), feed.FeedFilter(object_id=oid("i1")), limit=10_000)
        # named by the event, or moved inside the case (the case's shipment and receipt)
        assert [(e.event, e.block_number) for e in i1] == [
            ("ItemRegistered", b["register"]), ("ObjectPacked", b["pack"]), ("ObjectShipped", b["ship"]),
            ("ObjectReceived", b["receive"]), ("OwnershipTransferred", b["receive"]), ("StatusChanged", b["status"]),
            ("ObjectUnpacked", b["unpack"]), ("StatusChanged", b["release"]),
        ]  # fmt: skip
        pharmacy, _ = feed.poll(session, (-1, -1), feed.FeedFilter(partner_id=PHARMACY), limit=10_000)
        assert [e.event for e in pharmacy] == ["PartnerRegistered", "PartnerLocationAdded"]
        distributor, _ = feed.poll(session, (b["ship"], 0), feed.FeedFilter(partner_id=DISTRIBUTOR), limit=10_000)
        assert [e.event for e in distributor][:3] == ["ObjectShipped", "ObjectReceived", "OwnershipTransferred"]
        nothing, same = feed.poll(session, cursor, feed.FeedFilter())
        assert (nothing, same) == ([], cursor)
    payload = i1[0].payload()
    assert payload["id"] == f"{b['register']}-0" and payload["args"]["object_id"] == oid("i1")
    assert i1[0].sse("{}").startswith(f"id: {b['register']}-0\nevent: ledger\n".encode())


@pytest.mark.parametrize("value", ["", "12", "a-b", "1-2-3", "-1-0"])
def test_bad_feed_cursors(value: str) -> None:
    with pytest.raises(AuditInvalidQuery) as caught:
        feed.parse_cursor(value)
    assert caught.value.code == "feed.invalid_last_event_id"


# ------------------------------------------------------------------------------------------ integrity


class FakeLedger:
    """The chain as the index says it is, with overrides: a ChainView for the comparison."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.overrides: dict[str, dict[str, Any]] = {}
        self.anchored: dict[str, int] = {}

    def custody_of(self, object_id: str) -> CustodyView:
        with Session(self.engine) as session:
            row = session.get(t.ObjectRow, object_id)
            assert row is not None
            values = dict(
                object_id=object_id, kind=ObjectKind[row.kind], status=Status[row.status], custodian=row.custodian,
                owner=row.owner, pending_receiver=0, shipment_id=row.shipment_id or 0, registrant=row.registrant,
                expiry_date=row.expiry_date, registered_at=row.registered_at.replace(tzinfo=dt.UTC)
                if row.registered_at.tzinfo is None else row.registered_at, parent=row.parent_id, root=row.root_id,
                lot=row.lot_id, quantity=row.quantity or 0, unit_of_measure=row.unit_of_measure or "",
            )  # fmt: skip
        values.update(self.overrides.get(object_id, {}))
        return CustodyView(**values)

    def document_anchored_at(self, document_id: str) -> int:
        return self.anchored.get(document_id, 0)


def test_integrity_reports_every_difference_and_document_problem(dbs: Databases) -> None:
    engine, _, _ = indexed(dbs)
    ledger = FakeLedger(engine)
    sessions = sessionmaker(engine)
    report = integrity.audit_integrity(sessions, ledger, None)
    assert report.ok and (report.objects_checked, report.objects_total, report.documents_checked) == (6, 6, 0)
    ledger.overrides[oid("i1")] = {"custodian": PHARMACY, "status": Status.RECALLED}
    catch_ups: list[int] = []
    report = integrity.audit_integrity(sessions, ledger, None, sample=6, catch_up=lambda: catch_ups.append(1) or 9)
    assert [(d.object_id, d.field, d.indexed, d.chain) for d in report.differences] == [
        (oid("i1"), "status", "ACTIVE", "RECALLED"), (oid("i1"), "custodian", DISTRIBUTOR, PHARMACY),
    ]  # fmt: skip
    assert len(catch_ups) == 2 and report.indexed_block == 9  # once at the start, once before confirming
    sample = integrity.audit_integrity(sessions, ledger, None, sample=2)
    assert sample.objects_checked == 2 and sample.objects_total == 6


def test_integrity_checks_anchors_and_bytes_of_documents(dbs: Databases) -> None:
    from tests.unit.test_indexer_support import Ev, cid_v0

    chain = FakeChain()
    chain.mine([Ev.partner(1, "maker")])
    chain.mine([Ev.item("i")])
    chain.mine([Ev.document(oid("i"), cid_v0(b"good"))], [Ev.document(oid("i"), cid_v0(b"bad"))])
    engine = dbs.new("docs")
    Indexer(engine, chain, LEDGER).sync_once()
    ledger = FakeLedger(engine)
    with Session(engine) as session:
        docs = list(session.scalars(select(t.DocumentRow)))
    good, bad = sorted(docs, key=lambda d: d.log_index)
    ledger.anchored[good.document_id] = int(chain.blocks[3].timestamp)  # the bad one is not on chain

    def verify(cid: str, /) -> tuple[integrity.DocumentState, str | None]:
        return ("ok", None) if cid == good.cid_text else ("tampered", "block does not hash to its CID")

    report = integrity.audit_integrity(sessionmaker(engine), ledger, verify)
    assert [(p.document_id, p.state) for p in report.documents] == [
        (bad.document_id, "not_anchored"), (bad.document_id, "tampered"),
    ]  # fmt: skip
    assert report.as_dict()["tampered_documents"] == 1 and not report.ok


# ------------------------------------------------------------------------------------------ DSCSA


def test_dscsa_history_of_an_item_and_of_a_lot(dbs: Databases) -> None:
    engine, chain, b = indexed(dbs)
    with Session(engine) as session:
        key = dscsa.parse_product("80614141123458", None, "i1")
        history = dscsa.transaction_history(session, key)
        lot = dscsa.transaction_history(session, dscsa.parse_product("80614141123458", "LA", None))
        hand_over = dscsa.transaction_history(session, dscsa.parse_product("80614141123458", None, "i3"))
        with pytest.raises(AuditNotFound):
            dscsa.transaction_history(session, dscsa.parse_product("80614141123458", None, "nope"))
    assert (history["product"]["lot"], history["product"]["expiry_date"]) == ("LA", "2031-03-31")
    [shipment] = history["transactions"]
    assert (shipment["shipment_id"], shipment["status"], shipment["transaction"], shipment["quantity"]) == (
        1, "received", True, 1,
    )  # fmt: skip
    assert shipment["sender"]["business_name"] == "Maker Inc" and shipment["receiver"]["gln"] == "0614141000029"
    assert shipment["transaction_date"] == at(chain, b["receive"]).isoformat()
    assert [e["quantity"] for e in lot["transactions"]] == [2]
    assert [(e["kind"], e["transaction"]) for e in hand_over["transactions"]] == [
        ("custody_transfer", False), ("ownership_transfer", True),
    ]  # fmt: skip
    rows = dscsa.csv_rows(history)
    assert rows[0]["sender_name"] == "Maker Inc" and rows[0]["serial"] == "i1" and rows[0]["sender_address"] is None


@pytest.mark.parametrize(
    ("gtin", "lot", "serial", "code"),
    [
        (None, "L1", None, "dscsa.gtin_required"),
        ("80614141123457", "L1", None, "dscsa.invalid_gtin"),
        ("80614141123458", None, None, "dscsa.lot_or_serial"),
        ("80614141123458", "L1", "S1", "dscsa.lot_or_serial"),
    ],
)
def test_bad_product_keys(gtin: str | None, lot: str | None, serial: str | None, code: str) -> None:
    with pytest.raises(AuditInvalidQuery) as caught:
        dscsa.parse_product(gtin, lot, serial)
    assert caught.value.code == code


def test_ndc_only_where_the_gtin_embeds_one() -> None:
    assert dscsa.ndc_of("00312345678906") == "1234567890"
    assert dscsa.ndc_of("80614141123458") is None


def test_routes_record_their_duration_with_the_dependency() -> None:
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    from gateway.api.routes.audit_exports import record_duration, response_times

    app = FastAPI()

    @app.get("/trace", dependencies=[record_duration("trace")])
    def trace() -> dict[str, str]:
        return {"ok": "yes"}

    with TestClient(app) as client:
        assert client.get("/trace").status_code == 200
        assert client.get("/trace").status_code == 200
    later = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1)
    assert [kind for _, kind, _ in response_times(app).between(None, later)] == ["trace", "trace"]
