// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {ICustodyLedger} from "../ICustodyLedger.sol";
import {DocumentAnchors} from "../ledger/DocumentAnchors.sol";
import {ObjectId} from "../types/ObjectId.sol";
import {Fixtures} from "./utils/Fixtures.sol";

/// @dev Document anchors (IPFS CIDs) on objects and shipments; Merkle roots of event batches.
contract DocumentsTest is Fixtures {
    ObjectId internal item;
    bytes32 internal subject;
    bytes32 internal constant DIGEST = keccak256("certificate of analysis, lot L1");

    function setUp() public override {
        super.setUp();
        item = _registerItem("doc-1");
        subject = ObjectId.unwrap(item);
    }

    // ------------------------------------------------------------ CIDs

    function test_Anchor_CidV0() public {
        bytes memory cid = _cidV0(DIGEST);
        bytes32 docId = keccak256(abi.encode(subject, keccak256(cid)));
        vm.expectEmit(true, true, true, true, address(ledger));
        emit ICustodyLedger.DocumentAnchored(
            subject, docId, MFR, ICustodyLedger.DocumentType.CertificateOfAnalysis, cid
        );
        vm.prank(mfr);
        bytes32 returned = ledger.anchorDocument(subject, ICustodyLedger.DocumentType.CertificateOfAnalysis, cid);
        assertEq(returned, docId, "document id = keccak256(subject, keccak256(cid))");
        assertEq(ledger.documentAnchoredAt(docId), START, "anchoredAt");
        assertEq(ledger.documentAnchoredAt(keccak256("other")), 0, "never anchored");
    }

    function test_Anchor_CidV1DagPb() public {
        _anchorValid(abi.encodePacked(hex"01701220", DIGEST));
    }

    function test_Anchor_CidV1Raw() public {
        _anchorValid(abi.encodePacked(hex"01551220", DIGEST));
    }

    /// dag-json is codec 0x0129, a two-byte varint (0xa9 0x02).
    function test_Anchor_CidV1MultiByteCodec() public {
        _anchorValid(abi.encodePacked(hex"01a9021220", DIGEST));
    }

    function test_Anchor_RevertWhen_InvalidCid() public {
        bytes[] memory bad = new bytes[](11);
        bad[0] = "";
        bad[1] = abi.encodePacked(hex"1320", DIGEST); // v0 with another hash function
        bad[2] = abi.encodePacked(hex"1221", DIGEST, hex"00"); // v0 with a 33-byte digest length
        bad[3] = abi.encodePacked(hex"1220", bytes31(DIGEST)); // v0, digest one byte short
        bad[4] = abi.encodePacked(hex"02701220", DIGEST); // CID version 2
        bad[5] = abi.encodePacked(hex"01701b20", DIGEST); // v1 with a keccak-256 multihash
        bad[6] = abi.encodePacked(hex"01701340", DIGEST, DIGEST); // v1 with sha2-512
        bad[7] = abi.encodePacked(hex"01701220", DIGEST, hex"00"); // trailing byte
        bad[8] = abi.encodePacked(hex"01701220", bytes31(DIGEST)); // digest one byte short
        bad[9] = abi.encodePacked(hex"01ffffff", DIGEST); // unterminated codec varint
        bad[10] = abi.encodePacked(hex"0170", DIGEST); // no multihash header
        for (uint256 i = 0; i < bad.length; ++i) {
            vm.expectRevert(ICustodyLedger.CustodyInvalidCid.selector);
            vm.prank(mfr);
            ledger.anchorDocument(subject, ICustodyLedger.DocumentType.Other, bad[i]);
        }
    }

    /// Fuzz: a CIDv1 with any codec (varint of up to 64 bits) and a sha2-256 digest is accepted.
    function testFuzz_Anchor_CidV1AnyCodec(uint64 codec, bytes32 digest) public {
        bytes memory cid = abi.encodePacked(hex"01", _varint(codec), hex"1220", digest);
        assertTrue(_referenceValidCid(cid), "reference accepts");
        _anchorValid(cid);
    }

    /// Fuzz: on arbitrary bytes the ledger agrees with an independent CID check.
    function testFuzz_Anchor_CidMatchesReference(bytes calldata cid) public {
        if (!_referenceValidCid(cid)) vm.expectRevert(ICustodyLedger.CustodyInvalidCid.selector);
        vm.prank(mfr);
        ledger.anchorDocument(subject, ICustodyLedger.DocumentType.Other, cid);
    }

    function test_Anchor_RevertWhen_AlreadyAnchored() public {
        bytes memory cid = _cidV0(DIGEST);
        vm.prank(mfr);
        bytes32 docId = ledger.anchorDocument(subject, ICustodyLedger.DocumentType.Invoice, cid);
        // the same CID on the same subject, even by another related partner or as another type
        _move(mfr, dist, DIST, _ids(item), true);
        vm.expectRevert(abi.encodeWithSelector(ICustodyLedger.CustodyDocumentAlreadyAnchored.selector, docId));
        vm.prank(dist);
        ledger.anchorDocument(subject, ICustodyLedger.DocumentType.Photo, cid);
    }

    function test_Anchor_SameCidOnAnotherSubject() public {
        ObjectId other = _registerItem("doc-2");
        bytes memory cid = _cidV0(DIGEST);
        vm.startPrank(mfr);
        bytes32 first = ledger.anchorDocument(subject, ICustodyLedger.DocumentType.Invoice, cid);
        bytes32 second = ledger.anchorDocument(ObjectId.unwrap(other), ICustodyLedger.DocumentType.Invoice, cid);
        vm.stopPrank();
        assertTrue(first != second, "distinct document ids");
    }

    // ------------------------------------------------------------ who may anchor to an object

    function test_Anchor_ByCustodianNotOwner() public {
        vm.prank(mfr);
        ledger.transfer(_ids(item), DIST); // DIST holds, MFR owns
        _anchorAs(dist, DIST, subject, _cidOf("temperature log"));
    }

    function test_Anchor_ByOwnerNotCustodian() public {
        vm.prank(mfr);
        ledger.transferOwnership(_ids(item), DISP);
        _anchorAs(disp, DISP, subject, _cidOf("invoice"));
    }

    function test_Anchor_ByPendingReceiver() public {
        _ship(mfr, _ids(item), DIST, true);
        _anchorAs(dist, DIST, subject, _cidOf("bill of lading"));
    }

    function test_Anchor_ByRegistrantAfterItLeft() public {
        _move(mfr, dist, DIST, _ids(item), true);
        _move(dist, disp, DISP, _ids(item), true);
        _anchorAs(mfr, MFR, subject, _cidOf("recall notice"));
    }

    function test_Anchor_RevertWhen_Unrelated() public {
        _expectNotAuthorized(subject, DIST);
        vm.prank(dist);
        ledger.anchorDocument(subject, ICustodyLedger.DocumentType.Photo, _cidOf("x"));
        _expectNotAuthorized(subject, AUDITOR);
        vm.prank(auditor);
        ledger.anchorDocument(subject, ICustodyLedger.DocumentType.Photo, _cidOf("x"));
    }

    /// A former custodian and owner that passed the object on is no longer related to it.
    function test_Anchor_RevertWhen_FormerHolder() public {
        _move(mfr, dist, DIST, _ids(item), true);
        _move(dist, disp, DISP, _ids(item), true);
        _expectNotAuthorized(subject, DIST);
        vm.prank(dist);
        ledger.anchorDocument(subject, ICustodyLedger.DocumentType.Photo, _cidOf("x"));
    }

    function test_Anchor_PackedItem_ByContainersCustodianAndPendingReceiver() public {
        ObjectId box = _registerSscc(mfr, "7000000001");
        _pack(mfr, box, _ids(item));
        _ship(mfr, _ids(box), DIST, true);
        _anchorAs(dist, DIST, subject, _cidOf("pending receiver of the case"));
        _receive(dist, _ids(box));
        // MFR (registrant) and DIST (the case's custodian) may; DISP may not
        _anchorAs(dist, DIST, subject, _cidOf("custodian of the case"));
        _expectNotAuthorized(subject, DISP);
        vm.prank(disp);
        ledger.anchorDocument(subject, ICustodyLedger.DocumentType.Photo, _cidOf("x"));
    }

    /// NatSpec: "the caller's partner is the object's custodian, owner, registrant or pending
    /// receiver". A packed object's owner is its container's (custodyOf reports it so). Here the
    /// case is sold to DISP while DIST holds it: custodyOf(item).owner is DISP, so DISP may anchor
    /// to the item.
    function test_Anchor_PackedItem_ByContainersOwner() public {
        ObjectId box = _registerSscc(mfr, "7000000002");
        _pack(mfr, box, _ids(item));
        _move(mfr, dist, DIST, _ids(box), false); // DIST holds, MFR owns
        vm.prank(mfr);
        ledger.transferOwnership(_ids(box), DISP); // drop sale to DISP
        assertEq(ledger.custodyOf(item).owner, DISP, "the item's owner is DISP");
        _anchorAs(disp, DISP, subject, _cidOf("transaction statement"));
    }

    function test_Anchor_RevertWhen_UnknownObject() public {
        bytes32 unknown = ObjectId.unwrap(_itemId("nope"));
        vm.expectRevert(abi.encodeWithSelector(ICustodyLedger.CustodyUnknownObject.selector, unknown));
        vm.prank(mfr);
        ledger.anchorDocument(unknown, ICustodyLedger.DocumentType.Photo, _cidOf("x"));
    }

    function test_Anchor_RevertWhen_UnknownAccount() public {
        vm.expectRevert(abi.encodeWithSelector(ICustodyLedger.CustodyUnknownAccount.selector, outsider));
        vm.prank(outsider);
        ledger.anchorDocument(subject, ICustodyLedger.DocumentType.Photo, _cidOf("x"));
    }

    // ------------------------------------------------------------ shipments as subjects

    function test_Anchor_ShipmentBySenderAndReceiver() public {
        uint40 shipmentId = _ship(mfr, _ids(item), DIST, true);
        bytes32 shipmentSubject = bytes32(uint256(shipmentId));
        _anchorAs(mfr, MFR, shipmentSubject, _cidOf("bill of lading"));
        _anchorAs(dist, DIST, shipmentSubject, _cidOf("temperature log"));
        _receive(dist, _ids(item));
        _anchorAs(dist, DIST, shipmentSubject, _cidOf("proof of delivery")); // after receipt too
    }

    function test_Anchor_ShipmentRevertWhen_Unrelated() public {
        uint40 shipmentId = _ship(mfr, _ids(item), DIST, true);
        bytes32 shipmentSubject = bytes32(uint256(shipmentId));
        _expectNotAuthorized(shipmentSubject, DISP);
        vm.prank(disp);
        ledger.anchorDocument(shipmentSubject, ICustodyLedger.DocumentType.BillOfLading, _cidOf("x"));
    }

    /// As documented, a number beyond the last shipment id is read as an object id.
    function test_Anchor_RevertWhen_ShipmentNotYetCreated() public {
        _ship(mfr, _ids(item), DIST, true);
        bytes32 future = bytes32(uint256(2));
        vm.expectRevert(abi.encodeWithSelector(ICustodyLedger.CustodyUnknownObject.selector, future));
        vm.prank(mfr);
        ledger.anchorDocument(future, ICustodyLedger.DocumentType.BillOfLading, _cidOf("x"));
        vm.expectRevert(abi.encodeWithSelector(ICustodyLedger.CustodyUnknownObject.selector, bytes32(0)));
        vm.prank(mfr);
        ledger.anchorDocument(bytes32(0), ICustodyLedger.DocumentType.BillOfLading, _cidOf("x"));
    }

    // ------------------------------------------------------------ Merkle event batches

    function test_AnchorEventBatch_EmitsAndRecords() public {
        bytes32 root = keccak256("root");
        bytes memory cid = _cidOf("batch");
        vm.expectEmit(true, true, true, true, address(ledger));
        emit ICustodyLedger.EventBatchAnchored(root, DIST, 250, cid);
        vm.prank(dist);
        ledger.anchorEventBatch(root, 250, cid);
        DocumentAnchors.EventRoot memory r = ledger.eventRoot(root);
        assertEq(r.partnerId, DIST, "partner");
        assertEq(r.leafCount, 250, "leaf count");
        assertEq(r.anchoredAt, START, "anchoredAt");
        DocumentAnchors.EventRoot memory none = ledger.eventRoot(keccak256("none"));
        assertEq(none.anchoredAt, 0, "never anchored");
    }

    function test_AnchorEventBatch_RevertWhen_ZeroRootOrCount() public {
        vm.expectRevert(abi.encodeWithSelector(ICustodyLedger.CustodyInvalidRegistration.selector, "root"));
        vm.prank(dist);
        ledger.anchorEventBatch(bytes32(0), 1, "");
        vm.expectRevert(abi.encodeWithSelector(ICustodyLedger.CustodyInvalidRegistration.selector, "root"));
        vm.prank(dist);
        ledger.anchorEventBatch(keccak256("root"), 0, "");
    }

    function test_AnchorEventBatch_RevertWhen_AlreadyAnchored() public {
        bytes32 root = keccak256("root");
        vm.prank(dist);
        ledger.anchorEventBatch(root, 1, "");
        vm.expectRevert(abi.encodeWithSelector(ICustodyLedger.CustodyRootAlreadyAnchored.selector, root));
        vm.prank(mfr);
        ledger.anchorEventBatch(root, 2, "");
    }

    function test_AnchorEventBatch_RevertWhen_UnknownAccount() public {
        vm.expectRevert(abi.encodeWithSelector(ICustodyLedger.CustodyUnknownAccount.selector, outsider));
        vm.prank(outsider);
        ledger.anchorEventBatch(keccak256("root"), 1, "");
    }

    /// A tree of 5 event hashes built the OpenZeppelin StandardMerkleTree way: every event is
    /// proven included; a foreign event, a wrong proof, or an unanchored root are not.
    function test_VerifyEventInclusion() public {
        bytes32[] memory events = new bytes32[](5);
        for (uint256 i = 0; i < events.length; ++i) {
            events[i] = keccak256(abi.encode("event", i));
        }
        (bytes32 root, bytes32[][] memory proofs) = OzMerkle.build(events);
        assertFalse(ledger.verifyEventInclusion(root, events[0], proofs[0]), "not anchored yet");
        vm.prank(dist);
        ledger.anchorEventBatch(root, 5, _cidOf("batch"));
        for (uint256 i = 0; i < events.length; ++i) {
            assertTrue(ledger.verifyEventInclusion(root, events[i], proofs[i]), "included");
        }
        assertFalse(ledger.verifyEventInclusion(root, keccak256("forged"), proofs[0]), "foreign event");
        assertFalse(ledger.verifyEventInclusion(root, events[0], proofs[1]), "another event's proof");
        assertFalse(ledger.verifyEventInclusion(root, events[0], new bytes32[](0)), "empty proof");
        // The leaf is double-hashed: the inner node (or the plain leaf) is not an event hash.
        assertFalse(ledger.verifyEventInclusion(root, OzMerkle.leaf(events[0]), proofs[0]), "leaf given as event");
    }

    function test_VerifyEventInclusion_SingleEventTree() public {
        bytes32[] memory events = new bytes32[](1);
        events[0] = keccak256("only");
        (bytes32 root, bytes32[][] memory proofs) = OzMerkle.build(events);
        assertEq(root, OzMerkle.leaf(events[0]), "root of one leaf");
        vm.prank(mfr);
        ledger.anchorEventBatch(root, 1, "");
        assertTrue(ledger.verifyEventInclusion(root, events[0], proofs[0]), "included");
    }

    /// Fuzz: for any 1..24 events, every event verifies against the anchored root.
    function testFuzz_VerifyEventInclusion(uint256 seed, uint8 count) public {
        uint256 n = bound(count, 1, 24);
        bytes32[] memory events = new bytes32[](n);
        for (uint256 i = 0; i < n; ++i) {
            events[i] = keccak256(abi.encode(seed, i));
        }
        (bytes32 root, bytes32[][] memory proofs) = OzMerkle.build(events);
        vm.prank(dist);
        ledger.anchorEventBatch(root, uint32(n), "");
        for (uint256 i = 0; i < n; ++i) {
            assertTrue(ledger.verifyEventInclusion(root, events[i], proofs[i]), "included");
        }
        assertFalse(ledger.verifyEventInclusion(root, keccak256(abi.encode(seed, n)), proofs[0]), "not included");
    }

    // ------------------------------------------------------------ helpers

    function _anchorValid(bytes memory cid) private {
        _anchorAs(mfr, MFR, subject, cid);
    }

    function _anchorAs(address account, uint32 partnerId, bytes32 subject_, bytes memory cid) private {
        bytes32 docId = keccak256(abi.encode(subject_, keccak256(cid)));
        vm.expectEmit(true, true, true, true, address(ledger));
        emit ICustodyLedger.DocumentAnchored(subject_, docId, partnerId, ICustodyLedger.DocumentType.Other, cid);
        vm.prank(account);
        ledger.anchorDocument(subject_, ICustodyLedger.DocumentType.Other, cid);
    }

    function _expectNotAuthorized(bytes32 subject_, uint32 partnerId) private {
        vm.expectRevert(abi.encodeWithSelector(ICustodyLedger.CustodyNotAuthorized.selector, subject_, partnerId));
    }

    function _cidV0(bytes32 digest) private pure returns (bytes memory) {
        return abi.encodePacked(hex"1220", digest);
    }

    function _cidOf(string memory content) private pure returns (bytes memory) {
        return _cidV0(keccak256(bytes(content))); // keccak, not sha256: a precompile call would take the prank
    }

    function _varint(uint64 value) private pure returns (bytes memory out) {
        out = new bytes(10);
        uint256 len;
        do {
            uint8 b = uint8(value & 0x7f);
            value >>= 7;
            if (value != 0) b |= 0x80;
            out[len++] = bytes1(b);
        } while (value != 0);
        assembly ("memory-safe") {
            mstore(out, len)
        }
    }

    /// @dev Multiformats: CIDv0 is a bare sha2-256 multihash (0x12 0x20 + 32 bytes); CIDv1 is
    /// <0x01><codec varint><multihash>, the multihash here 0x12 0x20 + 32 bytes. Written without
    /// looking at the ledger's loop: parse the codec varint to its end, then compare what is left.
    function _referenceValidCid(bytes memory cid) private pure returns (bool) {
        if (cid.length == 34) return cid[0] == 0x12 && cid[1] == 0x20;
        if (cid.length == 0 || cid[0] != 0x01) return false;
        uint256 pos = 1;
        bool terminated;
        while (pos < cid.length) {
            bool more = uint8(cid[pos]) >= 0x80;
            ++pos;
            if (!more) {
                terminated = true;
                break;
            }
        }
        if (!terminated) return false;
        if (cid.length - pos != 34) return false;
        return cid[pos] == 0x12 && cid[pos + 1] == 0x20;
    }
}

