"""Pure domain models of the ledger (no web3 import): what callers pass in and get back.

Enum values equal the Solidity enums in ``contracts/ICustodyLedger.sol``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import IntEnum

__all__ = [
    "CustodyView",
    "DocumentType",
    "GenealogyInput",
    "GenealogyKind",
    "LotOutput",
    "ObjectKind",
    "PartnerRole",
    "Registration",
    "ShipmentInfo",
    "ShipmentRecord",
    "SignedCall",
    "Status",
    "date_to_int",
    "encode_reason",
    "encode_unit",
    "int_to_date",
]


class PartnerRole(IntEnum):
    MANUFACTURER = 0
    DISTRIBUTOR = 1
    DISPENSER = 2
    AUDITOR = 3


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


class GenealogyKind(IntEnum):
    SPLIT = 0
    MERGE = 1
    TRANSFORM = 2


class DocumentType(IntEnum):
    CERTIFICATE_OF_ANALYSIS = 0
    BILL_OF_LADING = 1
    TRANSACTION_STATEMENT = 2
    TEMPERATURE_LOG = 3
    INVOICE = 4
    PHOTO = 5
    RECALL_NOTICE = 6
    OTHER = 7


def date_to_int(value: dt.date | None) -> int:
    """A date as the ledger stores it: YYYYMMDD, 0 for none."""
    return 0 if value is None else value.year * 10000 + value.month * 100 + value.day


def int_to_date(value: int) -> dt.date | None:
    return None if value == 0 else dt.date(value // 10000, value // 100 % 100, value % 100)


def encode_reason(reason: str) -> bytes:
    """A reason code (``destroyed``, ``stolen``, …) as the ledger's bytes32: ASCII, right-padded."""
    raw = reason.encode("ascii")
    if len(raw) > 32:
        raise ValueError("a reason code has at most 32 ASCII characters")
    return raw.ljust(32, b"\0")


def _gln_int(gln: str | int | None) -> int:
    return int(gln) if gln else 0


@dataclass(frozen=True)
class Registration:
    """Master data at commissioning.

    ``epc`` is the EPC URN (``urn:epc:id:sgtin:…`` items, ``urn:epc:class:lgtin:…`` lots,
    ``urn:epc:id:sscc:…`` logistic units).
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
            _gln_int(self.origin_gln),
        )


@dataclass(frozen=True)
class LotOutput:
    """A lot to create with a quantity in a UN/ECE Recommendation 20 unit (``KGM``, ``EA``…)."""

    registration: Registration
    quantity: int
    unit_of_measure: str

    def as_abi_tuple(self) -> tuple[tuple[str, str, int, int, int], int, bytes]:
        return (self.registration.as_abi_tuple(), self.quantity, encode_unit(self.unit_of_measure))


def encode_unit(unit: str) -> bytes:
    raw = unit.encode("ascii")
    if not 1 <= len(raw) <= 3:
        raise ValueError("a unit of measure is a UN/ECE Rec. 20 code of 1-3 characters, e.g. 'KGM', 'EA'")
    return raw.ljust(3, b"\0")


@dataclass(frozen=True)
class GenealogyInput:
    """An input of a transformation: a lot and the quantity consumed, or an item (quantity 1)."""

    object_id: str
    quantity: int = 1


@dataclass(frozen=True)
class ShipmentInfo:
    """Where a shipment goes: receiver partner id, ship-from/ship-to GLNs, whether title passes."""

    receiver: int
    ship_from_gln: str | None = None
    ship_to_gln: str | None = None
    transfer_ownership: bool = False

    def as_abi_tuple(self) -> tuple[int, int, int, bool]:
        return (self.receiver, _gln_int(self.ship_from_gln), _gln_int(self.ship_to_gln), self.transfer_ownership)


@dataclass(frozen=True)
class ShipmentRecord:
    shipment_id: int
    sender: int
    receiver: int
    transfer_ownership: bool
    dispatched_at: dt.datetime


@dataclass(frozen=True)
class CustodyView:
    """On-chain custody state of one object, with what it inherits from its outermost container."""

    object_id: str
    kind: ObjectKind
    status: Status
    custodian: int
    owner: int
    pending_receiver: int
    shipment_id: int
    registrant: int
    expiry_date: dt.date | None
    registered_at: dt.datetime
    parent: str | None
    root: str
    lot: str | None
    quantity: int
    unit_of_measure: str


@dataclass(frozen=True)
class SignedCall:
    """A ledger call signed by a partner's account (EIP-712 ``PartnerCall``), relayable by anyone."""

    signer: str
    data: bytes
    nonce: int
    deadline: int
    signature: bytes = b""

    def as_abi_tuple(self) -> tuple[str, bytes, int, int]:
        return (self.signer, self.data, self.nonce, self.deadline)
