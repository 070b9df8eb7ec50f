"""The Kubo backend (``KuboDocumentStore``) over real HTTP, pointed at the gateway's /api/v0.

No Kubo daemon can be installed here; the gateway's compatibility API stands in for one. The
backend must behave like the embedded store: same CIDs, sizes, bytes, CAR files and typed errors.
"""

from __future__ import annotations

import hashlib
import io
import itertools
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.documents import (
    BlockNotFound,
    Cid,
    DocumentStore,
    EmbeddedDocumentStore,
    InvalidRange,
    NotPinned,
    TooLarge,
)
from gateway.documents.car import CarReader
from gateway.documents.cid import RAW, multihash_sha256
from gateway.documents.errors import RemoteError
from gateway.documents.kubo import KuboDocumentStore
from tests.conftest import Gateway
from tests.integration.test_ipfs_compat import onboard

pytestmark = pytest.mark.integration

_n = itertools.count(1)


def content(size: int) -> bytes:
    block = (f"kubo-backend {next(_n)}:".encode() * 32)[:300]
    return (block * (size // len(block) + 1))[:size]


@pytest.fixture(scope="module")
def partner_key(gateway: Gateway) -> str:
    with gateway.client(gateway.admin_key) as admin:
        key: str = onboard(admin, "kubo-backend", "manufacturer")["api_key"]["key"]
    return key


@pytest.fixture
def kubo(gateway: Gateway, partner_key: str) -> Iterator[KuboDocumentStore]:
    store = KuboDocumentStore(gateway.url, token=partner_key, timeout=30)
    yield store
    store.close()


@pytest.fixture
def local(tmp_path: Path) -> EmbeddedDocumentStore:
    return EmbeddedDocumentStore(tmp_path / "reference", durable=False)


def test_implements_the_protocol(kubo: KuboDocumentStore) -> None:
    assert isinstance(kubo, DocumentStore)
    assert kubo.version()["Version"] == "0.7.0"


@pytest.mark.parametrize(("size", "cid_version"), [(0, 0), (12, 1), (3 * 262144 + 7, 0), (3 * 262144 + 7, 1)])
def test_add_matches_the_embedded_store(
    kubo: KuboDocumentStore, local: EmbeddedDocumentStore, size: int, cid_version: int
) -> None:
    data = content(size)
    assert kubo.add(io.BytesIO(data), cid_version=cid_version) == local.add(data, cid_version=cid_version)
    pieces = iter([data[:5], data[5:]])  # a generator source: the same CID whatever the read pattern
    assert kubo.add(pieces, cid_version=cid_version).cid == local.add(data, cid_version=cid_version).cid


def test_cat_and_ranges(kubo: KuboDocumentStore) -> None:
    data = content(2 * 262144 + 100)
    cid = kubo.add(data).cid
    assert b"".join(kubo.cat(cid)) == data
    assert b"".join(kubo.cat(str(cid), 262100, 200)) == data[262100:262300]
    assert b"".join(kubo.cat(cid, 10, 0)) == b""
    with pytest.raises(InvalidRange):
        kubo.cat(cid, -1)


def test_typed_errors_travel_back(kubo: KuboDocumentStore) -> None:
    absent = Cid(1, RAW, multihash_sha256(hashlib.sha256(os.urandom(16)).digest()))
    with pytest.raises(BlockNotFound):
        kubo.cat(absent)
    with pytest.raises(BlockNotFound):
        kubo.get_block(absent)
    assert not kubo.has(absent)
    loose = kubo.add(content(100), pin=False).cid
    with pytest.raises(NotPinned):
        kubo.unpin(loose)


def test_pins(kubo: KuboDocumentStore) -> None:
    cid = kubo.add(content(5000), pin=False).cid
    assert cid not in kubo.pins() and kubo.has(cid)
    kubo.pin(cid)
    assert cid in kubo.pins()
    kubo.unpin(cid)
    assert cid not in kubo.pins()


def test_stat_and_block_get_match(kubo: KuboDocumentStore, local: EmbeddedDocumentStore) -> None:
    data = content(3 * 262144)
    cid = kubo.add(data).cid
    local.add(data)
    assert kubo.stat(cid) == local.stat(cid)
    assert kubo.get_block(cid) == local.get_block(cid)


def test_car_export_is_identical_and_imports_back(
    kubo: KuboDocumentStore, local: EmbeddedDocumentStore, tmp_path: Path
) -> None:
    data = content(4 * 262144 + 1)
    cid = kubo.add(data, cid_version=1).cid
    local.add(data, cid_version=1)
    remote_car, local_car = io.BytesIO(), io.BytesIO()
    kubo.export_car(cid, remote_car)
    local.export_car(cid, local_car)
    assert remote_car.getvalue() == local_car.getvalue()
    other = EmbeddedDocumentStore(tmp_path / "other", durable=False)
    other_cid = other.add(content(600_000)).cid
    car = io.BytesIO()
    other.export_car(other_cid, car)
    car.seek(0)
    result = kubo.import_car(car)
    assert result.roots == (other_cid,) and result.blocks == len(list(CarReader(io.BytesIO(car.getvalue()))))
    assert other_cid in kubo.pins()


def test_gc_needs_an_admin_token(kubo: KuboDocumentStore, gateway: Gateway) -> None:
    loose = kubo.add(content(2000), pin=False).cid
    with pytest.raises(RemoteError) as info:
        kubo.gc()
    assert info.value.status == 403
    admin = KuboDocumentStore(gateway.url, token=gateway.admin_key)
    try:
        assert admin.gc().removed_blocks >= 1
    finally:
        admin.close()
    assert not kubo.has(loose)


def test_client_side_limit(gateway: Gateway, partner_key: str) -> None:
    limited = KuboDocumentStore(gateway.url, token=partner_key, max_add_size=1000)
    try:
        with pytest.raises(TooLarge):
            limited.add(content(1001))
        assert limited.add(content(1000)).size == 1000
    finally:
        limited.close()


def test_unreachable_node_is_a_remote_error() -> None:
    dead = KuboDocumentStore("http://127.0.0.1:9", timeout=2)
    with pytest.raises(RemoteError):
        dead.pins()
