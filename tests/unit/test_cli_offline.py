"""Offline parts of the CLI: operation validation, ABI encoding and EIP-712 signing, deadlines."""

from __future__ import annotations

from typing import Any

import pytest
from web3 import Web3

from chain_client.artifacts import load_artifact
from chain_client.eip712 import recover_signer
from chain_client.signers import LocalSigner
from gateway.cli._endpoints import ENDPOINTS, check_operation_name
from gateway.cli._errors import InputError
from gateway.cli._offline import (
    encode_call,
    operation_data,
    parse_deadline,
    parse_operation,
    parse_operations,
    sign_operation,
    signed_call_json,
)
from gateway.partner.operations import OPERATIONS, resolve

RELAY = "0xa16E02E87b7454126E5E10d957A927A7F5B5d2be"
GTIN = "09506000134352"
ITEM = {"gtin": GTIN, "serial": "S1"}
LOT = {"gtin": GTIN, "lot": "L7", "quantity": 40, "unit_of_measure": "KGM"}

BODIES: dict[str, dict[str, Any]] = {
    "register_items": {"items": [{**ITEM, "lot": "L1", "expiry_date": "2027-01-31", "origin_gln": "0614141000005"}]},
    "register_lot": {"lot": LOT},
    "register_logistic_units": {"ssccs": ["106141412345678908"]},
    "ship": {"objects": [ITEM, {"sscc": "106141412345678908"}], "receiver": 3, "ship_to_gln": "0614141000029"},
    "receive": {"objects": [{"epc": "urn:epc:id:sgtin:9506000.013435.S1"}], "gln": "0614141000029"},
    "reject": {"objects": [ITEM], "reason": "damaged"},
    "cancel_shipment": {"objects": [ITEM]},
    "transfer": {"objects": [ITEM], "receiver": 2},
    "transfer_ownership": {"objects": [ITEM], "new_owner": 2},
    "pack": {"parent": {"sscc": "106141412345678908"}, "children": [ITEM]},
    "unpack": {"parent": {"sscc": "106141412345678908"}, "children": [ITEM]},
    "split_lot": {"lot": {"gtin": GTIN, "lot": "L7"}, "outputs": [{**LOT, "lot": "L7A", "quantity": 10}]},
    "merge_lots": {"lots": [{"gtin": GTIN, "lot": "L7"}], "output": {**LOT, "lot": "L8"}},
    "transform": {"inputs": [{"object": {"gtin": GTIN, "lot": "L7"}, "quantity": 5}], "item_outputs": [ITEM]},
    "set_status": {"objects": [ITEM], "status": "quarantined", "reason": "temperature"},
    "recall": {"object": {"gtin": GTIN, "lot": "L7"}, "reason": "contamination"},
}


def test_endpoint_table_matches_the_gateway_routes_and_schemas() -> None:
    from gateway.api.routes.partner import _ENDPOINTS

    routes = {model.model_fields["operation"].default: f"/v1{path}" for path, model, _ in _ENDPOINTS}
    assert routes == ENDPOINTS
    assert list(OPERATIONS) == list(ENDPOINTS)


@pytest.mark.parametrize("operation", sorted(BODIES))
def test_offline_calldata_equals_web3_encoding(operation: str) -> None:
    op = parse_operation(operation, BODIES[operation])
    call = resolve(op)
    contract = Web3().eth.contract(abi=load_artifact("CustodyLedger").abi)  # what the gateway's ledger.encode does
    expected = contract.get_function_by_name(call.function)(*call.args)._encode_transaction_data()
    assert "0x" + operation_data(op).hex() == expected


def test_every_operation_has_a_test_body() -> None:
    assert set(BODIES) | {"anchor_document"} == set(OPERATIONS)  # anchoring needs a stored CID: see below


def test_anchor_document_encodes_offline() -> None:
    from gateway.documents.cid import Cid

    cid = str(Cid.parse("bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"))
    op = parse_operation("anchor_document", {"shipment_id": 7, "document_type": "invoice", "cid": cid})
    assert operation_data(op)[:4] == encode_call("anchorDocument", [b"\0" * 32, 0, b""])[:4]


