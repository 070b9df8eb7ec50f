"""Document anchors and Merkle event batches against a real Anvil node."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any
from unittest.mock import ANY

import httpx
import pytest
from eth_abi.abi import encode
from eth_utils.crypto import keccak
from multiformats import CID, multihash

from chain_client.errors import ContractRevert
from chain_client.events import DocumentAnchored, EventBatchAnchored, ShipmentDispatched
from chain_client.ledger import object_id, shipment_subject
from chain_client.merkle import EventMerkleTree
from chain_client.models import DocumentType, ShipmentInfo
from tests.conftest import Network, sgtin, unique_serial

pytestmark = pytest.mark.integration


@contextmanager
def reverts(name: str, code: str, **arguments: Any) -> Iterator[None]:
    """Expects the block to revert with exactly this custom error, code and arguments."""
    with pytest.raises(ContractRevert) as info:
        yield
    assert (info.value.name, info.value.code, info.value.arguments) == (name, code, arguments)


def cid(version: int = 0, codec: str = "dag-pb", hash_name: str = "sha2-256") -> bytes:
    """The binary CID of fresh content."""
    digest = multihash.digest(unique_serial("doc").encode(), hash_name)
    return bytes(CID("base58btc" if version == 0 else "base32", version, codec, digest))


def document_id(subject: str, cid_: bytes) -> str:
    return "0x" + keccak(bytes.fromhex(subject[2:]) + keccak(cid_)).hex()


def block_timestamp(network: Network, block_number: int) -> int:
    return int(network.w3.eth.get_block(block_number)["timestamp"])


def anchored(subject: str, cid_: bytes, partner_id: int, doc_type: DocumentType) -> DocumentAnchored:
    return DocumentAnchored(
        meta=ANY,
        subject=subject,
        document_id=document_id(subject, cid_),
        partner_id=partner_id,
        doc_type=doc_type,
        cid=cid_,
    )


# --- anchoring -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cid_", "prefix"),
    [
        pytest.param(cid(0), "1220", id="cidv0"),
        pytest.param(cid(1, "dag-pb"), "01701220", id="cidv1-dag-pb"),
        pytest.param(cid(1, "raw"), "01551220", id="cidv1-raw"),
        pytest.param(cid(1, "dag-cbor"), "01711220", id="cidv1-dag-cbor"),
        pytest.param(cid(1, "dag-jose"), "0185011220", id="cidv1-two-byte-codec"),
    ],
)
def test_anchor_a_document_to_an_object(network: Network, cid_: bytes, prefix: str) -> None:
    assert cid_.hex().startswith(prefix)
    item = network.register()
    doc = document_id(item, cid_)
    assert network.ledger.document_anchored_at(doc) == 0

    result = network.as_(network.maker).anchor_document(item, DocumentType.CERTIFICATE_OF_ANALYSIS, cid_)

    assert result.events == [anchored(item, cid_, network.maker.id, DocumentType.CERTIFICATE_OF_ANALYSIS)]
    assert network.ledger.document_anchored_at(doc) == block_timestamp(network, result.receipt.block_number)


def test_every_document_type_roundtrips(network: Network) -> None:
    item = network.register()
    for doc_type in DocumentType:
        c = cid(1, "raw")
        result = network.as_(network.maker).anchor_document(item, doc_type, c)
        assert result.events == [anchored(item, c, network.maker.id, doc_type)]


def test_anchor_a_document_to_a_shipment(network: Network) -> None:
    item = network.register()
    m, d, p = network.maker.id, network.distributor.id, network.pharmacy.id
    sid = network.as_(network.maker).ship([item], ShipmentInfo(d)).of(ShipmentDispatched)[0].shipment_id
    subject = shipment_subject(sid)
    assert subject == "0x" + f"{sid:064x}"
    bill, photo, statement = cid(0), cid(1, "raw"), cid(0)

    by_sender = network.as_(network.maker).anchor_document(subject, DocumentType.BILL_OF_LADING, bill)
    by_receiver = network.as_(network.distributor).anchor_document(subject, DocumentType.PHOTO, photo)

    assert by_sender.events == [anchored(subject, bill, m, DocumentType.BILL_OF_LADING)]
    assert by_receiver.events == [anchored(subject, photo, d, DocumentType.PHOTO)]
    with reverts("CustodyNotAuthorized", "custody.not_authorized", subject=subject, partnerId=p):
        network.as_(network.pharmacy).anchor_document(subject, DocumentType.OTHER, cid(0))
    network.as_(network.distributor).receive([item])
    network.as_(network.distributor).anchor_document(subject, DocumentType.TRANSACTION_STATEMENT, statement)
    assert network.ledger.document_anchored_at(document_id(subject, statement)) > 0


def test_who_may_anchor_to_an_object(network: Network) -> None:
    d, p = network.distributor.id, network.pharmacy.id
    maker = network.as_(network.maker)

    held_elsewhere = network.register()
    maker.transfer([held_elsewhere], d)
    network.as_(network.distributor).anchor_document(held_elsewhere, DocumentType.OTHER, cid())  # the custodian
    maker.anchor_document(held_elsewhere, DocumentType.OTHER, cid())  # the registrant

    owned_elsewhere = network.register()
    maker.transfer_ownership([owned_elsewhere], p)
    network.as_(network.pharmacy).anchor_document(owned_elsewhere, DocumentType.INVOICE, cid())  # the owner

    on_its_way = network.register()
    maker.ship([on_its_way], ShipmentInfo(d))
    network.as_(network.distributor).anchor_document(on_its_way, DocumentType.TEMPERATURE_LOG, cid())  # receiver

    packed = network.register()
    case = network.register_sscc()
    maker.pack(case, [packed])
    maker.transfer([case], d)
    network.as_(network.distributor).anchor_document(packed, DocumentType.PHOTO, cid())  # its container's custodian

    item = network.register()
    for partner in (network.maker2, network.pharmacy, network.auditor):
        with reverts("CustodyNotAuthorized", "custody.not_authorized", subject=item, partnerId=partner.id):
            network.as_(partner).anchor_document(item, DocumentType.OTHER, cid())
    with reverts("CustodyUnknownAccount", "custody.unknown_account", account=network.outsider.address):
        network.as_(network.outsider).anchor_document(item, DocumentType.OTHER, cid())


def test_a_former_owner_of_packed_goods_may_no_longer_anchor(network: Network) -> None:
    """Anchoring needs the object's custodian, owner, registrant or pending receiver; a packed object's
    owner is its container's owner (custodyOf), not whoever owned it when it was packed."""
    m, d, p = network.maker.id, network.distributor.id, network.pharmacy.id
    item = network.register()
    network.as_(network.maker).transfer([item], d)
    network.as_(network.maker).transfer_ownership([item], d)
    case = network.register_sscc(by=network.distributor)
    distributor = network.as_(network.distributor)
    distributor.pack(case, [item])
    distributor.transfer_ownership([case], p)
    distributor.transfer([case], p)
    view = network.ledger.custody_of(item)
    assert (view.custodian, view.owner, view.registrant, view.pending_receiver) == (p, p, m, 0)

    with reverts("CustodyNotAuthorized", "custody.not_authorized", subject=item, partnerId=d):
        distributor.anchor_document(item, DocumentType.OTHER, cid())


