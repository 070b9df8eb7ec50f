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
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import requests
from eth_utils.address import to_checksum_address
from pydantic import BaseModel
from sqlalchemy import Engine, and_, insert, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from chain_client.eip712 import recover_signer
from chain_client.errors import NodeError
from chain_client.ledger import CustodyLedgerClient
from chain_client.models import SignedCall
from gateway.partner.abi import CallEncoder, eth_call
from gateway.partner.apikeys import Principal
from gateway.partner.keyring import Keyring
from gateway.partner.operations import LedgerCall, resolve
from gateway.partner.tables import BatchRequestRow, SubmissionRow, utcnow
from gateway.partner.writes import serialized

__all__ = [
    "IdempotencyConflict",
    "NotYourSubmission",
    "Outbox",
    "RelayNonce",
    "SignedCallInvalid",
    "SubmissionView",
    "view",
]


# The node cannot be asked right now (connection refused, timeout, restarting).
_NODE_UNAVAILABLE = (
    requests.exceptions.ConnectionError,
    requests.exceptions.Timeout,
    ConnectionError,
    NodeError,
    OSError,
)

# How old an answer of the ledger about a custodial account may be when a submission chooses its
# signer. The outbox worker reads the ledger again before every signing round, and this gateway's
# admin endpoints forget an account they add or remove; the age bounds how long a change made
# elsewhere (another replica, a direct ledger call) goes unseen at accept. An answer in use is read
# again in the background once half as old, so accepting does not wait for the node.
OWNER_MAX_AGE = 5.0

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


@dataclass(frozen=True)
class RelayNonce:
    signer: str
    nonce: int  # what to sign the next call with
    chain_nonce: int  # the relay contract's
    in_outbox: int  # accepted calls at or past chain_nonce, not yet mined
    chain_id: int
    relay: str


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


def _new_view(values: dict[str, Any]) -> SubmissionView:
    """The view of a submission just stored from ``values`` (see :meth:`Outbox._values`)."""
    return SubmissionView(
        id=values["id"],
        status=values["status"],
        operation=values["operation"],
        partner_id=values["partner_id"],
        mode=values["mode"],
        signer=values["signer"],
        object_ids=list(values["request"].get("_object_ids", [])),
        tx_hash=None,
        block_number=None,
        error=None,
        result=None,
        created_at=values["created_at"],
        updated_at=values["updated_at"],
    )


# Accepting stores a submission with one Core INSERT (a third of the CPU of an ORM unit of work).
_INSERT = insert(SubmissionRow.metadata.tables["submissions"])


def _canonical_hash(payload: Any) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


