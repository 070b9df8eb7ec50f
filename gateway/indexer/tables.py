"""Tables of the indexer (all prefixed ``idx_``), declared on the gateway's :class:`Base`.

Two groups:

- bookkeeping: the checkpoint per (chain id, ledger), hashes of indexed blocks (reorg detection),
  the raw decoded events (unique on ``(tx_hash, log_index)``: this is what makes re-indexing a
  range a no-op) and the undo log of updated rows (exact reorg rollback);
- the query model: partners, objects, custody history, containment, genealogy, documents,
  shipments, status history, recalls and event batches.

Rows that one event creates are keyed by the event's ``(block_number, log_index)`` (unique on a
chain, and the order of events) rather than by surrogate ids: the live model and a rebuild from
the chain then have equal keys, and a rollback deletes "everything after block F" with one
predicate per table. There are no foreign keys: the chain guarantees consistency, and bulk
inserts and rollbacks stay simple and fast. Enums are stored by name (``IN_TRANSIT``), partners
by id, object ids, hashes and addresses as 0x-hex text, GLNs as 13-digit text.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Any, cast

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from gateway.db.base import Base
from gateway.indexer.coltypes import UInt256, UtcDateTime

__all__ = [
    "MODEL_TABLES",
    "OWN_HISTORY_ROWS",
    "BlockRow",
    "CheckpointRow",
    "ContainmentRow",
    "CustodyHistoryRow",
    "DocumentRow",
    "EventBatchRow",
    "EventRow",
    "GenealogyEdgeRow",
    "GenealogyEventRow",
    "HistoryEvent",
    "ObjectRow",
    "PartnerAccountRow",
    "PartnerLocationRow",
    "PartnerRow",
    "RecallRow",
    "ShipmentRow",
    "StatusChangeRow",
    "UndoRow",
    "table_of",
]

HASH = String(66)  # 0x + 64 hex digits: object ids, tx and block hashes, genealogy and document ids
ADDRESS = String(42)
GLN = String(13)
ENUM = String(32)
REASON = String(32)  # a bytes32 reason code, as ASCII
PARTNER = BigInteger  # uint32 does not fit a signed 32-bit INTEGER on PostgreSQL


def table_of(model: type[Base]) -> Table:
    """The Core table of a mapped class (typed as a Table, which ``__table__`` is not)."""
    return cast(Table, model.__table__)


def _natural_int() -> Any:
    return mapped_column(BigInteger, primary_key=True, autoincrement=False)


class HistoryEvent(StrEnum):
    """What happened to an object, as one row of its custody history."""

    REGISTERED = "registered"
    SHIPPED = "shipped"
    RECEIVED = "received"
    REJECTED = "rejected"
    CANCELLED = "cancelled"
    TRANSFERRED = "transferred"
    PACKED = "packed"
    UNPACKED = "unpacked"
    STATUS_CHANGED = "status_changed"
    OWNERSHIP_TRANSFERRED = "ownership_transferred"


# ------------------------------------------------------------------------------------ bookkeeping


class CheckpointRow(Base):
    """How far the model of one ledger (and its relay) on one chain is indexed."""

    __tablename__ = "idx_checkpoints"

    chain_id: Mapped[int] = _natural_int()
    contract: Mapped[str] = mapped_column(ADDRESS, primary_key=True)
    relay: Mapped[str | None] = mapped_column(ADDRESS)
    last_block: Mapped[int] = mapped_column(BigInteger)
    last_block_hash: Mapped[str | None] = mapped_column(HASH)
    # Undo entries exist for every block above this one: a rollback to a block >= undo_floor uses
    # them; a deeper one replays the raw event table instead.
    undo_floor: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)


class BlockRow(Base):
    """Hash and time of an indexed block that had events, or that ended a batch (the checkpoint)."""

    __tablename__ = "idx_blocks"

    number: Mapped[int] = _natural_int()
    hash: Mapped[str] = mapped_column(HASH)
    block_time: Mapped[dt.datetime] = mapped_column(UtcDateTime)


class EventRow(Base):
    """One decoded log of the ledger or its relay, as the chain emitted it: the model's source."""

    __tablename__ = "idx_events"
    __table_args__ = (UniqueConstraint("tx_hash", "log_index", name="uq_idx_events_tx_hash_log_index"),)

    block_number: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    log_index: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    tx_hash: Mapped[str] = mapped_column(HASH)
    block_hash: Mapped[str] = mapped_column(HASH)
    block_time: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    contract: Mapped[str] = mapped_column(ADDRESS)
    event: Mapped[str] = mapped_column(String(64))
    args: Mapped[dict[str, Any]] = mapped_column(JSON)


