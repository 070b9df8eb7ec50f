"""The partner API's migrations create exactly the tables its models declare, on both backends
(on SQLite, in the companion file attached as schema ``partner``, revision 0003), and revisions
0002 (webhook deliveries, idempotent batches) and 0003 can be undone on their own."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, create_engine, inspect
from sqlalchemy.exc import OperationalError

import gateway.db.models  # noqa: F401 - every table on Base.metadata
import gateway.partner.tables as t
from gateway.db import make_engine, upgrade
from gateway.db.base import Base
from gateway.db.engine import partner_file
from gateway.db.migrate import alembic_config
from tests.unit.test_indexer_support import BACKENDS, Databases, databases

PARTNER_TABLES = {
    model.__tablename__
    for model in (t.ApiKeyRow, t.SubmissionRow, t.RelayTxRow, t.WebhookRow, t.WebhookDeliveryRow, t.BatchRequestRow,
                  t.LeaseRow)
}  # fmt: skip


@pytest.fixture(params=BACKENDS)
def dbs(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Databases]:
    with databases(request.param, tmp_path) as d:
        yield d


def _url(dbs: Databases, name: str) -> str:
    return dbs.url(name, schema=False).replace("postgresql://", "postgresql+psycopg://", 1)


def _partner_side(engine: Engine) -> Engine:
    """Where the partner tables are: on SQLite the companion file, opened on its own."""
    if engine.dialect.name != "sqlite":
        return engine
    companion = partner_file(engine.url.database)
    assert companion is not None
    return create_engine(f"sqlite:///{companion}")


def test_the_migrations_match_the_partner_models(dbs: Databases) -> None:
    engine = make_engine(_url(dbs, "partner"))
    upgrade(engine)
    side = _partner_side(engine)
    with side.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = [
            d for d in compare_metadata(context, Base.metadata) if any(name in str(d) for name in PARTNER_TABLES)
        ]
        tables = set(inspect(connection).get_table_names())
    side.dispose()
    if engine.dialect.name == "sqlite":
        with engine.connect() as connection:  # and none is left in the read model's file
            assert not set(inspect(connection).get_table_names()) & PARTNER_TABLES
    engine.dispose()
    assert differences == []
    assert tables >= PARTNER_TABLES


def _downgrade(engine: Engine, revision: str) -> None:
    config = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, revision)


def test_revision_0003_moves_the_rows_and_indexes_of_a_sqlite_database_to_the_companion_file(
    tmp_path: Path,
) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'custody.db'}")
    upgrade(engine)
    _downgrade(engine, "0002_webhook_deliveries")  # the layout before: every table in custody.db
    with engine.begin() as connection:
        assert set(inspect(connection).get_table_names()) >= PARTNER_TABLES
        assert not inspect(connection).get_table_names(schema="partner")
        connection.exec_driver_sql(
            "INSERT INTO api_keys (prefix, secret_hash, kind, partner_id, scopes, name, created_at) "
            "VALUES ('ck_test', 'x', 'partner', 7, 'write', 'kept', '2026-11-28 07:00:00')"
        )
    upgrade(engine)
    with engine.connect() as connection:
        assert not set(inspect(connection).get_table_names()) & PARTNER_TABLES
        assert set(inspect(connection).get_table_names(schema="partner")) == PARTNER_TABLES
        indexes = {i["name"] for i in inspect(connection).get_indexes("submissions", schema="partner")}
        assert "ix_submissions_tx_hash" in indexes
        # unqualified names, as every query writes them, find the moved table
        assert connection.exec_driver_sql("SELECT name, partner_id FROM api_keys").all() == [("kept", 7)]
    engine.dispose()
    assert (tmp_path / "custody-partner.db").exists()


def test_the_partner_file_takes_writes_while_the_read_models_file_is_locked(tmp_path: Path) -> None:
    """What revision 0003 is for: a submission is stored while the indexer holds its write lock."""
    engine = make_engine(f"sqlite:///{tmp_path / 'custody.db'}")
    upgrade(engine)
    indexer = engine.connect()
    # a deferred transaction, as the indexer's: its first write locks the file it writes to
    # (BEGIN IMMEDIATE would lock every attached file at once)
    indexer.exec_driver_sql("BEGIN")
    indexer.exec_driver_sql("DELETE FROM idx_blocks")
    accept = make_engine(f"sqlite:///{tmp_path / 'custody.db'}")
    with accept.begin() as connection:  # no wait allowed: it would fail at once if it had to
        connection.exec_driver_sql("PRAGMA busy_timeout=0")
        connection.exec_driver_sql(
            "INSERT INTO leases (name, owner, expires_at) VALUES ('outbox', 'me', '2026-11-28 07:00:00')"
        )
    with pytest.raises(OperationalError, match="locked"), accept.begin() as connection:
        connection.exec_driver_sql("PRAGMA busy_timeout=0")
        connection.exec_driver_sql("DELETE FROM idx_blocks")
    indexer.exec_driver_sql("ROLLBACK")
    indexer.close()
    accept.dispose()
    engine.dispose()


def test_revision_0002_can_be_undone_and_redone(dbs: Databases) -> None:
    engine = make_engine(_url(dbs, "partner-down"))
    upgrade(engine)
    _downgrade(engine, "0001_partner_api")
    with engine.connect() as connection:
        tables = set(inspect(connection).get_table_names())
    assert not tables & {"webhook_deliveries", "batch_requests"}
    assert {"submissions", "webhooks", "api_keys"} <= tables  # revision 0001 stays
    upgrade(engine)
    with engine.connect() as connection:
        schema = "partner" if engine.dialect.name == "sqlite" else None  # revision 0003 moved them there
        assert {"webhook_deliveries", "batch_requests"} <= set(inspect(connection).get_table_names(schema=schema))
    engine.dispose()
