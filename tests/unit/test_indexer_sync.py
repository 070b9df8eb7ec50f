"""The indexer on an in-memory chain: checkpoints, idempotency, confirmations, reorgs, retries."""

from __future__ import annotations

import contextlib
import threading
import time
import weakref
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session

from gateway.indexer import indexer as indexer_module
from gateway.indexer import tables as t
from gateway.indexer.compare import compare_databases
from gateway.indexer.errors import ChainChangedDuringFetch, ForeignDatabase, IndexerError, RpcError
from gateway.indexer.indexer import Indexer, IndexerConfig
from gateway.indexer.maintenance import rebuild
from gateway.indexer.rows import RowBuffer
from gateway.indexer.state import WorkingSet
from tests.unit.test_indexer_support import (
    BACKENDS,
    LEDGER,
    Databases,
    Ev,
    FakeChain,
    cid_v0,
    databases,
    oid,
    snapshot,
)

ACTIVE, IN_TRANSIT, QUARANTINED, DECOMMISSIONED = 0, 1, 2, 6


@pytest.fixture(params=BACKENDS)
def dbs(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Databases]:
    with databases(request.param, tmp_path) as d:
        yield d


def network(chain: FakeChain) -> None:
    """Partners 1 (maker) and 2 (distributor), then a few objects moving between them."""
    chain.mine([Ev.partner(1, "maker"), Ev.account(1, "0x" + "a1" * 20), Ev.location(1, "0614141000005")])
    chain.mine([Ev.partner(2, "distributor", 1), Ev.account(2, "0x" + "a2" * 20)])
    chain.mine([Ev.item("i1"), Ev.item("i2"), Ev.unit("case"), Ev.lot("lotA", 100)])
    chain.mine([Ev.pack("i1", "case"), Ev.pack("i2", "case")])
    chain.mine([Ev.dispatch(1, 1, 2), Ev.shipped("case", 1)])


def diff(live: Engine, rebuilt: Engine) -> list[str]:
    return [str(d) for d in compare_databases(live, rebuilt)]


def rebuilt(dbs: Databases, chain: FakeChain, name: str = "rebuilt") -> Engine:
    engine = dbs.new(name)
    rebuild(engine, chain, LEDGER)
    return engine


def objects(engine: Engine) -> dict[str, t.ObjectRow]:
    with Session(engine) as session:
        return {o.object_id: o for o in session.scalars(select(t.ObjectRow))}


# ------------------------------------------------------------------------------------------ basics


def test_sync_indexes_every_block_and_stores_the_checkpoint(dbs: Databases) -> None:
    chain = FakeChain()
    network(chain)
    engine = dbs.new("live")
    report = Indexer(engine, chain, LEDGER).sync_once()
    assert (report.from_block, report.to_block, report.events) == (0, 5, 13)
    cp = Indexer(engine, chain, LEDGER).checkpoint()
    assert (cp.last_block, cp.last_block_hash) == (5, chain.blocks[5].hash)
    rows = objects(engine)
    assert {rows[oid(n)].status for n in ("i1", "i2", "case")} == {"IN_TRANSIT"}
    assert rows[oid("lotA")].status == "ACTIVE" and rows[oid("lotA")].quantity == 100


def test_indexing_a_range_again_changes_nothing(dbs: Databases) -> None:
    chain = FakeChain()
    network(chain)
    engine = dbs.new("live")
    indexer = Indexer(engine, chain, LEDGER)
    indexer.sync_once()
    before = snapshot(engine)
    assert indexer.index_range(0, 5) == (13, 0)  # 13 logs read, none new
    assert indexer.index_range(3, 4) == (6, 0)
    assert snapshot(engine) == before


def test_a_new_indexer_resumes_from_the_checkpoint(dbs: Databases) -> None:
    chain = FakeChain()
    network(chain)
    engine = dbs.new("live")
    Indexer(engine, chain, LEDGER).sync_once(to_block=3)
    chain.mine([Ev.received("case", 1, 2)])
    report = Indexer(engine, chain, LEDGER).sync_once()  # as after a restart
    assert (report.from_block, report.to_block, report.events) == (4, 6, 5)
    assert diff(engine, rebuilt(dbs, chain)) == []


