"""The embedded store: reads, ranges, verification, pins, GC, limits and crash-safety rules."""

from __future__ import annotations

import base64
import hashlib
import io
import os
import threading
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.documents import (
    AddResult,
    BlockNotFound,
    Cid,
    DocumentStore,
    EmbeddedDocumentStore,
    IntegrityError,
    InvalidCID,
    InvalidRange,
    NotAFile,
    NotPinned,
    StoreBusy,
    TooLarge,
)
from gateway.documents.cid import DAG_PB, RAW, block_cid
from gateway.documents.dagpb import PBLink, decode_pbnode, encode_pbnode, encode_unixfs_file, leaf_parts
from gateway.documents.errors import MalformedBlock
from tests.unit.documents.unixfs_reference import pseudo_random

CHUNK = 262144
HELLO_V0 = "QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o"


def read_all(store: EmbeddedDocumentStore, cid: Cid | str, offset: int = 0, length: int | None = None) -> bytes:
    return b"".join(store.cat(cid, offset, length))


def block_files(root: Path) -> list[Path]:
    return sorted((root / "blocks").glob("*/*.data"))


def leaf_cids(store: EmbeddedDocumentStore, root: Cid) -> list[Cid]:
    return [link.cid for link in decode_pbnode(store.blocks.get(root)).links]


def test_implements_the_protocol(store: EmbeddedDocumentStore) -> None:
    assert isinstance(store, DocumentStore)


def test_add_cat_hello_world(store: EmbeddedDocumentStore) -> None:
    result = store.add(io.BytesIO(b"hello world\n"))
    assert result == AddResult(Cid.parse(HELLO_V0), 12, 20)
    assert read_all(store, HELLO_V0) == b"hello world\n"
    assert store.has(HELLO_V0) and store.pins() == [result.cid]


def test_blocks_are_laid_out_like_kubo_flatfs(store: EmbeddedDocumentStore) -> None:
    store.add(io.BytesIO(b"hello world\n"))
    key = base64.b32encode(Cid.parse(HELLO_V0).multihash).decode().rstrip("=")
    assert key.startswith("CIQ")
    assert block_files(store.root) == [store.root / "blocks" / key[-3:-1] / f"{key}.data"]
    assert (store.root / "blocks" / "SHARDING").read_text() == "/repo/flatfs/shard/v1/next-to-last/2\n"
    assert os.listdir(store.root / "tmp") == []


@pytest.mark.parametrize("cid_version", [0, 1])
def test_round_trip_multi_chunk(store: EmbeddedDocumentStore, cid_version: int) -> None:
    data = pseudo_random(3 * CHUNK + 1000)
    result = store.add(io.BytesIO(data), cid_version=cid_version)
    assert str(result.cid).startswith("Qm" if cid_version == 0 else "bafybei")
    assert read_all(store, result.cid) == data
    assert len(block_files(store.root)) == 5


@pytest.mark.parametrize(
    ("offset", "length"),
    [
        (0, None),
        (0, 1),
        (1, 10),
        (CHUNK - 1, 2),
        (CHUNK, CHUNK),
        (CHUNK - 5, CHUNK + 10),
        (3 * CHUNK, None),
        (3 * CHUNK + 999, None),
        (3 * CHUNK + 999, 100),
        (3 * CHUNK + 1000, None),
        (10**9, 5),
        (5, 0),
        (0, 10**9),
    ],
)
def test_ranges(store: EmbeddedDocumentStore, offset: int, length: int | None) -> None:
    data = pseudo_random(3 * CHUNK + 1000, seed=2)
    cid = store.add(io.BytesIO(data)).cid
    end = None if length is None else offset + length
    assert read_all(store, cid, offset, length) == data[offset:end]


def test_ranges_on_a_raw_single_block(store: EmbeddedDocumentStore) -> None:
    cid = store.add(io.BytesIO(b"hello world\n"), cid_version=1).cid
    assert cid.codec == RAW
    assert read_all(store, cid, 6, 5) == b"world"


def test_negative_range_is_refused(store: EmbeddedDocumentStore) -> None:
    cid = store.add(io.BytesIO(b"abc")).cid
    with pytest.raises(InvalidRange):
        store.cat(cid, -1)
    with pytest.raises(InvalidRange):
        store.cat(cid, 0, -1)


