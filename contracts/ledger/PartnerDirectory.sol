// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {LedgerBase} from "./LedgerBase.sol";

/// @title PartnerDirectory
/// @notice Who the partners are: id, role, accounts that act for them, their locations (GLNs),
/// and whether they are active. Only the admin changes it.
abstract contract PartnerDirectory is LedgerBase {
    /// @notice Adds a partner with its signing accounts and locations; returns its id (1, 2, …).
    /// @dev Requirements: caller has DEFAULT_ADMIN_ROLE; accounts belong to no partner; GLNs are
    /// valid and unclaimed. Emits {PartnerRegistered}, {PartnerAccountAdded}, {PartnerLocationAdded}.
    function registerPartner(string calldata name, PartnerRole role, address[] calldata accounts, uint64[] calldata glns)
        external
        onlyRole(DEFAULT_ADMIN_ROLE)
        returns (uint32 partnerId)
    {
        if (bytes(name).length == 0) revert CustodyInvalidRegistration("name");
        partnerId = ++_partnerCount;
        _partners[partnerId] = PartnerRecord({role: role, active: true, exists: true});
        emit PartnerRegistered(partnerId, role, name);
        for (uint256 i = 0; i < accounts.length; ++i) {
            _addAccount(partnerId, accounts[i]);
        }
        for (uint256 i = 0; i < glns.length; ++i) {
            _addLocation(partnerId, glns[i]);
        }
    }

    /// @notice Lets `account` act for the partner (e.g. a rotated key).
    /// @dev Requirements: admin; the partner exists; the account belongs to no partner. Emits {PartnerAccountAdded}.
    function addPartnerAccount(uint32 partnerId, address account) external onlyRole(DEFAULT_ADMIN_ROLE) {
        _existingPartner(partnerId);
        _addAccount(partnerId, account);
    }

    /// @notice Stops `account` acting for its partner; what it did stays attributed to the partner.
    /// @dev Requirements: admin; the account belongs to a partner. Emits {PartnerAccountRemoved}.
    function removePartnerAccount(address account) external onlyRole(DEFAULT_ADMIN_ROLE) {
        uint32 partnerId = _accountPartner[account];
        if (partnerId == 0) revert CustodyUnknownAccount(account);
        delete _accountPartner[account];
        emit PartnerAccountRemoved(partnerId, account);
    }

    /// @notice Records that location `gln` belongs to the partner.
    /// @dev Requirements: admin; the partner exists; the GLN is valid and unclaimed. Emits {PartnerLocationAdded}.
    function addPartnerLocation(uint32 partnerId, uint64 gln) external onlyRole(DEFAULT_ADMIN_ROLE) {
        _existingPartner(partnerId);
        _addLocation(partnerId, gln);
    }

    /// @notice Suspends (`active` false) or reinstates a partner. A suspended partner can do nothing.
    /// @dev Requirements: admin; the partner exists. Emits {PartnerStatusChanged}.
    function setPartnerActive(uint32 partnerId, bool active) external onlyRole(DEFAULT_ADMIN_ROLE) {
        _existingPartner(partnerId).active = active;
        emit PartnerStatusChanged(partnerId, active);
    }

    /// @notice The partner an account acts for (0: none).
    function partnerOf(address account) external view returns (uint32) {
        return _accountPartner[account];
    }

    /// @notice A partner's role and whether it is active.
    function partner(uint32 partnerId) external view returns (PartnerRole role, bool active) {
        PartnerRecord storage p = _existingPartner(partnerId);
        return (p.role, p.active);
    }

    /// @notice The partner a location belongs to (0: none).
    function locationOwner(uint64 gln) external view returns (uint32) {
        return _locationPartner[gln];
    }

    /// @notice Number of partners registered so far (ids run from 1 to this).
    function partnerCount() external view returns (uint32) {
        return _partnerCount;
    }

    function _existingPartner(uint32 partnerId) private view returns (PartnerRecord storage p) {
        p = _partners[partnerId];
        if (!p.exists) revert CustodyUnknownPartner(partnerId);
    }

    function _addAccount(uint32 partnerId, address account) private {
        if (account == address(0)) revert CustodyUnknownAccount(account);
        uint32 current = _accountPartner[account];
        if (current != 0) revert CustodyAccountTaken(account, current);
        _accountPartner[account] = partnerId;
        emit PartnerAccountAdded(partnerId, account);
    }

    function _addLocation(uint32 partnerId, uint64 gln) private {
        if (!_validGln(gln) || _locationPartner[gln] != 0) revert CustodyInvalidLocation(gln);
        _locationPartner[gln] = partnerId;
        emit PartnerLocationAdded(partnerId, gln);
    }

    /// @dev 13 digits (leading zeros allowed) with a correct GS1 mod-10 check digit.
    function _validGln(uint64 gln) private pure returns (bool) {
        if (gln == 0 || gln >= 1e13) return false;
        uint64 rest = gln / 10;
        uint256 sum;
        for (uint256 i = 0; i < 12; ++i) {
            sum += (rest % 10) * (i % 2 == 0 ? 3 : 1);
            rest /= 10;
        }
        return (10 - (sum % 10)) % 10 == gln % 10;
    }
}
