"""API keys on an in-memory SQLite database: shown once, stored as a hash, scopes, revocation, rotation."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, delete, select
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import StaticPool

from gateway.db import make_engine, session_factory, upgrade
from gateway.partner.apikeys import ApiKeyError, ApiKeys, Principal
from gateway.partner.tables import ApiKeyRow


@pytest.fixture(scope="module")
def engine() -> Iterator[Engine]:
    engine = make_engine("sqlite://", poolclass=StaticPool)  # one in-memory database for every session
    upgrade(engine)  # the real migrations, once per module
    yield engine
    engine.dispose()


@pytest.fixture
def sessions(engine: Engine) -> Iterator[sessionmaker[Session]]:
    factory = session_factory(engine)
    yield factory
    with factory.begin() as session:
        session.execute(delete(ApiKeyRow))


@pytest.fixture
def keys(sessions: sessionmaker[Session]) -> ApiKeys:
    return ApiKeys(sessions)


def rows(sessions: sessionmaker[Session]) -> list[ApiKeyRow]:
    with sessions() as session:
        return list(session.scalars(select(ApiKeyRow).order_by(ApiKeyRow.id)))


def test_a_key_is_shown_once_and_stored_only_as_its_hash(keys: ApiKeys, sessions: sessionmaker[Session]) -> None:
    created = keys.create("partner", partner_id=7, name="maker")
    scheme, prefix, secret = created.key.split("_", 2)
    assert (scheme, prefix) == ("ck", created.prefix)
    assert len(secret) >= 43  # 32 random bytes, URL-safe base64
    (row,) = rows(sessions)
    assert row.id == created.id
    assert row.prefix == prefix
    assert row.secret_hash == hashlib.sha256(secret.encode()).hexdigest()
    stored = " ".join(str(v) for v in vars(row).values())
    assert secret not in stored and created.key not in stored
    assert all(not hasattr(r, "key") for r in keys.list())


def test_keys_are_unique(keys: ApiKeys) -> None:
    created = [keys.create("partner", partner_id=1) for _ in range(20)]
    assert len({c.key for c in created}) == len({c.prefix for c in created}) == 20


@pytest.mark.parametrize(
    ("kind", "partner_id", "scopes"),
    [("partner", 3, {"submit", "read"}), ("auditor", 4, {"read"}), ("auditor", None, {"read"}),
     ("admin", None, {"admin", "read"})],
)  # fmt: skip
def test_default_scopes_per_kind(keys: ApiKeys, kind: str, partner_id: int | None, scopes: set[str]) -> None:
    created = keys.create(kind, partner_id)  # type: ignore[arg-type]
    assert set(created.scopes) == scopes
    principal = keys.authenticate(created.key)
    assert principal == Principal(created.id, kind, partner_id, frozenset(scopes))  # type: ignore[arg-type]
    assert all(principal.has(s) for s in scopes)
    assert not principal.has("nothing")


def test_explicit_scopes_narrow_a_key(keys: ApiKeys) -> None:
    reader = keys.create("partner", 3, scopes=("read",))
    principal = keys.authenticate(reader.key)
    assert principal.has("read") and not principal.has("submit")


@pytest.mark.parametrize(
    ("kind", "partner_id", "scopes", "message"),
    [
        ("auditor", 4, ("read", "submit"), "read-only"),
        ("auditor", 4, ("admin",), "read-only"),
        ("partner", None, None, "names its partner"),
        ("partner", 3, ("read", "write"), "unknown scopes: write"),
    ],
)
def test_invalid_key_requests_are_refused_and_nothing_is_stored(
    keys: ApiKeys, sessions: sessionmaker[Session], kind: str, partner_id: int | None, scopes: tuple[str, ...] | None,
    message: str,
) -> None:  # fmt: skip
    with pytest.raises(ValueError, match=message):
        keys.create(kind, partner_id, scopes)  # type: ignore[arg-type]
    assert rows(sessions) == []


@pytest.mark.parametrize(
    "key",
    ["", "ck", "ck_", "ck_abc", "xx_0123456789ab_secret", "Bearer ck_a_b", "ck_0123456789ab_", "ck__secret"],
)
def test_malformed_or_unknown_keys_are_refused(keys: ApiKeys, key: str) -> None:
    keys.create("partner", 1)
    with pytest.raises(ApiKeyError) as info:
        keys.authenticate(key)
    assert info.value.code == "auth.invalid_key"


def test_a_right_prefix_with_a_wrong_secret_is_refused(keys: ApiKeys) -> None:
    created = keys.create("partner", 1)
    with pytest.raises(ApiKeyError):
        keys.authenticate(f"ck_{created.prefix}_{'A' * 43}")
    with pytest.raises(ApiKeyError):
        keys.authenticate(created.key[:-1])  # one character short
    other = keys.create("partner", 2)
    with pytest.raises(ApiKeyError):  # one key's prefix with another key's secret
        keys.authenticate(f"ck_{created.prefix}_{other.key.split('_', 2)[2]}")


def test_secrets_with_underscores_authenticate(keys: ApiKeys) -> None:
    created = [keys.create("partner", 1) for _ in range(40)]
    with_underscore = [c for c in created if "_" in c.key.split("_", 2)[2]]
    assert with_underscore, "URL-safe base64 secrets contain '_' often enough"
    for c in with_underscore:
        assert keys.authenticate(c.key).key_id == c.id


def test_revocation(keys: ApiKeys, sessions: sessionmaker[Session]) -> None:
    created = keys.create("partner", 1)
    other = keys.create("partner", 1)
    assert keys.revoke(created.id) is True
    with pytest.raises(ApiKeyError):
        keys.authenticate(created.key)
    assert keys.authenticate(other.key).key_id == other.id  # only that key
    assert keys.revoke(created.id) is False  # already revoked
    assert keys.revoke(9999) is False  # unknown
    assert rows(sessions)[0].revoked_at is not None


def test_rotation_keeps_kind_partner_scopes_and_name(keys: ApiKeys) -> None:
    old = keys.create("partner", 5, scopes=("read",), name="reporting")
    new = keys.rotate(old.id)
    assert new.id != old.id and new.key != old.key
    assert (new.kind, new.partner_id, new.scopes) == ("partner", 5, ("read",))
    with pytest.raises(ApiKeyError):
        keys.authenticate(old.key)
    assert keys.authenticate(new.key) == Principal(new.id, "partner", 5, frozenset({"read"}))
    (listed,) = [r for r in keys.list() if r.id == new.id]
    assert listed.name == "reporting"


def test_a_revoked_or_unknown_key_cannot_be_rotated(keys: ApiKeys) -> None:
    created = keys.create("partner", 5)
    keys.revoke(created.id)
    with pytest.raises(LookupError):
        keys.rotate(created.id)
    with pytest.raises(LookupError):
        keys.rotate(12345)
    assert len(keys.list()) == 1  # nothing created


def test_list_filters_by_partner(keys: ApiKeys) -> None:
    a = keys.create("partner", 1)
    b = keys.create("partner", 2)
    c = keys.create("partner", 1)
    keys.create("admin")
    assert [r.id for r in keys.list(1)] == [a.id, c.id]
    assert [r.id for r in keys.list(2)] == [b.id]
    assert len(keys.list()) == 4
    assert all(r.revoked_at is None for r in keys.list())
