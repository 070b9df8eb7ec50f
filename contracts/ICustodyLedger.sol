// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {ObjectId} from "./types/ObjectId.sol";

/// @title ICustodyLedger
/// @notice Errors, events and external functions of the chain-of-custody ledger.
/// @dev Events are the source of truth for every off-chain model: each state change emits an
/// event that carries everything an indexer needs to rebuild that state from events alone.
interface ICustodyLedger {
    /// @notice What kind of traceable object an id denotes (GS1 vocabulary).
    enum ObjectKind {
        None, // never registered
        Item, // serialized trade item (SGTIN)
        Lot, // lot/batch of a trade item (LGTIN) with a quantity
        LogisticUnit // case or pallet (SSCC)
    }

    /// @notice Lifecycle status of an object.
    enum Status {
        Active,
        InTransit,
        Quarantined,
        Recalled,
        Expired,
        Dispensed,
        Decommissioned
    }

    /// @notice Master data recorded when an item or lot is registered.
    /// @param epc EPC pure-identity URN (items) or EPC class URN (lots); the object id is its keccak256.
    /// @param lot Lot/batch number (GS1 AI 10); may be empty for items not managed by lot.
    /// @param expiryDate Expiry date as YYYYMMDD (GS1 AI 17), 0 when none.
    /// @param productionDate Production date as YYYYMMDD (GS1 AI 11), 0 when unknown.
    /// @param originGln GLN (13 digits) of the location where the object was commissioned, 0 when unknown.
    struct Registration {
        string epc;
        string lot;
        uint32 expiryDate;
        uint32 productionDate;
        uint64 originGln;
    }

    /// @notice The object has never been registered.
    error CustodyUnknownObject(ObjectId objectId);
    /// @notice An object with this id is already registered.
    error CustodyAlreadyRegistered(ObjectId objectId);
    /// @notice `account` tried to act on an object that `custodian` holds.
    error CustodyNotCustodian(ObjectId objectId, address account, address custodian);
    /// @notice The receiving account is not an active partner.
    error CustodyInvalidReceiver(address receiver);
    /// @notice A batch call carried no entries.
    error CustodyEmptyBatch();
    /// @notice A batch call carried more entries than one transaction may hold.
    error CustodyBatchTooLarge(uint256 size, uint256 maxSize);
    /// @notice A registration field is malformed (`field` names it).
    error CustodyInvalidRegistration(string field);
    /// @notice A lot quantity must be positive.
    error CustodyInvalidQuantity(uint256 quantity);
    /// @notice The object's status forbids the operation.
    error CustodyInvalidStatus(ObjectId objectId, Status status);

    /// @notice A serialized item was commissioned (EPCIS ObjectEvent, action ADD, bizStep commissioning).
    event ItemRegistered(
        ObjectId indexed objectId,
        ObjectId indexed lotId,
        address indexed custodian,
        string epc,
        string lot,
        uint32 expiryDate,
        uint32 productionDate,
        uint64 originGln
    );

    /// @notice A lot/batch was commissioned with a quantity in a unit of measure (UN/ECE rec 20 code).
    event LotRegistered(
        ObjectId indexed objectId,
        address indexed custodian,
        string epc,
        string lot,
        uint32 expiryDate,
        uint32 productionDate,
        uint64 originGln,
        uint256 quantity,
        bytes3 unitOfMeasure
    );

    /// @notice Custody of an object passed from `sender` to `receiver` in one step.
    event CustodyTransferred(ObjectId indexed objectId, address indexed sender, address indexed receiver);

    /// @notice Registers a serialized item held by `custodian`.
    function registerItem(Registration calldata registration, address custodian) external returns (ObjectId);

    /// @notice Registers a lot of `quantity` units held by `custodian`.
    function registerLot(Registration calldata registration, uint256 quantity, bytes3 unitOfMeasure, address custodian)
        external
        returns (ObjectId);

    /// @notice Transfers custody of one object to `to`.
    function transfer(ObjectId objectId, address to) external;

    /// @notice Transfers custody of several objects to `to` in one transaction.
    function batchTransfer(ObjectId[] calldata objectIds, address to) external;

    /// @notice Current custodian of an object (reverts for unknown objects).
    function custodianOf(ObjectId objectId) external view returns (address);
}
