"""Durable webhook deliveries without a node: what enqueue writes, claims, retries and giving up,
on SQLite and PostgreSQL (the HTTP side against a closed local port)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from chain_client.node import free_port
from gateway.db import session_factory
from gateway.partner.notify import Notifier, WebhookSettings, backoff, enqueue
from gateway.partner.tables import SubmissionRow, WebhookDeliveryRow, WebhookRow, utcnow
from tests.unit.test_indexer_support import BACKENDS, databases


@pytest.fixture(params=BACKENDS)
def sessions(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[sessionmaker[Session]]:
    with databases(request.param, tmp_path) as dbs:
        yield session_factory(dbs.new("notify"))


def submission(session: Session, partner_id: int, status: str = "submitted") -> str:
    row = SubmissionRow(
        id=str(uuid.uuid4()), partner_id=partner_id, operation="registerItems", request={}, request_hash="0" * 64,
        mode="custodial", signer="0x" + "11" * 20, call_data="0x00", status=status, attempts=0,
    )  # fmt: skip
    session.add(row)
    return row.id


def hook(session: Session, partner_id: int, url: str = "http://127.0.0.1:9/hook", active: bool = True) -> int:
    row = WebhookRow(partner_id=partner_id, url=url, secret="s" * 64, active=active)
    session.add(row)
    session.flush()
    return row.id


def all_deliveries(sessions: sessionmaker[Session]) -> list[WebhookDeliveryRow]:
    with sessions() as session:
        rows = list(session.scalars(select(WebhookDeliveryRow).order_by(WebhookDeliveryRow.created_at)))
        session.expunge_all()
        return rows


def test_backoff_doubles_from_the_base_up_to_the_cap() -> None:
    settings = WebhookSettings(base_delay=1.0, max_delay=30.0)
    assert [backoff(n, settings) for n in range(1, 8)] == [1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0]


def test_enqueue_writes_one_delivery_per_active_webhook_of_the_partner(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        mine, theirs, silent = submission(session, 1), submission(session, 2), submission(session, 3)
        first, second = hook(session, 1), hook(session, 1)
        hook(session, 1, active=False)
        other = hook(session, 2)
        session.flush()
        session.execute(update(SubmissionRow).where(SubmissionRow.id == mine).values(status="confirmed"))
        assert enqueue(session, [mine, theirs, silent]) == 3
    rows = all_deliveries(sessions)
    assert Counter((r.submission_id, r.webhook_id) for r in rows) == Counter(
        {(mine, first): 1, (mine, second): 1, (theirs, other): 1}
    )
    for row in rows:
        assert (row.status, row.attempts, row.event) == ("pending", 0, "submission.status")
        assert row.payload["id"] == row.id and row.payload["submission"]["id"] == row.submission_id
    assert {r.payload["submission"]["status"] for r in rows if r.submission_id == mine} == {"confirmed"}
    with sessions.begin() as session:
        assert enqueue(session, []) == 0 and enqueue(session, [silent]) == 0


def test_a_claimed_delivery_is_posted_by_one_sender_until_the_claim_runs_out(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        sid = submission(session, 1)
        hook(session, 1)
        session.flush()
        enqueue(session, [sid])
    (row,) = all_deliveries(sessions)
    one, two = Notifier(sessions), Notifier(sessions)
    try:
        claimed = one._claim(row.id)
        assert claimed is not None and claimed[0].attempts == 1
        assert two._claim(row.id) is None  # taken
        with sessions.begin() as session:  # the first sender died; its claim runs out
            session.execute(update(WebhookDeliveryRow).values(next_attempt_at=utcnow() - dt.timedelta(seconds=1)))
        again = two._claim(row.id)
        assert again is not None and again[0].attempts == 2
    finally:
        one.stop()
        two.stop()


def test_failed_attempts_wait_longer_each_time_then_give_up(sessions: sessionmaker[Session]) -> None:
    closed = f"http://127.0.0.1:{free_port()}/hook"  # nothing listens: connection refused
    with sessions.begin() as session:
        sid = submission(session, 1)
        hook(session, 1, url=closed)
        session.flush()
        enqueue(session, [sid])
    notifier = Notifier(sessions, WebhookSettings(max_attempts=3, base_delay=10.0, timeout=1.0))
    try:
        for attempt in (1, 2, 3):
            with sessions.begin() as session:  # due now
                session.execute(update(WebhookDeliveryRow).values(next_attempt_at=utcnow()))
            before = utcnow()
            assert notifier.deliver_due() == 1
            assert notifier.deliver_due() == 0  # not due again yet
            (row,) = all_deliveries(sessions)
            assert row.attempts == attempt and "ConnectError" in (row.last_error or "")
            if attempt < 3:
                assert row.status == "pending"
                due = row.next_attempt_at if row.next_attempt_at.tzinfo else row.next_attempt_at.replace(tzinfo=dt.UTC)
                assert due >= before + dt.timedelta(seconds=10.0 * 2 ** (attempt - 1))
        assert row.status == "failed" and notifier.pending() == 0
    finally:
        notifier.stop()
