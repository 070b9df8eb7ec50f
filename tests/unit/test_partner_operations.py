"""Partner operations without a node: each request schema resolves to the right ledger call, and
every GS1 mistake is reported with its stable code and the field that holds it."""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any

import pytest
from pydantic import TypeAdapter, ValidationError
from web3 import Web3

from chain_client.artifacts import load_artifact
from chain_client.gs1 import GS1Error
from chain_client.ledger import object_id
from gateway.api.routes import partner as partner_routes
from gateway.documents.cid import RAW, Cid, multihash_sha256
from gateway.partner import operations as ops

OPERATION = TypeAdapter(ops.Operation)

GTIN = "00614141812349"  # valid GTIN-14, company prefix 0614141, item reference 81234
GTIN13 = "0614141812349"  # the same GTIN written as GTIN-13
GTIN_BAD_CD = "00614141812345"
SSCC = "106141411234567897"
SSCC_URN = "urn:epc:id:sscc:0614141.1123456789"
GLN_A = "0614141000005"
GLN_B = "0614141000012"
GLN_BAD_CD = "0614141000006"


def sgtin(serial: str) -> str:
    return f"urn:epc:id:sgtin:0614141.081234.{serial}"


def lgtin(lot: str) -> str:
    return f"urn:epc:class:lgtin:0614141.081234.{lot}"


def b32(urn: str) -> bytes:
    return bytes.fromhex(object_id(urn)[2:])


def reason(text: str) -> bytes:
    return text.encode().ljust(32, b"\0")


CID = Cid(1, RAW, multihash_sha256(hashlib.sha256(b"certificate").digest()))
SHA512_CID = (
    "bafkrgqfevpkejdcjkywyfaiv2e5b7thksj7vfngviwjjp6fuhzbnvcjdrpatmjxehxftrxnqqjeisj7msbh3iicxiq4yh2efqulz2ucvdl7ge"
)
ITEM_A = {"gtin": GTIN, "serial": "A1"}
ITEM_B = {"gtin": GTIN13, "serial": "B2"}
LOT_X = {"gtin": GTIN, "lot": "LX"}
CASE = {"sscc": SSCC}

_LEDGER = Web3().eth.contract(abi=load_artifact("CustodyLedger").abi)


def resolved(body: dict[str, Any]) -> ops.LedgerCall:
    return ops.resolve(OPERATION.validate_python(body))


def roundtrip(call: ops.LedgerCall) -> tuple[str, dict[str, Any]]:
    """Encodes the call against the ledger ABI and decodes it again (arity and types must fit)."""
    data = _LEDGER.get_function_by_name(call.function)(*call.args)._encode_transaction_data()
    fn, args = _LEDGER.decode_function_input(data)
    return fn.abi_element_identifier.split("(")[0], args


# --- every operation -> its ledger function and arguments --------------------------------------------

