"""The durable outbox under crashes and restarts: each test builds its own gateway (and node).

A gateway "crash" stops its HTTP server without the graceful part of shutdown (the worker's lease
stays behind), with the outbox worker driven by hand and made to fail at a chosen point; a new
gateway on the same database must then finish every accepted submission exactly once. The node
restarts keep its state in a file (Anvil ``--state``).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update
from web3.exceptions import TransactionNotFound

from chain_client.events import ItemRegistered, SignedCallExecuted, SignedCallFailed
from chain_client.ledger import CustodyLedgerClient
from chain_client.node import AnvilConfig, AnvilNode, rpc_call
from gateway.core.chain import relayer_signer
from gateway.partner.tables import LeaseRow, RelayTxRow
from gateway.partner.worker import OutboxWorker
from tests.integration.test_partner_api_support import (
    GTIN,
    Stack,
    all_final,
    drive,
    item_urn,
    onboard,
    running,
    settle_all,
    start_stack,
    statuses,
    submit_items,
)

pytestmark = pytest.mark.integration


class Crash(Exception):
    """Stands for the process dying at this point."""


# --- a gateway of our own (tests/integration/test_partner_api_support.py) -----------------------------


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AnvilNode]:
    """A node of this module's own (crash tests deploy a fresh ledger per test on it)."""
    with AnvilNode(AnvilConfig(log_path=tmp_path_factory.mktemp("anvil") / "anvil.log")) as node:
        yield node


def relay_txs(stack: Stack) -> list[RelayTxRow]:
    with stack.services.sessions() as session:
        rows = list(session.scalars(select(RelayTxRow).order_by(RelayTxRow.nonce, RelayTxRow.sent_at)))
        session.expunge_all()
        return rows


def assert_exactly_once(ledger: CustodyLedgerClient, account: str, objects: list[str]) -> None:
    """Every object registered once on chain; the account's relay nonces 0..n-1 each used once."""
    events = ledger.get_events(0)
    registered = Counter(e.object_id for e in events if isinstance(e, ItemRegistered))
    assert [registered[o] for o in objects] == [1] * len(objects)
    executed = Counter(e.nonce for e in events if isinstance(e, SignedCallExecuted) and e.signer == account)
    assert executed == Counter(range(len(objects)))
    assert not [e for e in events if isinstance(e, SignedCallFailed) and e.signer == account]
    assert ledger.relay_nonce(account) == len(objects)


def expire_leases(stack: Stack) -> None:
    """Moves every lease's expiry into the past, as if its holder had been silent that long."""
    past = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    with stack.services.sessions.begin() as session:
        session.execute(update(LeaseRow).values(expires_at=past))


def shorten_lease(stack: Stack, seconds: float) -> None:
    stack.worker.settings = dataclasses.replace(stack.worker.settings, lease_seconds=seconds)


# --- the gateway crashes mid-batch ---------------------------------------------------------------------

CRASH_POINTS = ["before_persist", "after_persist", "after_broadcast"]