def test_signed_call_round_trips_through_recover_signer() -> None:
    signer = LocalSigner.generate()
    op = parse_operation("register_items", BODIES["register_items"])
    call = sign_operation(signer, op, chain_id=31337, relay=RELAY, nonce=4, deadline=1_900_000_000)
    assert recover_signer(call, chain_id=31337, relay=RELAY) == signer.address
    assert recover_signer(call, chain_id=1, relay=RELAY) != signer.address  # bound to the chain
    body = signed_call_json(call)
    assert body == {
        "signer": signer.address,
        "data": "0x" + operation_data(op).hex(),
        "nonce": 4,
        "deadline": 1_900_000_000,
        "signature": "0x" + call.signature.hex(),
    }
    assert len(body["signature"]) == 132


def test_signing_refuses_a_bad_relay_address() -> None:
    op = parse_operation("cancel_shipment", BODIES["cancel_shipment"])
    with pytest.raises(InputError, match=r"cli.invalid_relay"):
        sign_operation(LocalSigner.generate(), op, chain_id=1, relay="0x1234", nonce=0, deadline=1)


def test_a_bad_gtin_names_its_code_and_field() -> None:
    with pytest.raises(InputError) as info:
        parse_operation("register_items", {"items": [ITEM, {"gtin": "09506000134353", "serial": "S2"}]})
    assert info.value.lines() == [
        "error [gs1.check_digit] Invalid GS1 data: invalid GTIN check digit in 09506000134353: expected 2, got 3 "
        "(field items[1].gtin)"
    ]


def test_schema_errors_list_each_field() -> None:
    with pytest.raises(InputError) as info:
        parse_operation("ship", {"objects": [], "receiver": 0, "colour": "red"})
    lines = info.value.lines()
    assert lines[0] == "error [request.invalid] Invalid request: The request does not match the schema."
    assert {line.rsplit("(field ", 1)[1] for line in lines[1:]} == {"objects)", "receiver)", "colour)"}


def test_a_body_naming_another_operation_is_refused() -> None:
    with pytest.raises(InputError, match=r"holds a 'ship' operation, not 'receive'"):
        parse_operation("receive", {"operation": "ship", **BODIES["ship"]})


def test_unknown_operation_suggests_the_closest() -> None:
    with pytest.raises(InputError) as info:
        check_operation_name("regster_items")
    assert info.value.lines()[0] == "error [cli.unknown_operation] No operation named 'regster_items'. " \
        "Did you mean 'register_items'?"  # fmt: skip


def test_batch_errors_point_into_the_list() -> None:
    good = {"operation": "register_items", **BODIES["register_items"]}
    bad = {"operation": "register_lot", "lot": {**LOT, "lot": "BAD LOT ^"}}
    with pytest.raises(InputError) as info:
        parse_operations([good, good, bad])
    assert info.value.lines()[0].startswith("error [gs1.")
    assert info.value.lines()[0].endswith("(field operations[2].lot.lot)")
    with pytest.raises(InputError) as schema:
        parse_operations({"operations": [good, {"operation": "teleport"}]})
    assert "(field operations.1)" in "\n".join(schema.value.lines())
    with pytest.raises(InputError, match="non-empty JSON list"):
        parse_operations([])
    assert len(parse_operations({"operations": [good, good]})) == 2


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1900000000", 1_900_000_000),
        ("90s", 1_000_090),
        ("30m", 1_001_800),
        ("+1h", 1_003_600),
        ("7d", 1_604_800),
        ("2030-01-01T00:00:00Z", 1_893_456_000),
        ("2030-01-01T01:00:00+01:00", 1_893_456_000),
    ],
)
def test_deadlines(text: str, expected: int) -> None:
    assert parse_deadline(text, now=1_000_000.5) == expected


@pytest.mark.parametrize("text", ["tomorrow", "2030-01-01T00:00:00", "-5m", "1w"])
def test_unreadable_deadlines(text: str) -> None:
    with pytest.raises(InputError, match=r"cli\.invalid_deadline"):
        parse_deadline(text, now=0)
