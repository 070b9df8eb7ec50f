"""The durable outbox: every accepted submission is stored before the 202 response.

:class:`Outbox` validates, resolves and stores submissions, answers idempotent repeats and
reads their status. :mod:`gateway.partner.worker` drives them on chain.

Status: ``pending`` (stored) → ``submitted`` (in a relay transaction, ``tx_hash`` set) →
``confirmed`` (mined with enough confirmations; ``block_number``, events) or ``failed``
(``error`` carries the decoded custom error and its stable code).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import time
import uuid
from dataclasses import dataclass
from typing import Any

from eth_utils.address import to_checksum_address
from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from chain_client.eip712 import recover_signer
from chain_client.ledger import CustodyLedgerClient
from chain_client.models import SignedCall
from gateway.partner.apikeys import Principal
from gateway.partner.keyring import Keyring
from gateway.partner.operations import LedgerCall, resolve
from gateway.partner.tables import SubmissionRow

__all__ = ["IdempotencyConflict", "NotYourSubmission", "Outbox", "SignedCallInvalid", "SubmissionView", "view"]


_SECP256K1_HALF_N = 0x7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF5D576E7357A4501DDFE92F46681B20A0


class IdempotencyConflict(Exception):
    code = "idempotency.conflict"


class NotYourSubmission(Exception):
    code = "auth.forbidden"


class SignedCallInvalid(Exception):
    """A partner-signed call that cannot be relayed (bad signature, foreign signer, expired…)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class SubmissionView:
    id: str
    status: str
    operation: str
    partner_id: int
    mode: str
    signer: str
    object_ids: list[str]
    tx_hash: str | None
    block_number: int | None
    error: dict[str, Any] | None
    result: dict[str, Any] | None
    created_at: dt.datetime
    updated_at: dt.datetime
    replayed: bool = False


def _utc(value: dt.datetime) -> dt.datetime:
    """SQLite hands back naive datetimes (it keeps no zone): they were stored in UTC."""
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)


def view(row: SubmissionRow, replayed: bool = False) -> SubmissionView:
    return SubmissionView(
        id=row.id,
        status=row.status,
        operation=row.operation,
        partner_id=row.partner_id,
        mode=row.mode,
        signer=row.signer,
        object_ids=list(row.request.get("_object_ids", [])),
        tx_hash=row.tx_hash,
        block_number=row.block_number,
        error=row.error,
        result=row.result,
        created_at=_utc(row.created_at),
        updated_at=_utc(row.updated_at),
        replayed=replayed,
    )


def _canonical_hash(payload: Any) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