@pytest.mark.parametrize("point", CRASH_POINTS)
def test_a_gateway_crash_mid_batch_loses_nothing_and_sends_nothing_twice(
    node: AnvilNode, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, point: str
) -> None:
    first = start_stack(tmp_path, node.rpc_url, run_worker=False, batch_size=20)
    partner_id, key, account, _ = onboard(first)
    assert account is not None
    w3 = first.ledger.sender.w3
    relayer = relayer_signer(first.services.settings).address
    relayer_sent = w3.eth.get_transaction_count(relayer)  # type: ignore[arg-type] # the node is shared
    with first.client(key) as client:
        accepted = submit_items(client, 50)
    ids, objects = [a for a, _ in accepted], [o for _, o in accepted]
    assert statuses(first) == Counter({"pending": 50})

    worker = first.worker
    shorten_lease(first, 1.0)
    if point == "before_persist":
        monkeypatch.setattr(worker, "_sign_relay_tx", _raise)
    elif point == "after_persist":
        monkeypatch.setattr(worker, "_broadcast", _raise)
    else:
        broadcast = worker._broadcast

        def broadcast_then_die(raw: bytes) -> None:
            broadcast(raw)
            raise Crash

        monkeypatch.setattr(worker, "_broadcast", broadcast_then_die)
    with pytest.raises(Crash):
        worker.run_once()

    sent = relay_txs(first)
    if point == "before_persist":
        assert statuses(first) == Counter({"pending": 50}) and sent == []
    else:
        assert statuses(first) == Counter({"submitted": 20, "pending": 30})
        (tx,) = sent
        assert tx.status == "sent" and len(tx.submission_ids) == 20
        if point == "after_persist":  # stored, never handed to the node
            with pytest.raises(TransactionNotFound):
                w3.eth.get_transaction(tx.tx_hash)  # type: ignore[arg-type]
            assert first.ledger.relay_nonce(account) == 0
        else:  # the node has it (and, automining, mines it)
            assert w3.eth.wait_for_transaction_receipt(tx.tx_hash, timeout=10)["status"] == 1  # type: ignore[arg-type]
            assert first.ledger.relay_nonce(account) == 20
    first.stop(crash=True)

    second = start_stack(tmp_path, node.rpc_url, run_worker=False, batch_size=20)
    try:
        drive(second, all_final(second))
        with second.client(key) as client:
            finals = settle_all(client, ids)
        assert [f["status"] for f in finals] == ["confirmed"] * 50
        for final, oid in zip(finals, objects, strict=True):
            assert [(e["event"], e["object_id"], e["partner_id"]) for e in final["events"]] == [
                ("ItemRegistered", oid, partner_id)
            ]
        txs = relay_txs(second)
        assert [t.status for t in txs] == ["mined"] * 3  # 20 + 20 + 10: no batch was sent twice
        assert sorted(len(t.submission_ids) for t in txs) == [10, 20, 20]
        assert Counter(i for t in txs for i in t.submission_ids) == Counter({i: 1 for i in ids})
        if point != "before_persist":  # the stored transaction itself was (re)sent, not a new one
            assert {f["tx_hash"] for f in finals[:20]} == {sent[0].tx_hash}
        assert w3.eth.get_transaction_count(relayer) == relayer_sent + 3  # type: ignore[arg-type]
        assert_exactly_once(second.ledger, account, objects)
    finally:
        second.stop()


def _raise(*args: Any, **kwargs: Any) -> Any:
    raise Crash


# --- leases -----------------------------------------------------------------------------------------


def test_one_worker_at_a_time_holds_the_outbox(node: AnvilNode, tmp_path: Path) -> None:
    with running(tmp_path, node.rpc_url, run_worker=False) as stack:
        _, key, _, _ = onboard(stack)
        s = stack.services
        other = OutboxWorker(s.sessions, s.ledger, relayer_signer(s.settings), s.keyring, stack.worker.settings)
        with stack.client(key) as client:
            ((sid, _),) = submit_items(client, 1)
            assert stack.worker.run_once() == 1  # takes the lease, sends
            sent = client.get(f"/v1/submissions/{sid}").json()  # in a relay transaction, not yet confirmed
            assert (sent["status"], sent["block_number"], sent["events"]) == ("submitted", None, None)
            assert sent["tx_hash"] == relay_txs(stack)[0].tx_hash
            assert other.run_once() == 0  # the lease is taken: it does nothing at all, not even confirm
            assert statuses(stack) == Counter({"submitted": 1})
            expire_leases(stack)  # the first worker went quiet until its lease ran out
            assert other.run_once() == 1  # taken over: confirms what the first one sent
            assert statuses(stack) == Counter({"confirmed": 1})
            submit_items(client, 1)
            assert stack.worker.run_once() == 0  # now the other one holds it
            assert statuses(stack) == Counter({"confirmed": 1, "pending": 1})
            other.stop()  # a clean stop releases the lease at once
            drive(stack, all_final(stack))
        assert statuses(stack) == Counter({"confirmed": 2})


