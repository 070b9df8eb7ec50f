"""Tables of the partner API: API keys, submissions (the durable outbox), webhooks and their
deliveries, idempotent batches, leases."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, DateTime, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from gateway.db.base import Base

__all__ = [
    "ApiKeyRow",
    "BatchRequestRow",
    "LeaseRow",
    "RelayTxRow",
    "SubmissionRow",
    "WebhookDeliveryRow",
    "WebhookRow",
    "utcnow",
]


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class ApiKeyRow(Base):
    """An API key: only its hash is stored; the secret is shown once at creation."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    prefix: Mapped[str] = mapped_column(String(16), unique=True)
    secret_hash: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))  # partner | auditor | admin
    partner_id: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)
    scopes: Mapped[str] = mapped_column(String(64))  # space-separated: submit read
    name: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    last_used_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class SubmissionRow(Base):
    """One accepted partner submission, stored before the 202 response; the worker drives it on."""

    __tablename__ = "submissions"
    __table_args__ = (
        UniqueConstraint("partner_id", "idempotency_key", name="uq_submissions_partner_idempotency"),
        Index("ix_submissions_status_id", "status", "seq"),
    )

    seq: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(String(36), unique=True)
    partner_id: Mapped[int] = mapped_column(Integer, index=True)
    api_key_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    operation: Mapped[str] = mapped_column(String(40))
    request: Mapped[dict[str, Any]] = mapped_column(JSON)
    request_hash: Mapped[str] = mapped_column(String(64))
    idempotency_key: Mapped[str | None] = mapped_column(String(200), nullable=True)
    mode: Mapped[str] = mapped_column(String(16))  # custodial | signed
    signer: Mapped[str] = mapped_column(String(42))
    call_data: Mapped[str] = mapped_column(Text)  # 0x-hex ledger calldata
    relay_nonce: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    deadline: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    signature: Mapped[str | None] = mapped_column(String(140), nullable=True)
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending|submitted|confirmed|failed
    tx_hash: Mapped[str | None] = mapped_column(String(66), nullable=True, index=True)
    batch_index: Mapped[int | None] = mapped_column(Integer, nullable=True)
    block_number: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    error: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)


class RelayTxRow(Base):
    """A relay transaction the worker signed: kept (raw bytes too) so a restart can resend or wait."""

    __tablename__ = "relay_txs"

    tx_hash: Mapped[str] = mapped_column(String(66), primary_key=True)
    relayer: Mapped[str] = mapped_column(String(42), index=True)
    nonce: Mapped[int] = mapped_column(BigInteger)
    raw: Mapped[str] = mapped_column(Text)
    submission_ids: Mapped[list[str]] = mapped_column(JSON)
    max_fee: Mapped[int] = mapped_column(BigInteger)
    priority_fee: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16), default="sent")  # sent | mined | replaced | dropped
    sent_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class WebhookRow(Base):
    """Where to push a partner's submission status changes (HMAC-SHA256 signed)."""

    __tablename__ = "webhooks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    partner_id: Mapped[int] = mapped_column(Integer, index=True)
    url: Mapped[str] = mapped_column(String(500))
    secret: Mapped[str] = mapped_column(String(128))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class WebhookDeliveryRow(Base):
    """One notification owed to one webhook, written in the transaction that changed the submission.

    ``id`` is the delivery id (header ``X-Custody-Delivery``, and ``id`` in the body): a receiver
    that sees it twice (at-least-once delivery) drops the repeat. ``status``: pending → delivered,
    or failed after the last attempt. A pending row is due at ``next_attempt_at``; a sender claims
    it by moving that time past its request's timeout, so a crashed sender's claim runs out.
    """

    __tablename__ = "webhook_deliveries"
    __table_args__ = (Index("ix_webhook_deliveries_status_due", "status", "next_attempt_at"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    webhook_id: Mapped[int] = mapped_column(Integer, index=True)
    partner_id: Mapped[int] = mapped_column(Integer)
    submission_id: Mapped[str] = mapped_column(String(36), index=True)
    event: Mapped[str] = mapped_column(String(40))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending | delivered | failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    last_error: Mapped[str | None] = mapped_column(String(500), nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    delivered_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class BatchRequestRow(Base):
    """A ``POST /v1/batch`` sent with an Idempotency-Key: its hash and the submissions it made."""

    __tablename__ = "batch_requests"
    __table_args__ = (UniqueConstraint("partner_id", "idempotency_key", name="uq_batch_requests_partner_idempotency"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    partner_id: Mapped[int] = mapped_column(Integer)
    idempotency_key: Mapped[str] = mapped_column(String(200))
    request_hash: Mapped[str] = mapped_column(String(64))
    submission_ids: Mapped[list[str]] = mapped_column(JSON)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class LeaseRow(Base):
    """A named lease (e.g. the outbox worker of one relayer) so one replica works it at a time."""

    __tablename__ = "leases"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    owner: Mapped[str] = mapped_column(String(100))
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
