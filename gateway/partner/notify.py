"""Status notifications: durable, HMAC-signed webhooks, delivered at least once.

Server-Sent Events are served by polling the database (see the submissions router), so that any
replica can stream any submission. Webhooks go through the ``webhook_deliveries`` table:

1. :func:`enqueue` writes one delivery row per active webhook of the partner, in the database
   transaction that changes the submission's status (the outbox worker calls it), so a change is
   never committed without its notifications nor the other way round;
2. :class:`Notifier` (a thread in every gateway process) claims due rows, POSTs them and marks
   them delivered on a 2xx answer; otherwise it tries again later, with exponential backoff, until
   ``max_attempts`` (then the row is ``failed``). Rows outlive the process: a restarted gateway
   (or another replica) carries on with whatever is still pending.

A sender claims a row by pushing its ``next_attempt_at`` past the request's timeout in one
conditional UPDATE, so two replicas never post the same row at once, and a sender that died
mid-request leaves a claim that simply runs out. Delivery is at least once: a receiver may get a
delivery again (a lost answer, a crash between its 2xx and our commit) and must drop repeats by
the delivery id. A POST carries the submission as JSON and the headers ``X-Custody-Delivery``
(the delivery id, also ``id`` in the body), ``X-Custody-Event``, ``X-Custody-Timestamp`` and
``X-Custody-Signature: sha256=<hex HMAC-SHA256 of "<timestamp>.<body>" under the secret>``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import logging
import secrets
import threading
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import httpx
from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session, sessionmaker

from gateway.partner.outbox import view
from gateway.partner.tables import SubmissionRow, WebhookDeliveryRow, WebhookRow, utcnow
from gateway.partner.writes import serialized

__all__ = ["Notifier", "WebhookSettings", "backoff", "enqueue", "sign_webhook"]

log = logging.getLogger(__name__)

EVENT = "submission.status"


def sign_webhook(secret: str, timestamp: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class WebhookSettings:
    max_attempts: int = 16  # waits of 1, 2, 4 … 2048 s, then the cap 3600 s: about five hours in all
    base_delay: float = 1.0
    max_delay: float = 3600.0
    timeout: float = 5.0  # per request; a claim lasts this plus claim_margin
    claim_margin: float = 5.0
    poll_interval: float = 0.5
    batch: int = 50


def backoff(attempts: int, settings: WebhookSettings) -> float:
    """Seconds to wait after the ``attempts``-th failed attempt: base · 2^(attempts-1), capped."""
    return float(min(settings.max_delay, settings.base_delay * 2 ** max(0, attempts - 1)))


def _payload(delivery_id: str, row: SubmissionRow) -> dict[str, Any]:
    v = view(row)
    return {
        "id": delivery_id, "type": EVENT, "created_at": utcnow().isoformat(),
        "submission": {
            "id": v.id, "status": v.status, "operation": v.operation, "tx_hash": v.tx_hash,
            "block_number": v.block_number, "error": v.error, "object_ids": v.object_ids,
        },
    }  # fmt: skip


def enqueue(session: Session, submission_ids: Iterable[str]) -> int:
    """Adds a delivery of each submission's current state to each of its partner's active webhooks.

    Call it inside the transaction that changed the submissions (after the change is flushed);
    returns how many deliveries it added.
    """
    ids = list(submission_ids)
    if not ids:
        return 0
    session.flush()
    partners = set(session.scalars(select(SubmissionRow.partner_id).where(SubmissionRow.id.in_(ids)).distinct()))
    hooks = list(
        session.scalars(
            select(WebhookRow)
            .where(WebhookRow.partner_id.in_(partners), WebhookRow.active.is_(True))
            .order_by(WebhookRow.id)
        )
    )
    if not hooks:
        return 0
    rows = list(
        session.scalars(
            select(SubmissionRow).where(SubmissionRow.id.in_(ids)).execution_options(populate_existing=True)
        )
    )
    now = utcnow()
    added = 0
    for row in sorted(rows, key=lambda r: r.seq):
        for hook in hooks:
            if hook.partner_id != row.partner_id:
                continue
            delivery_id = str(uuid.uuid4())
            session.add(
                WebhookDeliveryRow(
                    id=delivery_id, webhook_id=hook.id, partner_id=row.partner_id, submission_id=row.id, event=EVENT,
                    payload=_payload(delivery_id, row), status="pending", attempts=0, next_attempt_at=now,
                    created_at=now,
                )
            )  # fmt: skip
            added += 1
    return added


class Notifier:
    """Registers webhooks and delivers what :func:`enqueue` wrote, from a thread of its own."""

    def __init__(self, sessions: sessionmaker[Session], settings: WebhookSettings | None = None) -> None:
        self._sessions = sessions
        engine = sessions.kw.get("bind")
        assert isinstance(engine, Engine), "the notifier needs a sessionmaker bound to an engine"
        self._engine: Engine = engine
        self.settings = settings or WebhookSettings()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._client = httpx.Client(timeout=self.settings.timeout)

    def add_webhook(self, partner_id: int, url: str) -> tuple[int, str]:
        secret = secrets.token_hex(32)
        with self._sessions.begin() as session:
            row = WebhookRow(partner_id=partner_id, url=url, secret=secret)
            session.add(row)
            session.flush()
            return row.id, secret

    def changed(self, submission_ids: list[str]) -> None:
        """Something was enqueued: deliver now rather than at the next poll."""
        if submission_ids:
            self._wake.set()

    def start(self) -> None:
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="webhooks", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        if self._thread is not None:
            self._stop.set()
            self._wake.set()
            self._thread.join(timeout=self.settings.timeout + 5)
            if not self._thread.is_alive():
                self._stop.clear()  # deliver_due may still be called by hand
            self._thread = None
        self._client.close()
        self._client = httpx.Client(timeout=self.settings.timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                sent = self.deliver_due()
            except Exception:  # the database away for a moment: keep the thread alive
                log.exception("webhook delivery round failed")
                sent = 0
            if not sent:
                self._wake.wait(self.settings.poll_interval)
                self._wake.clear()

    # -- one round -------------------------------------------------------------------------------

    def deliver_due(self) -> int:
        """Claims and posts the deliveries due now; returns how many it attempted."""
        attempted = 0
        for delivery_id in self._due():
            if self._stop.is_set():
                break
            claimed = self._claim(delivery_id)
            if claimed is None:
                continue  # another sender has it
            attempted += 1
            self._attempt(*claimed)
        return attempted

    def _due(self) -> list[str]:
        with self._sessions.begin() as session:
            return list(
                session.scalars(
                    select(WebhookDeliveryRow.id)
                    .where(WebhookDeliveryRow.status == "pending", WebhookDeliveryRow.next_attempt_at <= utcnow())
                    .order_by(WebhookDeliveryRow.next_attempt_at, WebhookDeliveryRow.created_at)
                    .limit(self.settings.batch)
                )
            )

    def _claim(self, delivery_id: str) -> tuple[WebhookDeliveryRow, WebhookRow] | None:
        now = utcnow()
        until = now + dt.timedelta(seconds=self.settings.timeout + self.settings.claim_margin)
        with serialized(self._engine), self._sessions.begin() as session:
            result = session.execute(
                update(WebhookDeliveryRow)
                .where(
                    WebhookDeliveryRow.id == delivery_id,
                    WebhookDeliveryRow.status == "pending",
                    WebhookDeliveryRow.next_attempt_at <= now,
                )
                .values(next_attempt_at=until, attempts=WebhookDeliveryRow.attempts + 1)
                .execution_options(synchronize_session=False)
            )
            if getattr(result, "rowcount", 0) != 1:
                return None
            delivery = session.get(WebhookDeliveryRow, delivery_id, populate_existing=True)
            assert delivery is not None
            hook = session.get(WebhookRow, delivery.webhook_id)
            if hook is None or not hook.active:
                delivery.status, delivery.last_error = "failed", "the webhook was removed or deactivated"
                return None
            session.expunge_all()
            return delivery, hook

    def _attempt(self, delivery: WebhookDeliveryRow, hook: WebhookRow) -> None:
        body = json.dumps(delivery.payload, default=str, separators=(",", ":")).encode()
        timestamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/json",
            "X-Custody-Delivery": delivery.id,
            "X-Custody-Event": delivery.event,
            "X-Custody-Timestamp": timestamp,
            "X-Custody-Signature": sign_webhook(hook.secret, timestamp, body),
        }
        error: str | None = None
        try:
            response = self._client.post(hook.url, content=body, headers=headers)
            if not 200 <= response.status_code < 300:
                error = f"HTTP {response.status_code}"
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"[:500]
        with serialized(self._engine), self._sessions.begin() as session:
            row = session.get(WebhookDeliveryRow, delivery.id)
            if row is None or row.status != "pending":
                return
            if error is None:
                row.status, row.delivered_at, row.last_error = "delivered", utcnow(), None
            elif row.attempts >= self.settings.max_attempts:
                row.status, row.last_error = "failed", error
                log.warning("webhook %s: giving up on delivery %s: %s", hook.url, delivery.id, error)
            else:
                row.last_error = error
                row.next_attempt_at = utcnow() + dt.timedelta(seconds=backoff(row.attempts, self.settings))
                log.info("webhook %s: delivery %s failed (%s); attempt %d", hook.url, delivery.id, error, row.attempts)

    def pending(self) -> int:
        """How many deliveries are still owed (for status pages and tests)."""
        with self._sessions.begin() as session:
            return len(
                list(session.scalars(select(WebhookDeliveryRow.id).where(WebhookDeliveryRow.status == "pending")))
            )
