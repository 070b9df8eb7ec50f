"""Tables of consumer verification: public product facts, anonymous scans, suspect reports.

No table here stores who scanned: a scan keeps its time, verdict and at most a coarse place
(an ISO country and a latitude/longitude rounded to one decimal, about 11 km), never an IP.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, BigInteger, Boolean, Date, DateTime, Float, Index, Integer, String, Text, column
from sqlalchemy.orm import Mapped, mapped_column

from gateway.db.base import Base

__all__ = ["PublicProductRow", "SuspectReportRow", "VerificationScanRow"]


class PublicProductRow(Base):
    """What a manufacturer (the registrant of a GTIN's items) marks public about a product."""

    __tablename__ = "public_products"

    gtin: Mapped[str] = mapped_column(String(14), primary_key=True)
    product_name: Mapped[str] = mapped_column(String(200))
    manufacturer: Mapped[str] = mapped_column(String(200))
    image_url: Mapped[str | None] = mapped_column(String(2000))
    leaflet_url: Mapped[str | None] = mapped_column(String(2000))
    partner_id: Mapped[int] = mapped_column(BigInteger, index=True)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))


class VerificationScanRow(Base):
    """One verification, recorded anonymously."""

    __tablename__ = "verification_scans"
    # A serial's history, and the suspect view's scans (a partial index: suspect rows only).
    # Nothing else: every verification writes a row (migration 0002_verification_scan_indexes).
    __table_args__ = (
        Index("ix_verification_scans_gtin_serial_at", "gtin", "serial", "scanned_at"),
        Index(
            "ix_verification_scans_suspect_at",
            "scanned_at",
            sqlite_where=column("suspect").is_(True),
            postgresql_where=column("suspect").is_(True),
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    gtin: Mapped[str] = mapped_column(String(14))
    serial: Mapped[str | None] = mapped_column(String(20))
    lot: Mapped[str | None] = mapped_column(String(20))
    verdict: Mapped[str] = mapped_column(String(16))
    suspect: Mapped[bool] = mapped_column(Boolean)
    signals: Mapped[list[str]] = mapped_column(JSON)
    channel: Mapped[str] = mapped_column(String(16))  # api | digital_link | dscsa
    country: Mapped[str | None] = mapped_column(String(2))
    latitude: Mapped[float | None] = mapped_column(Float)
    longitude: Mapped[float | None] = mapped_column(Float)
    scanned_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))


class SuspectReportRow(Base):
    """A consumer's report of a suspect product (free text, no contact data)."""

    __tablename__ = "verification_reports"

    report_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    gtin: Mapped[str] = mapped_column(String(14), index=True)
    serial: Mapped[str] = mapped_column(String(20))
    lot: Mapped[str | None] = mapped_column(String(20))
    expiry: Mapped[dt.date | None] = mapped_column(Date)
    description: Mapped[str] = mapped_column(Text)
    country: Mapped[str | None] = mapped_column(String(2))
    latitude: Mapped[float | None] = mapped_column(Float)
    longitude: Mapped[float | None] = mapped_column(Float)
    verdict: Mapped[str] = mapped_column(String(16))
    reported_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), index=True)
