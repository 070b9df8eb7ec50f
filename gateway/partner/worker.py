"""The outbox worker: signs, batches and relays pending submissions; confirms them; recovers.

Each round it
1. finalises relay transactions it sent (receipts → confirmed/failed per entry, using the
   relay's ``SignedCallExecuted``/``SignedCallFailed`` markers to attribute events to entries);
   replaces a transaction stuck longer than ``stuck_after`` (same nonce, fees +25 %);
2. takes pending submissions in order, signs custodial ones (EIP-712, next relay nonce of the
   partner's account), checks partner-signed ones (nonce in sequence, deadline), and sends them as
   one ``executeSignedBatch`` from the relayer account.

Durability: the signed raw transaction and the submissions' new state are committed in one
database transaction *before* the raw transaction is handed to the node. After a crash, rows
that say "submitted" point at a stored raw transaction: if the node has it (or mined it) the
worker waits; if the node lost it (restart), the same bytes are sent again. A resent transaction
has the same hash and nonce, and relay nonces make every signed call single-use, so nothing runs
twice. Node errors back off exponentially. A database lease makes one replica work the outbox.
Every status change writes its webhook deliveries (:func:`gateway.partner.notify.enqueue`) in the
same database transaction.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import requests
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak
from sqlalchemy import Engine, bindparam, exists, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker
from web3.exceptions import ContractLogicError, TransactionNotFound

from chain_client.eip712 import sign_call
from chain_client.errors import ContractRevert, NodeError, TransactionFailed
from chain_client.events import LedgerEvent, SignedCallExecuted, SignedCallFailed
from chain_client.ledger import CustodyLedgerClient
from chain_client.signers import Signer
from gateway.indexer.decode import FastEventDecoder
from gateway.partner.abi import CallEncoder, eth_call
from gateway.partner.keyring import Keyring, KeyringError
from gateway.partner.notify import enqueue
from gateway.partner.tables import LeaseRow, RelayTxRow, SubmissionRow, utcnow
from gateway.partner.writes import serialized

__all__ = ["OutboxWorker", "WorkerSettings"]

log = logging.getLogger(__name__)

# Node-side failures worth retrying (connection refused, timeouts, the node restarting).
_TRANSIENT = (requests.exceptions.ConnectionError, requests.exceptions.Timeout, ConnectionError, NodeError, OSError)


@dataclass(frozen=True)
class WorkerSettings:
    batch_size: int = 200
    poll_interval: float = 0.02
    confirmations: int = 1
    stuck_after: float = 30.0
    signature_ttl: int = 24 * 3600
    max_attempts: int = 3
    lease_seconds: float = 15.0
    max_backoff: float = 5.0


@dataclass
class _Prepared:
    row_id: str
    seq: int
    signer: str
    data: bytes
    nonce: int
    deadline: int
    signature: bytes


@dataclass
class _State:
    next_nonce: dict[str, int] = field(default_factory=dict)


# One statement for every submission of a relay transaction, run as an executemany: a statement
# per row (compiled, executed and bound one by one) held the write turn that accepting requests
# queue for for 8-96 ms per batch of 25-56 submissions.
_submissions = SubmissionRow.metadata.tables["submissions"]
_SUBMITTED = (
    update(_submissions)
    .where(_submissions.c.id == bindparam("b_id"))
    .values(
        status="submitted", signer=bindparam("b_signer"), batch_index=bindparam("b_index"),
        relay_nonce=bindparam("b_nonce"), deadline=bindparam("b_deadline"), signature=bindparam("b_signature"),
        attempts=_submissions.c.attempts + 1,
    )
)  # fmt: skip
_FINAL = (
    update(_submissions)
    .where(_submissions.c.id == bindparam("b_id"))
    .values(status=bindparam("b_status"), error=bindparam("b_error"), result=bindparam("b_result"))
)


def _error_dict(error: ContractRevert | TransactionFailed | Exception) -> dict[str, Any]:
    if isinstance(error, ContractRevert):
        return {"code": error.code, "name": error.name, "arguments": _jsonable(error.arguments), "detail": str(error)}
    return {"code": getattr(error, "code", "tx.failed"), "name": type(error).__name__, "detail": str(error)}


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, bytes):
        return "0x" + value.hex()
    if hasattr(value, "value") and hasattr(value, "name"):  # enums
        return value.name.lower()
    return value


def _event_json(event: LedgerEvent) -> dict[str, Any]:
    data = {k: _jsonable(v) for k, v in vars(event).items() if k != "meta"}
    data["event"] = event.event_name
    data["log_index"] = event.meta.log_index
    return data


def _aware(value: datetime) -> datetime:
    """SQLite hands back naive datetimes (it keeps no zone): they were stored in UTC."""
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


# Is there anything to do: a pending submission, or a relay transaction not yet final?
_HAS_WORK = select(
    or_(
        exists().where(SubmissionRow.status == "pending"),
        exists().where(RelayTxRow.status == "sent"),
    )
)


def _in_nonce_order(rows: Sequence[SubmissionRow]) -> list[SubmissionRow]:
    """The rows with each signer's partner-signed calls put in nonce order among their own places.

    A partner may submit nonce n+1 before n; taken in arrival order, n+1 would make its signer
    wait and n, arriving later, would wait behind it for ever. Every other row keeps its place.
    """
    places: dict[str, list[int]] = {}
    for index, row in enumerate(rows):
        if row.mode == "signed":
            places.setdefault(to_checksum_address(row.signer), []).append(index)
    ordered = list(rows)
    for indexes in places.values():
        by_nonce = sorted((rows[i] for i in indexes), key=lambda r: (r.relay_nonce or 0, r.seq))
        for index, row in zip(indexes, by_nonce, strict=True):
            ordered[index] = row
    return ordered


class OutboxWorker:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        ledger: CustodyLedgerClient,
        relayer: Signer,
        keyring: Keyring,
        settings: WorkerSettings | None = None,
        on_change: Callable[[list[str]], None] | None = None,
    ) -> None:
        self._sessions = sessions
        self._ledger = ledger
        self._w3 = ledger.sender.w3
        self._relayer = relayer
        self._keyring = keyring
        self.settings = settings or WorkerSettings()
        self._on_change = on_change or (lambda ids: None)
        self._state = _State()
        self._owner = f"worker-{uuid.uuid4()}"
        self._lease = f"outbox:{to_checksum_address(relayer.address)}"
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._backoff = 0.0
        self._relayer_nonce: int | None = None
        self._batch_limit = self.settings.batch_size
        self._ledger_calls = CallEncoder(ledger.contract.abi)
        self._relay_calls = CallEncoder(ledger.relay.abi)
        self._decoder = FastEventDecoder(ledger.contract.abi, ledger.relay.abi)
        engine = sessions.kw.get("bind")
        assert isinstance(engine, Engine), "the worker needs a sessionmaker bound to an engine"
        self._engine: Engine = engine

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self) -> None:
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._loop, name="outbox-worker", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        self._release_lease()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                worked = self.run_once()
                self._backoff = 0.0
            except _TRANSIENT as exc:
                self._backoff = min(self.settings.max_backoff, max(0.1, self._backoff * 2))
                self._relayer_nonce = None  # resync after the node comes back
                self._state.next_nonce.clear()
                log.warning("outbox: node unavailable (%s); retrying in %.1fs", exc, self._backoff)
                worked = 0
            except Exception:  # a bug must not kill the worker silently; log and keep going
                log.exception("outbox worker round failed")
                self._backoff = min(self.settings.max_backoff, max(0.5, self._backoff * 2))
                worked = 0
            if not worked:
                self._stop.wait(self._backoff or self.settings.poll_interval)

    def run_once(self) -> int:
        """One round; returns how many submissions or transactions moved (0: idle)."""
        if not self._has_work() or not self._hold_lease():
            return 0
        return self._finalise_sent() + self._send_pending()

    def _has_work(self) -> bool:
        """Whether a submission is pending or a relay transaction awaits its receipt: one light
        read, so that an idle worker polling every ``poll_interval`` neither writes its lease nor
        takes the CPU (and the GIL) from the requests being accepted."""
        with self._engine.connect() as connection:
            return bool(connection.execute(_HAS_WORK).scalar())

    # -- lease ---------------------------------------------------------------------------------

    def _hold_lease(self) -> bool:
        now = utcnow()
        expires = now + timedelta(seconds=self.settings.lease_seconds)
        # Renewing is a write, and a write waits for SQLite's single writer lock (as do the requests
        # storing submissions): while more than half the lease is left, reading it is enough.
        with self._engine.connect() as connection:
            held = connection.execute(
                select(LeaseRow.owner, LeaseRow.expires_at).where(LeaseRow.name == self._lease)
            ).first()
        if held is not None:
            left = (_aware(held.expires_at) - now).total_seconds()
            if held.owner == self._owner and left > self.settings.lease_seconds / 2:
                return True
            if held.owner != self._owner and left > 0:
                return False
        try:
            with serialized(self._engine), self._sessions.begin() as session:
                lease = session.get(LeaseRow, self._lease, with_for_update=True)
                if lease is None:
                    session.add(LeaseRow(name=self._lease, owner=self._owner, expires_at=expires))
                    return True
                if lease.owner != self._owner and _aware(lease.expires_at) > now:
                    return False
                lease.owner, lease.expires_at = self._owner, expires
                return True
        except IntegrityError:  # another replica created the lease row at the same moment: it holds it
            return False

    def _release_lease(self) -> None:
        with contextlib.suppress(Exception), serialized(self._engine), self._sessions.begin() as session:
            lease = session.get(LeaseRow, self._lease)
            if lease is not None and lease.owner == self._owner:
                session.delete(lease)

    # -- sending -------------------------------------------------------------------------------

    def _chain_nonce(self, signer: str) -> int:
        """The signer's next relay nonce: the chain's, or past the calls already in flight.

        Relay transactions still in the pool (blocks not yet mined, or sent before a restart)
        have consumed nonces the chain does not show yet; using them again would make a whole
        batch revert.
        """
        with self._sessions.begin() as session:
            in_flight = session.scalar(
                select(func.max(SubmissionRow.relay_nonce)).where(
                    SubmissionRow.signer == signer, SubmissionRow.status == "submitted"
                )
            )
        chain = self._ledger.relay_nonce(signer)
        return chain if in_flight is None else max(chain, int(in_flight) + 1)

    def _next_nonce(self, signer: str) -> int:
        if signer not in self._state.next_nonce:
            self._state.next_nonce[signer] = self._chain_nonce(signer)
        return self._state.next_nonce[signer]

    def _prepare(self, rows: Sequence[SubmissionRow]) -> tuple[list[_Prepared], dict[str, dict[str, Any]]]:
        """Signs custodial rows and checks signed ones; returns the batch and rows that failed."""
        prepared: list[_Prepared] = []
        failed: dict[str, dict[str, Any]] = {}
        now = int(time.time())
        waiting: set[str] = set()  # signers with an out-of-order signed call: later rows wait too
        owners: dict[str, int] = {}  # the ledger's partner of each custodial account, asked once a round
        remember = self._keyring.owners.remembering(self._partner_of)  # and recorded for accepting

        def owner_of(account: str) -> int:
            if account not in owners:
                owners[account] = remember(account)
            return owners[account]

        for row in _in_nonce_order(rows):
            signer: str = to_checksum_address(row.signer)
            data = bytes.fromhex(row.call_data[2:])
            if row.mode == "custodial":
                try:
                    if owner_of(signer) != row.partner_id:  # removed since it was accepted: take another
                        signer = self._keyring.address(row.partner_id, owner_of)
                    key = self._keyring.signer(row.partner_id, signer, owner_of)
                except KeyringError as exc:
                    failed[row.id] = {"code": exc.code, "name": "KeyringError", "detail": str(exc)}
                    continue
                expected = self._next_nonce(signer)
                deadline = now + self.settings.signature_ttl
                call = sign_call(
                    key,
                    chain_id=self._ledger.sender.chain_id,
                    relay=self._ledger.relay_address,
                    data=data,
                    nonce=expected,
                    deadline=deadline,
                )
                prepared.append(_Prepared(row.id, row.seq, signer, data, expected, deadline, call.signature))
            else:
                if signer in waiting:
                    continue
                expected = self._next_nonce(signer)
                assert row.relay_nonce is not None and row.deadline is not None and row.signature is not None
                if row.deadline <= now:
                    failed[row.id] = {
                        "code": "signature.expired",
                        "name": "CustodyExpiredSignature",
                        "detail": f"The signature's deadline {row.deadline} passed before relaying.",
                    }
                    continue
                if row.relay_nonce < expected:
                    failed[row.id] = {
                        "code": "signature.invalid_nonce",
                        "name": "InvalidAccountNonce",
                        "arguments": {"account": signer, "currentNonce": expected},
                        "detail": f"Nonce {row.relay_nonce} is used; the next is {expected}.",
                    }
                    continue
                if row.relay_nonce > expected:
                    waiting.add(signer)  # an earlier nonce of this signer has not arrived yet
                    continue
                prepared.append(
                    _Prepared(row.id, row.seq, signer, data, expected, row.deadline, bytes.fromhex(row.signature[2:]))
                )
            self._state.next_nonce[signer] = expected + 1
        return prepared, failed

    def _partner_of(self, account: str) -> int:
        data = self._ledger_calls.encode("partnerOf", to_checksum_address(account))
        return int.from_bytes(eth_call(self._w3, self._ledger.address, data)[:32], "big")

    def _send_pending(self) -> int:
        with self._sessions.begin() as session:
            rows = list(
                session.scalars(
                    select(SubmissionRow)
                    .where(SubmissionRow.status == "pending")
                    .order_by(SubmissionRow.seq)
                    .limit(self._batch_limit)
                )
            )
            session.expunge_all()
        if not rows:
            return 0
        prepared, failed = self._prepare(rows)
        if failed:
            self._fail(failed)
        if not prepared:
            return len(failed)
        entries = [(p.signer, p.data, p.nonce, p.deadline) for p in prepared]
        data = "0x" + self._relay_calls.encode("executeSignedBatch", entries, [p.signature for p in prepared]).hex()
        gas_limit, base_fee = self._latest_block()
        try:
            estimate = self._estimate(data)
        except (ContractRevert, TransactionFailed) as exc:
            # The whole batch would revert; the nonces assigned here are not used.
            self._state.next_nonce.clear()
            if len(prepared) == 1:
                self._fail({prepared[0].row_id: _error_dict(exc)})
                return 1
            if isinstance(exc, ContractRevert) and exc.name == "CustodyRelayOutOfGas":
                # Too much work for one block (the relay reverts a starved entry, D20): halve.
                self._batch_limit = max(1, len(prepared) // 2)
            else:
                # Only a malformed entry reverts a batch: one by one until the culprit is found.
                self._batch_limit = 1
            return 0
        # Headroom, but never above what a block holds (the node found the estimate within it).
        headroom = self._ledger.sender.gas_headroom
        self._send_batch(prepared, data, min(int(estimate * headroom), gas_limit), self._fees(base_fee))
        # The next batch: as many entries as fit in a block with the headroom, by this batch's gas
        # per entry (so a full outbox does not try a batch too big, get CustodyRelayOutOfGas and
        # halve, every other round); after a cut, at most twice this batch (a malformed entry cut
        # the batch to one: grow back without retrying the full size at once).
        fit = len(prepared) * int(gas_limit / headroom) // max(1, estimate)
        self._batch_limit = max(1, min(self.settings.batch_size, fit, max(self._batch_limit, len(prepared)) * 2))
        return len(prepared) + len(failed)

    def _estimate(self, data: str) -> int:
        """Gas of a batch run on top of the pending transactions (which it follows: an earlier
        batch of the same signers may still be in the pool); reverts raise the decoded error."""
        sender = self._ledger.sender
        tx = {"from": to_checksum_address(self._relayer.address), "to": self._ledger.relay_address, "data": data}
        try:
            return int(self._w3.eth.estimate_gas(tx, "pending"))  # type: ignore[arg-type]
        except ContractLogicError as exc:
            raise sender.decoder.decode(exc.data if isinstance(exc.data, str) else None) from None

    def _rpc(self, method: str, params: list[Any]) -> Any:
        """A JSON-RPC call answered as the node sends it (hex strings), past web3's formatting."""
        response = self._w3.provider.make_request(method, params)  # type: ignore[arg-type]
        if "error" in response:
            error = response["error"]
            raise NodeError(f"{method}: {error.get('message') if isinstance(error, dict) else error}")
        return response.get("result")

    def _latest_block(self) -> tuple[int, int]:
        """The latest block's gas limit and base fee."""
        block = self._rpc("eth_getBlockByNumber", ["latest", False])
        return int(block["gasLimit"], 16), int(block.get("baseFeePerGas") or "0x0", 16)

    def _fees(self, base_fee: int | None = None) -> tuple[int, int]:
        if base_fee is None:
            base_fee = self._latest_block()[1]
        priority = self._ledger.sender.priority_fee_wei
        return 2 * base_fee + priority, priority

    def _send_batch(self, prepared: list[_Prepared], data: str, gas: int, fees: tuple[int, int]) -> None:
        relayer = to_checksum_address(self._relayer.address)
        if self._relayer_nonce is None:
            self._relayer_nonce = int(self._w3.eth.get_transaction_count(relayer, "pending"))
        nonce = self._relayer_nonce
        max_fee, priority = fees
        raw = self._sign_relay_tx(nonce, data, gas, max_fee, priority)
        tx_hash = "0x" + keccak(raw).hex()
        now = utcnow()
        rows = [
            {"b_id": p.row_id, "b_signer": p.signer, "b_index": index, "b_nonce": p.nonce, "b_deadline": p.deadline,
             "b_signature": "0x" + p.signature.hex()}
            for index, p in enumerate(prepared)
        ]  # fmt: skip
        with serialized(self._engine), self._sessions.begin() as session:
            session.add(
                RelayTxRow(
                    tx_hash=tx_hash, relayer=relayer, nonce=nonce, raw="0x" + raw.hex(),
                    submission_ids=[p.row_id for p in prepared], max_fee=max_fee, priority_fee=priority,
                )
            )  # fmt: skip
            session.connection().execute(_SUBMITTED.values(tx_hash=tx_hash, updated_at=now), rows)
            enqueue(session, [p.row_id for p in prepared])  # webhooks: in the same transaction
        self._relayer_nonce = nonce + 1
        self._on_change([p.row_id for p in prepared])
        self._broadcast(raw)

    def _sign_relay_tx(self, nonce: int, data: str, gas: int, max_fee: int, priority: int) -> bytes:
        tx = {
            "to": self._ledger.relay_address,
            "data": data,
            "gas": gas,
            "nonce": nonce,
            "chainId": self._ledger.sender.chain_id,
            "maxFeePerGas": max_fee,
            "maxPriorityFeePerGas": priority,
            "value": 0,
        }
        return self._relayer.sign_transaction(tx)

    def _broadcast(self, raw: bytes) -> None:
        try:
            self._w3.eth.send_raw_transaction(raw)
        except ContractLogicError:
            pass  # mined or rejected: the receipt tells
        except ValueError as exc:  # "already known", "nonce too low": the node has it or mined it
            log.info("outbox: node answered %s while sending", exc)

    # -- finalising ----------------------------------------------------------------------------

    def _finalise_sent(self) -> int:
        with self._sessions.begin() as session:
            txs = list(
                session.scalars(select(RelayTxRow).where(RelayTxRow.status == "sent").order_by(RelayTxRow.nonce))
            )
            session.expunge_all()
        moved = 0
        head: int | None = None
        for tx in txs:
            # as the node sends it: web3's formatting of a receipt with thousands of logs costs
            # more than the rest of confirming its submissions
            receipt = self._rpc("eth_getTransactionReceipt", [tx.tx_hash])
            if receipt is None or receipt.get("blockNumber") is None:
                moved += self._unmined(tx)
                continue
            if head is None:
                head = int(self._w3.eth.block_number)
            if head - int(receipt["blockNumber"], 16) + 1 < self.settings.confirmations:
                continue
            self._apply_receipt(tx, receipt)
            moved += len(tx.submission_ids)
        return moved

    def _unmined(self, tx: RelayTxRow) -> int:
        try:
            self._w3.eth.get_transaction(tx.tx_hash)  # type: ignore[arg-type]
        except TransactionNotFound:
            # The node does not know it (it restarted, or we crashed before sending): send the same bytes.
            self._broadcast(bytes.fromhex(tx.raw[2:]))
            return 0
        sent_at = tx.sent_at if tx.sent_at.tzinfo else tx.sent_at.replace(tzinfo=utcnow().tzinfo)
        if (utcnow() - sent_at).total_seconds() < self.settings.stuck_after:
            return 0
        return self._replace(tx)

    def _replace(self, tx: RelayTxRow) -> int:
        """Re-signs a stuck transaction with the same nonce and 25 % higher fees."""
        max_fee, priority = self._fees()
        max_fee = max(max_fee, tx.max_fee * 5 // 4 + 1)
        priority = max(priority, tx.priority_fee * 5 // 4 + 1)
        original = self._w3.eth.get_transaction(tx.tx_hash)  # type: ignore[arg-type]
        raw = self._sign_relay_tx(
            tx.nonce, "0x" + bytes(original["input"]).hex(), int(original["gas"]), max_fee, priority
        )
        new_hash = "0x" + keccak(raw).hex()
        with serialized(self._engine), self._sessions.begin() as session:
            session.execute(update(RelayTxRow).where(RelayTxRow.tx_hash == tx.tx_hash).values(status="replaced"))
            session.add(
                RelayTxRow(
                    tx_hash=new_hash, relayer=tx.relayer, nonce=tx.nonce, raw="0x" + raw.hex(),
                    submission_ids=tx.submission_ids, max_fee=max_fee, priority_fee=priority,
                )
            )  # fmt: skip
            session.execute(
                update(SubmissionRow).where(SubmissionRow.id.in_(tx.submission_ids)).values(tx_hash=new_hash)
            )
        self._broadcast(raw)
        log.info("outbox: replaced stuck %s by %s (nonce %d)", tx.tx_hash, new_hash, tx.nonce)
        return 1

    def _apply_receipt(self, tx: RelayTxRow, receipt: dict[str, Any]) -> None:
        """Confirms or fails the submissions of a mined relay transaction (``receipt``: raw JSON-RPC)."""
        ids = list(tx.submission_ids)
        block = int(receipt["blockNumber"], 16)
        if int(receipt["status"], 16) != 1:
            # The whole batch reverted (should not happen after estimation); retry the entries.
            self._requeue_or_fail(tx, ids, "the relay transaction reverted")
            return
        events = self._decoder.decode_logs(receipt["logs"])
        outcome: dict[int, tuple[str, dict[str, Any] | None, list[dict[str, Any]]]] = {}
        segment: list[dict[str, Any]] = []
        for event in events:
            if isinstance(event, SignedCallExecuted):
                outcome[event.index] = ("confirmed", None, segment)
                segment = []
            elif isinstance(event, SignedCallFailed):
                outcome[event.index] = ("failed", _error_dict(self._ledger.sender.decoder.decode(event.reason)), [])
                segment = []
            else:
                segment.append(_event_json(event))
        rows = []
        missing: tuple[str, dict[str, Any] | None, list[dict[str, Any]]] = (
            "failed", {"code": "tx.failed", "detail": "no outcome"}, [],
        )  # fmt: skip
        for index, row_id in enumerate(ids):
            status, error, row_events = outcome.get(index, missing)
            result = {"events": row_events} if status == "confirmed" else None
            rows.append({"b_id": row_id, "b_status": status, "b_error": error, "b_result": result})
        final = _FINAL.values(block_number=block, tx_hash=tx.tx_hash, updated_at=utcnow())
        with serialized(self._engine), self._sessions.begin() as session:
            session.execute(update(RelayTxRow).where(RelayTxRow.tx_hash == tx.tx_hash).values(status="mined"))
            session.execute(
                update(RelayTxRow)
                .where(RelayTxRow.nonce == tx.nonce, RelayTxRow.relayer == tx.relayer, RelayTxRow.status == "sent")
                .values(status="replaced")
            )
            session.connection().execute(final, rows)
            enqueue(session, ids)
        self._on_change(ids)

    def _requeue_or_fail(self, tx: RelayTxRow, ids: list[str], reason: str) -> None:
        with serialized(self._engine), self._sessions.begin() as session:
            session.execute(update(RelayTxRow).where(RelayTxRow.tx_hash == tx.tx_hash).values(status="mined"))
            for row in session.scalars(select(SubmissionRow).where(SubmissionRow.id.in_(ids))):
                if row.attempts >= self.settings.max_attempts:
                    row.status = "failed"
                    row.error = {"code": "tx.failed", "name": "RelayReverted", "detail": reason}
                else:
                    row.status = "pending"
                    row.tx_hash = None
                    if row.mode == "custodial":
                        row.relay_nonce = row.signature = row.deadline = None
                row.updated_at = utcnow()
            enqueue(session, ids)
        self._state.next_nonce.clear()
        self._on_change(ids)

    def _fail(self, errors: dict[str, dict[str, Any]]) -> None:
        with serialized(self._engine), self._sessions.begin() as session:
            for row_id, error in errors.items():
                session.execute(
                    update(SubmissionRow)
                    .where(SubmissionRow.id == row_id)
                    .values(status="failed", error=error, updated_at=utcnow())
                )
            enqueue(session, list(errors))
        self._on_change(list(errors))