CASES: dict[str, tuple[dict[str, Any], str, tuple[Any, ...], tuple[str, ...]]] = {
    "register_items": (
        {
            "operation": "register_items",
            "items": [
                {
                    "gtin": GTIN, "serial": "A1", "lot": "L1", "expiry_date": "2030-01-31",
                    "production_date": "2024-05-06", "origin_gln": GLN_A,
                },
                {"gtin": GTIN13, "serial": "B/2"},  # '/' is escaped in the URN
            ],
        },
        "registerItems",
        ([(sgtin("A1"), "L1", 20300131, 20240506, 614141000005), (sgtin("B%2F2"), "", 0, 0, 0)],),
        (object_id(sgtin("A1")), object_id(sgtin("B%2F2"))),
    ),
    "register_lot": (
        {"operation": "register_lot", "lot": {"gtin": GTIN, "lot": "LOT-7", "quantity": 500, "unit_of_measure": "KGM",
                                              "expiry_date": "2031-12-01", "origin_gln": GLN_B}},
        "registerLot",
        (((lgtin("LOT-7"), "LOT-7", 20311201, 0, 614141000012), 500, b"KGM"),),
        (object_id(lgtin("LOT-7")),),
    ),
    "register_logistic_units": (
        {"operation": "register_logistic_units", "ssccs": [SSCC]},
        "registerLogisticUnits",
        ([SSCC_URN],),
        (object_id(SSCC_URN),),
    ),
    "ship": (
        {"operation": "ship", "objects": [ITEM_A, CASE, {"epc": sgtin("C3")}], "receiver": 3,
         "ship_from_gln": GLN_A, "ship_to_gln": GLN_B, "transfer_ownership": True},
        "ship",
        ([b32(sgtin("A1")), b32(SSCC_URN), b32(sgtin("C3"))], (3, 614141000005, 614141000012, True)),
        (object_id(sgtin("A1")), object_id(SSCC_URN), object_id(sgtin("C3"))),
    ),
    "receive": (
        {"operation": "receive", "objects": [ITEM_A], "gln": GLN_B},
        "receiveObjects",
        ([b32(sgtin("A1"))], 614141000012),
        (object_id(sgtin("A1")),),
    ),
    "reject": (
        {"operation": "reject", "objects": [ITEM_A, ITEM_B], "reason": "damaged"},
        "reject",
        ([b32(sgtin("A1")), b32(sgtin("B2"))], reason("damaged")),
        (object_id(sgtin("A1")), object_id(sgtin("B2"))),
    ),
    "cancel_shipment": (
        {"operation": "cancel_shipment", "objects": [CASE]},
        "cancelShipment",
        ([b32(SSCC_URN)],),
        (object_id(SSCC_URN),),
    ),
    "transfer": (
        {"operation": "transfer", "objects": [ITEM_A], "receiver": 4},
        "transfer",
        ([b32(sgtin("A1"))], 4),
        (object_id(sgtin("A1")),),
    ),
    "transfer_ownership": (
        {"operation": "transfer_ownership", "objects": [LOT_X], "new_owner": 5},
        "transferOwnership",
        ([b32(lgtin("LX"))], 5),
        (object_id(lgtin("LX")),),
    ),
    "pack": (
        {"operation": "pack", "parent": CASE, "children": [ITEM_A, ITEM_B]},
        "pack",
        (b32(SSCC_URN), [b32(sgtin("A1")), b32(sgtin("B2"))]),
        (object_id(SSCC_URN), object_id(sgtin("A1")), object_id(sgtin("B2"))),
    ),
    "unpack": (
        {"operation": "unpack", "parent": {"epc": SSCC_URN}, "children": [ITEM_B]},
        "unpack",
        (b32(SSCC_URN), [b32(sgtin("B2"))]),
        (object_id(SSCC_URN), object_id(sgtin("B2"))),
    ),
    "split_lot": (
        {"operation": "split_lot", "lot": LOT_X, "outputs": [
            {"gtin": GTIN, "lot": "LX-1", "quantity": 30, "unit_of_measure": "KGM"},
            {"gtin": GTIN, "lot": "LX-2", "quantity": 20, "unit_of_measure": "KGM", "production_date": "2025-02-03"},
        ]},
        "splitLot",
        (b32(lgtin("LX")), [((lgtin("LX-1"), "LX-1", 0, 0, 0), 30, b"KGM"),
                            ((lgtin("LX-2"), "LX-2", 0, 20250203, 0), 20, b"KGM")]),
        (object_id(lgtin("LX")), object_id(lgtin("LX-1")), object_id(lgtin("LX-2"))),
    ),
    "merge_lots": (
        {"operation": "merge_lots", "lots": [LOT_X, {"epc": lgtin("LY")}],
         "output": {"gtin": GTIN, "lot": "LXY", "quantity": 70}},
        "mergeLots",
        ([b32(lgtin("LX")), b32(lgtin("LY"))], ((lgtin("LXY"), "LXY", 0, 0, 0), 70, b"EA\0")),
        (object_id(lgtin("LX")), object_id(lgtin("LY")), object_id(lgtin("LXY"))),
    ),
    "transform": (
        {"operation": "transform",
         "inputs": [{"object": LOT_X, "quantity": 5}, {"object": ITEM_A}],
         "lot_outputs": [{"gtin": GTIN, "lot": "OUT1", "quantity": 5, "unit_of_measure": "LTR"}],
         "item_outputs": [{"gtin": GTIN, "serial": "K1", "lot": "OUT1"}]},
        "transform",
        ([(b32(lgtin("LX")), 5), (b32(sgtin("A1")), 1)],
         [((lgtin("OUT1"), "OUT1", 0, 0, 0), 5, b"LTR")],
         [(sgtin("K1"), "OUT1", 0, 0, 0)]),
        (object_id(lgtin("LX")), object_id(sgtin("A1")), object_id(lgtin("OUT1")), object_id(sgtin("K1"))),
    ),
    "set_status": (
        {"operation": "set_status", "objects": [ITEM_A], "status": "quarantined", "reason": "temperature"},
        "setStatus",
        ([b32(sgtin("A1"))], 2, reason("temperature")),
        (object_id(sgtin("A1")),),
    ),
    "recall": (
        {"operation": "recall", "object": LOT_X, "reason": "contamination"},
        "recall",
        (b32(lgtin("LX")), reason("contamination")),
        (object_id(lgtin("LX")),),
    ),
    "anchor_document": (
        {"operation": "anchor_document", "object": ITEM_A, "document_type": "certificate_of_analysis",
         "cid": str(CID)},
        "anchorDocument",
        (b32(sgtin("A1")), 0, CID.to_bytes()),
        (object_id(sgtin("A1")),),
    ),
}  # fmt: skip


