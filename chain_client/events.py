"""Typed models of the ledger's (and relay's) events, and decoding of logs into them.

Field names are the Solidity parameter names in snake case. Conventions: ``ObjectId`` and other
``bytes32`` values are 0x-prefixed lowercase hex, addresses are checksummed, GLNs are 13-digit
strings (``None`` for 0), reason codes are ASCII strings, enums are the :mod:`models` enums,
``bytes3`` units are ASCII, dates stay YYYYMMDD integers as on chain.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, fields
from typing import Any, ClassVar

from eth_utils.abi import event_abi_to_log_topic
from eth_utils.address import to_checksum_address
from web3 import Web3
from web3._utils.events import get_event_data

from chain_client.models import DocumentType, GenealogyKind, PartnerRole, Status

__all__ = [
    "CustodyTransferred",
    "DocumentAnchored",
    "EventBatchAnchored",
    "EventDecoder",
    "GenealogyInputConsumed",
    "GenealogyOutputProduced",
    "GenealogyRecorded",
    "GenericEvent",
    "ItemRegistered",
    "LedgerEvent",
    "LogMeta",
    "LogisticUnitRegistered",
    "LotRegistered",
    "ObjectPacked",
    "ObjectReceived",
    "ObjectRejected",
    "ObjectShipped",
    "ObjectUnpacked",
    "OwnershipTransferred",
    "PartnerAccountAdded",
    "PartnerAccountRemoved",
    "PartnerLocationAdded",
    "PartnerRegistered",
    "PartnerStatusChanged",
    "RecallInitiated",
    "RoleGranted",
    "RoleRevoked",
    "ShipmentCancelled",
    "ShipmentDispatched",
    "SignedCallExecuted",
    "SignedCallFailed",
    "StatusChanged",
]


@dataclass(frozen=True)
class LogMeta:
    """Where a log sits on chain: (tx_hash, log_index) identifies it."""

    contract: str
    block_number: int
    block_hash: str
    tx_hash: str
    log_index: int


@dataclass(frozen=True)
class LedgerEvent:
    event_name: ClassVar[str] = ""
    meta: LogMeta


# --- partners ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class PartnerRegistered(LedgerEvent):
    event_name: ClassVar[str] = "PartnerRegistered"
    partner_id: int
    role: PartnerRole
    name: str


@dataclass(frozen=True)
class PartnerAccountAdded(LedgerEvent):
    event_name: ClassVar[str] = "PartnerAccountAdded"
    partner_id: int
    account: str


@dataclass(frozen=True)
class PartnerAccountRemoved(LedgerEvent):
    event_name: ClassVar[str] = "PartnerAccountRemoved"
    partner_id: int
    account: str


@dataclass(frozen=True)
class PartnerLocationAdded(LedgerEvent):
    event_name: ClassVar[str] = "PartnerLocationAdded"
    partner_id: int
    gln: str | None


@dataclass(frozen=True)
class PartnerStatusChanged(LedgerEvent):
    event_name: ClassVar[str] = "PartnerStatusChanged"
    partner_id: int
    active: bool


# --- registry ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ItemRegistered(LedgerEvent):
    event_name: ClassVar[str] = "ItemRegistered"
    object_id: str
    lot_id: str
    partner_id: int
    epc: str
    lot: str
    expiry_date: int
    production_date: int
    origin_gln: str | None


@dataclass(frozen=True)
class LotRegistered(LedgerEvent):
    event_name: ClassVar[str] = "LotRegistered"
    object_id: str
    partner_id: int
    epc: str
    lot: str
    expiry_date: int
    production_date: int
    origin_gln: str | None
    quantity: int
    unit_of_measure: str


@dataclass(frozen=True)
class LogisticUnitRegistered(LedgerEvent):
    event_name: ClassVar[str] = "LogisticUnitRegistered"
    object_id: str
    partner_id: int
    epc: str


# --- custody ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class CustodyTransferred(LedgerEvent):
    event_name: ClassVar[str] = "CustodyTransferred"
    object_id: str
    sender: int
    receiver: int


@dataclass(frozen=True)
class ShipmentDispatched(LedgerEvent):
    event_name: ClassVar[str] = "ShipmentDispatched"
    shipment_id: int
    sender: int
    receiver: int
    ship_from_gln: str | None
    ship_to_gln: str | None
    transfer_ownership: bool
    object_count: int


@dataclass(frozen=True)
class ObjectShipped(LedgerEvent):
    event_name: ClassVar[str] = "ObjectShipped"
    object_id: str
    shipment_id: int


@dataclass(frozen=True)
class ObjectReceived(LedgerEvent):
    event_name: ClassVar[str] = "ObjectReceived"
    object_id: str
    shipment_id: int
    receiver: int
    gln: str | None


@dataclass(frozen=True)
class ObjectRejected(LedgerEvent):
    event_name: ClassVar[str] = "ObjectRejected"
    object_id: str
    shipment_id: int
    receiver: int
    reason: str


@dataclass(frozen=True)
class ShipmentCancelled(LedgerEvent):
    event_name: ClassVar[str] = "ShipmentCancelled"
    object_id: str
    shipment_id: int
    sender: int


@dataclass(frozen=True)
class OwnershipTransferred(LedgerEvent):
    event_name: ClassVar[str] = "OwnershipTransferred"
    object_id: str
    previous_owner: int
    new_owner: int


# --- aggregation, genealogy, status -----------------------------------------------------------


@dataclass(frozen=True)
class ObjectPacked(LedgerEvent):
    event_name: ClassVar[str] = "ObjectPacked"
    child: str
    parent: str
    partner_id: int


@dataclass(frozen=True)
class ObjectUnpacked(LedgerEvent):
    event_name: ClassVar[str] = "ObjectUnpacked"
    child: str
    parent: str
    partner_id: int


@dataclass(frozen=True)
class GenealogyRecorded(LedgerEvent):
    event_name: ClassVar[str] = "GenealogyRecorded"
    genealogy_id: str
    kind: GenealogyKind
    partner_id: int


@dataclass(frozen=True)
class GenealogyInputConsumed(LedgerEvent):
    event_name: ClassVar[str] = "GenealogyInputConsumed"
    genealogy_id: str
    input: str
    quantity: int
    remaining: int


@dataclass(frozen=True)
class GenealogyOutputProduced(LedgerEvent):
    event_name: ClassVar[str] = "GenealogyOutputProduced"
    genealogy_id: str
    output: str
    quantity: int


@dataclass(frozen=True)
class StatusChanged(LedgerEvent):
    event_name: ClassVar[str] = "StatusChanged"
    object_id: str
    previous: Status
    status: Status
    reason: str
    partner_id: int


@dataclass(frozen=True)
class RecallInitiated(LedgerEvent):
    event_name: ClassVar[str] = "RecallInitiated"
    object_id: str
    partner_id: int
    reason: str


# --- documents, batches, relay, access control --------------------------------------------------


@dataclass(frozen=True)
class DocumentAnchored(LedgerEvent):
    event_name: ClassVar[str] = "DocumentAnchored"
    subject: str
    document_id: str
    partner_id: int
    doc_type: DocumentType
    cid: bytes


@dataclass(frozen=True)
class EventBatchAnchored(LedgerEvent):
    event_name: ClassVar[str] = "EventBatchAnchored"
    root: str
    partner_id: int
    leaf_count: int
    cid: bytes


@dataclass(frozen=True)
class SignedCallExecuted(LedgerEvent):
    event_name: ClassVar[str] = "SignedCallExecuted"
    index: int
    signer: str
    nonce: int


@dataclass(frozen=True)
class SignedCallFailed(LedgerEvent):
    event_name: ClassVar[str] = "SignedCallFailed"
    index: int
    signer: str
    nonce: int
    reason: bytes


@dataclass(frozen=True)
class RoleGranted(LedgerEvent):
    event_name: ClassVar[str] = "RoleGranted"
    role: str
    account: str
    sender: str


@dataclass(frozen=True)
class RoleRevoked(LedgerEvent):
    event_name: ClassVar[str] = "RoleRevoked"
    role: str
    account: str
    sender: str


@dataclass(frozen=True)
class GenericEvent(LedgerEvent):
    """An event of the ABI that has no typed model."""

    name: str
    args: dict[str, Any]


_MODELS: dict[str, type[LedgerEvent]] = {
    m.event_name: m
    for m in (
        PartnerRegistered, PartnerAccountAdded, PartnerAccountRemoved, PartnerLocationAdded, PartnerStatusChanged,
        ItemRegistered, LotRegistered, LogisticUnitRegistered, CustodyTransferred, ShipmentDispatched,
        ObjectShipped, ObjectReceived, ObjectRejected, ShipmentCancelled, OwnershipTransferred, ObjectPacked,
        ObjectUnpacked, GenealogyRecorded, GenealogyInputConsumed, GenealogyOutputProduced, StatusChanged,
        RecallInitiated, DocumentAnchored, EventBatchAnchored, SignedCallExecuted, SignedCallFailed, RoleGranted,
        RoleRevoked,
    )
}  # fmt: skip

# Conversions by field name, where the ABI type alone does not say what a value means.
_FIELD_CONVERTERS: dict[str, Callable[[Any], Any]] = {
    "role": lambda v: PartnerRole(v) if isinstance(v, int) else "0x" + bytes(v).hex(),
    "kind": GenealogyKind,
    "status": Status,
    "previous": Status,
    "doc_type": DocumentType,
}


def _snake(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name).lower()


def _hex(value: bytes) -> str:
    return "0x" + bytes(value).hex()


def _ascii(value: bytes) -> str:
    return bytes(value).rstrip(b"\0").decode("ascii", errors="replace")


def _convert(name: str, value: Any, abi_type: str) -> Any:
    if name in _FIELD_CONVERTERS:
        return _FIELD_CONVERTERS[name](value)
    if name.endswith("gln"):
        return f"{value:013d}" if value else None
    if abi_type == "address":
        return to_checksum_address(value)
    if abi_type == "bytes32":
        return _ascii(value) if name == "reason" else _hex(value)
    if re.fullmatch(r"bytes([1-9]|[12][0-9]|3[01])", abi_type):
        return _ascii(value)
    if abi_type == "bytes":
        return bytes(value)
    return value


class EventDecoder:
    """Decodes raw logs of some contract ABIs (ledger, relay) into typed events."""

    def __init__(self, *abis: Sequence[dict[str, Any]]) -> None:
        self._w3 = Web3()
        self._by_topic: dict[bytes, dict[str, Any]] = {}
        for abi in abis:
            for item in abi:
                if item.get("type") == "event":
                    self._by_topic[bytes(event_abi_to_log_topic(item))] = item  # type: ignore[arg-type]

    @property
    def topics(self) -> list[str]:
        return [_hex(t) for t in self._by_topic]

    def topic_of(self, event_name: str) -> str:
        for topic, item in self._by_topic.items():
            if item["name"] == event_name:
                return _hex(topic)
        raise KeyError(event_name)

    def decode_log(self, log: Any) -> LedgerEvent | None:
        """The typed event of one log, or None when the log is not one of these ABIs' events."""
        topics = log["topics"]
        if not topics:
            return None
        topic0 = bytes(topics[0]) if not isinstance(topics[0], str) else bytes.fromhex(topics[0][2:])
        abi = self._by_topic.get(topic0)
        if abi is None:
            return None
        data = get_event_data(self._w3.codec, abi, log)
        block_hash = log["blockHash"]
        tx_hash = log["transactionHash"]
        meta = LogMeta(
            contract=to_checksum_address(log["address"]),
            block_number=int(log["blockNumber"]),
            block_hash=block_hash if isinstance(block_hash, str) else _hex(block_hash),
            tx_hash=tx_hash if isinstance(tx_hash, str) else _hex(tx_hash),
            log_index=int(log["logIndex"]),
        )
        types = {i["name"]: i["type"] for i in abi["inputs"]}
        args = {_snake(k): _convert(_snake(k), v, types[k]) for k, v in data["args"].items()}
        model = _MODELS.get(abi["name"])
        if model is None:
            return GenericEvent(meta=meta, name=abi["name"], args=args)
        names = {f.name for f in fields(model)} - {"meta"}
        return model(meta=meta, **{k: v for k, v in args.items() if k in names})

    def decode_logs(self, logs: Iterable[Any]) -> list[LedgerEvent]:
        return [e for e in (self.decode_log(log) for log in logs) if e is not None]
