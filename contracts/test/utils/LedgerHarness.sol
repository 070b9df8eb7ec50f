// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {CustodyLedger} from "../../CustodyLedger.sol";

/// @dev The ledger with its internal date conversion exposed, to test it directly.
contract LedgerHarness is CustodyLedger {
    constructor(address admin) CustodyLedger(admin) {}

    function today() external view returns (uint32) {
        return _today();
    }
}
