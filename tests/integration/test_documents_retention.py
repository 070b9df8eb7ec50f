"""Retention of anchored documents: kept through GC, reported when missing, backed up as one CAR.

The anchored set is read from the chain's ``DocumentAnchored`` events. The session's gateway is
shared with other modules, some of which anchor CIDs that were never stored; so every assertion
here is about this module's own CIDs.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.documents.__main__ import main as documents_cli
from gateway.documents.car import CarReader
from gateway.documents.cid import Cid
from gateway.documents.dagpb import decode_pbnode
from gateway.documents.store import EmbeddedDocumentStore
from tests.conftest import Gateway
from tests.integration.test_ipfs_compat import onboard

pytestmark = pytest.mark.integration

GTIN = "00614141812349"
ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Anchored:
    cid: str
    data: bytes
    confidential: bool


@dataclass
class Setup:
    gateway: Gateway
    maker: httpx.Client
    admin: httpx.Client
    docs: list[Anchored]


def settle(client: httpx.Client, submission_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 30
    while True:
        body: dict[str, Any] = client.get(f"/v1/submissions/{submission_id}").json()
        if body["status"] in ("confirmed", "failed"):
            assert body["status"] == "confirmed", body
            return body
        assert time.monotonic() < deadline, body
        time.sleep(0.03)


@pytest.fixture(scope="module")
def setup(gateway: Gateway) -> Iterator[Setup]:
    admin = gateway.client(gateway.admin_key)
    maker = gateway.client(onboard(admin, "retention-maker", "manufacturer")["api_key"]["key"])
    serial = f"RET{os.getpid()}"
    items = maker.post("/v1/items", json={"items": [{"gtin": GTIN, "serial": serial}]})
    settle(maker, items.json()["id"])
    docs = []
    for i, (size, confidential) in enumerate([(1000, False), (700_000, False), (300_000, True)]):
        data = (f"retention {os.getpid()} doc {i} ".encode() * (size // 20 + 1))[:size]
        fields = {"document_type": "other", "object": f"urn:epc:id:sgtin:0614141.081234.{serial}",
                  "confidential": str(confidential).lower()}  # fmt: skip
        uploaded = maker.post("/v1/documents", data=fields, files={"file": ("d.bin", data)})
        assert uploaded.status_code == 202, uploaded.text
        settle(maker, uploaded.json()["submission"]["id"])
        docs.append(Anchored(uploaded.json()["cid"], data, confidential))
    yield Setup(gateway, maker, admin, docs)
    maker.close()
    admin.close()


def report(setup: Setup, deep: bool = False) -> dict[str, Any]:
    response = setup.admin.get("/v1/documents/retention", params={"deep": str(deep).lower()})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def missing(body: dict[str, Any]) -> dict[str, str]:
    return {m["cid"]: m["reason"] for m in body["missing"]}


def readd(setup: Setup, doc: Anchored) -> None:
    """Adds a public document's bytes again, as anyone holding a copy could."""
    response = setup.maker.post("/api/v0/add", params={"cid-version": 1}, files={"file": ("x", doc.data)})
    assert response.json()["Hash"] == doc.cid


def test_report_is_admin_only_and_finds_everything_present(setup: Setup) -> None:
    assert setup.maker.get("/v1/documents/retention").status_code == 403
    body = report(setup)
    ours = {d.cid for d in setup.docs}
    assert not ours & set(missing(body)) and body["anchored"] >= 3


def test_gc_keeps_anchored_documents_even_unpinned(setup: Setup) -> None:
    documents = setup.gateway.services.documents
    victim = setup.docs[1]
    documents.store.unpin(victim.cid)  # bypassing the guard, as a bug or an operator might
    result = documents.gc()
    assert result.removed_blocks >= 0
    assert Cid.parse(victim.cid) in documents.store.pins()
    assert setup.maker.get(f"/v1/documents/{victim.cid}").content == victim.data


