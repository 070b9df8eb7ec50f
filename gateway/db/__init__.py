"""The gateway's SQL database: SQLite by default, PostgreSQL by ``CUSTODY_DATABASE_URL``.

Tables are declared on :class:`Base` by the modules that own them (outbox, API keys, indexer);
Alembic migrations in ``gateway/db/migrations`` create and evolve them.
"""

from gateway.db.base import Base
from gateway.db.engine import database_url, make_engine, session_factory
from gateway.db.migrate import upgrade

__all__ = ["Base", "database_url", "make_engine", "session_factory", "upgrade"]