def test_anchor_to_an_unknown_object(network: Network) -> None:
    missing = object_id(sgtin(unique_serial("NEVER")))
    with reverts("CustodyUnknownObject", "custody.unknown_object", objectId=missing):
        network.as_(network.maker).anchor_document(missing, DocumentType.OTHER, cid())


def test_a_document_is_anchored_to_a_subject_once(network: Network) -> None:
    item, other = network.register_many(2)
    c = cid(0)
    maker = network.as_(network.maker)
    first = maker.anchor_document(item, DocumentType.CERTIFICATE_OF_ANALYSIS, c)
    when = network.ledger.document_anchored_at(document_id(item, c))
    with reverts(
        "CustodyDocumentAlreadyAnchored", "custody.document_already_anchored", documentId=document_id(item, c)
    ):
        maker.anchor_document(item, DocumentType.OTHER, c)  # whatever its type
    assert network.ledger.document_anchored_at(document_id(item, c)) == when
    assert when == block_timestamp(network, first.receipt.block_number)
    second = maker.anchor_document(other, DocumentType.CERTIFICATE_OF_ANALYSIS, c)  # another subject: another document
    assert second.of(DocumentAnchored)[0].document_id == document_id(other, c) != document_id(item, c)


@pytest.mark.parametrize(
    "bad",
    [
        pytest.param(b"", id="empty"),
        pytest.param(cid(0)[:-1], id="cidv0-short"),
        pytest.param(cid(0) + b"\x00", id="cidv0-long"),
        pytest.param(b"\x13\x20" + bytes(32), id="cidv0-not-sha2-256"),
        pytest.param(b"\x12\x21" + bytes(32), id="cidv0-wrong-digest-length"),
        pytest.param(cid(1, "raw", "sha2-512"), id="cidv1-sha2-512"),
        pytest.param(cid(1, "raw", "sha3-256"), id="cidv1-sha3-256"),
        pytest.param(cid(1, "raw")[:-1], id="cidv1-short"),
        pytest.param(cid(1, "raw") + b"\x00", id="cidv1-long"),
        pytest.param(b"\x02" + cid(1, "raw")[1:], id="cid-version-2"),
        pytest.param(b"\x01" + b"\x80" * 35, id="cidv1-unterminated-codec"),
        pytest.param(bytes.fromhex("12") * 34, id="garbage"),
    ],
)
def test_invalid_cid_is_rejected(network: Network, bad: bytes) -> None:
    item = network.register()
    with reverts("CustodyInvalidCid", "custody.invalid_cid"):
        network.as_(network.maker).anchor_document(item, DocumentType.OTHER, bad)


