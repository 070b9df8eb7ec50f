// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {ICustodyLedger} from "../ICustodyLedger.sol";
import {ObjectId} from "../types/ObjectId.sol";
import {Fixtures} from "./utils/Fixtures.sol";

/// @dev Lot splits and merges, transformations, and their genealogy events.
contract GenealogyTest is Fixtures {
    ObjectId internal lot;

    function setUp() public override {
        super.setUp();
        lot = _registerLot("G1", 1000);
    }

    // ------------------------------------------------------------ split

    function test_Split_EmitsGenealogyAndConservesQuantity() public {
        ICustodyLedger.LotOutput[] memory outs = new ICustodyLedger.LotOutput[](2);
        outs[0] = _lotOutput("G1-a", 300, EA);
        outs[1] = _lotOutput("G1-b", 200, EA);
        bytes32 gid = _genealogyId(1);

        vm.expectEmit(true, true, true, true, address(ledger));
        emit ICustodyLedger.GenealogyRecorded(gid, ICustodyLedger.GenealogyKind.Split, MFR);
        vm.expectEmit(true, true, true, true, address(ledger));
        emit ICustodyLedger.GenealogyInputConsumed(gid, lot, 500, 500);
        _expectLotRegistered(outs[0], MFR);
        vm.expectEmit(true, true, true, true, address(ledger));
        emit ICustodyLedger.GenealogyOutputProduced(gid, _lotId("G1-a"), 300);
        _expectLotRegistered(outs[1], MFR);
        vm.expectEmit(true, true, true, true, address(ledger));
        emit ICustodyLedger.GenealogyOutputProduced(gid, _lotId("G1-b"), 200);
        vm.prank(mfr);
        bytes32 returned = ledger.splitLot(lot, outs);

        assertEq(returned, gid, "genealogy id");
        _assertBalance(lot, 500, "parent keeps the rest");
        _assertBalance(_lotId("G1-a"), 300, "output a");
        _assertBalance(_lotId("G1-b"), 200, "output b");
        assertEq(ledger.custodianOf(_lotId("G1-a")), MFR, "outputs held by the splitter");
    }

    /// A distributor that received a lot splits it: the outputs are its own (it registers them).
    function test_Split_ByDistributor() public {
        _move(mfr, dist, DIST, _ids(lot), true);
        ICustodyLedger.LotOutput[] memory outs = new ICustodyLedger.LotOutput[](1);
        outs[0] = _lotOutput("G1-d", 1000, EA);
        vm.prank(dist);
        ledger.splitLot(lot, outs);
        ICustodyLedger.CustodyView memory v = ledger.custodyOf(_lotId("G1-d"));
        assertEq(v.custodian, DIST, "custodian");
        assertEq(v.owner, DIST, "owner");
        assertEq(v.registrant, DIST, "registrant");
        _assertBalance(lot, 0, "parent emptied");
        // an empty lot does not move
        vm.expectRevert(abi.encodeWithSelector(ICustodyLedger.CustodyInvalidQuantity.selector, lot, 0, 0));
        _ship(dist, _ids(lot), DISP, false);
    }

    function test_Split_GenealogyIdsCountUp() public {
        ICustodyLedger.LotOutput[] memory outs = new ICustodyLedger.LotOutput[](1);
        outs[0] = _lotOutput("G1-1", 1, EA);
        vm.prank(mfr);
        assertEq(ledger.splitLot(lot, outs), _genealogyId(1), "first");
        outs[0] = _lotOutput("G1-2", 1, EA);
        vm.prank(mfr);
        assertEq(ledger.splitLot(lot, outs), _genealogyId(2), "second");
    }

    function test_Split_RevertWhen_MoreThanAvailable() public {
        ICustodyLedger.LotOutput[] memory outs = new ICustodyLedger.LotOutput[](2);
        outs[0] = _lotOutput("G1-a", 600, EA);
        outs[1] = _lotOutput("G1-b", 401, EA);
        vm.expectRevert(abi.encodeWithSelector(ICustodyLedger.CustodyInvalidQuantity.selector, lot, 1001, 1000));
        vm.prank(mfr);
        ledger.splitLot(lot, outs);
    }

    function test_Split_RevertWhen_OutputQuantityZero() public {
        ICustodyLedger.LotOutput[] memory outs = new ICustodyLedger.LotOutput[](1);
        outs[0] = _lotOutput("G1-z", 0, EA);
        vm.expectRevert(
            abi.encodeWithSelector(
                ICustodyLedger.CustodyInvalidQuantity.selector, _lotId("G1-z"), 0, uint256(type(uint232).max)
            )
        );
        vm.prank(mfr);
        ledger.splitLot(lot, outs);
    }

    function test_Split_RevertWhen_UnitDiffers() public {
        ICustodyLedger.LotOutput[] memory outs = new ICustodyLedger.LotOutput[](1);
        outs[0] = _lotOutput("G1-k", 5, KGM);
        vm.expectRevert(abi.encodeWithSelector(ICustodyLedger.CustodyUnitMismatch.selector, _lotId("G1-k"), EA, KGM));
        vm.prank(mfr);
        ledger.splitLot(lot, outs);
    }

    function test_Split_RevertWhen_NotALot() public {
        ObjectId item = _registerItem("g-item");
        ICustodyLedger.LotOutput[] memory outs = new ICustodyLedger.LotOutput[](1);
        outs[0] = _lotOutput("G1-x", 1, EA);
        vm.expectRevert(
            abi.encodeWithSelector(ICustodyLedger.CustodyInvalidKind.selector, item, ICustodyLedger.ObjectKind.Item)
        );
        vm.prank(mfr);
        ledger.splitLot(item, outs);
    }

    function test_Split_RevertWhen_NotHeld() public {
        ICustodyLedger.LotOutput[] memory outs = new ICustodyLedger.LotOutput[](1);
        outs[0] = _lotOutput("G1-x", 1, EA);
        vm.expectRevert(abi.encodeWithSelector(ICustodyLedger.CustodyNotCustodian.selector, lot, DIST, MFR));
        vm.prank(dist);
        ledger.splitLot(lot, outs);
    }

    function test_Split_RevertWhen_InTransit() public {
        _ship(mfr, _ids(lot), DIST, true);
        ICustodyLedger.LotOutput[] memory outs = new ICustodyLedger.LotOutput[](1);
        outs[0] = _lotOutput("G1-x", 1, EA);
        vm.expectRevert(
            abi.encodeWithSelector(ICustodyLedger.CustodyInvalidStatus.selector, lot, ICustodyLedger.Status.InTransit)
        );
        vm.prank(mfr);
        ledger.splitLot(lot, outs);
    }

    function test_Split_RevertWhen_Packed() public {
        ObjectId drum = _registerSscc(mfr, "5000000001");
        _pack(mfr, drum, _ids(lot));
        ICustodyLedger.LotOutput[] memory outs = new ICustodyLedger.LotOutput[](1);
        outs[0] = _lotOutput("G1-x", 1, EA);
        vm.expectRevert(abi.encodeWithSelector(ICustodyLedger.CustodyPackedObject.selector, lot, drum));
        vm.prank(mfr);
        ledger.splitLot(lot, outs);
    }

    function test_Split_RevertWhen_NotActive() public {
        _setStatus(mfr, lot, ICustodyLedger.Status.Quarantined, "hold");
        ICustodyLedger.LotOutput[] memory outs = new ICustodyLedger.LotOutput[](1);
        outs[0] = _lotOutput("G1-x", 1, EA);
        vm.expectRevert(
            abi.encodeWithSelector(ICustodyLedger.CustodyInvalidStatus.selector, lot, ICustodyLedger.Status.Quarantined)
        );
        vm.prank(mfr);
        ledger.splitLot(lot, outs);
    }

    function test_Split_RevertWhen_OutputAlreadyRegistered() public {
        ICustodyLedger.LotOutput[] memory outs = new ICustodyLedger.LotOutput[](1);
        outs[0] = _lotOutput("G1", 1, EA); // the parent's own URN
        vm.expectRevert(abi.encodeWithSelector(ICustodyLedger.CustodyAlreadyRegistered.selector, lot));
        vm.prank(mfr);
        ledger.splitLot(lot, outs);
    }

    function test_Split_RevertWhen_UnknownLot() public {
        ICustodyLedger.LotOutput[] memory outs = new ICustodyLedger.LotOutput[](1);
        outs[0] = _lotOutput("G1-x", 1, EA);
        vm.expectRevert(abi.encodeWithSelector(ICustodyLedger.CustodyUnknownObject.selector, _lotId("none")));
        vm.prank(mfr);
        ledger.splitLot(_lotId("none"), outs);
    }

    function test_Split_RevertWhen_EmptyBatch() public {
        vm.expectRevert(ICustodyLedger.CustodyEmptyBatch.selector);
        vm.prank(mfr);
        ledger.splitLot(lot, new ICustodyLedger.LotOutput[](0));
    }

    function test_Split_RevertWhen_Auditor() public {
        vm.expectRevert(
            abi.encodeWithSelector(
                ICustodyLedger.CustodyRoleNotAllowed.selector, AUDITOR, ICustodyLedger.PartnerRole.Auditor
            )
        );
        vm.prank(auditor);
        ledger.splitLot(lot, new ICustodyLedger.LotOutput[](1));
    }

    /// Fuzz: for any partition of part of a lot into 1..8 outputs, the lot loses exactly what the
    /// outputs get, and the consumed event reports the sum and the remainder.
    function testFuzz_Split_ConservesQuantity(uint256 total, uint256 seed, uint8 parts) public {
        total = bound(total, 1, type(uint232).max);
        uint256 n = bound(parts, 1, 8);
        ObjectId source = _registerLotAs(mfr, "FZ", total, KGM);
        ICustodyLedger.LotOutput[] memory outs = new ICustodyLedger.LotOutput[](n);
        uint256 left = total;
        uint256 sum;
        for (uint256 i = 0; i < n; ++i) {
            if (left == 0) {
                n = i;
                break;
            }
            uint256 q = bound(uint256(keccak256(abi.encode(seed, i))), 1, left);
            outs[i] = _lotOutput(string.concat("FZ-", _toString(i)), q, KGM);
            left -= q;
            sum += q;
        }
        assembly ("memory-safe") {
            mstore(outs, n)
        }
        vm.expectEmit(true, true, true, true, address(ledger));
        emit ICustodyLedger.GenealogyInputConsumed(_genealogyId(1), source, sum, total - sum);
        vm.prank(mfr);
        ledger.splitLot(source, outs);

        (uint256 remaining,) = ledger.lotBalance(source);
        uint256 produced;
        for (uint256 i = 0; i < n; ++i) {
            (uint256 q, bytes3 unit) = ledger.lotBalance(_lotId(string.concat("FZ-", _toString(i))));
            assertEq(bytes32(unit), bytes32(KGM), "unit inherited");
            produced += q;
        }
        assertEq(produced + remaining, total, "quantity conserved");
        assertEq(remaining, total - sum, "remainder");
    }

    // ------------------------------------------------------------ merge

    function test_Merge_EmitsGenealogyAndSums() public {
        ObjectId other = _registerLot("G2", 250);
        bytes32 gid = _genealogyId(1);
        ICustodyLedger.LotOutput memory out = _lotOutput("G-merged", 1250, EA);
        vm.expectEmit(true, true, true, true, address(ledger));
        emit ICustodyLedger.GenealogyRecorded(gid, ICustodyLedger.GenealogyKind.Merge, MFR);
        vm.expectEmit(true, true, true, true, address(ledger));
        emit ICustodyLedger.GenealogyInputConsumed(gid, lot, 1000, 0);
        vm.expectEmit(true, true, true, true, address(ledger));
        emit ICustodyLedger.GenealogyInputConsumed(gid, other, 250, 0);
        _expectLotRegistered(out, MFR);
        vm.expectEmit(true, true, true, true, address(ledger));
        emit ICustodyLedger.GenealogyOutputProduced(gid, _lotId("G-merged"), 1250);
        vm.prank(mfr);
        assertEq(ledger.mergeLots(_ids(lot, other), out), gid, "genealogy id");
        _assertBalance(lot, 0, "input 1 emptied");
        _assertBalance(other, 0, "input 2 emptied");
        _assertBalance(_lotId("G-merged"), 1250, "output");
    }

    function test_Merge_RevertWhen_QuantityNotSum() public {
        ObjectId other = _registerLot("G2", 250);
        vm.expectRevert(
            abi.encodeWithSelector(ICustodyLedger.CustodyInvalidQuantity.selector, _lotId("G-m"), 1249, 1250)
        );
        vm.prank(mfr);
        ledger.mergeLots(_ids(lot, other), _lotOutput("G-m", 1249, EA));
    }

    function test_Merge_RevertWhen_UnitDiffers() public {
        ObjectId kg = _registerLotAs(mfr, "G3", 5, KGM);
        vm.expectRevert(abi.encodeWithSelector(ICustodyLedger.CustodyUnitMismatch.selector, kg, EA, KGM));
        vm.prank(mfr);
        ledger.mergeLots(_ids(lot, kg), _lotOutput("G-m", 1005, EA));
    }

    function test_Merge_RevertWhen_InputNotHeld() public {
        ObjectId foreign = _registerLotAs(mfr2, "G4", 5, EA);
        vm.expectRevert(abi.encodeWithSelector(ICustodyLedger.CustodyNotCustodian.selector, foreign, MFR, MFR2));
        vm.prank(mfr);
        ledger.mergeLots(_ids(lot, foreign), _lotOutput("G-m", 1005, EA));
    }

    function test_Merge_RevertWhen_InputNotALot() public {
        ObjectId box = _registerSscc(mfr, "5000000002");
        vm.expectRevert(
            abi.encodeWithSelector(
                ICustodyLedger.CustodyInvalidKind.selector, box, ICustodyLedger.ObjectKind.LogisticUnit
            )
        );
        vm.prank(mfr);
        ledger.mergeLots(_ids(lot, box), _lotOutput("G-m", 1000, EA));
    }

    function test_Merge_RevertWhen_EmptyBatch() public {
        vm.expectRevert(ICustodyLedger.CustodyEmptyBatch.selector);
        vm.prank(mfr);
        ledger.mergeLots(new ObjectId[](0), _lotOutput("G-m", 1, EA));
    }

    /// Fuzz: merging lots of any sizes yields exactly their sum.
    function testFuzz_Merge_ConservesQuantity(uint96 q1, uint96 q2, uint96 q3) public {
        vm.assume(q1 > 0 && q2 > 0 && q3 > 0);
        ObjectId l1 = _registerLotAs(mfr, "M1", q1, KGM);
        ObjectId l2 = _registerLotAs(mfr, "M2", q2, KGM);
        ObjectId l3 = _registerLotAs(mfr, "M3", q3, KGM);
        uint256 sum = uint256(q1) + q2 + q3;
        vm.prank(mfr);
        ledger.mergeLots(_ids(l1, l2, l3), _lotOutput("M", sum, KGM));
        _assertBalance(_lotId("M"), sum, "merged");
        _assertBalance(l1, 0, "l1");
        _assertBalance(l2, 0, "l2");
        _assertBalance(l3, 0, "l3");
    }

    // ------------------------------------------------------------ transform

    /// Lots (partly consumed) and serialized components (decommissioned "consumed") become a
    /// new lot and a serialized assembly; every output derives from every input of the event.
    function test_Transform_EmitsGenealogy() public {
        ObjectId component = _registerItem("component-1");
        ICustodyLedger.GenealogyInput[] memory inputs = new ICustodyLedger.GenealogyInput[](2);
        inputs[0] = ICustodyLedger.GenealogyInput({objectId: lot, quantity: 400});
        inputs[1] = ICustodyLedger.GenealogyInput({objectId: component, quantity: 1});
        ICustodyLedger.LotOutput[] memory lotOuts = new ICustodyLedger.LotOutput[](1);
        lotOuts[0] = _lotOutput("T-bulk", 40, KGM);
        ICustodyLedger.Registration[] memory itemOuts = _regs(_itemReg("assembly-1", "T-A"));
        bytes32 gid = _genealogyId(1);

        vm.expectEmit(true, true, true, true, address(ledger));
        emit ICustodyLedger.GenealogyRecorded(gid, ICustodyLedger.GenealogyKind.Transform, MFR);
        vm.expectEmit(true, true, true, true, address(ledger));
        emit ICustodyLedger.GenealogyInputConsumed(gid, lot, 400, 600);
        vm.expectEmit(true, true, true, true, address(ledger));
        emit ICustodyLedger.GenealogyInputConsumed(gid, component, 1, 0);
        vm.expectEmit(true, true, true, true, address(ledger));
        emit ICustodyLedger.StatusChanged(
            component, ICustodyLedger.Status.Active, ICustodyLedger.Status.Decommissioned, "consumed", MFR
        );
        _expectLotRegistered(lotOuts[0], MFR);
        vm.expectEmit(true, true, true, true, address(ledger));
        emit ICustodyLedger.GenealogyOutputProduced(gid, _lotId("T-bulk"), 40);
        vm.expectEmit(true, true, true, true, address(ledger));
        emit ICustodyLedger.ItemRegistered(
            _itemId("assembly-1"), _lotId("T-A"), MFR, _sgtin("assembly-1"), "T-A", EXPIRY, PRODUCED, GLN_MFR
        );
        vm.expectEmit(true, true, true, true, address(ledger));
        emit ICustodyLedger.GenealogyOutputProduced(gid, _itemId("assembly-1"), 1);
        vm.prank(mfr);
        assertEq(ledger.transform(inputs, lotOuts, itemOuts), gid, "genealogy id");

        _assertBalance(lot, 600, "lot partly consumed");
        assertStatus(component, ICustodyLedger.Status.Decommissioned, "component consumed");
        _assertBalance(_lotId("T-bulk"), 40, "new lot (units may change in a transformation)");
        assertEq(ledger.custodianOf(_itemId("assembly-1")), MFR, "assembly");
    }

    function test_Transform_ItemOutputsOnly() public {
        ICustodyLedger.GenealogyInput[] memory inputs = new ICustodyLedger.GenealogyInput[](1);
        inputs[0] = ICustodyLedger.GenealogyInput({objectId: lot, quantity: 1000});
        vm.prank(mfr);
        ledger.transform(inputs, new ICustodyLedger.LotOutput[](0), _regs(_itemReg("t-only", "")));
        _assertBalance(lot, 0, "all consumed");
    }

    function test_Transform_RevertWhen_NotManufacturer() public {
        _move(mfr, dist, DIST, _ids(lot), true);
        ICustodyLedger.GenealogyInput[] memory inputs = new ICustodyLedger.GenealogyInput[](1);
        inputs[0] = ICustodyLedger.GenealogyInput({objectId: lot, quantity: 1});
        vm.expectRevert(
            abi.encodeWithSelector(
                ICustodyLedger.CustodyRoleNotAllowed.selector, DIST, ICustodyLedger.PartnerRole.Distributor
            )
        );
        vm.prank(dist);
        ledger.transform(inputs, new ICustodyLedger.LotOutput[](0), _regs(_itemReg("t", "")));
    }

    function test_Transform_RevertWhen_NoInputsOrNoOutputs() public {
        vm.expectRevert(ICustodyLedger.CustodyEmptyBatch.selector);
        vm.prank(mfr);
        ledger.transform(
            new ICustodyLedger.GenealogyInput[](0), new ICustodyLedger.LotOutput[](0), _regs(_itemReg("t", ""))
        );
        ICustodyLedger.GenealogyInput[] memory inputs = new ICustodyLedger.GenealogyInput[](1);
        inputs[0] = ICustodyLedger.GenealogyInput({objectId: lot, quantity: 1});
        vm.expectRevert(ICustodyLedger.CustodyEmptyBatch.selector);
        vm.prank(mfr);
        ledger.transform(inputs, new ICustodyLedger.LotOutput[](0), new ICustodyLedger.Registration[](0));
    }

    function test_Transform_RevertWhen_LotQuantityZeroOrTooLarge() public {
        ICustodyLedger.GenealogyInput[] memory inputs = new ICustodyLedger.GenealogyInput[](1);
        inputs[0] = ICustodyLedger.GenealogyInput({objectId: lot, quantity: 0});
        ICustodyLedger.Registration[] memory outs = _regs(_itemReg("t", ""));
        vm.expectRevert(abi.encodeWithSelector(ICustodyLedger.CustodyInvalidQuantity.selector, lot, 0, 1000));
        vm.prank(mfr);
        ledger.transform(inputs, new ICustodyLedger.LotOutput[](0), outs);
        inputs[0].quantity = 1001;
        vm.expectRevert(abi.encodeWithSelector(ICustodyLedger.CustodyInvalidQuantity.selector, lot, 1001, 1000));
        vm.prank(mfr);
        ledger.transform(inputs, new ICustodyLedger.LotOutput[](0), outs);
    }

    function test_Transform_RevertWhen_ItemQuantityNotOne() public {
        ObjectId component = _registerItem("c-2");
        ICustodyLedger.GenealogyInput[] memory inputs = new ICustodyLedger.GenealogyInput[](1);
        inputs[0] = ICustodyLedger.GenealogyInput({objectId: component, quantity: 2});
        vm.expectRevert(abi.encodeWithSelector(ICustodyLedger.CustodyInvalidQuantity.selector, component, 2, 1));
        vm.prank(mfr);
        ledger.transform(inputs, new ICustodyLedger.LotOutput[](0), _regs(_itemReg("t", "")));
    }

    function test_Transform_RevertWhen_ItemTwice() public {
        ObjectId component = _registerItem("c-3");
        ICustodyLedger.GenealogyInput[] memory inputs = new ICustodyLedger.GenealogyInput[](2);
        inputs[0] = ICustodyLedger.GenealogyInput({objectId: component, quantity: 1});
        inputs[1] = ICustodyLedger.GenealogyInput({objectId: component, quantity: 1});
        vm.expectRevert(
            abi.encodeWithSelector(
                ICustodyLedger.CustodyInvalidStatus.selector, component, ICustodyLedger.Status.Decommissioned
            )
        );
        vm.prank(mfr);
        ledger.transform(inputs, new ICustodyLedger.LotOutput[](0), _regs(_itemReg("t", "")));
    }

    function test_Transform_RevertWhen_InputIsLogisticUnit() public {
        ObjectId box = _registerSscc(mfr, "5000000003");
        ICustodyLedger.GenealogyInput[] memory inputs = new ICustodyLedger.GenealogyInput[](1);
        inputs[0] = ICustodyLedger.GenealogyInput({objectId: box, quantity: 1});
        vm.expectRevert(
            abi.encodeWithSelector(
                ICustodyLedger.CustodyInvalidKind.selector, box, ICustodyLedger.ObjectKind.LogisticUnit
            )
        );
        vm.prank(mfr);
        ledger.transform(inputs, new ICustodyLedger.LotOutput[](0), _regs(_itemReg("t", "")));
    }

    function test_Transform_RevertWhen_InputNotActive() public {
        vm.prank(mfr);
        ledger.recall(lot, "defect");
        ICustodyLedger.GenealogyInput[] memory inputs = new ICustodyLedger.GenealogyInput[](1);
        inputs[0] = ICustodyLedger.GenealogyInput({objectId: lot, quantity: 1});
        vm.expectRevert(
            abi.encodeWithSelector(ICustodyLedger.CustodyInvalidStatus.selector, lot, ICustodyLedger.Status.Recalled)
        );
        vm.prank(mfr);
        ledger.transform(inputs, new ICustodyLedger.LotOutput[](0), _regs(_itemReg("t", "")));
    }

    function test_Transform_RevertWhen_InputNotHeld() public {
        ObjectId foreign = _registerLotAs(mfr2, "G9", 5, EA);
        ICustodyLedger.GenealogyInput[] memory inputs = new ICustodyLedger.GenealogyInput[](1);
        inputs[0] = ICustodyLedger.GenealogyInput({objectId: foreign, quantity: 1});
        vm.expectRevert(abi.encodeWithSelector(ICustodyLedger.CustodyNotCustodian.selector, foreign, MFR, MFR2));
        vm.prank(mfr);
        ledger.transform(inputs, new ICustodyLedger.LotOutput[](0), _regs(_itemReg("t", "")));
    }

    // ------------------------------------------------------------ helpers

    function _expectLotRegistered(ICustodyLedger.LotOutput memory out, uint32 partnerId) private {
        ICustodyLedger.Registration memory r = out.registration;
        vm.expectEmit(true, true, true, true, address(ledger));
        emit ICustodyLedger.LotRegistered(
            _id(r.epc),
            partnerId,
            r.epc,
            r.lot,
            r.expiryDate,
            r.productionDate,
            r.originGln,
            out.quantity,
            out.unitOfMeasure
        );
    }

    function _assertBalance(ObjectId lotId, uint256 expected, string memory message) private view {
        (uint256 quantity,) = ledger.lotBalance(lotId);
        assertEq(quantity, expected, message);
    }
}