class UndoRow(Base):
    """The values an update overwrote: the row's mutable columns before the first change in a block."""

    __tablename__ = "idx_undo"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    block_number: Mapped[int] = mapped_column(BigInteger, index=True)
    table_name: Mapped[str] = mapped_column(String(40))
    row_key: Mapped[str] = mapped_column(String(80))
    before: Mapped[dict[str, Any]] = mapped_column(JSON)


# ------------------------------------------------------------------------------------ partners


class PartnerRow(Base):
    __tablename__ = "idx_partners"

    partner_id: Mapped[int] = _natural_int()
    name: Mapped[str] = mapped_column(Text)
    role: Mapped[str] = mapped_column(ENUM)
    active: Mapped[bool] = mapped_column(Boolean)
    registered_block: Mapped[int] = mapped_column(BigInteger, index=True)
    registered_log_index: Mapped[int] = mapped_column(Integer)
    registered_tx: Mapped[str] = mapped_column(HASH)
    registered_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    status_changed_block: Mapped[int | None] = mapped_column(BigInteger)
    status_changed_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)


class PartnerAccountRow(Base):
    """An account acting for a partner from its addition until its removal (open while removed_* is null)."""

    __tablename__ = "idx_partner_accounts"

    block_number: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    log_index: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    tx_hash: Mapped[str] = mapped_column(HASH)
    partner_id: Mapped[int] = mapped_column(PARTNER, index=True)
    account: Mapped[str] = mapped_column(ADDRESS, index=True)
    added_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    removed_block: Mapped[int | None] = mapped_column(BigInteger)
    removed_log_index: Mapped[int | None] = mapped_column(Integer)
    removed_tx: Mapped[str | None] = mapped_column(HASH)
    removed_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)


class PartnerLocationRow(Base):
    __tablename__ = "idx_partner_locations"

    gln: Mapped[str] = mapped_column(GLN, primary_key=True)
    partner_id: Mapped[int] = mapped_column(PARTNER, index=True)
    block_number: Mapped[int] = mapped_column(BigInteger, index=True)
    log_index: Mapped[int] = mapped_column(Integer)
    tx_hash: Mapped[str] = mapped_column(HASH)
    added_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)


# ------------------------------------------------------------------------------------ objects


class ObjectRow(Base):
    """An item, lot or logistic unit with its effective custody state, as ``custodyOf`` reports it.

    A packed object's custodian, owner, shipment and ``InTransit`` status are those of its
    outermost container (``root_id``; an unpacked object is its own root), so an object's
    holder needs no walk up its containers. Only columns some query filters or joins on are
    indexed (migration ``0004_indexer_unused_indexes``). ``own_status`` is the object's lifecycle status;
    ``status`` is ``IN_TRANSIT`` while ``own_status`` is ``ACTIVE`` and a shipment is pending.
    """

    __tablename__ = "idx_objects"
    __table_args__ = (Index("ix_idx_objects_gtin_lot", "gtin", "lot"),)

    object_id: Mapped[str] = mapped_column(HASH, primary_key=True)
    kind: Mapped[str] = mapped_column(ENUM)
    epc: Mapped[str] = mapped_column(Text)
    gtin: Mapped[str | None] = mapped_column(String(14))
    serial: Mapped[str | None] = mapped_column(Text)
    sscc: Mapped[str | None] = mapped_column(String(18))
    lot: Mapped[str | None] = mapped_column(Text)
    lot_id: Mapped[str | None] = mapped_column(HASH, index=True)
    expiry_date: Mapped[dt.date | None] = mapped_column(Date)
    production_date: Mapped[dt.date | None] = mapped_column(Date)
    origin_gln: Mapped[str | None] = mapped_column(GLN)
    quantity: Mapped[int | None] = mapped_column(UInt256)
    unit_of_measure: Mapped[str | None] = mapped_column(String(3))
    registrant: Mapped[int] = mapped_column(PARTNER, index=True)
    custodian: Mapped[int] = mapped_column(PARTNER)
    owner: Mapped[int] = mapped_column(PARTNER)
    status: Mapped[str] = mapped_column(ENUM)
    own_status: Mapped[str] = mapped_column(ENUM)
    parent_id: Mapped[str | None] = mapped_column(HASH)
    root_id: Mapped[str] = mapped_column(HASH, index=True)
    shipment_id: Mapped[int | None] = mapped_column(BigInteger)
    registered_block: Mapped[int] = mapped_column(BigInteger, index=True)
    registered_log_index: Mapped[int] = mapped_column(Integer)
    registered_tx: Mapped[str] = mapped_column(HASH)
    registered_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    last_event_block: Mapped[int] = mapped_column(BigInteger)
    last_event_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)