def test_every_operation_has_a_case_and_an_endpoint() -> None:
    assert set(CASES) == set(ops.OPERATIONS)
    endpoint_models = {model for _, model, _ in partner_routes._ENDPOINTS}
    assert endpoint_models == set(ops.OPERATIONS.values())
    paths = [path for path, _, _ in partner_routes._ENDPOINTS]
    assert len(paths) == len(set(paths))


@pytest.mark.parametrize("name", sorted(CASES))
def test_operation_resolves_to_its_ledger_call(name: str) -> None:
    body, function, args, ids = CASES[name]
    call = resolved(body)
    assert call == ops.LedgerCall(function, args, ids)
    decoded_name, decoded = roundtrip(call)
    assert decoded_name == function
    assert len(decoded) == len(args)


@pytest.mark.parametrize(
    ("status", "value"), [("active", 0), ("quarantined", 2), ("expired", 4), ("dispensed", 5), ("decommissioned", 6)]
)
def test_settable_statuses_map_to_the_ledger_enum(status: str, value: int) -> None:
    call = resolved({"operation": "set_status", "objects": [ITEM_A], "status": status})
    assert call.args == ([b32(sgtin("A1"))], value, b"\0" * 32)


@pytest.mark.parametrize("status", ["in_transit", "recalled", "unknown"])
def test_derived_or_unknown_statuses_cannot_be_set(status: str) -> None:
    with pytest.raises(ValidationError):
        OPERATION.validate_python({"operation": "set_status", "objects": [ITEM_A], "status": status})


@pytest.mark.parametrize(
    ("name", "value"),
    [("certificate_of_analysis", 0), ("bill_of_lading", 1), ("transaction_statement", 2), ("temperature_log", 3),
     ("invoice", 4), ("photo", 5), ("recall_notice", 6), ("other", 7)],
)  # fmt: skip
def test_document_types_map_to_the_ledger_enum(name: str, value: int) -> None:
    call = resolved({"operation": "anchor_document", "object": CASE, "document_type": name, "cid": str(CID)})
    assert call.args[1] == value


