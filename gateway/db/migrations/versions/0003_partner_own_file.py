"""partner api: on SQLite, the partner tables move to their own file

Revision ID: 0003_partner_own_file
Revises: 0002_webhook_deliveries
Create Date: 2026-11-28 07:10:00

A SQLite database file has one writer at a time. The indexer writes the read model in
transactions of up to a block's events (over a second for a block of thousands), and a
partner's submission, stored before its 202, waited for them. ``gateway.db.engine`` attaches
``<name>-partner<suffix>`` to every connection as schema ``partner``; this revision moves the
partner API's tables, rows and indexes there (D28). Queries keep unqualified names: ``main``
no longer has the tables, so SQLite finds them in the attached file.

PostgreSQL locks rows, not files, and a SQLite database in memory has nothing attached: there
this revision changes nothing. Later revisions that alter these tables on SQLite name the
schema (``schema="partner"``) when it is attached.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_partner_own_file"
down_revision = "0002_webhook_deliveries"
branch_labels = None
depends_on = None

PARTNER = "partner"
TABLES = ("api_keys", "submissions", "relay_txs", "webhooks", "webhook_deliveries", "batch_requests", "leases")


def _attached(connection: sa.Connection) -> bool:
    if connection.dialect.name != "sqlite":
        return False
    return any(row[1] == PARTNER for row in connection.exec_driver_sql("PRAGMA database_list"))


def _move(connection: sa.Connection, source: str, target: str) -> None:
    """Re-creates each partner table (columns, keys, indexes) in schema ``target``, copies its
    rows and drops it from ``source``, in the migration's transaction."""
    inspector = sa.inspect(connection)
    existing = sa.MetaData(schema=source)
    existing.reflect(connection, only=[name for name in TABLES if inspector.has_table(name, source)])
    moved = sa.MetaData()
    for table in existing.sorted_tables:
        copy = table.to_metadata(moved, schema=target)
        copy.create(connection)
        columns = ", ".join(f'"{c.name}"' for c in table.columns)
        connection.exec_driver_sql(
            f'INSERT INTO {target}."{table.name}" ({columns}) SELECT {columns} FROM {source}."{table.name}"'
        )
    for table in reversed(existing.sorted_tables):
        connection.exec_driver_sql(f'DROP TABLE {source}."{table.name}"')


def upgrade() -> None:
    connection = op.get_bind()
    if _attached(connection):
        _move(connection, "main", PARTNER)


def downgrade() -> None:
    connection = op.get_bind()
    if _attached(connection):
        _move(connection, PARTNER, "main")
