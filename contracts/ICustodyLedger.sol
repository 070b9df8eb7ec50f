// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {ObjectId} from "./types/ObjectId.sol";

/// @title ICustodyLedger
/// @notice Types, errors, events and external functions of the chain-of-custody ledger.
/// @dev Events are the source of truth for every off-chain model: each state change emits an
/// event that carries everything an indexer needs to rebuild that state from events alone.
/// Partners are identified by a `uint32` partner id; an account acts for the partner it belongs to.
interface ICustodyLedger {
    // ---------------------------------------------------------------- types

    /// @notice Business role of a partner (GS1/DSCSA trading-partner types).
    enum PartnerRole {
        Manufacturer, // manufacturer or packager: commissions items and lots, transforms
        Distributor, // wholesale distributor or 3PL
        Dispenser, // pharmacy, hospital, retailer: may dispense/sell
        Auditor // regulator or auditor: identified, holds nothing
    }

    /// @notice What kind of traceable object an id denotes.
    enum ObjectKind {
        None, // never registered
        Item, // serialized trade item (SGTIN)
        Lot, // lot/batch of a trade item (LGTIN) with a quantity
        LogisticUnit // case or pallet (SSCC)
    }

    /// @notice Lifecycle status. `InTransit` is reported for an active object while a shipment
    /// (its own or its container's) awaits receipt; it is derived, never set. An object with
    /// another status keeps it in transit too (e.g. a recalled object going back to its
    /// registrant): `shipmentId` and `pendingReceiver` of the custody view show the transit.
    enum Status {
        Active,
        InTransit,
        Quarantined,
        Recalled,
        Expired,
        Dispensed,
        Decommissioned
    }

    /// @notice How outputs derive from inputs in a genealogy event (EPCIS TransformationEvent).
    enum GenealogyKind {
        Split,
        Merge,
        Transform
    }

    /// @notice Type of an anchored document.
    enum DocumentType {
        CertificateOfAnalysis,
        BillOfLading,
        TransactionStatement,
        TemperatureLog,
        Invoice,
        Photo,
        RecallNotice,
        Other
    }

    /// @notice Master data recorded when an item, lot or logistic unit is commissioned.
    /// @param epc EPC URN (`urn:epc:id:sgtin:…`, `urn:epc:class:lgtin:…`, `urn:epc:id:sscc:…`);
    /// the object id is its keccak256.
    /// @param lot Lot/batch number (GS1 AI 10); empty for items not managed by lot and for SSCCs.
    /// @param expiryDate Expiry or best-before date as YYYYMMDD (AI 17/15), 0 when none.
    /// @param productionDate Production date as YYYYMMDD (AI 11), 0 when unknown.
    /// @param originGln GLN of the place of commissioning (13 digits), 0 when unknown.
    struct Registration {
        string epc;
        string lot;
        uint32 expiryDate;
        uint32 productionDate;
        uint64 originGln;
    }

    /// @notice A lot to create with a quantity (registration, split, merge, transform outputs).
    struct LotOutput {
        Registration registration;
        uint256 quantity;
        bytes3 unitOfMeasure; // UN/ECE Recommendation 20 code, e.g. "KGM", "EA", "LTR"
    }

    /// @notice An input of a transformation: a lot and the quantity consumed, or an item (quantity 1).
    struct GenealogyInput {
        ObjectId objectId;
        uint256 quantity;
    }

    /// @notice Shipping details (EPCIS source/destination).
    /// @param receiver Partner that is to receive.
    /// @param shipFromGln GLN of the sender's shipping location (0 when not given).
    /// @param shipToGln GLN of the receiver's location (0 when not given).
    /// @param transferOwnership Whether receipt also passes ownership (a DSCSA transaction).
    struct ShipmentInfo {
        uint32 receiver;
        uint64 shipFromGln;
        uint64 shipToGln;
        bool transferOwnership;
    }

    /// @notice An operation signed off chain by a partner's account (EIP-712) for anyone to relay.
    /// @param signer Account that signed; the call runs as if it had sent it.
    /// @param data ABI-encoded call of a ledger function.
    /// @param nonce The signer's next nonce (see `nonces`).
    /// @param deadline Unix time after which the signature is void.
    struct SignedCall {
        address signer;
        bytes data;
        uint256 nonce;
        uint256 deadline;
    }

    /// @notice Custody view of an object, with what it inherits from its outermost container.
    struct CustodyView {
        ObjectKind kind;
        Status status; // effective: InTransit while the object (or its container) is shipped
        uint32 custodian;
        uint32 owner;
        uint32 pendingReceiver;
        uint40 shipmentId;
        uint32 registrant;
        uint32 expiryDate;
        uint48 registeredAt;
        ObjectId parent;
        ObjectId root;
        ObjectId lot;
        uint256 quantity;
        bytes3 unitOfMeasure;
    }

