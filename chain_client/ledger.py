"""Typed client of the CustodyLedger contract: one method per operation, typed results."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak
from web3 import Web3
from web3.contract import Contract

from chain_client.artifacts import load_artifact
from chain_client.events import EventDecoder, LedgerEvent
from chain_client.models import ObjectKind, ObjectRecord, Registration, Status, int_to_date
from chain_client.reverts import RevertDecoder
from chain_client.signers import Signer
from chain_client.tx import NonceManager, Receipt, TxSender

__all__ = ["PARTNER_ROLE", "REGISTRAR_ROLE", "CustodyLedgerClient", "TxResult", "object_id"]

CONTRACT_NAME = "CustodyLedger"
DEFAULT_ADMIN_ROLE = "0x" + "00" * 32
REGISTRAR_ROLE = "0x" + keccak(text="REGISTRAR_ROLE").hex()
PARTNER_ROLE = "0x" + keccak(text="PARTNER_ROLE").hex()


def object_id(epc_urn: str) -> str:
    """The ledger's id of an EPC URN (keccak256 of its UTF-8 bytes), as 0x-hex."""
    return "0x" + keccak(text=epc_urn).hex()


def _b32(value: str) -> bytes:
    raw = bytes.fromhex(value.removeprefix("0x"))
    if len(raw) != 32:
        raise ValueError(f"expected a 32-byte id, got {value!r}")
    return raw


@dataclass(frozen=True)
class TxResult:
    """A mined transaction and the ledger events it emitted."""

    receipt: Receipt
    events: list[LedgerEvent]

    @property
    def tx_hash(self) -> str:
        return self.receipt.tx_hash

    @property
    def gas_used(self) -> int:
        return self.receipt.gas_used


class CustodyLedgerClient:
    """Calls and transactions of one CustodyLedger deployment, sent by one signer."""

    def __init__(self, sender: TxSender, address: str) -> None:
        self.sender = sender
        self.address = to_checksum_address(address)
        abi = load_artifact(CONTRACT_NAME).abi
        self.contract: Contract = sender.w3.eth.contract(address=self.address, abi=abi)
        self.events = EventDecoder(abi)

    @classmethod
    def connect(cls, w3: Web3, address: str, signer: Signer, nonces: NonceManager | None = None) -> CustodyLedgerClient:
        decoder = RevertDecoder([load_artifact(CONTRACT_NAME).abi])
        return cls(TxSender(w3, signer, decoder, nonces), address)

    def as_signer(self, signer: Signer) -> CustodyLedgerClient:
        """The same deployment, sending as ``signer`` (sharing the nonce bookkeeping)."""
        sender = TxSender(self.sender.w3, signer, self.sender.decoder, self.sender.nonces)
        return CustodyLedgerClient(sender, self.address)

    # -- transactions -------------------------------------------------------------------------

    def _transact(self, fn: Any, gas: int | None = None) -> TxResult:
        receipt = self.sender.transact({"to": self.address, "data": fn._encode_transaction_data()}, gas=gas)
        return TxResult(receipt, self.events.decode_logs(receipt.logs))

    def grant_role(self, role: str, account: str) -> TxResult:
        return self._transact(self.contract.functions.grantRole(_b32(role), to_checksum_address(account)))

    def revoke_role(self, role: str, account: str) -> TxResult:
        return self._transact(self.contract.functions.revokeRole(_b32(role), to_checksum_address(account)))

    def register_item(self, registration: Registration, custodian: str) -> TxResult:
        fn = self.contract.functions.registerItem(registration.as_abi_tuple(), to_checksum_address(custodian))
        return self._transact(fn)

    def register_lot(self, registration: Registration, quantity: int, unit_of_measure: str, custodian: str) -> TxResult:
        uom = unit_of_measure.encode("ascii")
        if not 1 <= len(uom) <= 3:
            raise ValueError("unit_of_measure must be a UN/ECE rec 20 code of 1-3 characters, e.g. 'KGM', 'EA'")
        fn = self.contract.functions.registerLot(
            registration.as_abi_tuple(), quantity, uom.ljust(3, b"\0"), to_checksum_address(custodian)
        )
        return self._transact(fn)

    def transfer(self, object_id: str, to: str) -> TxResult:
        return self._transact(self.contract.functions.transfer(_b32(object_id), to_checksum_address(to)))

    def batch_transfer(self, object_ids: Sequence[str], to: str) -> TxResult:
        fn = self.contract.functions.batchTransfer([_b32(i) for i in object_ids], to_checksum_address(to))
        return self._transact(fn)

    # -- reads --------------------------------------------------------------------------------

    def _call(self, fn: Any) -> Any:
        tx = {"to": self.address, "data": fn._encode_transaction_data()}
        outputs = [o["type"] if o["type"] != "tuple" else _tuple_type(o) for o in fn.abi["outputs"]]
        codec = self.sender.w3.codec
        result = self.sender.call(tx, lambda raw: codec.decode(outputs, raw))
        return result[0] if len(result) == 1 else result

    def has_role(self, role: str, account: str) -> bool:
        return bool(self._call(self.contract.functions.hasRole(_b32(role), to_checksum_address(account))))

    def custodian_of(self, object_id: str) -> str:
        return to_checksum_address(self._call(self.contract.functions.custodianOf(_b32(object_id))))

    def object_of(self, object_id: str) -> ObjectRecord:
        custodian, kind, status, expiry, registered_at = self._call(self.contract.functions.objectOf(_b32(object_id)))
        return ObjectRecord(
            object_id=object_id,
            custodian=to_checksum_address(custodian),
            kind=ObjectKind(kind),
            status=Status(status),
            expiry_date=int_to_date(expiry),
            registered_at=dt.datetime.fromtimestamp(registered_at, dt.UTC),
        )

    def lot_quantity(self, lot_id: str) -> int:
        return int(self._call(self.contract.functions.lotQuantity(_b32(lot_id))))

    def get_events(self, from_block: int = 0, to_block: int | str = "latest") -> list[LedgerEvent]:
        """Every ledger event in a block range, decoded (stateless ``eth_getLogs``)."""
        logs = self.sender.w3.eth.get_logs(
            {"address": self.address, "fromBlock": from_block, "toBlock": to_block}  # type: ignore[typeddict-item]
        )
        return self.events.decode_logs(logs)


def _tuple_type(output: dict[str, Any]) -> str:
    inner = ",".join(c["type"] if c["type"] != "tuple" else _tuple_type(c) for c in output["components"])
    return f"({inner})"
