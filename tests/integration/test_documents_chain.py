"""Documents linked to the chain, over real HTTP against a real Anvil node.

Upload through ``POST /v1/documents`` → the ``AnchorDocument`` submission is mined → ``GET
/v1/documents/{cid}`` serves the bytes only after checking the anchor on chain and re-hashing the
content; confidential documents are envelopes only their recipients can open; tampering with the
stored blocks turns a read into a problem, never into wrong bytes.
"""

from __future__ import annotations

import itertools
import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from chain_client.ledger import object_id, shipment_subject
from gateway.documents.anchors import document_id
from gateway.documents.cid import Cid
from gateway.documents.envelope import MAGIC
from gateway.documents.errors import Retained
from gateway.documents.kubo import KuboDocumentStore
from gateway.documents.store import EmbeddedDocumentStore
from gateway.documents.unixfs import import_file
from tests.conftest import Gateway
from tests.integration.test_ipfs_compat import onboard

pytestmark = pytest.mark.integration

PROBLEM = "application/problem+json"
GTIN = "00614141812349"  # company prefix 0614141, item reference 81234
_n = itertools.count(1)


def unique(prefix: str) -> str:
    return f"{prefix}{os.getpid() % 1000}x{next(_n)}"


def item_urn(serial: str) -> str:
    return f"urn:epc:id:sgtin:0614141.081234.{serial}"


