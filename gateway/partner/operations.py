"""Partner operations: validated request schemas, each resolved to one ledger call.

Objects are named the GS1 way, by EPC URN or by GS1 keys: ``{"epc": "urn:epc:id:sgtin:…"}``,
``{"gtin": "09506000134352", "serial": "ABC1"}`` (an item), ``{"gtin": …, "lot": …}`` (a lot),
``{"sscc": "106141412345678908"}`` (a logistic unit). GTIN/SSCC/GLN check digits, serial and lot
characters (GS1 AI 21/10: up to 20 of the AI encodable set) and dates are checked before anything
is stored; a bad value raises :class:`chain_client.gs1.GS1Error` naming the field.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from chain_client import gs1
from chain_client.ledger import object_id
from chain_client.models import (
    DocumentType,
    GenealogyInput,
    LotOutput,
    Registration,
    ShipmentInfo,
    Status,
    encode_reason,
)
from gateway.documents.cid import Cid
from gateway.documents.errors import DocumentStoreError

try:  # web3's keccak backend, called without eth_hash's and eth_utils' wrappers (2.5x less CPU)
    from Crypto.Hash import keccak as _keccak

    def _keccak256(urn: str) -> bytes:
        return _keccak.new(data=urn.encode(), digest_bits=256).digest()

except ImportError:  # pragma: no cover - another eth_hash backend

    def _keccak256(urn: str) -> bytes:
        return bytes.fromhex(object_id(urn)[2:])


__all__ = ["OPERATIONS", "InvalidInput", "LedgerCall", "ObjectRef", "Operation", "resolve"]

CompanyPrefixLength = Annotated[int, Field(ge=6, le=12)]
Reason = Annotated[str, Field(max_length=32, pattern=r"^[\x20-\x7e]*$")]
Unit = Annotated[str, Field(min_length=1, max_length=3, pattern=r"^[A-Z0-9]+$")]
Quantity = Annotated[int, Field(gt=0, lt=2**232)]
PartnerId = Annotated[int, Field(gt=0, lt=2**32)]


class InvalidInput(ValueError):
    """A well-formed request value that is not a valid identifier other than GS1 (e.g. a CID);
    like :class:`~chain_client.gs1.GS1Error` it carries a stable ``code`` and the ``field``."""

    def __init__(self, code: str, field: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.field = field
        self.message = message


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ObjectRef(_Strict):
    """One object, by EPC URN or by GS1 keys (exactly one form)."""

    epc: str | None = None
    gtin: str | None = None
    serial: str | None = None
    lot: str | None = None
    sscc: str | None = None
    company_prefix_length: CompanyPrefixLength = gs1.DEFAULT_COMPANY_PREFIX_LENGTH

    @model_validator(mode="after")
    def _one_form(self) -> ObjectRef:
        forms = [self.epc is not None, self.gtin is not None, self.sscc is not None]
        if sum(forms) != 1:
            raise ValueError("name the object by exactly one of: epc, gtin with serial or lot, sscc")
        if self.gtin is not None and (self.serial is None) == (self.lot is None):
            raise ValueError("with gtin, give either serial (an item) or lot (a lot)")
        if self.gtin is None and (self.serial is not None or self.lot is not None):
            raise ValueError("serial and lot qualify a gtin; with epc or sscc leave them out")
        return self

    def urn(self, field: str = "object") -> str:
        """The canonical EPC URN (validated)."""
        if self.epc is not None:
            try:
                return gs1.parse_epc_urn(self.epc).epc_urn
            except gs1.GS1Error as exc:
                raise gs1.GS1Error(exc.code, f"{field}.epc", exc.message) from None
        if self.sscc is not None:
            return gs1.Sscc(_checked(gs1.validate_sscc, self.sscc, f"{field}.sscc"), self.company_prefix_length).epc_urn
        key = _gtin_key(self.gtin or "", self.company_prefix_length, field)
        if self.serial is not None:  # Sgtin(...).epc_urn, without validating the GTIN again
            serial = gs1.validate_serial(self.serial, field=f"{field}.serial")
            return f"urn:epc:id:sgtin:{key}.{gs1.epc_escape(serial)}"
        lot = gs1.validate_lot(self.lot or "", field=f"{field}.lot")
        return f"urn:epc:class:lgtin:{key}.{gs1.epc_escape(lot)}"  # Lgtin(...).epc_urn

    def object_id(self, field: str = "object") -> str:
        return "0x" + _keccak256(self.urn(field)).hex()

    def object_id_bytes(self, field: str = "object") -> bytes:
        """:meth:`object_id` as the 32 bytes the ledger takes."""
        return _keccak256(self.urn(field))


# GTIN (and company prefix length) → its EPC key (``CompanyPrefix.IndicatorItemRef``), once
# validated: a batch names the same few GTINs again and again. Bounded; invalid ones never stored.
_GTIN_KEYS: dict[tuple[str, int], str] = {}
_GTIN_KEYS_MAX = 4096


def _gtin_key(gtin: str, company_prefix_length: int, field: str) -> str:
    key = _GTIN_KEYS.get((gtin, company_prefix_length))
    if key is None:
        value = gs1.Gtin(_checked(gs1.validate_gtin, gtin, f"{field}.gtin"), company_prefix_length)
        key = value.epc_key
        if len(_GTIN_KEYS) < _GTIN_KEYS_MAX:
            _GTIN_KEYS[(gtin, company_prefix_length)] = key
    return key


def _checked(validate: Any, value: str, field: str) -> str:
    try:
        return str(validate(value, field=field))
    except gs1.GS1Error:
        raise
    except TypeError:  # validators without a field parameter
        return str(validate(value))


def _gln(value: str | None, field: str) -> str | None:
    return None if value is None else gs1.validate_gln(value, field=field)


class ItemIn(_Strict):
    """A serialized item to commission."""

    gtin: str
    serial: str
    lot: str = ""
    expiry_date: dt.date | None = None
    production_date: dt.date | None = None
    origin_gln: str | None = None
    company_prefix_length: CompanyPrefixLength = gs1.DEFAULT_COMPANY_PREFIX_LENGTH

    def registration(self, field: str) -> Registration:
        gtin = gs1.Gtin(gs1.validate_gtin(self.gtin, field=f"{field}.gtin"), self.company_prefix_length)
        serial = gs1.validate_serial(self.serial, field=f"{field}.serial")
        lot = gs1.validate_lot(self.lot, field=f"{field}.lot") if self.lot else ""
        return Registration(
            epc=gs1.Sgtin(gtin, serial).epc_urn,
            lot=lot,
            expiry_date=self.expiry_date,
            production_date=self.production_date,
            origin_gln=_gln(self.origin_gln, f"{field}.origin_gln"),
        )


class LotIn(_Strict):
    """A lot/batch to commission (or to produce by a split, merge or transformation)."""

    gtin: str
    lot: str
    quantity: Quantity
    unit_of_measure: Unit = "EA"
    expiry_date: dt.date | None = None
    production_date: dt.date | None = None
    origin_gln: str | None = None
    company_prefix_length: CompanyPrefixLength = gs1.DEFAULT_COMPANY_PREFIX_LENGTH

    def output(self, field: str) -> LotOutput:
        gtin = gs1.Gtin(gs1.validate_gtin(self.gtin, field=f"{field}.gtin"), self.company_prefix_length)
        lot = gs1.validate_lot(self.lot, field=f"{field}.lot")
        registration = Registration(
            epc=gs1.Lgtin(gtin, lot).epc_urn,
            lot=lot,
            expiry_date=self.expiry_date,
            production_date=self.production_date,
            origin_gln=_gln(self.origin_gln, f"{field}.origin_gln"),
        )
        return LotOutput(registration, self.quantity, self.unit_of_measure)


# The ledger's limits per call: MAX_BATCH objects moved, MAX_CREATE_BATCH objects created or packed.
MAX_BATCH, MAX_CREATE_BATCH = 1000, 250
Objects = Annotated[list[ObjectRef], Field(min_length=1, max_length=MAX_BATCH)]
CreatedObjects = Annotated[list[ObjectRef], Field(min_length=1, max_length=MAX_CREATE_BATCH)]


class RegisterItems(_Strict):
    operation: Literal["register_items"] = "register_items"
    items: Annotated[list[ItemIn], Field(min_length=1, max_length=MAX_CREATE_BATCH)]


class RegisterLot(_Strict):
    operation: Literal["register_lot"] = "register_lot"
    lot: LotIn


class RegisterLogisticUnits(_Strict):
    operation: Literal["register_logistic_units"] = "register_logistic_units"
    ssccs: Annotated[list[str], Field(min_length=1, max_length=MAX_CREATE_BATCH)]
    company_prefix_length: CompanyPrefixLength = gs1.DEFAULT_COMPANY_PREFIX_LENGTH


class Ship(_Strict):
    operation: Literal["ship"] = "ship"
    objects: Objects
    receiver: PartnerId
    ship_from_gln: str | None = None
    ship_to_gln: str | None = None
    transfer_ownership: bool = False


class Receive(_Strict):
    operation: Literal["receive"] = "receive"
    objects: Objects
    gln: str | None = None


class Reject(_Strict):
    operation: Literal["reject"] = "reject"
    objects: Objects
    reason: Reason = ""


class CancelShipment(_Strict):
    operation: Literal["cancel_shipment"] = "cancel_shipment"
    objects: Objects


class Transfer(_Strict):
    operation: Literal["transfer"] = "transfer"
    objects: Objects
    receiver: PartnerId


class TransferOwnership(_Strict):
    operation: Literal["transfer_ownership"] = "transfer_ownership"
    objects: Objects
    new_owner: PartnerId


class Pack(_Strict):
    operation: Literal["pack"] = "pack"
    parent: ObjectRef
    children: CreatedObjects


class Unpack(_Strict):
    operation: Literal["unpack"] = "unpack"
    parent: ObjectRef
    children: Objects


class SplitLot(_Strict):
    operation: Literal["split_lot"] = "split_lot"
    lot: ObjectRef
    outputs: Annotated[list[LotIn], Field(min_length=1, max_length=MAX_CREATE_BATCH)]


class MergeLots(_Strict):
    operation: Literal["merge_lots"] = "merge_lots"
    lots: Objects
    output: LotIn


class InputIn(_Strict):
    object: ObjectRef
    quantity: Quantity = 1


class Transform(_Strict):
    operation: Literal["transform"] = "transform"
    inputs: Annotated[list[InputIn], Field(min_length=1, max_length=1000)]
    lot_outputs: Annotated[list[LotIn], Field(max_length=MAX_CREATE_BATCH)] = []
    item_outputs: Annotated[list[ItemIn], Field(max_length=MAX_CREATE_BATCH)] = []

    @model_validator(mode="after")
    def _has_output(self) -> Transform:
        if not self.lot_outputs and not self.item_outputs:
            raise ValueError("a transformation produces at least one lot or item")
        return self


SettableStatus = Literal["active", "quarantined", "expired", "dispensed", "decommissioned"]


class SetStatus(_Strict):
    operation: Literal["set_status"] = "set_status"
    objects: Objects
    status: SettableStatus
    reason: Reason = ""


class Recall(_Strict):
    operation: Literal["recall"] = "recall"
    object: ObjectRef
    reason: Reason


DocumentTypeName = Literal[
    "certificate_of_analysis", "bill_of_lading", "transaction_statement", "temperature_log", "invoice", "photo",
    "recall_notice", "other",
]  # fmt: skip


class AnchorDocument(_Strict):
    """Anchors a CID already in the document store (uploads go through /v1/documents)."""

    operation: Literal["anchor_document"] = "anchor_document"
    object: ObjectRef | None = None
    shipment_id: Annotated[int, Field(gt=0)] | None = None
    document_type: DocumentTypeName
    cid: str

    @model_validator(mode="after")
    def _one_subject(self) -> AnchorDocument:
        if (self.object is None) == (self.shipment_id is None):
            raise ValueError("anchor to exactly one of: object, shipment_id")
        return self


Operation = Annotated[
    RegisterItems
    | RegisterLot
    | RegisterLogisticUnits
    | Ship
    | Receive
    | Reject
    | CancelShipment
    | Transfer
    | TransferOwnership
    | Pack
    | Unpack
    | SplitLot
    | MergeLots
    | Transform
    | SetStatus
    | Recall
    | AnchorDocument,
    Field(discriminator="operation"),
]

OPERATIONS: dict[str, type[BaseModel]] = {
    m.model_fields["operation"].default: m
    for m in (
        RegisterItems, RegisterLot, RegisterLogisticUnits, Ship, Receive, Reject, CancelShipment, Transfer,
        TransferOwnership, Pack, Unpack, SplitLot, MergeLots, Transform, SetStatus, Recall, AnchorDocument,
    )
}  # fmt: skip


@dataclass(frozen=True)
class LedgerCall:
    """A ledger function and its ABI arguments, plus what the caller can know before mining."""

    function: str
    args: tuple[Any, ...]
    object_ids: tuple[str, ...] = ()


def _b32(hex_id: str) -> bytes:
    return bytes.fromhex(hex_id[2:])


def _ids(refs: list[ObjectRef], field: str) -> list[bytes]:
    return [r.object_id_bytes(f"{field}[{i}]") for i, r in enumerate(refs)]


def resolve(op: BaseModel) -> LedgerCall:
    """The ledger call an operation makes (validating GS1 data on the way)."""
    if isinstance(op, RegisterItems):
        regs = [item.registration(f"items[{i}]") for i, item in enumerate(op.items)]
        return LedgerCall("registerItems", ([r.as_abi_tuple() for r in regs],), tuple(object_id(r.epc) for r in regs))
    if isinstance(op, RegisterLot):
        out = op.lot.output("lot")
        return LedgerCall("registerLot", (out.as_abi_tuple(),), (object_id(out.registration.epc),))
    if isinstance(op, RegisterLogisticUnits):
        urns = [
            gs1.Sscc(gs1.validate_sscc(s, field=f"ssccs[{i}]"), op.company_prefix_length).epc_urn
            for i, s in enumerate(op.ssccs)
        ]
        return LedgerCall("registerLogisticUnits", (urns,), tuple(object_id(u) for u in urns))
    if isinstance(op, Ship):
        info = ShipmentInfo(
            op.receiver,
            _gln(op.ship_from_gln, "ship_from_gln"),
            _gln(op.ship_to_gln, "ship_to_gln"),
            op.transfer_ownership,
        )
        return _with_ids("ship", _ids(op.objects, "objects"), info.as_abi_tuple())
    if isinstance(op, Receive):
        gln = _gln(op.gln, "gln")
        return _with_ids("receiveObjects", _ids(op.objects, "objects"), int(gln) if gln else 0)
    if isinstance(op, Reject):
        return _with_ids("reject", _ids(op.objects, "objects"), encode_reason(op.reason))
    if isinstance(op, CancelShipment):
        return _with_ids("cancelShipment", _ids(op.objects, "objects"))
    if isinstance(op, Transfer):
        return _with_ids("transfer", _ids(op.objects, "objects"), op.receiver)
    if isinstance(op, TransferOwnership):
        return _with_ids("transferOwnership", _ids(op.objects, "objects"), op.new_owner)
    if isinstance(op, Pack | Unpack):
        parent = _b32(op.parent.object_id("parent"))
        children = _ids(op.children, "children")
        return LedgerCall(op.operation, (parent, children), tuple("0x" + c.hex() for c in [parent, *children]))
    if isinstance(op, SplitLot):
        outs = [o.output(f"outputs[{i}]") for i, o in enumerate(op.outputs)]
        lot = op.lot.object_id("lot")
        return LedgerCall(
            "splitLot",
            (_b32(lot), [o.as_abi_tuple() for o in outs]),
            (lot, *(object_id(o.registration.epc) for o in outs)),
        )
    if isinstance(op, MergeLots):
        out = op.output.output("output")
        lots = _ids(op.lots, "lots")
        return LedgerCall(
            "mergeLots", (lots, out.as_abi_tuple()), (*("0x" + x.hex() for x in lots), object_id(out.registration.epc))
        )
    if isinstance(op, Transform):
        inputs = [
            GenealogyInput(i.object.object_id(f"inputs[{k}].object"), i.quantity) for k, i in enumerate(op.inputs)
        ]
        outputs = [o.output(f"lot_outputs[{k}]") for k, o in enumerate(op.lot_outputs)]
        made = [o.registration(f"item_outputs[{k}]") for k, o in enumerate(op.item_outputs)]
        args = (
            [(_b32(i.object_id), i.quantity) for i in inputs],
            [o.as_abi_tuple() for o in outputs],
            [r.as_abi_tuple() for r in made],
        )
        ids = (
            *(i.object_id for i in inputs),
            *(object_id(o.registration.epc) for o in outputs),
            *(object_id(r.epc) for r in made),
        )
        return LedgerCall("transform", args, ids)
    if isinstance(op, SetStatus):
        status = Status[op.status.upper()]
        return _with_ids("setStatus", _ids(op.objects, "objects"), int(status), encode_reason(op.reason))
    if isinstance(op, Recall):
        oid = op.object.object_id("object")
        return LedgerCall("recall", (_b32(oid), encode_reason(op.reason)), (oid,))
    if isinstance(op, AnchorDocument):
        try:
            cid = Cid.parse(op.cid).to_bytes()
        except DocumentStoreError as exc:
            raise InvalidInput(exc.code, "cid", str(exc)) from None
        if op.object is not None:
            subject = _b32(op.object.object_id("object"))
        else:
            assert op.shipment_id is not None
            subject = op.shipment_id.to_bytes(32, "big")
        doc_type = DocumentType[op.document_type.upper()]
        return LedgerCall("anchorDocument", (subject, int(doc_type), cid), ("0x" + subject.hex(),))
    raise TypeError(f"unknown operation {type(op).__name__}")


def _with_ids(function: str, ids: list[bytes], *rest: Any) -> LedgerCall:
    return LedgerCall(function, (ids, *rest), tuple("0x" + i.hex() for i in ids))
