"""GS1 Digital Link resolution: parse a request on ``/01/…`` and choose what to answer.

Paths follow the GS1 Digital Link URI syntax: the primary key ``01`` (GTIN) then the key
qualifiers in the order ``22`` (consumer product variant), ``10`` (lot), ``21`` (serial), each
optional; data attributes such as ``17`` (expiry) and ``10`` (lot, when not in the path) go in
the query string. Parsing and validation are :func:`chain_client.gs1.parse_digital_link`'s.

What to answer (the resolver's content negotiation) is :func:`negotiate`: an explicit
``linkType`` wins; otherwise the ``Accept`` header picks JSON, an RFC 9264 linkset, or the HTML
verification page; ``*/*`` alone (curl, scanners) gets JSON.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from chain_client import gs1

__all__ = [
    "LINKSET_JSON",
    "Answer",
    "LinkType",
    "ResolvedLink",
    "negotiate",
    "resolve_path",
]

LINKSET_JSON = "application/linkset+json"
GS1_VOC = "https://gs1.org/voc/"


class LinkType(StrEnum):
    """GS1 Web Vocabulary link types this resolver serves (compact ``gs1:`` form)."""

    DEFAULT = "gs1:defaultLink"
    PIP = "gs1:pip"
    EPIL = "gs1:epil"
    CERTIFICATION_INFO = "gs1:certificationInfo"
    RECALL_STATUS = "gs1:recallStatus"
    VERIFICATION_SERVICE = "gs1:verificationService"
    QR = "gs1:qrCode"  # not a GS1 term: the QR code of this link (served by this gateway)

    @property
    def uri(self) -> str:
        return GS1_VOC + self.value.removeprefix("gs1:")


class Answer(StrEnum):
    JSON = "json"
    LINKSET = "linkset"
    HTML = "html"
    LEAFLET = "leaflet"  # redirect to the manufacturer's leaflet / product page
    NOT_FOUND = "not_found"  # an unknown linkType


@dataclass(frozen=True, slots=True)
class ResolvedLink:
    data: gs1.Gs1Data
    uri: str  # canonical Digital Link URI on our base

    @property
    def gtin(self) -> str:
        assert self.data.gtin is not None
        return self.data.gtin.value


def resolve_path(base: str, path: str, query: str) -> ResolvedLink:
    """Parses the request ``path`` (starting ``/01/``) and ``query`` as a Digital Link on ``base``.

    Raises GS1Error (``gs1.digital_link`` and the per-field codes) when it is not a valid one.
    """
    uri = base.rstrip("/") + path + (f"?{query}" if query else "")
    link = gs1.parse_digital_link(uri)
    if link.data.gtin is None:
        raise gs1.GS1Error("gs1.digital_link", "digital_link", "this resolver serves GTINs (01) only")
    return ResolvedLink(link.data, gs1.build_digital_link(link.data, base=base))


def _link_type(value: str) -> str:
    """``pip``, ``gs1:pip`` and ``https://gs1.org/voc/pip`` all name the same link type."""
    if value.startswith(GS1_VOC):
        return "gs1:" + value.removeprefix(GS1_VOC)
    if value == "all" or value.startswith("gs1:"):
        return value
    return "gs1:" + value


def _accepts(accept: str) -> list[str]:
    """Media ranges of an Accept header by preference (q values honoured, q=0 dropped)."""
    ranked: list[tuple[float, int, str]] = []
    for index, part in enumerate(accept.split(",")):
        media, *params = (p.strip() for p in part.split(";"))
        q = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if media and q > 0:
            ranked.append((-q, index, media.lower()))
    return [media for _, _, media in sorted(ranked)]


def negotiate(accept: str | None, link_type: str | None) -> Answer:
    """What to answer a Digital Link request with."""
    if link_type:
        wanted = _link_type(link_type)
        if wanted == "all":
            return Answer.LINKSET
        by_type = {
            LinkType.DEFAULT.value: None,
            LinkType.VERIFICATION_SERVICE.value: Answer.JSON,
            LinkType.RECALL_STATUS.value: Answer.JSON,
            LinkType.CERTIFICATION_INFO.value: Answer.JSON,
            LinkType.PIP.value: Answer.HTML,
            LinkType.EPIL.value: Answer.LEAFLET,
        }
        if wanted not in by_type:
            return Answer.NOT_FOUND
        chosen = by_type[wanted]
        if chosen is not None:
            return chosen
    for media in _accepts(accept or "*/*"):
        if media == LINKSET_JSON:
            return Answer.LINKSET
        if media in ("application/json", "application/problem+json", "application/*"):
            return Answer.JSON
        if media in ("text/html", "application/xhtml+xml", "text/*"):
            return Answer.HTML
        if media == "*/*":
            return Answer.JSON
    return Answer.JSON
