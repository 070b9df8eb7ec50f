"""Many multi-item submissions relayed together all confirm (the worker's batches stay sendable)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import Gateway
from tests.integration.test_partner_api import GTIN, Net, accepted, new_serial, settle

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def net(gateway: Gateway) -> Iterator[Net]:
    net = Net(gateway, gateway.client(gateway.admin_key))
    net.onboard("bulk_maker", "manufacturer")
    yield net
    net.close()


# (8, 250): more work than one block holds, so the worker must split the relay batch
@pytest.mark.parametrize(("submissions", "items"), [(10, 20), (4, 250), (8, 250)])
def test_multi_item_registrations_submitted_together_all_confirm(net: Net, submissions: int, items: int) -> None:
    maker = net.bulk_maker
    ids = []
    for _ in range(submissions):
        body = {"items": [{"gtin": GTIN, "serial": new_serial("BULK"), "lot": "B1"} for _ in range(items)]}
        ids.append(accepted(maker.client.post("/v1/items", json=body))["id"])
    finals = [settle(maker.client, i, timeout=120) for i in ids]
    assert [f["status"] for f in finals] == ["confirmed"] * submissions, [f["error"] for f in finals]
    assert sum(len(f["events"]) for f in finals) == submissions * items
    w3 = net.gateway.services.chain.w3
    receipts = {f["tx_hash"]: w3.eth.get_transaction_receipt(f["tx_hash"]) for f in finals}
    used = sum(r["gasUsed"] for r in receipts.values())
    if used > w3.eth.get_block("latest")["gasLimit"]:  # the (8, 250) case: it cannot be one transaction
        assert len(receipts) > 1


def test_the_large_case_needs_more_than_one_block(net: Net) -> None:
    """Guards the (8, 250) case above: its work really is more than one block's gas limit."""
    maker = net.bulk_maker
    body = {"items": [{"gtin": GTIN, "serial": new_serial("BULKG"), "lot": "B1"} for _ in range(250)]}
    final = settle(maker.client, accepted(maker.client.post("/v1/items", json=body))["id"], timeout=120)
    w3 = net.gateway.services.chain.w3
    per_submission = w3.eth.get_transaction_receipt(final["tx_hash"])["gasUsed"]
    assert 8 * per_submission > w3.eth.get_block("latest")["gasLimit"]


def test_headroom_never_lifts_gas_over_the_block_gas_limit(net: Net) -> None:
    """The relayer adds headroom to estimates, but a batch the node estimated near the block gas
    limit must still fit in a block (a transaction asking for more is refused outright)."""
    sender = net.gateway.services.ledger.sender
    limit = int(sender.w3.eth.get_block("latest")["gasLimit"])
    assert sender.with_headroom(100_000) == int(100_000 * sender.gas_headroom)
    assert sender.with_headroom(limit - 1_000) == limit
    assert sender.with_headroom(limit) == limit
