"""The outbox's direct calldata encoder gives the same bytes as web3, and the keyring's cache of
the ledger's answers about accounts ages and forgets as documented. No node."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from web3 import Web3

from chain_client.artifacts import load_artifact
from gateway.partner.abi import CallEncoder
from gateway.partner.keyring import OwnerCache
from tests.unit.test_partner_operations import CASES, resolved

LEDGER_ABI = load_artifact("CustodyLedger").abi
RELAY_ABI = load_artifact("CustodyRelay").abi
LEDGER = Web3().eth.contract(abi=LEDGER_ABI)
RELAY = Web3().eth.contract(abi=RELAY_ABI)
SIGNER = "0x8ba1f109551bD432803012645Ac136ddd64DBA72"


def web3_calldata(contract: Any, function: str, *args: Any) -> bytes:
    return bytes.fromhex(contract.get_function_by_name(function)(*args)._encode_transaction_data()[2:])


@pytest.mark.parametrize("name", sorted(CASES))
def test_every_operation_encodes_as_web3_does(name: str) -> None:
    call = resolved(CASES[name][0])
    assert CallEncoder(LEDGER_ABI).encode(call.function, *call.args) == web3_calldata(LEDGER, call.function, *call.args)


def test_a_large_transfer_encodes_as_web3_does() -> None:
    ids = [bytes([i]) * 32 for i in range(200)]
    assert CallEncoder(LEDGER_ABI).encode("transfer", ids, 7) == web3_calldata(LEDGER, "transfer", ids, 7)


def test_the_relay_batch_encodes_as_web3_does() -> None:
    entries = [(SIGNER, bytes(range(i + 1)), i, 2_000_000_000 + i) for i in range(5)]
    signatures = [bytes([i]) * 65 for i in range(5)]
    assert CallEncoder(RELAY_ABI).encode("executeSignedBatch", entries, signatures) == web3_calldata(
        RELAY, "executeSignedBatch", entries, signatures
    )
    assert CallEncoder(LEDGER_ABI).encode("partnerOf", SIGNER) == web3_calldata(LEDGER, "partnerOf", SIGNER)


def test_unknown_functions_and_wrong_arity_are_refused() -> None:
    encoder = CallEncoder(LEDGER_ABI)
    with pytest.raises(ValueError, match="no single function named 'nope'"):
        encoder.encode("nope")
    with pytest.raises(TypeError, match="transfer takes 2 arguments, got 1"):
        encoder.encode("transfer", [])


def test_overloaded_functions_are_refused_by_name() -> None:
    abi = [
        {"type": "function", "name": "f", "inputs": [{"name": "a", "type": "uint256"}], "outputs": []},
        {"type": "function", "name": "f", "inputs": [{"name": "a", "type": "address"}], "outputs": []},
    ]
    with pytest.raises(ValueError, match="no single function named 'f'"):
        CallEncoder(abi).encode("f", 1)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_owner_answers_age_out_and_are_forgotten() -> None:
    clock = Clock()
    cache = OwnerCache(clock)
    reads: list[str] = []

    def chain(account: str) -> int:
        reads.append(account)
        return 3

    recent = cache.recent(chain, max_age=5.0)
    lower = SIGNER.lower()
    assert recent(SIGNER) == 3 and reads == [SIGNER]  # first use: asks the chain
    assert recent(lower) == 3 and reads == [SIGNER]  # remembered, whatever the address's case
    clock.now += 5.0
    assert cache.get(SIGNER, max_age=5.0) == 3  # still recent at exactly max_age
    clock.now += 0.1
    assert cache.get(SIGNER, max_age=5.0) is None
    assert recent(SIGNER) == 3 and reads == [SIGNER, SIGNER]  # too old: asks again
    cache.forget(SIGNER)
    assert cache.get(SIGNER, max_age=5.0) is None
    cache.remembering(lambda account: 0)(SIGNER)  # a fresh read (e.g. the worker's) is recorded
    assert cache.get(SIGNER, max_age=5.0) == 0
    cache.forget()
    assert cache.get(SIGNER, max_age=5.0) is None


def test_an_answer_in_use_is_renewed_in_the_background_before_it_ages_out() -> None:
    clock = Clock()
    cache = OwnerCache(clock)
    release, reading = threading.Event(), threading.Event()
    reads: list[str] = []

    def chain(account: str) -> int:
        reads.append(account)
        if len(reads) > 1:  # the renewals: held until released
            reading.set()
            assert release.wait(10)
        if len(reads) == 3:
            raise OSError("node away")
        return 3

    recent = cache.recent(chain, max_age=5.0, refresh_after=2.5)
    assert recent(SIGNER) == 3 and len(reads) == 1  # first use: read in line
    clock.now += 2.0
    assert recent(SIGNER) == 3 and len(reads) == 1  # young enough: no read
    clock.now += 1.0  # 3 s old: answered at once, and read again behind the caller
    assert recent(SIGNER) == 3
    assert reading.wait(10) and len(reads) == 2
    assert recent(SIGNER) == 3 and len(reads) == 2  # one renewal per account at a time
    clock.now += 1.0
    release.set()
    _wait_until(lambda: cache.get(SIGNER, max_age=0.0) == 3)  # recorded as read just now
    release.clear()
    reading.clear()
    clock.now += 3.0  # renewed 3 s ago: renew again, and this read fails
    assert recent(SIGNER) == 3
    assert reading.wait(10)
    release.set()
    _wait_until(lambda: len(reads) == 3 and not cache._refreshing)
    assert cache.get(SIGNER, max_age=3.0) == 3  # the failure keeps the old answer to age out
    clock.now += 2.1  # past max_age: read in line again
    assert recent(SIGNER) == 3 and len(reads) == 4


def _wait_until(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 10
    while not condition():
        assert time.monotonic() < deadline
        time.sleep(0.01)