def test_report_finds_a_deleted_document_until_it_is_added_again(
    setup: Setup, capsys: pytest.CaptureFixture[str]
) -> None:
    documents = setup.gateway.services.documents
    store = documents.store
    assert isinstance(store, EmbeddedDocumentStore)
    victim = setup.docs[0]
    store.unpin(victim.cid)
    store.gc()  # the raw store's GC knows nothing of anchors: the document is gone
    assert not store.has(victim.cid)
    assert missing(report(setup)).get(victim.cid) == "ipfs.not_found"
    gateway = setup.gateway  # the command, in this process (a subprocess is exercised by the backup test)
    assert documents_cli(["--rpc-url", gateway.services.chain.rpc_url, "report"], settings=gateway.settings) == 2
    assert victim.cid in {m["cid"] for m in json.loads(capsys.readouterr().out)["missing"]}
    readd(setup, victim)
    assert victim.cid not in missing(report(setup))


def test_deep_report_finds_a_damaged_block(setup: Setup) -> None:
    store = setup.gateway.services.documents.store
    assert isinstance(store, EmbeddedDocumentStore)
    victim = setup.docs[1]
    leaf = decode_pbnode(store.get_block(Cid.parse(victim.cid))).links[1].cid
    location = store.blocks.locate(leaf)
    with open(location.path, "r+b") as fh:
        fh.seek(location.offset + 7)
        byte = fh.read(1)
        fh.seek(location.offset + 7)
        fh.write(bytes([byte[0] ^ 0xFF]))
    assert victim.cid not in missing(report(setup))  # the shallow check sees every block present
    assert missing(report(setup, deep=True)).get(victim.cid) == "ipfs.integrity"
    readd(setup, victim)  # re-adding repairs the damaged copy
    assert victim.cid not in missing(report(setup, deep=True))


def run_cli(gateway: Gateway, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "CUSTODY_DATA_DIR": str(gateway.settings.data_dir),
        "CUSTODY_RPC_URL": gateway.services.chain.rpc_url,
        "CUSTODY_KEYSTORE_PASSPHRASE": "test-passphrase",
        "CUSTODY_KEYSTORE_SCRYPT_N": str(2**12),
    }
    return subprocess.run(
        [sys.executable, "-m", "gateway.documents", *args], cwd=ROOT, env=env, capture_output=True, text=True,
        timeout=120, check=False,
    )  # fmt: skip


def test_backup_command_writes_one_car_that_restores_everything(setup: Setup, tmp_path: Path) -> None:
    out = tmp_path / "backup" / "anchored.car"
    result = run_cli(setup.gateway, "backup", "--out", str(out))
    assert result.returncode in (0, 2), result.stderr  # 2: other modules anchored CIDs they never stored
    summary = json.loads(result.stdout)
    ours = [d.cid for d in setup.docs]
    assert set(ours) <= set(summary["roots"]) and summary["out"] == str(out)
    with out.open("rb") as fh:
        reader = CarReader(fh)
        roots = [str(r) for r in reader.roots]
        blocks = list(reader)  # every block verified against its CID
    assert roots == summary["roots"] and len(blocks) == summary["blocks"]
    assert len({cid.multihash for cid, _ in blocks}) == len(blocks)  # each block once

    fresh = EmbeddedDocumentStore(tmp_path / "restored", durable=False)
    with out.open("rb") as fh:
        imported = fresh.import_car(fh)
    assert [str(r) for r in imported.roots] == roots
    store = setup.gateway.services.documents.store
    for doc in setup.docs:
        restored = b"".join(fresh.cat(doc.cid))
        assert restored == b"".join(store.cat(doc.cid))
        assert (restored == doc.data) is not doc.confidential  # a confidential one comes back as its envelope
    with io.BytesIO() as car:
        fresh.export_car(ours[1], car)
        assert car.tell() > 700_000
