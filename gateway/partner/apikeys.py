"""API keys: created by an admin, shown once, stored only as a hash; scopes, revocation, rotation.

A key reads ``ck_<prefix>_<secret>``: the prefix finds the row, the secret (32 random bytes,
URL-safe base64) is checked against its SHA-256 in constant time. A fast hash is right here:
the secret has 256 bits of entropy, so there is nothing for a slow hash to protect.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Literal

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from gateway.partner.tables import ApiKeyRow, utcnow

__all__ = ["SCOPES", "ApiKeyError", "ApiKeys", "CreatedKey", "KeyKind", "Principal"]

KeyKind = Literal["partner", "auditor", "admin"]
SCOPES = frozenset({"submit", "read", "admin"})
DEFAULT_SCOPES: dict[str, tuple[str, ...]] = {
    "partner": ("submit", "read"),
    "auditor": ("read",),
    "admin": ("admin", "read"),
}


class ApiKeyError(Exception):
    """An unusable key: missing, malformed, unknown or revoked (all answer 401 alike)."""

    code = "auth.invalid_key"


@dataclass(frozen=True)
class Principal:
    """Who a request acts for."""

    key_id: int
    kind: KeyKind
    partner_id: int | None
    scopes: frozenset[str]

    def has(self, scope: str) -> bool:
        return scope in self.scopes


@dataclass(frozen=True)
class CreatedKey:
    id: int
    key: str  # shown once
    prefix: str
    kind: KeyKind
    partner_id: int | None
    scopes: tuple[str, ...]


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


# What authenticating a request reads: one row by its prefix, as plain columns (no ORM objects; this
# runs on every request).
_BY_PREFIX = select(
    ApiKeyRow.id, ApiKeyRow.secret_hash, ApiKeyRow.kind, ApiKeyRow.partner_id, ApiKeyRow.scopes, ApiKeyRow.revoked_at
)


class ApiKeys:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions
        engine = sessions.kw.get("bind")
        assert isinstance(engine, Engine), "ApiKeys needs a sessionmaker bound to an engine"
        self._engine: Engine = engine

    def create(
        self,
        kind: KeyKind,
        partner_id: int | None = None,
        scopes: tuple[str, ...] | None = None,
        name: str = "",
    ) -> CreatedKey:
        if kind == "auditor" and scopes and set(scopes) - {"read"}:
            raise ValueError("auditor keys are read-only")
        if kind == "partner" and partner_id is None:
            raise ValueError("a partner key names its partner")
        scopes = scopes or DEFAULT_SCOPES[kind]
        unknown = set(scopes) - SCOPES
        if unknown:
            raise ValueError(f"unknown scopes: {', '.join(sorted(unknown))}")
        prefix = secrets.token_hex(6)
        secret = secrets.token_urlsafe(32)
        with self._sessions.begin() as session:
            row = ApiKeyRow(
                prefix=prefix, secret_hash=_hash(secret), kind=kind, partner_id=partner_id, scopes=" ".join(scopes),
                name=name,
            )  # fmt: skip
            session.add(row)
            session.flush()
            key_id = row.id
        return CreatedKey(key_id, f"ck_{prefix}_{secret}", prefix, kind, partner_id, tuple(scopes))

    def authenticate(self, key: str) -> Principal:
        parts = key.split("_", 2)
        if len(parts) != 3 or parts[0] != "ck":
            raise ApiKeyError("malformed API key")
        _, prefix, secret = parts
        # Read at every request, not cached: a revoked key stops working at once, on every replica.
        with self._engine.connect() as connection:
            row = connection.execute(_BY_PREFIX.where(ApiKeyRow.prefix == prefix)).first()
        if row is None or row.revoked_at is not None or not hmac.compare_digest(row.secret_hash, _hash(secret)):
            raise ApiKeyError("unknown or revoked API key")
        return Principal(row.id, row.kind, row.partner_id, frozenset(row.scopes.split()))

    def revoke(self, key_id: int) -> bool:
        with self._sessions.begin() as session:
            row = session.get(ApiKeyRow, key_id)
            if row is None or row.revoked_at is not None:
                return False
            row.revoked_at = utcnow()
            return True

    def rotate(self, key_id: int) -> CreatedKey:
        """A new key with the same kind, partner and scopes; the old one is revoked."""
        with self._sessions.begin() as session:
            row = session.get(ApiKeyRow, key_id)
            if row is None or row.revoked_at is not None:
                raise LookupError(f"no active API key {key_id}")
            kind, partner_id, scopes, name = row.kind, row.partner_id, tuple(row.scopes.split()), row.name
        created = self.create(kind, partner_id, scopes, name)  # type: ignore[arg-type]
        self.revoke(key_id)
        return created

    def list(self, partner_id: int | None = None) -> list[ApiKeyRow]:
        with self._sessions.begin() as session:
            query = select(ApiKeyRow).order_by(ApiKeyRow.id)
            if partner_id is not None:
                query = query.where(ApiKeyRow.partner_id == partner_id)
            rows = list(session.scalars(query))
            session.expunge_all()
            return rows