# --- the node restarts --------------------------------------------------------------------------------


@pytest.fixture
def state_node(tmp_path: Path) -> Iterator[AnvilNode]:
    config = AnvilConfig(state_path=tmp_path / "anvil" / "state.json", state_interval=1,
                         log_path=tmp_path / "anvil" / "anvil.log")  # fmt: skip
    node = AnvilNode(config).start()
    yield node
    node.stop()


def test_submissions_accepted_while_the_node_is_down_confirm_after_it_returns(
    state_node: AnvilNode, tmp_path: Path
) -> None:
    with running(tmp_path / "gw", state_node.rpc_url, run_worker=True) as stack:
        stack.worker.settings = dataclasses.replace(stack.worker.settings, max_backoff=0.5)
        partner_id, key, account, _ = onboard(stack)
        assert account is not None
        with stack.client(key) as client:
            before = submit_items(client, 3)
            assert [f["status"] for f in settle_all(client, [i for i, _ in before])] == ["confirmed"] * 3

            state_node.stop()  # graceful: Anvil writes its state file
            down = submit_items(client, 5)  # accepted and stored while the node is away
            health = httpx.get(f"{stack.url}/health")
            assert health.status_code == 503 and health.json()["code"] == "node.unreachable"
            time.sleep(1.0)
            assert {client.get(f"/v1/submissions/{i}").json()["status"] for i, _ in down} == {"pending"}

            state_node.start()  # same port, same state
            finals = settle_all(client, [i for i, _ in down])
            assert [f["status"] for f in finals] == ["confirmed"] * 5
        objects = [o for _, o in before + down]
        assert all(stack.ledger.custodian_of(o) == partner_id for o in objects)  # the old ones survived too
        assert_exactly_once(stack.ledger, account, objects)


def test_a_relay_transaction_lost_in_a_node_restart_is_sent_again(state_node: AnvilNode, tmp_path: Path) -> None:
    with running(tmp_path / "gw", state_node.rpc_url, run_worker=False) as stack:
        _, key, account, _ = onboard(stack)
        assert account is not None
        time.sleep(1.5)  # a periodic state dump holds the partner
        rpc_call(state_node.rpc_url, "evm_setAutomine", [False])
        with stack.client(key) as client:
            accepted = submit_items(client, 4)
        assert stack.worker.run_once() == 4
        (tx,) = relay_txs(stack)
        w3 = stack.ledger.sender.w3
        assert w3.eth.get_transaction(tx.tx_hash)["blockNumber"] is None  # type: ignore[arg-type] # in the pool

        sends: list[bytes] = []
        broadcast = stack.worker._broadcast

        def counting_broadcast(raw: bytes) -> None:
            sends.append(raw)
            broadcast(raw)

        stack.worker._broadcast = counting_broadcast  # type: ignore[method-assign]
        state_node.stop()
        state_node.start()  # automining again; the pool is gone
        drive(stack, all_final(stack))
        with stack.client(key) as client:
            finals = settle_all(client, [i for i, _ in accepted])
        assert [f["status"] for f in finals] == ["confirmed"] * 4
        assert {f["tx_hash"] for f in finals} == {tx.tx_hash}  # the very same signed bytes
        assert sends and all("0x" + raw.hex() == tx.raw for raw in sends)
        assert [t.status for t in relay_txs(stack)] == ["mined"]
        assert_exactly_once(stack.ledger, account, [o for _, o in accepted])


# --- the worker while blocks are slow ---------------------------------------------------------------