def test_only_confirmed_blocks_are_indexed(dbs: Databases) -> None:
    chain = FakeChain()
    network(chain)
    engine = dbs.new("live")
    indexer = Indexer(engine, chain, LEDGER, config=IndexerConfig(confirmations=2))
    assert indexer.sync_once().to_block == 3
    assert oid("case") in objects(engine) and objects(engine)[oid("case")].status == "ACTIVE"  # not shipped yet
    chain.mine_empty(2)
    assert indexer.sync_once().to_block == 5
    assert objects(engine)[oid("case")].status == "IN_TRANSIT"


def test_a_database_models_one_ledger(dbs: Databases) -> None:
    chain = FakeChain()
    engine = dbs.new("live")
    Indexer(engine, chain, LEDGER)
    with pytest.raises(ForeignDatabase, match="one database models one ledger"):
        Indexer(engine, chain, "0x" + "99" * 20)
    with pytest.raises(ForeignDatabase):
        Indexer(engine, FakeChain(chain_id=1), LEDGER)


def test_a_range_that_would_leave_a_gap_is_refused(dbs: Databases) -> None:
    chain = FakeChain()
    network(chain)
    indexer = Indexer(dbs.new("live"), chain, LEDGER)
    with pytest.raises(IndexerError, match="unindexed"):
        indexer.index_range(2, 5)
    assert indexer.checkpoint().last_block == -1


def test_start_block_skips_earlier_blocks(dbs: Databases) -> None:
    chain = FakeChain()
    chain.mine([Ev.partner(9)])  # before the "deployment"
    network(chain)
    engine = dbs.new("live")
    report = Indexer(engine, chain, LEDGER, config=IndexerConfig(start_block=2)).sync_once()
    assert report.from_block == 2
    with Session(engine) as session:
        assert sorted(session.scalars(select(t.PartnerRow.partner_id))) == [1, 2]


# ------------------------------------------------------------------------------------------ reorgs


def fork_events(chain: FakeChain) -> None:
    """A fork that changes rows created before it: receipt, unpack, status, accounts, documents."""
    chain.mine([Ev.received("case", 1, 2)], [Ev.unpack("i1", "case", 2)])
    chain.mine([Ev.status("i2", ACTIVE, QUARANTINED, 2)], [Ev.account(1, "0x" + "a1" * 20, removed=True)])
    chain.mine([Ev.partner_active(2, False)], [Ev.document(oid("i1"), cid_v0(b"coa"))])


def test_a_reorg_at_the_tip_is_rolled_back_by_the_undo_log(dbs: Databases) -> None:
    chain = FakeChain()
    network(chain)
    fork_events(chain)
    engine = dbs.new("live")
    indexer = Indexer(engine, chain, LEDGER)
    indexer.sync_once()
    chain.rewind(5)  # blocks 6-8 vanish ...
    chain.mine([Ev.cancelled("case", 1, 1)])  # ... and another history replaces them
    chain.mine([Ev.item("i3")], [Ev.pack("i3", "case")])
    report = indexer.sync_once()
    assert (report.rolled_back_to, report.rollback, report.to_block) == (5, "undo", 7)
    assert diff(engine, rebuilt(dbs, chain)) == []
    rows = objects(engine)
    assert (rows[oid("i1")].parent_id, rows[oid("i1")].custodian) == (oid("case"), 1)
    assert rows[oid("i3")].root_id == oid("case")


def test_a_reorg_deeper_than_the_undo_window_is_rolled_back_by_replaying_events(dbs: Databases) -> None:
    chain = FakeChain()
    network(chain)
    fork_events(chain)
    engine = dbs.new("live")
    indexer = Indexer(engine, chain, LEDGER, config=IndexerConfig(undo_window=1, initial_range=1))
    indexer.sync_once()
    assert indexer.checkpoint().undo_floor == 7
    chain.rewind(4)
    chain.mine([Ev.dispatch(1, 1, 2), Ev.shipped("lotA", 1)])
    report = indexer.sync_once()
    assert (report.rolled_back_to, report.rollback) == (4, "replay")
    assert diff(engine, rebuilt(dbs, chain)) == []


