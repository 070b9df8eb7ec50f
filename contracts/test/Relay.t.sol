// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {Nonces} from "@openzeppelin/contracts/utils/Nonces.sol";
import {Strings} from "@openzeppelin/contracts/utils/Strings.sol";
import {CustodyLedger} from "../CustodyLedger.sol";
import {CustodyRelay} from "../CustodyRelay.sol";
import {ICustodyLedger} from "../ICustodyLedger.sol";
import {ObjectId} from "../types/ObjectId.sol";
import {Fixtures} from "./utils/Fixtures.sol";
import {Vm} from "./utils/Vm.sol";

/// @dev EIP-712 signed partner calls through the ledger's CustodyRelay.
contract RelayTest is Fixtures {
    bytes32 internal constant DOMAIN_TYPEHASH =
        keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)");
    bytes32 internal constant PARTNER_CALL_TYPEHASH =
        keccak256("PartnerCall(address signer,bytes data,uint256 nonce,uint256 deadline)");
    uint256 internal constant SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141;

    uint256 internal deadline;

    function setUp() public override {
        super.setUp();
        deadline = block.timestamp + 1 hours;
    }

    // ------------------------------------------------------------ wiring and digest

    function test_Wiring() public view {
        assertEq(relay.ledger(), address(ledger), "relay serves the ledger");
        assertEq(ledger.relay(), address(relay), "ledger trusts its relay");
        assertEq(relay.PARTNER_CALL_TYPEHASH(), PARTNER_CALL_TYPEHASH, "type hash");
    }

    function test_Eip712Domain() public view {
        (
            bytes1 fields,
            string memory name,
            string memory version,
            uint256 chainId,
            address verifyingContract,
            bytes32 salt,
            uint256[] memory extensions
        ) = relay.eip712Domain();
        assertEq(bytes32(fields), bytes32(bytes1(0x0f)), "fields");
        assertEq(name, "CustodyRelay", "name");
        assertEq(version, "1", "version");
        assertEq(chainId, block.chainid, "chain id");
        assertEq(verifyingContract, address(relay), "verifying contract");
        assertEq(salt, bytes32(0), "salt");
        assertEq(extensions.length, 0, "extensions");
    }

    function test_HashSignedCall_MatchesIndependentDigest() public view {
        ICustodyLedger.SignedCall memory call = _call(mfr, _registerData("r-1"), 0);
        assertEq(relay.hashSignedCall(call), _digest(call, block.chainid, address(relay)), "digest");
    }

    function testFuzz_HashSignedCall_MatchesIndependentDigest(
        address signer,
        bytes calldata data,
        uint256 nonce,
        uint256 deadline_
    ) public view {
        ICustodyLedger.SignedCall memory call =
            ICustodyLedger.SignedCall({signer: signer, data: data, nonce: nonce, deadline: deadline_});
        assertEq(relay.hashSignedCall(call), _digest(call, block.chainid, address(relay)), "digest");
    }

    // ------------------------------------------------------------ executeSigned

    /// Anyone relays; the ledger acts for the signer's partner; the nonce is consumed.
    function test_ExecuteSigned_RunsAsSigner() public {
        ICustodyLedger.Registration memory r = _itemReg("r-1", LOT);
        (ICustodyLedger.SignedCall memory call, bytes memory sig) = _signed(MFR_KEY, _registerData("r-1"), 0);
        vm.expectEmit(true, true, true, true, address(ledger));
        emit ICustodyLedger.ItemRegistered(_itemId("r-1"), _lotId(LOT), MFR, r.epc, LOT, EXPIRY, PRODUCED, GLN_MFR);
        vm.prank(outsider);
        bytes memory result = relay.executeSigned(call, sig);
        ObjectId[] memory ids = abi.decode(result, (ObjectId[]));
        assertEq(ids[0], _itemId("r-1"), "returns the operation's result");
        assertEq(ledger.custodianOf(ids[0]), MFR, "registered for the signer's partner");
        assertEq(relay.nonces(mfr), 1, "nonce consumed");
    }

    function test_ExecuteSigned_ShipAndReceive() public {
        ObjectId item = _registerItem("r-2");
        bytes memory shipData = abi.encodeCall(ledger.ship, (_ids(item), _info(DIST, true)));
        (ICustodyLedger.SignedCall memory call, bytes memory sig) = _signed(MFR_KEY, shipData, 0);
        relay.executeSigned(call, sig);
        bytes memory receiveData = abi.encodeCall(ledger.receiveObjects, (_ids(item), GLN_DIST));
        (call, sig) = _signed(DIST_KEY, receiveData, 0);
        vm.expectEmit(true, true, true, true, address(ledger));
        emit ICustodyLedger.ObjectReceived(item, 1, DIST, GLN_DIST);
        relay.executeSigned(call, sig);
        assertEq(ledger.custodianOf(item), DIST, "received through the relay");
    }

    function test_ExecuteSigned_DeadlineIsInclusive() public {
        (ICustodyLedger.SignedCall memory call, bytes memory sig) =
            _signedWithDeadline(MFR_KEY, _registerData("r-3"), 0, block.timestamp);
        relay.executeSigned(call, sig);
    }

    function test_ExecuteSigned_RevertWhen_Replayed() public {
        (ICustodyLedger.SignedCall memory call, bytes memory sig) = _signed(MFR_KEY, _registerData("r-4"), 0);
        relay.executeSigned(call, sig);
        vm.expectRevert(abi.encodeWithSelector(Nonces.InvalidAccountNonce.selector, mfr, 1));
        relay.executeSigned(call, sig);
    }

    function test_ExecuteSigned_RevertWhen_NonceAhead() public {
        (ICustodyLedger.SignedCall memory call, bytes memory sig) = _signed(MFR_KEY, _registerData("r-5"), 1);
        vm.expectRevert(abi.encodeWithSelector(Nonces.InvalidAccountNonce.selector, mfr, 0));
        relay.executeSigned(call, sig);
    }

    function test_ExecuteSigned_RevertWhen_Expired() public {
        (ICustodyLedger.SignedCall memory call, bytes memory sig) = _signed(MFR_KEY, _registerData("r-6"), 0);
        vm.warp(deadline + 1);
        vm.expectRevert(abi.encodeWithSelector(ICustodyLedger.CustodyExpiredSignature.selector, deadline));
        relay.executeSigned(call, sig);
    }

    function test_ExecuteSigned_RevertWhen_SignedByAnotherKey() public {
        ICustodyLedger.SignedCall memory call = _call(mfr, _registerData("r-7"), 0);
        bytes memory sig = _sign(DIST_KEY, relay.hashSignedCall(call));
        vm.expectRevert(abi.encodeWithSelector(ICustodyLedger.CustodyInvalidSigner.selector, dist, mfr));
        relay.executeSigned(call, sig);
    }

    /// A signature over the digest for another chain id recovers to some other address.
    function test_ExecuteSigned_RevertWhen_SignedForAnotherChain() public {
        ICustodyLedger.SignedCall memory call = _call(mfr, _registerData("r-8"), 0);
        bytes memory sig = _sign(MFR_KEY, _digest(call, 1, address(relay)));
        address recovered = _recover(relay.hashSignedCall(call), sig);
        assertTrue(recovered != mfr, "recovers to someone else");
        vm.expectRevert(abi.encodeWithSelector(ICustodyLedger.CustodyInvalidSigner.selector, recovered, mfr));
        relay.executeSigned(call, sig);
    }

    /// A signature made on this chain is void after a fork to another chain id (the domain
    /// separator is rebuilt from block.chainid).
    function test_ExecuteSigned_RevertWhen_ChainIdChanged() public {
        (ICustodyLedger.SignedCall memory call, bytes memory sig) = _signed(MFR_KEY, _registerData("r-9"), 0);
        vm.chainId(block.chainid + 1000);
        bytes32 digestThere = _digest(call, block.chainid, address(relay));
        assertEq(relay.hashSignedCall(call), digestThere, "digest follows the chain id");
        address recovered = _recover(digestThere, sig);
        vm.expectRevert(abi.encodeWithSelector(ICustodyLedger.CustodyInvalidSigner.selector, recovered, mfr));
        relay.executeSigned(call, sig);
    }

    function test_ExecuteSigned_RevertWhen_SignedForAnotherRelay() public {
        CustodyLedger other = new CustodyLedger(admin);
        CustodyRelay otherRelay = CustodyRelay(other.relay());
        ICustodyLedger.SignedCall memory call = _call(mfr, _registerData("r-10"), 0);
        bytes memory sig = _sign(MFR_KEY, otherRelay.hashSignedCall(call));
        address recovered = _recover(relay.hashSignedCall(call), sig);
        vm.expectRevert(abi.encodeWithSelector(ICustodyLedger.CustodyInvalidSigner.selector, recovered, mfr));
        relay.executeSigned(call, sig);
    }

    /// The malleable twin (s' = n - s, v flipped) of a valid signature is refused.
    function test_ExecuteSigned_RevertWhen_HighS() public {
        ICustodyLedger.SignedCall memory call = _call(mfr, _registerData("r-11"), 0);
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(MFR_KEY, relay.hashSignedCall(call));
        bytes32 highS = bytes32(SECP256K1_N - uint256(s));
        uint8 flippedV = v == 27 ? 28 : 27;
        assertEq(ecrecover(relay.hashSignedCall(call), flippedV, r, highS), mfr, "the twin is valid for ecrecover");
        vm.expectRevert(abi.encodeWithSelector(ECDSA.ECDSAInvalidSignatureS.selector, highS));
        relay.executeSigned(call, abi.encodePacked(r, highS, flippedV));
    }

    function test_ExecuteSigned_RevertWhen_SignatureMalformed() public {
        ICustodyLedger.SignedCall memory call = _call(mfr, _registerData("r-12"), 0);
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(MFR_KEY, relay.hashSignedCall(call));
        vm.expectRevert(abi.encodeWithSelector(ECDSA.ECDSAInvalidSignatureLength.selector, 64));
        relay.executeSigned(call, abi.encodePacked(r, s));
        vm.expectRevert(ECDSA.ECDSAInvalidSignature.selector);
        relay.executeSigned(call, abi.encodePacked(bytes32(0), bytes32(0), uint8(27)));
        vm.expectRevert(ECDSA.ECDSAInvalidSignature.selector);
        relay.executeSigned(call, abi.encodePacked(r, s, v + 2));
    }

    function test_ExecuteSigned_RevertWhen_DataShorterThanSelector() public {
        (ICustodyLedger.SignedCall memory call, bytes memory sig) = _signed(MFR_KEY, hex"abcdef", 0);
        vm.expectRevert(abi.encodeWithSelector(ICustodyLedger.CustodyForbiddenCall.selector, bytes4(0)));
        relay.executeSigned(call, sig);
    }

    /// A selector the ledger does not have: the ledger reverts without data, and so does the relay.
    function test_ExecuteSigned_RevertWhen_UnknownSelector() public {
        (ICustodyLedger.SignedCall memory call, bytes memory sig) = _signed(MFR_KEY, hex"deadbeef", 0);
        (bool ok, bytes memory ret) = address(relay).call(abi.encodeCall(CustodyRelay.executeSigned, (call, sig)));
        assertFalse(ok, "reverts");
        assertEq(ret.length, 0, "without data");
        assertEq(relay.nonces(mfr), 0, "nonce not consumed");
    }

    /// The operation's own custom error bubbles up unchanged, and the nonce stays unused.
    function test_ExecuteSigned_BubblesTheOperationsError() public {
        ObjectId item = _registerItem("r-13");
        bytes memory data = abi.encodeCall(ledger.ship, (_ids(item), _info(DISP, false)));
        (ICustodyLedger.SignedCall memory call, bytes memory sig) = _signed(DIST_KEY, data, 0);
        vm.expectRevert(abi.encodeWithSelector(ICustodyLedger.CustodyNotCustodian.selector, item, DIST, MFR));
        relay.executeSigned(call, sig);
        assertEq(relay.nonces(dist), 0, "nonce not consumed by a reverted call");
    }

    /// The ledger sees the signer, not the relay nor the relayer.
    function test_ExecuteSigned_SignerWithoutPartner() public {
        (ICustodyLedger.SignedCall memory call, bytes memory sig) = _signed(OUTSIDER_KEY, _registerData("r-14"), 0);
        vm.expectRevert(abi.encodeWithSelector(ICustodyLedger.CustodyUnknownAccount.selector, outsider));
        vm.prank(mfr);
        relay.executeSigned(call, sig);
    }

    /// Appending an address to a direct call does not impersonate: only the relay is trusted.
    function test_Ledger_IgnoresAppendedSenderFromOthers() public {
        bytes memory data = abi.encodePacked(_registerData("r-15"), mfr);
        vm.prank(outsider);
        (bool ok, bytes memory ret) = address(ledger).call(data);
        assertFalse(ok, "reverts");
        assertEq(ret, abi.encodeWithSelector(ICustodyLedger.CustodyUnknownAccount.selector, outsider), "as outsider");
    }

    /// Admin operations relay like any other (the relay forbids no selector): a signed call of
    /// a non-admin is refused by AccessControl with the signer's address; the admin's runs.
    function test_ExecuteSigned_AdminOperations() public {
        bytes memory data = abi.encodeCall(ledger.setPartnerActive, (DIST, false));
        (ICustodyLedger.SignedCall memory call, bytes memory sig) = _signed(MFR_KEY, data, 0);
        vm.expectRevert(
            abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, mfr, bytes32(0))
        );
        relay.executeSigned(call, sig);
        (call, sig) = _signed(ADMIN_KEY, data, 0);
        vm.expectEmit(true, true, true, true, address(ledger));
        emit ICustodyLedger.PartnerStatusChanged(DIST, false);
        relay.executeSigned(call, sig);
    }

    // ------------------------------------------------------------ executeSignedBatch

    /// One failing operation is reported by SignedCallFailed; the others stand, each marked by
    /// SignedCallExecuted right after its ledger events; every nonce is used.
    function test_Batch_FailingEntryReportedOthersStand() public {
        ObjectId item = _registerItem("b-0");
        ICustodyLedger.SignedCall[] memory calls = new ICustodyLedger.SignedCall[](3);
        bytes[] memory sigs = new bytes[](3);
        (calls[0], sigs[0]) = _signed(MFR_KEY, _registerData("b-1"), 0);
        (calls[1], sigs[1]) = _signed(DIST_KEY, abi.encodeCall(ledger.ship, (_ids(item), _info(DISP, false))), 0);
        (calls[2], sigs[2]) = _signed(MFR2_KEY, _registerData("b-2"), 0);

        bytes memory reason = abi.encodeWithSelector(ICustodyLedger.CustodyNotCustodian.selector, item, DIST, MFR);
        vm.expectEmit(true, true, true, true, address(ledger));
        emit ICustodyLedger.ItemRegistered(
            _itemId("b-1"), _lotId(LOT), MFR, _sgtin("b-1"), LOT, EXPIRY, PRODUCED, GLN_MFR
        );
        vm.expectEmit(true, true, true, true, address(relay));
        emit CustodyRelay.SignedCallExecuted(0, mfr, 0);
        vm.expectEmit(true, true, true, true, address(relay));
        emit CustodyRelay.SignedCallFailed(1, dist, 0, reason);
        vm.expectEmit(true, true, true, true, address(ledger));
        emit ICustodyLedger.ItemRegistered(
            _itemId("b-2"), _lotId(LOT), MFR2, _sgtin("b-2"), LOT, EXPIRY, PRODUCED, GLN_MFR
        );
        vm.expectEmit(true, true, true, true, address(relay));
        emit CustodyRelay.SignedCallExecuted(2, mfr2, 0);
        vm.recordLogs();
        vm.prank(outsider);
        bool[] memory ok = relay.executeSignedBatch(calls, sigs);
        Vm.Log[] memory logs = vm.getRecordedLogs();
        bytes32[] memory relayEvents = new bytes32[](logs.length);
        uint256 count;
        for (uint256 i = 0; i < logs.length; ++i) {
            if (logs[i].emitter == address(relay)) relayEvents[count++] = logs[i].topics[0];
        }
        assertEq(count, 3, "exactly one relay event per entry");
        assertEq(relayEvents[0], CustodyRelay.SignedCallExecuted.selector, "entry 0 executed");
        assertEq(relayEvents[1], CustodyRelay.SignedCallFailed.selector, "entry 1 failed, and only that");
        assertEq(relayEvents[2], CustodyRelay.SignedCallExecuted.selector, "entry 2 executed");

        assertTrue(ok[0], "entry 0");
        assertFalse(ok[1], "entry 1 failed");
        assertTrue(ok[2], "entry 2");
        assertEq(ledger.custodianOf(_itemId("b-1")), MFR, "entry 0 stands");
        assertEq(ledger.custodianOf(_itemId("b-2")), MFR2, "entry 2 stands");
        assertEq(relay.nonces(dist), 1, "the failed entry's nonce is used");
        vm.expectRevert(abi.encodeWithSelector(Nonces.InvalidAccountNonce.selector, dist, 1));
        relay.executeSigned(calls[1], sigs[1]);
    }

    function test_Batch_SameSignerSequentialNonces() public {
        ICustodyLedger.SignedCall[] memory calls = new ICustodyLedger.SignedCall[](2);
        bytes[] memory sigs = new bytes[](2);
        (calls[0], sigs[0]) = _signed(MFR_KEY, _registerData("b-3"), 0);
        (calls[1], sigs[1]) = _signed(MFR_KEY, _registerData("b-4"), 1);
        vm.expectEmit(true, true, true, true, address(relay));
        emit CustodyRelay.SignedCallExecuted(0, mfr, 0);
        vm.expectEmit(true, true, true, true, address(relay));
        emit CustodyRelay.SignedCallExecuted(1, mfr, 1);
        bool[] memory ok = relay.executeSignedBatch(calls, sigs);
        assertTrue(ok[0] && ok[1], "both");
        assertEq(relay.nonces(mfr), 2, "two nonces used");
    }

    /// A malformed entry (here a bad signature) reverts the whole batch, earlier entries included.
    function test_Batch_RevertWhen_EntryMalformed() public {
        ICustodyLedger.SignedCall[] memory calls = new ICustodyLedger.SignedCall[](2);
        bytes[] memory sigs = new bytes[](2);
        (calls[0], sigs[0]) = _signed(MFR_KEY, _registerData("b-5"), 0);
        calls[1] = _call(mfr2, _registerData("b-6"), 0);
        sigs[1] = _sign(DISP_KEY, relay.hashSignedCall(calls[1]));
        vm.expectRevert(abi.encodeWithSelector(ICustodyLedger.CustodyInvalidSigner.selector, disp, mfr2));
        relay.executeSignedBatch(calls, sigs);
        assertEq(relay.nonces(mfr), 0, "entry 0 rolled back");
        vm.expectRevert(abi.encodeWithSelector(ICustodyLedger.CustodyUnknownObject.selector, _itemId("b-5")));
        ledger.custodianOf(_itemId("b-5"));
    }

    function test_Batch_RevertWhen_EntryReplayedOrExpired() public {
        ICustodyLedger.SignedCall[] memory calls = new ICustodyLedger.SignedCall[](2);
        bytes[] memory sigs = new bytes[](2);
        (calls[0], sigs[0]) = _signed(MFR_KEY, _registerData("b-7"), 0);
        (calls[1], sigs[1]) = (calls[0], sigs[0]);
        vm.expectRevert(abi.encodeWithSelector(Nonces.InvalidAccountNonce.selector, mfr, 1));
        relay.executeSignedBatch(calls, sigs);

        (calls[1], sigs[1]) = _signedWithDeadline(MFR_KEY, _registerData("b-8"), 1, block.timestamp - 1);
        vm.expectRevert(abi.encodeWithSelector(ICustodyLedger.CustodyExpiredSignature.selector, block.timestamp - 1));
        relay.executeSignedBatch(calls, sigs);
    }

    /// An entry starved of gas reverts the whole batch (so gas estimation cannot settle on a limit
    /// that starves entries); with enough gas the same batch runs.
    function test_Batch_RevertWhen_EntryRunsOutOfGas() public {
        ICustodyLedger.Registration[] memory regs = new ICustodyLedger.Registration[](40);
        for (uint256 i = 0; i < regs.length; ++i) {
            regs[i] = _itemReg(string.concat("g-", Strings.toString(i)), LOT);
        }
        ICustodyLedger.SignedCall[] memory calls = new ICustodyLedger.SignedCall[](1);
        bytes[] memory sigs = new bytes[](1);
        (calls[0], sigs[0]) = _signed(MFR_KEY, abi.encodeCall(ledger.registerItems, (regs)), 0);
        bytes memory batch = abi.encodeCall(relay.executeSignedBatch, (calls, sigs));

        (bool ok, bytes memory result) = address(relay).call{gas: 300_000}(batch);
        assertFalse(ok, "a starved batch reverts");
        assertEq(result, abi.encodeWithSelector(CustodyRelay.CustodyRelayOutOfGas.selector, 0), "out-of-gas error");
        assertEq(relay.nonces(mfr), 0, "nothing used");

        (ok,) = address(relay).call{gas: 10_000_000}(batch);
        assertTrue(ok, "with enough gas the batch runs");
        assertEq(ledger.custodianOf(_itemId("g-39")), MFR, "the last entry registered");
    }

    function test_Batch_RevertWhen_Empty() public {
        vm.expectRevert(ICustodyLedger.CustodyEmptyBatch.selector);
        relay.executeSignedBatch(new ICustodyLedger.SignedCall[](0), new bytes[](0));
    }

    function test_Batch_RevertWhen_TooLarge() public {
        vm.expectRevert(abi.encodeWithSelector(ICustodyLedger.CustodyBatchTooLarge.selector, 1001, 1000));
        relay.executeSignedBatch(new ICustodyLedger.SignedCall[](1001), new bytes[](1001));
    }

    function test_Batch_RevertWhen_LengthMismatch() public {
        ICustodyLedger.SignedCall[] memory calls = new ICustodyLedger.SignedCall[](2);
        bytes[] memory sigs = new bytes[](1);
        vm.expectRevert(abi.encodeWithSelector(ICustodyLedger.CustodyLengthMismatch.selector, 2, 1));
        relay.executeSignedBatch(calls, sigs);
    }

    // ------------------------------------------------------------ helpers

    function _registerData(string memory serial) private view returns (bytes memory) {
        return abi.encodeCall(ledger.registerItems, (_regs(_itemReg(serial, LOT))));
    }

    function _call(address signer, bytes memory data, uint256 nonce)
        private
        view
        returns (ICustodyLedger.SignedCall memory)
    {
        return ICustodyLedger.SignedCall({signer: signer, data: data, nonce: nonce, deadline: deadline});
    }

    function _signed(uint256 key, bytes memory data, uint256 nonce)
        private
        view
        returns (ICustodyLedger.SignedCall memory call, bytes memory sig)
    {
        return _signedWithDeadline(key, data, nonce, deadline);
    }

    function _signedWithDeadline(uint256 key, bytes memory data, uint256 nonce, uint256 deadline_)
        private
        view
        returns (ICustodyLedger.SignedCall memory call, bytes memory sig)
    {
        call = ICustodyLedger.SignedCall({signer: vm.addr(key), data: data, nonce: nonce, deadline: deadline_});
        bytes32 digest = relay.hashSignedCall(call);
        assertEq(digest, _digest(call, block.chainid, address(relay)), "relay digest = independent digest");
        sig = _sign(key, digest);
    }

    function _sign(uint256 key, bytes32 digest) private pure returns (bytes memory) {
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(key, digest);
        return abi.encodePacked(r, s, v);
    }

    function _recover(bytes32 digest, bytes memory sig) private pure returns (address) {
        bytes32 r;
        bytes32 s;
        uint8 v;
        assembly ("memory-safe") {
            r := mload(add(sig, 32))
            s := mload(add(sig, 64))
            v := byte(0, mload(add(sig, 96)))
        }
        return ecrecover(digest, v, r, s);
    }

    /// @dev EIP-712 digest computed from the standard, independently of OpenZeppelin's EIP712.
    function _digest(ICustodyLedger.SignedCall memory call, uint256 chainId, address verifyingContract)
        private
        pure
        returns (bytes32)
    {
        bytes32 domainSeparator = keccak256(
            abi.encode(DOMAIN_TYPEHASH, keccak256("CustodyRelay"), keccak256("1"), chainId, verifyingContract)
        );
        bytes32 structHash =
            keccak256(abi.encode(PARTNER_CALL_TYPEHASH, call.signer, keccak256(call.data), call.nonce, call.deadline));
        return keccak256(abi.encodePacked(hex"1901", domainSeparator, structHash));
    }
}
