// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {CustodyLedger} from "../CustodyLedger.sol";
import {ICustodyLedger} from "../ICustodyLedger.sol";
import {ObjectId} from "../types/ObjectId.sol";
import {Test} from "./utils/Vm.sol";

contract CustodyLedgerTest is Test {
    CustodyLedger internal ledger;
    address internal admin = address(0xA11CE);
    address internal registrar = address(0xB0B);
    address internal maker = address(0x1001);
    address internal distributor = address(0x1002);
    address internal outsider = address(0xBAD);

    event ItemRegistered(
        ObjectId indexed objectId,
        ObjectId indexed lotId,
        address indexed custodian,
        string epc,
        string lot,
        uint32 expiryDate,
        uint32 productionDate,
        uint64 originGln
    );
    event CustodyTransferred(ObjectId indexed objectId, address indexed sender, address indexed receiver);

    function setUp() public {
        ledger = new CustodyLedger(admin);
        vm.startPrank(admin);
        ledger.grantRole(ledger.REGISTRAR_ROLE(), registrar);
        ledger.grantRole(ledger.PARTNER_ROLE(), maker);
        ledger.grantRole(ledger.PARTNER_ROLE(), distributor);
        vm.stopPrank();
    }

    function _item(string memory serial) internal pure returns (ICustodyLedger.Registration memory) {
        return ICustodyLedger.Registration({
            epc: string.concat("urn:epc:id:sgtin:0614141.812345.", serial),
            lot: "L1",
            expiryDate: 20270131,
            productionDate: 20260101,
            originGln: 614141000005
        });
    }

    function _register(string memory serial) internal returns (ObjectId id) {
        vm.prank(registrar);
        id = ledger.registerItem(_item(serial), maker);
    }

    function test_RegisterDerivesIdFromUrn() public {
        ObjectId id = _register("1");
        assertEq(ObjectId.unwrap(id), keccak256("urn:epc:id:sgtin:0614141.812345.1"), "id is keccak of the URN");
        assertEq(ledger.custodianOf(id), maker, "custodian");
    }

    function test_RegisterTwiceReverts() public {
        ObjectId id = _register("1");
        vm.prank(registrar);
        vm.expectRevert(abi.encodeWithSelector(ICustodyLedger.CustodyAlreadyRegistered.selector, id));
        ledger.registerItem(_item("1"), maker);
    }

    function test_RegisterWithoutRoleReverts() public {
        bytes32 role = ledger.REGISTRAR_ROLE();
        vm.prank(outsider);
        vm.expectRevert(
            abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, outsider, role)
        );
        ledger.registerItem(_item("1"), maker);
    }

    function test_TransferEmitsAndMoves() public {
        ObjectId id = _register("1");
        vm.expectEmit(true, true, true, true);
        emit CustodyTransferred(id, maker, distributor);
        vm.prank(maker);
        ledger.transfer(id, distributor);
        assertEq(ledger.custodianOf(id), distributor, "custodian after transfer");
    }

    function test_TransferByNonCustodianReverts() public {
        ObjectId id = _register("1");
        vm.prank(distributor);
        vm.expectRevert(abi.encodeWithSelector(ICustodyLedger.CustodyNotCustodian.selector, id, distributor, maker));
        ledger.transfer(id, maker);
    }

    function test_TransferToNonPartnerReverts() public {
        ObjectId id = _register("1");
        vm.prank(maker);
        vm.expectRevert(abi.encodeWithSelector(ICustodyLedger.CustodyInvalidReceiver.selector, outsider));
        ledger.transfer(id, outsider);
    }

    function test_BatchIsAllOrNothing() public {
        ObjectId[] memory ids = new ObjectId[](3);
        ids[0] = _register("1");
        ids[1] = _register("2");
        ids[2] = ObjectId.wrap(keccak256("urn:epc:id:sgtin:0614141.812345.missing"));
        vm.prank(maker);
        vm.expectRevert(abi.encodeWithSelector(ICustodyLedger.CustodyUnknownObject.selector, ids[2]));
        ledger.batchTransfer(ids, distributor);
        assertEq(ledger.custodianOf(ids[0]), maker, "first item unchanged after failed batch");
    }

    function test_EmptyBatchReverts() public {
        vm.prank(maker);
        vm.expectRevert(abi.encodeWithSelector(ICustodyLedger.CustodyEmptyBatch.selector));
        ledger.batchTransfer(new ObjectId[](0), distributor);
    }

    function test_OversizedBatchReverts() public {
        uint256 max = ledger.MAX_BATCH();
        vm.prank(maker);
        vm.expectRevert(abi.encodeWithSelector(ICustodyLedger.CustodyBatchTooLarge.selector, max + 1, max));
        ledger.batchTransfer(new ObjectId[](max + 1), distributor);
    }

    function test_ItemLotIdEscapesUrnCharacters() public {
        ICustodyLedger.Registration memory r = _item("9");
        r.lot = "A/B%";
        // The lot id is keccak of the LGTIN URN with the lot percent-escaped as GS1 TDS requires.
        ObjectId expectedLot = ObjectId.wrap(keccak256("urn:epc:class:lgtin:0614141.812345.A%2FB%25"));
        vm.expectEmit(true, true, true, false);
        emit ItemRegistered(ObjectId.wrap(keccak256(bytes(r.epc))), expectedLot, maker, "", "", 0, 0, 0);
        vm.prank(registrar);
        ledger.registerItem(r, maker);
    }

    /// Fuzz: custody follows any chain of transfers among partners.
    function testFuzz_TransferChain(uint8 hops) public {
        ObjectId id = _register("fuzz");
        address holder = maker;
        for (uint256 i = 0; i < uint256(hops) % 16; ++i) {
            address next = holder == maker ? distributor : maker;
            vm.prank(holder);
            ledger.transfer(id, next);
            holder = next;
        }
        assertEq(ledger.custodianOf(id), holder, "custodian is the last receiver");
    }
}
