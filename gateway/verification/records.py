"""Reads what a verification needs from the indexer's read model, behind a small TTL cache.

A verification never calls the node: it reads ``idx_objects`` (the item, found by primary key
from the candidate object ids of its GTIN and serial, and its lot), ``idx_status_history`` (when
it was dispensed), ``idx_checkpoints`` (how fresh the model is) and ``public_products``. Each
lookup is cached for ``ttl`` seconds, keyed by GTIN and serial (or GTIN alone), so a burst of
scans of one code costs one query. Item and lot lookups are kept while the model is unchanged:
at most every ``ttl`` seconds one query reads the newest indexed event (and the checkpoint), and
only when the model has taken new events are they dropped. The answer is then at most ``ttl``
seconds older than the model, which is itself as fresh as the indexer (``data_as_of_block`` says
how fresh), and a quiet ledger costs no queries however many codes are scanned. GTIN facts
(public product data written through the API, not through the chain) live ``ttl`` seconds.
"""

from __future__ import annotations

import datetime as dt
import functools
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from sqlalchemy import Engine, bindparam, func, select

from chain_client import gs1
from gateway.indexer.tables import CheckpointRow, EventRow, ObjectRow, PartnerRow, StatusChangeRow, table_of
from gateway.verification.tables import PublicProductRow
from gateway.verification.verdict import ItemRecord

__all__ = ["GtinFacts", "RecordStore", "TtlCache", "candidate_object_ids"]

_K = TypeVar("_K")
_V = TypeVar("_V")

_OBJECTS = table_of(ObjectRow)
_STATUS = table_of(StatusChangeRow)
_CHECKPOINTS = table_of(CheckpointRow)
_EVENTS = table_of(EventRow)
_PARTNERS = table_of(PartnerRow)
_PRODUCTS = table_of(PublicProductRow)


