"""The hand-written migration creates exactly the tables the models declare, on both backends."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Column, MetaData, Table, insert, inspect, select

import gateway.db.models  # noqa: F401 - every table on Base.metadata
from gateway.db.base import Base
from gateway.db.migrate import alembic_config
from gateway.indexer.coltypes import UInt256, UtcDateTime
from gateway.indexer.maintenance import open_database
from tests.unit.test_indexer_support import BACKENDS, Databases, databases

INDEXER_TABLES = {name for name in Base.metadata.tables if name.startswith("idx_")}


@pytest.fixture(params=BACKENDS)
def dbs(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Databases]:
    with databases(request.param, tmp_path) as d:
        yield d


def test_the_migration_matches_the_models(dbs: Databases) -> None:
    engine = open_database(dbs.url("migrated", schema=False))
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = [d for d in compare_metadata(context, Base.metadata) if "idx_" in str(d)]
        tables = set(inspect(connection).get_table_names())
    engine.dispose()
    assert differences == []
    assert tables >= INDEXER_TABLES and len(INDEXER_TABLES) == 17


def test_the_migration_can_be_undone(dbs: Databases) -> None:
    url = dbs.url("downgraded", schema=False)
    engine = open_database(url)
    config = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "indexer@base")
    with engine.connect() as connection:
        tables = set(inspect(connection).get_table_names())
        # the partner API's tables are in a companion file on SQLite (its revision 0003)
        partner = set(inspect(connection).get_table_names(schema="partner")) if dbs.backend == "sqlite" else tables
    engine.dispose()
    assert not tables & INDEXER_TABLES
    assert "verification_scans" in tables and "api_keys" in partner  # the other branches stay


def test_quantities_and_times_round_trip_exactly(dbs: Databases) -> None:
    engine = dbs.new("types")
    table = Table("t_types", MetaData(), Column("q", UInt256()), Column("at", UtcDateTime()))
    table.create(engine)
    values = [0, 2**63, 2**256 - 1]
    moment = dt.datetime(2026, 5, 1, 12, 30, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    with engine.begin() as connection:
        connection.execute(insert(table), [{"q": q, "at": moment} for q in values])
        rows = connection.execute(select(table.c.q, table.c.at)).all()
    assert sorted(q for q, _ in rows) == values
    assert {at for _, at in rows} == {moment} and rows[0].at.tzinfo == dt.UTC
    with pytest.raises(Exception, match="aware datetime"), engine.begin() as connection:
        connection.execute(insert(table), [{"q": 1, "at": dt.datetime(2026, 1, 1)}])
