"""Typed client of a CustodyLedger deployment (and its CustodyRelay): one method per operation.

Object ids are 0x-hex strings (keccak256 of the EPC URN, see :func:`object_id`); partners are
their ``uint32`` ids. Transactions return :class:`TxResult` with the decoded events; reverts
raise :class:`~chain_client.errors.ContractRevert` carrying the custom error and its arguments.
"""

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
from chain_client.eip712 import sign_call
from chain_client.events import EventDecoder, LedgerEvent
from chain_client.models import (
    CustodyView,
    DocumentType,
    GenealogyInput,
    LotOutput,
    ObjectKind,
    PartnerRole,
    Registration,
    ShipmentInfo,
    ShipmentRecord,
    SignedCall,
    Status,
    encode_reason,
    int_to_date,
)
from chain_client.reverts import RevertDecoder
from chain_client.signers import Signer
from chain_client.tx import NonceManager, Receipt, TxSender

__all__ = ["CONTRACT_NAME", "PAUSER_ROLE", "RELAY_NAME", "CustodyLedgerClient", "TxResult", "object_id"]

CONTRACT_NAME = "CustodyLedger"
RELAY_NAME = "CustodyRelay"
DEFAULT_ADMIN_ROLE = "0x" + "00" * 32
PAUSER_ROLE = "0x" + keccak(text="PAUSER_ROLE").hex()


def object_id(epc_urn: str) -> str:
    """The ledger's id of an EPC URN (keccak256 of its UTF-8 bytes), as 0x-hex."""
    return "0x" + keccak(text=epc_urn).hex()


def shipment_subject(shipment_id: int) -> str:
    """The document subject that addresses a shipment: ``bytes32(uint256(shipmentId))``."""
    return "0x" + shipment_id.to_bytes(32, "big").hex()


def _b32(value: str) -> bytes:
    raw = bytes.fromhex(value.removeprefix("0x"))
    if len(raw) != 32:
        raise ValueError(f"expected a 32-byte id, got {value!r}")
    return raw


def _ids(values: Sequence[str]) -> list[bytes]:
    return [_b32(v) for v in values]


def _opt_id(raw: bytes) -> str | None:
    return None if raw == b"\0" * 32 else "0x" + raw.hex()


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

    def of(self, event_type: type[LedgerEvent]) -> list[Any]:
        """The events of one type, in log order."""
        return [e for e in self.events if isinstance(e, event_type)]


