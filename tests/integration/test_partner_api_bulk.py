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


@pytest.mark.parametrize(("submissions", "items"), [(10, 20), (4, 250)])
def test_multi_item_registrations_submitted_together_all_confirm(net: Net, submissions: int, items: int) -> None:
    maker = net.bulk_maker
    ids = []
    for _ in range(submissions):
        body = {"items": [{"gtin": GTIN, "serial": new_serial("BULK"), "lot": "B1"} for _ in range(items)]}
        ids.append(accepted(maker.client.post("/v1/items", json=body))["id"])
    finals = [settle(maker.client, i, timeout=120) for i in ids]
    assert [f["status"] for f in finals] == ["confirmed"] * submissions, [f["error"] for f in finals]
    assert sum(len(f["events"]) for f in finals) == submissions * items