    // ---------------------------------------------------------------- errors

    /// @notice The account belongs to no partner.
    error CustodyUnknownAccount(address account);
    /// @notice No partner has this id.
    error CustodyUnknownPartner(uint32 partnerId);
    /// @notice The partner is suspended and can do nothing.
    error CustodyPartnerSuspended(uint32 partnerId);
    /// @notice The partner's role does not allow the operation.
    error CustodyRoleNotAllowed(uint32 partnerId, PartnerRole role);
    /// @notice The account already belongs to a partner.
    error CustodyAccountTaken(address account, uint32 partnerId);
    /// @notice The GLN is malformed (0 or more than 13 digits) or belongs to another partner.
    error CustodyInvalidLocation(uint64 gln);
    /// @notice The object has never been registered.
    error CustodyUnknownObject(ObjectId objectId);
    /// @notice An object with this id is already registered.
    error CustodyAlreadyRegistered(ObjectId objectId);
    /// @notice The partner does not hold the object (custodian is `custodian`).
    error CustodyNotCustodian(ObjectId objectId, uint32 partnerId, uint32 custodian);
    /// @notice The partner does not own the object.
    error CustodyNotOwner(ObjectId objectId, uint32 partnerId, uint32 owner);
    /// @notice The object is not in transit to this partner.
    error CustodyNotReceiver(ObjectId objectId, uint32 partnerId, uint32 pendingReceiver);
    /// @notice The receiving partner cannot take custody (unknown, suspended, an auditor, or the sender).
    error CustodyInvalidReceiver(uint32 receiver);
    /// @notice The object's status forbids the operation.
    error CustodyInvalidStatus(ObjectId objectId, Status status);
    /// @notice A packed object moves only with its container.
    error CustodyPackedObject(ObjectId objectId, ObjectId parent);
    /// @notice The object is not packed in this parent.
    error CustodyNotPacked(ObjectId objectId, ObjectId parent);
    /// @notice Packing would nest containers deeper than the ledger allows.
    error CustodyNestingTooDeep(ObjectId parent, uint256 depth);
    /// @notice The object cannot serve as a container (lots cannot).
    error CustodyInvalidContainer(ObjectId objectId);
    /// @notice The object's kind does not fit the operation.
    error CustodyInvalidKind(ObjectId objectId, ObjectKind kind);
    /// @notice A batch call carried no entries.
    error CustodyEmptyBatch();
    /// @notice A batch call carried more entries than one transaction may hold.
    error CustodyBatchTooLarge(uint256 size, uint256 maxSize);
    /// @notice A registration field is malformed (`field` names it).
    error CustodyInvalidRegistration(string field);
    /// @notice A quantity is zero or exceeds what is available.
    error CustodyInvalidQuantity(ObjectId objectId, uint256 requested, uint256 available);
    /// @notice Units of measure differ where they must agree.
    error CustodyUnitMismatch(ObjectId objectId, bytes3 expected, bytes3 actual);
    /// @notice The status change is not allowed from the current status.
    error CustodyInvalidTransition(ObjectId objectId, Status from, Status to);
    /// @notice The object cannot expire yet (no expiry date, or the date has not passed).
    error CustodyNotExpired(ObjectId objectId, uint32 expiryDate);
    /// @notice The partner may not act on this object or shipment.
    error CustodyNotAuthorized(bytes32 subject, uint32 partnerId);
    /// @notice The CID is not a valid binary CID (v0, or v1 with a sha2-256 multihash).
    error CustodyInvalidCid();
    /// @notice The document is already anchored to this subject.
    error CustodyDocumentAlreadyAnchored(bytes32 documentId);
    /// @notice The shipment does not exist.
    error CustodyUnknownShipment(uint40 shipmentId);
    /// @notice The signed call's deadline has passed.
    error CustodyExpiredSignature(uint256 deadline);
    /// @notice The signature was made by `recovered`, not by the call's signer.
    error CustodyInvalidSigner(address recovered, address signer);
    /// @notice The signed call names a function that cannot be relayed.
    error CustodyForbiddenCall(bytes4 selector);
    /// @notice Signed calls and signatures differ in number.
    error CustodyLengthMismatch(uint256 calls, uint256 signatures);
    /// @notice The container holds `count` objects that may not move (recalled, quarantined, …).
    error CustodyBlockedContents(ObjectId container, uint32 count);
    /// @notice A Merkle root of event hashes is already anchored.
    error CustodyRootAlreadyAnchored(bytes32 root);

    // ---------------------------------------------------------------- events: partners

    /// @notice A partner joined the network.
    event PartnerRegistered(uint32 indexed partnerId, PartnerRole role, string name);
    /// @notice An account may now act for the partner.
    event PartnerAccountAdded(uint32 indexed partnerId, address indexed account);
    /// @notice An account may no longer act for the partner (its past actions stay attributed).
    event PartnerAccountRemoved(uint32 indexed partnerId, address indexed account);
    /// @notice A location (GLN) belongs to the partner.
    event PartnerLocationAdded(uint32 indexed partnerId, uint64 indexed gln);
    /// @notice A partner was suspended (`active` false) or reinstated.
    event PartnerStatusChanged(uint32 indexed partnerId, bool active);

