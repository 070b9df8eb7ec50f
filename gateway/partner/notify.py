"""Status notifications: HMAC-signed webhooks, pushed by the process whose worker changed them.

Server-Sent Events are served by polling the database (see the submissions router), so that any
replica can stream any submission; webhooks go out from the worker's process, once per change.
A webhook POST carries the submission as JSON and the headers ``X-Custody-Timestamp`` and
``X-Custody-Signature: sha256=<hex HMAC-SHA256 of "<timestamp>.<body>" under the secret>``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import queue
import secrets
import threading
import time
from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from gateway.partner.outbox import view
from gateway.partner.tables import SubmissionRow, WebhookRow

__all__ = ["Notifier", "sign_webhook"]

log = logging.getLogger(__name__)


def sign_webhook(secret: str, timestamp: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


class Notifier:
    def __init__(self, sessions: sessionmaker[Session], retries: int = 3) -> None:
        self._sessions = sessions
        self._queue: queue.Queue[list[str] | None] = queue.Queue()
        self._retries = retries
        self._thread: threading.Thread | None = None
        self._client = httpx.Client(timeout=5.0)

    def add_webhook(self, partner_id: int, url: str) -> tuple[int, str]:
        secret = secrets.token_hex(32)
        with self._sessions.begin() as session:
            row = WebhookRow(partner_id=partner_id, url=url, secret=secret)
            session.add(row)
            session.flush()
            return row.id, secret

    def changed(self, submission_ids: list[str]) -> None:
        if submission_ids:
            self._queue.put(list(submission_ids))

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="webhooks", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(timeout=10)
            self._thread = None
        self._client.close()

    def _run(self) -> None:
        while True:
            ids = self._queue.get()
            if ids is None:
                return
            try:
                self._deliver(ids)
            except Exception:
                log.exception("webhook delivery failed")

    def _deliver(self, ids: list[str]) -> None:
        with self._sessions.begin() as session:
            rows = list(session.scalars(select(SubmissionRow).where(SubmissionRow.id.in_(ids))))
            partners = {r.partner_id for r in rows}
            hooks = list(
                session.scalars(
                    select(WebhookRow).where(WebhookRow.partner_id.in_(partners), WebhookRow.active.is_(True))
                )
            )
            payloads = [(r.partner_id, _payload(r)) for r in rows]
        for partner_id, payload in payloads:
            body = json.dumps(payload, default=str, separators=(",", ":")).encode()
            for hook in hooks:
                if hook.partner_id == partner_id:
                    self._post(hook, body)

    def _post(self, hook: WebhookRow, body: bytes) -> None:
        for attempt in range(self._retries):
            timestamp = str(int(time.time()))
            headers = {
                "Content-Type": "application/json",
                "X-Custody-Timestamp": timestamp,
                "X-Custody-Signature": sign_webhook(hook.secret, timestamp, body),
            }
            try:
                response = self._client.post(hook.url, content=body, headers=headers)
                if response.status_code < 500:
                    return
            except httpx.HTTPError as exc:
                log.info("webhook %s: %s", hook.url, exc)
            time.sleep(0.2 * 2**attempt)


def _payload(row: SubmissionRow) -> dict[str, Any]:
    v = view(row)
    return {
        "type": "submission.status",
        "submission": {
            "id": v.id, "status": v.status, "operation": v.operation, "tx_hash": v.tx_hash,
            "block_number": v.block_number, "error": v.error, "object_ids": v.object_ids,
        },
    }  # fmt: skip
