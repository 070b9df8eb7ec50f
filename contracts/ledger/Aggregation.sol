// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {LedgerBase} from "./LedgerBase.sol";
import {ObjectId} from "../types/ObjectId.sol";

/// @title Aggregation
/// @notice Packing objects into containers (cases, pallets) and unpacking them (EPCIS
/// AggregationEvent). Containers nest up to MAX_NESTING levels; a packed object moves only with
/// its container.
abstract contract Aggregation is LedgerBase {
    /// @notice Packs `children` into `parent`.
    /// @dev Requirements: the caller's partner holds the parent and every child, none of them
    /// packed or in transit, all active and with the parent's owner; the parent is an item or
    /// logistic unit (not a lot); nesting stays within MAX_NESTING. A container's height never
    /// decreases (recomputing it on unpack would need all its remaining children): an emptied
    /// container keeps the nesting level it once had. Emits one {ObjectPacked} per child.
    function pack(ObjectId parent, ObjectId[] calldata children) external whenNotPaused {
        (uint32 partnerId,) = _callerHolder();
        ObjectRecord storage container = _held(parent, partnerId);
        if (container.kind == ObjectKind.Lot) revert CustodyInvalidContainer(parent);
        if (container.status != Status.Active) revert CustodyInvalidStatus(parent, container.status);
        uint256 n = children.length;
        _checkBatch(n);
        uint256 height = container.height;
        for (uint256 i = 0; i < n; ++i) {
            ObjectId child = children[i];
            if (ObjectId.unwrap(child) == ObjectId.unwrap(parent)) revert CustodyInvalidContainer(parent);
            ObjectRecord storage record = _held(child, partnerId);
            if (record.status != Status.Active) revert CustodyInvalidStatus(child, record.status);
            // contents take their container's owner while packed, so both must have one owner
            if (record.owner != container.owner) revert CustodyNotOwner(child, container.owner, record.owner);
            if (record.height + 1 > height) height = record.height + 1;
            _parents[child] = parent;
            record.packed = true;
            emit ObjectPacked(child, parent, partnerId);
        }
        if (height > MAX_NESTING) revert CustodyNestingTooDeep(parent, height);
        container.height = uint8(height);
    }

    /// @notice Takes `children` out of `parent`; they take the parent's custodian and owner.
    /// @dev Requirements: the caller's partner holds the parent, which is not packed itself nor
    /// in transit; every child is packed in it. Emits one {ObjectUnpacked} per child.
    function unpack(ObjectId parent, ObjectId[] calldata children) external whenNotPaused {
        (uint32 partnerId,) = _callerHolder();
        ObjectRecord storage container = _held(parent, partnerId);
        uint256 n = children.length;
        _checkBatch(n);
        uint32 owner = container.owner;
        for (uint256 i = 0; i < n; ++i) {
            ObjectId child = children[i];
            _existing(child);
            if (ObjectId.unwrap(_parents[child]) != ObjectId.unwrap(parent)) revert CustodyNotPacked(child, parent);
            _parents[child] = ObjectId.wrap(0);
            ObjectRecord storage record = _objects[child];
            record.packed = false;
            record.custodian = partnerId;
            record.owner = owner;
            emit ObjectUnpacked(child, parent, partnerId);
        }
    }

    /// @notice The container an object is packed in (zero when unpacked).
    function parentOf(ObjectId objectId) external view returns (ObjectId) {
        return _parents[objectId];
    }
}
