"""The pack layout: same CIDs and behaviour as flatfs, plus its own crash-safety rules."""

from __future__ import annotations

import fcntl
import io
import os
import threading
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.documents import BlockNotFound, Cid, DocumentStore, IntegrityError, packstore
from gateway.documents.dagpb import decode_pbnode
from gateway.documents.packstore import HEADER_SIZE, PackBlockstore
from gateway.documents.store import EmbeddedDocumentStore, detect_layout
from tests.unit.documents.unixfs_reference import pseudo_random

CHUNK = 262144


def pack_store(root: Path, **kwargs: object) -> EmbeddedDocumentStore:
    return EmbeddedDocumentStore(root, layout="pack", **kwargs)  # type: ignore[arg-type]


@pytest.fixture(params=[True, False], ids=["durable-direct-io", "scratch"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> EmbeddedDocumentStore:
    return pack_store(tmp_path / "store", durable=request.param)


def blocks(store: EmbeddedDocumentStore) -> PackBlockstore:
    assert isinstance(store.blocks, PackBlockstore)
    return store.blocks


def read_all(store: EmbeddedDocumentStore, cid: Cid | str, offset: int = 0, length: int | None = None) -> bytes:
    return b"".join(store.cat(cid, offset, length))


def leaves(store: EmbeddedDocumentStore, root: Cid) -> list[Cid]:
    return [link.cid for link in decode_pbnode(store.get_block(root)).links]


def pack_files(store: EmbeddedDocumentStore) -> list[Path]:
    return sorted(blocks(store).packs_dir.glob("*.pack"))


def flip(store: EmbeddedDocumentStore, cid: Cid, at: int = 0) -> None:
    where = store.blocks.locate(cid)
    with open(where.path, "r+b") as fh:
        fh.seek(where.offset + at)
        byte = fh.read(1)
        fh.seek(where.offset + at)
        fh.write(bytes([byte[0] ^ 1]))


def test_implements_the_protocol_and_is_detected(store: EmbeddedDocumentStore) -> None:
    assert isinstance(store, DocumentStore)
    store.add(b"x")
    assert detect_layout(store.root) == "pack" and not (store.root / "blocks").exists()


@pytest.mark.parametrize(("size", "cid_version"), [(0, 0), (12, 0), (12, 1), (3 * CHUNK + 5, 0), (3 * CHUNK + 5, 1)])
def test_same_cids_and_bytes_as_flatfs(
    store: EmbeddedDocumentStore, tmp_path: Path, size: int, cid_version: int
) -> None:
    data = pseudo_random(size, seed=size)
    flat = EmbeddedDocumentStore(tmp_path / "flat", durable=False)
    assert store.add(io.BytesIO(data), cid_version=cid_version) == flat.add(data, cid_version=cid_version)
    cid = flat.add(data, cid_version=cid_version).cid
    assert read_all(store, cid) == data
    assert read_all(store, cid, CHUNK - 3, 10) == data[CHUNK - 3 : CHUNK + 7]
    car_pack, car_flat = io.BytesIO(), io.BytesIO()
    store.export_car(cid, car_pack)
    flat.export_car(cid, car_flat)
    assert car_pack.getvalue() == car_flat.getvalue()


def test_small_adds_share_one_pack(store: EmbeddedDocumentStore) -> None:
    cids = [store.add(f"doc {i}".encode()).cid for i in range(20)]
    assert len(pack_files(store)) == 1
    assert [read_all(store, c) for c in cids] == [f"doc {i}".encode() for i in range(20)]


def test_batches_start_aligned_and_records_describe_themselves(store: EmbeddedDocumentStore) -> None:
    first = store.add(b"a" * 100).cid
    second = store.add(b"b" * 100).cid
    a, b = store.blocks.locate(first), store.blocks.locate(second)
    assert (a.offset - HEADER_SIZE) % 4096 == 0 and (b.offset - HEADER_SIZE) % 4096 == 0 and b.offset > a.offset
    raw = a.path.read_bytes()
    assert raw[a.offset - HEADER_SIZE : a.offset - HEADER_SIZE + 4] == b"CBK1"
    assert raw[a.offset - 34 : a.offset] == first.multihash


def test_tampering_is_an_integrity_error(store: EmbeddedDocumentStore) -> None:
    data = pseudo_random(3 * CHUNK)
    cid = store.add(data).cid
    victim = leaves(store, cid)[1]
    flip(store, victim, at=1000)
    got = b""
    with pytest.raises(IntegrityError) as info:
        for piece in store.cat(cid):
            got += piece
    assert info.value.cid == str(victim) and got == data[:CHUNK]
    flip(store, cid)
    with pytest.raises(IntegrityError):
        store.stat(cid)


def test_readd_repairs_a_damaged_block(store: EmbeddedDocumentStore) -> None:
    data = pseudo_random(2 * CHUNK, seed=3)
    cid = store.add(data).cid
    flip(store, leaves(store, cid)[0], at=5)
    with pytest.raises(IntegrityError):
        read_all(store, cid)
    store.add(data)
    assert read_all(store, cid) == data


def test_missing_block(store: EmbeddedDocumentStore) -> None:
    data = pseudo_random(2 * CHUNK + 1, seed=4)
    cid = store.add(data).cid
    gone = leaves(store, cid)[2]
    size = store.blocks.size_of(gone)
    assert blocks(store).delete_many([gone.multihash]) == (1, size)
    with pytest.raises(BlockNotFound):
        read_all(store, cid)
    with pytest.raises(BlockNotFound):
        store.blocks.locate(gone)
    assert read_all(store, cid, 0, 2 * CHUNK) == data[: 2 * CHUNK]


def test_gc_forgets_then_compaction_reclaims_disk(store: EmbeddedDocumentStore) -> None:
    kept = store.add(b"keep me").cid
    dropped = store.add(pseudo_random(4 * CHUNK, seed=5), pin=False)
    size_before = sum(p.stat().st_size for p in pack_files(store))
    gc = store.gc()
    assert gc.removed_blocks == 5 and gc.freed_bytes == dropped.dag_size
    assert not store.has(dropped.cid) and read_all(store, kept) == b"keep me"
    assert sum(p.stat().st_size for p in pack_files(store)) < size_before // 10  # rewritten without garbage
    store.unpin(kept)
    assert store.gc().removed_blocks == 1
    assert pack_files(store) == [] and list(store.blocks.iter_multihashes()) == []


def test_compaction_keeps_packs_that_are_mostly_live(store: EmbeddedDocumentStore) -> None:
    live = store.add(pseudo_random(4 * CHUNK, seed=6)).cid
    store.add(b"small garbage", pin=False)
    before = pack_files(store)
    store.gc()
    assert pack_files(store) == before and read_all(store, live) == pseudo_random(4 * CHUNK, seed=6)


def test_a_torn_tail_is_truncated_by_the_next_writer(store: EmbeddedDocumentStore) -> None:
    first = store.add(pseudo_random(CHUNK + 7, seed=7)).cid
    (pack,) = pack_files(store)
    with open(pack, "ab") as fh:  # what a writer killed mid-append leaves behind
        fh.write(b"CBK1" + b"\x00\x00\x10\x00" + os.urandom(500))
    second = store.add(b"after the crash").cid
    assert read_all(store, first) == pseudo_random(CHUNK + 7, seed=7)
    assert read_all(store, second) == b"after the crash"
    assert len(pack_files(store)) == 1


def test_an_aborted_batch_indexes_nothing(store: EmbeddedDocumentStore) -> None:
    def broken() -> Iterator[bytes]:
        yield pseudo_random(3 * CHUNK, seed=8)
        raise ConnectionResetError("client went away")

    with pytest.raises(ConnectionResetError):
        store.add(broken())
    assert list(store.blocks.iter_multihashes()) == [] and store.pins() == []
    cid = store.add(b"next").cid
    assert read_all(store, cid) == b"next"


def test_lost_index_is_rebuilt_from_the_packs(tmp_path: Path) -> None:
    store = pack_store(tmp_path / "s")
    data = pseudo_random(3 * CHUNK + 9, seed=9)
    cids = [store.add(data).cid, store.add(b"tiny").cid, store.add(data, cid_version=1).cid]
    (pack,) = pack_files(store)
    with open(pack, "ab") as fh:
        fh.write(b"CBK1garbage")  # a torn tail after the last batch
    blocks(store).close()
    for name in ("index.sqlite", "index.sqlite-wal", "index.sqlite-shm"):
        (tmp_path / "s" / "packs" / name).unlink(missing_ok=True)
    reopened = pack_store(tmp_path / "s")
    assert [read_all(reopened, c) for c in cids] == [data, b"tiny", data]


def test_commit_syncs_the_pack_before_indexing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = pack_store(tmp_path / "s")
    events: list[str] = []
    real_fdatasync, real_upsert = os.fdatasync, blocks(store).index.upsert

    def fdatasync(fd: int) -> None:
        events.append("sync")
        real_fdatasync(fd)

    def upsert(rows: list[tuple[bytes, str, int, int]]) -> None:
        events.append("index")
        real_upsert(rows)

    monkeypatch.setattr(os, "fdatasync", fdatasync)
    monkeypatch.setattr(blocks(store).index, "upsert", upsert)
    store.add(pseudo_random(2 * CHUNK, seed=10))
    assert events == ["sync", "index"]


def test_concurrent_writers_use_their_own_packs(tmp_path: Path) -> None:
    store = pack_store(tmp_path / "s", durable=False)
    datas = [pseudo_random(2 * CHUNK + i, seed=20 + i) for i in range(4)]
    results: dict[int, Cid] = {}
    start = threading.Barrier(4)

    def add(i: int) -> None:
        start.wait()
        results[i] = store.add(datas[i]).cid

    threads = [threading.Thread(target=add, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [read_all(store, results[i]) for i in range(4)] == datas
    other_process_view = pack_store(tmp_path / "s", durable=False)
    assert [read_all(other_process_view, results[i]) for i in range(4)] == datas


def test_without_direct_io_the_same_bytes_land(tmp_path: Path) -> None:
    buffered = EmbeddedDocumentStore(tmp_path / "b", layout="pack")
    buffered.blocks = PackBlockstore(tmp_path / "b", durable=True, direct_io=False)
    buffered._dag.blocks = buffered.blocks
    data = pseudo_random(CHUNK * 2 + 3, seed=11)
    cid = buffered.add(data).cid
    assert read_all(buffered, cid) == data


def test_auto_layout_keeps_an_existing_flatfs_store(tmp_path: Path) -> None:
    flat = EmbeddedDocumentStore(tmp_path / "s", durable=False)
    cid = flat.add(b"old").cid
    auto = EmbeddedDocumentStore(tmp_path / "s", durable=False, layout="auto")
    assert auto.blocks.layout == "flatfs" and read_all(auto, cid) == b"old"
    assert EmbeddedDocumentStore(tmp_path / "new", durable=False, layout="auto").blocks.layout == "pack"


def test_add_memory_stays_flat(tmp_path: Path) -> None:
    store = pack_store(tmp_path / "s")
    piece = pseudo_random(1 << 20, seed=12)

    def stream() -> Iterator[bytes]:
        for i in range(64):
            yield piece[i:] + piece[:i]

    tracemalloc.start()
    try:
        result = store.add(stream())
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result.size == 64 << 20
    assert peak < 8 << 20, f"peak Python allocation {peak / 2**20:.1f} MiB"


def test_a_new_pack_leased_by_another_writer_before_its_creator_locks_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another writer finds the just-created, still unlocked pack and writes a batch to it before
    the creator takes its lock: the creator must append after that batch, not over it."""
    store = pack_store(tmp_path / "s", durable=False)
    real_flock = packstore.fcntl.flock
    armed = [True]

    def flock(fd: int, operation: int) -> None:
        is_pack = os.readlink(f"/proc/self/fd/{fd}").endswith(".pack")
        if armed[0] and is_pack and operation & fcntl.LOCK_EX and os.fstat(fd).st_size == 0:
            armed[0] = False  # the creator's lock: first let another writer take the pack
            other = threading.Thread(target=lambda: results.append(store.add(b"the other writer's").cid))
            other.start()
            other.join()
        real_flock(fd, operation)

    results: list[Cid] = []
    monkeypatch.setattr(packstore.fcntl, "flock", flock)
    mine = store.add(b"the creator's").cid
    assert not armed[0] and len(results) == 1
    assert read_all(store, results[0]) == b"the other writer's"
    assert read_all(store, mine) == b"the creator's"
