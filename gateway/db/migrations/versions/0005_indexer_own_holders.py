"""Index only an object's own custody-history rows for the trace's holders.

An event on a container (shipped, received, transferred, ...) gives a history row to the container
and one to everything packed in it, with the container's custodian and GLN: in the benchmark's
million events, 1.2M of the 2.03M rows are such copies. A trace reaches the container of every object it
follows (containment is one of its edges), so the copies add no holder to its answer; the holders
index now keeps only the own rows (``OWN_HISTORY_ROWS``). That is fewer index entries to write
while indexing, and fewer to read in a trace. The index also holds ``event`` and ``container_id``
so that a query with the index's condition is answered from the index alone.

Revision ID: 0005_indexer_own_holders
Revises: 0004_indexer_unused_indexes
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_indexer_own_holders"
down_revision = "0004_indexer_unused_indexes"
branch_labels = None
depends_on = None

OLD = "ix_idx_custody_history_holders"
NEW = "ix_idx_custody_history_own_holders"
# the same text as gateway.indexer.tables.OWN_HISTORY_ROWS, fixed here as a migration must be
OWN_ROWS = "container_id IS NULL OR event IN ('packed', 'unpacked')"


def upgrade() -> None:
    op.drop_index(OLD, table_name="idx_custody_history")
    own = sa.text(OWN_ROWS)
    op.create_index(
        NEW,
        "idx_custody_history",
        ["object_id", "custodian", "gln", "event", "container_id"],
        sqlite_where=own,
        postgresql_where=own,
    )


def downgrade() -> None:
    op.drop_index(NEW, table_name="idx_custody_history")
    op.create_index(OLD, "idx_custody_history", ["object_id", "custodian", "gln"])
