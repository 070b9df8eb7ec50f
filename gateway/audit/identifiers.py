"""An object named the way an auditor has it at hand → its ledger object id.

Accepted: the object id itself (``0x`` + 64 hex digits), an EPC pure-identity URN (SGTIN, LGTIN,
SSCC), a GS1 Digital Link URI (``https://id.gs1.org/01/…/21/…``) or GS1 element strings from a
scan (``(01)…(21)…``, or raw with FNC1 as GS). URNs become ids as the ledger makes them
(keccak256 of the URN); Digital Link and element strings go through the EPC URN, whose company
prefix length they do not carry, so the index is also searched by GTIN/serial, GTIN/lot or SSCC.
"""

from __future__ import annotations

import re

from sqlalchemy import select
from sqlalchemy.orm import Session

from chain_client import gs1
from chain_client.ledger import object_id
from gateway.audit.errors import AuditInvalidQuery, AuditNotFound
from gateway.indexer import tables as t

__all__ = ["resolve_object_id"]

_OBJECT_ID = re.compile(r"^0x[0-9a-fA-F]{64}$")


def _from_data(session: Session, data: gs1.Gs1Data, field: str) -> tuple[str | None, str | None]:
    """The id by URN and the id found by GS1 keys (either may be None)."""
    o = t.ObjectRow
    if data.sgtin is not None:
        urn = data.sgtin.epc_urn
        query = select(o.object_id).where(o.gtin == data.sgtin.gtin.value, o.serial == data.sgtin.serial)
    elif data.lgtin is not None:
        urn = data.lgtin.epc_urn
        query = select(o.object_id).where(o.gtin == data.lgtin.gtin.value, o.lot == data.lgtin.lot, o.kind == "LOT")
    elif data.sscc is not None:
        urn = data.sscc.epc_urn
        query = select(o.object_id).where(o.sscc == data.sscc.value)
    else:
        raise AuditInvalidQuery(
            "audit.identifier_incomplete",
            field,
            "name one object: a GTIN with a serial (21) or a lot (10), or an SSCC (00)",
        )
    return object_id(urn), session.scalars(query.limit(1)).first()


def resolve_object_id(
    session: Session,
    identifier: str,
    *,
    field: str = "id",
    company_prefix_length: int = gs1.DEFAULT_COMPANY_PREFIX_LENGTH,
) -> str:
    """The object id ``identifier`` names, if the index has that object.

    Raises :class:`chain_client.gs1.GS1Error` (422) for a malformed GS1 identifier,
    :class:`AuditInvalidQuery` (422) for something that is no identifier at all, and
    :class:`AuditNotFound` (404) for a well-formed one the ledger never registered.
    """
    value = identifier.strip()
    if not value:
        raise AuditInvalidQuery("audit.invalid_identifier", field, "the identifier is empty")
    candidates: list[str | None]
    if _OBJECT_ID.match(value):
        candidates = [value.lower()]
    elif value.startswith("0x"):
        raise AuditInvalidQuery("audit.invalid_identifier", field, "an object id is 0x followed by 64 hex digits")
    elif value.lower().startswith("urn:"):
        try:
            urn = gs1.parse_epc_urn(value).epc_urn
        except gs1.GS1Error as exc:
            raise gs1.GS1Error(exc.code, field, exc.message) from None
        candidates = [object_id(urn)]
    elif value.lower().startswith(("http://", "https://")):
        try:
            data = gs1.parse_digital_link(value, company_prefix_length=company_prefix_length).data
        except gs1.GS1Error as exc:
            raise gs1.GS1Error(exc.code, field, exc.message) from None
        candidates = list(_from_data(session, data, field))
    else:
        try:
            data = gs1.parse_element_strings(value, company_prefix_length=company_prefix_length)
        except gs1.GS1Error as exc:
            raise gs1.GS1Error(exc.code, field, exc.message) from None
        candidates = list(_from_data(session, data, field))
    for candidate in candidates:
        if candidate is not None and session.get(t.ObjectRow, candidate) is not None:
            return candidate
    raise AuditNotFound("audit.object_not_found", f"No object {value!r} in the ledger's index.")