# --- Merkle batches of events --------------------------------------------------------------------


def event_hashes(n: int) -> list[bytes]:
    tag = unique_serial("batch")
    return [keccak(text=f"{tag}-{i}") for i in range(n)]


def event_root(network: Network, root: bytes) -> tuple[int, int, int]:
    return tuple(network.ledger.contract.functions.eventRoot(root).call())  # type: ignore[return-value]


def verify_on_chain(network: Network, root: bytes, proofs: Sequence[tuple[bytes, list[bytes]]]) -> list[bool]:
    """verifyEventInclusion for many (event hash, proof) pairs in one JSON-RPC batch of eth_calls."""
    selector = keccak(text="verifyEventInclusion(bytes32,bytes32,bytes32[])")[:4]
    batch = [
        {
            "jsonrpc": "2.0",
            "id": i,
            "method": "eth_call",
            "params": [
                {
                    "to": network.ledger.address,
                    "data": "0x" + (selector + encode(["bytes32", "bytes32", "bytes32[]"], [root, h, p])).hex(),
                },
                "latest",
            ],
        }
        for i, (h, p) in enumerate(proofs)
    ]
    with httpx.Client(timeout=60) as rpc:
        replies = sorted(rpc.post(network.node.rpc_url, json=batch).json(), key=lambda r: r["id"])
    return [bool(int(r["result"], 16)) for r in replies]


@pytest.mark.parametrize("size", [1, 2, 3, 7])
def test_every_leaf_of_an_anchored_batch_verifies_on_chain(network: Network, size: int) -> None:
    hashes = event_hashes(size)
    tree = EventMerkleTree.build(hashes)
    batch_cid = cid(1, "raw")

    result = network.as_(network.maker).anchor_event_batch(tree.root, size, batch_cid)

    assert result.events == [
        EventBatchAnchored(
            meta=ANY, root="0x" + tree.root.hex(), partner_id=network.maker.id, leaf_count=size, cid=batch_cid
        )
    ]
    assert event_root(network, tree.root) == (
        network.maker.id,
        size,
        block_timestamp(network, result.receipt.block_number),
    )
    for h in hashes:
        proof = tree.proof(h)
        assert EventMerkleTree.verify(tree.root, h, proof)
        assert network.ledger.verify_event_inclusion(tree.root, h, proof) is True
    if size == 1:
        assert tree.proof(hashes[0]) == [] and tree.root == keccak(keccak(hashes[0]))