/// @dev OpenZeppelin StandardMerkleTree (merkle-tree library) for bytes32 values: leaf =
/// keccak256(bytes.concat(keccak256(abi.encode(value)))), leaves sorted, tree stored as an array
/// with the leaves at the end, commutative (sorted-pair) keccak256 for inner nodes.
library OzMerkle {
    function leaf(bytes32 value) internal pure returns (bytes32) {
        return keccak256(bytes.concat(keccak256(abi.encode(value))));
    }

    function hashPair(bytes32 a, bytes32 b) internal pure returns (bytes32) {
        return a < b ? keccak256(abi.encodePacked(a, b)) : keccak256(abi.encodePacked(b, a));
    }

    /// @return root The tree's root.
    /// @return proofs proofs[i] proves values[i].
    function build(bytes32[] memory values) internal pure returns (bytes32 root, bytes32[][] memory proofs) {
        uint256 n = values.length;
        bytes32[] memory sorted = new bytes32[](n);
        for (uint256 i = 0; i < n; ++i) {
            sorted[i] = leaf(values[i]);
        }
        for (uint256 i = 1; i < n; ++i) {
            bytes32 key = sorted[i];
            uint256 j = i;
            while (j > 0 && sorted[j - 1] > key) {
                sorted[j] = sorted[j - 1];
                --j;
            }
            sorted[j] = key;
        }
        bytes32[] memory tree = new bytes32[](2 * n - 1);
        for (uint256 i = 0; i < n; ++i) {
            tree[tree.length - 1 - i] = sorted[i];
        }
        for (uint256 i = tree.length - n; i > 0; --i) {
            tree[i - 1] = hashPair(tree[2 * (i - 1) + 1], tree[2 * (i - 1) + 2]);
        }
        root = tree[0];
        proofs = new bytes32[][](n);
        for (uint256 v = 0; v < n; ++v) {
            proofs[v] = _proof(tree, _indexOf(tree, leaf(values[v])));
        }
    }

    function _indexOf(bytes32[] memory tree, bytes32 node) private pure returns (uint256) {
        for (uint256 i = tree.length; i > 0; --i) {
            if (tree[i - 1] == node) return i - 1;
        }
        revert("leaf not in tree");
    }

    function _proof(bytes32[] memory tree, uint256 index) private pure returns (bytes32[] memory proof) {
        proof = new bytes32[](32);
        uint256 len;
        while (index > 0) {
            proof[len++] = tree[index % 2 == 1 ? index + 1 : index - 1];
            index = (index - 1) / 2;
        }
        assembly ("memory-safe") {
            mstore(proof, len)
        }
    }
}
