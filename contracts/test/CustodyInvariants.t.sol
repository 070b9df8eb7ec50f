// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {CustodyLedger} from "../CustodyLedger.sol";
import {ICustodyLedger} from "../ICustodyLedger.sol";
import {ObjectId} from "../types/ObjectId.sol";
import {Fixtures} from "./utils/Fixtures.sol";
import {Vm} from "./utils/Vm.sol";

/// @dev Random ship / receive / reject / cancel / transfer / pack / unpack among four holders,
/// mirrored in a simple model (ghost state). Every call the model says is valid must succeed
/// (the only tolerated refusal is CustodyNestingTooDeep, which the model does not predict).
contract CustodyHandler {
    Vm internal constant vm = Vm(address(uint160(uint256(keccak256("hevm cheat code")))));
    uint256 internal constant NONE = type(uint256).max;

    CustodyLedger public immutable ledger;
    address[4] internal accounts;
    uint32[4] public partners;
    ObjectId[] public objects;

    // ghost state, by object index
    uint256[] public ghostParent; // NONE when unpacked
    uint32[] public ghostCustodian; // meaningful for roots
    uint32[] public ghostOwner; // meaningful for roots
    uint32[] public ghostReceiver; // roots in transit: the receiver, else 0
    bool[] internal ghostPassTitle;

    uint256 public unexpectedReverts;
    bytes public lastUnexpected;
    mapping(bytes32 op => uint256) public calls;

    constructor(
        CustodyLedger ledger_,
        address[4] memory accounts_,
        uint32[4] memory partners_,
        ObjectId[] memory objects_,
        uint32 holder
    ) {
        ledger = ledger_;
        accounts = accounts_;
        partners = partners_;
        for (uint256 i = 0; i < objects_.length; ++i) {
            objects.push(objects_[i]);
            ghostParent.push(NONE);
            ghostCustodian.push(holder);
            ghostOwner.push(holder);
            ghostReceiver.push(0);
            ghostPassTitle.push(false);
        }
    }

    function objectCount() external view returns (uint256) {
        return objects.length;
    }

    /// @dev The model's outermost container of object `i`.
    function ghostRoot(uint256 i) public view returns (uint256) {
        while (ghostParent[i] != NONE) i = ghostParent[i];
        return i;
    }

    // ------------------------------------------------------------ operations

    function ship(uint256 objectSeed, uint256 receiverSeed, bool passTitle) external {
        uint256 i = objectSeed % objects.length;
        if (ghostParent[i] != NONE || ghostReceiver[i] != 0) return;
        uint256 from = _index(ghostCustodian[i]);
        uint256 to = (from + 1 + receiverSeed % 3) % 4;
        if (passTitle && ghostOwner[i] != ghostCustodian[i]) {
            // only the owner can pass title
            vm.prank(accounts[from]);
            try ledger.ship(_one(objects[i]), ICustodyLedger.ShipmentInfo(partners[to], 0, 0, true)) {
                revert("a non-owner passed title");
            } catch (bytes memory reason) {
                if (bytes4(reason) != ICustodyLedger.CustodyNotOwner.selector) _unexpected(reason);
                ++calls["ship: title not owned"];
            }
            return;
        }
        vm.prank(accounts[from]);
        try ledger.ship(_one(objects[i]), ICustodyLedger.ShipmentInfo(partners[to], 0, 0, passTitle)) {
            ghostReceiver[i] = partners[to];
            ghostPassTitle[i] = passTitle;
            ++calls["ship"];
        } catch (bytes memory reason) {
            _unexpected(reason);
        }
    }

    function receiveShipment(uint256 objectSeed) external {
        (bool found, uint256 i) = _findInTransit(objectSeed);
        if (!found) return;
        uint32 receiver = ghostReceiver[i];
        vm.prank(accounts[_index(receiver)]);
        try ledger.receiveObjects(_one(objects[i]), 0) {
            ghostCustodian[i] = receiver;
            if (ghostPassTitle[i]) ghostOwner[i] = receiver;
            ghostReceiver[i] = 0;
            ++calls["receive"];
        } catch (bytes memory reason) {
            _unexpected(reason);
        }
    }

    function reject(uint256 objectSeed) external {
        (bool found, uint256 i) = _findInTransit(objectSeed);
        if (!found) return;
        vm.prank(accounts[_index(ghostReceiver[i])]);
        try ledger.reject(_one(objects[i]), "refused") {
            ghostReceiver[i] = 0;
            ++calls["reject"];
        } catch (bytes memory reason) {
            _unexpected(reason);
        }
    }

    function cancel(uint256 objectSeed) external {
        (bool found, uint256 i) = _findInTransit(objectSeed);
        if (!found) return;
        vm.prank(accounts[_index(ghostCustodian[i])]);
        try ledger.cancelShipment(_one(objects[i])) {
            ghostReceiver[i] = 0;
            ++calls["cancel"];
        } catch (bytes memory reason) {
            _unexpected(reason);
        }
    }

    function transfer(uint256 objectSeed, uint256 receiverSeed) external {
        uint256 i = objectSeed % objects.length;
        if (ghostParent[i] != NONE || ghostReceiver[i] != 0) return;
        uint256 from = _index(ghostCustodian[i]);
        uint256 to = (from + 1 + receiverSeed % 3) % 4;
        vm.prank(accounts[from]);
        try ledger.transfer(_one(objects[i]), partners[to]) {
            ghostCustodian[i] = partners[to];
            ++calls["transfer"];
        } catch (bytes memory reason) {
            _unexpected(reason);
        }
    }

    /// @dev Packs object `c` into object `p` when both are unpacked, at rest, with one holder.
    /// Lots are never registered here, so any object may be a container.
    function pack(uint256 parentSeed, uint256 childSeed) external {
        uint256 p = parentSeed % objects.length;
        uint256 c = childSeed % objects.length;
        if (p == c) return;
        if (ghostParent[p] != NONE || ghostParent[c] != NONE) return;
        if (ghostReceiver[p] != 0 || ghostReceiver[c] != 0) return;
        if (ghostCustodian[p] != ghostCustodian[c]) return;
        if (ghostOwner[p] != ghostOwner[c]) {
            // contents and container must share one owner
            vm.prank(accounts[_index(ghostCustodian[p])]);
            try ledger.pack(objects[p], _one(objects[c])) {
                revert("pack accepted a child of another owner");
            } catch (bytes memory reason) {
                if (bytes4(reason) != ICustodyLedger.CustodyNotOwner.selector) _unexpected(reason);
                ++calls["pack: other owner"];
            }
            return;
        }
        vm.prank(accounts[_index(ghostCustodian[p])]);
        try ledger.pack(objects[p], _one(objects[c])) {
            ghostParent[c] = p;
            ++calls["pack"];
        } catch (bytes memory reason) {
            if (bytes4(reason) == ICustodyLedger.CustodyNestingTooDeep.selector) {
                ++calls["pack: too deep"];
            } else {
                _unexpected(reason);
            }
        }
    }

    /// @dev Unpacks a packed object whose container is a root at rest; the child takes the
    /// container's custodian and owner.
    function unpack(uint256 childSeed) external {
        uint256 c = childSeed % objects.length;
        uint256 p = ghostParent[c];
        if (p == NONE || ghostParent[p] != NONE || ghostReceiver[p] != 0) return;
        vm.prank(accounts[_index(ghostCustodian[p])]);
        try ledger.unpack(objects[p], _one(objects[c])) {
            ghostParent[c] = NONE;
            ghostCustodian[c] = ghostCustodian[p];
            ghostOwner[c] = ghostOwner[p];
            ++calls["unpack"];
        } catch (bytes memory reason) {
            _unexpected(reason);
        }
    }

    // ------------------------------------------------------------ helpers

    function _findInTransit(uint256 seed) private view returns (bool, uint256) {
        uint256 n = objects.length;
        for (uint256 k = 0; k < n; ++k) {
            uint256 i = (seed % n + k) % n;
            if (ghostReceiver[i] != 0) return (true, i);
        }
        return (false, 0);
    }

    function _index(uint32 partnerId) private view returns (uint256) {
        for (uint256 k = 0; k < 4; ++k) {
            if (partners[k] == partnerId) return k;
        }
        revert("not a holder");
    }

    function _one(ObjectId id) private pure returns (ObjectId[] memory list) {
        list = new ObjectId[](1);
        list[0] = id;
    }

    function _unexpected(bytes memory reason) private {
        ++unexpectedReverts;
        lastUnexpected = reason;
    }
}

