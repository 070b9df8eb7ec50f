"""The indexer inside the gateway: the read model follows what the partner API puts on chain."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from sqlalchemy import select

from gateway.indexer import tables as t
from tests.conftest import Gateway
from tests.integration.test_partner_api import Net, new_items

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def net(gateway: Gateway) -> Iterator[Net]:
    net = Net(gateway, gateway.client(gateway.admin_key))
    net.onboard("maker", "manufacturer")
    yield net
    net.close()


def indexed_object(gateway: Gateway, object_id: str) -> t.ObjectRow | None:
    with gateway.services.sessions() as session:
        return session.scalars(select(t.ObjectRow).where(t.ObjectRow.object_id == object_id)).one_or_none()


def test_catch_up_indexes_a_registration_made_through_the_api(net: Net, gateway: Gateway) -> None:
    ((serial, oid),) = new_items(net)
    report = gateway.services.indexer.catch_up()
    row = indexed_object(gateway, oid)
    assert row is not None, report
    assert (row.serial, row.registrant, row.custodian, row.status) == (serial, net.maker.id, net.maker.id, "ACTIVE")
    status = gateway.services.indexer.status()
    assert status.last_block >= report.to_block and status.head is not None and status.last_error is None


def test_the_background_thread_follows_the_chain_and_health_reports_it(net: Net, gateway: Gateway) -> None:
    assert gateway.services.indexer.status().running
    ((_, oid),) = new_items(net)
    deadline = time.monotonic() + 30
    while indexed_object(gateway, oid) is None:  # no catch_up: the thread must get there itself
        assert time.monotonic() < deadline, gateway.services.indexer.status()
        time.sleep(0.05)
    with gateway.client() as client:
        health = client.get("/health").json()
    assert health["indexed_block"] is not None and health["indexed_block"] <= health["latest_block"]
    assert health["indexer_lag_blocks"] == health["latest_block"] - health["indexed_block"]
