"""Pure domain models of the ledger (no web3 import): what callers pass in and get back."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import IntEnum

__all__ = ["ObjectKind", "ObjectRecord", "Registration", "Status", "date_to_int", "int_to_date"]


class ObjectKind(IntEnum):
    NONE = 0
    ITEM = 1
    LOT = 2
    LOGISTIC_UNIT = 3


class Status(IntEnum):
    ACTIVE = 0
    IN_TRANSIT = 1
    QUARANTINED = 2
    RECALLED = 3
    EXPIRED = 4
    DISPENSED = 5
    DECOMMISSIONED = 6


def date_to_int(value: dt.date | None) -> int:
    """A date as the ledger stores it: YYYYMMDD, 0 for none."""
    return 0 if value is None else value.year * 10000 + value.month * 100 + value.day


def int_to_date(value: int) -> dt.date | None:
    return None if value == 0 else dt.date(value // 10000, value // 100 % 100, value % 100)


@dataclass(frozen=True)
class Registration:
    """Master data of an item or lot at commissioning.

    ``epc`` is the EPC URN (``urn:epc:id:sgtin:…`` for items, ``urn:epc:class:lgtin:…`` for lots).
    """

    epc: str
    lot: str = ""
    expiry_date: dt.date | None = None
    production_date: dt.date | None = None
    origin_gln: str | None = None

    def as_abi_tuple(self) -> tuple[str, str, int, int, int]:
        return (
            self.epc,
            self.lot,
            date_to_int(self.expiry_date),
            date_to_int(self.production_date),
            int(self.origin_gln) if self.origin_gln else 0,
        )


@dataclass(frozen=True)
class ObjectRecord:
    """On-chain state of one object."""

    object_id: str
    custodian: str
    kind: ObjectKind
    status: Status
    expiry_date: dt.date | None
    registered_at: dt.datetime
