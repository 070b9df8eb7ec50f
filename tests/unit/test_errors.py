"""Revert decoding and error codes (pure logic, no node)."""

from __future__ import annotations

import pytest
from eth_abi import encode
from eth_utils import keccak

from chain_client.artifacts import load_artifact
from chain_client.errors import ContractRevert, TransactionFailed, UnknownContract, did_you_mean, revert_code
from chain_client.ledger import CustodyLedgerClient
from chain_client.reverts import RevertDecoder


@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("CustodyNotCustodian", "custody.not_custodian"),
        ("CustodyBatchTooLarge", "custody.batch_too_large"),
        ("CustodyInvalidReceiver", "custody.invalid_receiver"),
        ("AccessControlUnauthorizedAccount", "access_control.unauthorized_account"),
        ("ECDSAInvalidSignature", "ecdsa.invalid_signature"),
        ("InvalidAccountNonce", "signature.invalid_nonce"),
        ("EnforcedPause", "pausable.enforced_pause"),
        ("SomethingElse", "contract.something_else"),
    ],
)
def test_revert_codes_are_stable(name: str, code: str) -> None:
    assert revert_code(name) == code


def _selector(signature: str) -> bytes:
    return keccak(text=signature)[:4]


@pytest.fixture(scope="module")
def decoder() -> RevertDecoder:
    return CustodyLedgerClient.revert_decoder()


def test_decodes_custom_error_with_named_arguments(decoder: RevertDecoder) -> None:
    object_id = bytes(range(32))
    data = _selector("CustodyNotCustodian(bytes32,uint32,uint32)") + encode(
        ["bytes32", "uint32", "uint32"], [object_id, 3, 1]
    )
    error = decoder.decode("0x" + data.hex())
    assert isinstance(error, ContractRevert)
    assert error.name == "CustodyNotCustodian"
    assert error.arguments == {"objectId": "0x" + object_id.hex(), "partnerId": 3, "custodian": 1}
    assert error.code == "custody.not_custodian"
    assert "CustodyNotCustodian(objectId=" in str(error)


def test_decodes_inherited_openzeppelin_errors(decoder: RevertDecoder) -> None:
    expected = {"AccessControlUnauthorizedAccount", "EnforcedPause", "InvalidAccountNonce", "ECDSAInvalidSignatureS"}
    assert expected <= set(decoder.error_names())


def test_decodes_error_string_and_panic(decoder: RevertDecoder) -> None:
    reason = decoder.decode(_selector("Error(string)") + encode(["string"], ["boom"]))
    assert isinstance(reason, ContractRevert) and reason.arguments == {"reason": "boom"}
    panic = decoder.decode(_selector("Panic(uint256)") + encode(["uint256"], [0x11]))
    assert isinstance(panic, ContractRevert) and panic.arguments == {"code": 0x11}


def test_unknown_or_empty_revert_data_is_a_transaction_failure(decoder: RevertDecoder) -> None:
    assert isinstance(decoder.decode("0xdeadbeef"), TransactionFailed)
    assert isinstance(decoder.decode("0x"), TransactionFailed)
    assert isinstance(decoder.decode(None), TransactionFailed)


def test_unknown_contract_suggests_the_close_name() -> None:
    with pytest.raises(UnknownContract, match="Did you mean 'CustodyLedger'"):
        load_artifact("CustodyLedgr")
    assert did_you_mean("zzz", ["CustodyLedger"]) == ""
