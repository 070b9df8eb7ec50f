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
        _checkBatch(n, MAX_CREATE_BATCH);
        uint256 height = container.height;
        uint32 blocked;
        for (uint256 i = 0; i < n; ++i) {
            ObjectId child = children[i];
            // unwrapped on purpose: ObjectId's `==` is not inlined in this loop (+18 gas a child)
            if (ObjectId.unwrap(child) == ObjectId.unwrap(parent)) revert CustodyInvalidContainer(parent);
            ObjectRecord storage record = _held(child, partnerId);
            if (record.status != Status.Active) revert CustodyInvalidStatus(child, record.status);
            // contents take their container's owner while packed, so both must have one owner
            if (record.owner != container.owner) revert CustodyNotOwner(child, container.owner, record.owner);
            if (record.height + 1 > height) height = record.height + 1;
            _parents[child] = parent;
            record.packed = true;
            blocked += _blockedContents[child];
            emit ObjectPacked(child, parent, partnerId);
        }
        if (height > MAX_NESTING) revert CustodyNestingTooDeep(parent, height);
        container.height = uint8(height);
        if (blocked != 0) _blockedContents[parent] += blocked;
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
        uint32 blocked;
        for (uint256 i = 0; i < n; ++i) {
            ObjectId child = children[i];
            _existing(child);
            if (_parents[child] != parent) revert CustodyNotPacked(child, parent);
            _parents[child] = ObjectId.wrap(0);
            ObjectRecord storage record = _objects[child];
            record.packed = false;
            record.custodian = partnerId;
            record.owner = owner;
            blocked += _blockedContents[child] + (record.status == Status.Active ? 0 : 1);
            emit ObjectUnpacked(child, parent, partnerId);
        }
        if (blocked != 0) _blockedContents[parent] -= blocked;
    }

    /// @notice How many objects packed (at any depth) in a container are not Active; while any
    /// are, the container cannot move (unpack them first).
    function blockedContentsOf(ObjectId container) external view returns (uint32) {
        return _blockedContents[container];
    }

    /// @notice The container an object is packed in (zero when unpacked).
    function parentOf(ObjectId objectId) external view returns (ObjectId) {
        return _parents[objectId];
    }
}
