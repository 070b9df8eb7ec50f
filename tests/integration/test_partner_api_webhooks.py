"""Durable webhooks: deliveries are stored with the status change, retried with backoff until the
receiver answers, signed, and resumed by a restarted gateway; each delivery id arrives once.

The receiver is a real HTTP server that is down (connection refused) at first; gateways of their
own run on this module's node.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from chain_client.node import AnvilNode
from gateway.partner import worker as worker_module
from gateway.partner.notify import backoff
from tests.integration.test_partner_api_support import (
    HookReceiver,
    Received,
    Stack,
    all_final,
    deliveries,
    drive,
    fast_webhooks,
    onboard,
    own_node,
    running,
    settle_all,
    start_stack,
    statuses,
    submit_items,
)

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AnvilNode]:
    with own_node(tmp_path_factory.mktemp("anvil")) as node:
        yield node


@pytest.fixture
def receiver() -> Iterator[HookReceiver]:
    hook = HookReceiver()
    yield hook
    hook.down()


def add_hook(stack: Stack, key: str, url: str) -> str:
    with stack.client(key) as client:
        response = client.post("/v1/webhooks", json={"url": url})
    assert response.status_code == 201, response.text
    return str(response.json()["secret"])


def wait_for(condition: Any, timeout: float = 30.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def check_signed(received: Received, secret: str) -> dict[str, Any]:
    headers = {k.lower(): v for k, v in received.headers.items()}
    timestamp = headers["x-custody-timestamp"]
    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + received.body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(headers["x-custody-signature"], f"sha256={expected}")
    assert headers["content-type"] == "application/json"
    assert headers["x-custody-event"] == "submission.status"
    body: dict[str, Any] = received.json
    assert body["id"] == headers["x-custody-delivery"] and body["type"] == "submission.status"
    return body


def attempted(stack: Stack, times: int) -> bool:
    rows = deliveries(stack)
    return bool(rows) and min(r.attempts for r in rows) >= times


def all_delivered(stack: Stack) -> bool:
    rows = deliveries(stack)
    return bool(rows) and {r.status for r in rows} == {"delivered"}


def test_a_receiver_down_at_first_gets_every_delivery_once_it_is_up(
    node: AnvilNode, tmp_path: Path, receiver: HookReceiver
) -> None:
    with running(tmp_path, node.rpc_url, run_worker=True) as stack:
        fast_webhooks(stack)
        p = onboard(stack)
        bystander = onboard(stack)
        secret = add_hook(stack, p.key, receiver.url)
        with stack.client(p.key) as client, stack.client(bystander.key) as other:
            ids = [i for i, _ in submit_items(client, 3)]
            submit_items(other, 2)  # another partner's, without a webhook: nothing to deliver
            finals = settle_all(client, ids)
        assert [f["status"] for f in finals] == ["confirmed"] * 3

        # one delivery per change the worker made (submitted, confirmed), retried while the receiver is down
        wait_for(lambda: attempted(stack, 3), what="three failed attempts each")
        rows = deliveries(stack)
        assert Counter((r.submission_id, r.payload["submission"]["status"]) for r in rows) == Counter(
            {(i, s): 1 for i in ids for s in ("submitted", "confirmed")}
        )
        assert {r.status for r in rows} == {"pending"} and all("ConnectError" in (r.last_error or "") for r in rows)
        assert {r.partner_id for r in rows} == {p.partner_id}
        assert receiver.drain() == []

        receiver.up()
        wait_for(lambda: all_delivered(stack), what="every delivery")
        time.sleep(0.5)  # anything sent twice would have arrived by now
        got = receiver.drain()
    bodies = [check_signed(r, secret) for r in got]
    assert Counter(b["id"] for b in bodies) == Counter({r.id: 1 for r in rows})  # each delivery id exactly once
    by_id = {r.id: r for r in rows}
    for body in bodies:
        row = by_id[body["id"]]
        assert body["submission"]["id"] == row.submission_id
        assert body["submission"] == row.payload["submission"]
    confirmed = {b["submission"]["id"]: b["submission"] for b in bodies if b["submission"]["status"] == "confirmed"}
    assert {(s["tx_hash"], s["block_number"]) for s in confirmed.values()} == {
        (f["tx_hash"], f["block_number"]) for f in finals
    }


def test_retries_back_off_exponentially_on_error_answers(
    node: AnvilNode, tmp_path: Path, receiver: HookReceiver
) -> None:
    answers = [503, 500, 404, 503]  # the first four answers are errors, then 204
    receiver.failures = list(answers)
    receiver.up()
    with running(tmp_path, node.rpc_url, run_worker=False) as stack:
        fast_webhooks(stack, base_delay=0.2, max_delay=5.0)
        p = onboard(stack)
        secret = add_hook(stack, p.key, receiver.url)
        notifier = stack.services.notifier
        notifier.stop()  # delivered by hand below, one attempt at a time
        with stack.client(p.key) as client:
            submit_items(client, 1)
        assert stack.worker.run_once() == 1  # sent: one change, one delivery
        (row,) = deliveries(stack)
        for attempt in range(1, 6):
            while True:
                before = dt.datetime.now(dt.UTC)
                tried = notifier.deliver_due()
                after = dt.datetime.now(dt.UTC)
                if tried:
                    break
                time.sleep(0.02)
            (now,) = deliveries(stack)
            assert now.attempts == attempt
            if attempt == 5:
                assert (now.status, now.last_error) == ("delivered", None)
                break
            assert (now.status, now.last_error) == ("pending", f"HTTP {answers[attempt - 1]}")
            wait = dt.timedelta(seconds=backoff(attempt, notifier.settings))  # 0.2 s, 0.4 s, 0.8 s, 1.6 s
            assert before + wait <= _utc(now.next_attempt_at) <= after + wait
        assert [backoff(n, notifier.settings) for n in range(1, 7)] == [0.2, 0.4, 0.8, 1.6, 3.2, 5.0]
    bodies = [check_signed(r, secret) for r in receiver.drain()]
    assert [b["id"] for b in bodies] == [row.id]


def _utc(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def test_deliveries_owed_at_a_crash_are_delivered_after_the_restart(
    node: AnvilNode, tmp_path: Path, receiver: HookReceiver
) -> None:
    first = start_stack(tmp_path, node.rpc_url, run_worker=False)
    fast_webhooks(first, claim_margin=0.5)
    p = onboard(first)
    secret = add_hook(first, p.key, receiver.url)
    with first.client(p.key) as client:
        ids = [i for i, _ in submit_items(client, 2)]
    drive(first, all_final(first))
    wait_for(lambda: attempted(first, 1), what="a failed attempt each")
    # the process dies while posting: whatever it claimed stays claimed, and no answer is recorded
    claimed = threading.Event()

    def die_while_posting(*_: Any) -> None:
        claimed.set()
        raise RuntimeError("the process died here")

    first.services.notifier._attempt = die_while_posting  # type: ignore[method-assign, assignment]
    assert claimed.wait(10)
    first.stop(crash=True)
    owed = deliveries(first)
    assert len(owed) == 4 and {r.status for r in owed} == {"pending"}

    receiver.up()
    second = start_stack(tmp_path, node.rpc_url, run_worker=False)
    try:
        fast_webhooks(second)
        wait_for(lambda: all_delivered(second), what="the owed deliveries")
        time.sleep(0.5)
        got = receiver.drain()
        rows = deliveries(second)
    finally:
        second.stop()
    bodies = [check_signed(r, secret) for r in got]
    assert Counter(b["id"] for b in bodies) == Counter({r.id: 1 for r in owed})
    assert {(b["submission"]["id"], b["submission"]["status"]) for b in bodies} == {
        (i, s) for i in ids for s in ("submitted", "confirmed")
    }
    assert {r.id for r in rows} == {r.id for r in owed}  # the restart wrote none anew


def test_a_status_change_and_its_deliveries_commit_together(
    node: AnvilNode, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, receiver: HookReceiver
) -> None:
    with running(tmp_path, node.rpc_url, run_worker=False) as stack:
        p = onboard(stack)
        add_hook(stack, p.key, receiver.url)
        with stack.client(p.key) as client:
            submit_items(client, 2)

        def broken(*_: Any) -> int:
            raise RuntimeError("the delivery rows cannot be written")

        monkeypatch.setattr(worker_module, "enqueue", broken)
        with pytest.raises(RuntimeError):
            stack.worker.run_once()
        assert statuses(stack) == Counter({"pending": 2})  # the change rolled back with its deliveries
        assert deliveries(stack) == []
        monkeypatch.undo()
        drive(stack, all_final(stack))
        assert statuses(stack) == Counter({"confirmed": 2})
        assert Counter(r.payload["submission"]["status"] for r in deliveries(stack)) == Counter(
            {"submitted": 2, "confirmed": 2}
        )