/// @dev Invariants of custody under random operations (forge `invariant_` functions).
contract CustodyInvariantsTest is Fixtures {
    struct FuzzSelector {
        address addr;
        bytes4[] selectors;
    }

    CustodyHandler internal handler;

    function setUp() public override {
        super.setUp();
        uint256 items = 6;
        ObjectId[] memory objects = new ObjectId[](items + 5);
        ObjectId[] memory itemIds = _registerItems("inv-", items);
        for (uint256 i = 0; i < items; ++i) {
            objects[i] = itemIds[i];
        }
        for (uint256 k = 0; k < 5; ++k) {
            objects[items + k] = _registerSscc(mfr, string.concat("900000000", _toString(k)));
        }
        handler = new CustodyHandler(ledger, [mfr, dist, disp, mfr2], [MFR, DIST, DISP, MFR2], objects, MFR);
        vm.label(address(handler), "handler");
    }

    /// @dev Read by forge: fuzz only the handler, and only its operations.
    function targetContracts() public view returns (address[] memory targets) {
        targets = new address[](1);
        targets[0] = address(handler);
    }

    function targetSelectors() public view returns (FuzzSelector[] memory targets) {
        bytes4[] memory selectors = new bytes4[](7);
        selectors[0] = CustodyHandler.ship.selector;
        selectors[1] = CustodyHandler.receiveShipment.selector;
        selectors[2] = CustodyHandler.reject.selector;
        selectors[3] = CustodyHandler.cancel.selector;
        selectors[4] = CustodyHandler.transfer.selector;
        selectors[5] = CustodyHandler.pack.selector;
        selectors[6] = CustodyHandler.unpack.selector;
        targets = new FuzzSelector[](1);
        targets[0] = FuzzSelector({addr: address(handler), selectors: selectors});
    }

    /// Every object has exactly one custodian, a partner that may hold goods, or is in transit to
    /// exactly one other such partner; and the ledger agrees with the model.
    function invariant_OneCustodianOrOneReceiver() public view {
        uint256 n = handler.objectCount();
        for (uint256 i = 0; i < n; ++i) {
            ICustodyLedger.CustodyView memory v = ledger.custodyOf(handler.objects(i));
            uint256 root = handler.ghostRoot(i);
            assertTrue(_isHolder(v.custodian), "custodian is a holder");
            assertEq(v.custodian, handler.ghostCustodian(root), "custodian as modelled");
            assertEq(v.pendingReceiver, handler.ghostReceiver(root), "receiver as modelled");
            if (v.shipmentId != 0) {
                assertTrue(_isHolder(v.pendingReceiver), "receiver is a holder");
                assertTrue(v.pendingReceiver != v.custodian, "receiver is another partner");
                assertEq(uint256(v.status), uint256(ICustodyLedger.Status.InTransit), "reported in transit");
                assertEq(ledger.shipment(v.shipmentId).receiver, v.pendingReceiver, "shipment's receiver");
                assertEq(ledger.shipment(v.shipmentId).sender, v.custodian, "shipment's sender holds");
            } else {
                assertEq(v.pendingReceiver, 0, "no receiver at rest");
                assertEq(uint256(v.status), uint256(ICustodyLedger.Status.Active), "active at rest");
            }
        }
    }

    /// Children report their root's custodian, shipment and owner; parent links lead to the root
    /// within MAX_NESTING levels and match the model.
    function invariant_ChildrenFollowTheirRoot() public view {
        uint256 n = handler.objectCount();
        for (uint256 i = 0; i < n; ++i) {
            ObjectId id = handler.objects(i);
            ICustodyLedger.CustodyView memory v = ledger.custodyOf(id);
            ObjectId walk = id;
            uint256 levels;
            while (ObjectId.unwrap(ledger.parentOf(walk)) != 0) {
                walk = ledger.parentOf(walk);
                ++levels;
                assertTrue(levels <= ledger.MAX_NESTING(), "nesting bounded");
            }
            assertEq(v.root, walk, "root is the end of the parent links");
            assertEq(v.root, handler.objects(handler.ghostRoot(i)), "root as modelled");
            ICustodyLedger.CustodyView memory r = ledger.custodyOf(walk);
            assertEq(ledger.custodianOf(id), ledger.custodianOf(walk), "custodianOf follows the root");
            assertEq(v.custodian, r.custodian, "custodian follows the root");
            assertEq(v.shipmentId, r.shipmentId, "shipment follows the root");
            assertEq(v.owner, r.owner, "owner follows the root");
            assertEq(v.owner, handler.ghostOwner(handler.ghostRoot(i)), "owner as modelled");
        }
    }

    /// Every operation the model considers valid went through.
    function invariant_NoUnexpectedRevert() public view {
        assertEq(handler.unexpectedReverts(), 0, "unexpected revert");
    }

    function _isHolder(uint32 partnerId) private pure returns (bool) {
        return partnerId == MFR || partnerId == MFR2 || partnerId == DIST || partnerId == DISP;
    }
}
