// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {LedgerBase} from "./LedgerBase.sol";
import {ObjectId, toObjectId} from "../types/ObjectId.sol";

/// @title ObjectRegistry
/// @notice Commissioning of serialized items (SGTIN), lots (LGTIN with a quantity) and logistic
/// units (SSCC), and the read side of an object's record.
abstract contract ObjectRegistry is LedgerBase {
    /// @notice Registers serialized items held and owned by the caller's partner.
    /// @dev Requirements: the caller's partner is an active Manufacturer; 1..MAX_CREATE_BATCH entries;
    /// each EPC is a non-empty SGTIN URN not yet registered. Emits one {ItemRegistered} each.
    function registerItems(Registration[] calldata registrations)
        external
        whenNotPaused
        returns (ObjectId[] memory objectIds)
    {
        (uint32 partnerId,) = _callerManufacturer();
        uint256 n = registrations.length;
        _checkBatch(n, MAX_CREATE_BATCH);
        objectIds = new ObjectId[](n);
        for (uint256 i = 0; i < n; ++i) {
            objectIds[i] = _registerItem(registrations[i], partnerId);
        }
    }

    /// @notice Registers a lot of `output.quantity` units held and owned by the caller's partner.
    /// @dev Requirements: an active Manufacturer; a non-empty lot number and EPC; quantity > 0.
    /// Emits {LotRegistered}.
    function registerLot(LotOutput calldata output) external whenNotPaused returns (ObjectId) {
        (uint32 partnerId,) = _callerManufacturer();
        return _registerLot(output, partnerId);
    }

    /// @notice Registers logistic units (cases, pallets) identified by SSCC URNs.
    /// @dev Requirements: an active partner that may hold goods; 1..MAX_CREATE_BATCH new URNs. Emits
    /// one {LogisticUnitRegistered} each.
    function registerLogisticUnits(string[] calldata ssccUrns)
        external
        whenNotPaused
        returns (ObjectId[] memory objectIds)
    {
        (uint32 partnerId,) = _callerHolder();
        uint256 n = ssccUrns.length;
        _checkBatch(n, MAX_CREATE_BATCH);
        objectIds = new ObjectId[](n);
        for (uint256 i = 0; i < n; ++i) {
            _requireScheme(ssccUrns[i], "urn:epc:id:sscc:");
            ObjectId objectId = _newObject(ssccUrns[i], ObjectKind.LogisticUnit, partnerId, 0);
            objectIds[i] = objectId;
            emit LogisticUnitRegistered(objectId, partnerId, ssccUrns[i]);
        }
    }

    /// @notice Custody view of an object: effective status and custodian (a packed object's are
    /// its outermost container's), owner, container, lot and quantity.
    function custodyOf(ObjectId objectId) external view returns (CustodyView memory v) {
        ObjectRecord storage record = _existing(objectId);
        ObjectId root = _root(objectId);
        ObjectRecord storage top = _objects[root];
        LotBalance storage balance = _balances[objectId];
        v = CustodyView({
            kind: record.kind,
            status: top.shipmentId != 0 && record.status == Status.Active ? Status.InTransit : record.status,
            custodian: top.custodian,
            owner: root == objectId ? record.owner : top.owner,
            pendingReceiver: _shipments[top.shipmentId].receiver,
            shipmentId: top.shipmentId,
            registrant: record.registrant,
            expiryDate: record.expiryDate,
            registeredAt: record.registeredAt,
            parent: _parents[objectId],
            root: root,
            lot: _itemLots[objectId],
            quantity: balance.quantity,
            unitOfMeasure: balance.unitOfMeasure
        });
    }

    /// @notice Partner that holds the object now (a packed object: its container's custodian).
    function custodianOf(ObjectId objectId) external view returns (uint32) {
        _existing(objectId);
        return _objects[_root(objectId)].custodian;
    }

    /// @notice Object id of an EPC URN, as the ledger derives it.
    function objectIdOf(string calldata epcUrn) external pure returns (ObjectId) {
        return toObjectId(epcUrn);
    }

    function _callerManufacturer() internal view returns (uint32 partnerId, PartnerRole role) {
        (partnerId, role) = _callerPartner();
        if (role != PartnerRole.Manufacturer) revert CustodyRoleNotAllowed(partnerId, role);
    }

    function _registerItem(Registration calldata registration, uint32 partnerId) internal returns (ObjectId objectId) {
        _requireScheme(registration.epc, "urn:epc:id:sgtin:");
        objectId = _newObject(registration.epc, ObjectKind.Item, partnerId, registration.expiryDate);
        ObjectId lotId;
        if (bytes(registration.lot).length != 0) {
            lotId = _lotIdOf(registration.epc, registration.lot);
            _itemLots[objectId] = lotId;
        }
        emit ItemRegistered(
            objectId,
            lotId,
            partnerId,
            registration.epc,
            registration.lot,
            registration.expiryDate,
            registration.productionDate,
            registration.originGln
        );
    }

    function _registerLot(LotOutput calldata output, uint32 partnerId) internal returns (ObjectId objectId) {
        Registration calldata r = output.registration;
        if (bytes(r.lot).length == 0) revert CustodyInvalidRegistration("lot");
        if (output.quantity == 0 || output.quantity > type(uint232).max) {
            revert CustodyInvalidQuantity(toObjectId(r.epc), output.quantity, type(uint232).max);
        }
        if (output.unitOfMeasure == bytes3(0)) revert CustodyInvalidRegistration("unitOfMeasure");
        _requireScheme(r.epc, "urn:epc:class:lgtin:");
        objectId = _newObject(r.epc, ObjectKind.Lot, partnerId, r.expiryDate);
        _balances[objectId] = LotBalance({quantity: uint232(output.quantity), unitOfMeasure: output.unitOfMeasure});
        emit LotRegistered(
            objectId,
            partnerId,
            r.epc,
            r.lot,
            r.expiryDate,
            r.productionDate,
            r.originGln,
            output.quantity,
            output.unitOfMeasure
        );
    }

    function _newObject(string calldata epc, ObjectKind kind, uint32 partnerId, uint32 expiryDate)
        private
        returns (ObjectId objectId)
    {
        if (bytes(epc).length == 0) revert CustodyInvalidRegistration("epc");
        objectId = toObjectId(epc);
        ObjectRecord storage record = _objects[objectId];
        if (record.kind != ObjectKind.None) revert CustodyAlreadyRegistered(objectId);
        record.custodian = partnerId;
        record.owner = partnerId;
        record.registrant = partnerId;
        record.kind = kind;
        record.expiryDate = expiryDate;
        record.registeredAt = uint48(block.timestamp);
    }

    /// @dev Lot id of an item: keccak256 of its LGTIN class URN, built from the item's SGTIN URN
    /// `urn:epc:id:sgtin:<prefix>.<itemref>.<serial>` -> `urn:epc:class:lgtin:<prefix>.<itemref>.<lot>`.
    /// @dev Reverts unless the URN starts with the EPC scheme prefix its kind requires and has more.
    function _requireScheme(string calldata epc, bytes memory prefix) private pure {
        bytes calldata urn = bytes(epc);
        if (urn.length <= prefix.length || keccak256(urn[:prefix.length]) != keccak256(prefix)) {
            revert CustodyInvalidRegistration("epc");
        }
    }

    /// @dev Requires an SGTIN URN (checked by the caller).
    function _lotIdOf(string calldata sgtinUrn, string calldata lot) private pure returns (ObjectId) {
        bytes calldata urn = bytes(sgtinUrn);
        uint256 start = 17; // bytes("urn:epc:id:sgtin:").length
        uint256 dots;
        uint256 end;
        for (uint256 i = start; i < urn.length; ++i) {
            if (urn[i] == ".") {
                ++dots;
                if (dots == 2) {
                    end = i + 1;
                    break;
                }
            }
        }
        if (dots != 2) revert CustodyInvalidRegistration("epc");
        return ObjectId.wrap(keccak256(bytes.concat("urn:epc:class:lgtin:", urn[start:end], _escapeUrnComponent(bytes(lot)))));
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
