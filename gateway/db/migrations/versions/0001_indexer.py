"""indexer: checkpoints, blocks, raw events, undo log and the query model (idx_* tables)

Revision ID: 0001_indexer
Revises:
Create Date: 2026-11-27

Hand-written and portable: the same DDL on SQLite and PostgreSQL. Quantities are NUMERIC(78, 0)
on PostgreSQL and decimal text on SQLite (see gateway.indexer.coltypes); times are timestamps
with time zone. Types are spelled out here rather than imported from the models, so that this
revision keeps creating the same schema whatever the models become later.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.schema import SchemaItem

revision = "0001_indexer"
down_revision = None
branch_labels = ("indexer",)
depends_on = None

HASH = sa.String(66)
ADDRESS = sa.String(42)
GLN = sa.String(13)
ENUM = sa.String(32)
REASON = sa.String(32)
TIME = sa.DateTime(timezone=True)
UINT256 = sa.Numeric(78, 0).with_variant(sa.String(78), "sqlite")


def _event_key(table: str) -> list[SchemaItem]:
    """Columns and primary key of a row created by one event: ``(block_number, log_index)``."""
    return [
        sa.Column("block_number", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("log_index", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("tx_hash", HASH, nullable=False),
        sa.PrimaryKeyConstraint("block_number", "log_index", name=op.f(f"pk_{table}")),
    ]


def _index(table: str, *columns: str, name: str | None = None) -> None:
    op.create_index(name or op.f(f"ix_{table}_{columns[0]}"), table, list(columns), unique=False)


def upgrade() -> None:
    # -- bookkeeping ---------------------------------------------------------------------------
    op.create_table(
        "idx_checkpoints",
        sa.Column("chain_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("contract", ADDRESS, nullable=False),
        sa.Column("relay", ADDRESS, nullable=True),
        sa.Column("last_block", sa.BigInteger(), nullable=False),
        sa.Column("last_block_hash", HASH, nullable=True),
        sa.Column("undo_floor", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", TIME, nullable=False),
        sa.PrimaryKeyConstraint("chain_id", "contract", name=op.f("pk_idx_checkpoints")),
    )
    op.create_table(
        "idx_blocks",
        sa.Column("number", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("hash", HASH, nullable=False),
        sa.Column("block_time", TIME, nullable=False),
        sa.PrimaryKeyConstraint("number", name=op.f("pk_idx_blocks")),
    )
    op.create_table(
        "idx_events",
        *_event_key("idx_events"),
        sa.Column("block_hash", HASH, nullable=False),
        sa.Column("block_time", TIME, nullable=False),
        sa.Column("contract", ADDRESS, nullable=False),
        sa.Column("event", sa.String(64), nullable=False),
        sa.Column("args", sa.JSON(), nullable=False),
        sa.UniqueConstraint("tx_hash", "log_index", name="uq_idx_events_tx_hash_log_index"),
    )
    _index("idx_events", "event")
    op.create_table(
        "idx_undo",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("table_name", sa.String(40), nullable=False),
        sa.Column("row_key", sa.String(80), nullable=False),
        sa.Column("before", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_idx_undo")),
    )
    _index("idx_undo", "block_number")

    # -- partners ------------------------------------------------------------------------------
    op.create_table(
        "idx_partners",
        sa.Column("partner_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("role", ENUM, nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("registered_block", sa.BigInteger(), nullable=False),
        sa.Column("registered_log_index", sa.Integer(), nullable=False),
        sa.Column("registered_tx", HASH, nullable=False),
        sa.Column("registered_at", TIME, nullable=False),
        sa.Column("status_changed_block", sa.BigInteger(), nullable=True),
        sa.Column("status_changed_at", TIME, nullable=True),
        sa.PrimaryKeyConstraint("partner_id", name=op.f("pk_idx_partners")),
    )
    _index("idx_partners", "registered_block")
    op.create_table(
        "idx_partner_accounts",
        *_event_key("idx_partner_accounts"),
        sa.Column("partner_id", sa.BigInteger(), nullable=False),
        sa.Column("account", ADDRESS, nullable=False),
        sa.Column("added_at", TIME, nullable=False),
        sa.Column("removed_block", sa.BigInteger(), nullable=True),
        sa.Column("removed_log_index", sa.Integer(), nullable=True),
        sa.Column("removed_tx", HASH, nullable=True),
        sa.Column("removed_at", TIME, nullable=True),
    )
    _index("idx_partner_accounts", "partner_id")
    _index("idx_partner_accounts", "account")
    op.create_table(
        "idx_partner_locations",
        sa.Column("gln", GLN, nullable=False),
        sa.Column("partner_id", sa.BigInteger(), nullable=False),
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("log_index", sa.Integer(), nullable=False),
        sa.Column("tx_hash", HASH, nullable=False),
        sa.Column("added_at", TIME, nullable=False),
        sa.PrimaryKeyConstraint("gln", name=op.f("pk_idx_partner_locations")),
    )
    _index("idx_partner_locations", "partner_id")
    _index("idx_partner_locations", "block_number")

    # -- objects -------------------------------------------------------------------------------
    op.create_table(
        "idx_objects",
        sa.Column("object_id", HASH, nullable=False),
        sa.Column("kind", ENUM, nullable=False),
        sa.Column("epc", sa.Text(), nullable=False),
        sa.Column("gtin", sa.String(14), nullable=True),
        sa.Column("serial", sa.Text(), nullable=True),
        sa.Column("sscc", sa.String(18), nullable=True),
        sa.Column("lot", sa.Text(), nullable=True),
        sa.Column("lot_id", HASH, nullable=True),
        sa.Column("expiry_date", sa.Date(), nullable=True),
        sa.Column("production_date", sa.Date(), nullable=True),
        sa.Column("origin_gln", GLN, nullable=True),
        sa.Column("quantity", UINT256, nullable=True),
        sa.Column("unit_of_measure", sa.String(3), nullable=True),
        sa.Column("registrant", sa.BigInteger(), nullable=False),
        sa.Column("custodian", sa.BigInteger(), nullable=False),
        sa.Column("owner", sa.BigInteger(), nullable=False),
        sa.Column("status", ENUM, nullable=False),
        sa.Column("own_status", ENUM, nullable=False),
        sa.Column("parent_id", HASH, nullable=True),
        sa.Column("root_id", HASH, nullable=False),
        sa.Column("shipment_id", sa.BigInteger(), nullable=True),
        sa.Column("registered_block", sa.BigInteger(), nullable=False),
        sa.Column("registered_log_index", sa.Integer(), nullable=False),
        sa.Column("registered_tx", HASH, nullable=False),
        sa.Column("registered_at", TIME, nullable=False),
        sa.Column("last_event_block", sa.BigInteger(), nullable=False),
        sa.Column("last_event_at", TIME, nullable=False),
        sa.PrimaryKeyConstraint("object_id", name=op.f("pk_idx_objects")),
    )
    _index("idx_objects", "gtin", "lot", name="ix_idx_objects_gtin_lot")
    for column in (
        "lot_id", "registrant", "custodian", "owner", "status", "parent_id", "root_id", "shipment_id",
        "registered_block", "registered_at",
    ):  # fmt: skip
        _index("idx_objects", column)
    op.create_table(
        "idx_custody_history",
        sa.Column("object_id", HASH, nullable=False),
        sa.Column("block_number", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("log_index", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("tx_hash", HASH, nullable=False),
        sa.Column("at", TIME, nullable=False),
        sa.Column("event", sa.String(24), nullable=False),
        sa.Column("partner_id", sa.BigInteger(), nullable=True),
        sa.Column("counterparty_id", sa.BigInteger(), nullable=True),
        sa.Column("gln", GLN, nullable=True),
        sa.Column("shipment_id", sa.BigInteger(), nullable=True),
        sa.Column("container_id", HASH, nullable=True),
        sa.Column("status", ENUM, nullable=True),
        sa.Column("reason", REASON, nullable=True),
        sa.Column("custodian", sa.BigInteger(), nullable=False),
        sa.Column("owner", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("object_id", "block_number", "log_index", name=op.f("pk_idx_custody_history")),
    )
    for column in ("block_number", "at", "partner_id", "shipment_id"):
        _index("idx_custody_history", column)
    op.create_table(
        "idx_containment",
        *_event_key("idx_containment"),
        sa.Column("child_id", HASH, nullable=False),
        sa.Column("parent_id", HASH, nullable=False),
        sa.Column("packed_by", sa.BigInteger(), nullable=False),
        sa.Column("packed_at", TIME, nullable=False),
        sa.Column("unpacked_block", sa.BigInteger(), nullable=True),
        sa.Column("unpacked_log_index", sa.Integer(), nullable=True),
        sa.Column("unpacked_tx", HASH, nullable=True),
        sa.Column("unpacked_by", sa.BigInteger(), nullable=True),
        sa.Column("unpacked_at", TIME, nullable=True),
    )
    _index("idx_containment", "child_id")
    _index("idx_containment", "parent_id")
    op.create_table(
        "idx_shipments",
        sa.Column("shipment_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("sender", sa.BigInteger(), nullable=False),
        sa.Column("receiver", sa.BigInteger(), nullable=False),
        sa.Column("ship_from_gln", GLN, nullable=True),
        sa.Column("ship_to_gln", GLN, nullable=True),
        sa.Column("transfer_ownership", sa.Boolean(), nullable=False),
        sa.Column("object_count", sa.BigInteger(), nullable=False),
        sa.Column("dispatched_at", TIME, nullable=False),
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("log_index", sa.Integer(), nullable=False),
        sa.Column("tx_hash", HASH, nullable=False),
        sa.PrimaryKeyConstraint("shipment_id", name=op.f("pk_idx_shipments")),
    )
    for column in ("sender", "receiver", "dispatched_at", "block_number"):
        _index("idx_shipments", column)

    # -- genealogy -----------------------------------------------------------------------------
    op.create_table(
        "idx_genealogy_events",
        sa.Column("genealogy_id", HASH, nullable=False),
        sa.Column("kind", ENUM, nullable=False),
        sa.Column("partner_id", sa.BigInteger(), nullable=False),
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("log_index", sa.Integer(), nullable=False),
        sa.Column("tx_hash", HASH, nullable=False),
        sa.Column("recorded_at", TIME, nullable=False),
        sa.PrimaryKeyConstraint("genealogy_id", name=op.f("pk_idx_genealogy_events")),
    )
    for column in ("partner_id", "block_number", "recorded_at"):
        _index("idx_genealogy_events", column)
    op.create_table(
        "idx_genealogy_edges",
        sa.Column("genealogy_id", HASH, nullable=False),
        sa.Column("input_log_index", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("output_log_index", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("kind", ENUM, nullable=False),
        sa.Column("input_id", HASH, nullable=False),
        sa.Column("output_id", HASH, nullable=False),
        sa.Column("input_quantity", UINT256, nullable=False),
        sa.Column("output_quantity", UINT256, nullable=False),
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("tx_hash", HASH, nullable=False),
        sa.Column("recorded_at", TIME, nullable=False),
        sa.PrimaryKeyConstraint(
            "genealogy_id", "input_log_index", "output_log_index", name=op.f("pk_idx_genealogy_edges")
        ),
    )
    for column in ("input_id", "output_id", "block_number"):
        _index("idx_genealogy_edges", column)

    # -- documents, status, recalls, event batches ------------------------------------------------
    op.create_table(
        "idx_documents",
        sa.Column("document_id", HASH, nullable=False),
        sa.Column("subject", HASH, nullable=False),
        sa.Column("subject_type", sa.String(8), nullable=False),
        sa.Column("object_id", HASH, nullable=True),
        sa.Column("shipment_id", sa.BigInteger(), nullable=True),
        sa.Column("doc_type", ENUM, nullable=False),
        sa.Column("cid", sa.LargeBinary(), nullable=False),
        sa.Column("cid_text", sa.String(128), nullable=True),
        sa.Column("partner_id", sa.BigInteger(), nullable=False),
        sa.Column("anchored_at", TIME, nullable=False),
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("log_index", sa.Integer(), nullable=False),
        sa.Column("tx_hash", HASH, nullable=False),
        sa.PrimaryKeyConstraint("document_id", name=op.f("pk_idx_documents")),
    )
    for column in ("subject", "object_id", "shipment_id", "partner_id", "anchored_at", "block_number"):
        _index("idx_documents", column)
    op.create_table(
        "idx_status_history",
        *_event_key("idx_status_history"),
        sa.Column("object_id", HASH, nullable=False),
        sa.Column("previous", ENUM, nullable=False),
        sa.Column("status", ENUM, nullable=False),
        sa.Column("reason", REASON, nullable=False),
        sa.Column("partner_id", sa.BigInteger(), nullable=False),
        sa.Column("changed_at", TIME, nullable=False),
    )
    for column in ("object_id", "partner_id", "changed_at"):
        _index("idx_status_history", column)
    op.create_table(
        "idx_recalls",
        *_event_key("idx_recalls"),
        sa.Column("object_id", HASH, nullable=False),
        sa.Column("partner_id", sa.BigInteger(), nullable=False),
        sa.Column("reason", REASON, nullable=False),
        sa.Column("initiated_at", TIME, nullable=False),
    )
    for column in ("object_id", "partner_id", "initiated_at"):
        _index("idx_recalls", column)
    op.create_table(
        "idx_event_batches",
        sa.Column("root", HASH, nullable=False),
        sa.Column("partner_id", sa.BigInteger(), nullable=False),
        sa.Column("leaf_count", sa.BigInteger(), nullable=False),
        sa.Column("cid", sa.LargeBinary(), nullable=False),
        sa.Column("cid_text", sa.String(128), nullable=True),
        sa.Column("anchored_at", TIME, nullable=False),
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("log_index", sa.Integer(), nullable=False),
        sa.Column("tx_hash", HASH, nullable=False),
        sa.PrimaryKeyConstraint("root", name=op.f("pk_idx_event_batches")),
    )
    for column in ("partner_id", "anchored_at", "block_number"):
        _index("idx_event_batches", column)


def downgrade() -> None:
    for table in (
        "idx_event_batches", "idx_recalls", "idx_status_history", "idx_documents", "idx_genealogy_edges",
        "idx_genealogy_events", "idx_shipments", "idx_containment", "idx_custody_history", "idx_objects",
        "idx_partner_locations", "idx_partner_accounts", "idx_partners", "idx_undo", "idx_events", "idx_blocks",
        "idx_checkpoints",
    ):  # fmt: skip
        op.drop_table(table)