def test_every_leaf_of_a_thousand_event_batch_verifies_on_chain(network: Network) -> None:
    hashes = event_hashes(1000)
    tree = EventMerkleTree.build(hashes)
    network.as_(network.distributor).anchor_event_batch(tree.root, 1000, b"")
    proofs = [(h, tree.proof(h)) for h in hashes]
    assert max(len(p) for _, p in proofs) == 10
    assert verify_on_chain(network, tree.root, proofs) == [True] * 1000
    assert network.ledger.verify_event_inclusion(tree.root, hashes[500], tree.proof(hashes[500])) is True


def test_wrong_proofs_and_unanchored_roots_do_not_verify(network: Network) -> None:
    hashes = event_hashes(7)
    tree = EventMerkleTree.build(hashes)
    anchored_root = tree.root
    network.as_(network.maker).anchor_event_batch(anchored_root, 7)
    ledger = network.ledger
    proof = tree.proof(hashes[3])
    assert ledger.verify_event_inclusion(anchored_root, hashes[3], proof) is True

    tampered = [proof[0][:-1] + bytes([proof[0][-1] ^ 1]), *proof[1:]]
    assert ledger.verify_event_inclusion(anchored_root, hashes[3], tampered) is False
    assert ledger.verify_event_inclusion(anchored_root, hashes[3], tree.proof(hashes[4])) is False  # another leaf's
    assert ledger.verify_event_inclusion(anchored_root, hashes[3], proof[:-1]) is False  # cut short
    assert ledger.verify_event_inclusion(anchored_root, hashes[3], []) is False
    assert ledger.verify_event_inclusion(anchored_root, keccak(text="not in the batch"), proof) is False
    assert ledger.verify_event_inclusion(anchored_root, tree.layers[1][0], tree.proof(hashes[0])[1:]) is False  # a node

    others = event_hashes(3)
    unanchored = EventMerkleTree.build(others)  # a correct tree and proof, but its root was never anchored
    assert EventMerkleTree.verify(unanchored.root, others[0], unanchored.proof(others[0]))
    assert ledger.verify_event_inclusion(unanchored.root, others[0], unanchored.proof(others[0])) is False
    assert event_root(network, unanchored.root) == (0, 0, 0)
    single = event_hashes(1)
    assert ledger.verify_event_inclusion(EventMerkleTree.build(single).root, single[0], []) is False


def test_a_root_is_anchored_once_and_must_mean_something(network: Network) -> None:
    tree = EventMerkleTree.build(event_hashes(2))
    root_hex = "0x" + tree.root.hex()
    network.as_(network.maker).anchor_event_batch(tree.root, 2)
    with reverts("CustodyRootAlreadyAnchored", "custody.root_already_anchored", root=root_hex):
        network.as_(network.maker).anchor_event_batch(tree.root, 2)
    with reverts("CustodyRootAlreadyAnchored", "custody.root_already_anchored", root=root_hex):
        network.as_(network.distributor).anchor_event_batch(tree.root, 3)  # by nobody else either
    assert event_root(network, tree.root)[:2] == (network.maker.id, 2)
    with reverts("CustodyInvalidRegistration", "custody.invalid_registration", field="root"):
        network.as_(network.maker).anchor_event_batch(b"\x00" * 32, 1)
    with reverts("CustodyInvalidRegistration", "custody.invalid_registration", field="root"):
        network.as_(network.maker).anchor_event_batch(keccak(text=unique_serial("root")), 0)


def test_any_active_partner_anchors_event_batches(network: Network) -> None:
    tree = EventMerkleTree.build(event_hashes(3))
    result = network.as_(network.auditor).anchor_event_batch(tree.root, 3)
    assert result.of(EventBatchAnchored)[0].partner_id == network.auditor.id
    with reverts("CustodyUnknownAccount", "custody.unknown_account", account=network.outsider.address):
        network.as_(network.outsider).anchor_event_batch(keccak(text=unique_serial("root")), 1)