# The rows of a custody history an object has of its own: not those an event on its outermost
# container gave it (``container_id`` set, the container's custodian and GLN); packing and unpacking
# also name the container, but are the object's own events.
OWN_HISTORY_ROWS = "container_id IS NULL OR event IN ('packed', 'unpacked')"


class CustodyHistoryRow(Base):
    """One custody-relevant event of one object, with who held and owned it afterwards.

    An event on a container also gives a row to everything packed in it (``container_id`` names
    the container; for ``packed``/``unpacked`` it is the parent), so an item's history is complete
    without joining its containers' histories.
    """

    __tablename__ = "idx_custody_history"
    # Who held an object where, read from the index alone: a trace asks it of thousands of objects.
    # Only the object's own rows: a row an event on its container gave it repeats that container's
    # custodian and GLN, and a trace always reaches the container too (migration 0005).
    __table_args__ = (
        Index(
            "ix_idx_custody_history_own_holders",
            "object_id",
            "custodian",
            "gln",
            "event",
            "container_id",
            sqlite_where=text(OWN_HISTORY_ROWS),
            postgresql_where=text(OWN_HISTORY_ROWS),
        ),
    )

    object_id: Mapped[str] = mapped_column(HASH, primary_key=True)
    block_number: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False, index=True)
    log_index: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    tx_hash: Mapped[str] = mapped_column(HASH)
    at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    event: Mapped[str] = mapped_column(String(24))
    partner_id: Mapped[int | None] = mapped_column(PARTNER)
    counterparty_id: Mapped[int | None] = mapped_column(PARTNER)
    gln: Mapped[str | None] = mapped_column(GLN)
    shipment_id: Mapped[int | None] = mapped_column(BigInteger, index=True)
    container_id: Mapped[str | None] = mapped_column(HASH)
    status: Mapped[str | None] = mapped_column(ENUM)
    reason: Mapped[str | None] = mapped_column(REASON)
    custodian: Mapped[int] = mapped_column(PARTNER)
    owner: Mapped[int] = mapped_column(PARTNER)


class ContainmentRow(Base):
    """``child`` packed in ``parent`` from the pack event until the unpack event (open while unpacked_* is null)."""

    __tablename__ = "idx_containment"

    block_number: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    log_index: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    tx_hash: Mapped[str] = mapped_column(HASH)
    child_id: Mapped[str] = mapped_column(HASH, index=True)
    parent_id: Mapped[str] = mapped_column(HASH, index=True)
    packed_by: Mapped[int] = mapped_column(PARTNER)
    packed_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    unpacked_block: Mapped[int | None] = mapped_column(BigInteger)
    unpacked_log_index: Mapped[int | None] = mapped_column(Integer)
    unpacked_tx: Mapped[str | None] = mapped_column(HASH)
    unpacked_by: Mapped[int | None] = mapped_column(PARTNER)
    unpacked_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)


class ShipmentRow(Base):
    __tablename__ = "idx_shipments"

    shipment_id: Mapped[int] = _natural_int()
    sender: Mapped[int] = mapped_column(PARTNER, index=True)
    receiver: Mapped[int] = mapped_column(PARTNER, index=True)
    ship_from_gln: Mapped[str | None] = mapped_column(GLN)
    ship_to_gln: Mapped[str | None] = mapped_column(GLN)
    transfer_ownership: Mapped[bool] = mapped_column(Boolean)
    object_count: Mapped[int] = mapped_column(BigInteger)
    dispatched_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, index=True)
    block_number: Mapped[int] = mapped_column(BigInteger, index=True)
    log_index: Mapped[int] = mapped_column(Integer)
    tx_hash: Mapped[str] = mapped_column(HASH)


# ------------------------------------------------------------------------------------ genealogy


class GenealogyEventRow(Base):
    __tablename__ = "idx_genealogy_events"

    genealogy_id: Mapped[str] = mapped_column(HASH, primary_key=True)
    kind: Mapped[str] = mapped_column(ENUM)
    partner_id: Mapped[int] = mapped_column(PARTNER, index=True)
    block_number: Mapped[int] = mapped_column(BigInteger, index=True)
    log_index: Mapped[int] = mapped_column(Integer)
    tx_hash: Mapped[str] = mapped_column(HASH)
    recorded_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, index=True)


