"""Opening an indexer database, and rebuilding a model from the chain alone into a fresh one."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from gateway.db import database_url, make_engine, upgrade
from gateway.indexer import tables as t
from gateway.indexer.errors import IndexerError
from gateway.indexer.indexer import Indexer, IndexerConfig, SyncReport
from gateway.indexer.source import ChainSource

__all__ = ["is_fresh", "last_indexed_block", "open_database", "rebuild"]


def open_database(url: str) -> Engine:
    """An engine on ``url`` (``postgresql://`` means psycopg 3), migrated to the latest schema."""
    engine = make_engine(database_url(url, Path(".")))
    upgrade(engine, "heads")  # every branch: the indexer's tables and the other services'
    return engine


def is_fresh(engine: Engine) -> bool:
    with Session(engine) as session:
        checkpoints = session.scalar(select(func.count()).select_from(t.CheckpointRow))
        events = session.scalar(select(func.count()).select_from(t.EventRow))
    return not checkpoints and not events


def last_indexed_block(engine: Engine) -> int | None:
    """The checkpoint of the one ledger the database models (None when it has none)."""
    with Session(engine) as session:
        blocks = session.scalars(select(t.CheckpointRow.last_block)).all()
    if len(blocks) > 1:
        raise IndexerError("the database has several checkpoints; it should model one ledger")
    return blocks[0] if blocks else None


def rebuild(
    engine: Engine,
    source: ChainSource,
    ledger: str,
    *,
    relay: str | None = None,
    to_block: int | None = None,
    config: IndexerConfig | None = None,
) -> SyncReport:
    """Builds the model of ``ledger`` from the chain alone into the fresh database at ``engine``."""
    if not is_fresh(engine):
        raise IndexerError("rebuild needs a fresh database, and this one already holds indexed events")
    return Indexer(engine, source, ledger, relay=relay, config=config).sync_once(to_block)
