"""Verification scans: one partial index for the suspect view instead of three on every scan.

Every verification is a scan row, written in batches at thousands a second. Of its secondary
indexes, ``verdict`` served no query, and ``suspect`` (a boolean) and ``scanned_at`` served only
the suspect view (suspect scans since a time, newest first), for which a single index on
``scanned_at`` of the suspect rows is exact and holds only those rows. Each scan now updates one
secondary index (``gtin, serial, scanned_at``: a serial's history) instead of four.

Revision ID: 0002_verification_scan_indexes
Revises: 0001_verification
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_verification_scan_indexes"
down_revision = "0001_verification"
branch_labels = None
depends_on = None

DROPPED = ("verdict", "suspect", "scanned_at")
SUSPECT_INDEX = "ix_verification_scans_suspect_at"


def upgrade() -> None:
    for column in DROPPED:
        op.drop_index(op.f(f"ix_verification_scans_{column}"), table_name="verification_scans")
    suspect = sa.column("suspect", sa.Boolean()).is_(True)
    op.create_index(SUSPECT_INDEX, "verification_scans", ["scanned_at"], sqlite_where=suspect, postgresql_where=suspect)


def downgrade() -> None:
    op.drop_index(SUSPECT_INDEX, table_name="verification_scans")
    for column in DROPPED:
        op.create_index(op.f(f"ix_verification_scans_{column}"), "verification_scans", [column])
