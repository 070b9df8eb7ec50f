"""Index idx_documents by CID: reading a document looks its anchors up by CID.

Revision ID: 0002_indexer_document_cid
Revises: 0001_indexer
"""

from __future__ import annotations

from alembic import op

revision = "0002_indexer_document_cid"
down_revision = "0001_indexer"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(op.f("ix_idx_documents_cid"), "idx_documents", ["cid"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_idx_documents_cid"), table_name="idx_documents")
