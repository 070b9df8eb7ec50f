"""The RFC 9264 linkset of a Digital Link: every link this resolver has for one GTIN (and serial).

Relation types are GS1 Web Vocabulary link types as absolute URIs
(``https://gs1.org/voc/pip``...), the form GS1-conformant resolvers use; ``defaultLink`` is the
verification page. Links are built from the gateway's own URLs and what the manufacturer made
public (:class:`~gateway.verification.records.GtinFacts`).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from gateway.verification.digital_link import LinkType, ResolvedLink
from gateway.verification.records import GtinFacts

__all__ = ["build_linkset", "link_header"]


def _link(href: str, title: str, media_type: str) -> list[dict[str, Any]]:
    return [{"href": href, "title": title, "type": media_type, "hreflang": ["en"]}]


def build_linkset(link: ResolvedLink, facts: GtinFacts, gateway_url: str) -> dict[str, Any]:
    """``{"linkset": [{"anchor": <Digital Link>, <link type URI>: [target...], ...}]}``."""
    gateway_url = gateway_url.rstrip("/")
    serial = link.data.serial
    query = f"gtin={link.gtin}" + (f"&serial={quote(serial, safe='')}" if serial else "")
    if link.data.lot:
        query += f"&lot={quote(link.data.lot, safe='')}"
    page = f"{gateway_url}/verify?{query}"
    context: dict[str, Any] = {"anchor": link.uri}
    context[LinkType.DEFAULT.uri] = _link(page, "Verify this product", "text/html")
    context[LinkType.PIP.uri] = _link(
        page, f"About {facts.product_name}" if facts.product_name else "Product information", "text/html"
    )
    context[LinkType.VERIFICATION_SERVICE.uri] = _link(
        f"{gateway_url}/v1/verify?{query}", "Authenticity verification (JSON)", "application/json"
    )
    context[LinkType.RECALL_STATUS.uri] = _link(
        f"{link.uri}{'&' if '?' in link.uri else '?'}linkType=gs1:recallStatus", "Recall status", "application/json"
    )
    context[LinkType.CERTIFICATION_INFO.uri] = _link(
        f"{gateway_url}/v1/products/{link.gtin}", "Manufacturer's public product record", "application/json"
    )
    if facts.leaflet_url:
        context[LinkType.EPIL.uri] = _link(facts.leaflet_url, "Product leaflet", "text/html")
    if serial:
        qr = f"{gateway_url}/v1/products/{link.gtin}/items/{quote(serial, safe='')}/qr"
        context[LinkType.QR.uri] = _link(f"{qr}?format=svg", "QR code of this link", "image/svg+xml")
    return {"linkset": [context]}


def link_header(link: ResolvedLink) -> str:
    """The ``Link`` header pointing at the linkset (RFC 9264 section 6)."""
    sep = "&" if "?" in link.uri else "?"
    return f'<{link.uri}{sep}linkType=all>; rel="linkset"; type="application/linkset+json"'
