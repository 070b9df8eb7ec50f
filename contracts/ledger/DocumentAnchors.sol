// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";
import {LedgerBase} from "./LedgerBase.sol";
import {ObjectId} from "../types/ObjectId.sol";

/// @title DocumentAnchors
/// @notice Append-only anchors of documents (IPFS CIDs) to objects and shipments, and of Merkle
/// roots of off-chain event batches with on-chain inclusion proofs.
/// @dev A shipment is addressed as a subject by `bytes32(uint256(shipmentId))`; any other
/// subject is an object id.
abstract contract DocumentAnchors is LedgerBase {
    struct EventRoot {
        uint32 partnerId;
        uint32 leafCount;
        uint48 anchoredAt;
    }

    mapping(bytes32 documentId => uint48 anchoredAt) private _documents;
    mapping(bytes32 root => EventRoot) private _eventRoots;

    /// @notice Anchors a document, by its binary CID, to an object or a shipment; returns the
    /// document id (keccak256 of subject and CID).
    /// @dev Requirements: the caller's partner is the object's custodian, owner, registrant or
    /// pending receiver, or the shipment's sender or receiver; the CID is a CIDv0 or a CIDv1 with
    /// a sha2-256 multihash; the same CID is not yet anchored to the subject. Emits {DocumentAnchored}.
    function anchorDocument(bytes32 subject, DocumentType docType, bytes calldata cid)
        external
        whenNotPaused
        returns (bytes32 documentId)
    {
        (uint32 partnerId,) = _callerPartner();
        _checkSubject(subject, partnerId);
        if (!_validCid(cid)) revert CustodyInvalidCid();
        documentId = keccak256(abi.encode(subject, keccak256(cid)));
        if (_documents[documentId] != 0) revert CustodyDocumentAlreadyAnchored(documentId);
        _documents[documentId] = uint48(block.timestamp);
        emit DocumentAnchored(subject, documentId, partnerId, docType, cid);
    }

    /// @notice When a document was anchored (0: never).
    function documentAnchoredAt(bytes32 documentId) external view returns (uint48) {
        return _documents[documentId];
    }

    /// @notice Anchors the Merkle root of a batch of `leafCount` event hashes (OpenZeppelin
    /// standard tree: leaf = keccak256(keccak256(abi.encode(eventHash))), sorted pairs), with
    /// the CID of the batch's content.
    /// @dev Requirements: an active partner; a root not anchored before. Emits {EventBatchAnchored}.
    function anchorEventBatch(bytes32 root, uint32 leafCount, bytes calldata cid) external whenNotPaused {
        (uint32 partnerId,) = _callerPartner();
        if (root == bytes32(0) || leafCount == 0) revert CustodyInvalidRegistration("root");
        if (_eventRoots[root].anchoredAt != 0) revert CustodyRootAlreadyAnchored(root);
        _eventRoots[root] = EventRoot({partnerId: partnerId, leafCount: leafCount, anchoredAt: uint48(block.timestamp)});
        emit EventBatchAnchored(root, partnerId, leafCount, cid);
    }

    /// @notice Whether `eventHash` is in the anchored batch with this root.
    function verifyEventInclusion(bytes32 root, bytes32 eventHash, bytes32[] calldata proof)
        external
        view
        returns (bool)
    {
        // anchoredAt is 0 only for a root never anchored: a presence check, not a time comparison
        // slither-disable-next-line incorrect-equality,timestamp
        if (_eventRoots[root].anchoredAt == 0) return false;
        bytes32 leaf = keccak256(bytes.concat(keccak256(abi.encode(eventHash))));
        return MerkleProof.verifyCalldata(proof, root, leaf);
    }

    /// @notice Who anchored a root, how many events it covers and when (zeros: never anchored).
    function eventRoot(bytes32 root) external view returns (EventRoot memory) {
        return _eventRoots[root];
    }

    function _checkSubject(bytes32 subject, uint32 partnerId) private view {
        uint256 asNumber = uint256(subject);
        if (asNumber != 0 && asNumber <= _shipmentCount) {
            ShipmentRecord storage s = _shipments[uint40(asNumber)];
            if (s.sender != partnerId && s.receiver != partnerId) revert CustodyNotAuthorized(subject, partnerId);
            return;
        }
        ObjectId objectId = ObjectId.wrap(subject);
        ObjectRecord storage record = _existing(objectId);
        ObjectRecord storage top = _objects[_root(objectId)];
        uint32 owner = record.packed ? top.owner : record.owner; // a packed object's owner is its root's
        bool related = top.custodian == partnerId || owner == partnerId || record.registrant == partnerId
            || (top.shipmentId != 0 && _shipments[top.shipmentId].receiver == partnerId);
        if (!related) revert CustodyNotAuthorized(subject, partnerId);
    }

    /// @dev CIDv0 (0x12 0x20 + 32-byte sha2-256 digest) or CIDv1 (0x01, codec varint, then the same).
    function _validCid(bytes calldata cid) private pure returns (bool) {
        if (cid.length == 34) return cid[0] == 0x12 && cid[1] == 0x20;
        if (cid.length < 36 || cid[0] != 0x01) return false;
        uint256 i = 1;
        while (i < cid.length && uint8(cid[i]) & 0x80 != 0) ++i; // codec varint continuation bytes
        ++i;
        return i + 34 == cid.length && cid[i] == 0x12 && cid[i + 1] == 0x20;
    }
}
