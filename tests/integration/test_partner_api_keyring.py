"""Custodial keys whose account the admin removed on chain are never chosen for signing again.

The gateway here runs no worker thread, so a submission can be accepted with one account and
signed (by hand) after that account was removed.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from chain_client.events import SignedCallExecuted
from chain_client.node import AnvilNode
from gateway.partner.keyring import KeyringError
from tests.integration.test_partner_api_support import (
    GTIN,
    Stack,
    all_final,
    drive,
    new_serial,
    onboard,
    own_node,
    running,
    settle_all,
)

pytestmark = pytest.mark.integration

PROBLEM = "application/problem+json"


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AnvilNode]:
    with own_node(tmp_path_factory.mktemp("anvil")) as node:
        yield node


@pytest.fixture
def stack(node: AnvilNode, tmp_path: Path) -> Iterator[Stack]:
    with running(tmp_path, node.rpc_url, run_worker=False) as stack:
        yield stack


def item() -> dict[str, object]:
    return {"items": [{"gtin": GTIN, "serial": new_serial("KR")}]}


def test_a_removed_account_is_never_chosen_for_signing(stack: Stack) -> None:
    p = onboard(stack)
    assert p.account is not None
    keyring, ledger = stack.services.keyring, stack.ledger
    with stack.client(stack.admin_key) as admin:
        added = admin.post(f"/v1/admin/partners/{p.partner_id}/accounts", json={})
        assert added.status_code == 201 and added.json()["custodial"] is True
        removed, kept = sorted([p.account, added.json()["account"]])  # the keyring prefers the first
        assert keyring.address(p.partner_id, ledger.partner_of) == removed

        with stack.client(p.key) as client:
            before = client.post("/v1/items", json=item())  # accepted with the account about to go
            assert before.status_code == 202 and before.json()["signer"] == removed
            assert admin.delete(f"/v1/admin/partners/{p.partner_id}/accounts/{removed}").status_code == 204
            assert ledger.partner_of(removed) == 0
            after = client.post("/v1/items", json=item())
            assert after.status_code == 202 and after.json()["signer"] == kept

            assert keyring.accounts(p.partner_id) == [removed, kept]  # the keystore stays on disk…
            assert keyring.address(p.partner_id, ledger.partner_of) == kept  # …but is never chosen
            assert keyring.usable(p.partner_id, ledger.partner_of) == [kept]
            with pytest.raises(KeyringError) as refused:
                keyring.signer(p.partner_id, removed, ledger.partner_of)
            assert refused.value.code == "keyring.account_removed"

            drive(stack, all_final(stack))
            finals = settle_all(client, [before.json()["id"], after.json()["id"]])
    assert [(f["status"], f["signer"]) for f in finals] == [("confirmed", kept)] * 2
    assert [e["partner_id"] for f in finals for e in f["events"]] == [p.partner_id] * 2
    executed = [e for e in ledger.get_events(0) if isinstance(e, SignedCallExecuted)]
    assert {e.signer for e in executed if e.signer in (removed, kept)} == {kept}
    assert (ledger.relay_nonce(removed), ledger.relay_nonce(kept)) == (0, 2)


def test_with_every_custodial_account_removed_submissions_are_refused(stack: Stack) -> None:
    p = onboard(stack)
    assert p.account is not None
    with stack.client(p.key) as client, stack.client(stack.admin_key) as admin:
        accepted = client.post("/v1/items", json=item())
        assert accepted.status_code == 202
        assert admin.delete(f"/v1/admin/partners/{p.partner_id}/accounts/{p.account}").status_code == 204
        refused = client.post("/v1/items", json=item())
        assert refused.status_code == 409 and refused.headers["content-type"] == PROBLEM
        assert refused.json()["code"] == "keyring.account_removed"
        batch = client.post("/v1/batch", json={"operations": [{"operation": "register_items", **item()}]})
        assert (batch.status_code, batch.json()["code"]) == (409, "keyring.account_removed")

        drive(stack, all_final(stack))  # the one accepted earlier fails instead of being signed
        (final,) = settle_all(client, [accepted.json()["id"]])
    assert final["status"] == "failed" and final["tx_hash"] is None
    assert final["error"]["code"] == "keyring.account_removed"
    assert stack.ledger.relay_nonce(p.account) == 0
