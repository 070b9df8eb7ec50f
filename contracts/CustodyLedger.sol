// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {Aggregation} from "./ledger/Aggregation.sol";
import {CustodyFlow} from "./ledger/CustodyFlow.sol";
import {DocumentAnchors} from "./ledger/DocumentAnchors.sol";
import {Genealogy} from "./ledger/Genealogy.sol";
import {LedgerBase} from "./ledger/LedgerBase.sol";
import {PartnerDirectory} from "./ledger/PartnerDirectory.sol";
import {StatusControl} from "./ledger/StatusControl.sol";

/// @title CustodyLedger
/// @notice The chain-of-custody ledger of a supply network: partner directory, registry of
/// serialized items, lots and logistic units, two-phase custody, aggregation, lot genealogy,
/// status and recall, and document anchors. Partners' EIP-712 signed operations arrive through
/// its CustodyRelay (deployed by the constructor, see `relay`).
/// @dev Immutable by design: no proxy. A new version is deployed beside the old one and the
/// indexer follows both (events are the source of truth); see docs/decisions.md.
contract CustodyLedger is
    PartnerDirectory,
    Genealogy,
    CustodyFlow,
    Aggregation,
    StatusControl,
    DocumentAnchors
{
    /// @param admin Account that administers the partner directory and may pause.
    constructor(address admin) LedgerBase(admin) {}

    /// @notice Stops every partner operation (emergency). Requirements: PAUSER_ROLE.
    function pause() external onlyRole(PAUSER_ROLE) {
        _pause();
    }

    /// @notice Resumes partner operations. Requirements: PAUSER_ROLE.
    function unpause() external onlyRole(PAUSER_ROLE) {
        _unpause();
    }
}
