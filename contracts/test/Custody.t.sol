// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {ICustodyLedger} from "../ICustodyLedger.sol";
import {LedgerBase} from "../ledger/LedgerBase.sol";
import {ObjectId} from "../types/ObjectId.sol";
import {Fixtures} from "./utils/Fixtures.sol";
import {Vm} from "./utils/Vm.sol";

/// @dev Two-phase custody (ship -> receive / reject / cancel), one-step transfer, ownership.
contract CustodyTest is Fixtures {
    ObjectId internal a;
    ObjectId internal b;

    function setUp() public override {
        super.setUp();
        a = _registerItem("A");
        b = _registerItem("B");
    }

    // ------------------------------------------------------------ ship

    function test_Ship_EmitsAndPutsInTransit() public {
        ICustodyLedger.ShipmentInfo memory info = ICustodyLedger.ShipmentInfo({
            receiver: DIST, shipFromGln: GLN_MFR_DOCK, shipToGln: GLN_DIST_DC2, transferOwnership: true
        });
        vm.expectEmit(true, true, true, true, address(ledger));
        emit ICustodyLedger.ShipmentDispatched(1, MFR, DIST, GLN_MFR_DOCK, GLN_DIST_DC2, true, 2);
        vm.expectEmit(true, true, true, true, address(ledger));
        emit ICustodyLedger.ObjectShipped(a, 1);
        vm.expectEmit(true, true, true, true, address(ledger));
        emit ICustodyLedger.ObjectShipped(b, 1);
        vm.prank(mfr);
        uint40 shipmentId = ledger.ship(_ids(a, b), info);
        assertEq(shipmentId, 1, "first shipment id");

        ICustodyLedger.CustodyView memory v = ledger.custodyOf(a);
        assertEq(uint256(v.status), uint256(ICustodyLedger.Status.InTransit), "in transit");
        assertEq(v.custodian, MFR, "sender keeps custody until receipt");
        assertEq(v.owner, MFR, "ownership passes on receipt only");
        assertEq(v.pendingReceiver, DIST, "pending receiver");
        assertEq(v.shipmentId, 1, "shipment");

        LedgerBase.ShipmentRecord memory s = ledger.shipment(1);
        assertEq(s.sender, MFR, "sender");
        assertEq(s.receiver, DIST, "receiver");
        assertTrue(s.transferOwnership, "transferOwnership");
        assertEq(s.dispatchedAt, START, "dispatchedAt");
    }

    function test_Ship_IdsIncrease() public {
        assertEq(_ship(mfr, _ids(a), DIST, false), 1, "first");
        assertEq(_ship(mfr, _ids(b), DISP, false), 2, "second");
        assertEq(ledger.shipment(2).receiver, DISP, "second receiver");
    }

    function test_Shipment_RevertWhen_Unknown() public {
        vm.expectRevert(abi.encodeWithSelector(ICustodyLedger.CustodyUnknownShipment.selector, uint40(0)));
        ledger.shipment(0);
        vm.expectRevert(abi.encodeWithSelector(ICustodyLedger.CustodyUnknownShipment.selector, uint40(7)));
        ledger.shipment(7);
    }

    function test_Ship_RevertWhen_ReceiverUnknown() public {
        _expectInvalidReceiver(UNKNOWN_PARTNER);
        _ship(mfr, _ids(a), UNKNOWN_PARTNER, false);
        _expectInvalidReceiver(0);
        _ship(mfr, _ids(a), 0, false);
    }

    function test_Ship_RevertWhen_ReceiverIsSender() public {
        _expectInvalidReceiver(MFR);
        _ship(mfr, _ids(a), MFR, false);
    }

    function test_Ship_RevertWhen_ReceiverIsAuditor() public {
        _expectInvalidReceiver(AUDITOR);
        _ship(mfr, _ids(a), AUDITOR, false);
    }

    function test_Ship_RevertWhen_ReceiverSuspended() public {
        vm.prank(admin);
        ledger.setPartnerActive(DIST, false);
        _expectInvalidReceiver(DIST);
        _ship(mfr, _ids(a), DIST, false);
    }

    function test_Ship_RevertWhen_ShipFromNotSendersLocation() public {
        ICustodyLedger.ShipmentInfo memory info = _info(DIST, false);
        info.shipFromGln = GLN_DIST;
        vm.expectRevert(abi.encodeWithSelector(ICustodyLedger.CustodyInvalidLocation.selector, GLN_DIST));
        vm.prank(mfr);
        ledger.ship(_ids(a), info);
        info.shipFromGln = GLN_FREE;
        vm.expectRevert(abi.encodeWithSelector(ICustodyLedger.CustodyInvalidLocation.selector, GLN_FREE));
        vm.prank(mfr);
        ledger.ship(_ids(a), info);
    }

    function test_Ship_RevertWhen_ShipToNotReceiversLocation() public {
        ICustodyLedger.ShipmentInfo memory info = _info(DIST, false);
        info.shipToGln = GLN_DISP;
        vm.expectRevert(abi.encodeWithSelector(ICustodyLedger.CustodyInvalidLocation.selector, GLN_DISP));
        vm.prank(mfr);
        ledger.ship(_ids(a), info);
    }

    function test_Ship_RevertWhen_EmptyBatch() public {
        vm.expectRevert(ICustodyLedger.CustodyEmptyBatch.selector);
        _ship(mfr, new ObjectId[](0), DIST, false);
    }

    function test_Ship_RevertWhen_BatchTooLarge() public {
        vm.expectRevert(abi.encodeWithSelector(ICustodyLedger.CustodyBatchTooLarge.selector, 1001, 1000));
        _ship(mfr, new ObjectId[](1001), DIST, false);
    }

    function test_Ship_RevertWhen_ObjectUnknown() public {
        ObjectId unknown = _itemId("nope");
        vm.expectRevert(abi.encodeWithSelector(ICustodyLedger.CustodyUnknownObject.selector, unknown));
        _ship(mfr, _ids(a, unknown), DIST, false);
    }

    function test_Ship_RevertWhen_NotCustodian() public {
        vm.expectRevert(abi.encodeWithSelector(ICustodyLedger.CustodyNotCustodian.selector, a, DIST, MFR));
        _ship(dist, _ids(a), DISP, false);
    }

    function test_Ship_RevertWhen_AlreadyInTransit() public {
        _ship(mfr, _ids(a), DIST, false);
        vm.expectRevert(
            abi.encodeWithSelector(ICustodyLedger.CustodyInvalidStatus.selector, a, ICustodyLedger.Status.InTransit)
        );
        _ship(mfr, _ids(a), DISP, false);
    }

    function test_Ship_RevertWhen_SameObjectTwiceInBatch() public {
        vm.expectRevert(
            abi.encodeWithSelector(ICustodyLedger.CustodyInvalidStatus.selector, a, ICustodyLedger.Status.InTransit)
        );
        _ship(mfr, _ids(a, a), DIST, false);
    }

    /// A failing entry reverts the whole batch: nothing shipped, no shipment id used.
    function test_Ship_BatchIsAllOrNothing() public {
        ObjectId foreign = _registerItemAs(mfr2, "F", LOT);
        vm.expectRevert(abi.encodeWithSelector(ICustodyLedger.CustodyNotCustodian.selector, foreign, MFR, MFR2));
        _ship(mfr, _ids(a, b, foreign), DIST, false);
        assertStatus(a, ICustodyLedger.Status.Active, "first entry not shipped");
        assertEq(_ship(mfr, _ids(a), DIST, false), 1, "shipment id not used by the failed batch");
    }

    function test_Ship_RevertWhen_Quarantined() public {
        _setStatus(mfr, a, ICustodyLedger.Status.Quarantined, "hold");
        _expectInvalidStatus(a, ICustodyLedger.Status.Quarantined);
        _ship(mfr, _ids(a), DIST, false);
    }

    function test_Ship_RevertWhen_Decommissioned() public {
        _setStatus(mfr, a, ICustodyLedger.Status.Decommissioned, "destroyed");
        _expectInvalidStatus(a, ICustodyLedger.Status.Decommissioned);
        _ship(mfr, _ids(a), DIST, false);
    }

    function test_Ship_RevertWhen_Dispensed() public {
        _move(mfr, disp, DISP, _ids(a), true);
        _setStatus(disp, a, ICustodyLedger.Status.Dispensed, "sold");
        _expectInvalidStatus(a, ICustodyLedger.Status.Dispensed);
        _ship(disp, _ids(a), DIST, false);
    }

    function test_Ship_RevertWhen_Expired() public {
        vm.warp(AFTER_EXPIRY);
        _setStatus(mfr, a, ICustodyLedger.Status.Expired, "expired");
        _expectInvalidStatus(a, ICustodyLedger.Status.Expired);
        _ship(mfr, _ids(a), DIST, false);
    }

    /// A recalled object may only go back to its registrant.
    function test_Ship_Recalled_OnlyBackToRegistrant() public {
        _move(mfr, dist, DIST, _ids(a), true);
        vm.prank(mfr);
        ledger.recall(a, "contaminated");

        _expectInvalidStatus(a, ICustodyLedger.Status.Recalled);
        _ship(dist, _ids(a), DISP, false);
        _expectInvalidStatus(a, ICustodyLedger.Status.Recalled);
        vm.prank(dist);
        ledger.transfer(_ids(a), DISP);

        vm.expectEmit(true, true, true, true, address(ledger));
        emit ICustodyLedger.ShipmentDispatched(2, DIST, MFR, 0, 0, true, 1);
        _ship(dist, _ids(a), MFR, true);
        _receive(mfr, _ids(a));
        assertEq(ledger.custodianOf(a), MFR, "returned to the registrant");
        assertStatus(a, ICustodyLedger.Status.Recalled, "still recalled");
    }

    /// LedgerBase._checkMovable: "Only the object's own status counts: the items of a recalled lot
    /// are recalled one by one (the recall service relays them in one batch)". An item of a
    /// recalled lot still moves until the item itself is recalled; then only back to its registrant.
    function test_Ship_ItemOfRecalledLot_MovesUntilItselfRecalled() public {
        ObjectId lot = _registerLot(LOT, 100);
        _move(mfr, dist, DIST, _ids(a, b), true);
        vm.prank(mfr);
        ledger.recall(lot, "contaminated");
        assertEq(ledger.custodyOf(a).lot, lot, "a belongs to the recalled lot");
        _ship(dist, _ids(a), DISP, false); // the lot's status does not stop its item

        vm.prank(mfr);
        ledger.recall(b, "contaminated");
        _expectInvalidStatus(b, ICustodyLedger.Status.Recalled);
        _ship(dist, _ids(b), DISP, false);
        _ship(dist, _ids(b), MFR, true); // back to the registrant
    }

    /// Likewise a quarantined lot does not stop its items; a quarantined item does not move at
    /// all, not even back to its registrant.
    function test_Ship_ItemOfQuarantinedLot_MovesUntilItselfQuarantined() public {
        ObjectId lot = _registerLot(LOT, 100);
        _move(mfr, dist, DIST, _ids(a, b), true);
        _setStatus(mfr, lot, ICustodyLedger.Status.Quarantined, "investigation");
        _ship(dist, _ids(a), DISP, false);

        _setStatus(mfr, b, ICustodyLedger.Status.Quarantined, "investigation");
        _expectInvalidStatus(b, ICustodyLedger.Status.Quarantined);
        _ship(dist, _ids(b), DISP, false);
        _expectInvalidStatus(b, ICustodyLedger.Status.Quarantined);
        _ship(dist, _ids(b), MFR, false);
        _setStatus(mfr, b, ICustodyLedger.Status.Active, "released");
        _ship(dist, _ids(b), MFR, false);
    }

    function test_Ship_RevertWhen_LotEmpty() public {
        ObjectId lot = _registerLot("E1", 10);
        ICustodyLedger.LotOutput[] memory outs = new ICustodyLedger.LotOutput[](1);
        outs[0] = _lotOutput("E1-all", 10, EA);
        vm.prank(mfr);
        ledger.splitLot(lot, outs);
        vm.expectRevert(abi.encodeWithSelector(ICustodyLedger.CustodyInvalidQuantity.selector, lot, 0, 0));
        _ship(mfr, _ids(lot), DIST, false);
    }

    function test_Ship_RevertWhen_Auditor() public {
        vm.expectRevert(
            abi.encodeWithSelector(
                ICustodyLedger.CustodyRoleNotAllowed.selector, AUDITOR, ICustodyLedger.PartnerRole.Auditor
            )
        );
        _ship(auditor, _ids(a), DIST, false);
    }

    // ------------------------------------------------------------ receive

    function test_Receive_WithOwnershipTransfer() public {
        _ship(mfr, _ids(a, b), DIST, true);
        vm.expectEmit(true, true, true, true, address(ledger));
        emit ICustodyLedger.ObjectReceived(a, 1, DIST, GLN_DIST);
        vm.expectEmit(true, true, true, true, address(ledger));
        emit ICustodyLedger.OwnershipTransferred(a, MFR, DIST);
        vm.expectEmit(true, true, true, true, address(ledger));
        emit ICustodyLedger.ObjectReceived(b, 1, DIST, GLN_DIST);
        vm.expectEmit(true, true, true, true, address(ledger));
        emit ICustodyLedger.OwnershipTransferred(b, MFR, DIST);
        vm.prank(dist);
        ledger.receiveObjects(_ids(a, b), GLN_DIST);

        ICustodyLedger.CustodyView memory v = ledger.custodyOf(a);
        assertEq(v.custodian, DIST, "custodian");
        assertEq(v.owner, DIST, "owner");
        assertEq(uint256(v.status), uint256(ICustodyLedger.Status.Active), "active again");
        assertEq(v.shipmentId, 0, "no shipment");
        assertEq(v.pendingReceiver, 0, "no pending receiver");
        assertEq(v.registrant, MFR, "registrant unchanged");
    }

    function test_Receive_WithoutOwnershipTransfer() public {
        _ship(mfr, _ids(a), DIST, false);
        vm.recordLogs();
        vm.prank(dist);
        ledger.receiveObjects(_ids(a), 0);
        Vm.Log[] memory logs = vm.getRecordedLogs();
        assertEq(logs.length, 1, "only ObjectReceived");
        assertEq(logs[0].topics[0], ICustodyLedger.ObjectReceived.selector, "ObjectReceived");
        assertEq(logs[0].topics[1], ObjectId.unwrap(a), "object");
        assertEq(logs[0].topics[2], bytes32(uint256(1)), "shipment");
        assertEq(logs[0].topics[3], bytes32(uint256(DIST)), "receiver");
        assertEq(logs[0].data, abi.encode(uint64(0)), "gln");
        assertEq(ledger.custodianOf(a), DIST, "custodian");
        assertEq(ledger.custodyOf(a).owner, MFR, "owner unchanged");
    }

    /// When the receiver already owns the object, no OwnershipTransferred is emitted.
    /// Title passed to the receiver while the goods were on their way: receipt moves custody only.
    function test_Receive_OwnerAlreadyReceiver_NoOwnershipEvent() public {
        _ship(mfr, _ids(a), DIST, true);
        vm.prank(mfr);
        ledger.transferOwnership(_ids(a), DIST);
        vm.recordLogs();
        _receive(dist, _ids(a));
        assertEq(vm.getRecordedLogs().length, 1, "only ObjectReceived");
        assertEq(ledger.custodyOf(a).owner, DIST, "owner");
    }

    /// A custodian that does not own the goods (a 3PL) cannot pass their title by shipping.
    function test_Ship_RevertWhen_PassingTitleOfGoodsNotOwned() public {
        _move(mfr, dist, DIST, _ids(a), false); // DIST holds, MFR owns
        vm.expectRevert(abi.encodeWithSelector(ICustodyLedger.CustodyNotOwner.selector, a, DIST, MFR));
        vm.prank(dist);
        ledger.ship(_ids(a), ICustodyLedger.ShipmentInfo(DISP, 0, 0, true));
        _ship(dist, _ids(a), DISP, false); // without title it may ship
    }

    function test_Receive_PartOfShipment() public {
        _ship(mfr, _ids(a, b), DIST, true);
        _receive(dist, _ids(b));
        assertStatus(a, ICustodyLedger.Status.InTransit, "a still in transit");
        assertEq(ledger.custodianOf(b), DIST, "b received");
        _receive(dist, _ids(a));
        assertEq(ledger.custodianOf(a), DIST, "a received later");
    }

    function test_Receive_RevertWhen_NotTheReceiver() public {
        _ship(mfr, _ids(a), DIST, true);
        vm.expectRevert(abi.encodeWithSelector(ICustodyLedger.CustodyNotReceiver.selector, a, DISP, DIST));
        _receive(disp, _ids(a));
    }

    function test_Receive_RevertWhen_NotInTransit() public {
        vm.expectRevert(abi.encodeWithSelector(ICustodyLedger.CustodyNotReceiver.selector, a, DIST, uint32(0)));
        _receive(dist, _ids(a));
    }

    function test_Receive_RevertWhen_ReceivedTwice() public {
        _move(mfr, dist, DIST, _ids(a), true);
        vm.expectRevert(abi.encodeWithSelector(ICustodyLedger.CustodyNotReceiver.selector, a, DIST, uint32(0)));
        _receive(dist, _ids(a));
    }

    function test_Receive_RevertWhen_LocationNotReceivers() public {
        _ship(mfr, _ids(a), DIST, true);
        vm.expectRevert(abi.encodeWithSelector(ICustodyLedger.CustodyInvalidLocation.selector, GLN_MFR));
        vm.prank(dist);
        ledger.receiveObjects(_ids(a), GLN_MFR);
    }

    function test_Receive_RevertWhen_ObjectUnknown() public {
        ObjectId unknown = _itemId("nope");
        vm.expectRevert(abi.encodeWithSelector(ICustodyLedger.CustodyUnknownObject.selector, unknown));
        _receive(dist, _ids(unknown));
    }

    function test_Receive_RevertWhen_EmptyOrTooLarge() public {
        vm.expectRevert(ICustodyLedger.CustodyEmptyBatch.selector);
        _receive(dist, new ObjectId[](0));
        vm.expectRevert(abi.encodeWithSelector(ICustodyLedger.CustodyBatchTooLarge.selector, 1001, 1000));
        _receive(dist, new ObjectId[](1001));
    }

    function test_Receive_RevertWhen_Auditor() public {
        vm.expectRevert(
            abi.encodeWithSelector(
                ICustodyLedger.CustodyRoleNotAllowed.selector, AUDITOR, ICustodyLedger.PartnerRole.Auditor
            )
        );
        _receive(auditor, _ids(a));
    }

    // ------------------------------------------------------------ reject

    function test_Reject_CustodyStaysWithSender() public {
        _ship(mfr, _ids(a), DIST, true);
        vm.expectEmit(true, true, true, true, address(ledger));
        emit ICustodyLedger.ObjectRejected(a, 1, DIST, "damaged");
        vm.prank(dist);
        ledger.reject(_ids(a), "damaged");
        ICustodyLedger.CustodyView memory v = ledger.custodyOf(a);
        assertEq(v.custodian, MFR, "custodian");
        assertEq(v.owner, MFR, "owner");
        assertEq(uint256(v.status), uint256(ICustodyLedger.Status.Active), "active");
        assertEq(v.shipmentId, 0, "no shipment");
        // It can be shipped again, and the rejected receiver cannot take it any more.
        vm.expectRevert(abi.encodeWithSelector(ICustodyLedger.CustodyNotReceiver.selector, a, DIST, uint32(0)));
        _receive(dist, _ids(a));
        assertEq(_ship(mfr, _ids(a), DISP, true), 2, "reshipped");
    }

    function test_Reject_RevertWhen_NotTheReceiver() public {
        _ship(mfr, _ids(a), DIST, true);
        vm.expectRevert(abi.encodeWithSelector(ICustodyLedger.CustodyNotReceiver.selector, a, DISP, DIST));
        vm.prank(disp);
        ledger.reject(_ids(a), "not mine");
        // the sender cannot reject its own shipment either
        vm.expectRevert(abi.encodeWithSelector(ICustodyLedger.CustodyNotReceiver.selector, a, MFR, DIST));
        vm.prank(mfr);
        ledger.reject(_ids(a), "oops");
    }

    function test_Reject_RevertWhen_NotInTransit() public {
        vm.expectRevert(abi.encodeWithSelector(ICustodyLedger.CustodyNotReceiver.selector, a, DIST, uint32(0)));
        vm.prank(dist);
        ledger.reject(_ids(a), "x");
    }

    function test_Reject_RevertWhen_EmptyBatch() public {
        vm.expectRevert(ICustodyLedger.CustodyEmptyBatch.selector);
        vm.prank(dist);
        ledger.reject(new ObjectId[](0), "x");
    }

    // ------------------------------------------------------------ cancel

    function test_Cancel_WithdrawsFromShipment() public {
        _ship(mfr, _ids(a, b), DIST, true);
        vm.expectEmit(true, true, true, true, address(ledger));
        emit ICustodyLedger.ShipmentCancelled(a, 1, MFR);
        vm.prank(mfr);
        ledger.cancelShipment(_ids(a));
        assertStatus(a, ICustodyLedger.Status.Active, "a back");
        assertStatus(b, ICustodyLedger.Status.InTransit, "b still shipped");
        vm.expectRevert(abi.encodeWithSelector(ICustodyLedger.CustodyNotReceiver.selector, a, DIST, uint32(0)));
        _receive(dist, _ids(a));
    }

    function test_Cancel_RevertWhen_NotInTransit() public {
        _expectInvalidStatus(a, ICustodyLedger.Status.Active);
        vm.prank(mfr);
        ledger.cancelShipment(_ids(a));
    }

    function test_Cancel_RevertWhen_AlreadyReceived() public {
        _move(mfr, dist, DIST, _ids(a), true);
        _expectInvalidStatus(a, ICustodyLedger.Status.Active);
        vm.prank(mfr);
        ledger.cancelShipment(_ids(a));
    }

    function test_Cancel_RevertWhen_NotSender() public {
        _ship(mfr, _ids(a), DIST, true);
        vm.expectRevert(abi.encodeWithSelector(ICustodyLedger.CustodyNotCustodian.selector, a, DIST, MFR));
        vm.prank(dist);
        ledger.cancelShipment(_ids(a));
    }

    function test_Cancel_RevertWhen_ObjectUnknown() public {
        ObjectId unknown = _itemId("nope");
        vm.expectRevert(abi.encodeWithSelector(ICustodyLedger.CustodyUnknownObject.selector, unknown));
        vm.prank(mfr);
        ledger.cancelShipment(_ids(unknown));
    }

    function test_Cancel_RevertWhen_EmptyBatch() public {
        vm.expectRevert(ICustodyLedger.CustodyEmptyBatch.selector);
        vm.prank(mfr);
        ledger.cancelShipment(new ObjectId[](0));
    }

    // ------------------------------------------------------------ transfer (one step)

    function test_Transfer_MovesCustodyNotOwnership() public {
        vm.expectEmit(true, true, true, true, address(ledger));
        emit ICustodyLedger.CustodyTransferred(a, MFR, DIST);
        vm.expectEmit(true, true, true, true, address(ledger));
        emit ICustodyLedger.CustodyTransferred(b, MFR, DIST);
        vm.prank(mfr);
        ledger.transfer(_ids(a, b), DIST);
        assertEq(ledger.custodianOf(a), DIST, "custodian");
        assertEq(ledger.custodyOf(a).owner, MFR, "owner unchanged");
        assertStatus(a, ICustodyLedger.Status.Active, "not in transit");
    }

    function test_Transfer_RevertWhen_ReceiverInvalid() public {
        _expectInvalidReceiver(MFR);
        vm.prank(mfr);
        ledger.transfer(_ids(a), MFR);
        _expectInvalidReceiver(UNKNOWN_PARTNER);
        vm.prank(mfr);
        ledger.transfer(_ids(a), UNKNOWN_PARTNER);
    }

    function test_Transfer_RevertWhen_NotCustodian() public {
        vm.expectRevert(abi.encodeWithSelector(ICustodyLedger.CustodyNotCustodian.selector, a, DISP, MFR));
        vm.prank(disp);
        ledger.transfer(_ids(a), DIST);
    }

    function test_Transfer_RevertWhen_InTransit() public {
        _ship(mfr, _ids(a), DIST, false);
        _expectInvalidStatus(a, ICustodyLedger.Status.InTransit);
        vm.prank(mfr);
        ledger.transfer(_ids(a), DISP);
    }

    function test_Transfer_RevertWhen_NotActive() public {
        _setStatus(mfr, a, ICustodyLedger.Status.Quarantined, "hold");
        _expectInvalidStatus(a, ICustodyLedger.Status.Quarantined);
        vm.prank(mfr);
        ledger.transfer(_ids(a), DIST);
    }

    function test_Transfer_RevertWhen_EmptyBatch() public {
        vm.expectRevert(ICustodyLedger.CustodyEmptyBatch.selector);
        vm.prank(mfr);
        ledger.transfer(new ObjectId[](0), DIST);
    }

    // ------------------------------------------------------------ transferOwnership

    function test_TransferOwnership_PassesTitleNotCustody() public {
        vm.expectEmit(true, true, true, true, address(ledger));
        emit ICustodyLedger.OwnershipTransferred(a, MFR, DISP);
        vm.prank(mfr);
        ledger.transferOwnership(_ids(a), DISP);
        assertEq(ledger.custodyOf(a).owner, DISP, "owner");
        assertEq(ledger.custodianOf(a), MFR, "custodian unchanged");
    }

    /// A drop shipment: the distributor sells goods the manufacturer holds and ships.
    function test_TransferOwnership_WhileInTransit() public {
        _ship(mfr, _ids(a), DISP, false);
        vm.prank(mfr);
        ledger.transferOwnership(_ids(a), DIST);
        _receive(disp, _ids(a));
        ICustodyLedger.CustodyView memory v = ledger.custodyOf(a);
        assertEq(v.custodian, DISP, "custodian");
        assertEq(v.owner, DIST, "owner");
    }

    function test_TransferOwnership_RevertWhen_NotOwner() public {
        vm.prank(mfr);
        ledger.transfer(_ids(a), DIST); // DIST holds, MFR owns
        vm.expectRevert(abi.encodeWithSelector(ICustodyLedger.CustodyNotOwner.selector, a, DIST, MFR));
        vm.prank(dist);
        ledger.transferOwnership(_ids(a), DISP);
    }

    function test_TransferOwnership_RevertWhen_NewOwnerInvalid() public {
        _expectInvalidReceiver(MFR);
        vm.prank(mfr);
        ledger.transferOwnership(_ids(a), MFR);
        _expectInvalidReceiver(UNKNOWN_PARTNER);
        vm.prank(mfr);
        ledger.transferOwnership(_ids(a), UNKNOWN_PARTNER);
        vm.prank(admin);
        ledger.setPartnerActive(DIST, false);
        _expectInvalidReceiver(DIST);
        vm.prank(mfr);
        ledger.transferOwnership(_ids(a), DIST);
    }

    function test_TransferOwnership_RevertWhen_ObjectUnknown() public {
        ObjectId unknown = _itemId("nope");
        vm.expectRevert(abi.encodeWithSelector(ICustodyLedger.CustodyUnknownObject.selector, unknown));
        vm.prank(mfr);
        ledger.transferOwnership(_ids(unknown), DIST);
    }

    function test_TransferOwnership_RevertWhen_EmptyBatch() public {
        vm.expectRevert(ICustodyLedger.CustodyEmptyBatch.selector);
        vm.prank(mfr);
        ledger.transferOwnership(new ObjectId[](0), DIST);
    }

    // ------------------------------------------------------------ fuzz

    /// Fuzz: along any chain of two-phase hand-overs among the three holders, the last receiver
    /// holds the object and the owner is the last receiver of a title-passing shipment.
    function testFuzz_ShipReceiveChain(uint256 seed, uint8 hops) public {
        address[3] memory accounts = [mfr, dist, disp];
        uint32[3] memory ids = [MFR, DIST, DISP];
        uint256 holder = 0;
        uint32 owner = MFR;
        uint256 n = bound(hops, 0, 12);
        for (uint256 i = 0; i < n; ++i) {
            uint256 next = (holder + 1 + (seed >> (i * 2)) % 2) % 3;
            bool passTitle = (seed >> (128 + i)) & 1 == 1 && ids[holder] == owner; // only the owner can
            uint40 shipmentId = _ship(accounts[holder], _ids(a), ids[next], passTitle);
            assertEq(shipmentId, i + 1, "shipment ids count up");
            assertEq(ledger.custodyOf(a).pendingReceiver, ids[next], "pending receiver");
            _receive(accounts[next], _ids(a));
            holder = next;
            if (passTitle) owner = ids[next];
        }
        ICustodyLedger.CustodyView memory v = ledger.custodyOf(a);
        assertEq(v.custodian, ids[holder], "custodian is the last receiver");
        assertEq(v.owner, owner, "owner is the last title receiver");
        assertEq(uint256(v.status), uint256(ICustodyLedger.Status.Active), "active");
    }

    /// Fuzz: one-step transfers, rejections and cancellations keep custody where it should be.
    function testFuzz_TransferRejectCancel(uint256 seed) public {
        address[3] memory accounts = [mfr, dist, disp];
        uint32[3] memory ids = [MFR, DIST, DISP];
        uint256 holder = 0;
        for (uint256 i = 0; i < 10; ++i) {
            uint256 next = (holder + 1 + (seed >> (i * 3)) % 2) % 3;
            uint256 op = (seed >> (i * 3 + 1)) % 4;
            if (op == 0) {
                vm.prank(accounts[holder]);
                ledger.transfer(_ids(a), ids[next]);
                holder = next;
            } else if (op == 1) {
                _ship(accounts[holder], _ids(a), ids[next], false);
                vm.prank(accounts[next]);
                ledger.reject(_ids(a), "no");
            } else if (op == 2) {
                _ship(accounts[holder], _ids(a), ids[next], false);
                vm.prank(accounts[holder]);
                ledger.cancelShipment(_ids(a));
            } else {
                _move(accounts[holder], accounts[next], ids[next], _ids(a), false);
                holder = next;
            }
            assertEq(ledger.custodianOf(a), ids[holder], "custodian");
            assertEq(ledger.custodyOf(a).shipmentId, 0, "not in transit");
        }
        assertEq(ledger.custodyOf(a).owner, MFR, "title never passed");
    }

    // ------------------------------------------------------------ helpers

    function _expectInvalidReceiver(uint32 receiver) private {
        vm.expectRevert(abi.encodeWithSelector(ICustodyLedger.CustodyInvalidReceiver.selector, receiver));
    }

    function _expectInvalidStatus(ObjectId objectId, ICustodyLedger.Status status) private {
        vm.expectRevert(abi.encodeWithSelector(ICustodyLedger.CustodyInvalidStatus.selector, objectId, status));
    }
}