def test_reading_the_tail_loads_one_block_per_level(
    store: EmbeddedDocumentStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = pseudo_random(6 * CHUNK)
    cid = store.add(io.BytesIO(data)).cid
    last_leaf = leaf_cids(store, cid)[-1]
    loaded: list[Cid] = []
    real_get = store.blocks.get

    def counting_get(c: Cid) -> bytes:
        loaded.append(c)
        return real_get(c)

    monkeypatch.setattr(store.blocks, "get", counting_get)
    assert read_all(store, cid, 6 * CHUNK - 3) == data[-3:]
    assert loaded == [cid, last_leaf]


def test_cat_checks_the_root_before_streaming(store: EmbeddedDocumentStore) -> None:
    missing = "QmbFMke1KXqnYyBBWxB74N4c5SBnJMVAiMNRcGu6x1AwQH"
    with pytest.raises(BlockNotFound) as info:
        store.cat(missing)  # raises at the call, not at the first next()
    assert info.value.cid == missing
    with pytest.raises(InvalidCID):
        store.cat("not-a-cid")


def test_stat(store: EmbeddedDocumentStore) -> None:
    data = pseudo_random(2 * CHUNK + 7)
    result = store.add(io.BytesIO(data))
    stat = store.stat(result.cid)
    assert (stat.type, stat.size, stat.cumulative_size, stat.blocks) == ("file", len(data), result.dag_size, 3)
    raw = store.add(io.BytesIO(b"abc"), cid_version=1)
    assert (store.stat(raw.cid).size, store.stat(raw.cid).blocks) == (3, 0)


def test_a_directory_is_not_a_file(store: EmbeddedDocumentStore) -> None:
    empty_dir = b"\x0a\x02\x08\x01"  # PBNode{Data: UnixFS{Type: Directory}}
    cid = Cid(0, 0x70, b"\x12\x20" + hashlib.sha256(empty_dir).digest())
    assert str(cid) == "QmUNLLsPACCz1vLxQVkXqqLX5R1X345qqfHbsf67hvA3Nn"  # Kubo's empty directory
    store.blocks.put(cid, [empty_dir])
    assert store.stat(cid).type == "directory"
    with pytest.raises(NotAFile) as info:
        store.cat(cid)
    assert info.value.code == "ipfs.not_a_file"


# -- verification: never wrong bytes ---------------------------------------------------------------


def tamper(path: Path, at: int = -1) -> None:
    data = bytearray(path.read_bytes())
    data[at] ^= 0x01
    path.write_bytes(bytes(data))


def test_tampered_leaf_raises_and_yields_only_correct_bytes(store: EmbeddedDocumentStore) -> None:
    data = pseudo_random(3 * CHUNK)
    cid = store.add(io.BytesIO(data)).cid
    victim = leaf_cids(store, cid)[1]
    tamper(store.blocks.path_of(victim.multihash))
    got = b""
    with pytest.raises(IntegrityError) as info:
        for piece in store.cat(cid):
            got += piece
    assert info.value.code == "ipfs.integrity" and info.value.cid == str(victim)
    assert got == data[:CHUNK]  # what came before the damage, nothing after


def test_tampered_root_raises_at_once(store: EmbeddedDocumentStore) -> None:
    cid = store.add(io.BytesIO(b"hello world\n")).cid
    tamper(store.blocks.path_of(cid.multihash), at=5)
    with pytest.raises(IntegrityError):
        store.cat(cid)
    with pytest.raises(IntegrityError):
        store.stat(cid)


def test_truncated_block_is_an_integrity_error(store: EmbeddedDocumentStore) -> None:
    cid = store.add(io.BytesIO(pseudo_random(1000)), cid_version=1).cid
    path = store.blocks.path_of(cid.multihash)
    path.write_bytes(path.read_bytes()[:-1])
    with pytest.raises(IntegrityError):
        read_all(store, cid)


def test_missing_leaf_raises_not_found(store: EmbeddedDocumentStore) -> None:
    data = pseudo_random(2 * CHUNK + 1)
    cid = store.add(io.BytesIO(data)).cid
    gone = leaf_cids(store, cid)[2]
    store.blocks.path_of(gone.multihash).unlink()
    with pytest.raises(BlockNotFound):
        read_all(store, cid)
    assert read_all(store, cid, 0, 2 * CHUNK) == data[: 2 * CHUNK]  # ranges that avoid it still work


@pytest.mark.parametrize("raw_leaves", [False, True])
def test_a_dag_that_lies_about_sizes_is_refused(store: EmbeddedDocumentStore, raw_leaves: bool) -> None:
    """Hashes all verify, the root is self-consistent (2 + 3 = 5), but its children hold 3 and 2
    bytes: serving it would put bytes at the wrong offsets, so the read must fail instead."""
    children = []
    for content in (b"abc", b"de"):
        parts = (content,) if raw_leaves else (leaf_parts(len(content))[0], content, leaf_parts(len(content))[1])
        cid = block_cid(parts, version=1 if raw_leaves else 0, codec=RAW if raw_leaves else DAG_PB)
        store.blocks.put(cid, parts)
        children.append(PBLink(cid, "", sum(len(p) for p in parts)))
    head, tail = encode_unixfs_file(None, 5, [2, 3])
    root_block = encode_pbnode(children, head + tail)
    root = block_cid([root_block], version=0, codec=DAG_PB)
    store.blocks.put(root, [root_block])
    assert store.stat(root).size == 5
    with pytest.raises(MalformedBlock):
        read_all(store, root)
    with pytest.raises(MalformedBlock):
        read_all(store, root, 2)  # a range starting in the second child fails the same way


@pytest.mark.parametrize("damage", ["torn", "flipped"])
def test_readd_repairs_a_damaged_block(store: EmbeddedDocumentStore, damage: str) -> None:
    data = pseudo_random(2 * CHUNK)
    cid = store.add(io.BytesIO(data)).cid
    victim = store.blocks.path_of(leaf_cids(store, cid)[0].multihash)
    if damage == "torn":
        victim.write_bytes(b"")  # what a crash of a non-durable store can leave
    else:
        tamper(victim, at=1000)  # same size: only re-hashing notices
    with pytest.raises(IntegrityError):
        read_all(store, cid)
    store.add(io.BytesIO(data))
    assert read_all(store, cid) == data


# -- pins and GC -----------------------------------------------------------------------------------


def test_pin_unpin_gc(store: EmbeddedDocumentStore) -> None:
    kept = store.add(io.BytesIO(b"keep me"))
    dropped = store.add(io.BytesIO(pseudo_random(2 * CHUNK)), pin=False)
    assert store.pins() == [kept.cid]
    gc = store.gc()
    assert gc.removed_blocks == 3 and gc.freed_bytes == dropped.dag_size
    assert not store.has(dropped.cid) and read_all(store, kept.cid) == b"keep me"
    store.unpin(kept.cid)
    assert store.pins() == []
    assert store.gc().removed_blocks == 1
    assert block_files(store.root) == []
    with pytest.raises(NotPinned):
        store.unpin(kept.cid)


def test_gc_keeps_blocks_shared_with_a_pinned_dag(store: EmbeddedDocumentStore) -> None:
    shared = pseudo_random(CHUNK, seed=1)
    pinned = store.add(io.BytesIO(shared + pseudo_random(CHUNK, seed=2)))
    loose = store.add(io.BytesIO(shared + pseudo_random(CHUNK, seed=3)), pin=False)
    assert leaf_cids(store, pinned.cid)[0] == leaf_cids(store, loose.cid)[0]
    assert store.gc().removed_blocks == 2  # loose root + its own second leaf
    assert read_all(store, pinned.cid) == shared + pseudo_random(CHUNK, seed=2)
    with pytest.raises(BlockNotFound):
        store.cat(loose.cid)


def test_gc_reads_internal_nodes_not_content(store: EmbeddedDocumentStore, monkeypatch: pytest.MonkeyPatch) -> None:
    cid = store.add(io.BytesIO(pseudo_random(5 * CHUNK))).cid  # CIDv0: the leaves are dag-pb too
    whole_reads: list[Cid] = []
    real_get = store.blocks.get

    def counting_get(c: Cid) -> bytes:
        whole_reads.append(c)
        return real_get(c)

    monkeypatch.setattr(store.blocks, "get", counting_get)
    assert store.gc().removed_blocks == 0
    store.pin(cid)
    assert whole_reads == [cid, cid]


def test_get_block_is_verified(store: EmbeddedDocumentStore) -> None:
    cid = store.add(io.BytesIO(b"hello world\n")).cid
    assert store.get_block(cid) == b"\x0a\x12\x08\x02\x12\x0chello world\n\x18\x0c"
    tamper(store.blocks.path_of(cid.multihash))
    with pytest.raises(IntegrityError):
        store.get_block(str(cid))


def test_pin_needs_the_whole_dag(store: EmbeddedDocumentStore) -> None:
    cid = store.add(io.BytesIO(pseudo_random(2 * CHUNK)), pin=False).cid
    store.blocks.path_of(leaf_cids(store, cid)[1].multihash).unlink()
    with pytest.raises(BlockNotFound):
        store.pin(cid)
    assert store.pins() == []


def test_gc_deletes_nothing_when_a_pinned_dag_is_damaged(store: EmbeddedDocumentStore) -> None:
    pinned = store.add(io.BytesIO(pseudo_random(3 * CHUNK))).cid
    store.add(io.BytesIO(b"garbage"), pin=False)
    store.blocks.path_of(leaf_cids(store, pinned)[0].multihash).unlink()  # v0 leaves are dag-pb: must be read
    before = block_files(store.root)
    with pytest.raises(BlockNotFound):
        store.gc()
    assert block_files(store.root) == before


def test_pins_survive_reopening(tmp_path: Path) -> None:
    first = EmbeddedDocumentStore(tmp_path / "s", durable=False)
    cid = first.add(io.BytesIO(b"persist")).cid
    second = EmbeddedDocumentStore(tmp_path / "s", durable=False)
    assert second.pins() == [cid]
    second.gc()
    assert read_all(second, cid) == b"persist"


def test_pin_of_an_already_pinned_cid_is_idempotent(store: EmbeddedDocumentStore) -> None:
    cid = store.add(io.BytesIO(b"once")).cid
    store.pin(cid)
    store.pin(str(cid))
    assert store.pins() == [cid]


# -- failed adds leave nothing that GC would keep -------------------------------------------------


def test_too_large_pins_nothing_and_gc_cleans_up(tmp_path: Path) -> None:
    store = EmbeddedDocumentStore(tmp_path / "s", durable=False, max_add_size=3 * CHUNK)
    assert store.add(io.BytesIO(pseudo_random(3 * CHUNK))).size == 3 * CHUNK  # at the limit
    store.unpin(store.pins()[0])
    store.gc()
    with pytest.raises(TooLarge) as info:
        store.add(io.BytesIO(pseudo_random(3 * CHUNK + 1, seed=9)))
    assert info.value.code == "ipfs.too_large" and info.value.limit == 3 * CHUNK
    assert store.pins() == []
    store.gc()
    assert block_files(store.root) == [] and os.listdir(store.root / "tmp") == []


def test_a_failing_stream_pins_nothing(store: EmbeddedDocumentStore) -> None:
    def broken() -> Iterator[bytes]:
        yield pseudo_random(2 * CHUNK)
        raise ConnectionResetError("client went away")

    with pytest.raises(ConnectionResetError):
        store.add(broken())
    assert store.pins() == []
    store.gc()
    assert block_files(store.root) == []


def test_gc_removes_leftover_temp_files(store: EmbeddedDocumentStore) -> None:
    (store.root / "tmp" / "123-1-0.tmp").write_bytes(b"half a block")
    store.gc()
    assert os.listdir(store.root / "tmp") == []


# -- durability and concurrency --------------------------------------------------------------------


def test_durable_store_fsyncs_every_block_and_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    real_fsync = os.fsync

    def counting_fsync(fd: int) -> None:
        calls.append(fd)
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", counting_fsync)
    durable = EmbeddedDocumentStore(tmp_path / "d", durable=True)
    durable.add(io.BytesIO(pseudo_random(3 * CHUNK)))
    assert len(calls) >= 4 + 4  # 4 blocks, then their shard directories (+ blocks/)
    calls.clear()
    EmbeddedDocumentStore(tmp_path / "n", durable=False).add(io.BytesIO(pseudo_random(3 * CHUNK)))
    assert calls == []


def test_gc_waits_for_a_running_add(tmp_path: Path) -> None:
    root = tmp_path / "s"
    adder = EmbeddedDocumentStore(root, durable=False)
    impatient = EmbeddedDocumentStore(root, durable=False, lock_timeout=0.2)
    halfway = threading.Event()
    resume = threading.Event()
    data = pseudo_random(3 * CHUNK)

    def slow() -> Iterator[bytes]:
        yield data[: 2 * CHUNK]
        halfway.set()
        resume.wait(10)
        yield data[2 * CHUNK :]

    results: list[Cid] = []
    worker = threading.Thread(target=lambda: results.append(adder.add(slow()).cid))
    worker.start()
    assert halfway.wait(10)
    with pytest.raises(StoreBusy) as info:
        impatient.gc()  # would otherwise delete the two leaves already written and unpinned
    assert info.value.code == "ipfs.busy"
    resume.set()
    worker.join(10)
    assert impatient.gc().removed_blocks == 0
    assert read_all(impatient, results[0]) == data


def test_add_memory_stays_flat(store: EmbeddedDocumentStore) -> None:
    """64 MiB streamed from a generator: Python allocations stay a few chunks, not the file."""
    piece = pseudo_random(1 << 20)

    def stream() -> Iterator[bytes]:
        for i in range(64):
            yield piece[i:] + piece[:i]  # distinct chunks, so every block is written

    tracemalloc.start()
    try:
        result = store.add(stream())
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result.size == 64 << 20
    assert peak < 8 << 20, f"peak Python allocation {peak / 2**20:.1f} MiB"