class Outbox:
    def __init__(self, sessions: sessionmaker[Session], ledger: CustodyLedgerClient, keyring: Keyring) -> None:
        self._sessions = sessions
        self._ledger = ledger
        self._keyring = keyring
        self._encoder = CallEncoder(ledger.contract.abi)
        engine = sessions.kw.get("bind")
        assert isinstance(engine, Engine), "the outbox needs a sessionmaker bound to an engine"
        self._engine: Engine = engine

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
        signer = self._custodial_signer(principal.partner_id)
        data = self._encoder.encode(call.function, *call.args)
        request["_object_ids"] = list(call.object_ids)
        return self._store(principal, request, request_hash, idempotency_key, "custodial", signer, data, None)

    def submit_batch(
        self, principal: Principal, operations: Sequence[BaseModel], idempotency_key: str | None = None
    ) -> list[SubmissionView]:
        """Stores several custodial submissions in one transaction (all or none).

        With an Idempotency-Key the whole batch is remembered: the same key with the same
        operations answers the original submissions again; with other operations it is a conflict.
        """
        assert principal.partner_id is not None
        bodies = [op.model_dump(mode="json") for op in operations]
        request_hash = _canonical_hash({"batch": bodies})
        if idempotency_key is not None:
            replayed = self._existing_batch(principal.partner_id, idempotency_key, request_hash)
            if replayed is not None:
                return replayed
        calls = [resolve(op) for op in operations]  # GS1 validation before anything is stored
        signer = to_checksum_address(self._custodial_signer(principal.partner_id))
        rows: list[dict[str, Any]] = []
        for request, call in zip(bodies, calls, strict=True):
            request_hash_one = _canonical_hash(request)
            request["_object_ids"] = list(call.object_ids)
            data = self._encoder.encode(call.function, *call.args)
            rows.append(self._values(principal, request, request_hash_one, None, "custodial", signer, data, None))
        try:
            with serialized(self._engine), self._sessions.begin() as session:
                if idempotency_key is not None:
                    taken = session.scalar(
                        select(SubmissionRow.id).where(
                            SubmissionRow.partner_id == principal.partner_id,
                            SubmissionRow.idempotency_key == idempotency_key,
                        )
                    )
                    if taken is not None:
                        raise IdempotencyConflict(
                            f"Idempotency-Key {idempotency_key!r} was used for a single submission ({taken})."
                        )
                    session.add(
                        BatchRequestRow(
                            partner_id=principal.partner_id, idempotency_key=idempotency_key,
                            request_hash=request_hash, submission_ids=[r["id"] for r in rows],
                        )
                    )  # fmt: skip
                    session.flush()
                session.execute(_INSERT, rows)
        except IntegrityError:
            # a concurrent batch with the same Idempotency-Key won the race
            assert idempotency_key is not None
            replayed = self._existing_batch(principal.partner_id, idempotency_key, request_hash)
            if replayed is None:
                raise
            return replayed
        return [_new_view(r) for r in rows]

    def _existing_batch(self, partner_id: int, key: str, request_hash: str) -> list[SubmissionView] | None:
        with self._sessions.begin() as session:
            batch = session.scalar(
                select(BatchRequestRow).where(
                    BatchRequestRow.partner_id == partner_id, BatchRequestRow.idempotency_key == key
                )
            )
            if batch is None:
                return None
            if batch.request_hash != request_hash:
                raise IdempotencyConflict(f"Idempotency-Key {key!r} was used for a different batch.")
            found = {
                r.id: r
                for r in session.scalars(select(SubmissionRow).where(SubmissionRow.id.in_(batch.submission_ids)))
            }
            return [view(found[i], replayed=True) for i in batch.submission_ids]

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

    def _custodial_signer(self, partner_id: int) -> str:
        """The partner's first custodial account still on the ledger (never a removed one), by the
        ledger's answers of the last ``OWNER_MAX_AGE`` seconds (see :class:`~gateway.partner.keyring.OwnerCache`)."""
        try:
            owners = self._keyring.owners.recent(self._partner, OWNER_MAX_AGE, refresh_after=OWNER_MAX_AGE / 2)
            return self._keyring.address(partner_id, owners)
        except _NODE_UNAVAILABLE:
            # Accepting while the node is away is what the outbox is for; the worker checks the
            # account again before it signs (and takes another if this one was removed).
            return self._keyring.address(partner_id)

    def _partner(self, account: str) -> int:
        """The ledger's partner of ``account`` now (one eth_call)."""
        data = self._encoder.encode("partnerOf", to_checksum_address(account))
        return int.from_bytes(eth_call(self._ledger.sender.w3, self._ledger.address, data)[:32], "big")

    def _existing(self, partner_id: int, key: str | None, request_hash: str) -> SubmissionView | None:
        if key is None:
            return None
        with self._sessions.begin() as session:
            batch = session.scalar(
                select(BatchRequestRow.id).where(
                    BatchRequestRow.partner_id == partner_id, BatchRequestRow.idempotency_key == key
                )
            )
            if batch is not None:
                raise IdempotencyConflict(f"Idempotency-Key {key!r} was used for a batch.")
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
        values = self._values(principal, request, request_hash, key, mode, signer, data, signed)
        try:
            with serialized(self._engine), self._engine.begin() as connection:  # durable before the 202
                connection.execute(_INSERT, values)
        except IntegrityError:
            # a concurrent request with the same Idempotency-Key won the race
            existing = self._existing(principal.partner_id, key, request_hash)
            if existing is None:
                raise
            return existing
        return _new_view(values)

    @staticmethod
    def _values(
        principal: Principal,
        request: dict[str, Any],
        request_hash: str,
        key: str | None,
        mode: str,
        signer: str,
        data: bytes,
        signed: SignedCall | None,
    ) -> dict[str, Any]:
        """The columns of a new pending submission."""
        assert principal.partner_id is not None
        now = utcnow()
        return dict(
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
            attempts=0,
            created_at=now,
            updated_at=now,
        )

    # -- relay nonces --------------------------------------------------------------------------

    def next_nonce(self, principal: Principal, signer: str) -> RelayNonce:
        """The relay nonce ``signer`` should sign its next call with.

        The relay contract's nonce, moved past the nonces of this signer's calls the outbox holds
        and the chain has not consumed yet: accepted signed calls still pending (their deadline
        not passed) and calls in a relay transaction not yet mined. So a partner can sign several
        calls in a row, asking each time. Two clients asking at once get the same nonce: the
        second call to arrive then fails with ``signature.invalid_nonce``.
        """
        account = to_checksum_address(signer)
        if principal.kind == "partner" and self._partner(account) != principal.partner_id:
            raise NotYourSubmission(f"{account} does not act for partner {principal.partner_id}.")
        chain = self._ledger.relay_nonce(account)
        now = int(time.time())
        with self._sessions.begin() as session:
            held = set(
                session.scalars(
                    select(SubmissionRow.relay_nonce).where(
                        SubmissionRow.signer == account,
                        SubmissionRow.relay_nonce >= chain,
                        or_(
                            SubmissionRow.status == "submitted",
                            and_(SubmissionRow.status == "pending", SubmissionRow.deadline > now),
                        ),
                    )
                )
            )
        nonce = chain
        while nonce in held:
            nonce += 1
        return RelayNonce(account, nonce, chain, len(held), self._ledger.sender.chain_id, self._ledger.relay_address)

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
