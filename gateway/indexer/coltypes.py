"""Column types that behave the same on SQLite and PostgreSQL.

- :class:`UInt256`: lot quantities are ``uint256`` on chain. PostgreSQL stores them exactly as
  ``NUMERIC(78, 0)``; SQLite has no exact type for integers above 2^63 (its NUMERIC affinity
  turns them into floats), so there they are kept as decimal text. Python sees ``int`` on both.
- :class:`UtcDateTime`: block times are UTC. SQLite drops time zones, PostgreSQL keeps them;
  this type stores naive UTC on SQLite and always returns aware UTC datetimes, so the live and
  the rebuilt model compare equal whichever backend holds them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from sqlalchemy import DateTime, Dialect, Numeric, String
from sqlalchemy.types import TypeDecorator, TypeEngine

__all__ = ["UINT256_DDL", "UInt256", "UtcDateTime"]

# The DDL type, also used by the hand-written migration (which must not import model code).
UINT256_DDL: TypeEngine[Any] = Numeric(78, 0).with_variant(String(78), "sqlite")


class UInt256(TypeDecorator[int]):
    """An unsigned 256-bit integer: NUMERIC(78, 0) on PostgreSQL, decimal text on SQLite."""

    impl = Numeric(78, 0)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(String(78))
        return dialect.type_descriptor(Numeric(78, 0))

    def process_bind_param(self, value: int | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if dialect.name == "sqlite":
            return str(int(value))
        return Decimal(int(value))

    def process_result_value(self, value: Any, dialect: Dialect) -> int | None:
        return None if value is None else int(value)


class UtcDateTime(TypeDecorator[dt.datetime]):
    """A timezone-aware UTC datetime on every backend.

    Its bind processor remembers recent conversions: the indexer writes the same block time on
    every row of a block, and converting it each time is a measurable part of a bulk insert.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def bind_processor(self, dialect: Dialect) -> Callable[[Any], Any] | None:
        convert = super().bind_processor(dialect)
        if convert is None:
            return None
        seen: dict[dt.datetime, Any] = {}

        def process(value: Any) -> Any:
            if value is None:
                return None
            try:
                return seen[value]
            except KeyError:
                if len(seen) > 4096:
                    seen.clear()
                seen[value] = result = convert(value)
                return result

        return process

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("UtcDateTime needs an aware datetime")
        utc = value.astimezone(dt.UTC)
        return utc.replace(tzinfo=None) if dialect.name == "sqlite" else utc

    def process_result_value(self, value: Any, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        assert isinstance(value, dt.datetime)
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)
