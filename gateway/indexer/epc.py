"""Splitting an EPC URN into the GS1 keys the query model indexes (GTIN, serial, lot, SSCC).

The ledger checks only that an EPC is non-empty (and that an item with a lot has an SGTIN-shaped
URN), so anything may arrive in an event. A URN that :func:`chain_client.gs1.parse_epc_urn`
rejects gives all-null parts: the object is still indexed, by its id and raw EPC.
"""

from __future__ import annotations

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


def split_epc(urn: str) -> EpcParts:
    """The GTIN-14/serial (SGTIN), GTIN-14/lot (LGTIN), GTIN (pattern) or SSCC of ``urn``; nulls if invalid."""
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
