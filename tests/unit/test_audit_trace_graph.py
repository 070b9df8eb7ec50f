"""Trace and recall queries on a synthetic event stream (no node), on SQLite and PostgreSQL:
frontiers wider than one IN (...) chunk, diamonds (shortest depth wins), lots that were never
registered, time windows on block times, and containment that opened and closed."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from gateway.audit import trace
from gateway.audit.custody import chain_of_custody
from gateway.audit.recall import recall_scope
from gateway.audit.report_html import render_custody_report
from gateway.audit.trace import backward_trace, forward_trace
from gateway.indexer.indexer import Indexer
from tests.unit.test_indexer_support import (
    BACKENDS,
    GENESIS_TIME,
    LEDGER,
    Ev,
    FakeChain,
    databases,
    oid,
    pg_index_definition,
    sqlite_query_plan,
)

SMALL_CHUNK = 100  # the tests shrink the IN (...) chunks, so a frontier spans several of them
WIDE = SMALL_CHUNK * 2 + 37  # items of the big lot: three chunks per level
SPLIT, MERGE, TRANSFORM = 0, 1, 2
ACTIVE, DECOMMISSIONED = 0, 6  # statuses; the contract decommissions an item it consumes


def block_time(number: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(GENESIS_TIME + 12 * number, dt.UTC)


def build(chain: FakeChain) -> None:
    """lot:BIG (WIDE items, packed in two cases on a pallet) split into s1, s2; s1 + s2 merged into m;
    m and item 0 transformed into t (which decommissions item 0, as the contract does); an item of a
    lot nobody registered."""
    chain.mine([Ev.partner(1, "maker <b>&</b>"), Ev.partner(2, "distributor"), Ev.location(1, "0614141000005")])
    chain.mine([Ev.lot("lot:BIG", 1000)])  # block 2
    chain.mine([Ev.item(f"i{k}", lot="BIG") for k in range(WIDE)])  # block 3
    chain.mine([Ev.unit("case1"), Ev.unit("case2"), Ev.unit("pallet"), Ev.item("stray", lot="NOBODY")])  # 4
    chain.mine(  # block 5: half the items in case1, the rest in case2, both cases on the pallet
        [Ev.pack(f"i{k}", "case1") for k in range(WIDE // 2)],
        [Ev.pack(f"i{k}", "case2") for k in range(WIDE // 2, WIDE)],
        [Ev.pack("case1", "pallet"), Ev.pack("case2", "pallet")],
    )
    chain.mine(  # block 6: split
        [Ev.genealogy("g1", SPLIT), Ev.consumed("g1", "lot:BIG", 600, 400), Ev.lot("s1", 300),
         Ev.produced("g1", "s1", 300), Ev.lot("s2", 300), Ev.produced("g1", "s2", 300)]
    )  # fmt: skip
    chain.mine(  # block 7: merge (a diamond: m is reached from lot:BIG through s1 and through s2)
        [Ev.genealogy("g2", MERGE), Ev.consumed("g2", "s1", 300, 0), Ev.consumed("g2", "s2", 300, 0),
         Ev.lot("m", 600), Ev.produced("g2", "m", 600)]
    )  # fmt: skip
    chain.mine([Ev.unpack("case2", "pallet")])  # block 8
    chain.mine(  # block 9: transform m and an item of the big lot into t
        [Ev.genealogy("g3", TRANSFORM), Ev.consumed("g3", "m", 10, 590), Ev.consumed("g3", "i0", 1, 0),
         Ev.status("i0", ACTIVE, DECOMMISSIONED, reason="consumed"), Ev.lot("t", 5), Ev.produced("g3", "t", 5)]
    )  # fmt: skip
    chain.mine([Ev.dispatch(1, 1, 2, 1), Ev.shipped("pallet", 1)])  # block 10
    chain.mine([Ev.received("pallet", 1, 2, "0614141000005")])  # block 11


@pytest.fixture(autouse=True)
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(trace, "CHUNK", SMALL_CHUNK)


@pytest.fixture(scope="module", params=BACKENDS)
def engine(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    path: Path = tmp_path_factory.mktemp("trace")
    with databases(request.param, path) as dbs:
        chain = FakeChain()
        build(chain)
        engine = dbs.new("trace")
        Indexer(engine, chain, LEDGER).sync_once()
        yield engine


def named(ids: set[str], *names: str) -> set[str]:
    wanted = {oid(n): n for n in names}
    return {wanted.get(i, i) for i in ids}


def test_forward_trace_over_more_than_one_chunk(engine: Engine) -> None:
    with Session(engine) as session:
        result = forward_trace(session, oid("lot:BIG"))
    depths = {o.object_id: o.depth for o in result.objects}
    items = {oid(f"i{k}") for k in range(WIDE)}
    assert set(depths) == {oid(n) for n in ("lot:BIG", "s1", "s2", "m", "t", "case1", "case2", "pallet")} | items
    assert depths[oid("lot:BIG")] == 0 and {depths[i] for i in items} == {1}
    assert (depths[oid("s1")], depths[oid("m")], depths[oid("case1")], depths[oid("pallet")]) == (1, 2, 2, 3)
    assert depths[oid("t")] == 2  # through i0 (transform input) before through m (depth 3)
    relations = [e.relation for e in result.edges]
    assert relations.count("lot_member") == WIDE and relations.count("packed_in") == WIDE + 2
    assert (relations.count("split"), relations.count("merge"), relations.count("transform")) == (2, 2, 2)
    assert [p.name for p in result.partners] == ["maker <b>&</b>", "distributor"]
    assert [(loc.gln, loc.partner_id) for loc in result.locations] == [("0614141000005", 1)]


def test_backward_trace_of_the_transformed_lot(engine: Engine) -> None:
    with Session(engine) as session:
        result = backward_trace(session, oid("t"))
        stray = backward_trace(session, oid("stray"))
    depths = {o.object_id: o.depth for o in result.objects}
    # t <- m, i0; m <- s1, s2; i0 <- lot:BIG (and was packed in case1 <- pallet); s1, s2 <- lot:BIG
    assert named(set(depths), "t", "m", "i0", "s1", "s2", "lot:BIG", "case1", "pallet") == {
        "t", "m", "i0", "s1", "s2", "lot:BIG", "case1", "pallet",
    }  # fmt: skip
    assert (depths[oid("lot:BIG")], depths[oid("s1")], depths[oid("pallet")]) == (2, 2, 3)
    assert {o.object_id for o in stray.objects} == {oid("stray")} and stray.edges == []  # its lot was never registered


def test_depth_and_time_window(engine: Engine) -> None:
    with Session(engine) as session:
        shallow = forward_trace(session, oid("lot:BIG"), max_depth=1)
        root_only = forward_trace(session, oid("lot:BIG"), max_depth=0)
        before_split = forward_trace(session, oid("lot:BIG"), until=block_time(5))
        after_unpack = backward_trace(session, oid(f"i{WIDE - 1}"), since=block_time(9))
    assert len(shallow.objects) == 1 + WIDE + 2  # the items and the two split outputs
    assert [o.object_id for o in root_only.objects] == [oid("lot:BIG")] and root_only.edges == []
    assert {o.object_id for o in before_split.objects} >= {oid("case1"), oid("pallet")}
    assert oid("s1") not in {o.object_id for o in before_split.objects}
    # case2 left the pallet in block 8: from block 9 on the item was in case2 only
    assert {o.object_id for o in after_unpack.objects} == {oid(f"i{WIDE - 1}"), oid("case2")}
    assert after_unpack.partners == []  # case2 was not on the pallet when it was shipped: no custody row since


def test_recall_scope_takes_in_the_pallet_and_what_is_packed_with_the_goods(engine: Engine) -> None:
    with Session(engine) as session:
        scope = recall_scope(session, [oid("s1")])
        items = recall_scope(session, [oid("i1")])
    assert scope.ids("subject") == {oid("s1"), oid("m"), oid("t")}
    assert scope.ids("container", "co_packed") == set()  # lots are not packed here
    # i1 is in case1 on the pallet: the pallet and case1 hold it; everything else in case1 is co-packed
    assert items.ids("subject") == {oid("i1")}
    assert items.ids("container") == {oid("case1"), oid("pallet")}
    assert items.ids("co_packed") == {oid(f"i{k}") for k in range(WIDE // 2) if k != 1}
    assert [(h.partner.partner_id, len(h.holding)) for h in items.holdings] == [(2, 2 + WIDE // 2)]


def test_custody_report_escapes_ledger_text(engine: Engine) -> None:
    with Session(engine) as session:
        chain = chain_of_custody(session, oid("i3"))
    assert [e.event for e in chain.events] == ["registered", "packed", "shipped", "received"]
    html = render_custody_report(chain)
    assert "maker &lt;b&gt;&amp;&lt;/b&gt;" in html and "<b>" not in html
    assert "<script" not in html and "http" not in html.replace("http-equiv", "")


def test_holders_are_read_from_the_own_rows_index_alone(engine: Engine) -> None:
    """The trace reads its holders from the partial index of the objects' own history rows; the rows
    a container's events gave what was packed in it are not in that index (the pallet's shipment
    gave a row to each case and item on it)."""
    with Session(engine) as session:
        ids_from, _ = trace._id_set(session, ())
    sql = trace._holders_query(ids_from, "", own=True)  # the statement the trace runs, without a window
    with engine.connect() as connection:
        copies = connection.exec_driver_sql(
            "SELECT count(*) FROM idx_custody_history WHERE container_id IS NOT NULL AND event = 'shipped'"
        ).scalar_one()
        if engine.dialect.name == "sqlite":
            plan = sqlite_query_plan(connection, sql, "[]")
            assert "USING COVERING INDEX ix_idx_custody_history_own_holders" in plan, plan
        else:
            definition = pg_index_definition(connection, "ix_idx_custody_history_own_holders")
            assert "WHERE ((container_id IS NULL) OR" in definition, definition
    assert copies == WIDE // 2 + 1  # case1 and its items were on the pallet when it shipped
