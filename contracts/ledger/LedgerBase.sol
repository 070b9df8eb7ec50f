// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {Pausable} from "@openzeppelin/contracts/utils/Pausable.sol";
import {CustodyRelay} from "../CustodyRelay.sol";
import {ICustodyLedger} from "../ICustodyLedger.sol";
import {ObjectId} from "../types/ObjectId.sol";

/// @title LedgerBase
/// @notice Storage and shared checks of the custody ledger; each concern (partners, registry,
/// custody, aggregation, genealogy, status, documents, signed calls) extends it.
/// @dev Custody and ownership are held by partner id, not account, so that a partner may rotate
/// its keys without losing anything. A packed object's custody and transit state are those of
/// its outermost container (its root): shipping a pallet moves its contents in O(1).
abstract contract LedgerBase is ICustodyLedger, AccessControl, Pausable {
    /// @notice Role of accounts that may pause the ledger in an emergency.
    bytes32 public constant PAUSER_ROLE = keccak256("PAUSER_ROLE");
    /// @notice Most objects one call may move or change status (about 9k gas each: ~9M gas).
    uint256 public constant MAX_BATCH = 1000;
    /// @notice Most objects one call may create or pack (up to ~90k gas each: under 23M gas).
    uint256 public constant MAX_CREATE_BATCH = 250;
    /// @notice Most container levels above an object (item in case in pallet in … ).
    uint8 public constant MAX_NESTING = 8;

    struct PartnerRecord {
        PartnerRole role;
        bool active;
        bool exists;
    }

    /// @dev One storage slot (31 bytes), so that moving an object reads and writes one slot.
    struct ObjectRecord {
        uint32 custodian;
        uint32 owner;
        uint40 shipmentId; // non-zero while in transit
        uint32 registrant;
        ObjectKind kind;
        Status status;
        uint8 height; // container levels below this object (0: holds nothing)
        bool packed; // mirrors `_parents[id] != 0`, read without another slot
        uint32 expiryDate;
        uint48 registeredAt;
    }

    struct LotBalance {
        uint232 quantity;
        bytes3 unitOfMeasure;
    }

    struct ShipmentRecord {
        uint32 sender;
        uint32 receiver;
        bool transferOwnership;
        uint48 dispatchedAt;
    }

    mapping(uint32 partnerId => PartnerRecord) internal _partners;
    mapping(address account => uint32 partnerId) internal _accountPartner;
    mapping(uint64 gln => uint32 partnerId) internal _locationPartner;
    uint32 internal _partnerCount;

    mapping(ObjectId objectId => ObjectRecord) internal _objects;
    mapping(ObjectId child => ObjectId parent) internal _parents;
    mapping(ObjectId item => ObjectId lot) internal _itemLots;
    mapping(ObjectId lot => LotBalance) internal _balances;
    mapping(uint40 shipmentId => ShipmentRecord) internal _shipments;
    /// @dev Packed objects at any depth below a container whose status is not Active (recalled,
    /// quarantined, …): a container holding any cannot move.
    mapping(ObjectId container => uint32 count) internal _blockedContents;
    uint40 internal _shipmentCount;
    uint256 internal _genealogyCount;

    /// @notice The relay that runs EIP-712 signed operations for partners (see CustodyRelay).
    address public immutable relay;

    /// @param admin Account that administers the partner directory and may pause.
    constructor(address admin) {
        relay = address(new CustodyRelay(address(this)));
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _grantRole(PAUSER_ROLE, admin);
    }

    // ---------------------------------------------------------------- caller resolution

    /// @dev Relayed signed calls come from the relay with the signer appended to the calldata
    /// (the ERC-2771 layout, with the relay as the only trusted forwarder).
    function _msgSender() internal view virtual override returns (address) {
        if (msg.sender == relay && msg.data.length >= 24) {
            return address(bytes20(msg.data[msg.data.length - 20:]));
        }
        return msg.sender;
    }

    // Unused today (no bytecode): kept so that Context's _msgData never returns relayed calldata
    // with the signer still appended, should the ledger or an OpenZeppelin base start using it.
    // slither-disable-next-line dead-code
    function _msgData() internal view virtual override returns (bytes calldata) {
        if (msg.sender == relay && msg.data.length >= 24) {
            return msg.data[:msg.data.length - 20];
        }
        return msg.data;
    }

    /// @dev The active partner the caller acts for, and its role.
    function _callerPartner() internal view returns (uint32 partnerId, PartnerRole role) {
        address account = _msgSender();
        partnerId = _accountPartner[account];
        if (partnerId == 0) revert CustodyUnknownAccount(account);
        PartnerRecord storage p = _partners[partnerId];
        if (!p.active) revert CustodyPartnerSuspended(partnerId);
        return (partnerId, p.role);
    }

    /// @dev As {_callerPartner}, and the partner may hold goods (any role but Auditor).
    function _callerHolder() internal view returns (uint32 partnerId, PartnerRole role) {
        (partnerId, role) = _callerPartner();
        if (role == PartnerRole.Auditor) revert CustodyRoleNotAllowed(partnerId, role);
    }

    function _checkReceiver(uint32 receiver, uint32 sender) internal view {
        PartnerRecord storage p = _partners[receiver];
        if (!p.active || p.role == PartnerRole.Auditor || receiver == sender) revert CustodyInvalidReceiver(receiver);
    }

    function _checkBatch(uint256 n) internal pure {
        _checkBatch(n, MAX_BATCH);
    }

    function _checkBatch(uint256 n, uint256 max) internal pure {
        if (n == 0) revert CustodyEmptyBatch();
        if (n > max) revert CustodyBatchTooLarge(n, max);
    }

    // ---------------------------------------------------------------- objects

    function _existing(ObjectId objectId) internal view returns (ObjectRecord storage record) {
        record = _objects[objectId];
        if (record.kind == ObjectKind.None) revert CustodyUnknownObject(objectId);
    }

    /// @dev The outermost container of an object (the object itself when unpacked).
    function _root(ObjectId objectId) internal view returns (ObjectId root) {
        root = objectId;
        ObjectId parent = _parents[root];
        while (ObjectId.unwrap(parent) != 0) {
            root = parent;
            parent = _parents[root];
        }
    }

    /// @dev The record of an unpacked object that `partnerId` holds and that is not in transit.
    function _held(ObjectId objectId, uint32 partnerId) internal view returns (ObjectRecord storage record) {
        record = _existing(objectId);
        if (record.packed) revert CustodyPackedObject(objectId, _parents[objectId]);
        if (record.custodian != partnerId) revert CustodyNotCustodian(objectId, partnerId, record.custodian);
        if (record.shipmentId != 0) revert CustodyInvalidStatus(objectId, Status.InTransit);
    }

    /// @dev Reverts unless the object may move: active (or recalled and going back to its
    /// registrant), and a lot not empty. Only the object's own status counts: the items of a
    /// recalled lot are recalled one by one (the recall service relays them in one batch), which
    /// keeps a transfer to one storage read per object.
    function _checkMovable(ObjectId objectId, ObjectRecord storage record, uint32 receiver) internal view {
        Status status = record.status;
        if (status != Status.Active && !(status == Status.Recalled && receiver == record.registrant)) {
            revert CustodyInvalidStatus(objectId, status);
        }
        if (record.height != 0) {
            uint32 blocked = _blockedContents[objectId];
            if (blocked != 0) revert CustodyBlockedContents(objectId, blocked);
        }
        if (record.kind == ObjectKind.Lot && _balances[objectId].quantity == 0) {
            revert CustodyInvalidQuantity(objectId, 0, 0);
        }
    }

    /// @dev Keeps every container above a packed object informed of whether it is blocked
    /// (not Active). The walk is bounded by MAX_NESTING.
    function _updateBlocked(ObjectId objectId, Status previous, Status status) internal {
        bool was = previous != Status.Active;
        bool is_ = status != Status.Active;
        if (was == is_ || !_objects[objectId].packed) return;
        ObjectId parent = _parents[objectId];
        while (ObjectId.unwrap(parent) != 0) {
            if (is_) ++_blockedContents[parent];
            else --_blockedContents[parent];
            parent = _parents[parent];
        }
    }

    function _newGenealogyId() internal returns (bytes32) {
        return keccak256(abi.encode(block.chainid, address(this), ++_genealogyCount));
    }

    function _isAdmin(address account) internal view returns (bool) {
        return hasRole(DEFAULT_ADMIN_ROLE, account);
    }

}
