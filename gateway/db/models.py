"""Imports every module that declares tables, so Alembic sees the whole schema."""

import gateway.indexer.tables
import gateway.partner.tables
import gateway.verification.tables  # noqa: F401
