"""EPCIS identifiers → what the ledger keys on: canonical EPC URNs for objects, GLNs for places.

EPCIS 2.0 lets every identifier be an EPC URN or a GS1 Digital Link URI. The ledger's object id
is the keccak256 of the canonical EPC URN, so Digital Link URIs are converted to URNs. A Digital
Link carries no GS1 Company Prefix length, and the URN depends on it; the conversion uses
:data:`chain_client.gs1.DEFAULT_COMPANY_PREFIX_LENGTH` (7), the same default as the partner API's
``company_prefix_length``. Objects registered under another split must be named by URN.

Objects: SGTIN (``urn:epc:id:sgtin:``, ``…/01/{gtin}/21/{serial}``), SSCC (``urn:epc:id:sscc:``,
``…/00/{sscc}``) and LGTIN (``urn:epc:class:lgtin:``, ``…/01/{gtin}/10/{lot}``). GTIN classes
without a lot (``urn:epc:idpat:sgtin:…*``, ``…/01/{gtin}``) are not ledger objects.

Places and parties: SGLN (``urn:epc:id:sgln:``; the extension is dropped, the ledger registers
GLNs), party GLN (``urn:epc:id:pgln:``), and Digital Link ``…/414/{gln}`` or ``…/417/{gln}``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final, Literal, TypeAlias

from chain_client import gs1

__all__ = ["Epc", "EpcKind", "IdentifierError", "parse_gln", "parse_object"]

EpcKind: TypeAlias = Literal["sgtin", "sscc", "lgtin"]

_PGLN: Final = "urn:epc:id:pgln:"
_DL_PARTY: Final = re.compile(r"^https?://[^/?#]+(?:/[^?#]*)?/417/([0-9]+)(?:[?#].*)?$")


class IdentifierError(ValueError):
    """An identifier that is malformed or names nothing the ledger records."""


@dataclass(frozen=True)
class Epc:
    """An object named in an event: its kind, canonical URN and GS1 keys."""

    kind: EpcKind
    urn: str
    ident: gs1.Sgtin | gs1.Sscc | gs1.Lgtin


def _is_digital_link(value: str) -> bool:
    return value[:8].lower().startswith(("http://", "https://"))


def parse_object(value: str) -> Epc:
    """An SGTIN, SSCC or LGTIN, from an EPC URN or a GS1 Digital Link URI."""
    try:
        if _is_digital_link(value):
            data = gs1.parse_digital_link(value).data
            ident: gs1.EpcIdentifier | None = data.sgtin or data.sscc or data.lgtin
            if ident is None:
                raise IdentifierError(
                    f"{value!r} names a GTIN class or a location; the ledger records serialized items "
                    "(/01/…/21/…), lots (/01/…/10/…) and logistic units (/00/…)"
                )
        else:
            ident = gs1.parse_epc_urn(value)
    except gs1.GS1Error as exc:
        raise IdentifierError(exc.message) from None
    if isinstance(ident, gs1.Sgtin):
        return Epc("sgtin", ident.epc_urn, ident)
    if isinstance(ident, gs1.Sscc):
        return Epc("sscc", ident.epc_urn, ident)
    if isinstance(ident, gs1.Lgtin):
        return Epc("lgtin", ident.epc_urn, ident)
    raise IdentifierError(
        f"{value!r} is not an SGTIN, SSCC or LGTIN; the ledger records serialized items, logistic units and lots"
    )


def _pgln(body: str) -> str:
    company_prefix, dot, reference = body.partition(".")
    if not dot or not (company_prefix + reference).isascii() or not (company_prefix + reference).isdigit():
        raise IdentifierError("a party GLN URN is urn:epc:id:pgln:CompanyPrefix.PartyReference (digits)")
    if not 6 <= len(company_prefix) <= 12 or len(company_prefix) + len(reference) != 12:
        raise IdentifierError("company prefix and party reference of a party GLN have 12 digits together")
    body12 = company_prefix + reference
    return body12 + str(gs1.gs1_check_digit(body12))


def parse_gln(value: str) -> str:
    """The 13-digit GLN of a location or party identifier (SGLN, PGLN, Digital Link 414/417)."""
    try:
        if value.startswith(_PGLN):
            return _pgln(value[len(_PGLN) :])
        if _is_digital_link(value):
            party = _DL_PARTY.match(value)
            if party:
                return gs1.validate_gln(party.group(1))
            gln = gs1.parse_digital_link(value).data.gln
            if gln is None:
                raise IdentifierError(f"{value!r} names no GLN (expected /414/… or /417/…)")
            return gln.value
        ident = gs1.parse_epc_urn(value)
    except gs1.GS1Error as exc:
        raise IdentifierError(exc.message) from None
    if not isinstance(ident, gs1.Sgln):
        raise IdentifierError(f"{value!r} is not a location or party (SGLN, PGLN or a GLN Digital Link)")
    return ident.gln.value
