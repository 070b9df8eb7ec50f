"""Document anchors on chain: the check a read makes, and the set retention keeps.

Two views of the same ledger state:

* ``anchored_at(subject, cid)`` calls ``documentAnchoredAt(keccak256(abi.encode(subject,
  keccak256(cid))))`` — one ``eth_call``, what every verified read does for each subject it knows;
* ``events()`` reads ``DocumentAnchored`` logs with ``eth_getLogs`` (filtered by topic), from
  the last block seen to the head, and keeps them in memory — what the retention report, the
  backup and the anchor listing need. It reads events directly on purpose: the indexer, when
  present, keeps richer tables, but retention must not depend on another component being
  up to date to decide what may be deleted.

Anchors are append-only on chain, so the in-memory list only grows; a reorg on a real network
could drop an anchor seen at the head, which is why deletion decisions re-read the chain and
err towards keeping.

A third view serves verified reads: ``IndexedAnchors`` looks a CID up in the indexer's read
model (``idx_documents``, shared by every gateway replica), so a read finds the subjects to
confirm with one SQL query instead of scanning logs. The index only *suggests* subjects: the
anchor is still confirmed by ``documentAnchoredAt`` on chain, and when the index knows of no
confirmed anchor (it lags the head, or is not running) the chain's own events have the last
word (``DocumentService.confirmed_anchors``).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from eth_utils.crypto import keccak
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from chain_client.events import DocumentAnchored
from chain_client.ledger import CustodyLedgerClient
from gateway.documents.cid import Cid
from gateway.indexer.tables import DocumentRow

__all__ = ["Anchor", "AnchorReader", "IndexedAnchors", "document_id"]

log = logging.getLogger(__name__)

_LOG_RANGE = 10_000


def document_id(subject: str, cid: Cid) -> str:
    """The ledger's document id: keccak256(abi.encode(bytes32 subject, keccak256(cid bytes)))."""
    raw_subject = bytes.fromhex(subject.removeprefix("0x"))
    if len(raw_subject) != 32:
        raise ValueError(f"a subject is 32 bytes, got {subject!r}")
    return "0x" + keccak(raw_subject + keccak(cid.to_bytes())).hex()


@dataclass(frozen=True, slots=True)
class Anchor:
    cid: str
    subject: str
    document_id: str
    partner_id: int
    document_type: str
    block_number: int
    tx_hash: str


def _anchor(event: DocumentAnchored) -> Anchor | None:
    try:
        cid = Cid.parse(bytes(event.cid))
    except Exception:  # the contract checks the shape; anything else is not ours to serve
        return None
    return Anchor(
        str(cid), event.subject, event.document_id, event.partner_id, event.doc_type.name.lower(),
        event.meta.block_number, event.meta.tx_hash,
    )  # fmt: skip


def _first_block_with_code(w3: Any, address: str, head: int) -> int:
    """The ledger's deployment block, by bisection on ``eth_getCode`` (no logs can be older);
    0 when the node cannot answer for old blocks (a pruned node)."""
    try:
        if not w3.eth.get_code(address, head):
            return head + 1
        low, high = 0, head
        while low < high:
            middle = (low + high) // 2
            if w3.eth.get_code(address, middle):
                high = middle
            else:
                low = middle + 1
        return low
    except Exception:  # pruned history: scan from the start instead
        return 0


def _indexed(cid: str, r: DocumentRow) -> Anchor:
    return Anchor(cid, r.subject, r.document_id, r.partner_id, r.doc_type.lower(), r.block_number, r.tx_hash)


class IndexedAnchors:
    """Anchors of a CID as the event indexer recorded them (``idx_documents``), oldest first."""

    def __init__(self, sessions: Callable[[], Session]) -> None:
        self._sessions = sessions

    def anchors_of(self, cid: Cid) -> list[Anchor]:
        d = DocumentRow
        query = select(d).where(d.cid == cid.to_bytes()).order_by(d.block_number, d.log_index)
        with self._sessions() as session:
            rows = session.scalars(query).all()
            text = str(cid)
            return [_indexed(text, row) for row in rows]


class AnchorReader:
    def __init__(self, ledger: Callable[[], CustodyLedgerClient], indexed: IndexedAnchors | None = None) -> None:
        self._ledger = ledger
        self.indexed = indexed
        self._lock = threading.Lock()
        self._address: str | None = None
        self._next_block = 0
        self._anchors: list[Anchor] = []

    def anchored_at(self, subject: str, cid: Cid) -> int:
        """Unix time the CID was anchored to ``subject`` (0: not anchored)."""
        return self._ledger().document_anchored_at(document_id(subject, cid))

    def events(self) -> list[Anchor]:
        """Every ``DocumentAnchored`` on the ledger so far, oldest first."""
        ledger = self._ledger()
        with self._lock:
            w3 = ledger.sender.w3
            head = int(w3.eth.block_number)
            if ledger.address != self._address:  # first use, or another deployment: start over
                self._address, self._anchors = ledger.address, []
                self._next_block = _first_block_with_code(w3, ledger.address, head)
            topic = ledger.events.topic_of("DocumentAnchored")
            while self._next_block <= head:
                to_block = min(head, self._next_block + _LOG_RANGE - 1)
                query: Any = {"address": ledger.address, "topics": [topic], "fromBlock": self._next_block,
                              "toBlock": to_block}  # fmt: skip
                for event in ledger.events.decode_logs(w3.eth.get_logs(query)):
                    if isinstance(event, DocumentAnchored) and (anchor := _anchor(event)) is not None:
                        self._anchors.append(anchor)
                self._next_block = to_block + 1
            return list(self._anchors)

    def indexed_anchors_of(self, cid: Cid) -> list[Anchor] | None:
        """The read model's anchors of ``cid``; None when there is no index or it cannot be read."""
        if self.indexed is None:
            return None
        try:
            return self.indexed.anchors_of(cid)
        except SQLAlchemyError as exc:  # a broken read model must not stop verified reads
            log.warning("idx_documents could not be read, asking the chain instead: %s", exc)
            return None

    def anchors_of(self, cid: Cid) -> list[Anchor]:
        """Anchors of ``cid`` from the chain's ``DocumentAnchored`` events (see ``events``)."""
        text = str(cid)
        return [a for a in self.events() if a.cid == text]

    def anchored_cids(self) -> list[Cid]:
        """Distinct anchored CIDs, in first-anchored order."""
        seen: dict[str, None] = {}
        for anchor in self.events():
            seen.setdefault(anchor.cid, None)
        return [Cid.parse(c) for c in seen]
