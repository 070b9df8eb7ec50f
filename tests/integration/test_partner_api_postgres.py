"""The partner API on PostgreSQL: outbox, worker, API keys, idempotency, webhooks and crash recovery
with ``CUSTODY_DATABASE_URL=postgresql+psycopg://…`` (a throwaway server, see ``postgres_server_url``).

Each test has a database of its own (created empty: the gateway migrates it at start) and a
gateway of its own on this module's node.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import inspect

from chain_client.events import ItemRegistered, SignedCallExecuted, SignedCallFailed
from chain_client.node import AnvilNode
from gateway.partner.tables import LeaseRow, utcnow
from tests.integration.test_partner_api_support import (
    GTIN,
    HookReceiver,
    all_final,
    deliveries,
    drive,
    fast_webhooks,
    new_serial,
    onboard,
    own_node,
    running,
    settle_all,
    signed_body,
    start_stack,
    statuses,
    submit_items,
)
from tests.unit.test_indexer_support import databases, postgres_server_url

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AnvilNode]:
    with own_node(tmp_path_factory.mktemp("anvil")) as node:
        yield node


@pytest.fixture
def pg_url(tmp_path: Path) -> Iterator[str]:
    if postgres_server_url() is None:
        pytest.skip("no PostgreSQL: install pgserver and psycopg[binary], or set CUSTODY_TEST_POSTGRES_URL")
    with databases("postgresql", tmp_path) as dbs:
        yield dbs.url("partner", schema=False).replace("postgresql://", "postgresql+psycopg://", 1)


class Crash(Exception):
    """Stands for the process dying at this point."""


def test_the_gateway_runs_on_postgresql(node: AnvilNode, tmp_path: Path, pg_url: str) -> None:
    with running(tmp_path, node.rpc_url, run_worker=False, database_url=pg_url) as stack:
        engine = stack.services.engine
        assert engine.dialect.name == "postgresql"
        tables = set(inspect(engine).get_table_names())
        assert {"api_keys", "submissions", "relay_txs", "webhooks", "webhook_deliveries", "batch_requests"} <= tables


def test_submit_confirm_and_idempotency_on_postgresql(node: AnvilNode, tmp_path: Path, pg_url: str) -> None:
    receiver = HookReceiver()
    receiver.up()
    try:
        with running(tmp_path, node.rpc_url, run_worker=True, database_url=pg_url) as stack:
            fast_webhooks(stack)
            custodial, signing = onboard(stack), onboard(stack, custodial=False)
            assert signing.own is not None
            with stack.client(custodial.key) as client, stack.client(signing.key) as own:
                assert client.post("/v1/webhooks", json={"url": receiver.url}).status_code == 201
                batch = submit_items(client, 5, idempotency_key="pg-batch")
                body = {"items": [{"gtin": GTIN, "serial": new_serial("PG")}]}
                single = client.post("/v1/items", json=body, headers={"Idempotency-Key": "pg-1"})
                assert single.status_code == 202, single.text
                nonce = own.get("/v1/signed-calls/nonce", params={"signer": signing.own.address}).json()["nonce"]
                signed = own.post("/v1/signed-calls", json=signed_body(stack, signing.own, nonce))
                assert signed.status_code == 202, signed.text

                ids = [i for i, _ in batch] + [single.json()["id"]]
                finals = settle_all(client, ids) + settle_all(own, [signed.json()["id"]])
                assert [f["status"] for f in finals] == ["confirmed"] * 7, [f["error"] for f in finals]
                assert all(f["block_number"] >= 1 and f["events"][0]["event"] == "ItemRegistered" for f in finals)

                again = client.post("/v1/items", json=body, headers={"Idempotency-Key": "pg-1"})
                assert (again.status_code, again.json()["id"], again.json()["status"]) == (
                    200, single.json()["id"], "confirmed",
                )  # fmt: skip
                other = client.post("/v1/items", json={"items": [{"gtin": GTIN, "serial": new_serial("PG")}]},
                                    headers={"Idempotency-Key": "pg-1"})  # fmt: skip
                assert (other.status_code, other.json()["code"]) == (409, "idempotency.conflict")
                replay = client.post("/v1/batch", json={"operations": [
                    {"operation": "register_items", "items": [{"gtin": GTIN, "serial": s}]}
                    for s in [f["events"][0]["epc"].rsplit(".", 1)[1] for f in finals[:5]]
                ]}, headers={"Idempotency-Key": "pg-batch"})  # fmt: skip
                assert replay.status_code == 200 and [s["id"] for s in replay.json()] == ids[:5]
                assert own.get("/v1/signed-calls/nonce", params={"signer": signing.own.address}).json()["nonce"] == (
                    nonce + 1
                )
                listed = client.get("/v1/submissions", params={"status": "confirmed"}).json()
                assert {s["id"] for s in listed} == set(ids)

            # API keys: rotation and revocation on PostgreSQL too
            with stack.client(stack.admin_key) as admin:
                keys = admin.get("/v1/admin/api-keys", params={"partner_id": custodial.partner_id}).json()
                rotated = admin.post(f"/v1/admin/api-keys/{keys[0]['id']}/rotate")
                assert rotated.status_code == 201
            with stack.client(custodial.key) as old, stack.client(rotated.json()["key"]) as new:
                assert old.get("/v1/submissions").json()["code"] == "auth.invalid_key"
                assert len(new.get("/v1/submissions").json()) == 6

            def delivered() -> bool:
                rows = deliveries(stack)
                return len(rows) == 12 and {r.status for r in rows} == {"delivered"}

            wait_until(delivered)
            got = Counter(r.json["id"] for r in receiver.drain())
            assert got == Counter({r.id: 1 for r in deliveries(stack)})
    finally:
        receiver.down()


def wait_until(condition: Any, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline
        time.sleep(0.05)


def test_concurrent_repeats_of_one_idempotency_key_store_one_submission(
    node: AnvilNode, tmp_path: Path, pg_url: str
) -> None:
    with running(tmp_path, node.rpc_url, run_worker=False, database_url=pg_url) as stack:
        p = onboard(stack)
        body = {"items": [{"gtin": GTIN, "serial": new_serial("RACE")}]}
        batch = {"operations": [{"operation": "register_items", "items": [{"gtin": GTIN, "serial": new_serial("RB")}]}]}
        answers: list[tuple[int, Any]] = []
        lock = threading.Lock()
        start = threading.Barrier(8)

        def post(path: str, payload: dict[str, Any], key: str) -> None:
            with stack.client(p.key) as client:
                start.wait()
                response = client.post(path, json=payload, headers={"Idempotency-Key": key})
            with lock:
                answers.append((response.status_code, response.json()))

        threads = [threading.Thread(target=post, args=("/v1/items", body, "race")) for _ in range(4)]
        threads += [threading.Thread(target=post, args=("/v1/batch", batch, "race-batch")) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert sorted(status for status, _ in answers) == [200] * 6 + [202] * 2
        singles = {a["id"] for _, a in answers if isinstance(a, dict)}
        batches = {a[0]["id"] for _, a in answers if isinstance(a, list)}
        assert len(singles) == 1 and len(batches) == 1
        assert statuses(stack) == Counter({"pending": 2})


def test_a_crash_after_persisting_a_batch_loses_nothing_on_postgresql(
    node: AnvilNode, tmp_path: Path, pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = start_stack(tmp_path, node.rpc_url, run_worker=False, database_url=pg_url, batch_size=10)
    p = onboard(first)
    assert p.account is not None
    with first.client(p.key) as client:
        accepted = submit_items(client, 25)
    first.worker.settings = dataclasses.replace(first.worker.settings, lease_seconds=0.5)

    def crash(_: bytes) -> None:
        raise Crash

    monkeypatch.setattr(first.worker, "_broadcast", crash)  # stored and signed, never handed to the node
    with pytest.raises(Crash):
        first.worker.run_once()
    assert statuses(first) == Counter({"submitted": 10, "pending": 15})
    first.stop(crash=True)

    second = start_stack(tmp_path, node.rpc_url, run_worker=False, database_url=pg_url, batch_size=10)
    try:
        time.sleep(0.6)  # the dead worker's lease runs out
        drive(second, all_final(second))
        with second.client(p.key) as client:
            finals = settle_all(client, [i for i, _ in accepted])
        assert [f["status"] for f in finals] == ["confirmed"] * 25
        events = second.ledger.get_events(0)
        registered = Counter(e.object_id for e in events if isinstance(e, ItemRegistered))
        assert [registered[o] for _, o in accepted] == [1] * 25
        executed = Counter(e.nonce for e in events if isinstance(e, SignedCallExecuted) and e.signer == p.account)
        assert executed == Counter(range(25))
        assert not [e for e in events if isinstance(e, SignedCallFailed) and e.signer == p.account]
    finally:
        second.stop()


def test_a_lease_row_created_by_another_replica_at_the_same_moment(
    node: AnvilNode, tmp_path: Path, pg_url: str
) -> None:
    """Two replicas find no lease row and both insert one: the one that loses the race stands back
    (its INSERT waits on the other's uncommitted row, then violates the key) instead of failing."""
    with running(tmp_path, node.rpc_url, run_worker=False, database_url=pg_url) as stack:
        worker = stack.worker
        held: list[bool] = []
        errors: list[BaseException] = []

        def hold() -> None:
            try:
                held.append(worker._hold_lease())
            except BaseException as exc:
                errors.append(exc)

        with stack.services.sessions.begin() as other:
            other.add(
                LeaseRow(name=worker._lease, owner="other-replica", expires_at=utcnow() + dt.timedelta(seconds=60))
            )
            other.flush()  # inserted, not committed: the worker does not see it yet
            thread = threading.Thread(target=hold)
            thread.start()
            thread.join(1.0)
            assert thread.is_alive()  # it read no row, and its INSERT waits on the uncommitted key
        thread.join(10)
        assert (held, errors) == ([False], [])
        assert worker.run_once() == 0  # the other replica holds the outbox
