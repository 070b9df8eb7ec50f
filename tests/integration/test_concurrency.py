"""Concurrent senders of one account: the nonce manager keeps them apart."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from chain_client.ledger import CustodyLedgerClient
from tests.conftest import Network

pytestmark = pytest.mark.integration


def test_four_threads_fifty_transfers_each_from_one_account(network: Network) -> None:
    items = network.register_many(200)
    sender = network.as_(network.maker)  # one client, one account, shared by the threads
    receiver = network.distributor.id
    start_nonce = network.w3.eth.get_transaction_count(network.maker.signer.address)

    def worker(chunk: list[str], client: CustodyLedgerClient = sender) -> list[str]:
        return [client.transfer([i], receiver).tx_hash for i in chunk]

    with ThreadPoolExecutor(max_workers=4) as pool:
        hashes = [h for chunk in pool.map(worker, [items[k::4] for k in range(4)]) for h in chunk]

    assert len(hashes) == len(set(hashes)) == 200
    nonces = sorted(int(network.w3.eth.get_transaction(h)["nonce"]) for h in hashes)  # type: ignore[arg-type]
    assert nonces == list(range(start_nonce, start_nonce + 200))
    receipts = [network.w3.eth.get_transaction_receipt(h) for h in hashes]  # type: ignore[arg-type]
    assert all(r["status"] == 1 for r in receipts)
    assert {network.ledger.custodian_of(i) for i in items} == {receiver}
