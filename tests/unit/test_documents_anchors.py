"""Anchors of a CID read from the indexer's read model (``idx_documents``), on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine
from sqlalchemy.orm import sessionmaker

from gateway.db import session_factory
from gateway.documents.anchors import Anchor, AnchorReader, IndexedAnchors, document_id
from gateway.documents.cid import Cid
from gateway.documents.unixfs import import_file
from gateway.indexer.tables import DocumentRow
from tests.unit.test_indexer_support import BACKENDS, Databases, databases


class _Sink:
    def put(self, cid: Cid, parts: object) -> None:
        pass


def cid_of(data: bytes, version: int = 0) -> Cid:
    return import_file(data, _Sink(), cid_version=version).cid


def subject(n: int) -> str:
    return "0x" + f"{n:064x}"


def row(cid: Cid, subj: str, block: int, log_index: int, doc_type: str = "INVOICE", partner: int = 7) -> DocumentRow:
    return DocumentRow(
        document_id=document_id(subj, cid), subject=subj, subject_type="object", object_id=subj, shipment_id=None,
        doc_type=doc_type, cid=cid.to_bytes(), cid_text=str(cid), partner_id=partner,
        anchored_at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC), block_number=block, log_index=log_index,
        tx_hash="0x" + f"{block:02x}{log_index:02x}" * 16,
    )  # fmt: skip


@pytest.fixture(params=BACKENDS)
def dbs(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Databases]:
    with databases(request.param, tmp_path) as d:
        yield d


def test_anchors_of_a_cid_come_from_idx_documents_in_chain_order(dbs: Databases) -> None:
    engine = dbs.new("anchors")
    sessions = session_factory(engine)
    doc, other = cid_of(b"certificate of analysis\n"), cid_of(b"a bill of lading\n")
    v1 = cid_of(b"certificate of analysis\n", 1)  # same bytes, another CID: another document
    with sessions.begin() as session:
        session.add_all([
            row(doc, subject(2), 12, 0, "PHOTO", partner=9),
            row(doc, subject(1), 10, 3),
            row(other, subject(1), 11, 0),
            row(v1, subject(3), 13, 0),
        ])  # fmt: skip
    indexed = IndexedAnchors(sessions)
    assert indexed.anchors_of(doc) == [
        Anchor(str(doc), subject(1), document_id(subject(1), doc), 7, "invoice", 10, "0x" + "0a03" * 16),
        Anchor(str(doc), subject(2), document_id(subject(2), doc), 9, "photo", 12, "0x" + "0c00" * 16),
    ]
    assert [a.subject for a in indexed.anchors_of(v1)] == [subject(3)]
    assert indexed.anchors_of(cid_of(b"never anchored")) == []
    reader = AnchorReader(lambda: pytest.fail("the chain is not asked"), indexed)
    assert [a.block_number for a in reader.indexed_anchors_of(doc) or []] == [10, 12]


def test_no_index_or_a_broken_one_means_ask_the_chain(tmp_path: Path) -> None:
    doc = cid_of(b"x")
    assert AnchorReader(lambda: pytest.fail("unused")).indexed_anchors_of(doc) is None
    engine = create_engine(f"sqlite:///{tmp_path / 'no-schema.db'}")  # no idx_documents table at all
    broken = AnchorReader(lambda: pytest.fail("unused"), IndexedAnchors(sessionmaker(engine)))
    with pytest.raises(Exception, match="idx_documents"):
        IndexedAnchors(sessionmaker(engine)).anchors_of(doc)
    assert broken.indexed_anchors_of(doc) is None
    engine.dispose()
