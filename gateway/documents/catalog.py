"""What the gateway knows about the documents uploaded through it, beyond their bytes.

The chain holds the anchors and the store holds the bytes; neither knows a document's media
type, file name, whether it is an envelope, or which submission is anchoring it. This small
SQLite file (``<documents dir>/catalog.sqlite``) does. It is a cache of upload-time facts, not
a source of truth for anchors: those are always re-read from the chain. Losing it loses media
types and the link to pending submissions, never a document or an anchor.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from gateway.documents.errors import StorageError

__all__ = ["Catalog", "CatalogAnchor", "CatalogEntry"]

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS documents (
        cid TEXT PRIMARY KEY,
        confidential INTEGER NOT NULL,
        content_type TEXT,
        filename TEXT,
        size INTEGER NOT NULL,
        stored_size INTEGER NOT NULL,
        cid_version INTEGER NOT NULL,
        raw_leaves INTEGER NOT NULL,
        uploaded_by INTEGER,
        recipients TEXT NOT NULL DEFAULT '[]',
        created_at REAL NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS anchors (
        cid TEXT NOT NULL,
        subject TEXT NOT NULL,
        document_type TEXT NOT NULL,
        submission_id TEXT,
        partner_id INTEGER,
        created_at REAL NOT NULL,
        PRIMARY KEY (cid, subject)
    )""",
)


@dataclass(frozen=True, slots=True)
class CatalogEntry:
    cid: str
    confidential: bool
    content_type: str | None
    filename: str | None
    size: int
    """Plaintext bytes."""
    stored_size: int
    """Bytes in the store (the envelope, for a confidential document)."""
    cid_version: int
    raw_leaves: bool
    uploaded_by: int | None
    recipients: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class CatalogAnchor:
    cid: str
    subject: str
    document_type: str
    submission_id: str | None
    partner_id: int | None


class Catalog:
    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as conn:
            for statement in _SCHEMA:
                conn.execute(statement)

    @contextlib.contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        try:
            conn = sqlite3.connect(self.path, timeout=30.0)
        except sqlite3.Error as exc:
            raise StorageError(f"cannot open the document catalog {self.path}: {exc}") from exc
        try:
            with conn:
                yield conn
        except sqlite3.Error as exc:
            raise StorageError(f"document catalog error: {exc}") from exc
        finally:
            conn.close()

    def record(self, entry: CatalogEntry, anchor: CatalogAnchor | None = None) -> None:
        with self._connect() as conn:
            conn.execute(
                """INSERT INTO documents (cid, confidential, content_type, filename, size, stored_size, cid_version,
                       raw_leaves, uploaded_by, recipients, created_at)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                   ON CONFLICT(cid) DO UPDATE SET content_type = excluded.content_type,
                       filename = excluded.filename""",
                (
                    entry.cid, int(entry.confidential), entry.content_type, entry.filename, entry.size,
                    entry.stored_size, entry.cid_version, int(entry.raw_leaves), entry.uploaded_by,
                    json.dumps(list(entry.recipients)), time.time(),
                ),
            )  # fmt: skip
            if anchor is not None:
                conn.execute(
                    """INSERT INTO anchors (cid, subject, document_type, submission_id, partner_id, created_at)
                       VALUES (?, ?, ?, ?, ?, ?)
                       ON CONFLICT(cid, subject) DO UPDATE SET submission_id = excluded.submission_id""",
                    (anchor.cid, anchor.subject, anchor.document_type, anchor.submission_id, anchor.partner_id,
                     time.time()),
                )  # fmt: skip

    def get(self, cid: str) -> CatalogEntry | None:
        with self._connect() as conn:
            row = conn.execute(
                """SELECT cid, confidential, content_type, filename, size, stored_size, cid_version, raw_leaves,
                          uploaded_by, recipients FROM documents WHERE cid = ?""",
                (cid,),
            ).fetchone()
        if row is None:
            return None
        return CatalogEntry(
            row[0], bool(row[1]), row[2], row[3], row[4], row[5], row[6], bool(row[7]), row[8],
            tuple(json.loads(row[9])),
        )  # fmt: skip

    def anchors(self, cid: str) -> list[CatalogAnchor]:
        with self._connect() as conn:
            rows = conn.execute(
                "SELECT cid, subject, document_type, submission_id, partner_id FROM anchors WHERE cid = ? "
                "ORDER BY created_at",
                (cid,),
            ).fetchall()
        return [CatalogAnchor(*row) for row in rows]
