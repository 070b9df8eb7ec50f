"""EIP-712 signed operations relayed through CustodyRelay against a real Anvil node."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from unittest.mock import ANY

import pytest
from eth_account.messages import encode_typed_data
from eth_utils.crypto import keccak

from chain_client.eip712 import partner_call_typed_data, recover_signer
from chain_client.errors import ContractRevert
from chain_client.events import CustodyTransferred, ItemRegistered, SignedCallExecuted, SignedCallFailed
from chain_client.ledger import CustodyLedgerClient
from chain_client.models import Registration, SignedCall
from chain_client.signers import LocalSigner
from tests.conftest import Network, Partner, sgtin, unique_serial

pytestmark = pytest.mark.integration

SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


@contextmanager
def reverts(name: str, code: str, **arguments: Any) -> Iterator[None]:
    """Expects the block to revert with exactly this custom error, code and arguments."""
    with pytest.raises(ContractRevert) as info:
        yield
    assert (info.value.name, info.value.code, info.value.arguments) == (name, code, arguments)


def b32(object_id: str) -> bytes:
    return bytes.fromhex(object_id[2:])


def signed_transfer(
    network: Network, who: Partner | LocalSigner, items: list[str], receiver: int, **kw: Any
) -> SignedCall:
    signer = who.signer if isinstance(who, Partner) else who
    return network.ledger.sign(signer, "transfer", [b32(i) for i in items], receiver, **kw)


def nonce(network: Network, who: Partner) -> int:
    return network.ledger.relay_nonce(who.signer.address)


def chain_id(network: Network) -> int:
    return network.ledger.sender.chain_id


def latest_timestamp(network: Network) -> int:
    return int(network.w3.eth.get_block("latest")["timestamp"])


def signed_by_hand(network: Network, key: LocalSigner, call: SignedCall, chain: int, relay: str) -> SignedCall:
    """``call`` signed with ``key`` for a domain of our choosing (chain id, relay address)."""
    typed = partner_call_typed_data(chain, relay, call.signer, call.data, call.nonce, call.deadline)
    return dataclasses.replace(call, signature=key.sign_typed_data(typed))


# --- one signed call -----------------------------------------------------------------------------


def test_a_relayed_call_runs_as_its_signer(network: Network) -> None:
    item = network.register()
    m, d = network.maker.id, network.distributor.id
    before = nonce(network, network.maker)
    call = signed_transfer(network, network.maker, [item], d)
    assert (call.signer, call.nonce) == (network.maker.signer.address, before)
    assert recover_signer(call, chain_id=chain_id(network), relay=network.ledger.relay_address) == call.signer

    result = network.as_(network.outsider).execute_signed(call)  # anyone relays, and pays the gas

    assert result.events == [CustodyTransferred(meta=ANY, object_id=item, sender=m, receiver=d)]
    assert result.events[0].meta.contract == network.ledger.address
    assert network.w3.eth.get_transaction(result.tx_hash)["from"] == network.outsider.address  # type: ignore[arg-type]
    assert network.ledger.custodian_of(item) == d
    assert nonce(network, network.maker) == before + 1


def test_a_relayed_registration_belongs_to_the_signers_partner(network: Network) -> None:
    epc = sgtin(unique_serial())
    call = network.ledger.sign(network.maker2.signer, "registerItems", [Registration(epc, "L9").as_abi_tuple()])
    result = network.ledger.execute_signed(call)
    event = result.of(ItemRegistered)[0]
    assert (event.epc, event.partner_id) == (epc, network.maker2.id)
    assert network.ledger.custody_of(event.object_id).registrant == network.maker2.id


def test_the_relay_hashes_what_the_client_signs(network: Network) -> None:
    call = signed_transfer(network, network.maker, [network.register()], network.distributor.id)
    typed = partner_call_typed_data(
        chain_id(network), network.ledger.relay_address, call.signer, call.data, call.nonce, call.deadline
    )
    signable = encode_typed_data(full_message=typed)
    digest = keccak(b"\x19" + signable.version + signable.header + signable.body)
    assert bytes(network.ledger.relay.functions.hashSignedCall(call.as_abi_tuple()).call()) == digest


def test_a_signed_call_runs_once(network: Network) -> None:
    item = network.register()
    call = signed_transfer(network, network.maker, [item], network.distributor.id)
    network.ledger.execute_signed(call)
    with reverts(
        "InvalidAccountNonce",
        "signature.invalid_nonce",
        account=network.maker.signer.address,
        currentNonce=call.nonce + 1,
    ):
        network.ledger.execute_signed(call)


def test_nonces_are_used_in_order(network: Network) -> None:
    item = network.register()
    current = nonce(network, network.maker)
    ahead = signed_transfer(network, network.maker, [item], network.distributor.id, nonce=current + 1)
    with reverts(
        "InvalidAccountNonce", "signature.invalid_nonce", account=network.maker.signer.address, currentNonce=current
    ):
        network.ledger.execute_signed(ahead)
    assert nonce(network, network.maker) == current


def test_an_expired_signature_is_void(network: Network) -> None:
    item = network.register()
    deadline = latest_timestamp(network) - 1
    call = signed_transfer(network, network.maker, [item], network.distributor.id, deadline=deadline)
    with reverts("CustodyExpiredSignature", "custody.expired_signature", deadline=deadline):
        network.ledger.execute_signed(call)
    assert network.ledger.custodian_of(item) == network.maker.id


def test_a_signature_by_another_key(network: Network) -> None:
    item = network.register()
    call = signed_transfer(network, network.maker, [item], network.distributor.id)
    forged = signed_by_hand(network, network.pharmacy.signer, call, chain_id(network), network.ledger.relay_address)
    recovered = recover_signer(forged, chain_id=chain_id(network), relay=network.ledger.relay_address)
    assert recovered == network.pharmacy.signer.address
    with reverts(
        "CustodyInvalidSigner", "custody.invalid_signer", recovered=recovered, signer=network.maker.signer.address
    ):
        network.ledger.execute_signed(forged)
    assert network.ledger.custodian_of(item) == network.maker.id


@pytest.mark.parametrize("domain", ["another-chain-id", "another-relay"])
def test_a_signature_for_another_domain(network: Network, domain: str) -> None:
    item = network.register()
    call = signed_transfer(network, network.maker, [item], network.distributor.id)
    chain, relay = chain_id(network), network.ledger.relay_address
    other_chain, other_relay = (1, relay) if domain == "another-chain-id" else (chain, network.ledger.address)
    elsewhere = signed_by_hand(network, network.maker.signer, call, other_chain, other_relay)
    assert recover_signer(elsewhere, chain_id=other_chain, relay=other_relay) == network.maker.signer.address
    recovered = recover_signer(elsewhere, chain_id=chain, relay=relay)  # what the relay makes of it
    assert recovered != network.maker.signer.address
    with reverts(
        "CustodyInvalidSigner", "custody.invalid_signer", recovered=recovered, signer=network.maker.signer.address
    ):
        network.ledger.execute_signed(elsewhere)


def test_data_changed_after_signing(network: Network) -> None:
    item = network.register()
    call = signed_transfer(network, network.maker, [item], network.distributor.id)
    other = network.ledger.encode("transfer", [b32(item)], network.pharmacy.id)
    tampered = dataclasses.replace(call, data=other)
    recovered = recover_signer(tampered, chain_id=chain_id(network), relay=network.ledger.relay_address)
    assert recovered != network.maker.signer.address
    with reverts(
        "CustodyInvalidSigner", "custody.invalid_signer", recovered=recovered, signer=network.maker.signer.address
    ):
        network.ledger.execute_signed(tampered)


def test_a_malleable_high_s_signature_is_refused(network: Network) -> None:
    item = network.register()
    call = signed_transfer(network, network.maker, [item], network.distributor.id)
    r, s, v = call.signature[:32], int.from_bytes(call.signature[32:64], "big"), call.signature[64]
    assert s <= SECP256K1_N // 2  # signers produce the low-s form
    high_s = SECP256K1_N - s
    twin = dataclasses.replace(call, signature=r + high_s.to_bytes(32, "big") + bytes([55 - v]))  # 27 <-> 28

    with reverts("ECDSAInvalidSignatureS", "ecdsa.invalid_signature_s", s="0x" + f"{high_s:064x}"):
        network.ledger.execute_signed(twin)

    network.ledger.execute_signed(call)  # the nonce was not spent: the original still runs, once
    assert network.ledger.custodian_of(item) == network.distributor.id


def test_a_signature_of_the_wrong_length(network: Network) -> None:
    call = signed_transfer(network, network.maker, [network.register()], network.distributor.id)
    with reverts("ECDSAInvalidSignatureLength", "ecdsa.invalid_signature_length", length=64):
        network.ledger.execute_signed(dataclasses.replace(call, signature=call.signature[:64]))


def test_the_operations_own_error_comes_back_from_the_relay(network: Network) -> None:
    item = network.register()
    m, d = network.maker.id, network.distributor.id
    before = nonce(network, network.distributor)
    call = signed_transfer(network, network.distributor, [item], network.pharmacy.id)
    with reverts("CustodyNotCustodian", "custody.not_custodian", objectId=item, partnerId=d, custodian=m):
        network.ledger.execute_signed(call)
    assert nonce(network, network.distributor) == before  # the whole call reverted, the nonce too

    outsider_call = signed_transfer(network, network.outsider, [item], d)
    with reverts("CustodyUnknownAccount", "custody.unknown_account", account=network.outsider.address):
        network.ledger.execute_signed(outsider_call)


def test_a_call_without_a_function_selector(network: Network) -> None:
    from chain_client.eip712 import sign_call

    current = nonce(network, network.maker)
    call = sign_call(
        network.maker.signer,
        chain_id=chain_id(network),
        relay=network.ledger.relay_address,
        data=b"\x01\x02\x03",
        nonce=current,
        deadline=latest_timestamp(network) + 3600,
    )
    with reverts("CustodyForbiddenCall", "custody.forbidden_call", selector="0x00000000"):
        network.ledger.execute_signed(call)


# --- batches -------------------------------------------------------------------------------------


def test_a_batch_applies_every_entry_but_the_failing_one(network: Network) -> None:
    items = network.register_many(3)
    m, d, aid = network.maker.id, network.distributor.id, network.auditor.id
    network.as_(network.maker).transfer([items[2]], d)
    n = nonce(network, network.maker)
    dn = nonce(network, network.distributor)
    calls = [
        signed_transfer(network, network.maker, [items[0]], d, nonce=n),
        signed_transfer(network, network.maker, [items[1]], aid, nonce=n + 1),  # an auditor holds nothing
        signed_transfer(network, network.distributor, [items[2]], network.pharmacy.id, nonce=dn),
    ]

    result = network.ledger.execute_signed_batch(calls)

    maker_account, distributor_account = network.maker.signer.address, network.distributor.signer.address
    assert result.events == [  # each entry's ledger events, then the relay's mark of the entry
        CustodyTransferred(meta=ANY, object_id=items[0], sender=m, receiver=d),
        SignedCallExecuted(meta=ANY, index=0, signer=maker_account, nonce=n),
        SignedCallFailed(meta=ANY, index=1, signer=maker_account, nonce=n + 1, reason=ANY),
        CustodyTransferred(meta=ANY, object_id=items[2], sender=d, receiver=network.pharmacy.id),
        SignedCallExecuted(meta=ANY, index=2, signer=distributor_account, nonce=dn),
    ]
    failure = CustodyLedgerClient.revert_decoder().decode(result.of(SignedCallFailed)[0].reason)
    assert isinstance(failure, ContractRevert)
    assert (failure.name, failure.code, failure.arguments) == (
        "CustodyInvalidReceiver",
        "custody.invalid_receiver",
        {"receiver": aid},
    )
    assert result.of(SignedCallFailed)[0].meta.contract == network.ledger.relay_address
    assert [network.ledger.custodian_of(i) for i in items] == [d, m, network.pharmacy.id]
    assert (nonce(network, network.maker), nonce(network, network.distributor)) == (n + 2, dn + 1)  # all consumed


@pytest.mark.parametrize("fault", ["stale-nonce", "expired", "wrong-key"])
def test_a_malformed_entry_reverts_the_whole_batch(network: Network, fault: str) -> None:
    first, second = network.register_many(2)
    d = network.distributor.id
    n = nonce(network, network.maker)
    good = signed_transfer(network, network.maker, [first], d, nonce=n)
    if fault == "stale-nonce":
        bad = signed_transfer(network, network.maker, [second], d, nonce=n)
        expected: dict[str, Any] = {
            "name": "InvalidAccountNonce",
            "code": "signature.invalid_nonce",
            "account": network.maker.signer.address,
            "currentNonce": n + 1,
        }
    elif fault == "expired":
        deadline = latest_timestamp(network) - 1
        bad = signed_transfer(network, network.maker, [second], d, nonce=n + 1, deadline=deadline)
        expected = {"name": "CustodyExpiredSignature", "code": "custody.expired_signature", "deadline": deadline}
    else:
        unsigned = signed_transfer(network, network.maker, [second], d, nonce=n + 1)
        bad = signed_by_hand(
            network, network.pharmacy.signer, unsigned, chain_id(network), network.ledger.relay_address
        )
        expected = {
            "name": "CustodyInvalidSigner",
            "code": "custody.invalid_signer",
            "recovered": network.pharmacy.signer.address,
            "signer": network.maker.signer.address,
        }
    name, code = expected.pop("name"), expected.pop("code")
    with reverts(name, code, **expected):
        network.ledger.execute_signed_batch([good, bad])
    assert network.ledger.custodian_of(first) == network.maker.id  # the good entry did not stand either
    assert nonce(network, network.maker) == n


def test_batch_size_limits(network: Network) -> None:
    with reverts("CustodyEmptyBatch", "custody.empty_batch"):
        network.ledger.execute_signed_batch([])
    dummy = SignedCall(network.maker.signer.address, b"", 0, 0, bytes(65))
    with reverts("CustodyBatchTooLarge", "custody.batch_too_large", size=1001, maxSize=1000):
        network.ledger.execute_signed_batch([dummy] * 1001)
    call = signed_transfer(network, network.maker, [network.register()], network.distributor.id)
    mismatched = network.ledger.relay.functions.executeSignedBatch([call.as_abi_tuple()] * 2, [call.signature])
    with reverts("CustodyLengthMismatch", "custody.length_mismatch", calls=2, signatures=1):
        network.ledger.sender.estimate_gas(
            {"to": network.ledger.relay_address, "data": mismatched._encode_transaction_data()}
        )
