"""verification: public product facts, anonymous verification scans, suspect reports

Revision ID: 0001_verification
Revises:
Create Date: 2026-11-27

Hand-written, the same DDL on SQLite and PostgreSQL; types are spelled out here rather than
imported from gateway.verification.tables, so this revision keeps creating the same schema.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001_verification"
down_revision = None
branch_labels = ("verification",)
depends_on = None

TIME = sa.DateTime(timezone=True)
ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "public_products",
        sa.Column("gtin", sa.String(14), nullable=False),
        sa.Column("product_name", sa.String(200), nullable=False),
        sa.Column("manufacturer", sa.String(200), nullable=False),
        sa.Column("image_url", sa.String(2000), nullable=True),
        sa.Column("leaflet_url", sa.String(2000), nullable=True),
        sa.Column("partner_id", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", TIME, nullable=False),
        sa.PrimaryKeyConstraint("gtin", name=op.f("pk_public_products")),
    )
    op.create_index(op.f("ix_public_products_partner_id"), "public_products", ["partner_id"])

    op.create_table(
        "verification_scans",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("gtin", sa.String(14), nullable=False),
        sa.Column("serial", sa.String(20), nullable=True),
        sa.Column("lot", sa.String(20), nullable=True),
        sa.Column("verdict", sa.String(16), nullable=False),
        sa.Column("suspect", sa.Boolean(), nullable=False),
        sa.Column("signals", sa.JSON(), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("country", sa.String(2), nullable=True),
        sa.Column("latitude", sa.Float(), nullable=True),
        sa.Column("longitude", sa.Float(), nullable=True),
        sa.Column("scanned_at", TIME, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_verification_scans")),
    )
    op.create_index(op.f("ix_verification_scans_verdict"), "verification_scans", ["verdict"])
    op.create_index(op.f("ix_verification_scans_suspect"), "verification_scans", ["suspect"])
    op.create_index(op.f("ix_verification_scans_scanned_at"), "verification_scans", ["scanned_at"])
    op.create_index("ix_verification_scans_gtin_serial_at", "verification_scans", ["gtin", "serial", "scanned_at"])

    op.create_table(
        "verification_reports",
        sa.Column("report_id", sa.String(36), nullable=False),
        sa.Column("gtin", sa.String(14), nullable=False),
        sa.Column("serial", sa.String(20), nullable=False),
        sa.Column("lot", sa.String(20), nullable=True),
        sa.Column("expiry", sa.Date(), nullable=True),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("country", sa.String(2), nullable=True),
        sa.Column("latitude", sa.Float(), nullable=True),
        sa.Column("longitude", sa.Float(), nullable=True),
        sa.Column("verdict", sa.String(16), nullable=False),
        sa.Column("reported_at", TIME, nullable=False),
        sa.PrimaryKeyConstraint("report_id", name=op.f("pk_verification_reports")),
    )
    op.create_index(op.f("ix_verification_reports_gtin"), "verification_reports", ["gtin"])
    op.create_index(op.f("ix_verification_reports_reported_at"), "verification_reports", ["reported_at"])


def downgrade() -> None:
    op.drop_table("verification_reports")
    op.drop_table("verification_scans")
    op.drop_table("public_products")
