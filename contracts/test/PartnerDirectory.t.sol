// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {ICustodyLedger} from "../ICustodyLedger.sol";
import {ObjectId} from "../types/ObjectId.sol";
import {Fixtures} from "./utils/Fixtures.sol";

/// @dev Partner directory: registration, accounts (key rotation), locations (GLN check digits),
/// suspension, and what each role may do.
contract PartnerDirectoryTest is Fixtures {
    address internal newKey = address(0x5EC0DD);

    // ------------------------------------------------------------ fixture and views

    function test_Fixture_RegistersFivePartners() public view {
        assertEq(ledger.partnerCount(), 5, "partner count");
        _assertPartner(MFR, ICustodyLedger.PartnerRole.Manufacturer, mfr);
        _assertPartner(MFR2, ICustodyLedger.PartnerRole.Manufacturer, mfr2);
        _assertPartner(DIST, ICustodyLedger.PartnerRole.Distributor, dist);
        _assertPartner(DISP, ICustodyLedger.PartnerRole.Dispenser, disp);
        _assertPartner(AUDITOR, ICustodyLedger.PartnerRole.Auditor, auditor);
        assertEq(ledger.locationOwner(GLN_MFR), MFR, "GLN_MFR");
        assertEq(ledger.locationOwner(GLN_MFR_DOCK), MFR, "GLN_MFR_DOCK");
        assertEq(ledger.locationOwner(GLN_DIST_DC2), DIST, "GLN_DIST_DC2");
        assertEq(ledger.locationOwner(GLN_FREE), 0, "unclaimed GLN");
        assertEq(ledger.partnerOf(outsider), 0, "outsider");
        assertTrue(ledger.hasRole(ledger.DEFAULT_ADMIN_ROLE(), admin), "admin role");
        assertTrue(ledger.hasRole(ledger.PAUSER_ROLE(), admin), "pauser role");
    }

    function test_Partner_RevertWhen_Unknown() public {
        vm.expectRevert(abi.encodeWithSelector(ICustodyLedger.CustodyUnknownPartner.selector, uint32(0)));
        ledger.partner(0);
        vm.expectRevert(abi.encodeWithSelector(ICustodyLedger.CustodyUnknownPartner.selector, uint32(6)));
        ledger.partner(6);
    }

    // ------------------------------------------------------------ registerPartner

    function test_RegisterPartner_EmitsEveryEvent() public {
        address[] memory accounts = new address[](2);
        accounts[0] = address(0xA);
        accounts[1] = address(0xB);
        vm.expectEmit(true, true, true, true, address(ledger));
        emit ICustodyLedger.PartnerRegistered(6, ICustodyLedger.PartnerRole.Distributor, "Fjord 3PL");
        vm.expectEmit(true, true, true, true, address(ledger));
        emit ICustodyLedger.PartnerAccountAdded(6, address(0xA));
        vm.expectEmit(true, true, true, true, address(ledger));
        emit ICustodyLedger.PartnerAccountAdded(6, address(0xB));
        vm.expectEmit(true, true, true, true, address(ledger));
        emit ICustodyLedger.PartnerLocationAdded(6, GLN_FREE);
        vm.prank(admin);
        uint32 id =
            ledger.registerPartner("Fjord 3PL", ICustodyLedger.PartnerRole.Distributor, accounts, _glns(GLN_FREE));
        assertEq(id, 6, "next id");
        assertEq(ledger.partnerCount(), 6, "count");
        _assertPartner(6, ICustodyLedger.PartnerRole.Distributor, address(0xA));
        assertEq(ledger.partnerOf(address(0xB)), 6, "second account");
        assertEq(ledger.locationOwner(GLN_FREE), 6, "location");
    }

    function test_RegisterPartner_WithNoAccountsOrLocations() public {
        vm.prank(admin);
        uint32 id =
            ledger.registerPartner("Quiet", ICustodyLedger.PartnerRole.Dispenser, new address[](0), new uint64[](0));
        assertEq(id, 6, "id");
        (ICustodyLedger.PartnerRole role, bool active) = ledger.partner(id);
        assertEq(uint256(role), uint256(ICustodyLedger.PartnerRole.Dispenser), "role");
        assertTrue(active, "active");
    }

    function test_RegisterPartner_RevertWhen_NotAdmin() public {
        vm.expectRevert(
            abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, mfr, bytes32(0))
        );
        vm.prank(mfr);
        ledger.registerPartner("X", ICustodyLedger.PartnerRole.Distributor, new address[](0), new uint64[](0));
    }

    function test_RegisterPartner_RevertWhen_NameEmpty() public {
        vm.expectRevert(abi.encodeWithSelector(ICustodyLedger.CustodyInvalidRegistration.selector, "name"));
        vm.prank(admin);
        ledger.registerPartner("", ICustodyLedger.PartnerRole.Distributor, new address[](0), new uint64[](0));
    }

    function test_RegisterPartner_RevertWhen_AccountZero() public {
        vm.expectRevert(abi.encodeWithSelector(ICustodyLedger.CustodyUnknownAccount.selector, address(0)));
        vm.prank(admin);
        ledger.registerPartner("X", ICustodyLedger.PartnerRole.Distributor, _addrs(address(0)), new uint64[](0));
    }

    function test_RegisterPartner_RevertWhen_AccountTaken() public {
        vm.expectRevert(abi.encodeWithSelector(ICustodyLedger.CustodyAccountTaken.selector, dist, DIST));
        vm.prank(admin);
        ledger.registerPartner("X", ICustodyLedger.PartnerRole.Distributor, _addrs(dist), new uint64[](0));
    }

    function test_RegisterPartner_RevertWhen_AccountTwiceInOneCall() public {
        address[] memory accounts = new address[](2);
        accounts[0] = newKey;
        accounts[1] = newKey;
        vm.expectRevert(abi.encodeWithSelector(ICustodyLedger.CustodyAccountTaken.selector, newKey, uint32(6)));
        vm.prank(admin);
        ledger.registerPartner("X", ICustodyLedger.PartnerRole.Distributor, accounts, new uint64[](0));
    }

    function test_RegisterPartner_RevertWhen_GlnCheckDigitWrong() public {
        vm.expectRevert(abi.encodeWithSelector(ICustodyLedger.CustodyInvalidLocation.selector, GLN_BAD_CHECK));
        vm.prank(admin);
        ledger.registerPartner("X", ICustodyLedger.PartnerRole.Distributor, new address[](0), _glns(GLN_BAD_CHECK));
    }

    function test_RegisterPartner_RevertWhen_GlnClaimed() public {
        vm.expectRevert(abi.encodeWithSelector(ICustodyLedger.CustodyInvalidLocation.selector, GLN_DISP));
        vm.prank(admin);
        ledger.registerPartner("X", ICustodyLedger.PartnerRole.Distributor, new address[](0), _glns(GLN_DISP));
    }

    // ------------------------------------------------------------ accounts and key rotation

    function test_AddPartnerAccount_Emits() public {
        vm.expectEmit(true, true, true, true, address(ledger));
        emit ICustodyLedger.PartnerAccountAdded(DIST, newKey);
        vm.prank(admin);
        ledger.addPartnerAccount(DIST, newKey);
        assertEq(ledger.partnerOf(newKey), DIST, "partnerOf");
    }

    function test_AddPartnerAccount_RevertWhen_PartnerUnknown() public {
        vm.expectRevert(abi.encodeWithSelector(ICustodyLedger.CustodyUnknownPartner.selector, UNKNOWN_PARTNER));
        vm.prank(admin);
        ledger.addPartnerAccount(UNKNOWN_PARTNER, newKey);
    }

    function test_AddPartnerAccount_RevertWhen_AccountTaken() public {
        vm.expectRevert(abi.encodeWithSelector(ICustodyLedger.CustodyAccountTaken.selector, mfr, MFR));
        vm.prank(admin);
        ledger.addPartnerAccount(DIST, mfr);
    }

    function test_AddPartnerAccount_RevertWhen_AccountZero() public {
        vm.expectRevert(abi.encodeWithSelector(ICustodyLedger.CustodyUnknownAccount.selector, address(0)));
        vm.prank(admin);
        ledger.addPartnerAccount(DIST, address(0));
    }

    function test_AddPartnerAccount_RevertWhen_NotAdmin() public {
        vm.expectRevert(
            abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, dist, bytes32(0))
        );
        vm.prank(dist);
        ledger.addPartnerAccount(DIST, newKey);
    }

    function test_RemovePartnerAccount_Emits() public {
        vm.expectEmit(true, true, true, true, address(ledger));
        emit ICustodyLedger.PartnerAccountRemoved(DIST, dist);
        vm.prank(admin);
        ledger.removePartnerAccount(dist);
        assertEq(ledger.partnerOf(dist), 0, "partnerOf");
    }

    function test_RemovePartnerAccount_RevertWhen_AccountUnknown() public {
        vm.expectRevert(abi.encodeWithSelector(ICustodyLedger.CustodyUnknownAccount.selector, outsider));
        vm.prank(admin);
        ledger.removePartnerAccount(outsider);
    }

    function test_RemovePartnerAccount_RevertWhen_NotAdmin() public {
        vm.expectRevert(
            abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, dist, bytes32(0))
        );
        vm.prank(dist);
        ledger.removePartnerAccount(dist);
    }

    function test_RemovedAccount_MayJoinAnotherPartner() public {
        vm.startPrank(admin);
        ledger.removePartnerAccount(dist);
        ledger.addPartnerAccount(DISP, dist);
        vm.stopPrank();
        assertEq(ledger.partnerOf(dist), DISP, "re-assigned");
    }

    /// Key rotation: a new account acts for the same partner; custody is held by the partner id,
    /// so nothing moves; the removed account is rejected.
    function test_KeyRotation_NewAccountActsForSamePartner() public {
        ObjectId item = _registerItem("rot-1");
        vm.startPrank(admin);
        ledger.addPartnerAccount(MFR, newKey);
        ledger.removePartnerAccount(mfr);
        vm.stopPrank();

        assertEq(ledger.custodianOf(item), MFR, "custody unchanged by rotation");
        assertEq(ledger.custodyOf(item).owner, MFR, "ownership unchanged by rotation");

        vm.expectEmit(true, true, true, true, address(ledger));
        emit ICustodyLedger.ShipmentDispatched(1, MFR, DIST, 0, 0, true, 1);
        vm.prank(newKey);
        ledger.ship(_ids(item), _info(DIST, true));

        vm.expectRevert(abi.encodeWithSelector(ICustodyLedger.CustodyUnknownAccount.selector, mfr));
        vm.prank(mfr);
        ledger.cancelShipment(_ids(item));

        vm.expectRevert(abi.encodeWithSelector(ICustodyLedger.CustodyUnknownAccount.selector, mfr));
        vm.prank(mfr);
        ledger.registerItems(_regs(_itemReg("rot-2", LOT)));

        // The new key registers in the partner's name.
        vm.prank(newKey);
        ObjectId second = ledger.registerItems(_regs(_itemReg("rot-2", LOT)))[0];
        assertEq(ledger.custodyOf(second).registrant, MFR, "registrant is the partner");
    }

    // ------------------------------------------------------------ locations

    function test_AddPartnerLocation_Emits() public {
        vm.expectEmit(true, true, true, true, address(ledger));
        emit ICustodyLedger.PartnerLocationAdded(DISP, GLN_FREE);
        vm.prank(admin);
        ledger.addPartnerLocation(DISP, GLN_FREE);
        assertEq(ledger.locationOwner(GLN_FREE), DISP, "owner");
    }

    function test_AddPartnerLocation_AcceptsLeadingZeroGln() public {
        // 0000000000017: 12 zeros then 1, weights 3,1,… -> 1*3=3 -> check (10-3)%10 = 7.
        vm.prank(admin);
        ledger.addPartnerLocation(DISP, 17);
        assertEq(ledger.locationOwner(17), DISP, "owner");
    }

    function test_AddPartnerLocation_RevertWhen_PartnerUnknown() public {
        vm.expectRevert(abi.encodeWithSelector(ICustodyLedger.CustodyUnknownPartner.selector, UNKNOWN_PARTNER));
        vm.prank(admin);
        ledger.addPartnerLocation(UNKNOWN_PARTNER, GLN_FREE);
    }

    function test_AddPartnerLocation_RevertWhen_Zero() public {
        vm.expectRevert(abi.encodeWithSelector(ICustodyLedger.CustodyInvalidLocation.selector, uint64(0)));
        vm.prank(admin);
        ledger.addPartnerLocation(DISP, 0);
    }

    function test_AddPartnerLocation_RevertWhen_FourteenDigits() public {
        // 10000000000009 has a valid-looking last digit but 14 digits.
        vm.expectRevert(abi.encodeWithSelector(ICustodyLedger.CustodyInvalidLocation.selector, uint64(1e13)));
        vm.prank(admin);
        ledger.addPartnerLocation(DISP, 1e13);
    }

    function test_AddPartnerLocation_RevertWhen_BadCheckDigit() public {
        vm.expectRevert(abi.encodeWithSelector(ICustodyLedger.CustodyInvalidLocation.selector, GLN_BAD_CHECK));
        vm.prank(admin);
        ledger.addPartnerLocation(DISP, GLN_BAD_CHECK);
    }

    function test_AddPartnerLocation_RevertWhen_ClaimedByAnother() public {
        vm.expectRevert(abi.encodeWithSelector(ICustodyLedger.CustodyInvalidLocation.selector, GLN_MFR));
        vm.prank(admin);
        ledger.addPartnerLocation(DISP, GLN_MFR);
    }

    function test_AddPartnerLocation_RevertWhen_AlreadyOwn() public {
        vm.expectRevert(abi.encodeWithSelector(ICustodyLedger.CustodyInvalidLocation.selector, GLN_DISP));
        vm.prank(admin);
        ledger.addPartnerLocation(DISP, GLN_DISP);
    }

    function test_AddPartnerLocation_RevertWhen_NotAdmin() public {
        vm.expectRevert(
            abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, disp, bytes32(0))
        );
        vm.prank(disp);
        ledger.addPartnerLocation(DISP, GLN_FREE);
    }

    /// Fuzz: for any 12-digit company prefix + location reference, exactly one of the ten
    /// possible last digits is accepted, and it is the one an independent GS1 computation gives.
    function testFuzz_GlnCheckDigit_MatchesIndependentComputation(uint64 seed) public {
        uint64 body = uint64(bound(seed, 0, 999_999_999_999));
        uint64 expectedDigit = _referenceCheckDigit(body);
        for (uint64 digit = 0; digit < 10; ++digit) {
            uint64 gln = body * 10 + digit;
            uint32 holder = ledger.locationOwner(gln);
            bool valid = digit == expectedDigit && gln != 0;
            if (!valid || holder != 0) {
                vm.expectRevert(abi.encodeWithSelector(ICustodyLedger.CustodyInvalidLocation.selector, gln));
            }
            vm.prank(admin);
            ledger.addPartnerLocation(DISP, gln);
            if (valid && holder == 0) assertEq(ledger.locationOwner(gln), DISP, "accepted GLN recorded");
        }
    }

    /// Fuzz: any value of 14 or more digits is refused.
    function testFuzz_Gln_RevertWhen_MoreThanThirteenDigits(uint64 gln) public {
        gln = uint64(bound(gln, 1e13, type(uint64).max));
        vm.expectRevert(abi.encodeWithSelector(ICustodyLedger.CustodyInvalidLocation.selector, gln));
        vm.prank(admin);
        ledger.addPartnerLocation(DISP, gln);
    }

    /// @dev GS1 General Specifications 7.9.1, read left to right over the 13-digit string:
    /// positions 1..12 weigh 1,3,1,3,… (the same as 3,1,… from the right for 12 digits).
    function _referenceCheckDigit(uint64 body) private pure returns (uint64) {
        bytes memory digits = new bytes(12);
        for (uint256 i = 12; i > 0; --i) {
            digits[i - 1] = bytes1(uint8(body % 10));
            body /= 10;
        }
        uint256 sum;
        for (uint256 pos = 0; pos < 12; ++pos) {
            sum += uint8(digits[pos]) * (pos % 2 == 0 ? 1 : 3);
        }
        uint256 nextTen = (sum + 9) / 10 * 10;
        return uint64(nextTen - sum);
    }

    function test_ReferenceCheckDigit_KnownValues() public pure {
        assertEq(_referenceCheckDigit(61414100000), 5, "0614141000005");
        assertEq(_referenceCheckDigit(61414100001), 2, "0614141000012");
        assertEq(_referenceCheckDigit(400000000001), 3, "4000000000013");
    }

    // ------------------------------------------------------------ suspension

    function test_SetPartnerActive_SuspendsAndReinstates() public {
        vm.expectEmit(true, true, true, true, address(ledger));
        emit ICustodyLedger.PartnerStatusChanged(DIST, false);
        vm.prank(admin);
        ledger.setPartnerActive(DIST, false);
        (, bool active) = ledger.partner(DIST);
        assertFalse(active, "suspended");

        vm.expectEmit(true, true, true, true, address(ledger));
        emit ICustodyLedger.PartnerStatusChanged(DIST, true);
        vm.prank(admin);
        ledger.setPartnerActive(DIST, true);
        (, active) = ledger.partner(DIST);
        assertTrue(active, "reinstated");
        _registerSscc(dist, "9000000001"); // acts again
    }

    function test_SetPartnerActive_RevertWhen_PartnerUnknown() public {
        vm.expectRevert(abi.encodeWithSelector(ICustodyLedger.CustodyUnknownPartner.selector, UNKNOWN_PARTNER));
        vm.prank(admin);
        ledger.setPartnerActive(UNKNOWN_PARTNER, false);
    }

    function test_SetPartnerActive_RevertWhen_NotAdmin() public {
        vm.expectRevert(
            abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, mfr, bytes32(0))
        );
        vm.prank(mfr);
        ledger.setPartnerActive(DIST, false);
    }

    /// A suspended partner can do nothing: every partner operation reverts with
    /// CustodyPartnerSuspended, whatever its arguments.
    function test_SuspendedPartner_CanDoNothing() public {
        ObjectId item = _registerItem("s-1");
        ObjectId lot = _registerLot("LS", 100);
        ObjectId caseId = _registerSscc(mfr, "1000000001");
        ObjectId inbound = _registerItemAs(mfr2, "s-2", LOT);
        _ship(mfr2, _ids(inbound), MFR, false);
        vm.prank(admin);
        ledger.setPartnerActive(MFR, false);

        bytes memory err = abi.encodeWithSelector(ICustodyLedger.CustodyPartnerSuspended.selector, MFR);
        vm.startPrank(mfr);

        vm.expectRevert(err);
        ledger.registerItems(_regs(_itemReg("s-3", LOT)));
        vm.expectRevert(err);
        ledger.registerLot(_lotOutput("LS2", 1, EA));
        string[] memory urns = new string[](1);
        urns[0] = _sscc("1000000002");
        vm.expectRevert(err);
        ledger.registerLogisticUnits(urns);
        vm.expectRevert(err);
        ledger.ship(_ids(item), _info(DIST, true));
        vm.expectRevert(err);
        ledger.receiveObjects(_ids(inbound), 0);
        vm.expectRevert(err);
        ledger.reject(_ids(inbound), "no");
        vm.expectRevert(err);
        ledger.cancelShipment(_ids(item));
        vm.expectRevert(err);
        ledger.transfer(_ids(item), DIST);
        vm.expectRevert(err);
        ledger.transferOwnership(_ids(item), DIST);
        vm.expectRevert(err);
        ledger.pack(caseId, _ids(item));
        vm.expectRevert(err);
        ledger.unpack(caseId, _ids(item));
        ICustodyLedger.LotOutput[] memory outs = new ICustodyLedger.LotOutput[](1);
        outs[0] = _lotOutput("LS-a", 10, EA);
        vm.expectRevert(err);
        ledger.splitLot(lot, outs);
        vm.expectRevert(err);
        ledger.mergeLots(_ids(lot), _lotOutput("LS-m", 100, EA));
        ICustodyLedger.GenealogyInput[] memory inputs = new ICustodyLedger.GenealogyInput[](1);
        inputs[0] = ICustodyLedger.GenealogyInput({objectId: lot, quantity: 1});
        vm.expectRevert(err);
        ledger.transform(inputs, outs, new ICustodyLedger.Registration[](0));
        vm.expectRevert(err);
        ledger.setStatus(_ids(item), ICustodyLedger.Status.Quarantined, "hold");
        vm.expectRevert(err);
        ledger.recall(item, "contaminated");
        vm.expectRevert(err);
        ledger.anchorDocument(ObjectId.unwrap(item), ICustodyLedger.DocumentType.Photo, _cidV0());
        vm.expectRevert(err);
        ledger.anchorEventBatch(keccak256("root"), 1, "");
        vm.stopPrank();

        // Nothing changed, and the partner's goods cannot be handed to it either.
        assertEq(ledger.custodianOf(item), MFR, "custody");
        ObjectId other = _registerItemAs(mfr2, "s-4", LOT);
        vm.expectRevert(abi.encodeWithSelector(ICustodyLedger.CustodyInvalidReceiver.selector, MFR));
        _ship(mfr2, _ids(other), MFR, false);
    }

    /// Goods in transit to a partner that is then suspended: it cannot receive them; the sender
    /// takes them back by cancelling.
    function test_SuspendedReceiver_SenderCancels() public {
        ObjectId item = _registerItem("s-5");
        _ship(mfr, _ids(item), DIST, true);
        vm.prank(admin);
        ledger.setPartnerActive(DIST, false);
        vm.expectRevert(abi.encodeWithSelector(ICustodyLedger.CustodyPartnerSuspended.selector, DIST));
        _receive(dist, _ids(item));
        vm.prank(mfr);
        ledger.cancelShipment(_ids(item));
        assertStatus(item, ICustodyLedger.Status.Active, "back with the sender");
    }

    // ------------------------------------------------------------ roles

    function test_Roles_OnlyManufacturersCommissionItemsAndLots() public {
        bytes memory distErr = abi.encodeWithSelector(
            ICustodyLedger.CustodyRoleNotAllowed.selector, DIST, ICustodyLedger.PartnerRole.Distributor
        );
        vm.expectRevert(distErr);
        vm.prank(dist);
        ledger.registerItems(_regs(_itemReg("r-1", LOT)));
        vm.expectRevert(distErr);
        vm.prank(dist);
        ledger.registerLot(_lotOutput("LR", 1, EA));

        bytes memory dispErr = abi.encodeWithSelector(
            ICustodyLedger.CustodyRoleNotAllowed.selector, DISP, ICustodyLedger.PartnerRole.Dispenser
        );
        vm.expectRevert(dispErr);
        vm.prank(disp);
        ledger.registerItems(_regs(_itemReg("r-1", LOT)));

        // but every holder may commission logistic units
        _registerSscc(dist, "2000000001");
        _registerSscc(disp, "2000000002");
    }

    function test_Roles_AuditorHoldsNothing() public {
        ObjectId item = _registerItem("r-2");
        bytes memory err = abi.encodeWithSelector(
            ICustodyLedger.CustodyRoleNotAllowed.selector, AUDITOR, ICustodyLedger.PartnerRole.Auditor
        );
        string[] memory urns = new string[](1);
        urns[0] = _sscc("2000000003");
        vm.startPrank(auditor);
        vm.expectRevert(err);
        ledger.registerItems(_regs(_itemReg("r-3", LOT)));
        vm.expectRevert(err);
        ledger.registerLogisticUnits(urns);
        vm.expectRevert(err);
        ledger.ship(_ids(item), _info(DIST, false));
        vm.expectRevert(err);
        ledger.receiveObjects(_ids(item), 0);
        vm.expectRevert(err);
        ledger.transfer(_ids(item), DIST);
        vm.expectRevert(err);
        ledger.pack(item, _ids(item));
        vm.stopPrank();

        // nor can goods be shipped, transferred or sold to an auditor
        bytes memory receiverErr = abi.encodeWithSelector(ICustodyLedger.CustodyInvalidReceiver.selector, AUDITOR);
        vm.expectRevert(receiverErr);
        _ship(mfr, _ids(item), AUDITOR, false);
        vm.expectRevert(receiverErr);
        vm.prank(mfr);
        ledger.transfer(_ids(item), AUDITOR);
        vm.expectRevert(receiverErr);
        vm.prank(mfr);
        ledger.transferOwnership(_ids(item), AUDITOR);
    }

    function test_Roles_AuditorMayAnchorEventBatches() public {
        vm.expectEmit(true, true, true, true, address(ledger));
        emit ICustodyLedger.EventBatchAnchored(keccak256("audit"), AUDITOR, 3, "");
        vm.prank(auditor);
        ledger.anchorEventBatch(keccak256("audit"), 3, "");
    }

    function test_UnknownAccount_IsRefused() public {
        vm.expectRevert(abi.encodeWithSelector(ICustodyLedger.CustodyUnknownAccount.selector, outsider));
        vm.prank(outsider);
        ledger.registerItems(_regs(_itemReg("u-1", LOT)));
        string[] memory urns = new string[](1);
        urns[0] = _sscc("2000000004");
        vm.expectRevert(abi.encodeWithSelector(ICustodyLedger.CustodyUnknownAccount.selector, outsider));
        vm.prank(outsider);
        ledger.registerLogisticUnits(urns);
    }

    // ------------------------------------------------------------ helpers

    function _assertPartner(uint32 id, ICustodyLedger.PartnerRole role, address account) private view {
        (ICustodyLedger.PartnerRole actualRole, bool active) = ledger.partner(id);
        assertEq(uint256(actualRole), uint256(role), "role");
        assertTrue(active, "active");
        assertEq(ledger.partnerOf(account), id, "account");
    }

    function _cidV0() private pure returns (bytes memory) {
        return abi.encodePacked(hex"1220", keccak256("doc"));
    }
}