def test_finalized_blocks_get_no_undo_entries(dbs: Databases) -> None:
    """Undo entries are kept only above the block the node reports finalized (within the window);
    should a development node reorganise a finalized block anyway, the replay rolls it back exactly."""
    chain = FakeChain()
    network(chain)
    fork_events(chain)  # blocks 6-8 change rows created before them
    chain.finalized_block = 6
    engine = dbs.new("live")
    indexer = Indexer(engine, chain, LEDGER)
    indexer.sync_once()
    with Session(engine) as session:
        undo_blocks = set(session.scalars(select(t.UndoRow.block_number)))
    assert undo_blocks == {7, 8} and indexer.checkpoint().undo_floor == 6
    chain.rewind(5)  # below the finalized block
    chain.mine([Ev.cancelled("case", 1, 1)])
    report = indexer.sync_once()
    assert (report.rolled_back_to, report.rollback) == (5, "replay")
    assert diff(engine, rebuilt(dbs, chain)) == []
    chain.finalized_block = None  # a chain without the tag: the window alone decides
    chain.mine([Ev.status("i2", ACTIVE, QUARANTINED, 2)])
    indexer.sync_once()
    with Session(engine) as session:
        assert set(session.scalars(select(t.UndoRow.block_number))) == {chain.head_block.number}


def test_a_reorg_below_the_first_indexed_block_empties_the_model(dbs: Databases) -> None:
    chain = FakeChain()
    network(chain)
    engine = dbs.new("live")
    indexer = Indexer(engine, chain, LEDGER)
    indexer.sync_once()
    chain.rewind(0)
    chain.mine([Ev.partner(7, "other")])
    report = indexer.sync_once()
    assert report.rolled_back_to == -1
    assert diff(engine, rebuilt(dbs, chain)) == []


def test_a_node_that_went_back_in_time_is_detected(dbs: Databases) -> None:
    """As after evm_revert: the checkpoint block does not exist any more."""
    chain = FakeChain()
    network(chain)
    engine = dbs.new("live")
    indexer = Indexer(engine, chain, LEDGER)
    indexer.sync_once()
    chain.rewind(3)
    report = indexer.sync_once()
    assert (report.rolled_back_to, report.to_block) == (3, 3)
    assert diff(engine, rebuilt(dbs, chain)) == []


def test_a_reorg_while_a_range_is_read_is_retried(dbs: Databases) -> None:
    chain = FakeChain()
    network(chain)
    engine = dbs.new("live")

    def reorg(c: FakeChain) -> None:
        c.rewind(4)
        c.mine([Ev.status("i1", ACTIVE, QUARANTINED)])

    chain.before_logs = reorg
    Indexer(engine, chain, LEDGER).sync_once()
    assert chain.before_logs is None  # the hook ran
    assert diff(engine, rebuilt(dbs, chain)) == []


def test_a_range_read_on_a_stale_fork_is_not_applied(dbs: Databases) -> None:
    """The link check: a range must start on the block the checkpoint names."""
    chain = FakeChain()
    network(chain)
    engine = dbs.new("live")
    indexer = Indexer(engine, chain, LEDGER)
    indexer.sync_once(to_block=3)
    chain.rewind(2)
    chain.mine_empty(3)
    with pytest.raises(ChainChangedDuringFetch, match="does not extend"):
        indexer.index_range(4, 5)
    assert indexer.checkpoint().last_block == 3
    indexer.sync_once()
    assert diff(engine, rebuilt(dbs, chain)) == []


# ------------------------------------------------------------------------------------------ ranges and failures


def test_refused_ranges_shrink_until_the_node_answers(dbs: Databases) -> None:
    chain = FakeChain()
    network(chain)
    chain.refuse_over = 2
    engine = dbs.new("live")
    indexer = Indexer(engine, chain, LEDGER, config=IndexerConfig(initial_range=100))
    assert indexer.sync_once().to_block == 5
    assert chain.calls["logs"] > len(chain.answered)  # some ranges were refused ...
    assert max(last - first + 1 for first, last in chain.answered) <= 2  # ... and smaller ones served
    chain.refuse_over = None
    assert diff(engine, rebuilt(dbs, chain)) == []


def test_a_node_refusing_single_blocks_is_an_error(dbs: Databases) -> None:
    chain = FakeChain()
    network(chain)
    chain.refuse_over = 0
    with pytest.raises(RpcError, match="more than 10000 results"):
        Indexer(dbs.new("live"), chain, LEDGER).sync_once()


def test_a_failing_batch_leaves_the_model_and_checkpoint_untouched(dbs: Databases) -> None:
    chain = FakeChain()
    network(chain)
    engine = dbs.new("live")
    indexer = Indexer(engine, chain, LEDGER)
    indexer.sync_once()
    before = snapshot(engine)
    chain.mine([Ev.item("i9")], [Ev.shipped("ghost", 1)])  # an object that was never registered
    with pytest.raises(IndexerError, match="never registered"):
        indexer.sync_once()
    assert snapshot(engine) == before