class CustodyLedgerClient:
    """Calls and transactions of one CustodyLedger deployment, sent by one signer."""

    def __init__(self, sender: TxSender, address: str, relay: str | None = None) -> None:
        self.sender = sender
        self.address = to_checksum_address(address)
        ledger_abi = load_artifact(CONTRACT_NAME).abi
        relay_abi = load_artifact(RELAY_NAME).abi
        w3 = sender.w3
        self.contract: Contract = w3.eth.contract(address=self.address, abi=ledger_abi)
        self.events = EventDecoder(ledger_abi, relay_abi)
        if relay is None:
            relay = self._call(self.contract.functions.relay())
        self.relay_address = to_checksum_address(str(relay))
        self.relay: Contract = w3.eth.contract(address=self.relay_address, abi=relay_abi)

    @staticmethod
    def revert_decoder() -> RevertDecoder:
        return RevertDecoder([load_artifact(CONTRACT_NAME).abi, load_artifact(RELAY_NAME).abi])

    @classmethod
    def connect(cls, w3: Web3, address: str, signer: Signer, nonces: NonceManager | None = None) -> CustodyLedgerClient:
        return cls(TxSender(w3, signer, cls.revert_decoder(), nonces), address)

    def as_signer(self, signer: Signer) -> CustodyLedgerClient:
        """The same deployment, sending as ``signer`` (sharing the nonce bookkeeping)."""
        sender = TxSender(self.sender.w3, signer, self.sender.decoder, self.sender.nonces)
        return CustodyLedgerClient(sender, self.address, self.relay_address)

    # -- plumbing -----------------------------------------------------------------------------

    def _transact(self, fn: Any, gas: int | None = None, to: str | None = None) -> TxResult:
        receipt = self.sender.transact({"to": to or self.address, "data": fn._encode_transaction_data()}, gas=gas)
        return TxResult(receipt, self.events.decode_logs(receipt.logs))

    def _call(self, fn: Any, to: str | None = None) -> Any:
        tx = {"to": to or self.address, "data": fn._encode_transaction_data()}
        outputs = [_abi_type(o) for o in fn.abi["outputs"]]
        codec = self.sender.w3.codec
        result = self.sender.call(tx, lambda raw: codec.decode(outputs, raw))
        return result[0] if len(result) == 1 else result

    def encode(self, function: str, *args: Any) -> bytes:
        """ABI-encoded calldata of a ledger function (what a partner signs for relaying)."""
        return bytes.fromhex(self.contract.get_function_by_name(function)(*args)._encode_transaction_data()[2:])

    # -- partner directory (admin) --------------------------------------------------------------

    def register_partner(
        self, name: str, role: PartnerRole, accounts: Sequence[str] = (), glns: Sequence[str] = ()
    ) -> TxResult:
        fn = self.contract.functions.registerPartner(
            name, int(role), [to_checksum_address(a) for a in accounts], [int(g) for g in glns]
        )
        return self._transact(fn)

    def add_partner_account(self, partner_id: int, account: str) -> TxResult:
        return self._transact(self.contract.functions.addPartnerAccount(partner_id, to_checksum_address(account)))

    def remove_partner_account(self, account: str) -> TxResult:
        return self._transact(self.contract.functions.removePartnerAccount(to_checksum_address(account)))

    def add_partner_location(self, partner_id: int, gln: str) -> TxResult:
        return self._transact(self.contract.functions.addPartnerLocation(partner_id, int(gln)))

    def set_partner_active(self, partner_id: int, active: bool) -> TxResult:
        return self._transact(self.contract.functions.setPartnerActive(partner_id, active))

    def grant_role(self, role: str, account: str) -> TxResult:
        return self._transact(self.contract.functions.grantRole(_b32(role), to_checksum_address(account)))

    def pause(self) -> TxResult:
        return self._transact(self.contract.functions.pause())

    def unpause(self) -> TxResult:
        return self._transact(self.contract.functions.unpause())

    # -- registry -------------------------------------------------------------------------------

    def register_items(self, registrations: Sequence[Registration]) -> TxResult:
        fn = self.contract.functions.registerItems([r.as_abi_tuple() for r in registrations])
        return self._transact(fn)

    def register_item(self, registration: Registration) -> TxResult:
        return self.register_items([registration])

    def register_lot(self, output: LotOutput) -> TxResult:
        return self._transact(self.contract.functions.registerLot(output.as_abi_tuple()))

    def register_logistic_units(self, sscc_urns: Sequence[str]) -> TxResult:
        return self._transact(self.contract.functions.registerLogisticUnits(list(sscc_urns)))

    # -- custody --------------------------------------------------------------------------------

    def ship(self, object_ids: Sequence[str], info: ShipmentInfo) -> TxResult:
        return self._transact(self.contract.functions.ship(_ids(object_ids), info.as_abi_tuple()))

    def receive(self, object_ids: Sequence[str], gln: str | None = None) -> TxResult:
        return self._transact(self.contract.functions.receiveObjects(_ids(object_ids), int(gln) if gln else 0))

    def reject(self, object_ids: Sequence[str], reason: str) -> TxResult:
        return self._transact(self.contract.functions.reject(_ids(object_ids), encode_reason(reason)))

    def cancel_shipment(self, object_ids: Sequence[str]) -> TxResult:
        return self._transact(self.contract.functions.cancelShipment(_ids(object_ids)))

    def transfer(self, object_ids: Sequence[str], receiver: int) -> TxResult:
        return self._transact(self.contract.functions.transfer(_ids(object_ids), receiver))

    def transfer_ownership(self, object_ids: Sequence[str], new_owner: int) -> TxResult:
        return self._transact(self.contract.functions.transferOwnership(_ids(object_ids), new_owner))

    # -- aggregation ----------------------------------------------------------------------------

    def pack(self, parent: str, children: Sequence[str]) -> TxResult:
        return self._transact(self.contract.functions.pack(_b32(parent), _ids(children)))

    def unpack(self, parent: str, children: Sequence[str]) -> TxResult:
        return self._transact(self.contract.functions.unpack(_b32(parent), _ids(children)))

    # -- genealogy ------------------------------------------------------------------------------

    def split_lot(self, lot_id: str, outputs: Sequence[LotOutput]) -> TxResult:
        return self._transact(self.contract.functions.splitLot(_b32(lot_id), [o.as_abi_tuple() for o in outputs]))

    def merge_lots(self, lot_ids: Sequence[str], output: LotOutput) -> TxResult:
        return self._transact(self.contract.functions.mergeLots(_ids(lot_ids), output.as_abi_tuple()))

    def transform(
        self,
        inputs: Sequence[GenealogyInput],
        lot_outputs: Sequence[LotOutput] = (),
        item_outputs: Sequence[Registration] = (),
    ) -> TxResult:
        fn = self.contract.functions.transform(
            [(_b32(i.object_id), i.quantity) for i in inputs],
            [o.as_abi_tuple() for o in lot_outputs],
            [r.as_abi_tuple() for r in item_outputs],
        )
        return self._transact(fn)

    # -- status ---------------------------------------------------------------------------------

    def set_status(self, object_ids: Sequence[str], status: Status, reason: str = "") -> TxResult:
        fn = self.contract.functions.setStatus(_ids(object_ids), int(status), encode_reason(reason))
        return self._transact(fn)

    def recall(self, object_id: str, reason: str) -> TxResult:
        return self._transact(self.contract.functions.recall(_b32(object_id), encode_reason(reason)))

    # -- documents and event batches --------------------------------------------------------------

    def anchor_document(self, subject: str, doc_type: DocumentType, cid: bytes) -> TxResult:
        return self._transact(self.contract.functions.anchorDocument(_b32(subject), int(doc_type), cid))

    def anchor_event_batch(self, root: bytes, leaf_count: int, cid: bytes = b"") -> TxResult:
        return self._transact(self.contract.functions.anchorEventBatch(root, leaf_count, cid))

    def verify_event_inclusion(self, root: bytes, event_hash: bytes, proof: Sequence[bytes]) -> bool:
        return bool(self._call(self.contract.functions.verifyEventInclusion(root, event_hash, list(proof))))

    def document_anchored_at(self, document_id: str) -> int:
        return int(self._call(self.contract.functions.documentAnchoredAt(_b32(document_id))))

    # -- signed operations (EIP-712, relayed) ---------------------------------------------------

    def relay_nonce(self, account: str) -> int:
        return int(self._call(self.relay.functions.nonces(to_checksum_address(account)), to=self.relay_address))

    def sign(
        self, signer: Signer, function: str, *args: Any, deadline: int | None = None, nonce: int | None = None
    ) -> SignedCall:
        """Signs a call of ledger ``function`` as ``signer`` (its next relay nonce by default)."""
        if deadline is None:
            deadline = int(dt.datetime.now(dt.UTC).timestamp()) + 3600
        if nonce is None:
            nonce = self.relay_nonce(signer.address)
        data = self.encode(function, *args)
        return sign_call(signer, chain_id=self.sender.chain_id, relay=self.relay_address, data=data, nonce=nonce,
                         deadline=deadline)  # fmt: skip

    def execute_signed(self, call: SignedCall) -> TxResult:
        fn = self.relay.functions.executeSigned(call.as_abi_tuple(), call.signature)
        return self._transact(fn, to=self.relay_address)

    def execute_signed_batch(self, calls: Sequence[SignedCall]) -> TxResult:
        fn = self.relay.functions.executeSignedBatch([c.as_abi_tuple() for c in calls], [c.signature for c in calls])
        return self._transact(fn, to=self.relay_address)

    # -- reads ----------------------------------------------------------------------------------

    def has_role(self, role: str, account: str) -> bool:
        return bool(self._call(self.contract.functions.hasRole(_b32(role), to_checksum_address(account))))

    def partner_of(self, account: str) -> int:
        return int(self._call(self.contract.functions.partnerOf(to_checksum_address(account))))

    def partner(self, partner_id: int) -> tuple[PartnerRole, bool]:
        role, active = self._call(self.contract.functions.partner(partner_id))
        return PartnerRole(role), bool(active)

    def custodian_of(self, object_id: str) -> int:
        return int(self._call(self.contract.functions.custodianOf(_b32(object_id))))

    def custody_of(self, object_id: str) -> CustodyView:
        (kind, status, custodian, owner, pending, shipment_id, registrant, expiry, registered_at, parent, root, lot,
         quantity, unit) = self._call(self.contract.functions.custodyOf(_b32(object_id)))  # fmt: skip
        return CustodyView(
            object_id=object_id,
            kind=ObjectKind(kind),
            status=Status(status),
            custodian=custodian,
            owner=owner,
            pending_receiver=pending,
            shipment_id=shipment_id,
            registrant=registrant,
            expiry_date=int_to_date(expiry),
            registered_at=dt.datetime.fromtimestamp(registered_at, dt.UTC),
            parent=_opt_id(parent),
            root="0x" + bytes(root).hex(),
            lot=_opt_id(lot),
            quantity=quantity,
            unit_of_measure=bytes(unit).rstrip(b"\0").decode("ascii"),
        )

    def lot_balance(self, lot_id: str) -> tuple[int, str]:
        quantity, unit = self._call(self.contract.functions.lotBalance(_b32(lot_id)))
        return int(quantity), bytes(unit).rstrip(b"\0").decode("ascii")

    def shipment(self, shipment_id: int) -> ShipmentRecord:
        sender, receiver, transfer_ownership, dispatched_at = self._call(self.contract.functions.shipment(shipment_id))
        return ShipmentRecord(
            shipment_id, sender, receiver, bool(transfer_ownership), dt.datetime.fromtimestamp(dispatched_at, dt.UTC)
        )

    def get_events(self, from_block: int = 0, to_block: int | str = "latest") -> list[LedgerEvent]:
        """Every ledger and relay event in a block range, decoded (stateless ``eth_getLogs``)."""
        logs = self.sender.w3.eth.get_logs(
            {"address": [self.address, self.relay_address], "fromBlock": from_block, "toBlock": to_block}  # type: ignore[typeddict-item]
        )
        return self.events.decode_logs(logs)


def _abi_type(output: dict[str, Any]) -> str:
    t: str = output["type"]
    if t.startswith("tuple"):
        inner = ",".join(_abi_type(c) for c in output["components"])
        return f"({inner}){t[len('tuple') :]}"
    return t
