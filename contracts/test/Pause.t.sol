// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {Pausable} from "@openzeppelin/contracts/utils/Pausable.sol";
import {CustodyLedger} from "../CustodyLedger.sol";
import {ICustodyLedger} from "../ICustodyLedger.sol";
import {ObjectId} from "../types/ObjectId.sol";
import {Fixtures} from "./utils/Fixtures.sol";

/// @dev The emergency stop: who may pause, what stops, what keeps working.
contract PauseTest is Fixtures {
    ObjectId internal item;
    ObjectId internal lot;
    ObjectId internal box;
    ObjectId internal inbound;

    function setUp() public override {
        super.setUp();
        item = _registerItem("p-1");
        lot = _registerLot("P", 10);
        box = _registerSscc(mfr, "8000000001");
        inbound = _registerItemAs(mfr2, "p-2", LOT);
        _ship(mfr2, _ids(inbound), MFR, true);
    }

    function test_Pause_EmitsAndUnpause() public {
        vm.expectEmit(true, true, true, true, address(ledger));
        emit Pausable.Paused(admin);
        vm.prank(admin);
        ledger.pause();
        assertTrue(ledger.paused(), "paused");
        vm.expectEmit(true, true, true, true, address(ledger));
        emit Pausable.Unpaused(admin);
        vm.prank(admin);
        ledger.unpause();
        assertFalse(ledger.paused(), "unpaused");
        _ship(mfr, _ids(item), DIST, true); // operations resume
    }

    function test_Pause_RevertWhen_NotPauser() public {
        bytes32 role = ledger.PAUSER_ROLE();
        vm.expectRevert(abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, mfr, role));
        vm.prank(mfr);
        ledger.pause();
        vm.prank(admin);
        ledger.pause();
        vm.expectRevert(abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, mfr, role));
        vm.prank(mfr);
        ledger.unpause();
    }

    function test_Pause_RevertWhen_AlreadyPausedOrNotPaused() public {
        vm.expectRevert(Pausable.ExpectedPause.selector);
        vm.prank(admin);
        ledger.unpause();
        vm.prank(admin);
        ledger.pause();
        vm.expectRevert(Pausable.EnforcedPause.selector);
        vm.prank(admin);
        ledger.pause();
    }

    function test_Pause_GrantedPauser() public {
        address guardian = address(0x6A4D);
        bytes32 role = ledger.PAUSER_ROLE();
        vm.prank(admin);
        ledger.grantRole(role, guardian);
        vm.prank(guardian);
        ledger.pause();
        assertTrue(ledger.paused(), "paused by the guardian");
    }

    /// Every partner operation stops with EnforcedPause.
    function test_Paused_EveryPartnerOperationReverts() public {
        vm.prank(admin);
        ledger.pause();
        bytes4 err = Pausable.EnforcedPause.selector;
        string[] memory urns = new string[](1);
        urns[0] = _sscc("8000000002");
        ICustodyLedger.LotOutput[] memory outs = new ICustodyLedger.LotOutput[](1);
        outs[0] = _lotOutput("P-a", 1, EA);
        ICustodyLedger.GenealogyInput[] memory inputs = new ICustodyLedger.GenealogyInput[](1);
        inputs[0] = ICustodyLedger.GenealogyInput({objectId: lot, quantity: 1});
        bytes memory cid = abi.encodePacked(hex"1220", keccak256("doc"));

        vm.startPrank(mfr);
        vm.expectRevert(err);
        ledger.registerItems(_regs(_itemReg("p-3", LOT)));
        vm.expectRevert(err);
        ledger.registerLot(_lotOutput("P2", 1, EA));
        vm.expectRevert(err);
        ledger.registerLogisticUnits(urns);
        vm.expectRevert(err);
        ledger.ship(_ids(item), _info(DIST, true));
        vm.expectRevert(err);
        ledger.receiveObjects(_ids(inbound), 0);
        vm.expectRevert(err);
        ledger.reject(_ids(inbound), "x");
        vm.expectRevert(err);
        ledger.cancelShipment(_ids(item));
        vm.expectRevert(err);
        ledger.transfer(_ids(item), DIST);
        vm.expectRevert(err);
        ledger.transferOwnership(_ids(item), DIST);
        vm.expectRevert(err);
        ledger.pack(box, _ids(item));
        vm.expectRevert(err);
        ledger.unpack(box, _ids(item));
        vm.expectRevert(err);
        ledger.splitLot(lot, outs);
        vm.expectRevert(err);
        ledger.mergeLots(_ids(lot), _lotOutput("P-m", 10, EA));
        vm.expectRevert(err);
        ledger.transform(inputs, outs, new ICustodyLedger.Registration[](0));
        vm.expectRevert(err);
        ledger.setStatus(_ids(item), ICustodyLedger.Status.Quarantined, "x");
        vm.expectRevert(err);
        ledger.recall(item, "x");
        vm.expectRevert(err);
        ledger.anchorDocument(ObjectId.unwrap(item), ICustodyLedger.DocumentType.Photo, cid);
        vm.expectRevert(err);
        ledger.anchorEventBatch(keccak256("root"), 1, cid);
        vm.stopPrank();

        vm.expectRevert(err);
        vm.prank(admin);
        ledger.recall(item, "x"); // the admin's recall too
    }

    /// Relayed operations stop too: the relay bubbles EnforcedPause up.
    function test_Paused_RelayedOperationReverts() public {
        vm.prank(admin);
        ledger.pause();
        ICustodyLedger.SignedCall memory call = ICustodyLedger.SignedCall({
            signer: mfr, data: abi.encodeCall(ledger.transfer, (_ids(item), DIST)), nonce: 0, deadline: block.timestamp
        });
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(MFR_KEY, relay.hashSignedCall(call));
        vm.expectRevert(Pausable.EnforcedPause.selector);
        relay.executeSigned(call, abi.encodePacked(r, s, v));
    }

    /// The directory is administration, not a partner operation: it keeps working while paused,
    /// and views answer.
    function test_Paused_DirectoryAndViewsStillWork() public {
        vm.startPrank(admin);
        ledger.pause();
        ledger.registerPartner("Late Joiner", ICustodyLedger.PartnerRole.Dispenser, _addrs(outsider), _glns(GLN_FREE));
        ledger.setPartnerActive(DIST, false);
        ledger.addPartnerAccount(DIST, address(0xD157));
        ledger.removePartnerAccount(address(0xD157));
        vm.stopPrank();
        assertEq(ledger.partnerOf(outsider), 6, "registered while paused");
        assertEq(ledger.custodianOf(item), MFR, "custodianOf");
        assertEq(ledger.custodyOf(inbound).pendingReceiver, MFR, "custodyOf");
        assertEq(ledger.shipment(1).sender, MFR2, "shipment");
    }
}