def test_a_stuck_relay_transaction_is_replaced_with_higher_fees(node: AnvilNode, tmp_path: Path) -> None:
    with running(tmp_path, node.rpc_url, run_worker=False) as stack:
        _, key, account, _ = onboard(stack)
        assert account is not None
        stack.worker.settings = dataclasses.replace(stack.worker.settings, stuck_after=0.3)
        rpc_call(node.rpc_url, "evm_setAutomine", [False])
        try:
            with stack.client(key) as client:
                accepted = submit_items(client, 3)
            assert stack.worker.run_once() == 3
            (stuck,) = relay_txs(stack)
            time.sleep(0.4)
            assert stack.worker.run_once() == 1  # replaced
            replaced, replacement = relay_txs(stack)
            assert (replaced.tx_hash, replaced.status, replacement.status) == (stuck.tx_hash, "replaced", "sent")
            assert replacement.nonce == stuck.nonce
            assert (
                replacement.max_fee > stuck.max_fee * 5 // 4 and replacement.priority_fee > stuck.priority_fee * 5 // 4
            )
            assert replacement.submission_ids == stuck.submission_ids
            rpc_call(node.rpc_url, "evm_mine")
        finally:
            rpc_call(node.rpc_url, "evm_setAutomine", [True])
        drive(stack, all_final(stack))
        with stack.client(key) as client:
            finals = settle_all(client, [i for i, _ in accepted])
        assert [(f["status"], f["tx_hash"]) for f in finals] == [("confirmed", replacement.tx_hash)] * 3
        w3 = stack.ledger.sender.w3
        with pytest.raises(TransactionNotFound):
            w3.eth.get_transaction_receipt(stuck.tx_hash)  # type: ignore[arg-type]
        assert [t.status for t in relay_txs(stack)] == ["replaced", "mined"]
        assert_exactly_once(stack.ledger, account, [o for _, o in accepted])


def test_consecutive_batches_of_one_signer_confirm_while_blocks_are_slow(node: AnvilNode, tmp_path: Path) -> None:
    """No block between three rounds (as with interval mining, or any real chain): the worker sends a
    partner's next batch while the previous one is still in the pool, continuing its relay nonces."""
    with running(tmp_path, node.rpc_url, run_worker=False) as stack:
        _, key, account, _ = onboard(stack)
        assert account is not None
        accepted: list[tuple[str, str]] = []
        rpc_call(node.rpc_url, "evm_setAutomine", [False])
        try:
            with stack.client(key) as client:
                for round_ in range(3):
                    accepted += submit_items(client, 2)
                    assert stack.worker.run_once() == 2
                    assert statuses(stack) == Counter({"submitted": 2 * (round_ + 1)})
            assert len(relay_txs(stack)) == 3
            rpc_call(node.rpc_url, "evm_mine")
        finally:
            rpc_call(node.rpc_url, "evm_setAutomine", [True])
        drive(stack, all_final(stack))
        with stack.client(key) as client:
            finals = settle_all(client, [i for i, _ in accepted])
        assert [f["status"] for f in finals] == ["confirmed"] * 6, [f["error"] for f in finals]
        txs = relay_txs(stack)
        assert [t.status for t in txs] == ["mined"] * 3  # none reverted and was sent again
        receipts = [stack.ledger.sender.w3.eth.get_transaction_receipt(t.tx_hash) for t in txs]  # type: ignore[arg-type]
        assert [r["status"] for r in receipts] == [1, 1, 1]
        assert_exactly_once(stack.ledger, account, [o for _, o in accepted])


