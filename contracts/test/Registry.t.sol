// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {ICustodyLedger} from "../ICustodyLedger.sol";
import {ObjectId} from "../types/ObjectId.sol";
import {Fixtures} from "./utils/Fixtures.sol";

/// @dev Commissioning of items (SGTIN), lots (LGTIN) and logistic units (SSCC); the read side.
contract RegistryTest is Fixtures {
    // ------------------------------------------------------------ registerItems

    function test_RegisterItems_EmitsAndRecords() public {
        ICustodyLedger.Registration memory r = _itemReg("1001", LOT);
        ObjectId id = _itemId("1001");
        vm.expectEmit(true, true, true, true, address(ledger));
        emit ICustodyLedger.ItemRegistered(id, _lotId(LOT), MFR, r.epc, LOT, EXPIRY, PRODUCED, GLN_MFR);
        vm.prank(mfr);
        ObjectId[] memory ids = ledger.registerItems(_regs(r));

        assertEq(ids.length, 1, "one id");
        assertEq(ids[0], id, "id is keccak256 of the URN");
        assertEq(ledger.objectIdOf(r.epc), id, "objectIdOf agrees");
        assertEq(ledger.custodianOf(id), MFR, "custodian");
        ICustodyLedger.CustodyView memory v = ledger.custodyOf(id);
        assertEq(uint256(v.kind), uint256(ICustodyLedger.ObjectKind.Item), "kind");
        assertEq(uint256(v.status), uint256(ICustodyLedger.Status.Active), "status");
        assertEq(v.custodian, MFR, "custodian");
        assertEq(v.owner, MFR, "owner");
        assertEq(v.registrant, MFR, "registrant");
        assertEq(v.pendingReceiver, 0, "pending receiver");
        assertEq(v.shipmentId, 0, "shipment");
        assertEq(v.expiryDate, EXPIRY, "expiry");
        assertEq(v.registeredAt, START, "registeredAt");
        assertEq(v.parent, ObjectId.wrap(0), "parent");
        assertEq(v.root, id, "root is itself");
        assertEq(v.lot, _lotId(LOT), "lot");
        assertEq(v.quantity, 0, "items carry no quantity");
        assertEq(bytes32(v.unitOfMeasure), bytes32(0), "no unit");
    }

    function test_RegisterItems_BatchEmitsInOrder() public {
        ICustodyLedger.Registration[] memory list = new ICustodyLedger.Registration[](3);
        for (uint256 i = 0; i < 3; ++i) {
            list[i] = _itemReg(_toString(2000 + i), LOT);
        }
        for (uint256 i = 0; i < 3; ++i) {
            vm.expectEmit(true, true, true, true, address(ledger));
            emit ICustodyLedger.ItemRegistered(
                _id(list[i].epc), _lotId(LOT), MFR, list[i].epc, LOT, EXPIRY, PRODUCED, GLN_MFR
            );
        }
        vm.prank(mfr);
        ObjectId[] memory ids = ledger.registerItems(list);
        for (uint256 i = 0; i < 3; ++i) {
            assertEq(ids[i], _id(list[i].epc), "ids in input order");
        }
    }

    function test_RegisterItems_WithoutLot() public {
        ICustodyLedger.Registration memory r = _itemReg("1002", "");
        r.expiryDate = 0;
        r.productionDate = 0;
        r.originGln = 0;
        vm.expectEmit(true, true, true, true, address(ledger));
        emit ICustodyLedger.ItemRegistered(_itemId("1002"), ObjectId.wrap(0), MFR, r.epc, "", 0, 0, 0);
        vm.prank(mfr);
        ObjectId id = ledger.registerItems(_regs(r))[0];
        assertEq(ledger.custodyOf(id).lot, ObjectId.wrap(0), "no lot");
    }

    /// The item's lot id is the id of the LGTIN URN of the same company prefix and item reference,
    /// so an item links to the lot registered with registerLot.
    function test_RegisterItems_LinksToRegisteredLot() public {
        ObjectId lot = _registerLot("B42", 500);
        ObjectId item = _registerItemAs(mfr, "1003", "B42");
        assertEq(ledger.custodyOf(item).lot, lot, "item's lot is the registered lot");
    }

    function test_RegisterItems_LotIdUsesItemsCompanyPrefixAndItemReference() public {
        ICustodyLedger.Registration memory r = _itemReg("x", "B1");
        r.epc = "urn:epc:id:sgtin:4012345.011122.77";
        vm.expectEmit(true, true, true, false, address(ledger));
        emit ICustodyLedger.ItemRegistered(
            _id(r.epc), _id("urn:epc:class:lgtin:4012345.011122.B1"), MFR, "", "", 0, 0, 0
        );
        vm.prank(mfr);
        ledger.registerItems(_regs(r));
    }

    /// GS1 TDS forbids `"` `%` `&` `/` `<` `>` `?` raw in an EPC URN component: the lot is
    /// percent-escaped (upper-case hex) in the derived LGTIN URN; other characters stay.
    function test_RegisterItems_LotIdEscapesUrnCharacters() public {
        ICustodyLedger.Registration memory r = _itemReg("1004", "a\"%&/<>?z-_.!");
        ObjectId expectedLot = _id("urn:epc:class:lgtin:0614141.812345.a%22%25%26%2F%3C%3E%3Fz-_.!");
        vm.expectEmit(true, true, true, true, address(ledger));
        emit ICustodyLedger.ItemRegistered(_itemId("1004"), expectedLot, MFR, r.epc, r.lot, EXPIRY, PRODUCED, GLN_MFR);
        vm.prank(mfr);
        ledger.registerItems(_regs(r));
    }

    function test_RegisterItems_RevertWhen_EpcEmpty() public {
        ICustodyLedger.Registration memory r = _itemReg("1", "");
        r.epc = "";
        vm.expectRevert(abi.encodeWithSelector(ICustodyLedger.CustodyInvalidRegistration.selector, "epc"));
        vm.prank(mfr);
        ledger.registerItems(_regs(r));
    }

    function test_RegisterItems_RevertWhen_LotGivenAndEpcNotSgtin() public {
        ICustodyLedger.Registration memory r = _itemReg("1", LOT);
        r.epc = _sscc("1234567890");
        vm.expectRevert(abi.encodeWithSelector(ICustodyLedger.CustodyInvalidRegistration.selector, "epc"));
        vm.prank(mfr);
        ledger.registerItems(_regs(r));
    }

    function test_RegisterItems_RevertWhen_LotGivenAndSgtinHasNoSerial() public {
        ICustodyLedger.Registration memory r = _itemReg("1", LOT);
        r.epc = "urn:epc:id:sgtin:0614141812345";
        vm.expectRevert(abi.encodeWithSelector(ICustodyLedger.CustodyInvalidRegistration.selector, "epc"));
        vm.prank(mfr);
        ledger.registerItems(_regs(r));

        r.epc = "urn:epc:id:sgtin:";
        vm.expectRevert(abi.encodeWithSelector(ICustodyLedger.CustodyInvalidRegistration.selector, "epc"));
        vm.prank(mfr);
        ledger.registerItems(_regs(r));
    }

    /// NatSpec of registerItems: "each EPC is a non-empty SGTIN URN not yet registered". Without a
    /// lot number the ledger does not look at the URN at all, so an SSCC (or any string) can be
    /// commissioned as a serialized item.
    function test_RegisterItems_RevertWhen_NoLotAndEpcNotSgtin() public {
        ICustodyLedger.Registration memory r = _itemReg("1", "");
        r.epc = _sscc("1234567890");
        vm.expectRevert(abi.encodeWithSelector(ICustodyLedger.CustodyInvalidRegistration.selector, "epc"));
        vm.prank(mfr);
        ledger.registerItems(_regs(r));
    }

    function test_RegisterItems_RevertWhen_AlreadyRegistered() public {
        ObjectId id = _registerItem("1005");
        vm.expectRevert(abi.encodeWithSelector(ICustodyLedger.CustodyAlreadyRegistered.selector, id));
        vm.prank(mfr2);
        ledger.registerItems(_regs(_itemReg("1005", LOT)));
    }

    function test_RegisterItems_RevertWhen_DuplicateInBatch_NothingRegistered() public {
        ICustodyLedger.Registration[] memory list = new ICustodyLedger.Registration[](2);
        list[0] = _itemReg("1006", LOT);
        list[1] = _itemReg("1006", LOT);
        vm.expectRevert(abi.encodeWithSelector(ICustodyLedger.CustodyAlreadyRegistered.selector, _itemId("1006")));
        vm.prank(mfr);
        ledger.registerItems(list);
        vm.expectRevert(abi.encodeWithSelector(ICustodyLedger.CustodyUnknownObject.selector, _itemId("1006")));
        ledger.custodianOf(_itemId("1006"));
    }

    function test_RegisterItems_RevertWhen_EmptyBatch() public {
        vm.expectRevert(ICustodyLedger.CustodyEmptyBatch.selector);
        vm.prank(mfr);
        ledger.registerItems(new ICustodyLedger.Registration[](0));
    }

    function test_RegisterItems_RevertWhen_BatchTooLarge() public {
        vm.expectRevert(abi.encodeWithSelector(ICustodyLedger.CustodyBatchTooLarge.selector, 251, 250));
        vm.prank(mfr);
        ledger.registerItems(new ICustodyLedger.Registration[](251));
    }

    function test_RegisterItems_MaxBatchSucceeds() public {
        assertEq(ledger.MAX_BATCH(), 1000, "MAX_BATCH");
        assertEq(ledger.MAX_CREATE_BATCH(), 250, "MAX_CREATE_BATCH");
        ObjectId[] memory ids = _registerItems("max-", 250);
        assertEq(ids.length, 250, "all registered");
        assertEq(ledger.custodianOf(ids[249]), MFR, "last one");
    }

    function test_RegisterItems_RevertWhen_NotManufacturer() public {
        vm.expectRevert(
            abi.encodeWithSelector(
                ICustodyLedger.CustodyRoleNotAllowed.selector, DIST, ICustodyLedger.PartnerRole.Distributor
            )
        );
        vm.prank(dist);
        ledger.registerItems(_regs(_itemReg("1", LOT)));
    }

    function test_RegisterItems_RevertWhen_UnknownAccount() public {
        vm.expectRevert(abi.encodeWithSelector(ICustodyLedger.CustodyUnknownAccount.selector, outsider));
        vm.prank(outsider);
        ledger.registerItems(_regs(_itemReg("1", LOT)));
    }

    // ------------------------------------------------------------ registerLot

    function test_RegisterLot_EmitsAndRecords() public {
        ICustodyLedger.LotOutput memory out = _lotOutput("B7", 1250, KGM);
        ObjectId id = _lotId("B7");
        vm.expectEmit(true, true, true, true, address(ledger));
        emit ICustodyLedger.LotRegistered(id, MFR, out.registration.epc, "B7", EXPIRY, PRODUCED, GLN_MFR, 1250, KGM);
        vm.prank(mfr);
        ObjectId returned = ledger.registerLot(out);
        assertEq(returned, id, "id");
        (uint256 quantity, bytes3 unit) = ledger.lotBalance(id);
        assertEq(quantity, 1250, "quantity");
        assertEq(bytes32(unit), bytes32(KGM), "unit");
        ICustodyLedger.CustodyView memory v = ledger.custodyOf(id);
        assertEq(uint256(v.kind), uint256(ICustodyLedger.ObjectKind.Lot), "kind");
        assertEq(v.quantity, 1250, "view quantity");
        assertEq(bytes32(v.unitOfMeasure), bytes32(KGM), "view unit");
        assertEq(v.lot, ObjectId.wrap(0), "a lot belongs to no lot");
        assertEq(v.custodian, MFR, "custodian");
    }

    function test_RegisterLot_MaxQuantity() public {
        ObjectId id = _registerLotAs(mfr, "BMAX", type(uint232).max, EA);
        (uint256 quantity,) = ledger.lotBalance(id);
        assertEq(quantity, type(uint232).max, "uint232 max fits");
    }

    function test_RegisterLot_RevertWhen_LotEmpty() public {
        ICustodyLedger.LotOutput memory out = _lotOutput("B8", 1, EA);
        out.registration.lot = "";
        vm.expectRevert(abi.encodeWithSelector(ICustodyLedger.CustodyInvalidRegistration.selector, "lot"));
        vm.prank(mfr);
        ledger.registerLot(out);
    }

    function test_RegisterLot_RevertWhen_QuantityZero() public {
        vm.expectRevert(
            abi.encodeWithSelector(
                ICustodyLedger.CustodyInvalidQuantity.selector, _lotId("B9"), 0, uint256(type(uint232).max)
            )
        );
        vm.prank(mfr);
        ledger.registerLot(_lotOutput("B9", 0, EA));
    }

    function test_RegisterLot_RevertWhen_QuantityAboveUint232() public {
        uint256 tooMuch = uint256(type(uint232).max) + 1;
        vm.expectRevert(
            abi.encodeWithSelector(
                ICustodyLedger.CustodyInvalidQuantity.selector, _lotId("B9"), tooMuch, uint256(type(uint232).max)
            )
        );
        vm.prank(mfr);
        ledger.registerLot(_lotOutput("B9", tooMuch, EA));
    }

    function test_RegisterLot_RevertWhen_UnitMissing() public {
        vm.expectRevert(abi.encodeWithSelector(ICustodyLedger.CustodyInvalidRegistration.selector, "unitOfMeasure"));
        vm.prank(mfr);
        ledger.registerLot(_lotOutput("B9", 5, bytes3(0)));
    }

    function test_RegisterLot_RevertWhen_EpcEmpty() public {
        ICustodyLedger.LotOutput memory out = _lotOutput("B9", 5, EA);
        out.registration.epc = "";
        vm.expectRevert(abi.encodeWithSelector(ICustodyLedger.CustodyInvalidRegistration.selector, "epc"));
        vm.prank(mfr);
        ledger.registerLot(out);
    }

    function test_RegisterLot_RevertWhen_AlreadyRegistered() public {
        ObjectId id = _registerLot("B10", 5);
        vm.expectRevert(abi.encodeWithSelector(ICustodyLedger.CustodyAlreadyRegistered.selector, id));
        vm.prank(mfr);
        ledger.registerLot(_lotOutput("B10", 9, EA));
    }

    function test_RegisterLot_RevertWhen_NotManufacturer() public {
        vm.expectRevert(
            abi.encodeWithSelector(
                ICustodyLedger.CustodyRoleNotAllowed.selector, DISP, ICustodyLedger.PartnerRole.Dispenser
            )
        );
        vm.prank(disp);
        ledger.registerLot(_lotOutput("B11", 5, EA));
    }

    // ------------------------------------------------------------ registerLogisticUnits

    function test_RegisterLogisticUnits_EmitsAndRecords() public {
        string[] memory urns = new string[](2);
        urns[0] = _sscc("1234567890");
        urns[1] = _sscc("1234567891");
        vm.expectEmit(true, true, true, true, address(ledger));
        emit ICustodyLedger.LogisticUnitRegistered(_id(urns[0]), DIST, urns[0]);
        vm.expectEmit(true, true, true, true, address(ledger));
        emit ICustodyLedger.LogisticUnitRegistered(_id(urns[1]), DIST, urns[1]);
        vm.prank(dist);
        ObjectId[] memory ids = ledger.registerLogisticUnits(urns);
        assertEq(ids[0], _ssccId("1234567890"), "id 0");
        assertEq(ids[1], _ssccId("1234567891"), "id 1");
        ICustodyLedger.CustodyView memory v = ledger.custodyOf(ids[0]);
        assertEq(uint256(v.kind), uint256(ICustodyLedger.ObjectKind.LogisticUnit), "kind");
        assertEq(v.custodian, DIST, "custodian");
        assertEq(v.owner, DIST, "owner");
        assertEq(v.registrant, DIST, "registrant");
        assertEq(v.expiryDate, 0, "no expiry");
    }

    function test_RegisterLogisticUnits_RevertWhen_Duplicate() public {
        ObjectId id = _registerSscc(mfr, "1234567890");
        string[] memory urns = new string[](1);
        urns[0] = _sscc("1234567890");
        vm.expectRevert(abi.encodeWithSelector(ICustodyLedger.CustodyAlreadyRegistered.selector, id));
        vm.prank(dist);
        ledger.registerLogisticUnits(urns);
    }

    /// Ids of all kinds share one namespace.
    /// A logistic unit needs an SSCC URN: an item's SGTIN URN is refused before its id is looked up.
    function test_RegisterLogisticUnits_RevertWhen_UrnIsNotSscc() public {
        _registerItem("1006");
        string[] memory urns = new string[](1);
        urns[0] = _sgtin("1006");
        vm.expectRevert(abi.encodeWithSelector(ICustodyLedger.CustodyInvalidRegistration.selector, "epc"));
        vm.prank(mfr);
        ledger.registerLogisticUnits(urns);
    }

    function test_RegisterLogisticUnits_RevertWhen_UrnEmpty() public {
        string[] memory urns = new string[](1);
        vm.expectRevert(abi.encodeWithSelector(ICustodyLedger.CustodyInvalidRegistration.selector, "epc"));
        vm.prank(mfr);
        ledger.registerLogisticUnits(urns);
    }

    function test_RegisterLogisticUnits_RevertWhen_EmptyBatch() public {
        vm.expectRevert(ICustodyLedger.CustodyEmptyBatch.selector);
        vm.prank(mfr);
        ledger.registerLogisticUnits(new string[](0));
    }

    function test_RegisterLogisticUnits_RevertWhen_BatchTooLarge() public {
        vm.expectRevert(abi.encodeWithSelector(ICustodyLedger.CustodyBatchTooLarge.selector, 251, 250));
        vm.prank(mfr);
        ledger.registerLogisticUnits(new string[](251));
    }

    function test_RegisterLogisticUnits_RevertWhen_Auditor() public {
        string[] memory urns = new string[](1);
        urns[0] = _sscc("1234567890");
        vm.expectRevert(
            abi.encodeWithSelector(
                ICustodyLedger.CustodyRoleNotAllowed.selector, AUDITOR, ICustodyLedger.PartnerRole.Auditor
            )
        );
        vm.prank(auditor);
        ledger.registerLogisticUnits(urns);
    }

    // ------------------------------------------------------------ views

    function test_Views_RevertWhen_ObjectUnknown() public {
        ObjectId unknown = _itemId("never");
        vm.expectRevert(abi.encodeWithSelector(ICustodyLedger.CustodyUnknownObject.selector, unknown));
        ledger.custodianOf(unknown);
        vm.expectRevert(abi.encodeWithSelector(ICustodyLedger.CustodyUnknownObject.selector, unknown));
        ledger.custodyOf(unknown);
    }

    function testFuzz_ObjectIdOf_IsKeccakOfUrn(string calldata urn) public view {
        assertEq(ObjectId.unwrap(ledger.objectIdOf(urn)), keccak256(bytes(urn)), "objectIdOf");
    }
}