def document(size: int, kind: str = "doc") -> bytes:
    line = f"{kind} {unique('D')} — certificate of analysis, lot 42\n".encode()
    return (line * (size // len(line) + 1))[:size]


def cid_of(data: bytes, cid_version: int = 1) -> str:
    class Sink:
        def put(self, cid: Cid, parts: Any) -> None:
            pass

    return str(import_file(data, Sink(), cid_version=cid_version).cid)


@dataclass
class Party:
    id: int
    key: str
    client: httpx.Client


@dataclass
class Net:
    gateway: Gateway
    admin: httpx.Client
    parties: dict[str, Party] = field(default_factory=dict)

    def __getattr__(self, name: str) -> Party:
        try:
            return self.parties[name]
        except KeyError:
            raise AttributeError(name) from None

    def onboard(self, name: str, role: str) -> Party:
        body = onboard(self.admin, f"docs-{name}", role)
        party = Party(body["partner_id"], body["api_key"]["key"], self.gateway.client(body["api_key"]["key"]))
        self.parties[name] = party
        return party


@pytest.fixture(scope="module")
def net(gateway: Gateway) -> Iterator[Net]:
    net = Net(gateway, gateway.client(gateway.admin_key))
    net.onboard("maker", "manufacturer")
    net.onboard("distributor", "distributor")
    net.onboard("pharmacy", "dispenser")
    net.onboard("auditor", "auditor")
    yield net
    for party in net.parties.values():
        party.client.close()
    net.admin.close()


def settle(client: httpx.Client, submission_id: str, timeout: float = 30.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        body: dict[str, Any] = client.get(f"/v1/submissions/{submission_id}").json()
        if body["status"] in ("confirmed", "failed"):
            return body
        assert time.monotonic() < deadline, body
        time.sleep(0.03)


def confirmed(party: Party, path: str, body: dict[str, Any]) -> dict[str, Any]:
    response = party.client.post(path, json=body)
    assert response.status_code == 202, response.text
    final = settle(party.client, response.json()["id"])
    assert final["status"] == "confirmed", final
    return final


def new_item(net: Net) -> str:
    serial = unique("DOC")
    confirmed(net.maker, "/v1/items", {"items": [{"gtin": GTIN, "serial": serial}]})
    return serial


def upload(party: Party, data: bytes, filename: str = "coa.pdf", content_type: str = "application/pdf",
           **fields: str) -> httpx.Response:  # fmt: skip
    fields.setdefault("document_type", "certificate_of_analysis")
    return party.client.post("/v1/documents", data=fields, files={"file": (filename, data, content_type)})


def anchored(party: Party, data: bytes, **fields: str) -> dict[str, Any]:
    """Uploads, waits for the anchor to be mined, returns the upload answer plus the final submission."""
    response = upload(party, data, **fields)
    assert response.status_code == 202, response.text
    body: dict[str, Any] = response.json()
    assert response.headers["location"] == f"/v1/submissions/{body['submission']['id']}"
    body["final"] = settle(party.client, body["submission"]["id"])
    assert body["final"]["status"] == "confirmed", body["final"]
    return body


@pytest.fixture(scope="module")
def item(net: Net) -> str:
    return new_item(net)


# -- upload, anchor, verified read ------------------------------------------------------------------


def test_upload_anchors_the_cid_on_chain_and_reads_back_verified(net: Net, item: str, gateway: Gateway) -> None:
    data = b"%PDF-1.7\n" + document(600_000)
    body = anchored(net.maker, data, object=item_urn(item))
    assert body["cid"] == cid_of(data) and body["size"] == len(data) and body["confidential"] is False
    assert body["content_type"] == "application/pdf" and body["submission"]["operation"] == "anchor_document"
    (event,) = body["final"]["events"]
    subject = object_id(item_urn(item))
    doc_id = document_id(subject, Cid.parse(body["cid"]))
    assert (event["event"], event["subject"], event["document_id"], event["partner_id"], event["doc_type"]) == (
        "DocumentAnchored", subject, doc_id, net.maker.id, "certificate_of_analysis")  # fmt: skip
    assert gateway.services.ledger.document_anchored_at(doc_id) > 0
    assert body["final"]["tx_hash"].startswith("0x") and body["final"]["block_number"] > 0  # the transaction
    meta = httpx.get(f"{gateway.url}/v1/documents/{body['cid']}/metadata").json()
    assert [a["tx_hash"] for a in meta["anchors"]] == [body["final"]["tx_hash"]]

    response = httpx.get(f"{gateway.url}/v1/documents/{body['cid']}")  # public: no key needed
    assert response.status_code == 200, response.text
    assert response.content == data
    assert response.headers["content-type"] == "application/pdf"
    assert response.headers["etag"] == f'"{body["cid"]}"'
    assert response.headers["x-custody-document-ids"] == doc_id
    assert response.headers["content-disposition"] == 'inline; filename="coa.pdf"'


def test_metadata_lists_the_anchors_of_a_cid(net: Net, item: str, gateway: Gateway) -> None:
    data = document(5000)
    first = anchored(net.maker, data, object=item_urn(item), document_type="invoice")
    other = new_item(net)
    anchored(net.maker, data, object=item_urn(other), document_type="photo")  # the same CID, a second subject
    meta = httpx.get(f"{gateway.url}/v1/documents/{first['cid']}/metadata").json()
    assert meta["cid"] == first["cid"] and meta["stored"] and not meta["confidential"]
    assert meta["size"] == len(data) and meta["content_type"] == "application/pdf" and meta["pending"] == []
    assert [(a["subject"], a["document_type"], a["partner_id"]) for a in meta["anchors"]] == [
        (object_id(item_urn(item)), "invoice", net.maker.id),
        (object_id(item_urn(other)), "photo", net.maker.id),
    ]
    assert all(a["tx_hash"].startswith("0x") and a["block_number"] > 0 for a in meta["anchors"])
    read = httpx.get(f"{gateway.url}/v1/documents/{first['cid']}")
    assert len(read.headers["x-custody-document-ids"].split(",")) == 2


def test_upload_to_a_shipment_and_with_gs1_keys(net: Net) -> None:
    serial = new_item(net)
    ship = confirmed(net.maker, "/v1/shipments", {"objects": [{"gtin": GTIN, "serial": serial}],
                                                  "receiver": net.distributor.id})  # fmt: skip
    shipment = int(ship["events"][0]["shipment_id"])
    bol = anchored(net.maker, document(2000), shipment_id=str(shipment), document_type="bill_of_lading")
    (event,) = bol["final"]["events"]
    assert event["subject"] == shipment_subject(shipment) and event["doc_type"] == "bill_of_lading"
    keys = anchored(net.maker, document(100), object=json.dumps({"gtin": GTIN, "serial": serial}))
    assert keys["final"]["events"][0]["subject"] == object_id(item_urn(serial))
    assert net.distributor.client.get(f"/v1/documents/{bol['cid']}").status_code == 200


def test_content_type_is_sniffed_when_not_declared(net: Net, item: str) -> None:
    png = b"\x89PNG\r\n\x1a\n" + document(300)
    body = anchored(net.maker, png, object=item_urn(item), document_type="photo")
    response = upload(net.maker, png, "x", "application/octet-stream", object=item_urn(item))
    assert body["content_type"] == "application/pdf"  # declared by the client
    assert response.json()["content_type"] == "image/png"


def test_unanchored_content_is_not_served_as_a_document(net: Net, gateway: Gateway) -> None:
    added = net.maker.client.post("/api/v0/add", files={"file": ("x", document(100))}).json()
    response = httpx.get(f"{gateway.url}/v1/documents/{added['Hash']}")
    assert response.status_code == 409 and response.headers["content-type"] == PROBLEM
    assert response.json()["code"] == "documents.not_anchored"


def test_idempotent_upload(net: Net, item: str) -> None:
    data = document(1000)
    key = {"Idempotency-Key": unique("k")}
    fields = {"document_type": "invoice", "object": item_urn(item)}
    first = net.maker.client.post("/v1/documents", data=fields, files={"file": ("a", data)}, headers=key)
    again = net.maker.client.post("/v1/documents", data=fields, files={"file": ("a", data)}, headers=key)
    assert (first.status_code, again.status_code) == (202, 200)
    assert first.json()["submission"]["id"] == again.json()["submission"]["id"]


# -- tampering: never served silently -------------------------------------------------------------


def flip(path: os.PathLike[str] | str, offset: int) -> None:
    with open(path, "r+b") as fh:
        fh.seek(offset)
        byte = fh.read(1)
        fh.seek(offset)
        fh.write(bytes([byte[0] ^ 0x01]))


@pytest.mark.parametrize("where", ["leaf", "root"])
def test_a_tampered_block_is_a_502_problem(net: Net, item: str, gateway: Gateway, where: str) -> None:
    data = document(3 * 262144 + 11)
    body = anchored(net.maker, data, object=item_urn(item))
    store = gateway.services.documents.store
    assert isinstance(store, EmbeddedDocumentStore)
    root = Cid.parse(body["cid"])
    from gateway.documents.dagpb import decode_pbnode

    victim = root if where == "root" else decode_pbnode(store.get_block(root)).links[2].cid
    location = store.blocks.locate(victim)
    flip(location.path, location.offset + location.length // 2)
    response = httpx.get(f"{gateway.url}/v1/documents/{root}")
    assert response.status_code == 502 and response.headers["content-type"] == PROBLEM
    problem = response.json()
    assert problem["code"] == "ipfs.integrity" and str(victim) in problem["detail"]
    if where == "root":
        assert httpx.get(f"{gateway.url}/ipfs/{root}").status_code == 502
    else:
        with pytest.raises(httpx.HTTPError):  # the stream is cut, never completed with wrong bytes
            assert len(httpx.get(f"{gateway.url}/ipfs/{root}").content) == len(data)
    net.maker.client.post("/api/v0/add", params={"cid-version": 1}, files={"file": ("x", data)})  # repairs
    assert httpx.get(f"{gateway.url}/v1/documents/{root}").content == data


def test_a_missing_block_is_a_404_problem(net: Net, item: str, gateway: Gateway) -> None:
    data = document(2 * 262144 + 1)
    body = anchored(net.maker, data, object=item_urn(item))
    store = gateway.services.documents.store
    assert isinstance(store, EmbeddedDocumentStore)
    from gateway.documents.dagpb import decode_pbnode

    leaf = decode_pbnode(store.get_block(Cid.parse(body["cid"]))).links[1].cid
    store.blocks.delete_many([leaf.multihash])
    response = httpx.get(f"{gateway.url}/v1/documents/{body['cid']}")
    assert response.status_code == 404 and response.json()["code"] == "ipfs.not_found"
    assert str(leaf) in response.json()["detail"]
    net.maker.client.post("/api/v0/add", params={"cid-version": 1}, files={"file": ("x", data)})
    assert httpx.get(f"{gateway.url}/v1/documents/{body['cid']}").content == data


# -- where a read finds the anchors: the indexer's read model, confirmed on chain -------------------


def test_reads_find_anchors_through_the_indexer_and_survive_a_lagging_one(
    net: Net, item: str, gateway: Gateway, tmp_path: Path
) -> None:
    from gateway.db import make_engine, session_factory, upgrade
    from gateway.documents.anchors import AnchorReader, IndexedAnchors
    from gateway.documents.service import DocumentService

    data = document(900, "INDEXED")  # added over /api/v0, anchored over /v1/document-anchors: not in the catalog
    cid = net.maker.client.post("/api/v0/add", params={"cid-version": 1}, files={"file": ("x", data)}).json()["Hash"]
    confirmed(net.maker, "/v1/document-anchors", {"object": {"epc": item_urn(item)}, "document_type": "invoice",
                                                  "cid": cid})  # fmt: skip
    gateway.services.indexer.catch_up()
    documents = gateway.services.documents
    subject = object_id(item_urn(item))
    assert documents.catalog.anchors(cid) == []
    assert [a.subject for a in documents.anchors.indexed_anchors_of(Cid.parse(cid)) or []] == [subject]
    response = httpx.get(f"{gateway.url}/v1/documents/{cid}")
    assert response.status_code == 200 and response.content == data
    assert response.headers["x-custody-document-ids"] == document_id(subject, Cid.parse(cid))

    # A read model that has not seen the anchor yet (empty): the chain's events still find it.
    engine = make_engine(f"sqlite:///{tmp_path / 'lagging.db'}")
    upgrade(engine)
    lagging = DocumentService(
        documents.store, documents.catalog, documents.keys,
        AnchorReader(lambda: gateway.services.ledger, IndexedAnchors(session_factory(engine))), gateway.services,
        max_upload_bytes=documents.max_upload_bytes, compat_version=documents.compat_version,
    )  # fmt: skip
    assert lagging.anchors.indexed_anchors_of(Cid.parse(cid)) == []
    assert [a.subject for a in lagging.confirmed_anchors(Cid.parse(cid))] == [subject]
    assert b"".join(lagging.open(cid, None).body) == data
    engine.dispose()


# -- end-to-end verification of one document (audits, the verify command) --------------------------


def test_verify_reports_anchor_and_content_of_one_document(
    net: Net, item: str, gateway: Gateway, capsys: pytest.CaptureFixture[str]
) -> None:
    from gateway.documents.__main__ import main as documents_cli
    from gateway.documents.dagpb import decode_pbnode
    from gateway.documents.errors import InvalidCID

    documents = gateway.services.documents
    store = documents.store
    assert isinstance(store, EmbeddedDocumentStore)
    data = document(2 * 262144 + 5)
    body = anchored(net.maker, data, object=item_urn(item), document_type="temperature_log")
    cid, subject = Cid.parse(body["cid"]), object_id(item_urn(item))

    good = documents.verify(cid)
    assert (good.ok, good.anchored, good.content, good.detail, good.confidential) == (True, True, "intact", None, False)
    assert [(a.subject, a.document_id) for a in good.anchors] == [(subject, document_id(subject, cid))]
    assert good.anchors[0].anchored_at > 0
    assert documents.verify(str(cid), subject=subject).ok
    elsewhere = documents.verify(cid, subject=object_id(item_urn(new_item(net))))
    assert (elsewhere.ok, elsewhere.anchored, elsewhere.content) == (False, False, "intact")

    leaf = decode_pbnode(store.get_block(cid)).links[1].cid
    location = store.blocks.locate(leaf)
    flip(location.path, location.offset + 100)
    damaged = documents.verify(cid)
    assert (damaged.ok, damaged.anchored, damaged.content) == (False, True, "ipfs.integrity")
    assert damaged.detail is not None and str(leaf) in damaged.detail
    store.blocks.delete_many([leaf.multihash])
    assert documents.verify(cid).content == "ipfs.not_found"
    rpc = ["--rpc-url", gateway.services.chain.rpc_url]
    assert documents_cli([*rpc, "verify", str(cid)], settings=gateway.settings) == 2
    printed = json.loads(capsys.readouterr().out)
    assert (printed["ok"], printed["anchored"], printed["content"]) == (False, True, "ipfs.not_found")
    assert printed["anchors"][0]["document_id"] == document_id(subject, cid)

    net.maker.client.post("/api/v0/add", params={"cid-version": 1}, files={"file": ("x", data)})  # repairs
    assert documents.verify(cid).ok
    assert documents_cli([*rpc, "verify", str(cid)], settings=gateway.settings) == 0
    assert json.loads(capsys.readouterr().out)["ok"] is True
    assert documents_cli([*rpc, "verify", "not-a-cid"], settings=gateway.settings) == 1
    assert "not a CID" in capsys.readouterr().err

    unanchored = net.maker.client.post("/api/v0/add", files={"file": ("x", document(300))}).json()["Hash"]
    assert (documents.verify(unanchored).anchored, documents.verify(unanchored).content) == (False, "intact")
    assert documents.verify(cid_of(b"never stored anywhere")).content == "ipfs.not_found"
    with pytest.raises(InvalidCID):
        documents.verify("not-a-cid")


def test_verify_checks_a_confidential_document_as_its_envelope(net: Net, item: str, gateway: Gateway) -> None:
    body = anchored(net.maker, document(5000, "VERIFY-SEALED"), object=item_urn(item), confidential="true")
    result = gateway.services.documents.verify(body["cid"])
    assert (result.ok, result.confidential, result.content) == (True, True, "intact")


# -- confidential documents -----------------------------------------------------------------------


def test_confidential_round_trip_and_access(net: Net, item: str, gateway: Gateway) -> None:
    secret = document(200_000, "CONFIDENTIAL-PLAINTEXT-MARKER")
    body = anchored(net.maker, secret, object=item_urn(item), confidential="true")
    cid = body["cid"]
    assert body["confidential"] and body["size"] == len(secret) and body["stored_size"] > len(secret)
    assert net.maker.id in body["recipients"] and net.auditor.id in body["recipients"]
    assert net.distributor.id not in body["recipients"]

    for reader in (net.maker, net.auditor):
        response = reader.client.get(f"/v1/documents/{cid}")
        assert response.status_code == 200 and response.content == secret
        assert response.headers["cache-control"] == "private, no-cache"
        assert response.headers["content-length"] == str(len(secret))

    denied = net.distributor.client.get(f"/v1/documents/{cid}")
    assert denied.status_code == 403 and denied.json()["code"] == "documents.forbidden"
    anonymous = httpx.get(f"{gateway.url}/v1/documents/{cid}")
    assert anonymous.status_code == 401 and anonymous.json()["code"] == "documents.auth_required"
    with gateway.client(gateway.admin_key) as admin:
        assert admin.get(f"/v1/documents/{cid}").status_code == 403

    # The IPFS paths hold ciphertext only, and follow the same visibility.
    assert httpx.get(f"{gateway.url}/ipfs/{cid}").status_code == 401
    assert net.distributor.client.post("/api/v0/cat", params={"arg": cid}).status_code == 403
    raw = net.maker.client.get(f"/ipfs/{cid}")
    assert raw.status_code == 200 and raw.content.startswith(MAGIC)
    assert raw.headers["cache-control"].startswith("private")
    assert raw.headers["content-type"] == "application/octet-stream"
    car = net.maker.client.post("/api/v0/dag/export", params={"arg": cid}).content
    assert b"CONFIDENTIAL-PLAINTEXT-MARKER" not in car and b"CONFIDENTIAL-PLAINTEXT-MARKER" not in raw.content

    meta = net.distributor.client.get(f"/v1/documents/{cid}/metadata").json()
    assert meta["confidential"] and meta["size"] is None and meta["filename"] is None and meta["anchors"]
    mine = net.maker.client.get(f"/v1/documents/{cid}/metadata").json()
    assert mine["size"] == len(secret) and mine["filename"] == "coa.pdf" and net.maker.id in mine["recipients"]


def test_confidential_recipients_named_and_related(net: Net) -> None:
    serial = new_item(net)
    ship = confirmed(net.maker, "/v1/shipments", {"objects": [{"gtin": GTIN, "serial": serial}],
                                                  "receiver": net.distributor.id})  # fmt: skip
    shipment = ship["events"][0]["shipment_id"]
    secret = document(1000, "SHIPMENT-SECRET")
    body = anchored(net.maker, secret, shipment_id=str(shipment), document_type="transaction_statement",
                    confidential="true", recipients=str(net.pharmacy.id))  # fmt: skip
    assert {net.maker.id, net.distributor.id, net.pharmacy.id, net.auditor.id} <= set(body["recipients"])
    for reader in (net.distributor, net.pharmacy):
        assert reader.client.get(f"/v1/documents/{body['cid']}").content == secret


def test_tampered_ciphertext_is_refused(net: Net, item: str, gateway: Gateway) -> None:
    secret = document(400_000, "SEALED")  # two leaves: the root is a dag-pb node
    body = anchored(net.maker, secret, object=item_urn(item), confidential="true")
    store = gateway.services.documents.store
    assert isinstance(store, EmbeddedDocumentStore)
    from gateway.documents.dagpb import decode_pbnode

    leaf = decode_pbnode(store.get_block(Cid.parse(body["cid"]))).links[0].cid
    location = store.blocks.locate(leaf)
    flip(location.path, location.offset + location.length - 3)
    response = net.maker.client.get(f"/v1/documents/{body['cid']}")
    assert response.status_code == 502 and response.json()["code"] == "ipfs.integrity"


# -- retention of anchored documents ---------------------------------------------------------------


def test_anchored_documents_stay_pinned(net: Net, item: str, gateway: Gateway) -> None:
    data = document(10_000)
    cid = anchored(net.maker, data, object=item_urn(item))["cid"]
    refused = net.maker.client.post("/api/v0/pin/rm", params={"arg": cid})
    assert refused.status_code == 500 and refused.headers["x-custody-code"] == "ipfs.retained"
    kubo = KuboDocumentStore(gateway.url, token=net.maker.key)
    try:
        with pytest.raises(Retained):
            kubo.unpin(cid)
    finally:
        kubo.close()
    documents = gateway.services.documents
    documents.store.unpin(cid)  # behind the service's back: GC still keeps it, and pins it again
    with gateway.client(gateway.admin_key) as admin:
        assert admin.post("/api/v0/repo/gc").status_code == 200
    assert Cid.parse(cid) in documents.store.pins()
    assert httpx.get(f"{gateway.url}/v1/documents/{cid}").content == data


# -- bad input ---------------------------------------------------------------------------------------


def problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body: dict[str, Any] = response.json()
    assert body["code"] == code
    return body


def test_reads_of_bad_or_unknown_cids(gateway: Gateway) -> None:
    problem(httpx.get(f"{gateway.url}/v1/documents/not-a-cid"), 422, "ipfs.invalid_cid")
    problem(httpx.get(f"{gateway.url}/v1/documents/{cid_of(b'never stored')}"), 404, "ipfs.not_found")
    problem(httpx.get(f"{gateway.url}/v1/documents/not-a-cid/metadata"), 422, "ipfs.invalid_cid")
    unknown = httpx.get(f"{gateway.url}/v1/documents/{cid_of(b'never stored')}/metadata")
    assert unknown.status_code == 200
    assert (unknown.json()["stored"], unknown.json()["anchors"], unknown.json()["pending"]) == (False, [], [])


def test_upload_bad_input(net: Net, item: str, gateway: Gateway, monkeypatch: pytest.MonkeyPatch) -> None:
    urn = item_urn(item)
    client = net.maker.client
    problem(client.post("/v1/documents", json={"document_type": "invoice"}), 415, "documents.unsupported_media_type")
    problem(client.post("/v1/documents", data={"object": urn}, files={"file": ("a", b"x")}), 422,
            "documents.invalid_upload")  # fmt: skip
    problem(upload(net.maker, b"x", object=urn, shipment_id="1"), 422, "documents.invalid_upload")
    problem(upload(net.maker, b"x"), 422, "documents.invalid_upload")  # no subject
    problem(upload(net.maker, b"x", object=urn, document_type="selfie"), 422, "documents.invalid_upload")
    problem(upload(net.maker, b"x", object=urn, confidential="maybe"), 422, "documents.invalid_upload")
    unknown = upload(net.maker, b"x", object=urn, confidential="true", recipients="4000000000")
    assert problem(unknown, 422, "documents.invalid_upload")["field"] == "recipients"
    problem(upload(net.maker, b"x", object="urn:epc:id:sgtin:0614141.081234"), 422, "gs1.epc_urn")
    problem(client.post("/v1/documents", files={"document_type": (None, "invoice"), "object": (None, urn)}), 422,
            "documents.invalid_upload")  # fmt: skip
    monkeypatch.setattr(gateway.services.documents, "max_upload_bytes", 100_000)
    too_large = problem(upload(net.maker, document(100_001), object=urn), 413, "ipfs.too_large")
    assert "100000" in too_large["detail"]
    problem(httpx.post(f"{gateway.url}/v1/documents", files={"file": ("a", b"x")}), 401, "auth.missing_key")
    problem(net.auditor.client.post("/v1/documents", data={"document_type": "invoice", "object": urn},
                                    files={"file": ("a", b"x")}), 403, "auth.forbidden")  # fmt: skip


def test_file_sent_before_the_fields_is_accepted(net: Net, item: str) -> None:
    data = document(3000)
    boundary = "xyz"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="f.txt"\r\n'
            f"Content-Type: text/plain\r\n\r\n"
        ).encode()
        + data
        + (
            f'\r\n--{boundary}\r\nContent-Disposition: form-data; name="document_type"\r\n\r\nother'
            f'\r\n--{boundary}\r\nContent-Disposition: form-data; name="object"\r\n\r\n{item_urn(item)}'
            f"\r\n--{boundary}--\r\n"
        ).encode()
    )
    response = net.maker.client.post(
        "/v1/documents", content=body, headers={"Content-Type": f"multipart/form-data; boundary={boundary}"}
    )
    assert response.status_code == 202, response.text
    assert response.json()["cid"] == cid_of(data) and response.json()["content_type"] == "text/plain"


def test_openapi_documents_the_upload_form(gateway: Gateway) -> None:
    spec = httpx.get(f"{gateway.url}/openapi.json", timeout=120).json()  # built on first use: slow on a busy box
    form = spec["paths"]["/v1/documents"]["post"]["requestBody"]["content"]["multipart/form-data"]["schema"]
    assert {"file", "document_type", "object", "shipment_id", "confidential"} <= set(form["properties"])
