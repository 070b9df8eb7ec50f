"""Dense ranges written in parts, and unpacking with the working set's parent -> children map."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, event, select
from sqlalchemy.orm import Session

from gateway.indexer import state as state_module
from gateway.indexer import tables as t
from gateway.indexer.bulk import select_by_keys
from gateway.indexer.compare import compare_databases
from gateway.indexer.errors import ChainChangedDuringFetch, InconsistentEvents
from gateway.indexer.indexer import Indexer, IndexerConfig
from gateway.indexer.maintenance import open_database
from gateway.indexer.reader import Batch
from gateway.indexer.source import BlockHeader
from tests.unit.test_indexer_support import BACKENDS, LEDGER, Databases, Ev, FakeChain, databases, oid


@pytest.fixture(params=BACKENDS)
def dbs(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Databases]:
    with databases(request.param, tmp_path) as d:
        yield d


@pytest.fixture
def chain() -> FakeChain:
    chain = FakeChain()
    chain.mine([Ev.partner(1, "maker"), Ev.partner(2, "distributor", 1), Ev.partner(3, "pharmacy", 2)])
    return chain


def index(engine: Engine, chain: FakeChain, **config: Any) -> int:
    """Indexes the whole chain; returns the number of transactions committed."""
    commits = 0

    def count(_: Any) -> None:
        nonlocal commits
        commits += 1

    event.listen(engine, "commit", count)
    try:
        Indexer(engine, chain, LEDGER, config=IndexerConfig(**config)).sync_once()
    finally:
        event.remove(engine, "commit", count)
    return commits


def parents(engine: Engine, *names: str) -> dict[str, tuple[str, str | None]]:
    o = t.ObjectRow
    with Session(engine) as session:
        rows = session.execute(
            select(o.object_id, o.root_id, o.parent_id).where(o.object_id.in_([oid(n) for n in names]))
        )
        by_id = {object_id: (root_id, parent_id) for object_id, root_id, parent_id in rows}
    return {n: by_id[oid(n)] for n in names}


def busy_chain(chain: FakeChain) -> None:
    """Blocks of several events each: registrations, packing three levels deep, moves and unpacking."""
    chain.mine([Ev.item(f"i{n}") for n in range(6)] + [Ev.unit("case1"), Ev.unit("case2"), Ev.unit("pallet")])
    chain.mine([Ev.pack(f"i{n}", "case1") for n in range(3)] + [Ev.pack(f"i{n}", "case2") for n in range(3, 6)])
    chain.mine([Ev.pack("case1", "pallet"), Ev.pack("case2", "pallet"), Ev.transferred("pallet", 1, 2)])
    chain.mine([Ev.unpack("case1", "pallet", 2), Ev.unpack("i0", "case1", 2), Ev.transferred("case1", 2, 3)])
    chain.mine([Ev.pack("case1", "case2", 3), Ev.unpack("i3", "case2", 2)])


def test_a_dense_range_is_written_in_parts_that_equal_one_transaction(dbs: Databases, chain: FakeChain) -> None:
    busy_chain(chain)
    whole, parts = dbs.new("whole"), dbs.new("parts")
    one = index(whole, chain, max_batch_events=1_000)  # every block in one transaction
    # Parts of whole blocks, each closed at the first block boundary at or after 4 events:
    # blocks 1-2 (3 + 9 events), 3 (6), 4-5 (3 + 3), 6 (2).
    assert index(parts, chain, max_batch_events=4, initial_range=1_000) == one + 3
    assert [str(d) for d in compare_databases(parts, whole)] == []
    with Session(parts) as session:
        cp = session.scalars(select(t.CheckpointRow)).one()
        assert (cp.last_block, cp.last_block_hash) == (chain.head_block.number, chain.head_block.hash)


def test_a_part_never_splits_a_block(dbs: Databases, chain: FakeChain) -> None:
    busy_chain(chain)
    engine = dbs.new("live")
    one = index(dbs.new("whole"), chain, max_batch_events=1_000)
    # one range of six blocks, one per part however small the target
    assert index(engine, chain, max_batch_events=1, initial_range=1_000) == one + 5
    with Session(engine) as session:
        blocks = session.scalars(select(t.BlockRow.number).order_by(t.BlockRow.number)).all()
    assert blocks == [1, 2, 3, 4, 5, 6]


def test_unpacking_moves_the_child_subtree_loaded_from_earlier_batches(dbs: Databases, chain: FakeChain) -> None:
    busy_chain(chain)
    one_block, whole = dbs.new("one_block"), dbs.new("whole")
    index(one_block, chain, initial_range=1, max_range=1)  # every block's objects come from the database
    index(whole, chain)  # every change stays in memory
    for engine in (one_block, whole):
        got = parents(engine, "case1", "i0", "i1", "i2", "case2", "i3", "i4", "pallet")
        assert got == {
            "case1": (oid("pallet"), oid("case2")),
            "i0": (oid("i0"), None),
            "i1": (oid("pallet"), oid("case1")),
            "i2": (oid("pallet"), oid("case1")),
            "case2": (oid("pallet"), oid("pallet")),
            "i3": (oid("i3"), None),
            "i4": (oid("pallet"), oid("case2")),
            "pallet": (oid("pallet"), None),
        }
    assert [str(d) for d in compare_databases(one_block, whole)] == []


def test_objects_read_by_key_equal_sqlalchemys_rows(dbs: Databases, chain: FakeChain) -> None:
    """The working set reads objects through the driver's cursor (``select_by_keys``): the values,
    dates, times and quantities included, equal what a Core select returns; unknown keys give no row."""
    chain.mine([Ev.lot("lotA", 2**200)], [Ev.item("i0", lot="A", expiry=20271231)], [Ev.unit("case1")])
    chain.mine([Ev.pack("i0", "case1")])
    engine = dbs.new("keys")
    index(engine, chain)
    objects = t.table_of(t.ObjectRow)
    columns = tuple(c.name for c in objects.columns)
    wanted = [oid("lotA"), oid("i0"), oid("case1"), oid("nobody")]
    with engine.connect() as connection:
        expected = {
            row[0]: tuple(row) for row in connection.execute(select(objects).where(objects.c.object_id.in_(wanted)))
        }
        by_id = select_by_keys(connection, objects, columns, "object_id", wanted)
        by_root = select_by_keys(connection, objects, ("object_id", "root_id"), "root_id", [oid("case1")])
        assert select_by_keys(connection, objects, columns, "object_id", []) == []
    assert {row[0]: row for row in by_id} == expected and len(by_id) == 3
    assert sorted(by_root) == sorted([(oid("case1"), oid("case1")), (oid("i0"), oid("case1"))])
    lot, item = expected[oid("lotA")], expected[oid("i0")]
    assert lot[columns.index("quantity")] == 2**200 and item[columns.index("expiry_date")] == dt.date(2027, 12, 31)
    assert item[columns.index("registered_at")].tzinfo == dt.UTC


def test_the_write_ahead_log_is_checkpointed_by_another_thread(tmp_path: Path, chain: FakeChain) -> None:
    """SQLite: a batch's commit does not checkpoint (automatic checkpoints off on the indexer's
    connection while it writes); a thread checkpoints after the commit, and the connection goes
    back to the pool with SQLite's default setting."""
    busy_chain(chain)
    engine = open_database(f"sqlite:///{tmp_path / 'wal.db'}")
    seen: list[int] = []

    def autocheckpoint_at_commit(connection: Any) -> None:
        seen.append(connection.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar_one())

    event.listen(engine, "commit", autocheckpoint_at_commit)
    indexer = Indexer(engine, chain, LEDGER)
    indexer.sync_once()
    event.remove(engine, "commit", autocheckpoint_at_commit)
    assert indexer.wait_for_log_checkpoint(timeout=30)
    with engine.connect() as connection:
        restored = connection.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar_one()
    engine.dispose()
    assert 0 in seen  # the batch's own commit ran without automatic checkpoints
    assert indexer._checkpointer.checkpoints >= 1 and restored == 1000