    // ---------------------------------------------------------------- events: objects

    /// @notice A serialized item was commissioned (EPCIS ObjectEvent ADD, bizStep commissioning).
    event ItemRegistered(
        ObjectId indexed objectId,
        ObjectId indexed lotId,
        uint32 indexed partnerId,
        string epc,
        string lot,
        uint32 expiryDate,
        uint32 productionDate,
        uint64 originGln
    );

    /// @notice A lot/batch was commissioned with a quantity in a unit of measure.
    event LotRegistered(
        ObjectId indexed objectId,
        uint32 indexed partnerId,
        string epc,
        string lot,
        uint32 expiryDate,
        uint32 productionDate,
        uint64 originGln,
        uint256 quantity,
        bytes3 unitOfMeasure
    );

    /// @notice A logistic unit (case/pallet, SSCC) was commissioned.
    event LogisticUnitRegistered(ObjectId indexed objectId, uint32 indexed partnerId, string epc);

    // ---------------------------------------------------------------- events: custody

    /// @notice Custody passed from `sender` to `receiver` in one step (a pre-agreed hand-over).
    event CustodyTransferred(ObjectId indexed objectId, uint32 indexed sender, uint32 indexed receiver);
    /// @notice A shipment left `sender` for `receiver` (EPCIS bizStep shipping).
    event ShipmentDispatched(
        uint40 indexed shipmentId,
        uint32 indexed sender,
        uint32 indexed receiver,
        uint64 shipFromGln,
        uint64 shipToGln,
        bool transferOwnership,
        uint256 objectCount
    );
    /// @notice The object is part of the shipment and now in transit.
    event ObjectShipped(ObjectId indexed objectId, uint40 indexed shipmentId);
    /// @notice The receiver took custody (EPCIS bizStep receiving) at `gln`.
    event ObjectReceived(ObjectId indexed objectId, uint40 indexed shipmentId, uint32 indexed receiver, uint64 gln);
    /// @notice The receiver refused the object; custody stays with the sender.
    event ObjectRejected(ObjectId indexed objectId, uint40 indexed shipmentId, uint32 indexed receiver, bytes32 reason);
    /// @notice The sender withdrew the object from the shipment before receipt.
    event ShipmentCancelled(ObjectId indexed objectId, uint40 indexed shipmentId, uint32 indexed sender);
    /// @notice Ownership (title, as a DSCSA transaction records it) changed.
    event OwnershipTransferred(ObjectId indexed objectId, uint32 indexed previousOwner, uint32 indexed newOwner);

    // ---------------------------------------------------------------- events: aggregation, genealogy, status

    /// @notice `child` was packed into `parent` (EPCIS AggregationEvent ADD).
    event ObjectPacked(ObjectId indexed child, ObjectId indexed parent, uint32 indexed partnerId);
    /// @notice `child` was taken out of `parent` (EPCIS AggregationEvent DELETE).
    event ObjectUnpacked(ObjectId indexed child, ObjectId indexed parent, uint32 indexed partnerId);
    /// @notice A genealogy event happened; its inputs and outputs follow with the same id.
    event GenealogyRecorded(bytes32 indexed genealogyId, GenealogyKind kind, uint32 indexed partnerId);
    /// @notice An input of genealogy event `genealogyId`, with the quantity consumed from it.
    event GenealogyInputConsumed(bytes32 indexed genealogyId, ObjectId indexed input, uint256 quantity, uint256 remaining);
    /// @notice An output of genealogy event `genealogyId` (each output derives from every input).
    event GenealogyOutputProduced(bytes32 indexed genealogyId, ObjectId indexed output, uint256 quantity);
    /// @notice The object's lifecycle status changed, with a reason code (e.g. "destroyed", "stolen").
    event StatusChanged(ObjectId indexed objectId, Status previous, Status status, bytes32 reason, uint32 indexed partnerId);
    /// @notice A recall of the object (a lot, usually) and everything derived from it began.
    event RecallInitiated(ObjectId indexed objectId, uint32 indexed partnerId, bytes32 reason);

    // ---------------------------------------------------------------- events: documents, batches

    /// @notice A document (by CID) was anchored to an object or shipment.
    event DocumentAnchored(
        bytes32 indexed subject, bytes32 indexed documentId, uint32 indexed partnerId, DocumentType docType, bytes cid
    );
    /// @notice A Merkle root of off-chain event hashes was anchored.
    event EventBatchAnchored(bytes32 indexed root, uint32 indexed partnerId, uint32 leafCount, bytes cid);
}
