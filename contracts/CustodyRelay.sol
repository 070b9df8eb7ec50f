// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {Nonces} from "@openzeppelin/contracts/utils/Nonces.sol";
import {ICustodyLedger} from "./ICustodyLedger.sol";

/// @title CustodyRelay
/// @notice Runs ledger operations that partners signed off chain as EIP-712 typed data
/// `PartnerCall(address signer,bytes data,uint256 nonce,uint256 deadline)`; anyone (the gateway)
/// relays them and pays the gas. Each operation runs on the ledger as if the signer had sent it.
/// @dev The ledger deploys its relay in its constructor and trusts it as its only forwarder
/// (ERC-2771 layout: the signer is appended to the calldata). The EIP-712 domain binds chain id
/// and this contract's address; per-signer sequential nonces (OpenZeppelin Nonces) stop replays;
/// OpenZeppelin ECDSA rejects malleable (high-s) signatures. Unlike OpenZeppelin's
/// ERC2771Forwarder, a failed operation reverts with the ledger's own custom error.
///
/// Batches ({executeSignedBatch}) are best-effort: every entry's signature, deadline and nonce
/// are checked and its nonce consumed; an entry whose operation reverts is reported by
/// {SignedCallFailed} and the others stand; one that runs is marked by {SignedCallExecuted},
/// after the ledger events it caused, so a relayer can attribute events to entries. A malformed entry (bad signature,
/// stale nonce, expired) reverts the whole batch: it means the relayer assembled it wrongly.
contract CustodyRelay is EIP712, Nonces {
    bytes32 public constant PARTNER_CALL_TYPEHASH =
        keccak256("PartnerCall(address signer,bytes data,uint256 nonce,uint256 deadline)");

    /// @notice The ledger this relay serves.
    address public immutable ledger;

    /// @notice Entry `index` of a signed batch ran; the ledger events it caused come right before.
    event SignedCallExecuted(uint256 index, address indexed signer, uint256 nonce);
    /// @notice Entry `index` of a signed batch failed with `reason`; the other entries stand.
    event SignedCallFailed(uint256 index, address indexed signer, uint256 nonce, bytes reason);

    /// @notice Entry `index` of a batch ran out of gas. The whole batch reverts rather than record
    /// the entry as failed: otherwise `eth_estimateGas`, which looks for the least gas at which the
    /// transaction succeeds, would settle on a limit that starves entries.
    error CustodyRelayOutOfGas(uint256 index);

    constructor(address ledger_) EIP712("CustodyRelay", "1") {
        // only LedgerBase's constructor deploys a relay, with address(this): never zero
        // slither-disable-next-line missing-zero-check
        ledger = ledger_;
    }

    /// @notice Verifies and runs one signed call; reverts with the operation's own error if it fails.
    /// @dev Requirements: deadline not passed; the signature is the signer's, for this chain and
    /// relay; the nonce is the signer's next; the data holds at least a function selector.
    function executeSigned(ICustodyLedger.SignedCall calldata call, bytes calldata signature)
        external
        returns (bytes memory)
    {
        _verify(call, signature);
        // ERC-2771 forwarding to the one trusted, immutable ledger: a low-level call appends the
        // signer to arbitrary calldata; the outcome is checked just below
        // slither-disable-next-line low-level-calls
        (bool ok, bytes memory result) = ledger.call(abi.encodePacked(call.data, call.signer));
        if (!ok) {
            // re-raise the ledger's own revert data (custom error) unchanged
            // slither-disable-next-line assembly
            assembly ("memory-safe") {
                revert(add(result, 32), mload(result))
            }
        }
        return result;
    }

    /// @notice Runs many signed calls of many signers in one transaction; returns which succeeded.
    /// @dev Requirements: 1..1000 entries, as many signatures; each entry valid as for
    /// {executeSigned}. Emits {SignedCallExecuted} or {SignedCallFailed} per entry.
    function executeSignedBatch(ICustodyLedger.SignedCall[] calldata calls, bytes[] calldata signatures)
        external
        returns (bool[] memory succeeded)
    {
        uint256 n = calls.length;
        if (n == 0) revert ICustodyLedger.CustodyEmptyBatch();
        if (n > 1000) revert ICustodyLedger.CustodyBatchTooLarge(n, 1000);
        if (signatures.length != n) revert ICustodyLedger.CustodyLengthMismatch(n, signatures.length);
        succeeded = new bool[](n);
        for (uint256 i = 0; i < n; ++i) {
            ICustodyLedger.SignedCall calldata call = calls[i];
            _verify(call, signatures[i]);
            uint256 gasBefore = gasleft();
            // The batch's purpose: one call per entry to the trusted ledger, whose failure is
            // recorded, not propagated (best-effort; the nonce is used before the call, so an
            // entry cannot run twice). The events come after the call on purpose (see above).
            // slither-disable-next-line calls-loop,low-level-calls,reentrancy-events
            (bool ok, bytes memory result) = ledger.call(abi.encodePacked(call.data, call.signer));
            // The ledger fails with custom errors and never burns all gas on purpose, so a failure
            // that left at most 1/64 of the gas (what EIP-150 keeps back) is a starved call.
            if (!ok && gasleft() <= gasBefore / 64) revert CustodyRelayOutOfGas(i);
            succeeded[i] = ok;
            if (ok) emit SignedCallExecuted(i, call.signer, call.nonce);
            else emit SignedCallFailed(i, call.signer, call.nonce, result);
        }
    }

    /// @notice EIP-712 digest a partner signs for `call`.
    function hashSignedCall(ICustodyLedger.SignedCall calldata call) public view returns (bytes32) {
        return _hashTypedDataV4(
            keccak256(abi.encode(PARTNER_CALL_TYPEHASH, call.signer, keccak256(call.data), call.nonce, call.deadline))
        );
    }

    function _verify(ICustodyLedger.SignedCall calldata call, bytes calldata signature) private {
        // signature expiry: seconds of validator drift are irrelevant at signing-deadline scale
        // slither-disable-next-line timestamp
        if (block.timestamp > call.deadline) revert ICustodyLedger.CustodyExpiredSignature(call.deadline);
        if (call.data.length < 4) revert ICustodyLedger.CustodyForbiddenCall(bytes4(0));
        address recovered = ECDSA.recover(hashSignedCall(call), signature);
        if (recovered != call.signer) revert ICustodyLedger.CustodyInvalidSigner(recovered, call.signer);
        _useCheckedNonce(call.signer, call.nonce);
    }
}