class Outbox:
    def __init__(self, sessions: sessionmaker[Session], ledger: CustodyLedgerClient, keyring: Keyring) -> None:
        self._sessions = sessions
        self._ledger = ledger
        self._keyring = keyring

    # -- accepting -----------------------------------------------------------------------------

    def submit(self, principal: Principal, operation: BaseModel, idempotency_key: str | None = None) -> SubmissionView:
        """Stores a custodial submission: the gateway will sign it with the partner's key."""
        assert principal.partner_id is not None
        request = operation.model_dump(mode="json")
        request_hash = _canonical_hash(request)
        existing = self._existing(principal.partner_id, idempotency_key, request_hash)
        if existing is not None:
            return existing
        call: LedgerCall = resolve(operation)  # GS1 validation: raises GS1Error before anything is stored
        signer = self._keyring.address(principal.partner_id)
        data = self._ledger.encode(call.function, *call.args)
        request["_object_ids"] = list(call.object_ids)
        return self._store(principal, request, request_hash, idempotency_key, "custodial", signer, data, None)

    def submit_signed(
        self, principal: Principal, call: SignedCall, idempotency_key: str | None = None
    ) -> SubmissionView:
        """Stores a call the partner signed itself (EIP-712); the gateway only relays it."""
        assert principal.partner_id is not None
        request = {
            "signer": to_checksum_address(call.signer),
            "data": "0x" + call.data.hex(),
            "nonce": call.nonce,
            "deadline": call.deadline,
            "signature": "0x" + call.signature.hex(),
        }
        request_hash = _canonical_hash(request)
        existing = self._existing(principal.partner_id, idempotency_key, request_hash)
        if existing is not None:
            return existing
        if len(call.signature) != 65 or int.from_bytes(call.signature[32:64], "big") > _SECP256K1_HALF_N:
            # the relay (OpenZeppelin ECDSA) refuses high-s signatures; refuse them at the door too
            raise SignedCallInvalid("signature.malleable", "The signature is not in canonical (low-s) form.")
        if call.deadline <= int(time.time()):
            raise SignedCallInvalid("signature.expired", f"The signature's deadline {call.deadline} has passed.")
        try:
            recovered = recover_signer(call, chain_id=self._ledger.sender.chain_id, relay=self._ledger.relay_address)
        except Exception as exc:  # malformed signature bytes
            raise SignedCallInvalid("signature.invalid", f"The signature cannot be decoded: {exc}") from None
        if recovered != to_checksum_address(call.signer):
            raise SignedCallInvalid(
                "signature.wrong_signer",
                f"The signature was made by {recovered}, not by {call.signer}, for this chain and relay.",
            )
        if self._partner(call.signer) != principal.partner_id:
            raise NotYourSubmission(f"{call.signer} does not act for partner {principal.partner_id}.")
        try:
            function = self._ledger.contract.get_function_by_selector(call.data[:4])
        except ValueError:
            raise SignedCallInvalid("signature.unknown_function", "The signed data calls no ledger function.") from None
        request["operation"] = function.fn_name
        row = self._store(principal, request, request_hash, idempotency_key, "signed", call.signer, call.data, call)
        return row

    def _partner(self, account: str) -> int:
        # Asked of the ledger every time: accounts are added and removed (by any replica's admin).
        return self._ledger.partner_of(to_checksum_address(account))

    def _existing(self, partner_id: int, key: str | None, request_hash: str) -> SubmissionView | None:
        if key is None:
            return None
        with self._sessions.begin() as session:
            row = session.scalar(
                select(SubmissionRow).where(
                    SubmissionRow.partner_id == partner_id, SubmissionRow.idempotency_key == key
                )
            )
            if row is None:
                return None
            if row.request_hash != request_hash:
                raise IdempotencyConflict(
                    f"Idempotency-Key {key!r} was used for a different request (submission {row.id})."
                )
            return view(row, replayed=True)

    def _store(
        self,
        principal: Principal,
        request: dict[str, Any],
        request_hash: str,
        key: str | None,
        mode: str,
        signer: str,
        data: bytes,
        signed: SignedCall | None,
    ) -> SubmissionView:
        assert principal.partner_id is not None
        row = SubmissionRow(
            id=str(uuid.uuid4()),
            partner_id=principal.partner_id,
            api_key_id=principal.key_id,
            operation=str(request.get("operation", "")),
            request=request,
            request_hash=request_hash,
            idempotency_key=key,
            mode=mode,
            signer=to_checksum_address(signer),
            call_data="0x" + data.hex(),
            relay_nonce=signed.nonce if signed else None,
            deadline=signed.deadline if signed else None,
            signature="0x" + signed.signature.hex() if signed else None,
            status="pending",
        )
        try:
            with self._sessions.begin() as session:
                session.add(row)
        except IntegrityError:
            # a concurrent request with the same Idempotency-Key won the race
            existing = self._existing(principal.partner_id, key, request_hash)
            if existing is None:
                raise
            return existing
        return view(row)

    # -- reading -------------------------------------------------------------------------------

    def get(self, principal: Principal, submission_id: str) -> SubmissionView:
        with self._sessions.begin() as session:
            row = session.scalar(select(SubmissionRow).where(SubmissionRow.id == submission_id))
            if row is None:
                raise LookupError(f"No submission {submission_id}.")
            if principal.kind == "partner" and row.partner_id != principal.partner_id:
                raise NotYourSubmission(f"Submission {submission_id} belongs to another partner.")
            return view(row)

    def list(self, principal: Principal, status: str | None = None, limit: int = 100) -> list[SubmissionView]:
        with self._sessions.begin() as session:
            query = select(SubmissionRow).order_by(SubmissionRow.seq.desc()).limit(limit)
            if principal.kind == "partner":
                query = query.where(SubmissionRow.partner_id == principal.partner_id)
            if status:
                query = query.where(SubmissionRow.status == status)
            return [view(r) for r in session.scalars(query)]
