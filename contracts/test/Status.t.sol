// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {ICustodyLedger} from "../ICustodyLedger.sol";
import {ObjectId} from "../types/ObjectId.sol";
import {Fixtures} from "./utils/Fixtures.sol";
import {LedgerHarness} from "./utils/LedgerHarness.sol";

/// @dev Lifecycle status: the transition table (who may do what), expiry against the block date,
/// dispensing, decommissioning, recall and its lifting.
contract StatusTest is Fixtures {
    using StatusNames for ICustodyLedger.Status;

    // 2027-01-30T23:59:59Z, 2027-01-31T00:00:00Z, 2027-01-31T23:59:59Z, 2027-02-01T00:00:00Z
    uint256 internal constant DAY_BEFORE_EXPIRY_END = 1801353599;
    uint256 internal constant EXPIRY_DAY_START = 1801353600;
    uint256 internal constant EXPIRY_DAY_END = 1801439999;
    uint256 internal constant DAY_AFTER_EXPIRY_START = 1801440000;

    ObjectId internal item;

    function setUp() public override {
        super.setUp();
        item = _registerItem("st-1");
    }

    // ------------------------------------------------------------ the transition table

    enum Outcome {
        Allowed,
        NotAuthorized,
        InvalidTransition
    }

    /// Every (from, to, caller) combination, each on a fresh item held by the Dispenser after a
    /// title-passing receipt from the Manufacturer that registered it, after its expiry date:
    /// the custodian is DISP (a Dispenser), the registrant MFR, and DIST is unrelated.
    function test_TransitionTable() public {
        vm.warp(AFTER_EXPIRY);
        uint256 serial;
        for (uint8 f = 0; f < 7; ++f) {
            ICustodyLedger.Status from = ICustodyLedger.Status(f);
            if (from == ICustodyLedger.Status.InTransit) continue; // derived, never stored
            for (uint8 t = 0; t < 7; ++t) {
                ICustodyLedger.Status to = ICustodyLedger.Status(t);
                for (uint8 actor = 0; actor < 3; ++actor) {
                    ObjectId id = _itemAtDispenserIn(from, string.concat("tt-", _toString(serial++)));
                    _checkCell(id, from, to, actor);
                }
            }
        }
    }

    function _checkCell(ObjectId id, ICustodyLedger.Status from, ICustodyLedger.Status to, uint8 actor) private {
        (address account, uint32 partnerId) = actor == 0 ? (disp, DISP) : actor == 1 ? (mfr, MFR) : (dist, DIST);
        Outcome expected = _expectedOutcome(from, to, actor);
        if (expected == Outcome.Allowed) {
            vm.expectEmit(true, true, true, true, address(ledger));
            emit ICustodyLedger.StatusChanged(id, from, to, "table", partnerId);
        } else if (expected == Outcome.NotAuthorized) {
            vm.expectRevert(
                abi.encodeWithSelector(ICustodyLedger.CustodyNotAuthorized.selector, ObjectId.unwrap(id), partnerId)
            );
        } else {
            vm.expectRevert(abi.encodeWithSelector(ICustodyLedger.CustodyInvalidTransition.selector, id, from, to));
        }
        _setStatus(account, id, to, "table");
        ICustodyLedger.Status now_ = ledger.custodyOf(id).status;
        assertEq(
            uint256(now_), uint256(expected == Outcome.Allowed ? to : from), string.concat(from.name(), "->", to.name())
        );
    }

    /// @dev The table of StatusControl's NatSpec. actor 0: custodian (a Dispenser), 1: registrant, 2: neither.
    function _expectedOutcome(ICustodyLedger.Status from, ICustodyLedger.Status to, uint8 actor)
        private
        pure
        returns (Outcome)
    {
        if (actor == 2) return Outcome.NotAuthorized;
        bool custodian = actor == 0;
        bool ok;
        if (to == ICustodyLedger.Status.Quarantined) {
            ok = from == ICustodyLedger.Status.Active;
        } else if (to == ICustodyLedger.Status.Active) {
            ok = from == ICustodyLedger.Status.Quarantined || (from == ICustodyLedger.Status.Dispensed && custodian)
                || (from == ICustodyLedger.Status.Recalled && !custodian);
        } else if (to == ICustodyLedger.Status.Expired) {
            ok = from == ICustodyLedger.Status.Active || from == ICustodyLedger.Status.Quarantined;
        } else if (to == ICustodyLedger.Status.Dispensed) {
            ok = from == ICustodyLedger.Status.Active && custodian;
        } else if (to == ICustodyLedger.Status.Decommissioned) {
            ok = from != ICustodyLedger.Status.Decommissioned && custodian;
        }
        return ok ? Outcome.Allowed : Outcome.InvalidTransition;
    }

    function _itemAtDispenserIn(ICustodyLedger.Status from, string memory serial) private returns (ObjectId id) {
        id = _registerItemAs(mfr, serial, LOT);
        _move(mfr, disp, DISP, _ids(id), true);
        if (from == ICustodyLedger.Status.Recalled) {
            vm.prank(mfr);
            ledger.recall(id, "setup");
        } else if (from != ICustodyLedger.Status.Active) {
            _setStatus(disp, id, from, "setup");
        }
    }

    // ------------------------------------------------------------ quarantine

    function test_Quarantine_ByCustodianAndReleaseByRegistrant() public {
        _move(mfr, dist, DIST, _ids(item), true);
        vm.expectEmit(true, true, true, true, address(ledger));
        emit ICustodyLedger.StatusChanged(
            item, ICustodyLedger.Status.Active, ICustodyLedger.Status.Quarantined, "temperature", DIST
        );
        _setStatus(dist, item, ICustodyLedger.Status.Quarantined, "temperature");
        vm.expectEmit(true, true, true, true, address(ledger));
        emit ICustodyLedger.StatusChanged(
            item, ICustodyLedger.Status.Quarantined, ICustodyLedger.Status.Active, "cleared", MFR
        );
        _setStatus(mfr, item, ICustodyLedger.Status.Active, "cleared");
    }

    /// A packed item's custodian is its container's: that partner may quarantine it.
    function test_Quarantine_PackedItemByContainersCustodian() public {
        ObjectId box = _registerSscc(mfr, "6000000001");
        _pack(mfr, box, _ids(item));
        _move(mfr, dist, DIST, _ids(box), true);
        _setStatus(dist, item, ICustodyLedger.Status.Quarantined, "damaged case");
        assertStatus(item, ICustodyLedger.Status.Quarantined, "quarantined inside the case");
    }

    function test_SetStatus_RevertWhen_Stranger() public {
        vm.expectRevert(
            abi.encodeWithSelector(ICustodyLedger.CustodyNotAuthorized.selector, ObjectId.unwrap(item), DIST)
        );
        _setStatus(dist, item, ICustodyLedger.Status.Quarantined, "x");
        vm.expectRevert(
            abi.encodeWithSelector(ICustodyLedger.CustodyNotAuthorized.selector, ObjectId.unwrap(item), AUDITOR)
        );
        _setStatus(auditor, item, ICustodyLedger.Status.Quarantined, "x");
    }

    function test_SetStatus_RevertWhen_TargetIsInTransitOrRecalled() public {
        vm.expectRevert(
            abi.encodeWithSelector(
                ICustodyLedger.CustodyInvalidTransition.selector,
                item,
                ICustodyLedger.Status.Active,
                ICustodyLedger.Status.InTransit
            )
        );
        _setStatus(mfr, item, ICustodyLedger.Status.InTransit, "x");
        vm.expectRevert(
            abi.encodeWithSelector(
                ICustodyLedger.CustodyInvalidTransition.selector,
                item,
                ICustodyLedger.Status.Active,
                ICustodyLedger.Status.Recalled
            )
        );
        _setStatus(mfr, item, ICustodyLedger.Status.Recalled, "x");
    }

    function test_SetStatus_RevertWhen_UnknownObject() public {
        ObjectId unknown = _itemId("nope");
        vm.expectRevert(abi.encodeWithSelector(ICustodyLedger.CustodyUnknownObject.selector, unknown));
        _setStatus(mfr, unknown, ICustodyLedger.Status.Quarantined, "x");
    }

    function test_SetStatus_RevertWhen_EmptyOrTooLarge() public {
        vm.expectRevert(ICustodyLedger.CustodyEmptyBatch.selector);
        vm.prank(mfr);
        ledger.setStatus(new ObjectId[](0), ICustodyLedger.Status.Quarantined, "x");
        vm.expectRevert(abi.encodeWithSelector(ICustodyLedger.CustodyBatchTooLarge.selector, 1001, 1000));
        vm.prank(mfr);
        ledger.setStatus(new ObjectId[](1001), ICustodyLedger.Status.Quarantined, "x");
    }

    function test_SetStatus_BatchIsAllOrNothing() public {
        ObjectId other = _registerItemAs(mfr2, "st-2", LOT);
        vm.expectRevert(
            abi.encodeWithSelector(ICustodyLedger.CustodyNotAuthorized.selector, ObjectId.unwrap(other), MFR)
        );
        vm.prank(mfr);
        ledger.setStatus(_ids(item, other), ICustodyLedger.Status.Quarantined, "x");
        assertStatus(item, ICustodyLedger.Status.Active, "first unchanged");
    }

    // ------------------------------------------------------------ dispense

    function test_Dispense_AndSaleableReturn() public {
        _move(mfr, disp, DISP, _ids(item), true);
        vm.expectEmit(true, true, true, true, address(ledger));
        emit ICustodyLedger.StatusChanged(
            item, ICustodyLedger.Status.Active, ICustodyLedger.Status.Dispensed, "sold", DISP
        );
        _setStatus(disp, item, ICustodyLedger.Status.Dispensed, "sold");
        vm.expectEmit(true, true, true, true, address(ledger));
        emit ICustodyLedger.StatusChanged(
            item, ICustodyLedger.Status.Dispensed, ICustodyLedger.Status.Active, "saleable return", DISP
        );
        _setStatus(disp, item, ICustodyLedger.Status.Active, "saleable return");
    }

    function test_Dispense_RevertWhen_NotADispenser() public {
        _move(mfr, dist, DIST, _ids(item), true);
        vm.expectRevert(
            abi.encodeWithSelector(
                ICustodyLedger.CustodyInvalidTransition.selector,
                item,
                ICustodyLedger.Status.Active,
                ICustodyLedger.Status.Dispensed
            )
        );
        _setStatus(dist, item, ICustodyLedger.Status.Dispensed, "sold");
    }

    /// A Dispenser that shipped the item (still its custodian while in transit) cannot dispense it.
    function test_Dispense_RevertWhen_InTransit() public {
        _move(mfr, disp, DISP, _ids(item), true);
        _ship(disp, _ids(item), DIST, true);
        vm.expectRevert(
            abi.encodeWithSelector(
                ICustodyLedger.CustodyInvalidTransition.selector,
                item,
                ICustodyLedger.Status.Active, // the stored status; InTransit is derived
                ICustodyLedger.Status.Dispensed
            )
        );
        _setStatus(disp, item, ICustodyLedger.Status.Dispensed, "sold");
    }

    // ------------------------------------------------------------ decommission

    /// Stolen in transit: the sender (custodian) decommissions; the shipment is void.
    function test_Decommission_InTransitClearsShipment() public {
        _ship(mfr, _ids(item), DIST, true);
        vm.expectEmit(true, true, true, true, address(ledger));
        emit ICustodyLedger.StatusChanged(
            item, ICustodyLedger.Status.Active, ICustodyLedger.Status.Decommissioned, "stolen", MFR
        );
        _setStatus(mfr, item, ICustodyLedger.Status.Decommissioned, "stolen");
        ICustodyLedger.CustodyView memory v = ledger.custodyOf(item);
        assertEq(uint256(v.status), uint256(ICustodyLedger.Status.Decommissioned), "decommissioned");
        assertEq(v.shipmentId, 0, "no shipment");
        assertEq(v.pendingReceiver, 0, "no receiver");
        vm.expectRevert(abi.encodeWithSelector(ICustodyLedger.CustodyNotReceiver.selector, item, DIST, uint32(0)));
        _receive(dist, _ids(item));
    }

    function test_Decommission_RevertWhen_RegistrantNotCustodian() public {
        _move(mfr, dist, DIST, _ids(item), true);
        vm.expectRevert(
            abi.encodeWithSelector(
                ICustodyLedger.CustodyInvalidTransition.selector,
                item,
                ICustodyLedger.Status.Active,
                ICustodyLedger.Status.Decommissioned
            )
        );
        _setStatus(mfr, item, ICustodyLedger.Status.Decommissioned, "destroyed");
    }

    function test_Decommissioned_IsFinal() public {
        _setStatus(mfr, item, ICustodyLedger.Status.Decommissioned, "destroyed");
        for (uint8 t = 0; t < 7; ++t) {
            vm.expectRevert(
                abi.encodeWithSelector(
                    ICustodyLedger.CustodyInvalidTransition.selector,
                    item,
                    ICustodyLedger.Status.Decommissioned,
                    ICustodyLedger.Status(t)
                )
            );
            _setStatus(mfr, item, ICustodyLedger.Status(t), "again");
        }
        vm.expectRevert(
            abi.encodeWithSelector(
                ICustodyLedger.CustodyInvalidTransition.selector,
                item,
                ICustodyLedger.Status.Decommissioned,
                ICustodyLedger.Status.Recalled
            )
        );
        vm.prank(mfr);
        ledger.recall(item, "late");
    }

    // ------------------------------------------------------------ expiry

    function test_Expire_AfterExpiryDate() public {
        vm.warp(DAY_AFTER_EXPIRY_START);
        vm.expectEmit(true, true, true, true, address(ledger));
        emit ICustodyLedger.StatusChanged(
            item, ICustodyLedger.Status.Active, ICustodyLedger.Status.Expired, "expired", MFR
        );
        _setStatus(mfr, item, ICustodyLedger.Status.Expired, "expired");
    }

    function test_Expire_RevertWhen_DayBefore() public {
        vm.warp(DAY_BEFORE_EXPIRY_END);
        _expectNotExpired(item, EXPIRY);
        _setStatus(mfr, item, ICustodyLedger.Status.Expired, "expired");
    }

    /// StatusControl: "Active/Quarantined -> Expired … once the expiry date passed"; the error:
    /// "the date has not passed". During the expiry day itself the date has not passed (a GS1
    /// expiry date is the last day of use), so the object cannot expire yet.
    function test_Expire_RevertWhen_OnTheExpiryDay() public {
        vm.warp(EXPIRY_DAY_START);
        _expectNotExpired(item, EXPIRY);
        _setStatus(mfr, item, ICustodyLedger.Status.Expired, "expired");
        vm.warp(EXPIRY_DAY_END);
        _expectNotExpired(item, EXPIRY);
        _setStatus(mfr, item, ICustodyLedger.Status.Expired, "expired");
    }

    function test_Expire_RevertWhen_NoExpiryDate() public {
        ICustodyLedger.Registration memory r = _itemReg("st-noexp", "");
        r.expiryDate = 0;
        vm.prank(mfr);
        ObjectId id = ledger.registerItems(_regs(r))[0];
        vm.warp(AFTER_EXPIRY);
        _expectNotExpired(id, 0);
        _setStatus(mfr, id, ICustodyLedger.Status.Expired, "expired");
    }

    function test_Expire_FromQuarantinedByCustodian() public {
        _move(mfr, dist, DIST, _ids(item), true);
        _setStatus(dist, item, ICustodyLedger.Status.Quarantined, "hold");
        vm.warp(AFTER_EXPIRY);
        _setStatus(dist, item, ICustodyLedger.Status.Expired, "expired");
        assertStatus(item, ICustodyLedger.Status.Expired, "expired");
    }

    /// A stranger is refused as such, before the date is looked at.
    function test_Expire_RevertWhen_Stranger() public {
        vm.expectRevert(
            abi.encodeWithSelector(ICustodyLedger.CustodyNotAuthorized.selector, ObjectId.unwrap(item), DISP)
        );
        _setStatus(disp, item, ICustodyLedger.Status.Expired, "expired");
    }

    /// Lots expire like items.
    function test_Expire_Lot() public {
        ObjectId lot = _registerLot("ST-L", 10);
        vm.warp(DAY_BEFORE_EXPIRY_END);
        _expectNotExpired(lot, EXPIRY);
        _setStatus(mfr, lot, ICustodyLedger.Status.Expired, "expired");
        vm.warp(DAY_AFTER_EXPIRY_START);
        _setStatus(mfr, lot, ICustodyLedger.Status.Expired, "expired");
        assertStatus(lot, ICustodyLedger.Status.Expired, "lot expired");
    }

    // ------------------------------------------------------------ the on-chain date

    function test_Today_KnownDates() public {
        LedgerHarness h = new LedgerHarness(admin);
        _assertToday(h, 0, 19700101);
        _assertToday(h, 86399, 19700101);
        _assertToday(h, 86400, 19700102);
        _assertToday(h, 951825600, 20000229); // leap day of a year divisible by 400
        _assertToday(h, 1709164800, 20240229);
        _assertToday(h, 1798761599, 20261231);
        _assertToday(h, 1798761600, 20270101);
        _assertToday(h, START, 20260601);
        _assertToday(h, EXPIRY_DAY_START, 20270131);
        _assertToday(h, EXPIRY_DAY_END, 20270131);
        _assertToday(h, DAY_AFTER_EXPIRY_START, 20270201);
        _assertToday(h, 4107542400, 21000301); // 2100 is not a leap year
    }

    /// Fuzz: the ledger's civil-from-days conversion agrees with a plain year/month walk.
    function testFuzz_Today_MatchesReference(uint256 timestamp) public {
        timestamp = bound(timestamp, 0, 7258118399); // through 2199-12-31
        LedgerHarness h = new LedgerHarness(admin);
        _assertToday(h, timestamp, _referenceDate(timestamp));
    }

    function _assertToday(LedgerHarness h, uint256 timestamp, uint32 expected) private {
        vm.warp(timestamp);
        assertEq(h.today(), expected, "today()");
    }

    function _referenceDate(uint256 timestamp) private pure returns (uint32) {
        uint256 days_ = timestamp / 86400;
        uint256 year = 1970;
        while (true) {
            uint256 length = _isLeap(year) ? 366 : 365;
            if (days_ < length) break;
            days_ -= length;
            ++year;
        }
        uint8[12] memory monthDays = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
        if (_isLeap(year)) monthDays[1] = 29;
        uint256 month = 0;
        while (days_ >= monthDays[month]) {
            days_ -= monthDays[month];
            ++month;
        }
        return uint32(year * 10000 + (month + 1) * 100 + days_ + 1);
    }

    function _isLeap(uint256 y) private pure returns (bool) {
        return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    }

    // ------------------------------------------------------------ recall

    function test_Recall_ByRegistrant() public {
        _move(mfr, dist, DIST, _ids(item), true);
        vm.expectEmit(true, true, true, true, address(ledger));
        emit ICustodyLedger.RecallInitiated(item, MFR, "contaminated");
        vm.expectEmit(true, true, true, true, address(ledger));
        emit ICustodyLedger.StatusChanged(
            item, ICustodyLedger.Status.Active, ICustodyLedger.Status.Recalled, "contaminated", MFR
        );
        vm.prank(mfr);
        ledger.recall(item, "contaminated");
        assertStatus(item, ICustodyLedger.Status.Recalled, "recalled");
    }

    /// The admin need not be a partner: the events carry partner id 0.
    function test_Recall_ByAdmin() public {
        vm.expectEmit(true, true, true, true, address(ledger));
        emit ICustodyLedger.RecallInitiated(item, 0, "regulator");
        vm.expectEmit(true, true, true, true, address(ledger));
        emit ICustodyLedger.StatusChanged(
            item, ICustodyLedger.Status.Active, ICustodyLedger.Status.Recalled, "regulator", 0
        );
        vm.prank(admin);
        ledger.recall(item, "regulator");
    }

    /// Any status but Recalled and Decommissioned may be recalled (here: Quarantined, Dispensed).
    function test_Recall_FromOtherStatuses() public {
        _setStatus(mfr, item, ICustodyLedger.Status.Quarantined, "hold");
        vm.prank(mfr);
        ledger.recall(item, "r");
        ObjectId sold = _registerItem("st-sold");
        _move(mfr, disp, DISP, _ids(sold), true);
        _setStatus(disp, sold, ICustodyLedger.Status.Dispensed, "sold");
        vm.expectEmit(true, true, true, true, address(ledger));
        emit ICustodyLedger.StatusChanged(
            sold, ICustodyLedger.Status.Dispensed, ICustodyLedger.Status.Recalled, "r", MFR
        );
        vm.prank(mfr);
        ledger.recall(sold, "r");
    }

    function test_Recall_RevertWhen_NotRegistrant() public {
        _move(mfr, dist, DIST, _ids(item), true);
        vm.expectRevert(
            abi.encodeWithSelector(ICustodyLedger.CustodyNotAuthorized.selector, ObjectId.unwrap(item), DIST)
        );
        vm.prank(dist);
        ledger.recall(item, "x");
    }

    function test_Recall_RevertWhen_UnknownAccount() public {
        vm.expectRevert(abi.encodeWithSelector(ICustodyLedger.CustodyUnknownAccount.selector, outsider));
        vm.prank(outsider);
        ledger.recall(item, "x");
    }

    function test_Recall_RevertWhen_AlreadyRecalled() public {
        vm.prank(mfr);
        ledger.recall(item, "x");
        vm.expectRevert(
            abi.encodeWithSelector(
                ICustodyLedger.CustodyInvalidTransition.selector,
                item,
                ICustodyLedger.Status.Recalled,
                ICustodyLedger.Status.Recalled
            )
        );
        vm.prank(admin);
        ledger.recall(item, "y");
    }

    function test_Recall_RevertWhen_UnknownObject() public {
        ObjectId unknown = _itemId("nope");
        vm.expectRevert(abi.encodeWithSelector(ICustodyLedger.CustodyUnknownObject.selector, unknown));
        vm.prank(admin);
        ledger.recall(unknown, "x");
    }

    function test_LiftRecall_ByRegistrant() public {
        vm.prank(mfr);
        ledger.recall(item, "x");
        vm.expectEmit(true, true, true, true, address(ledger));
        emit ICustodyLedger.StatusChanged(
            item, ICustodyLedger.Status.Recalled, ICustodyLedger.Status.Active, "lifted", MFR
        );
        _setStatus(mfr, item, ICustodyLedger.Status.Active, "lifted");
        _ship(mfr, _ids(item), DIST, true); // moves freely again
    }

    function test_LiftRecall_RevertWhen_CustodianNotRegistrant() public {
        _move(mfr, dist, DIST, _ids(item), true);
        vm.prank(mfr);
        ledger.recall(item, "x");
        vm.expectRevert(
            abi.encodeWithSelector(
                ICustodyLedger.CustodyInvalidTransition.selector,
                item,
                ICustodyLedger.Status.Recalled,
                ICustodyLedger.Status.Active
            )
        );
        _setStatus(dist, item, ICustodyLedger.Status.Active, "x");
    }

    /// StatusControl: "Recalled -> Active (recall lifted): the registrant or the admin". The
    /// admin recalls without being a partner (see test_Recall_ByAdmin), so it must be able to
    /// lift its recall the same way; the event carries partner id 0 as recall's do.
    function test_LiftRecall_ByAdmin() public {
        vm.prank(admin);
        ledger.recall(item, "regulator");
        vm.expectEmit(true, true, true, true, address(ledger));
        emit ICustodyLedger.StatusChanged(
            item, ICustodyLedger.Status.Recalled, ICustodyLedger.Status.Active, "lifted", 0
        );
        _setStatus(admin, item, ICustodyLedger.Status.Active, "lifted");
        assertStatus(item, ICustodyLedger.Status.Active, "recall lifted by the admin");
    }

    // ------------------------------------------------------------ helpers

    function _expectNotExpired(ObjectId id, uint32 expiryDate) private {
        vm.expectRevert(abi.encodeWithSelector(ICustodyLedger.CustodyNotExpired.selector, id, expiryDate));
    }
}

/// @dev Readable status names for assertion messages.
library StatusNames {
    function name(ICustodyLedger.Status s) internal pure returns (string memory) {
        string[7] memory names =
            ["Active", "InTransit", "Quarantined", "Recalled", "Expired", "Dispensed", "Decommissioned"];
        return names[uint8(s)];
    }
}