def test_run_forever_follows_new_blocks_until_stopped(dbs: Databases) -> None:
    chain = FakeChain()
    network(chain)
    engine = dbs.new("live")
    indexer = Indexer(engine, chain, LEDGER)
    thread = threading.Thread(target=indexer.run_forever, kwargs={"poll_interval": 0.01})
    thread.start()
    try:
        chain.mine([Ev.received("case", 1, 2)])
        deadline = time.monotonic() + 20
        while indexer.checkpoint().last_block < 6:
            assert time.monotonic() < deadline, "the indexer did not follow the new block"
            time.sleep(0.01)
    finally:
        indexer.stop()
        thread.join(timeout=20)
    assert not thread.is_alive()
    assert objects(engine)[oid("i1")].custodian == 2


def test_a_corrupted_model_differs_from_a_rebuild(dbs: Databases) -> None:
    chain = FakeChain()
    network(chain)
    engine = dbs.new("live")
    Indexer(engine, chain, LEDGER).sync_once()
    with Session(engine) as session, session.begin():
        session.execute(update(t.ObjectRow).where(t.ObjectRow.object_id == oid("i1")).values(custodian=9))
    assert diff(engine, rebuilt(dbs, chain)) == [f"idx_objects [{oid('i1')}]: custodian: live=9 rebuilt=1"]


def reader_threads() -> list[threading.Thread]:
    return [thread for thread in threading.enumerate() if thread.name == "indexer-reader"]


def test_reading_ahead_and_in_line_build_the_same_model_and_leave_no_thread(dbs: Databases) -> None:
    chain = FakeChain()
    network(chain)
    fork_events(chain)
    inline = dbs.new("inline")
    Indexer(inline, chain, LEDGER, config=IndexerConfig(prefetch=0, initial_range=1, max_range=1)).sync_once()
    ahead = dbs.new("ahead")
    indexer = Indexer(ahead, chain, LEDGER, config=IndexerConfig(prefetch=3, initial_range=1, max_range=1))
    assert indexer.sync_once().to_block == 8
    assert diff(inline, ahead) == []
    assert reader_threads() == []


def test_a_failure_while_reading_ahead_stops_the_reader(dbs: Databases) -> None:
    chain = FakeChain()
    network(chain)
    chain.mine([Ev.shipped("ghost", 1)])  # fails when applied, while the reader is ahead
    chain.mine_empty(5)
    one_block = IndexerConfig(initial_range=1, max_range=1, max_batch_events=1)  # a transaction per block
    indexer = Indexer(dbs.new("live"), chain, LEDGER, config=one_block)
    with pytest.raises(IndexerError, match="never registered"):
        indexer.sync_once()
    assert indexer.checkpoint().last_block == 5
    assert reader_threads() == []


def test_a_batch_frees_its_rows_before_the_collector_resumes(dbs: Databases, monkeypatch: pytest.MonkeyPatch) -> None:
    """The rows a batch appended are gone when the collector resumes (alive then, the collector's
    first pass would walk all of them); only the working set carried to the next batch lives on."""
    buffers: list[weakref.ref[RowBuffer]] = []
    sets: list[weakref.ref[WorkingSet]] = []
    alive_at_resume: list[tuple[int, int]] = []
    original_buffer, original_set, original_paused = RowBuffer.__init__, WorkingSet.__init__, indexer_module.gc_paused

    def buffer_init(self: RowBuffer, *args: Any, **kwargs: Any) -> None:
        original_buffer(self, *args, **kwargs)
        buffers.append(weakref.ref(self))

    def set_init(self: WorkingSet, *args: Any, **kwargs: Any) -> None:
        original_set(self, *args, **kwargs)
        sets.append(weakref.ref(self))

    @contextlib.contextmanager
    def paused(enabled: bool = True) -> Iterator[None]:
        with original_paused(enabled):
            yield
            alive_at_resume.append((sum(r() is not None for r in buffers), sum(r() is not None for r in sets)))

    monkeypatch.setattr(RowBuffer, "__init__", buffer_init)
    monkeypatch.setattr(WorkingSet, "__init__", set_init)
    monkeypatch.setattr(indexer_module, "gc_paused", paused)
    chain = FakeChain()
    network(chain)
    one_block = IndexerConfig(initial_range=1, max_range=1, max_batch_events=1)
    Indexer(dbs.new("gc"), chain, LEDGER, config=one_block).sync_once()
    assert len(buffers) >= 2 and alive_at_resume == [(0, 1)] * len(buffers)
    assert len(sets) == 1  # one working set served every batch
