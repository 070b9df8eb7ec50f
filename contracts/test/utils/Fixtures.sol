// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {CustodyLedger} from "../../CustodyLedger.sol";
import {CustodyRelay} from "../../CustodyRelay.sol";
import {ICustodyLedger} from "../../ICustodyLedger.sol";
import {ObjectId} from "../../types/ObjectId.sol";
import {Test} from "./Vm.sol";

/// @dev The one shared fixture: a ledger with an admin and five partners, GS1 identifiers, and
/// helpers that register, ship and receive. Partner accounts come from private keys so that the
/// same accounts can sign EIP-712 calls for the relay.
abstract contract Fixtures is Test {
    // ------------------------------------------------------------ accounts (keys -> vm.addr)

    uint256 internal constant ADMIN_KEY = 0xAD000001;
    uint256 internal constant MFR_KEY = 0xA1000001;
    uint256 internal constant MFR2_KEY = 0xA2000001;
    uint256 internal constant DIST_KEY = 0xB1000001;
    uint256 internal constant DISP_KEY = 0xC1000001;
    uint256 internal constant AUDITOR_KEY = 0xD1000001;
    uint256 internal constant OUTSIDER_KEY = 0xE1000001;

    // ------------------------------------------------------------ partner ids (registration order)

    uint32 internal constant MFR = 1; // Manufacturer "Acme Pharma"
    uint32 internal constant MFR2 = 2; // Manufacturer "Beta Labs"
    uint32 internal constant DIST = 3; // Distributor "Nordic Wholesale"
    uint32 internal constant DISP = 4; // Dispenser "City Pharmacy"
    uint32 internal constant AUDITOR = 5; // Auditor "Medicines Agency"
    uint32 internal constant UNKNOWN_PARTNER = 99;

    // ------------------------------------------------------------ GLNs (13 digits, GS1 mod-10 check digit)
    // 0614141000005: digits 061414100000, weights 3,1,3,… from the right: 0+0+0+0+0+1+12+1+12+1+18+0 = 45
    // -> check digit (10 - 45 % 10) % 10 = 5. The others were computed the same way.

    uint64 internal constant GLN_MFR = 614141000005;
    uint64 internal constant GLN_MFR_DOCK = 614141000012;
    uint64 internal constant GLN_MFR2 = 614142000004;
    uint64 internal constant GLN_DIST = 614143000003;
    uint64 internal constant GLN_DIST_DC2 = 614143000010;
    uint64 internal constant GLN_DISP = 614144000002;
    uint64 internal constant GLN_FREE = 614145000001; // valid, claimed by nobody
    uint64 internal constant GLN_BAD_CHECK = 614141000006; // check digit should be 5

    // ------------------------------------------------------------ EPC URNs

    string internal constant SGTIN_PREFIX = "urn:epc:id:sgtin:0614141.812345.";
    string internal constant LGTIN_PREFIX = "urn:epc:class:lgtin:0614141.812345.";
    string internal constant SSCC_PREFIX = "urn:epc:id:sscc:0614141.";
    string internal constant LOT = "L1";

    uint32 internal constant EXPIRY = 20270131;
    uint32 internal constant PRODUCED = 20260101;
    bytes3 internal constant EA = "EA";
    bytes3 internal constant KGM = "KGM";

    /// @dev 2026-06-01T00:00:00Z: every test starts on this day.
    uint256 internal constant START = 1780272000;
    /// @dev 2027-02-06T00:00:00Z: well after EXPIRY (2027-01-31).
    uint256 internal constant AFTER_EXPIRY = 1801872000;

    CustodyLedger internal ledger;
    CustodyRelay internal relay;

    address internal admin;
    address internal mfr;
    address internal mfr2;
    address internal dist;
    address internal disp;
    address internal auditor;
    address internal outsider;

    function setUp() public virtual {
        vm.warp(START);
        admin = _account(ADMIN_KEY, "admin");
        mfr = _account(MFR_KEY, "mfr");
        mfr2 = _account(MFR2_KEY, "mfr2");
        dist = _account(DIST_KEY, "dist");
        disp = _account(DISP_KEY, "disp");
        auditor = _account(AUDITOR_KEY, "auditor");
        outsider = _account(OUTSIDER_KEY, "outsider");

        ledger = new CustodyLedger(admin);
        relay = CustodyRelay(ledger.relay());
        vm.label(address(ledger), "ledger");
        vm.label(address(relay), "relay");

        vm.startPrank(admin);
        ledger.registerPartner(
            "Acme Pharma", ICustodyLedger.PartnerRole.Manufacturer, _addrs(mfr), _glns(GLN_MFR, GLN_MFR_DOCK)
        );
        ledger.registerPartner("Beta Labs", ICustodyLedger.PartnerRole.Manufacturer, _addrs(mfr2), _glns(GLN_MFR2));
        ledger.registerPartner(
            "Nordic Wholesale", ICustodyLedger.PartnerRole.Distributor, _addrs(dist), _glns(GLN_DIST, GLN_DIST_DC2)
        );
        ledger.registerPartner("City Pharmacy", ICustodyLedger.PartnerRole.Dispenser, _addrs(disp), _glns(GLN_DISP));
        ledger.registerPartner("Medicines Agency", ICustodyLedger.PartnerRole.Auditor, _addrs(auditor), new uint64[](0));
        vm.stopPrank();
    }

    function _account(uint256 key, string memory name) internal returns (address account) {
        account = vm.addr(key);
        vm.label(account, name);
    }

    // ------------------------------------------------------------ identifiers

    function _sgtin(string memory serial) internal pure returns (string memory) {
        return string.concat(SGTIN_PREFIX, serial);
    }

    function _lgtin(string memory lot) internal pure returns (string memory) {
        return string.concat(LGTIN_PREFIX, lot);
    }

    function _sscc(string memory serialRef) internal pure returns (string memory) {
        return string.concat(SSCC_PREFIX, serialRef);
    }

    function _id(string memory epc) internal pure returns (ObjectId) {
        return ObjectId.wrap(keccak256(bytes(epc)));
    }

    function _itemId(string memory serial) internal pure returns (ObjectId) {
        return _id(_sgtin(serial));
    }

    function _lotId(string memory lot) internal pure returns (ObjectId) {
        return _id(_lgtin(lot));
    }

    function _ssccId(string memory serialRef) internal pure returns (ObjectId) {
        return _id(_sscc(serialRef));
    }

    // ------------------------------------------------------------ registration data

    function _itemReg(string memory serial, string memory lot)
        internal
        pure
        returns (ICustodyLedger.Registration memory)
    {
        return ICustodyLedger.Registration({
            epc: _sgtin(serial), lot: lot, expiryDate: EXPIRY, productionDate: PRODUCED, originGln: GLN_MFR
        });
    }

    function _regs(ICustodyLedger.Registration memory r)
        internal
        pure
        returns (ICustodyLedger.Registration[] memory list)
    {
        list = new ICustodyLedger.Registration[](1);
        list[0] = r;
    }

    function _lotOutput(string memory lot, uint256 quantity, bytes3 unit)
        internal
        pure
        returns (ICustodyLedger.LotOutput memory)
    {
        return ICustodyLedger.LotOutput({
            registration: ICustodyLedger.Registration({
                epc: _lgtin(lot), lot: lot, expiryDate: EXPIRY, productionDate: PRODUCED, originGln: GLN_MFR
            }),
            quantity: quantity,
            unitOfMeasure: unit
        });
    }

    // ------------------------------------------------------------ registering

    /// @dev An item of lot "L1" commissioned by the first manufacturer.
    function _registerItem(string memory serial) internal returns (ObjectId) {
        return _registerItemAs(mfr, serial, LOT);
    }

    function _registerItemAs(address account, string memory serial, string memory lot) internal returns (ObjectId) {
        vm.prank(account);
        return ledger.registerItems(_regs(_itemReg(serial, lot)))[0];
    }

    /// @dev `count` items "<prefix>0", "<prefix>1", … of lot "L1", commissioned by the first manufacturer.
    function _registerItems(string memory prefix, uint256 count) internal returns (ObjectId[] memory) {
        ICustodyLedger.Registration[] memory list = new ICustodyLedger.Registration[](count);
        for (uint256 i = 0; i < count; ++i) {
            list[i] = _itemReg(string.concat(prefix, _toString(i)), LOT);
        }
        vm.prank(mfr);
        return ledger.registerItems(list);
    }

    function _registerLot(string memory lot, uint256 quantity) internal returns (ObjectId) {
        return _registerLotAs(mfr, lot, quantity, EA);
    }

    function _registerLotAs(address account, string memory lot, uint256 quantity, bytes3 unit)
        internal
        returns (ObjectId)
    {
        vm.prank(account);
        return ledger.registerLot(_lotOutput(lot, quantity, unit));
    }

    function _registerSscc(address account, string memory serialRef) internal returns (ObjectId) {
        string[] memory urns = new string[](1);
        urns[0] = _sscc(serialRef);
        vm.prank(account);
        return ledger.registerLogisticUnits(urns)[0];
    }

    // ------------------------------------------------------------ custody

    function _info(uint32 receiver, bool transferOwnership) internal pure returns (ICustodyLedger.ShipmentInfo memory) {
        return ICustodyLedger.ShipmentInfo({
            receiver: receiver, shipFromGln: 0, shipToGln: 0, transferOwnership: transferOwnership
        });
    }

    function _ship(address account, ObjectId[] memory objectIds, uint32 receiver, bool transferOwnership)
        internal
        returns (uint40)
    {
        vm.prank(account);
        return ledger.ship(objectIds, _info(receiver, transferOwnership));
    }

    function _receive(address account, ObjectId[] memory objectIds) internal {
        vm.prank(account);
        ledger.receiveObjects(objectIds, 0);
    }

    /// @dev Ships and receives in one go.
    function _move(address from, address to, uint32 toPartner, ObjectId[] memory objectIds, bool transferOwnership)
        internal
    {
        _ship(from, objectIds, toPartner, transferOwnership);
        _receive(to, objectIds);
    }

    function _pack(address account, ObjectId parent, ObjectId[] memory children) internal {
        vm.prank(account);
        ledger.pack(parent, children);
    }

    function _setStatus(address account, ObjectId objectId, ICustodyLedger.Status status, bytes32 reason) internal {
        vm.prank(account);
        ledger.setStatus(_ids(objectId), status, reason);
    }

    // ------------------------------------------------------------ arrays

    function _ids(ObjectId a) internal pure returns (ObjectId[] memory list) {
        list = new ObjectId[](1);
        list[0] = a;
    }

    function _ids(ObjectId a, ObjectId b) internal pure returns (ObjectId[] memory list) {
        list = new ObjectId[](2);
        list[0] = a;
        list[1] = b;
    }

    function _ids(ObjectId a, ObjectId b, ObjectId c) internal pure returns (ObjectId[] memory list) {
        list = new ObjectId[](3);
        list[0] = a;
        list[1] = b;
        list[2] = c;
    }

    function _addrs(address a) internal pure returns (address[] memory list) {
        list = new address[](1);
        list[0] = a;
    }

    function _glns(uint64 a) internal pure returns (uint64[] memory list) {
        list = new uint64[](1);
        list[0] = a;
    }

    function _glns(uint64 a, uint64 b) internal pure returns (uint64[] memory list) {
        list = new uint64[](2);
        list[0] = a;
        list[1] = b;
    }

    // ------------------------------------------------------------ assertions and misc

    function assertEq(ObjectId a, ObjectId b, string memory message) internal pure {
        assertEq(ObjectId.unwrap(a), ObjectId.unwrap(b), message);
    }

    function assertStatus(ObjectId objectId, ICustodyLedger.Status expected, string memory message) internal view {
        assertEq(uint256(ledger.custodyOf(objectId).status), uint256(expected), message);
    }

    /// @dev Id the ledger gives its `n`-th genealogy event (see LedgerBase._newGenealogyId).
    function _genealogyId(uint256 n) internal view returns (bytes32) {
        return keccak256(abi.encode(block.chainid, address(ledger), n));
    }

    function _toString(uint256 value) internal pure returns (string memory) {
        if (value == 0) return "0";
        uint256 digits;
        for (uint256 v = value; v != 0; v /= 10) {
            ++digits;
        }
        bytes memory out = new bytes(digits);
        for (; value != 0; value /= 10) {
            out[--digits] = bytes1(uint8(48 + value % 10));
        }
        return string(out);
    }
}
