"""The verdict on one scanned product identifier, and the public schema that carries it.

Pure module: :func:`decide` turns what the read model knows about an item (an
:class:`ItemRecord`, or None) and what the label says (a :class:`LabelQuery`) into a
:class:`Decision`. Precedence, first match wins:

``unknown`` (serial never registered) → ``mismatch`` (lot or expiry on the label differ from
the record) → ``recalled`` (the item or its lot) → ``dispensed`` (dispensed or
decommissioned) → ``quarantined`` → ``expired`` (status, or the expiry date has passed) →
``authentic``.

The public schema (:class:`VerificationPublic`) has no private field: no partner ids,
custodians, owners, customers, prices or holders' GLNs.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict

__all__ = [
    "CheckResult",
    "ChecksPublic",
    "Decision",
    "ItemRecord",
    "LabelQuery",
    "ProductPublic",
    "Verdict",
    "VerificationPublic",
    "decide",
]


class Verdict(StrEnum):
    AUTHENTIC = "authentic"
    UNKNOWN = "unknown"
    MISMATCH = "mismatch"
    RECALLED = "recalled"
    EXPIRED = "expired"
    DISPENSED = "dispensed"
    QUARANTINED = "quarantined"


MESSAGES: dict[Verdict, str] = {
    Verdict.AUTHENTIC: "This product is registered by its manufacturer and its label matches the record.",
    Verdict.UNKNOWN: "This serial number was never registered. The product may be counterfeit: do not use it.",
    Verdict.MISMATCH: (
        "The lot or expiry date on this label does not match the manufacturer's record. "
        "The label is likely counterfeit: do not use the product."
    ),
    Verdict.RECALLED: "This product has been recalled. Do not use it; return it where you got it.",
    Verdict.EXPIRED: "This product is past its expiry date. Do not use it.",
    Verdict.DISPENSED: (
        "This pack was already dispensed or taken out of circulation. If you did not just receive it "
        "from a pharmacy, it may be a copy of a genuine pack."
    ),
    Verdict.QUARANTINED: "This product is on hold (quarantined) by the supply chain. Do not use it for now.",
}

CheckResult = Literal["match", "mismatch", "not_provided", "not_recorded"]


@dataclass(frozen=True, slots=True)
class ItemRecord:
    """What the read model holds about one serialized item, reduced to what a verdict needs."""

    gtin: str
    serial: str
    lot: str | None
    expiry: dt.date | None
    status: str  # effective status name: ACTIVE, IN_TRANSIT, RECALLED, ...
    own_status: str
    lot_status: str | None  # status of the item's lot object, when the lot is registered
    status_changed_at: dt.datetime | None  # when own_status last changed (dispense time...)


@dataclass(frozen=True, slots=True)
class LabelQuery:
    """What the consumer's label (or scanned code) says."""

    gtin: str
    serial: str
    lot: str | None = None
    expiry: dt.date | None = None


@dataclass(frozen=True, slots=True)
class Decision:
    verdict: Verdict
    lot: CheckResult
    expiry: CheckResult
    expired_by_date: bool


def _compare(given: object | None, recorded: object | None) -> CheckResult:
    if given is None:
        return "not_provided"
    if recorded is None:
        return "not_recorded"
    return "match" if given == recorded else "mismatch"


def decide(record: ItemRecord | None, label: LabelQuery, today: dt.date) -> Decision:
    """The verdict on ``label`` given the ledger's ``record`` of that serial (None: not registered)."""
    if record is None:
        lot_check: CheckResult = "not_recorded" if label.lot is not None else "not_provided"
        expiry_check: CheckResult = "not_recorded" if label.expiry is not None else "not_provided"
        return Decision(Verdict.UNKNOWN, lot_check, expiry_check, False)
    lot = _compare(label.lot, record.lot)
    expiry = _compare(label.expiry, record.expiry)
    past = record.expiry is not None and record.expiry < today
    statuses = {record.own_status, record.status}
    if "mismatch" in (lot, expiry):
        verdict = Verdict.MISMATCH
    elif "RECALLED" in statuses or record.lot_status == "RECALLED":
        verdict = Verdict.RECALLED
    elif statuses & {"DISPENSED", "DECOMMISSIONED"}:
        verdict = Verdict.DISPENSED
    elif "QUARANTINED" in statuses or record.lot_status == "QUARANTINED":
        verdict = Verdict.QUARANTINED
    elif "EXPIRED" in statuses or past:
        verdict = Verdict.EXPIRED
    else:
        verdict = Verdict.AUTHENTIC
    return Decision(verdict, lot, expiry, past)


# ------------------------------------------------------------------------------------ public schema


class _Public(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ProductPublic(_Public):
    gtin: str
    product_name: str | None
    lot: str | None
    expiry: dt.date | None
    manufacturer: str | None


class ChecksPublic(_Public):
    """Each check the verdict rests on."""

    gtin_known: bool  # the GTIN has registered items on the ledger
    serial_registered: bool
    lot: CheckResult
    expiry: CheckResult
    status: str | None  # lifecycle status of the item (lower case), None when unknown
    expired_by_date: bool


class VerificationPublic(_Public):
    """The public answer to one verification: nothing in it names a partner or a holder."""

    verdict: Verdict
    message: str
    product: ProductPublic | None
    checks: ChecksPublic
    suspect: bool
    signals: list[str]
    checked_at: dt.datetime
    data_as_of_block: int | None