class GenealogyEdgeRow(Base):
    """``output`` derives from ``input`` in genealogy event ``genealogy_id`` (every input by every output).

    Keyed by the input's and output's log indexes, since one lot may be an input twice.
    """

    __tablename__ = "idx_genealogy_edges"

    genealogy_id: Mapped[str] = mapped_column(HASH, primary_key=True)
    input_log_index: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    output_log_index: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    kind: Mapped[str] = mapped_column(ENUM)
    input_id: Mapped[str] = mapped_column(HASH, index=True)
    output_id: Mapped[str] = mapped_column(HASH, index=True)
    input_quantity: Mapped[int] = mapped_column(UInt256)
    output_quantity: Mapped[int] = mapped_column(UInt256)
    block_number: Mapped[int] = mapped_column(BigInteger, index=True)
    tx_hash: Mapped[str] = mapped_column(HASH)
    recorded_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)


# ------------------------------------------------------------------------------------ documents, status


class DocumentRow(Base):
    """A document anchored to an object (``object_id``) or a shipment (``shipment_id``)."""

    __tablename__ = "idx_documents"

    document_id: Mapped[str] = mapped_column(HASH, primary_key=True)
    subject: Mapped[str] = mapped_column(HASH, index=True)
    subject_type: Mapped[str] = mapped_column(String(8))  # object | shipment
    object_id: Mapped[str | None] = mapped_column(HASH, index=True)
    shipment_id: Mapped[int | None] = mapped_column(BigInteger, index=True)
    doc_type: Mapped[str] = mapped_column(ENUM)
    cid: Mapped[bytes] = mapped_column(LargeBinary, index=True)  # documents look their anchors up by CID
    cid_text: Mapped[str | None] = mapped_column(String(128))
    partner_id: Mapped[int] = mapped_column(PARTNER, index=True)
    anchored_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, index=True)
    block_number: Mapped[int] = mapped_column(BigInteger, index=True)
    log_index: Mapped[int] = mapped_column(Integer)
    tx_hash: Mapped[str] = mapped_column(HASH)


class StatusChangeRow(Base):
    __tablename__ = "idx_status_history"

    block_number: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    log_index: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    tx_hash: Mapped[str] = mapped_column(HASH)
    object_id: Mapped[str] = mapped_column(HASH, index=True)
    previous: Mapped[str] = mapped_column(ENUM)
    status: Mapped[str] = mapped_column(ENUM)
    reason: Mapped[str] = mapped_column(REASON)
    partner_id: Mapped[int] = mapped_column(PARTNER)
    changed_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)


class RecallRow(Base):
    __tablename__ = "idx_recalls"

    block_number: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    log_index: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    tx_hash: Mapped[str] = mapped_column(HASH)
    object_id: Mapped[str] = mapped_column(HASH, index=True)
    partner_id: Mapped[int] = mapped_column(PARTNER, index=True)
    reason: Mapped[str] = mapped_column(REASON)
    initiated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, index=True)


class EventBatchRow(Base):
    """A Merkle root of off-chain event hashes, anchored by a partner."""

    __tablename__ = "idx_event_batches"

    root: Mapped[str] = mapped_column(HASH, primary_key=True)
    partner_id: Mapped[int] = mapped_column(PARTNER, index=True)
    leaf_count: Mapped[int] = mapped_column(BigInteger)
    cid: Mapped[bytes] = mapped_column(LargeBinary)
    cid_text: Mapped[str | None] = mapped_column(String(128))
    anchored_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, index=True)
    block_number: Mapped[int] = mapped_column(BigInteger, index=True)
    log_index: Mapped[int] = mapped_column(Integer)
    tx_hash: Mapped[str] = mapped_column(HASH)


# Tables derived from events, in the order a comparison reports them (raw events first).
MODEL_TABLES: tuple[type[Base], ...] = (
    EventRow,
    PartnerRow,
    PartnerAccountRow,
    PartnerLocationRow,
    ObjectRow,
    CustodyHistoryRow,
    ContainmentRow,
    ShipmentRow,
    GenealogyEventRow,
    GenealogyEdgeRow,
    DocumentRow,
    StatusChangeRow,
    RecallRow,
    EventBatchRow,
)