ONE_BLOCK_READS = {"initial_range": 1, "max_range": 1}  # eth_getLogs of one block at a time


def test_ranges_read_one_block_at_a_time_are_written_in_one_transaction(dbs: Databases, chain: FakeChain) -> None:
    busy_chain(chain)
    per_block, joined = dbs.new("per_block"), dbs.new("joined")
    one = index(joined, chain, **ONE_BLOCK_READS)  # seven reads (blocks 0-6), joined up to max_batch_events
    assert index(per_block, chain, **ONE_BLOCK_READS, max_batch_events=1) == one + 6
    assert [str(d) for d in compare_databases(joined, per_block)] == []


def header(number: int, parent: int) -> BlockHeader:
    return BlockHeader(number, f"0x{number:064x}", f"0x{parent:064x}", 1_700_000_000 + number)


def test_joined_batches_must_extend_each_other() -> None:
    first = Batch(1, 2, 0, [], {1: header(1, 0), 2: header(2, 1)})
    assert Batch.join([first, Batch(3, 3, 0, [], {3: header(3, 2)})]).last == 3
    with pytest.raises(ChainChangedDuringFetch, match="block 3 does not extend block 2"):
        Batch.join([first, Batch(3, 3, 0, [], {3: header(3, 99)})])  # read after a reorg of block 2
    with pytest.raises(ChainChangedDuringFetch, match="block 4 does not extend block 2"):
        Batch.join([first, Batch(4, 4, 0, [], {4: header(4, 3)})])  # a gap