def test_a_restart_with_a_batch_in_the_pool_does_not_reuse_its_nonces(node: AnvilNode, tmp_path: Path) -> None:
    first = start_stack(tmp_path, node.rpc_url, run_worker=False)
    _, key, account, _ = onboard(first)
    assert account is not None
    rpc_call(node.rpc_url, "evm_setAutomine", [False])
    try:
        with first.client(key) as client:
            accepted = submit_items(client, 3)
        shorten_lease(first, 0.2)
        assert first.worker.run_once() == 3  # in the pool, not mined
        first.stop(crash=True)
        second = start_stack(tmp_path, node.rpc_url, run_worker=False)
        with second.client(key) as client:
            accepted += submit_items(client, 3)
        time.sleep(0.3)
        deadline = time.monotonic() + 10
        while not second.worker.run_once():  # the new worker sends the new submissions
            assert time.monotonic() < deadline
            time.sleep(0.05)
        rpc_call(node.rpc_url, "evm_mine")
        rpc_call(node.rpc_url, "evm_mine")
    finally:
        rpc_call(node.rpc_url, "evm_setAutomine", [True])
    try:
        drive(second, all_final(second))
        with second.client(key) as client:
            finals = settle_all(client, [i for i, _ in accepted])
        assert [f["status"] for f in finals] == ["confirmed"] * 6, [f["error"] for f in finals]
        txs = relay_txs(second)
        assert [t.status for t in txs] == ["mined", "mined"]  # no batch reverted and was sent again
        receipts = [second.ledger.sender.w3.eth.get_transaction_receipt(t.tx_hash) for t in txs]  # type: ignore[arg-type]
        assert [r["status"] for r in receipts] == [1, 1]
        assert_exactly_once(second.ledger, account, [o for _, o in accepted])
    finally:
        second.stop()


# --- what the worker decides by itself ----------------------------------------------------------------


def test_one_relay_transaction_carries_good_and_failing_entries(node: AnvilNode, tmp_path: Path) -> None:
    with running(tmp_path, node.rpc_url, run_worker=False) as stack:
        _, key, account, _ = onboard(stack)
        with stack.client(key) as client:
            ((first, oid),) = submit_items(client, 1)
            drive(stack, all_final(stack))
            serial_taken = client.get(f"/v1/submissions/{first}").json()["events"][0]["epc"].rsplit(".", 1)[1]
            good = submit_items(client, 1)
            dup = client.post("/v1/items", json={"items": [{"gtin": GTIN, "serial": serial_taken}]}).json()["id"]
            good += submit_items(client, 1)
            assert stack.worker.run_once() == 3
            drive(stack, all_final(stack))
            finals = settle_all(client, [good[0][0], dup, good[1][0]])
        assert [f["status"] for f in finals] == ["confirmed", "failed", "confirmed"]
        assert len({f["tx_hash"] for f in finals}) == 1  # one relay transaction for all three
        assert (finals[1]["error"]["code"], finals[1]["error"]["arguments"]) == (
            "custody.already_registered", {"objectId": oid},
        )  # fmt: skip
        assert account is not None
        assert stack.ledger.relay_nonce(account) == 4  # a failed entry still spends its nonce


def test_a_signed_call_that_expires_in_the_queue_fails_without_being_sent(node: AnvilNode, tmp_path: Path) -> None:
    with running(tmp_path, node.rpc_url, run_worker=False) as stack:
        _, key, _, own = onboard(stack, custodial=False)
        assert own is not None
        call = stack.ledger.sign(own, "registerItems", [(item_urn("EXP1"), "", 0, 0, 0)],
                                 deadline=int(time.time()) + 2)  # fmt: skip
        body = {"signer": call.signer, "data": "0x" + call.data.hex(), "nonce": call.nonce,
                "deadline": call.deadline, "signature": "0x" + call.signature.hex()}  # fmt: skip
        with stack.client(key) as client:
            response = client.post("/v1/signed-calls", json=body)
            assert response.status_code == 202, response.text
            time.sleep(max(0.0, call.deadline - time.time()) + 1.1)
            drive(stack, all_final(stack))
            final = client.get(f"/v1/submissions/{response.json()['id']}").json()
        assert final["status"] == "failed"
        assert final["error"]["code"] == "signature.expired"
        assert final["tx_hash"] is None and relay_txs(stack) == []
        assert stack.ledger.relay_nonce(own.address) == 0
