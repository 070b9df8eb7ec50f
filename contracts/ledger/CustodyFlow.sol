// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {LedgerBase} from "./LedgerBase.sol";
import {ObjectId} from "../types/ObjectId.sol";

/// @title CustodyFlow
/// @notice Custody hand-overs: two-phase shipping and receiving (with rejection and
/// cancellation), one-step transfer for pre-agreed hand-overs, and ownership transfer.
/// @dev Shipping a container moves all of its contents: only the container's record changes.
abstract contract CustodyFlow is LedgerBase {
    /// @notice Ships unpacked objects to `info.receiver`; they stay in transit until received,
    /// rejected or cancelled. Returns the shipment id.
    /// @dev Requirements: the caller's partner may hold goods and holds every object, none
    /// packed or in transit, each active (a recalled object only back to its registrant), a
    /// lot not empty, a container holding nothing blocked, and owned by the sender when the
    /// shipment passes ownership; the receiver is another active non-auditor partner;
    /// given GLNs belong to sender and receiver. Emits {ShipmentDispatched} and one {ObjectShipped} each.
    function ship(ObjectId[] calldata objectIds, ShipmentInfo calldata info)
        external
        whenNotPaused
        returns (uint40 shipmentId)
    {
        (uint32 sender,) = _callerHolder();
        uint32 receiver = info.receiver;
        _checkReceiver(receiver, sender);
        if (info.shipFromGln != 0 && _locationPartner[info.shipFromGln] != sender) {
            revert CustodyInvalidLocation(info.shipFromGln);
        }
        if (info.shipToGln != 0 && _locationPartner[info.shipToGln] != receiver) {
            revert CustodyInvalidLocation(info.shipToGln);
        }
        uint256 n = objectIds.length;
        _checkBatch(n);
        shipmentId = ++_shipmentCount;
        _shipments[shipmentId] = ShipmentRecord({
            sender: sender,
            receiver: receiver,
            transferOwnership: info.transferOwnership,
            dispatchedAt: uint48(block.timestamp)
        });
        emit ShipmentDispatched(
            shipmentId, sender, receiver, info.shipFromGln, info.shipToGln, info.transferOwnership, n
        );
        for (uint256 i = 0; i < n; ++i) {
            ObjectId objectId = objectIds[i];
            ObjectRecord storage record = _held(objectId, sender);
            _checkMovable(objectId, record, receiver);
            // only the owner can pass title (a 3PL ships goods it holds for their owner without)
            if (info.transferOwnership && record.owner != sender) {
                revert CustodyNotOwner(objectId, sender, record.owner);
            }
            record.shipmentId = shipmentId;
            emit ObjectShipped(objectId, shipmentId);
        }
    }

    /// @notice Takes custody of objects shipped to the caller's partner, at location `gln`.
    /// @dev Requirements: every object is in transit to the caller's partner; `gln`, when given,
    /// belongs to it. Ownership passes too when the shipment says so. Emits {ObjectReceived}
    /// each (and {OwnershipTransferred} when ownership passes).
    function receiveObjects(ObjectId[] calldata objectIds, uint64 gln) external whenNotPaused {
        (uint32 receiver,) = _callerHolder();
        if (gln != 0 && _locationPartner[gln] != receiver) revert CustodyInvalidLocation(gln);
        uint256 n = objectIds.length;
        _checkBatch(n);
        for (uint256 i = 0; i < n; ++i) {
            ObjectId objectId = objectIds[i];
            (ObjectRecord storage record, uint40 shipmentId, ShipmentRecord storage s) = _inTransitTo(objectId, receiver);
            record.custodian = receiver;
            record.shipmentId = 0;
            emit ObjectReceived(objectId, shipmentId, receiver, gln);
            if (s.transferOwnership && record.owner != receiver) {
                emit OwnershipTransferred(objectId, record.owner, receiver);
                record.owner = receiver;
            }
        }
    }

    /// @notice Refuses objects shipped to the caller's partner; custody stays with the sender.
    /// @dev Requirements: every object is in transit to the caller's partner. Emits {ObjectRejected} each.
    function reject(ObjectId[] calldata objectIds, bytes32 reason) external whenNotPaused {
        (uint32 receiver,) = _callerHolder();
        uint256 n = objectIds.length;
        _checkBatch(n);
        for (uint256 i = 0; i < n; ++i) {
            ObjectId objectId = objectIds[i];
            (ObjectRecord storage record, uint40 shipmentId,) = _inTransitTo(objectId, receiver);
            record.shipmentId = 0;
            emit ObjectRejected(objectId, shipmentId, receiver, reason);
        }
    }

    /// @notice Withdraws objects from their shipment before receipt.
    /// @dev Requirements: the caller's partner shipped them and they are still in transit. Emits
    /// {ShipmentCancelled} each.
    function cancelShipment(ObjectId[] calldata objectIds) external whenNotPaused {
        (uint32 sender,) = _callerHolder();
        uint256 n = objectIds.length;
        _checkBatch(n);
        for (uint256 i = 0; i < n; ++i) {
            ObjectId objectId = objectIds[i];
            ObjectRecord storage record = _existing(objectId);
            uint40 shipmentId = record.shipmentId;
            if (shipmentId == 0) revert CustodyInvalidStatus(objectId, record.status);
            if (record.custodian != sender) revert CustodyNotCustodian(objectId, sender, record.custodian);
            record.shipmentId = 0;
            emit ShipmentCancelled(objectId, shipmentId, sender);
        }
    }

    /// @notice Hands custody of unpacked objects to `receiver` in one step (a pre-agreed
    /// hand-over, e.g. within a 3PL's network); ownership is unchanged.
    /// @dev Requirements: as {ship}. Emits one {CustodyTransferred} each.
    function transfer(ObjectId[] calldata objectIds, uint32 receiver) external whenNotPaused {
        (uint32 sender,) = _callerHolder();
        _checkReceiver(receiver, sender);
        uint256 n = objectIds.length;
        _checkBatch(n);
        for (uint256 i = 0; i < n; ++i) {
            ObjectId objectId = objectIds[i];
            ObjectRecord storage record = _held(objectId, sender);
            _checkMovable(objectId, record, receiver);
            record.custodian = receiver;
            emit CustodyTransferred(objectId, sender, receiver);
        }
    }

    /// @notice Passes ownership (title) of objects to `newOwner` without moving them (e.g. a
    /// drop shipment, or goods a 3PL holds for the owner).
    /// @dev Requirements: the caller's partner owns every object, none packed; `newOwner` is an
    /// active non-auditor partner. Emits one {OwnershipTransferred} each.
    function transferOwnership(ObjectId[] calldata objectIds, uint32 newOwner) external whenNotPaused {
        (uint32 owner,) = _callerHolder();
        _checkReceiver(newOwner, owner);
        uint256 n = objectIds.length;
        _checkBatch(n);
        for (uint256 i = 0; i < n; ++i) {
            ObjectId objectId = objectIds[i];
            ObjectRecord storage record = _existing(objectId);
            if (record.packed) revert CustodyPackedObject(objectId, _parents[objectId]);
            if (record.owner != owner) revert CustodyNotOwner(objectId, owner, record.owner);
            record.owner = newOwner;
            emit OwnershipTransferred(objectId, owner, newOwner);
        }
    }

    /// @notice A shipment's sender, receiver, whether receipt passes ownership, and dispatch time.
    function shipment(uint40 shipmentId) external view returns (ShipmentRecord memory) {
        ShipmentRecord storage s = _shipments[shipmentId];
        if (s.sender == 0) revert CustodyUnknownShipment(shipmentId);
        return s;
    }

    function _inTransitTo(ObjectId objectId, uint32 receiver)
        private
        view
        returns (ObjectRecord storage record, uint40 shipmentId, ShipmentRecord storage s)
    {
        record = _existing(objectId);
        shipmentId = record.shipmentId;
        s = _shipments[shipmentId];
        if (shipmentId == 0 || s.receiver != receiver) revert CustodyNotReceiver(objectId, receiver, s.receiver);
    }
}