def test_a_document_anchored_to_a_shipment_uses_the_shipment_subject() -> None:
    call = resolved({"operation": "anchor_document", "shipment_id": 7, "document_type": "bill_of_lading",
                     "cid": str(CID)})  # fmt: skip
    subject = (7).to_bytes(32, "big")
    assert call == ops.LedgerCall("anchorDocument", (subject, 1, CID.to_bytes()), ("0x" + subject.hex(),))


def test_receive_without_gln_sends_zero() -> None:
    assert resolved({"operation": "receive", "objects": [ITEM_A]}).args == ([b32(sgtin("A1"))], 0)


def test_ship_defaults() -> None:
    call = resolved({"operation": "ship", "objects": [ITEM_A], "receiver": 9})
    assert call.args == ([b32(sgtin("A1"))], (9, 0, 0, False))


# --- object references ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ref", "urn"),
    [
        ({"gtin": GTIN, "serial": "A1"}, sgtin("A1")),
        ({"gtin": GTIN13, "serial": "A1"}, sgtin("A1")),  # GTIN-13 is the same product as its GTIN-14
        ({"gtin": "614141812349", "serial": "A1"}, sgtin("A1")),  # GTIN-12
        ({"gtin": GTIN, "lot": "L%1"}, lgtin("L%251")),
        ({"sscc": SSCC}, SSCC_URN),
        ({"sscc": SSCC, "company_prefix_length": 9}, "urn:epc:id:sscc:061414112.13456789"),
        ({"gtin": GTIN, "serial": "A1", "company_prefix_length": 9}, "urn:epc:id:sgtin:061414181.0234.A1"),
        ({"epc": sgtin("A1")}, sgtin("A1")),
        ({"epc": SSCC_URN}, SSCC_URN),
    ],
)
def test_object_ref_forms_name_the_canonical_urn(ref: dict[str, Any], urn: str) -> None:
    parsed = ops.ObjectRef.model_validate(ref)
    assert parsed.urn() == urn
    assert parsed.object_id() == object_id(urn)


