"""CAR v1 export (``ipfs dag export`` layout and order) and verified import."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import cbor2
import pytest

from gateway.documents import (
    BlockNotFound,
    Cid,
    EmbeddedDocumentStore,
    IntegrityError,
    InvalidCar,
    TooLarge,
    UnsupportedContent,
)
from gateway.documents.car import CarReader
from tests.unit.documents.unixfs_reference import dfs_blocks, pseudo_random, ref_add, varint

CHUNK = 262144
HELLO_V0 = Cid.parse("QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o")
HELLO_BLOCK = b"\x0a\x12\x08\x02\x12\x0chello world\n\x18\x0c"


def header(roots: list[bytes], version: int = 1) -> bytes:
    body = cbor2.dumps({"roots": [cbor2.CBORTag(42, b"\x00" + r) for r in roots], "version": version})
    return varint(len(body)) + body


def section(cid: bytes, block: bytes) -> bytes:
    return varint(len(cid) + len(block)) + cid + block


def export(store: EmbeddedDocumentStore, cid: Cid | str) -> bytes:
    out = io.BytesIO()
    store.export_car(cid, out)
    return out.getvalue()


def sections(car: bytes) -> list[tuple[bytes, bytes]]:
    reader = CarReader(io.BytesIO(car))
    return [(cid.to_bytes(), block) for cid, block in reader]


def test_hello_world_car_bytes(store: EmbeddedDocumentStore) -> None:
    store.add(io.BytesIO(b"hello world\n"))
    # Hand-assembled dag-cbor header: map(2) "roots" -> [tag 42 bytes(0x00 || cid)], "version" -> 1.
    cbor = b"\xa2" + b"\x65roots" + b"\x81\xd8\x2a\x58\x23\x00" + HELLO_V0.to_bytes() + b"\x67version" + b"\x01"
    expected = bytes([len(cbor)]) + cbor + bytes([34 + len(HELLO_BLOCK)]) + HELLO_V0.to_bytes() + HELLO_BLOCK
    assert export(store, HELLO_V0) == expected


@pytest.mark.parametrize("cid_version", [0, 1])
def test_export_order_is_depth_first_pre_order(store: EmbeddedDocumentStore, cid_version: int) -> None:
    data = pseudo_random(3 * CHUNK + 5)
    cid = store.add(io.BytesIO(data), cid_version=cid_version).cid
    assert sections(export(store, cid)) == dfs_blocks(ref_add(data, cid_version=cid_version))


def test_export_of_a_two_level_dag_writes_each_block_once(store: EmbeddedDocumentStore) -> None:
    data = bytes(175 * CHUNK)  # identical leaves: root, full node, the leaf (once), 1-leaf node
    cid = store.add(io.BytesIO(data)).cid
    got = sections(export(store, cid))
    assert got == dfs_blocks(ref_add(data))
    assert len(got) == 4 and len(got[2][1]) == CHUNK + 14  # the leaf sits after the first inner node


def test_round_trip_into_another_store(store: EmbeddedDocumentStore, tmp_path: Path) -> None:
    data = pseudo_random(2 * CHUNK + 99)
    cid = store.add(io.BytesIO(data), cid_version=1).cid
    car = export(store, cid)
    other = EmbeddedDocumentStore(tmp_path / "other", durable=False)
    result = other.import_car(io.BytesIO(car))
    assert result.roots == (cid,) and result.blocks == 4
    assert other.pins() == [cid]
    assert b"".join(other.cat(cid)) == data
    assert export(other, cid) == car


def test_export_of_a_missing_root_writes_nothing(store: EmbeddedDocumentStore) -> None:
    out = io.BytesIO()
    with pytest.raises(BlockNotFound):
        store.export_car(HELLO_V0, out)
    assert out.getvalue() == b""


def test_import_verifies_every_block(store: EmbeddedDocumentStore) -> None:
    good = section(HELLO_V0.to_bytes(), HELLO_BLOCK)
    bad = bytearray(header([HELLO_V0.to_bytes()]) + good)
    bad[-3] ^= 0x20
    with pytest.raises(IntegrityError):
        store.import_car(io.BytesIO(bytes(bad)))
    assert store.pins() == [] and not store.has(HELLO_V0)


def test_incomplete_car_pins_nothing(store: EmbeddedDocumentStore) -> None:
    data = pseudo_random(2 * CHUNK)
    blocks = dfs_blocks(ref_add(data))
    car = header([blocks[0][0]]) + b"".join(section(c, b) for c, b in blocks[:-1])  # last leaf dropped
    with pytest.raises(BlockNotFound):
        store.import_car(io.BytesIO(car))
    assert store.pins() == []
    assert store.gc().removed_blocks == 2


def test_import_without_roots_pins_nothing(store: EmbeddedDocumentStore) -> None:
    result = store.import_car(io.BytesIO(header([]) + section(HELLO_V0.to_bytes(), HELLO_BLOCK)))
    assert result.roots == () and result.blocks == 1
    assert store.has(HELLO_V0) and store.pins() == []


@pytest.mark.parametrize(
    "car",
    [
        b"",
        b"\x05\xa1",  # header shorter than announced
        varint(3) + b"\xff\xff\xff",  # not CBOR
        header([HELLO_V0.to_bytes()], version=2),
        varint(10) + cbor2.dumps({"version": 1}),  # no roots
        varint(len(cbor2.dumps({"roots": [b"x"], "version": 1}))) + cbor2.dumps({"roots": [b"x"], "version": 1}),
        header([HELLO_V0.to_bytes()]) + varint(54) + HELLO_V0.to_bytes(),  # section cut short
        header([HELLO_V0.to_bytes()]) + varint(3) + b"\x01\x55\x12",  # section without a whole CID
        varint(100_000) + b"\xa0",  # header over the limit
    ],
)
def test_malformed_car_is_refused(store: EmbeddedDocumentStore, car: bytes) -> None:
    with pytest.raises(InvalidCar) as info:
        store.import_car(io.BytesIO(car))
    assert info.value.code == "ipfs.invalid_car"
    assert store.pins() == []


def test_oversized_section_is_refused_before_reading_it(tmp_path: Path) -> None:
    store = EmbeddedDocumentStore(tmp_path / "s", durable=False, max_block_size=1000)
    car = header([HELLO_V0.to_bytes()]) + varint(10**9)
    with pytest.raises(InvalidCar):
        store.import_car(io.BytesIO(car))


def test_import_refuses_codecs_whose_links_it_cannot_follow(store: EmbeddedDocumentStore) -> None:
    block = cbor2.dumps({"a": 1})
    cid = b"\x01\x71\x12\x20" + hashlib.sha256(block).digest()  # dag-cbor
    with pytest.raises(UnsupportedContent):
        store.import_car(io.BytesIO(header([cid]) + section(cid, block)))


def test_import_size_limit(tmp_path: Path) -> None:
    source = EmbeddedDocumentStore(tmp_path / "a", durable=False)
    cid = source.add(io.BytesIO(pseudo_random(3 * CHUNK))).cid
    limited = EmbeddedDocumentStore(tmp_path / "b", durable=False, max_add_size=2 * CHUNK)
    with pytest.raises(TooLarge):
        limited.import_car(io.BytesIO(export(source, cid)))
    assert limited.pins() == []
    limited.gc()
    assert list((tmp_path / "b" / "blocks").glob("*/*.data")) == []
