"""What the CLI does without a gateway or a node: validate operations, encode and sign ledger calls.

Operations are checked with the gateway's own schemas (:mod:`gateway.partner.operations`) and
resolved to the same ledger call; the calldata is ABI-encoded from the committed CustodyLedger
artifact; the EIP-712 ``PartnerCall`` is signed with :func:`chain_client.eip712.sign_call`.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from collections.abc import Mapping, Sequence
from typing import Any

from eth_abi.abi import encode as abi_encode
from eth_utils.abi import function_abi_to_4byte_selector, get_abi_input_types
from eth_utils.address import is_address, to_checksum_address
from pydantic import BaseModel, TypeAdapter, ValidationError

from chain_client import gs1
from chain_client.artifacts import load_artifact
from chain_client.eip712 import sign_call
from chain_client.ledger import CONTRACT_NAME
from chain_client.models import SignedCall
from chain_client.signers import Signer
from gateway.cli._endpoints import check_operation_name
from gateway.cli._errors import InputError, format_problem
from gateway.partner.operations import OPERATIONS, InvalidInput, Operation, resolve

__all__ = [
    "encode_call",
    "operation_data",
    "parse_deadline",
    "parse_operation",
    "parse_operations",
    "sign_operation",
    "signed_call_json",
]


def _invalid(exc: ValidationError, where: str = "") -> InputError:
    errors = [
        {"field": ".".join([where, *(str(p) for p in e["loc"])]).strip("."), "message": e["msg"]} for e in exc.errors()
    ]
    lines = format_problem(
        {"code": "request.invalid", "title": "Invalid request", "detail": "The request does not match the schema.",
         "errors": errors}
    )  # fmt: skip
    return InputError(lines[0], lines[1:])


def _field_invalid(exc: gs1.GS1Error | InvalidInput, where: str = "") -> InputError:
    """A bad value the gateway would refuse with the same code and field (GS1 keys, CIDs…)."""
    field = f"{where}.{exc.field}" if where else exc.field
    title = "Invalid GS1 data" if isinstance(exc, gs1.GS1Error) else "Invalid request"
    lines = format_problem({"code": exc.code, "title": title, "detail": exc.message, "field": field})
    return InputError(lines[0], lines[1:])


def parse_operation(name: str, body: Any) -> BaseModel:
    """The operation ``name`` validated from a request body (GS1 checks included); raises :class:`InputError`."""
    model = OPERATIONS[check_operation_name(name)]
    if not isinstance(body, Mapping):
        raise InputError("error [request.invalid] Invalid request: the body of an operation is a JSON object")
    if body.get("operation", name) != name:
        raise InputError(
            f"error [cli.operation_mismatch] The file holds a {body['operation']!r} operation, not {name!r}"
        )
    try:
        op = model.model_validate(dict(body))
    except ValidationError as exc:
        raise _invalid(exc) from None
    try:
        resolve(op)
    except (gs1.GS1Error, InvalidInput) as exc:
        raise _field_invalid(exc) from None
    return op


_OPERATIONS_ADAPTER: TypeAdapter[list[Any]] = TypeAdapter(list[Operation])


def parse_operations(items: Any) -> list[BaseModel]:
    """A list of operations (each naming its ``operation``), every one validated; raises :class:`InputError`."""
    if isinstance(items, Mapping) and "operations" in items:
        items = items["operations"]
    if not isinstance(items, list) or not items:
        raise InputError(
            "error [request.invalid] Invalid request: a batch file holds a non-empty JSON list of operations "
            '(or {"operations": [...]}), each with its "operation" name'
        )
    try:
        ops: list[BaseModel] = _OPERATIONS_ADAPTER.validate_python(items)
    except ValidationError as exc:
        raise _invalid(exc, "operations") from None
    for i, op in enumerate(ops):
        try:
            resolve(op)
        except (gs1.GS1Error, InvalidInput) as exc:
            raise _field_invalid(exc, f"operations[{i}]") from None
    return ops


@functools.cache
def _ledger_functions() -> dict[str, Any]:
    functions: dict[str, Any] = {}
    for item in load_artifact(CONTRACT_NAME).abi:
        if item.get("type") == "function":
            if item["name"] in functions:
                raise RuntimeError(f"{CONTRACT_NAME}.{item['name']} is overloaded; encode_call needs unique names")
            functions[item["name"]] = item
    return functions


def encode_call(function: str, args: Sequence[Any]) -> bytes:
    """Calldata of ledger ``function`` with ABI ``args``, from the committed artifact (no node)."""
    abi = _ledger_functions().get(function)
    if abi is None:
        raise KeyError(f"{CONTRACT_NAME} has no function {function!r}")
    return bytes(function_abi_to_4byte_selector(abi)) + abi_encode(get_abi_input_types(abi), list(args))


def operation_data(op: BaseModel) -> bytes:
    """The ledger calldata an operation stands for (what a partner signs)."""
    call = resolve(op)
    return encode_call(call.function, call.args)


def sign_operation(
    signer: Signer, op: BaseModel, *, chain_id: int, relay: str, nonce: int, deadline: int
) -> SignedCall:
    """Signs ``op`` for relaying through ``relay`` on ``chain_id``; works offline."""
    if not is_address(relay):
        raise InputError(f"error [cli.invalid_relay] {relay!r} is not an address (0x and 40 hex digits)")
    return sign_call(
        signer, chain_id=chain_id, relay=to_checksum_address(relay), data=operation_data(op), nonce=nonce,
        deadline=deadline,
    )  # fmt: skip


def signed_call_json(call: SignedCall) -> dict[str, Any]:
    """The body of ``POST /v1/signed-calls``."""
    return {
        "signer": to_checksum_address(call.signer),
        "data": "0x" + call.data.hex(),
        "nonce": call.nonce,
        "deadline": call.deadline,
        "signature": "0x" + call.signature.hex(),
    }


_DURATION = re.compile(r"^\+?(\d+)\s*([smhd])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_deadline(text: str, now: float) -> int:
    """A deadline as Unix seconds: ``1767225600``, a duration from ``now`` (``90s``, ``30m``, ``1h``, ``7d``)
    or an ISO 8601 time with its offset (``2026-01-01T00:00:00Z``)."""
    text = text.strip()
    if text.isdigit():
        return int(text)
    match = _DURATION.match(text)
    if match:
        return int(now) + int(match.group(1)) * _UNITS[match.group(2)]
    try:
        when = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        when = None
    if when is None or when.tzinfo is None:
        raise InputError(
            f"error [cli.invalid_deadline] Cannot read the deadline {text!r}",
            ["  give Unix seconds, a duration such as 30m, 1h or 7d, or an ISO time with offset (…T12:00:00Z)"],
        )
    return int(when.timestamp())
