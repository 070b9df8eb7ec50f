"""Drop the indexer's secondary indexes that no query uses.

Every query of the gateway (audit, verification, partner API, feed, the indexer's own rollback and
working set) was checked for the columns it filters, joins or orders by; these indexes serve none
of them, yet each one is a B-tree that every indexed event updates (most of them keyed by random
hashes or low-cardinality enums). Indexing a million events writes about 1M object rows, 1.9M
custody-history rows and 200k status changes, so each dropped index is millions fewer B-tree
inserts. What stays: see ``gateway/indexer/tables.py`` and docs/decisions.md (D24).

Revision ID: 0004_indexer_unused_indexes
Revises: 0003_indexer_history_holders
"""

from __future__ import annotations

from alembic import op

revision = "0004_indexer_unused_indexes"
down_revision = "0003_indexer_history_holders"
branch_labels = None
depends_on = None

# (table, column) of each single-column index ``ix_<table>_<column>`` dropped here.
DROPPED = (
    ("idx_events", "event"),
    ("idx_objects", "custodian"),
    ("idx_objects", "owner"),
    ("idx_objects", "status"),
    ("idx_objects", "parent_id"),
    ("idx_objects", "shipment_id"),
    ("idx_objects", "registered_at"),
    ("idx_custody_history", "at"),
    ("idx_custody_history", "partner_id"),
    ("idx_status_history", "partner_id"),
    ("idx_status_history", "changed_at"),
)


def upgrade() -> None:
    for table, column in DROPPED:
        op.drop_index(op.f(f"ix_{table}_{column}"), table_name=table)


def downgrade() -> None:
    for table, column in DROPPED:
        op.create_index(op.f(f"ix_{table}_{column}"), table, [column], unique=False)
