// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {LedgerBase} from "./LedgerBase.sol";
import {ObjectId} from "../types/ObjectId.sol";

/// @title StatusControl
/// @notice Lifecycle status: quarantine and release, expiry, dispensing (and saleable returns),
/// decommissioning with a reason code, and recall.
/// @dev Who may change what:
/// - Active <-> Quarantined: the custodian or the registrant.
/// - Active/Quarantined -> Expired: the custodian or the registrant, once the expiry date passed.
/// - Active -> Dispensed, and back (a saleable return): a Dispenser that holds the object.
/// - any but Decommissioned -> Decommissioned (destroyed, stolen, sample, …): the custodian.
/// - -> Recalled: the registrant or the admin, through {recall}; Recalled -> Active (recall
///   lifted): the registrant or the admin.
/// A recall names an object, usually a lot; everything derived from it (items of the lot,
/// genealogy outputs, contents of containers) is found by the indexer from the events, and the
/// recall service recalls those objects too (many signed recalls relay in one transaction), so
/// that each one's own status stops it moving.
abstract contract StatusControl is LedgerBase {
    /// @notice Changes the status of objects, recording `reason` (e.g. "destroyed", "stolen").
    /// @dev Requirements: a permitted transition for the caller (see the contract notes) for
    /// every object. Emits one {StatusChanged} each.
    function setStatus(ObjectId[] calldata objectIds, Status status, bytes32 reason) external whenNotPaused {
        // The admin need not be a partner (it may lift a recall); anyone else acts for its partner.
        uint32 partnerId;
        PartnerRole role;
        if (!_isAdmin(_msgSender()) || _accountPartner[_msgSender()] != 0) (partnerId, role) = _callerPartner();
        uint256 n = objectIds.length;
        _checkBatch(n);
        for (uint256 i = 0; i < n; ++i) {
            ObjectId objectId = objectIds[i];
            ObjectRecord storage record = _existing(objectId);
            ObjectRecord storage top = _objects[_root(objectId)];
            Status previous = record.status;
            _checkTransition(objectId, record, top, previous, status, partnerId, role);
            record.status = status;
            if (status == Status.Decommissioned) record.shipmentId = 0; // e.g. stolen in transit
            _updateBlocked(objectId, previous, status);
            emit StatusChanged(objectId, previous, status, reason, partnerId);
        }
    }

    /// @notice Recalls an object (usually a lot) and, by the indexer, everything derived from it.
    /// @dev Requirements: the caller is the admin or acts for the object's registrant; the object
    /// is neither recalled nor decommissioned. Emits {RecallInitiated} and {StatusChanged}.
    function recall(ObjectId objectId, bytes32 reason) external whenNotPaused {
        ObjectRecord storage record = _existing(objectId);
        uint32 partnerId = _accountPartner[_msgSender()];
        if (!_isAdmin(_msgSender())) {
            (partnerId,) = _callerPartner();
            if (partnerId != record.registrant) revert CustodyNotAuthorized(ObjectId.unwrap(objectId), partnerId);
        }
        Status previous = record.status;
        if (previous == Status.Recalled || previous == Status.Decommissioned) {
            revert CustodyInvalidTransition(objectId, previous, Status.Recalled);
        }
        record.status = Status.Recalled;
        _updateBlocked(objectId, previous, Status.Recalled);
        emit RecallInitiated(objectId, partnerId, reason);
        emit StatusChanged(objectId, previous, Status.Recalled, reason, partnerId);
    }

    // The transition table of the contract notes, one branch per target status.
    // slither-disable-next-line cyclomatic-complexity
    function _checkTransition(
        ObjectId objectId,
        ObjectRecord storage record,
        ObjectRecord storage top,
        Status from,
        Status to,
        uint32 partnerId,
        PartnerRole role
    ) private view {
        bool custodian = top.custodian == partnerId;
        bool registrant = record.registrant == partnerId;
        bool inTransit = top.shipmentId != 0;
        bool allowed;
        if (to == Status.Quarantined) {
            allowed = from == Status.Active && (custodian || registrant);
        } else if (to == Status.Active) {
            if (from == Status.Quarantined) allowed = custodian || registrant;
            else if (from == Status.Dispensed) allowed = custodian && role == PartnerRole.Dispenser && !inTransit;
            else if (from == Status.Recalled) allowed = registrant || _isAdmin(_msgSender());
        } else if (to == Status.Expired) {
            allowed = (from == Status.Active || from == Status.Quarantined) && (custodian || registrant);
            // usable through its expiry date; expired from the day after (day granularity: a
            // validator's few seconds of timestamp drift cannot matter)
            // slither-disable-next-line timestamp
            if (allowed && (record.expiryDate == 0 || _today() <= record.expiryDate)) {
                revert CustodyNotExpired(objectId, record.expiryDate);
            }
        } else if (to == Status.Dispensed) {
            allowed = from == Status.Active && custodian && role == PartnerRole.Dispenser && !inTransit;
        } else if (to == Status.Decommissioned) {
            allowed = from != Status.Decommissioned && custodian;
        }
        if (!allowed) {
            if (!custodian && !registrant) revert CustodyNotAuthorized(ObjectId.unwrap(objectId), partnerId);
            revert CustodyInvalidTransition(objectId, from, to);
        }
    }

    /// @dev Today's date (UTC) as YYYYMMDD, from the block time (civil-from-days algorithm).
    // The floor divisions are the calendar algorithm (H. Hinnant's days_from_civil inverse), not
    // lost precision; block.timestamp only picks the day, no decision depends on its seconds.
    // slither-disable-next-line divide-before-multiply,timestamp
    function _today() internal view returns (uint32) {
        uint256 z = block.timestamp / 86400 + 719468;
        uint256 era = z / 146097;
        uint256 doe = z - era * 146097;
        uint256 yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
        uint256 doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        uint256 mp = (5 * doy + 2) / 153;
        uint256 d = doy - (153 * mp + 2) / 5 + 1;
        uint256 m = mp < 10 ? mp + 3 : mp - 9;
        uint256 y = yoe + era * 400 + (m <= 2 ? 1 : 0);
        return uint32(y * 10000 + m * 100 + d);
    }
}
