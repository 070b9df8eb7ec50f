"""Product facts a manufacturer marks public (name, display name, image and leaflet links).

Only the registrant of a GTIN's objects on the ledger (per the read model) may set them; the
partner id is kept for that check and never shown.
"""

from __future__ import annotations

import datetime as dt

from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field
from sqlalchemy import Engine, select
from sqlalchemy.dialects import postgresql, sqlite

from gateway.indexer.tables import table_of
from gateway.verification.tables import PublicProductRow

__all__ = ["ProductFactsIn", "ProductFactsPublic", "get_product", "put_product"]

_PRODUCTS = table_of(PublicProductRow)


class ProductFactsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    product_name: str = Field(min_length=1, max_length=200)
    manufacturer: str = Field(min_length=1, max_length=200, description="Display name shown to consumers.")
    image_url: AnyHttpUrl | None = None
    leaflet_url: AnyHttpUrl | None = None


class ProductFactsPublic(BaseModel):
    model_config = ConfigDict(extra="forbid")

    gtin: str
    product_name: str
    manufacturer: str
    image_url: str | None
    leaflet_url: str | None
    updated_at: dt.datetime


def put_product(engine: Engine, gtin: str, facts: ProductFactsIn, partner_id: int) -> ProductFactsPublic:
    """Creates or replaces the public facts of ``gtin`` (the caller checked the registrant)."""
    values = {
        "gtin": gtin,
        "product_name": facts.product_name,
        "manufacturer": facts.manufacturer,
        "image_url": None if facts.image_url is None else str(facts.image_url),
        "leaflet_url": None if facts.leaflet_url is None else str(facts.leaflet_url),
        "partner_id": partner_id,
        "updated_at": dt.datetime.now(dt.UTC),
    }
    update = {k: v for k, v in values.items() if k != "gtin"}
    with engine.begin() as conn:
        dialect = conn.dialect.name
        if dialect == "postgresql":
            pg = postgresql.insert(_PRODUCTS).values(**values)
            conn.execute(pg.on_conflict_do_update(index_elements=["gtin"], set_=update))
        else:
            lite = sqlite.insert(_PRODUCTS).values(**values)
            conn.execute(lite.on_conflict_do_update(index_elements=["gtin"], set_=update))
    found = get_product(engine, gtin)
    assert found is not None
    return found


def get_product(engine: Engine, gtin: str) -> ProductFactsPublic | None:
    with engine.connect() as conn:
        row = conn.execute(select(_PRODUCTS).where(_PRODUCTS.c.gtin == gtin)).first()
    if row is None:
        return None
    updated = row.updated_at if row.updated_at.tzinfo else row.updated_at.replace(tzinfo=dt.UTC)
    return ProductFactsPublic(
        gtin=row.gtin,
        product_name=row.product_name,
        manufacturer=row.manufacturer,
        image_url=row.image_url,
        leaflet_url=row.leaflet_url,
        updated_at=updated,
    )