def loads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every object id the working sets look up in the database by key."""
    keys: list[str] = []
    original = state_module.select_by_keys

    def recording(connection: Any, table: Any, columns: Any, key: str, values: Any) -> Any:
        if key == "object_id":
            keys.extend(values)
        return original(connection, table, columns, key, values)

    monkeypatch.setattr(state_module, "select_by_keys", recording)
    return keys


def test_the_next_batch_reuses_the_objects_the_last_one_held(
    dbs: Databases, chain: FakeChain, monkeypatch: pytest.MonkeyPatch
) -> None:
    busy_chain(chain)
    keys = loads(monkeypatch)
    carried, fresh = dbs.new("carried"), dbs.new("fresh")
    index(carried, chain, **ONE_BLOCK_READS, max_batch_events=1)
    assert keys == []  # every object was registered by this indexer, in memory since
    index(fresh, chain, **ONE_BLOCK_READS, max_batch_events=1, carry_objects=0)
    assert len(keys) > len(set(keys))  # without carrying, later blocks load objects again
    assert [str(d) for d in compare_databases(carried, fresh)] == []


def test_a_batch_written_by_another_indexer_drops_the_carried_objects(dbs: Databases, chain: FakeChain) -> None:
    busy_chain(chain)
    shared, alone = dbs.new("shared"), dbs.new("alone")
    config = IndexerConfig(**ONE_BLOCK_READS, max_batch_events=1)
    first, other = Indexer(shared, chain, LEDGER, config=config), Indexer(shared, chain, LEDGER, config=config)
    first.sync_once(to_block=3)  # holds the pallet, case1, case2 …
    other.sync_once(to_block=4)  # unpacks case1 from the pallet, moves it
    first.sync_once()  # must not build on what it held at block 3
    Indexer(alone, chain, LEDGER, config=config).sync_once()
    assert [str(d) for d in compare_databases(shared, alone)] == []


def test_an_object_registered_again_is_refused_in_memory_and_by_the_table(dbs: Databases, chain: FakeChain) -> None:
    chain.mine([Ev.item("i1")])
    chain.mine([Ev.item("i1")])
    with pytest.raises(InconsistentEvents, match="registered twice"):
        index(dbs.new("carried"), chain, **ONE_BLOCK_READS, max_batch_events=1)
    engine = dbs.new("fresh")
    with pytest.raises(InconsistentEvents, match="registered before"):
        index(engine, chain, **ONE_BLOCK_READS, max_batch_events=1, carry_objects=0)
    with Session(engine) as session:  # nothing of the refused batch was written
        assert session.scalars(select(t.CheckpointRow.last_block)).one() == 2
        assert len(session.scalars(select(t.ObjectRow.object_id)).all()) == 1
