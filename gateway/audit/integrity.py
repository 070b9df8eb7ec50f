"""Integrity audit: the read model and the anchored documents, checked against the chain.

Two checks, each reporting every difference it finds rather than stopping at the first:

* **objects** — for every indexed object, or a random sample, the custody state the index holds
  (``idx_objects``) against the ledger's own ``custodyOf`` view: kind, status, custodian, owner,
  shipment, registrant, parent, root, lot, quantity, unit, expiry date and registration time.
  The chain moves on while the audit runs, so an object that differs is checked again after the
  indexer has caught up once more; only a difference that persists is reported;
* **documents** — every anchored document (``idx_documents``): its anchor must exist on chain
  (``documentAnchoredAt`` of its document id, at the indexed time), and its bytes must still
  hash to its CID: the whole content is read back from the document store and re-imported
  (:meth:`gateway.documents.service.DocumentService.verify_content`), so a changed block file
  is ``tampered`` and a missing block ``missing``.

The chain and the documents are reached through two small protocols (:class:`ChainView`,
:class:`DocumentVerifier`), so the comparison itself runs without a node in unit tests.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, Protocol

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from chain_client.models import CustodyView, ObjectKind
from gateway.indexer import tables as t

__all__ = [
    "ChainView",
    "DocumentProblem",
    "DocumentVerifier",
    "IntegrityReport",
    "ObjectDifference",
    "audit_integrity",
    "compare_object",
]

DocumentState = Literal["ok", "missing", "tampered", "not_anchored"]


class ChainView(Protocol):
    def custody_of(self, object_id: str) -> CustodyView: ...

    def document_anchored_at(self, document_id: str) -> int: ...


class DocumentVerifier(Protocol):
    def __call__(self, cid: str, /) -> tuple[DocumentState, str | None]:
        """``("ok", None)``, or the problem and its detail, for the content of ``cid``."""
        ...


@dataclass(frozen=True)
class ObjectDifference:
    object_id: str
    field: str
    indexed: Any
    chain: Any


@dataclass(frozen=True)
class DocumentProblem:
    document_id: str
    cid: str | None
    subject: str
    state: DocumentState
    detail: str | None


@dataclass
class IntegrityReport:
    checked_at: str
    indexed_block: int | None
    objects_total: int
    objects_checked: int
    documents_checked: int
    differences: list[ObjectDifference] = field(default_factory=list)
    documents: list[DocumentProblem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.differences and not self.documents

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["ok"] = self.ok
        data["missing_documents"] = sum(1 for d in self.documents if d.state == "missing")
        data["tampered_documents"] = sum(1 for d in self.documents if d.state == "tampered")
        return data


def _utc(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)


def _json(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return _utc(value).isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def compare_object(row: t.ObjectRow, view: CustodyView) -> list[ObjectDifference]:
    """Every field where the indexed object and the chain's custody view disagree."""
    lot = view.kind == ObjectKind.LOT
    pairs = {
        "kind": (row.kind, view.kind.name),
        "status": (row.status, view.status.name),
        "custodian": (row.custodian, view.custodian),
        "owner": (row.owner, view.owner),
        "shipment_id": (row.shipment_id, view.shipment_id or None),
        "registrant": (row.registrant, view.registrant),
        "parent_id": (row.parent_id, view.parent),
        "root_id": (row.root_id, view.root),
        "lot_id": (row.lot_id, view.lot),
        "quantity": (row.quantity, view.quantity if lot else None),
        "unit_of_measure": (row.unit_of_measure, view.unit_of_measure or None),
        "expiry_date": (row.expiry_date, view.expiry_date),
        "registered_at": (_utc(row.registered_at), view.registered_at),
    }
    return [
        ObjectDifference(row.object_id, name, _json(indexed), _json(chain))
        for name, (indexed, chain) in pairs.items()
        if indexed != chain
    ]


def _sample(session: Session, sample: int | None) -> list[t.ObjectRow]:
    query = select(t.ObjectRow)
    query = query.order_by(func.random()).limit(sample) if sample is not None else query.order_by(t.ObjectRow.object_id)
    return list(session.scalars(query))


def audit_integrity(
    sessions: sessionmaker[Session],
    chain: ChainView,
    verify: DocumentVerifier | None,
    *,
    sample: int | None = None,
    documents: bool = True,
    catch_up: Callable[[], int | None] | None = None,
) -> IntegrityReport:
    """Compares the index with the chain (``sample`` objects at random, or all) and, with
    ``verify``, checks every anchored document. ``catch_up`` indexes up to the head and returns
    the last indexed block; it runs first and again before a difference is confirmed."""
    block = catch_up() if catch_up else None
    with sessions() as session:
        total = session.scalar(select(func.count()).select_from(t.ObjectRow)) or 0
        rows = _sample(session, sample)
        suspects = {row.object_id for row in rows if compare_object(row, chain.custody_of(row.object_id))}
        document_rows = list(session.scalars(select(t.DocumentRow).order_by(t.DocumentRow.block_number)))
    differences: list[ObjectDifference] = []
    if suspects:
        block = catch_up() if catch_up else block
        with sessions() as session:
            for object_id in sorted(suspects):
                row = session.get(t.ObjectRow, object_id)
                if row is not None:
                    differences.extend(compare_object(row, chain.custody_of(object_id)))
    report = IntegrityReport(
        checked_at=dt.datetime.now(dt.UTC).isoformat(), indexed_block=block, objects_total=total,
        objects_checked=len(rows), documents_checked=len(document_rows) if documents else 0, differences=differences,
    )  # fmt: skip
    if documents:
        for doc in document_rows:
            report.documents.extend(_check_document(doc, chain, verify))
    return report


def _check_document(doc: t.DocumentRow, chain: ChainView, verify: DocumentVerifier | None) -> list[DocumentProblem]:
    problems = []
    anchored_at = chain.document_anchored_at(doc.document_id)
    indexed_at = int(_utc(doc.anchored_at).timestamp())
    if anchored_at != indexed_at:
        detail = f"indexed as anchored at {indexed_at}, the ledger says {anchored_at or 'never'}"
        problems.append(DocumentProblem(doc.document_id, doc.cid_text, doc.subject, "not_anchored", detail))
    if verify is not None:
        if doc.cid_text is None:
            detail = "the anchored bytes are not a CID"
            problems.append(DocumentProblem(doc.document_id, None, doc.subject, "tampered", detail))
        else:
            state, why = verify(doc.cid_text)
            if state != "ok":
                problems.append(DocumentProblem(doc.document_id, doc.cid_text, doc.subject, state, why))
    return problems
