"""The partner API's migrations create exactly the tables its models declare, on both backends,
and revision 0002 (webhook deliveries, idempotent batches) can be undone on its own."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

import gateway.db.models  # noqa: F401 - every table on Base.metadata
import gateway.partner.tables as t
from gateway.db import make_engine, upgrade
from gateway.db.base import Base
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


def test_the_migrations_match_the_partner_models(dbs: Databases) -> None:
    engine = make_engine(_url(dbs, "partner"))
    upgrade(engine)
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = [
            d for d in compare_metadata(context, Base.metadata) if any(name in str(d) for name in PARTNER_TABLES)
        ]
        tables = set(inspect(connection).get_table_names())
    engine.dispose()
    assert differences == []
    assert tables >= PARTNER_TABLES


def test_revision_0002_can_be_undone_and_redone(dbs: Databases) -> None:
    engine = make_engine(_url(dbs, "partner-down"))
    upgrade(engine)
    config = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0001_partner_api")
    with engine.connect() as connection:
        tables = set(inspect(connection).get_table_names())
    assert not tables & {"webhook_deliveries", "batch_requests"}
    assert {"submissions", "webhooks", "api_keys"} <= tables  # revision 0001 stays
    upgrade(engine)
    with engine.connect() as connection:
        assert {"webhook_deliveries", "batch_requests"} <= set(inspect(connection).get_table_names())
    engine.dispose()
