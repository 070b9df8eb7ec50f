"""Splitting an EPC URN into the GS1 keys the query model indexes (GTIN, serial, lot, SSCC).

The ledger checks only that an EPC is non-empty (and that an item with a lot has an SGTIN-shaped
URN), so anything may arrive in an event. A URN that :func:`chain_client.gs1.parse_epc_urn`
rejects gives all-null parts: the object is still indexed, by its id and raw EPC.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from chain_client.gs1 import GS1Error, Gtin, Lgtin, Sgtin, Sscc, parse_epc_urn

__all__ = ["EpcParts", "split_epc"]


@dataclass(frozen=True, slots=True)
class EpcParts:
    gtin: str | None = None
    serial: str | None = None
    lot: str | None = None
    sscc: str | None = None


_NONE = EpcParts()
_SGTIN = "urn:epc:id:sgtin:"
_PLAIN_SERIAL = re.compile(r"[0-9A-Za-z]{1,20}")  # in GS1 character set 82, nothing to unescape


@functools.lru_cache(maxsize=4096)
def _gtin(company_prefix: str, indicator_item_ref: str) -> str | None:
    """The GTIN-14 of an SGTIN's class, as :func:`parse_epc_urn` derives it (None if it rejects it)."""
    try:
        parsed = parse_epc_urn(f"urn:epc:idpat:sgtin:{company_prefix}.{indicator_item_ref}.*")
    except (GS1Error, ValueError, TypeError):
        return None
    return parsed.value if isinstance(parsed, Gtin) else None


def split_epc(urn: str) -> EpcParts:
    """The GTIN-14/serial (SGTIN), GTIN-14/lot (LGTIN), GTIN (pattern) or SSCC of ``urn``; nulls if invalid.

    An SGTIN whose serial is plain letters and digits (the usual case: items are indexed by the
    hundred thousand) takes a short path: its GTIN is computed once per product class.
    """
    if urn.startswith(_SGTIN):
        parts = urn[len(_SGTIN) :].split(".", 2)
        if len(parts) == 3 and _PLAIN_SERIAL.fullmatch(parts[2]):
            gtin = _gtin(parts[0], parts[1])
            if gtin is not None:
                return EpcParts(gtin=gtin, serial=parts[2])
    try:
        parsed = parse_epc_urn(urn)
    except (GS1Error, ValueError, TypeError):
        return _NONE
    if isinstance(parsed, Sgtin):
        return EpcParts(gtin=parsed.gtin.value, serial=parsed.serial)
    if isinstance(parsed, Lgtin):
        return EpcParts(gtin=parsed.gtin.value, lot=parsed.lot)
    if isinstance(parsed, Gtin):
        return EpcParts(gtin=parsed.value)
    if isinstance(parsed, Sscc):
        return EpcParts(sscc=parsed.value)
    return _NONE  # an SGLN names a place, not a traceable object
