"""Typed models of the ledger's events, and decoding of logs and receipts into them.

Field names are the Solidity parameter names in snake case; ``ObjectId``/``bytes32`` values are
0x-prefixed lowercase hex, addresses are checksummed, ``bytesN`` codes are decoded as ASCII.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields
from typing import Any, ClassVar

from eth_utils.abi import event_abi_to_log_topic
from eth_utils.address import to_checksum_address
from web3 import Web3
from web3._utils.events import get_event_data

__all__ = [
    "CustodyTransferred",
    "EventDecoder",
    "GenericEvent",
    "ItemRegistered",
    "LedgerEvent",
    "LogMeta",
    "LotRegistered",
    "RoleGranted",
    "RoleRevoked",
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


@dataclass(frozen=True)
class ItemRegistered(LedgerEvent):
    event_name: ClassVar[str] = "ItemRegistered"
    object_id: str
    lot_id: str
    custodian: str
    epc: str
    lot: str
    expiry_date: int
    production_date: int
    origin_gln: int


@dataclass(frozen=True)
class LotRegistered(LedgerEvent):
    event_name: ClassVar[str] = "LotRegistered"
    object_id: str
    custodian: str
    epc: str
    lot: str
    expiry_date: int
    production_date: int
    origin_gln: int
    quantity: int
    unit_of_measure: str


@dataclass(frozen=True)
class CustodyTransferred(LedgerEvent):
    event_name: ClassVar[str] = "CustodyTransferred"
    object_id: str
    sender: str
    receiver: str


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
    """An event of the ABI that has no typed model (yet)."""

    name: str
    args: dict[str, Any]


_MODELS: dict[str, type[LedgerEvent]] = {
    m.event_name: m for m in (ItemRegistered, LotRegistered, CustodyTransferred, RoleGranted, RoleRevoked)
}


def _snake(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name).lower()


def _hex(value: bytes) -> str:
    return "0x" + bytes(value).hex()


def _convert(value: Any, abi_type: str) -> Any:
    if abi_type == "address":
        return to_checksum_address(value)
    if abi_type == "bytes32":
        return _hex(value)
    if re.fullmatch(r"bytes([1-9]|[12][0-9]|3[01])", abi_type):
        return bytes(value).rstrip(b"\0").decode("ascii", errors="replace")
    if abi_type == "bytes":
        return _hex(value)
    return value


class EventDecoder:
    """Decodes raw logs of one contract ABI into typed events."""

    def __init__(self, abi: Sequence[dict[str, Any]]) -> None:
        self._w3 = Web3()
        self._by_topic: dict[bytes, dict[str, Any]] = {
            bytes(event_abi_to_log_topic(item)): item  # type: ignore[arg-type]
            for item in abi
            if item.get("type") == "event"
        }

    @property
    def topics(self) -> list[str]:
        return [_hex(t) for t in self._by_topic]

    def topic_of(self, event_name: str) -> str:
        for topic, item in self._by_topic.items():
            if item["name"] == event_name:
                return _hex(topic)
        raise KeyError(event_name)

    def decode_log(self, log: Any) -> LedgerEvent | None:
        """The typed event of one log, or None when the log is not one of this ABI's events."""
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
        args = {_snake(k): _convert(v, types[k]) for k, v in data["args"].items()}
        model = _MODELS.get(abi["name"])
        if model is None:
            return GenericEvent(meta=meta, name=abi["name"], args=args)
        names = {f.name for f in fields(model)} - {"meta"}
        return model(meta=meta, **{k: v for k, v in args.items() if k in names})

    def decode_logs(self, logs: Iterable[Any]) -> list[LedgerEvent]:
        return [e for e in (self.decode_log(log) for log in logs) if e is not None]
