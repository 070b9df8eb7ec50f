// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {ICustodyLedger} from "./ICustodyLedger.sol";
import {ObjectId, toObjectId} from "./types/ObjectId.sol";

/// @title CustodyLedger
/// @notice Registry of serialized items and lots and the custody of each, for supply-chain
/// traceability among the partners of a network.
/// @dev Roles: the admin grants roles; registrars commission items and lots; partners hold
/// custody and transfer it. Every state change emits its event at once (see ICustodyLedger).
contract CustodyLedger is ICustodyLedger, AccessControl {
    /// @notice Role of accounts that may register (commission) items and lots.
    bytes32 public constant REGISTRAR_ROLE = keccak256("REGISTRAR_ROLE");
    /// @notice Role of accounts that may hold custody and transfer it.
    bytes32 public constant PARTNER_ROLE = keccak256("PARTNER_ROLE");
    /// @notice Most objects one batch call may carry (keeps a batch well under the block gas limit).
    uint256 public constant MAX_BATCH = 1000;

    /// @dev One storage slot per object: 20 + 1 + 1 + 4 + 6 bytes.
    struct ObjectRecord {
        address custodian;
        ObjectKind kind;
        Status status;
        uint32 expiryDate;
        uint48 registeredAt;
    }

    mapping(ObjectId objectId => ObjectRecord) private _objects;
    mapping(ObjectId lotId => uint256) private _lotQuantity;

    /// @param admin Account that receives DEFAULT_ADMIN_ROLE.
    constructor(address admin) {
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
    }

    /// @inheritdoc ICustodyLedger
    /// @dev Requirements: caller has REGISTRAR_ROLE; `custodian` has PARTNER_ROLE; the EPC URN is
    /// not empty and not registered yet. Emits {ItemRegistered}.
    function registerItem(Registration calldata registration, address custodian)
        external
        onlyRole(REGISTRAR_ROLE)
        returns (ObjectId objectId)
    {
        objectId = _register(registration, ObjectKind.Item, custodian);
        ObjectId lotId = bytes(registration.lot).length == 0 ? ObjectId.wrap(0) : _lotIdOf(registration.epc, registration.lot);
        emit ItemRegistered(
            objectId,
            lotId,
            custodian,
            registration.epc,
            registration.lot,
            registration.expiryDate,
            registration.productionDate,
            registration.originGln
        );
    }

    /// @inheritdoc ICustodyLedger
    /// @dev Requirements: as {registerItem}, and `quantity` > 0. Emits {LotRegistered}.
    function registerLot(Registration calldata registration, uint256 quantity, bytes3 unitOfMeasure, address custodian)
        external
        onlyRole(REGISTRAR_ROLE)
        returns (ObjectId objectId)
    {
        if (quantity == 0) revert CustodyInvalidQuantity(quantity);
        if (bytes(registration.lot).length == 0) revert CustodyInvalidRegistration("lot");
        objectId = _register(registration, ObjectKind.Lot, custodian);
        _lotQuantity[objectId] = quantity;
        emit LotRegistered(
            objectId,
            custodian,
            registration.epc,
            registration.lot,
            registration.expiryDate,
            registration.productionDate,
            registration.originGln,
            quantity,
            unitOfMeasure
        );
    }

    /// @inheritdoc ICustodyLedger
    /// @dev Requirements: caller has PARTNER_ROLE and is the custodian; the object is active;
    /// `to` has PARTNER_ROLE. Emits {CustodyTransferred}.
    function transfer(ObjectId objectId, address to) external onlyRole(PARTNER_ROLE) {
        _checkReceiver(to);
        _transfer(objectId, _msgSender(), to);
    }

    /// @inheritdoc ICustodyLedger
    /// @dev Requirements: as {transfer} for every object, 1 to MAX_BATCH objects. All or nothing:
    /// one failing object reverts the whole batch. Emits one {CustodyTransferred} per object.
    function batchTransfer(ObjectId[] calldata objectIds, address to) external onlyRole(PARTNER_ROLE) {
        uint256 n = objectIds.length;
        if (n == 0) revert CustodyEmptyBatch();
        if (n > MAX_BATCH) revert CustodyBatchTooLarge(n, MAX_BATCH);
        _checkReceiver(to);
        address from = _msgSender();
        for (uint256 i = 0; i < n; ++i) {
            _transfer(objectIds[i], from, to);
        }
    }

    /// @inheritdoc ICustodyLedger
    function custodianOf(ObjectId objectId) external view returns (address) {
        return _existing(objectId).custodian;
    }

    /// @notice Full record of an object: kind, status, custodian, expiry and registration time.
    function objectOf(ObjectId objectId) external view returns (ObjectRecord memory) {
        return _existing(objectId);
    }

    /// @notice Quantity currently recorded for a lot (0 for other objects).
    function lotQuantity(ObjectId lotId) external view returns (uint256) {
        return _lotQuantity[lotId];
    }

    /// @notice Object id of an EPC URN, as the ledger derives it.
    function objectIdOf(string calldata epcUrn) external pure returns (ObjectId) {
        return toObjectId(epcUrn);
    }

    function _register(Registration calldata registration, ObjectKind kind, address custodian)
        private
        returns (ObjectId objectId)
    {
        if (bytes(registration.epc).length == 0) revert CustodyInvalidRegistration("epc");
        _checkReceiver(custodian);
        objectId = toObjectId(registration.epc);
        if (_objects[objectId].kind != ObjectKind.None) revert CustodyAlreadyRegistered(objectId);
        _objects[objectId] = ObjectRecord({
            custodian: custodian,
            kind: kind,
            status: Status.Active,
            expiryDate: registration.expiryDate,
            registeredAt: uint48(block.timestamp)
        });
    }

    function _transfer(ObjectId objectId, address from, address to) private {
        ObjectRecord storage record = _objects[objectId];
        address custodian = record.custodian;
        if (record.kind == ObjectKind.None) revert CustodyUnknownObject(objectId);
        if (custodian != from) revert CustodyNotCustodian(objectId, from, custodian);
        if (record.status != Status.Active) revert CustodyInvalidStatus(objectId, record.status);
        record.custodian = to;
        emit CustodyTransferred(objectId, from, to);
    }

    function _checkReceiver(address account) private view {
        if (account == address(0) || !hasRole(PARTNER_ROLE, account)) revert CustodyInvalidReceiver(account);
    }

    function _existing(ObjectId objectId) private view returns (ObjectRecord storage record) {
        record = _objects[objectId];
        if (record.kind == ObjectKind.None) revert CustodyUnknownObject(objectId);
    }

    /// @dev Lot id of an item: keccak256 of its LGTIN class URN, built from the item's SGTIN URN
    /// `urn:epc:id:sgtin:<prefix>.<itemref>.<serial>` -> `urn:epc:class:lgtin:<prefix>.<itemref>.<lot>`.
    function _lotIdOf(string calldata sgtinUrn, string calldata lot) private pure returns (ObjectId) {
        bytes calldata urn = bytes(sgtinUrn);
        bytes memory sgtinPrefix = "urn:epc:id:sgtin:";
        if (urn.length <= sgtinPrefix.length || keccak256(urn[:sgtinPrefix.length]) != keccak256(sgtinPrefix)) {
            revert CustodyInvalidRegistration("epc");
        }
        // position after the second dot of the pure identity (company prefix . item reference)
        uint256 dots;
        uint256 end;
        for (uint256 i = sgtinPrefix.length; i < urn.length; ++i) {
            if (urn[i] == ".") {
                ++dots;
                if (dots == 2) {
                    end = i + 1;
                    break;
                }
            }
        }
        if (dots != 2) revert CustodyInvalidRegistration("epc");
        return ObjectId.wrap(
            keccak256(bytes.concat("urn:epc:class:lgtin:", urn[sgtinPrefix.length:end], _escapeUrnComponent(bytes(lot))))
        );
    }

    /// @dev Percent-escapes the characters that GS1 TDS forbids raw in an EPC URN component
    /// (`"` `%` `&` `/` `<` `>` `?`), so the derived LGTIN URN equals the one built off chain.
    function _escapeUrnComponent(bytes calldata raw) private pure returns (bytes memory out) {
        bytes16 hexDigits = "0123456789ABCDEF";
        uint256 extra;
        for (uint256 i = 0; i < raw.length; ++i) {
            if (_needsEscape(raw[i])) extra += 2;
        }
        if (extra == 0) return raw;
        out = new bytes(raw.length + extra);
        uint256 j;
        for (uint256 i = 0; i < raw.length; ++i) {
            bytes1 c = raw[i];
            if (_needsEscape(c)) {
                out[j++] = "%";
                out[j++] = hexDigits[uint8(c) >> 4];
                out[j++] = hexDigits[uint8(c) & 0x0f];
            } else {
                out[j++] = c;
            }
        }
    }

    function _needsEscape(bytes1 c) private pure returns (bool) {
        return c == 0x22 || c == 0x25 || c == 0x26 || c == 0x2f || c == 0x3c || c == 0x3e || c == 0x3f;
    }
}