class TtlCache(Generic[_K, _V]):
    """A dict whose entries live ``ttl`` seconds; cleared whole when it reaches ``max_entries``."""

    def __init__(self, ttl: float, max_entries: int = 100_000, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self._clock = clock
        self._entries: dict[_K, tuple[float, _V]] = {}

    def get(self, key: _K) -> tuple[bool, _V | None]:
        entry = self._entries.get(key)
        if entry is None or entry[0] < self._clock():
            return False, None
        return True, entry[1]

    def put(self, key: _K, value: _V) -> None:
        if self.ttl <= 0:
            return
        if len(self._entries) >= self.max_entries:
            self._entries.clear()
        self._entries[key] = (self._clock() + self.ttl, value)

    def clear(self) -> None:
        self._entries.clear()


@functools.lru_cache(maxsize=65536)
def candidate_object_ids(gtin: str, serial: str) -> tuple[str, ...]:
    """The ledger ids the item ``gtin``/``serial`` may have: its EPC URN (hence its id) depends
    on the GS1 Company Prefix length it was registered with, which the GTIN alone does not tell.

    Memoised (seven hashes per call); the URNs are built by :class:`chain_client.gs1.Sgtin`, so
    they are canonical and need no re-parsing before hashing."""
    ids = []
    for length in range(6, 13):
        try:
            urn = gs1.Sgtin(gs1.Gtin(gtin, length), serial).epc_urn
        except gs1.GS1Error:
            continue
        ids.append("0x" + gs1.object_id(urn, validate=False).hex())
    return tuple(ids)


# Statements built once (building a select costs about as much as running it on SQLite).
_O = _OBJECTS.c
_CHECKPOINT_Q = select(func.max(_CHECKPOINTS.c.last_block))
# The model's version: its newest event (a reorg that replaced it changes the transaction hash).
_NEWEST_EVENT_Q = (
    select(_EVENTS.c.block_number, _EVENTS.c.log_index, _EVENTS.c.tx_hash)
    .order_by(_EVENTS.c.block_number.desc(), _EVENTS.c.log_index.desc())
    .limit(1)
)
_ITEM_Q = (
    select(_O.object_id, _O.lot, _O.lot_id, _O.expiry_date, _O.status, _O.own_status, _O.registrant)
    .where(_O.object_id.in_(bindparam("ids", expanding=True)), _O.kind == "ITEM")
    .limit(1)
)
_OWN_STATUS_Q = select(_O.own_status).where(_O.object_id == bindparam("object_id"))
_CHANGED_AT_Q = select(func.max(_STATUS.c.changed_at)).where(_STATUS.c.object_id == bindparam("object_id"))
_FIRST_REGISTRANT_Q = select(_O.registrant).where(_O.gtin == bindparam("gtin")).limit(1)
_PRODUCT_Q = select(_PRODUCTS).where(_PRODUCTS.c.gtin == bindparam("gtin"))
_PARTNER_NAME_Q = select(_PARTNERS.c.name).where(_PARTNERS.c.partner_id == bindparam("partner_id"))


@dataclass(frozen=True, slots=True)
class GtinFacts:
    """What is known about a GTIN as a whole (cached per GTIN)."""

    gtin: str
    known: bool  # the ledger has objects with this GTIN
    product_name: str | None
    manufacturer: str | None  # the public display name, else the first registrant's directory name
    image_url: str | None
    leaflet_url: str | None


@dataclass(frozen=True, slots=True)
class Lookup:
    record: ItemRecord | None
    registrant: int | None
    as_of_block: int | None


class RecordStore:
    """Cached reads of the read model for verification (thread-safe; one connection per miss)."""

    def __init__(
        self, engine: Engine, ttl: float, max_entries: int = 100_000, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.engine = engine
        self.ttl = ttl
        self.max_entries = max_entries
        self.gtins: TtlCache[str, GtinFacts] = TtlCache(ttl, clock=clock)
        # (gtin, serial) or (gtin, lot key) -> (record, registrant), valid for self._version
        self._items: dict[tuple[str, str], tuple[ItemRecord | None, int | None]] = {}
        self._clock = clock
        self._checked_at = -math.inf
        self._version: tuple[object, ...] | None = None
        self._generation = 0  # bumped when the lookups are dropped
        self._as_of_block: int | None = None
        self._lock = threading.Lock()

    def clear(self) -> None:
        with self._lock:
            self._drop()
            self.gtins.clear()
            self._checked_at = -math.inf

    def _drop(self) -> None:
        self._generation += 1
        self._items.clear()

    def is_warm(self, gtin: str, serial: str) -> bool:
        """Whether looking up ``gtin``/``serial`` now needs no query."""
        return self._clock() - self._checked_at < self.ttl and (gtin, serial) in self._items and self.gtins.get(gtin)[0]

    def _current(self) -> int | None:
        """Re-reads the model's version at most every ``ttl`` seconds, dropping the cached lookups
        when it changed; returns the model's last indexed block."""
        if self._clock() - self._checked_at < self.ttl:
            return self._as_of_block
        with self._lock:
            now = self._clock()
            if now - self._checked_at < self.ttl:
                return self._as_of_block
            with self.engine.connect() as conn:
                newest = conn.execute(_NEWEST_EVENT_Q).first()
                block = conn.execute(_CHECKPOINT_Q).scalar()
            version = None if newest is None else tuple(newest)
            if version != self._version or len(self._items) >= self.max_entries:
                self._drop()
                self._version = version
            self._as_of_block = block
            self._checked_at = now
            return block

    def _cached(self, key: tuple[str, str], load: Callable[[], tuple[ItemRecord | None, int | None]]) -> Lookup:
        block = self._current()
        found = self._items.get(key)
        if found is None:
            generation = self._generation
            found = load()
            with self._lock:  # not if the lookups were dropped meanwhile: this one may be older
                if self.ttl > 0 and generation == self._generation:
                    self._items[key] = found
        return Lookup(found[0], found[1], block)

    def item(self, gtin: str, serial: str) -> Lookup:
        return self._cached((gtin, serial), lambda: self._load_item(gtin, serial))

    def gtin(self, gtin: str) -> GtinFacts:
        hit, cached = self.gtins.get(gtin)
        if hit and cached is not None:
            return cached
        found = self._load_gtin(gtin)
        self.gtins.put(gtin, found)
        return found

    def lot(self, gtin: str, lot: str) -> Lookup:
        key = (gtin, "\x00lot:" + lot)  # never a serial: serials have no control characters
        return self._cached(key, lambda: self._load_lot(gtin, lot))

    def _load_lot(self, gtin: str, lot: str) -> tuple[ItemRecord | None, int | None]:
        """A lot object of ``gtin``/``lot``, else (items carry the lot) its first item's lot facts."""
        o = _OBJECTS.c
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(o.kind, o.expiry_date, o.status, o.own_status, o.registrant)
                .where(o.gtin == gtin, o.lot == lot)
                .order_by(o.kind)  # ITEM before LOT: prefer the lot object below
                .limit(50)
            ).all()
        if not rows:
            return None, None
        lots = [r for r in rows if r.kind == "LOT"]
        row = lots[0] if lots else rows[0]
        status = row.own_status if lots else "ACTIVE"
        record = ItemRecord(gtin, "", lot, row.expiry_date, status, status, None, None)
        return record, int(row.registrant)

    def _load_item(self, gtin: str, serial: str) -> tuple[ItemRecord | None, int | None]:
        with self.engine.connect() as conn:
            row = conn.execute(_ITEM_Q, {"ids": list(candidate_object_ids(gtin, serial))}).first()
            if row is None:
                return None, None
            lot_status = None
            if row.lot_id is not None:
                lot_status = conn.execute(_OWN_STATUS_Q, {"object_id": row.lot_id}).scalar()
            changed_at = None
            if row.own_status != "ACTIVE":
                changed_at = conn.execute(_CHANGED_AT_Q, {"object_id": row.object_id}).scalar()
        record = ItemRecord(
            gtin=gtin,
            serial=serial,
            lot=row.lot or None,
            expiry=row.expiry_date,
            status=row.status,
            own_status=row.own_status,
            lot_status=lot_status,
            status_changed_at=_aware(changed_at),
        )
        return record, int(row.registrant)

    def _load_gtin(self, gtin: str) -> GtinFacts:
        with self.engine.connect() as conn:
            registrant = conn.execute(_FIRST_REGISTRANT_Q, {"gtin": gtin}).scalar()
            product = conn.execute(_PRODUCT_Q, {"gtin": gtin}).first()
            manufacturer = product.manufacturer if product is not None else None
            if manufacturer is None and registrant is not None:
                manufacturer = conn.execute(_PARTNER_NAME_Q, {"partner_id": registrant}).scalar()
        return GtinFacts(
            gtin=gtin,
            known=registrant is not None,
            product_name=None if product is None else product.product_name,
            manufacturer=manufacturer,
            image_url=None if product is None else product.image_url,
            leaflet_url=None if product is None else product.leaflet_url,
        )

    def is_registrant(self, gtin: str, partner_id: int) -> bool:
        """Whether ``partner_id`` registered at least one object of ``gtin`` (uncached)."""
        o = _OBJECTS.c
        with self.engine.connect() as conn:
            found = conn.execute(select(o.object_id).where(o.gtin == gtin, o.registrant == partner_id).limit(1)).first()
        return found is not None

    def registered_gtins(self, partner_id: int) -> list[str]:
        """The GTINs ``partner_id`` registered objects of (uncached)."""
        o = _OBJECTS.c
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(o.gtin).where(o.registrant == partner_id, o.gtin.is_not(None)).distinct()
            ).scalars()
            return sorted(str(g) for g in rows)


def _aware(value: dt.datetime | None) -> dt.datetime | None:
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=dt.UTC)