@pytest.mark.parametrize(
    "ref",
    [
        {},
        {"gtin": GTIN},  # neither serial nor lot
        {"gtin": GTIN, "serial": "A1", "lot": "L1"},  # both
        {"gtin": GTIN, "serial": "A1", "sscc": SSCC},  # two forms
        {"epc": sgtin("A1"), "sscc": SSCC},
        {"sscc": SSCC, "serial": "A1"},  # a serial means nothing without a GTIN
        {"epc": sgtin("A1"), "lot": "L1"},
        {"gtin": GTIN, "serial": "A1", "company_prefix_length": 5},
        {"gtin": GTIN, "serial": "A1", "company_prefix_length": 13},
        {"gtin": GTIN, "serial": "A1", "colour": "red"},  # unknown fields are refused, not ignored
    ],
)
def test_malformed_object_refs_are_refused_by_the_schema(ref: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        ops.ObjectRef.model_validate(ref)


# --- GS1 validation: code and field ----------------------------------------------------------------

GS1_ERRORS: list[tuple[dict[str, Any], str, str]] = [
    # register_items
    ({"operation": "register_items", "items": [{"gtin": GTIN_BAD_CD, "serial": "A1"}]},
     "gs1.check_digit", "items[0].gtin"),
    ({"operation": "register_items", "items": [ITEM_A, {"gtin": "12345", "serial": "A1"}]},
     "gs1.length", "items[1].gtin"),
    ({"operation": "register_items", "items": [{"gtin": "0061414181234X", "serial": "A1"}]},
     "gs1.charset", "items[0].gtin"),
    ({"operation": "register_items", "items": [{"gtin": GTIN, "serial": "A 1"}]}, "gs1.charset", "items[0].serial"),
    ({"operation": "register_items", "items": [{"gtin": GTIN, "serial": "S" * 21}]}, "gs1.length", "items[0].serial"),
    ({"operation": "register_items", "items": [{"gtin": GTIN, "serial": ""}]}, "gs1.length", "items[0].serial"),
    ({"operation": "register_items", "items": [{"gtin": GTIN, "serial": "A1", "lot": "L#1"}]},
     "gs1.charset", "items[0].lot"),
    ({"operation": "register_items", "items": [{"gtin": GTIN, "serial": "A1", "origin_gln": GLN_BAD_CD}]},
     "gs1.check_digit", "items[0].origin_gln"),
    ({"operation": "register_items", "items": [{"gtin": GTIN, "serial": "A1", "origin_gln": "061414100000"}]},
     "gs1.length", "items[0].origin_gln"),
    # register_lot
    ({"operation": "register_lot", "lot": {"gtin": GTIN_BAD_CD, "lot": "L1", "quantity": 1}},
     "gs1.check_digit", "lot.gtin"),
    ({"operation": "register_lot", "lot": {"gtin": GTIN, "lot": "L" * 21, "quantity": 1}}, "gs1.length", "lot.lot"),
    ({"operation": "register_lot", "lot": {"gtin": GTIN, "lot": "Lé", "quantity": 1}}, "gs1.charset", "lot.lot"),
    ({"operation": "register_lot", "lot": {"gtin": GTIN, "lot": "L1", "quantity": 1, "origin_gln": "x"}},
     "gs1.charset", "lot.origin_gln"),
    # register_logistic_units
    ({"operation": "register_logistic_units", "ssccs": [SSCC, "106141411234567890"]},
     "gs1.check_digit", "ssccs[1]"),
    ({"operation": "register_logistic_units", "ssccs": ["1061414112345678"]}, "gs1.length", "ssccs[0]"),
    # object references inside custody operations
    ({"operation": "ship", "objects": [{"gtin": GTIN_BAD_CD, "serial": "A1"}], "receiver": 2},
     "gs1.check_digit", "objects[0].gtin"),
    ({"operation": "ship", "objects": [ITEM_A, {"gtin": GTIN, "serial": "A~1"}], "receiver": 2},
     "gs1.charset", "objects[1].serial"),
    ({"operation": "ship", "objects": [{"gtin": GTIN, "lot": "L" * 21}], "receiver": 2},
     "gs1.length", "objects[0].lot"),
    ({"operation": "ship", "objects": [{"sscc": "106141411234567898"}], "receiver": 2},
     "gs1.check_digit", "objects[0].sscc"),
    ({"operation": "ship", "objects": [ITEM_A, ITEM_B, {"epc": "urn:epc:id:sgtin:0614141.081234.A/1"}], "receiver": 2},
     "gs1.epc_urn", "objects[2].epc"),
    ({"operation": "ship", "objects": [{"epc": "urn:epc:id:sgtin:061414.081234.A1"}], "receiver": 2},
     "gs1.epc_urn", "objects[0].epc"),
    ({"operation": "ship", "objects": [{"epc": "urn:isbn:123"}], "receiver": 2}, "gs1.epc_urn", "objects[0].epc"),
    ({"operation": "ship", "objects": [ITEM_A], "receiver": 2, "ship_from_gln": GLN_BAD_CD},
     "gs1.check_digit", "ship_from_gln"),
    ({"operation": "ship", "objects": [ITEM_A], "receiver": 2, "ship_to_gln": "06141410000051"},
     "gs1.length", "ship_to_gln"),
    ({"operation": "receive", "objects": [ITEM_A], "gln": GLN_BAD_CD}, "gs1.check_digit", "gln"),
    ({"operation": "receive", "objects": [{"sscc": "10614141123456789X"}]}, "gs1.charset", "objects[0].sscc"),
    ({"operation": "reject", "objects": [{"gtin": "1", "serial": "A"}]}, "gs1.length", "objects[0].gtin"),
    ({"operation": "cancel_shipment", "objects": [{"epc": "urn:epc:id:sscc:0614141.123"}]},
     "gs1.epc_urn", "objects[0].epc"),
    ({"operation": "transfer", "objects": [{"gtin": GTIN, "serial": "A\x001"}], "receiver": 2},
     "gs1.charset", "objects[0].serial"),
    ({"operation": "transfer_ownership", "objects": [{"gtin": GTIN_BAD_CD, "lot": "L"}], "new_owner": 2},
     "gs1.check_digit", "objects[0].gtin"),
    # aggregation
    ({"operation": "pack", "parent": {"sscc": "106141411234567890"}, "children": [ITEM_A]},
     "gs1.check_digit", "parent.sscc"),
    ({"operation": "pack", "parent": CASE, "children": [ITEM_A, {"epc": "urn:epc:id:sgtin:bad"}]},
     "gs1.epc_urn", "children[1].epc"),
    ({"operation": "unpack", "parent": {"epc": "urn:epc:id:sscc:0614141.11234567890"}, "children": [ITEM_A]},
     "gs1.epc_urn", "parent.epc"),
    # genealogy
    ({"operation": "split_lot", "lot": {"gtin": GTIN_BAD_CD, "lot": "L"}, "outputs": [{"gtin": GTIN, "lot": "M",
                                                                                      "quantity": 1}]},
     "gs1.check_digit", "lot.gtin"),
    ({"operation": "split_lot", "lot": LOT_X, "outputs": [{"gtin": GTIN, "lot": "M", "quantity": 1},
                                                         {"gtin": GTIN, "lot": "M N", "quantity": 1}]},
     "gs1.charset", "outputs[1].lot"),
    ({"operation": "merge_lots", "lots": [LOT_X, {"sscc": "1"}], "output": {"gtin": GTIN, "lot": "M", "quantity": 1}},
     "gs1.length", "lots[1].sscc"),
    ({"operation": "merge_lots", "lots": [LOT_X], "output": {"gtin": GTIN_BAD_CD, "lot": "M", "quantity": 1}},
     "gs1.check_digit", "output.gtin"),
    ({"operation": "transform", "inputs": [{"object": LOT_X}, {"object": {"gtin": GTIN_BAD_CD, "serial": "A"}}],
      "lot_outputs": [{"gtin": GTIN, "lot": "M", "quantity": 1}]},
     "gs1.check_digit", "inputs[1].object.gtin"),
    ({"operation": "transform", "inputs": [{"object": LOT_X}],
      "lot_outputs": [{"gtin": GTIN, "lot": "", "quantity": 1}]},
     "gs1.length", "lot_outputs[0].lot"),
    ({"operation": "transform", "inputs": [{"object": LOT_X}], "item_outputs": [{"gtin": GTIN, "serial": "K 1"}]},
     "gs1.charset", "item_outputs[0].serial"),
    ({"operation": "transform", "inputs": [{"object": LOT_X}],
      "item_outputs": [ITEM_A, {"gtin": GTIN, "serial": "K1", "origin_gln": GLN_BAD_CD}]},
     "gs1.check_digit", "item_outputs[1].origin_gln"),
    # status, recall, documents
    ({"operation": "set_status", "objects": [{"epc": lgtin("L/1")}], "status": "active"},
     "gs1.epc_urn", "objects[0].epc"),
    ({"operation": "recall", "object": {"gtin": GTIN, "lot": "L" * 25}, "reason": "x"}, "gs1.length", "object.lot"),
    ({"operation": "anchor_document", "object": {"sscc": "006141411234567891"}, "document_type": "photo",
      "cid": str(CID)},
     "gs1.check_digit", "object.sscc"),
]  # fmt: skip


def test_every_operation_has_a_gs1_error_case() -> None:
    assert {body["operation"] for body, _, _ in GS1_ERRORS} == set(ops.OPERATIONS)


@pytest.mark.parametrize(("body", "code", "field"), GS1_ERRORS, ids=[f"{b['operation']}-{f}" for b, _, f in GS1_ERRORS])
def test_gs1_error_names_code_and_field(body: dict[str, Any], code: str, field: str) -> None:
    op = OPERATION.validate_python(body)  # the schema accepts it: only GS1 rules are broken
    with pytest.raises(GS1Error) as info:
        ops.resolve(op)
    assert (info.value.code, info.value.field) == (code, field)


def test_the_first_bad_field_is_reported() -> None:
    body = {"operation": "register_items", "items": [ITEM_A, {"gtin": GTIN_BAD_CD, "serial": "A 1"},
                                                     {"gtin": "1", "serial": "B"}]}  # fmt: skip
    with pytest.raises(GS1Error) as info:
        resolved(body)
    assert (info.value.code, info.value.field) == ("gs1.check_digit", "items[1].gtin")


@pytest.mark.parametrize(
    ("cid", "code"),
    [
        ("bafyxx", "ipfs.invalid_cid"),
        ("", "ipfs.invalid_cid"),
        # a well-formed CIDv1 whose multihash is sha2-512: the store could never verify it
        (SHA512_CID, "ipfs.unsupported"),
    ],
)
def test_invalid_cid_names_code_and_field(cid: str, code: str) -> None:
    with pytest.raises(ops.InvalidInput) as info:
        resolved({"operation": "anchor_document", "object": ITEM_A, "document_type": "photo", "cid": cid})
    assert (info.value.code, info.value.field) == (code, "cid")


# --- schema errors (pydantic, before any GS1 check) --------------------------------------------------

SCHEMA_ERRORS: list[tuple[dict[str, Any], str]] = [
    ({"operation": "register_items", "items": []}, "items"),
    ({"operation": "register_items", "items": [{"gtin": GTIN}]}, "serial"),
    ({"operation": "register_items", "items": [{"gtin": GTIN, "serial": "A", "expiry_date": "2030-02-30"}]},
     "expiry_date"),
    ({"operation": "register_lot", "lot": {"gtin": GTIN, "lot": "L", "quantity": 0}}, "quantity"),
    ({"operation": "register_lot", "lot": {"gtin": GTIN, "lot": "L", "quantity": 2**232}}, "quantity"),
    ({"operation": "register_lot", "lot": {"gtin": GTIN, "lot": "L", "quantity": 1, "unit_of_measure": "kg"}},
     "unit_of_measure"),
    ({"operation": "register_lot", "lot": {"gtin": GTIN, "lot": "L", "quantity": 1, "unit_of_measure": "KGMS"}},
     "unit_of_measure"),
    ({"operation": "ship", "objects": [ITEM_A], "receiver": 0}, "receiver"),
    ({"operation": "ship", "objects": [ITEM_A], "receiver": 2**32}, "receiver"),
    ({"operation": "ship", "objects": [], "receiver": 2}, "objects"),
    ({"operation": "ship", "objects": [ITEM_A], "receiver": 2, "priority": "high"}, "priority"),
    ({"operation": "reject", "objects": [ITEM_A], "reason": "r" * 33}, "reason"),
    ({"operation": "reject", "objects": [ITEM_A], "reason": "défaut"}, "reason"),
    ({"operation": "transfer_ownership", "objects": [ITEM_A], "new_owner": -1}, "new_owner"),
    ({"operation": "transform", "inputs": [{"object": LOT_X}]}, "transform"),
    ({"operation": "transform", "inputs": [{"object": LOT_X, "quantity": 0}], "lot_outputs": [LOT_X]}, "quantity"),
    ({"operation": "anchor_document", "document_type": "photo", "cid": str(CID)}, "anchor_document"),
    ({"operation": "anchor_document", "object": ITEM_A, "shipment_id": 1, "document_type": "photo", "cid": str(CID)},
     "anchor_document"),
    ({"operation": "anchor_document", "object": ITEM_A, "document_type": "selfie", "cid": str(CID)}, "document_type"),
    ({"operation": "recall", "object": ITEM_A}, "reason"),
]  # fmt: skip


@pytest.mark.parametrize(("body", "where"), SCHEMA_ERRORS, ids=[f"{b['operation']}-{w}" for b, w in SCHEMA_ERRORS])
def test_schema_errors_name_their_location(body: dict[str, Any], where: str) -> None:
    with pytest.raises(ValidationError) as info:
        OPERATION.validate_python(body)
    locations = [".".join(str(p) for p in e["loc"]) for e in info.value.errors()]
    assert any(where in loc for loc in locations), locations


def test_operations_are_frozen_and_dump_to_plain_json() -> None:
    op = OPERATION.validate_python(CASES["register_items"][0])
    with pytest.raises(ValidationError):
        setattr(op, "items", [])  # noqa: B010 - assignment to a frozen model
    dumped = op.model_dump(mode="json")
    assert dumped["items"][0]["expiry_date"] == "2030-01-31"
    assert OPERATION.validate_python(dumped) == op
    assert ops.resolve(OPERATION.validate_python(dumped)) == ops.resolve(op)


def test_dates_reach_the_ledger_as_yyyymmdd() -> None:
    item = ops.ItemIn(gtin=GTIN, serial="A1", expiry_date=dt.date(2029, 2, 28), production_date=dt.date(2024, 1, 9))
    assert item.registration("items[0]").as_abi_tuple()[2:4] == (20290228, 20240109)


@pytest.mark.parametrize(
    "ref",
    [
        {"gtin": GTIN, "serial": "A1"},
        {"gtin": GTIN13, "serial": 'A/B%C&D<E>F?G"H'},  # GTIN-13 input; every escaped character
        {"gtin": "95012345678903", "serial": "x", "company_prefix_length": 9},
        {"gtin": "12345670", "serial": "eight"},  # GTIN-8
        {"gtin": GTIN, "lot": "L/1"},
        {"gtin": GTIN, "lot": "L1", "company_prefix_length": 12},
    ],
)
def test_gtin_refs_name_what_the_gs1_classes_name(ref: dict[str, Any]) -> None:
    """ObjectRef builds SGTIN/LGTIN URNs itself (a validated GTIN's key is cached): they stay the
    URNs of chain_client.gs1's classes, and the ids the ledger's."""
    from chain_client import gs1

    parsed = ops.ObjectRef.model_validate(ref)
    for _ in range(2):  # uncached, then cached
        gtin = gs1.Gtin(ref["gtin"], ref.get("company_prefix_length", gs1.DEFAULT_COMPANY_PREFIX_LENGTH))
        expected = gs1.Sgtin(gtin, ref["serial"]) if "serial" in ref else gs1.Lgtin(gtin, ref["lot"])
        assert parsed.urn() == expected.epc_urn
        assert parsed.object_id() == object_id(expected.epc_urn)
        assert parsed.object_id_bytes() == bytes.fromhex(object_id(expected.epc_urn)[2:])


@pytest.mark.parametrize(
    ("ref", "code", "field"),
    [
        ({"gtin": GTIN_BAD_CD, "serial": "A1"}, "gs1.check_digit", "objects[0].gtin"),
        ({"gtin": GTIN, "serial": "A B"}, "gs1.charset", "objects[0].serial"),
        ({"gtin": GTIN, "serial": "S" * 21}, "gs1.length", "objects[0].serial"),
        ({"gtin": GTIN, "lot": ""}, "gs1.length", "objects[0].lot"),
    ],
)
def test_a_bad_gtin_ref_is_refused_every_time(ref: dict[str, Any], code: str, field: str) -> None:
    """A bad GTIN is never cached as valid: the second request naming it is refused too."""
    op = ops.Transfer.model_validate({"objects": [ref], "receiver": 2})
    for _ in range(2):
        with pytest.raises(GS1Error) as caught:
            ops.resolve(op)
        assert (caught.value.code, caught.value.field) == (code, field)
