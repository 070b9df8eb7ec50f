// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {ICustodyLedger} from "../ICustodyLedger.sol";
import {ObjectId} from "../types/ObjectId.sol";
import {Fixtures} from "./utils/Fixtures.sol";

/// @dev Packing and unpacking (EPCIS AggregationEvent), nesting, and custody through containers.
contract AggregationTest is Fixtures {
    ObjectId[] internal items; // 3 items
    ObjectId internal caseA;
    ObjectId internal caseB;
    ObjectId internal pallet;
    ObjectId internal container; // a shipping container: the fourth level

    function setUp() public override {
        super.setUp();
        ObjectId[] memory list = _registerItems("agg-", 3);
        for (uint256 i = 0; i < list.length; ++i) {
            items.push(list[i]);
        }
        caseA = _registerSscc(mfr, "3000000001");
        caseB = _registerSscc(mfr, "3000000002");
        pallet = _registerSscc(mfr, "3000000003");
        container = _registerSscc(mfr, "3000000004");
    }

    // ------------------------------------------------------------ pack

    function test_Pack_EmitsAndLinks() public {
        for (uint256 i = 0; i < 3; ++i) {
            vm.expectEmit(true, true, true, true, address(ledger));
            emit ICustodyLedger.ObjectPacked(items[i], caseA, MFR);
        }
        _pack(mfr, caseA, items);
        for (uint256 i = 0; i < 3; ++i) {
            assertEq(ledger.parentOf(items[i]), caseA, "parent");
            ICustodyLedger.CustodyView memory v = ledger.custodyOf(items[i]);
            assertEq(v.parent, caseA, "view parent");
            assertEq(v.root, caseA, "view root");
            assertEq(v.custodian, MFR, "custodian");
        }
        assertEq(ledger.parentOf(caseA), ObjectId.wrap(0), "case is unpacked");
    }

    /// Items -> case -> pallet -> container: shipping the outermost container moves everything,
    /// and the innermost items report the container's custodian, status and receiver.
    function test_FourLevels_ShipAndReceiveOutermostMovesEverything() public {
        _buildFourLevels();
        ObjectId inner = items[0];
        assertEq(ledger.custodyOf(inner).root, container, "root of the innermost item");

        vm.expectEmit(true, true, true, true, address(ledger));
        emit ICustodyLedger.ShipmentDispatched(1, MFR, DIST, 0, 0, true, 1);
        vm.expectEmit(true, true, true, true, address(ledger));
        emit ICustodyLedger.ObjectShipped(container, 1);
        _ship(mfr, _ids(container), DIST, true);

        ICustodyLedger.CustodyView memory v = ledger.custodyOf(inner);
        assertEq(uint256(v.status), uint256(ICustodyLedger.Status.InTransit), "inner item in transit");
        assertEq(v.custodian, MFR, "inner custodian before receipt");
        assertEq(v.pendingReceiver, DIST, "inner pending receiver");
        assertEq(v.shipmentId, 1, "inner shipment");
        assertStatus(caseA, ICustodyLedger.Status.InTransit, "case in transit");

        vm.expectEmit(true, true, true, true, address(ledger));
        emit ICustodyLedger.ObjectReceived(container, 1, DIST, GLN_DIST);
        vm.expectEmit(true, true, true, true, address(ledger));
        emit ICustodyLedger.OwnershipTransferred(container, MFR, DIST);
        vm.prank(dist);
        ledger.receiveObjects(_ids(container), GLN_DIST);

        assertEq(ledger.custodianOf(inner), DIST, "innermost item's custodian changed");
        assertEq(ledger.custodianOf(caseA), DIST, "case custodian");
        assertEq(ledger.custodianOf(pallet), DIST, "pallet custodian");
        v = ledger.custodyOf(inner);
        assertEq(v.owner, DIST, "innermost item's owner is the container's");
        assertEq(uint256(v.status), uint256(ICustodyLedger.Status.Active), "active");
        assertEq(v.pendingReceiver, 0, "no pending receiver");
    }

    function test_FourLevels_ReceiveWithoutTitleKeepsOwner() public {
        _buildFourLevels();
        _move(mfr, dist, DIST, _ids(container), false);
        ICustodyLedger.CustodyView memory v = ledger.custodyOf(items[2]);
        assertEq(v.custodian, DIST, "custodian");
        assertEq(v.owner, MFR, "owner");
    }

    function test_FourLevels_RejectAndCancelApplyToContents() public {
        _buildFourLevels();
        _ship(mfr, _ids(container), DIST, true);
        vm.prank(dist);
        ledger.reject(_ids(container), "wrong address");
        assertStatus(items[0], ICustodyLedger.Status.Active, "back after reject");
        assertEq(ledger.custodianOf(items[0]), MFR, "sender keeps custody");

        _ship(mfr, _ids(container), DISP, true);
        vm.prank(mfr);
        ledger.cancelShipment(_ids(container));
        assertStatus(items[0], ICustodyLedger.Status.Active, "back after cancel");
        assertEq(ledger.custodyOf(items[0]).pendingReceiver, 0, "no pending receiver");
    }

    function test_PackedChild_CannotMoveAlone() public {
        _buildFourLevels();
        ObjectId item = items[0];
        bytes memory err = abi.encodeWithSelector(ICustodyLedger.CustodyPackedObject.selector, item, caseA);
        vm.expectRevert(err);
        _ship(mfr, _ids(item), DIST, false);
        vm.expectRevert(err);
        vm.prank(mfr);
        ledger.transfer(_ids(item), DIST);
        vm.expectRevert(err);
        vm.prank(mfr);
        ledger.transferOwnership(_ids(item), DIST);
        ObjectId spare = _registerSscc(mfr, "3000000010");
        vm.expectRevert(err);
        _pack(mfr, spare, _ids(item));
        // an inner container neither
        vm.expectRevert(abi.encodeWithSelector(ICustodyLedger.CustodyPackedObject.selector, pallet, container));
        _ship(mfr, _ids(pallet), DIST, false);
    }

    /// A packed child in a shipped container is not itself in transit: it cannot be received,
    /// rejected or cancelled on its own.
    function test_PackedChild_NotReceivableAlone() public {
        _buildFourLevels();
        _ship(mfr, _ids(container), DIST, true);
        vm.expectRevert(abi.encodeWithSelector(ICustodyLedger.CustodyNotReceiver.selector, items[0], DIST, uint32(0)));
        _receive(dist, _ids(items[0]));
        vm.expectRevert(
            abi.encodeWithSelector(ICustodyLedger.CustodyInvalidStatus.selector, items[0], ICustodyLedger.Status.Active)
        );
        vm.prank(mfr);
        ledger.cancelShipment(_ids(items[0]));
    }

    function test_Pack_LotAsChildAndItemAsContainer() public {
        ObjectId lot = _registerLot("PK", 10);
        ObjectId kit = _registerItem("kit");
        _pack(mfr, kit, _ids(lot, items[0]));
        assertEq(ledger.custodyOf(lot).root, kit, "a lot may be packed");
        assertEq(ledger.custodyOf(items[0]).root, kit, "an item may contain others (a kit)");
    }

    function test_Pack_AddsToANonEmptyContainer() public {
        _pack(mfr, caseA, _ids(items[0]));
        _pack(mfr, caseA, _ids(items[1]));
        assertEq(ledger.parentOf(items[1]), caseA, "second packing");
    }

    function test_Pack_RevertWhen_ParentIsLot() public {
        ObjectId lot = _registerLot("PK", 10);
        vm.expectRevert(abi.encodeWithSelector(ICustodyLedger.CustodyInvalidContainer.selector, lot));
        _pack(mfr, lot, _ids(items[0]));
    }

    function test_Pack_RevertWhen_ChildIsParent() public {
        vm.expectRevert(abi.encodeWithSelector(ICustodyLedger.CustodyInvalidContainer.selector, caseA));
        _pack(mfr, caseA, _ids(items[0], caseA));
    }

    /// Packing a container into its own content is impossible: the content is packed.
    function test_Pack_RevertWhen_Cycle() public {
        _pack(mfr, caseA, _ids(items[0]));
        _pack(mfr, pallet, _ids(caseA));
        vm.expectRevert(abi.encodeWithSelector(ICustodyLedger.CustodyPackedObject.selector, caseA, pallet));
        _pack(mfr, caseA, _ids(pallet));
        vm.expectRevert(abi.encodeWithSelector(ICustodyLedger.CustodyPackedObject.selector, items[0], caseA));
        _pack(mfr, items[0], _ids(pallet));
    }

    function test_Pack_RevertWhen_ParentNotHeld() public {
        ObjectId distCase = _registerSscc(dist, "3000000099");
        vm.expectRevert(abi.encodeWithSelector(ICustodyLedger.CustodyNotCustodian.selector, distCase, MFR, DIST));
        _pack(mfr, distCase, _ids(items[0]));
    }

    function test_Pack_RevertWhen_ChildNotHeld() public {
        ObjectId foreign = _registerItemAs(mfr2, "f-1", LOT);
        vm.expectRevert(abi.encodeWithSelector(ICustodyLedger.CustodyNotCustodian.selector, foreign, MFR, MFR2));
        _pack(mfr, caseA, _ids(items[0], foreign));
        assertEq(ledger.parentOf(items[0]), ObjectId.wrap(0), "all or nothing");
    }

    function test_Pack_RevertWhen_ParentInTransit() public {
        _ship(mfr, _ids(caseA), DIST, false);
        vm.expectRevert(
            abi.encodeWithSelector(ICustodyLedger.CustodyInvalidStatus.selector, caseA, ICustodyLedger.Status.InTransit)
        );
        _pack(mfr, caseA, _ids(items[0]));
    }

    function test_Pack_RevertWhen_ChildInTransit() public {
        _ship(mfr, _ids(items[0]), DIST, false);
        vm.expectRevert(
            abi.encodeWithSelector(
                ICustodyLedger.CustodyInvalidStatus.selector, items[0], ICustodyLedger.Status.InTransit
            )
        );
        _pack(mfr, caseA, _ids(items[0]));
    }

    function test_Pack_RevertWhen_ParentNotActive() public {
        _setStatus(mfr, caseA, ICustodyLedger.Status.Quarantined, "hold");
        vm.expectRevert(
            abi.encodeWithSelector(
                ICustodyLedger.CustodyInvalidStatus.selector, caseA, ICustodyLedger.Status.Quarantined
            )
        );
        _pack(mfr, caseA, _ids(items[0]));
    }

    function test_Pack_RevertWhen_ChildNotActive() public {
        vm.prank(mfr);
        ledger.recall(items[1], "defect");
        vm.expectRevert(
            abi.encodeWithSelector(
                ICustodyLedger.CustodyInvalidStatus.selector, items[1], ICustodyLedger.Status.Recalled
            )
        );
        _pack(mfr, caseA, _ids(items[0], items[1]));
    }

    function test_Pack_RevertWhen_ChildPackedElsewhere() public {
        _pack(mfr, caseA, _ids(items[0]));
        vm.expectRevert(abi.encodeWithSelector(ICustodyLedger.CustodyPackedObject.selector, items[0], caseA));
        _pack(mfr, caseB, _ids(items[0]));
    }

    function test_Pack_RevertWhen_Unknown() public {
        ObjectId unknown = _ssccId("9999999999");
        vm.expectRevert(abi.encodeWithSelector(ICustodyLedger.CustodyUnknownObject.selector, unknown));
        _pack(mfr, unknown, _ids(items[0]));
        vm.expectRevert(abi.encodeWithSelector(ICustodyLedger.CustodyUnknownObject.selector, unknown));
        _pack(mfr, caseA, _ids(unknown));
    }

    function test_Pack_RevertWhen_EmptyOrTooLarge() public {
        vm.expectRevert(ICustodyLedger.CustodyEmptyBatch.selector);
        _pack(mfr, caseA, new ObjectId[](0));
        vm.expectRevert(abi.encodeWithSelector(ICustodyLedger.CustodyBatchTooLarge.selector, 251, 250));
        _pack(mfr, caseA, new ObjectId[](251));
    }

    function test_Pack_RevertWhen_Auditor() public {
        vm.expectRevert(
            abi.encodeWithSelector(
                ICustodyLedger.CustodyRoleNotAllowed.selector, AUDITOR, ICustodyLedger.PartnerRole.Auditor
            )
        );
        _pack(auditor, caseA, _ids(items[0]));
    }

    /// MAX_NESTING (8) container levels above an item: eight nested containers are fine, a
    /// ninth level reverts with the height it would reach.
    function test_Pack_NestingLimit() public {
        assertEq(ledger.MAX_NESTING(), 8, "MAX_NESTING");
        ObjectId inner = items[0];
        for (uint256 level = 1; level <= 8; ++level) {
            ObjectId box = _registerSscc(mfr, string.concat("40000000", _toString(10 + level)));
            _pack(mfr, box, _ids(inner));
            inner = box;
        }
        assertEq(ledger.custodyOf(items[0]).root, inner, "eight levels above the item");
        ObjectId ninth = _registerSscc(mfr, "4000000099");
        vm.expectRevert(abi.encodeWithSelector(ICustodyLedger.CustodyNestingTooDeep.selector, ninth, 9));
        _pack(mfr, ninth, _ids(inner));
    }

    /// The height is the deepest child's plus one, whichever child comes first.
    function test_Pack_NestingLimit_DeepestChildCounts() public {
        ObjectId inner = items[0];
        for (uint256 level = 1; level <= 8; ++level) {
            ObjectId box = _registerSscc(mfr, string.concat("40000000", _toString(10 + level)));
            _pack(mfr, box, _ids(inner));
            inner = box;
        }
        ObjectId ninth = _registerSscc(mfr, "4000000099");
        vm.expectRevert(abi.encodeWithSelector(ICustodyLedger.CustodyNestingTooDeep.selector, ninth, 9));
        _pack(mfr, ninth, _ids(items[1], inner, items[2]));
    }

    /// CustodyNestingTooDeep: "Packing would nest containers deeper than the ledger allows". A
    /// container emptied by unpack holds nothing, so packing it one level down nests one level.
    /// (The ledger keeps the height a container reached, so the emptied box still counts as 8 deep.)
    /// A container's height never decreases (documented in `pack`): a box that once held eight
    /// levels stays that tall after it is emptied, so it can no longer go into a pallet.
    function test_Pack_EmptiedContainerKeepsItsHeight() public {
        ObjectId inner = items[0];
        ObjectId previous;
        for (uint256 level = 1; level <= 8; ++level) {
            ObjectId box = _registerSscc(mfr, string.concat("40000000", _toString(10 + level)));
            _pack(mfr, box, _ids(inner));
            previous = inner;
            inner = box;
        }
        vm.prank(mfr);
        ledger.unpack(inner, _ids(previous)); // the outermost box is empty now
        ObjectId pallet2 = _registerSscc(mfr, "4000000099");
        vm.expectRevert(abi.encodeWithSelector(ICustodyLedger.CustodyNestingTooDeep.selector, pallet2, 9));
        vm.prank(mfr);
        ledger.pack(pallet2, _ids(inner));
    }

    // ------------------------------------------------------------ unpack

    function test_Unpack_EmitsAndRestoresChildren() public {
        _pack(mfr, caseA, items);
        vm.expectEmit(true, true, true, true, address(ledger));
        emit ICustodyLedger.ObjectUnpacked(items[0], caseA, MFR);
        vm.expectEmit(true, true, true, true, address(ledger));
        emit ICustodyLedger.ObjectUnpacked(items[2], caseA, MFR);
        vm.prank(mfr);
        ledger.unpack(caseA, _ids(items[0], items[2]));
        assertEq(ledger.parentOf(items[0]), ObjectId.wrap(0), "unpacked");
        assertEq(ledger.custodyOf(items[0]).root, items[0], "own root");
        assertEq(ledger.parentOf(items[1]), caseA, "the other stays packed");
        _ship(mfr, _ids(items[0]), DIST, false); // moves alone again
    }

    /// After receiving a pallet, the receiver unpacks it: the children take the parent's
    /// custodian (and owner), and the items inside a case follow the case.
    function test_Unpack_ChildrenTakeParentsCustodianAndOwner() public {
        _pack(mfr, caseA, items);
        _pack(mfr, pallet, _ids(caseA));
        _move(mfr, dist, DIST, _ids(pallet), true);
        vm.prank(dist);
        ledger.unpack(pallet, _ids(caseA));
        ICustodyLedger.CustodyView memory c = ledger.custodyOf(caseA);
        assertEq(c.custodian, DIST, "case custodian");
        assertEq(c.owner, DIST, "case owner");
        assertEq(c.root, caseA, "case is a root now");
        assertEq(ledger.custodianOf(items[1]), DIST, "items follow the case");
        vm.prank(dist);
        ledger.unpack(caseA, items);
        ICustodyLedger.CustodyView memory v = ledger.custodyOf(items[1]);
        assertEq(v.custodian, DIST, "item custodian");
        assertEq(v.owner, DIST, "item owner");
        _ship(dist, _ids(items[1]), DISP, true); // the distributor can ship a single item now
    }

    /// As documented ("they take the parent's custodian and owner"): a custodian that packs an
    /// object it holds but does not own into its own container, then unpacks it, becomes the
    /// object's owner. See the report: no OwnershipTransferred is emitted for this change.
    /// Contents take their container's owner while packed, so a holder cannot pack goods it
    /// holds for another owner into its own container (that would change their owner).
    function test_Pack_RevertWhen_ChildHasAnotherOwner() public {
        _move(mfr, dist, DIST, _ids(items[0]), false); // DIST holds, MFR owns
        ObjectId distCase = _registerSscc(dist, "3000000050");
        vm.expectRevert(abi.encodeWithSelector(ICustodyLedger.CustodyNotOwner.selector, items[0], DIST, MFR));
        vm.prank(dist);
        ledger.pack(distCase, _ids(items[0]));
        assertEq(ledger.custodyOf(items[0]).owner, MFR, "owner unchanged");
    }

    function test_Unpack_RevertWhen_NotPackedInParent() public {
        _pack(mfr, caseA, _ids(items[0]));
        vm.expectRevert(abi.encodeWithSelector(ICustodyLedger.CustodyNotPacked.selector, items[1], caseA));
        vm.prank(mfr);
        ledger.unpack(caseA, _ids(items[1]));
        _pack(mfr, caseB, _ids(items[1]));
        vm.expectRevert(abi.encodeWithSelector(ICustodyLedger.CustodyNotPacked.selector, items[1], caseA));
        vm.prank(mfr);
        ledger.unpack(caseA, _ids(items[0], items[1]));
        assertEq(ledger.parentOf(items[0]), caseA, "all or nothing");
    }

    function test_Unpack_RevertWhen_ParentPacked() public {
        _pack(mfr, caseA, _ids(items[0]));
        _pack(mfr, pallet, _ids(caseA));
        vm.expectRevert(abi.encodeWithSelector(ICustodyLedger.CustodyPackedObject.selector, caseA, pallet));
        vm.prank(mfr);
        ledger.unpack(caseA, _ids(items[0]));
    }

    function test_Unpack_RevertWhen_ParentNotHeld() public {
        _pack(mfr, caseA, _ids(items[0]));
        vm.expectRevert(abi.encodeWithSelector(ICustodyLedger.CustodyNotCustodian.selector, caseA, DIST, MFR));
        vm.prank(dist);
        ledger.unpack(caseA, _ids(items[0]));
    }

    function test_Unpack_RevertWhen_ParentInTransit() public {
        _pack(mfr, caseA, _ids(items[0]));
        _ship(mfr, _ids(caseA), DIST, true);
        vm.expectRevert(
            abi.encodeWithSelector(ICustodyLedger.CustodyInvalidStatus.selector, caseA, ICustodyLedger.Status.InTransit)
        );
        vm.prank(mfr);
        ledger.unpack(caseA, _ids(items[0]));
        // nor can the receiver unpack before receiving
        vm.expectRevert(abi.encodeWithSelector(ICustodyLedger.CustodyNotCustodian.selector, caseA, DIST, MFR));
        vm.prank(dist);
        ledger.unpack(caseA, _ids(items[0]));
    }

    function test_Unpack_RevertWhen_ChildUnknown() public {
        ObjectId unknown = _itemId("ghost");
        vm.expectRevert(abi.encodeWithSelector(ICustodyLedger.CustodyUnknownObject.selector, unknown));
        vm.prank(mfr);
        ledger.unpack(caseA, _ids(unknown));
    }

    function test_Unpack_RevertWhen_EmptyBatch() public {
        vm.expectRevert(ICustodyLedger.CustodyEmptyBatch.selector);
        vm.prank(mfr);
        ledger.unpack(caseA, new ObjectId[](0));
    }

    // ------------------------------------------------------------ helpers

    /// @dev items -> caseA; caseA + caseB -> pallet; pallet -> container.
    function _buildFourLevels() private {
        _pack(mfr, caseA, items);
        _pack(mfr, pallet, _ids(caseA, caseB));
        _pack(mfr, container, _ids(pallet));
    }

    // ------------------------------------------------------------ blocked contents

    /// Recalling an item deep inside a pallet stops the pallet; unpacking the case that holds it
    /// frees the pallet, and the case stays blocked until the item is out.
    function test_BlockedContents_RecalledItemStopsItsContainers() public {
        _pack(mfr, caseA, items);
        _pack(mfr, pallet, _ids(caseA));
        vm.prank(mfr);
        ledger.recall(items[1], "contamination");
        assertEq(uint256(ledger.blockedContentsOf(caseA)), 1, "case");
        assertEq(uint256(ledger.blockedContentsOf(pallet)), 1, "pallet");
        vm.expectRevert(abi.encodeWithSelector(ICustodyLedger.CustodyBlockedContents.selector, pallet, 1));
        vm.prank(mfr);
        ledger.ship(_ids(pallet), ICustodyLedger.ShipmentInfo(DIST, 0, 0, false));

        vm.prank(mfr);
        ledger.unpack(pallet, _ids(caseA));
        assertEq(uint256(ledger.blockedContentsOf(pallet)), 0, "pallet freed");
        assertEq(uint256(ledger.blockedContentsOf(caseA)), 1, "case still blocked");
        _ship(mfr, _ids(pallet), DIST, false);
        vm.expectRevert(abi.encodeWithSelector(ICustodyLedger.CustodyBlockedContents.selector, caseA, 1));
        vm.prank(mfr);
        ledger.transfer(_ids(caseA), DIST);
        vm.prank(mfr);
        ledger.unpack(caseA, _ids(items[1]));
        assertEq(uint256(ledger.blockedContentsOf(caseA)), 0, "case freed");
        vm.prank(mfr);
        ledger.transfer(_ids(caseA), DIST);
    }

    /// Packing a container that holds blocked objects passes the count up; releasing the
    /// quarantine brings it back down.
    function test_BlockedContents_FollowPackingAndRelease() public {
        _pack(mfr, caseA, items);
        ObjectId[] memory two = _ids(items[0], items[2]);
        vm.prank(mfr);
        ledger.setStatus(two, ICustodyLedger.Status.Quarantined, "inspection");
        assertEq(uint256(ledger.blockedContentsOf(caseA)), 2, "two quarantined");
        _pack(mfr, pallet, _ids(caseA));
        assertEq(uint256(ledger.blockedContentsOf(pallet)), 2, "passed up to the pallet");
        vm.prank(mfr);
        ledger.setStatus(_ids(items[0]), ICustodyLedger.Status.Active, "released");
        assertEq(uint256(ledger.blockedContentsOf(caseA)), 1, "case after release");
        assertEq(uint256(ledger.blockedContentsOf(pallet)), 1, "pallet after release");
        vm.prank(mfr);
        ledger.setStatus(_ids(items[2]), ICustodyLedger.Status.Active, "released");
        assertEq(uint256(ledger.blockedContentsOf(pallet)), 0, "pallet free");
        _ship(mfr, _ids(pallet), DIST, false);
    }
}
