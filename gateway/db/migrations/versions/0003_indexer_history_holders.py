"""Index idx_custody_history by (object_id, custodian, gln): a trace reads the holders of every
traced object (thousands for a forward trace) from this index alone, without the table's rows.

Revision ID: 0003_indexer_history_holders
Revises: 0002_indexer_document_cid
"""

from __future__ import annotations

from alembic import op

revision = "0003_indexer_history_holders"
down_revision = "0002_indexer_document_cid"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_idx_custody_history_holders", "idx_custody_history", ["object_id", "custodian", "gln"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_idx_custody_history_holders", table_name="idx_custody_history")
