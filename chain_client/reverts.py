"""Decodes revert data into :class:`~chain_client.errors.ContractRevert` with named arguments."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from eth_abi.abi import decode as abi_decode
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak

from chain_client.errors import ContractRevert, TransactionFailed

__all__ = ["RevertDecoder"]

_ERROR_STRING = "0x08c379a0"  # Error(string)
_PANIC = "0x4e487b71"  # Panic(uint256)


def _canonical_type(param: dict[str, Any]) -> str:
    t: str = param["type"]
    if t.startswith("tuple"):
        inner = ",".join(_canonical_type(c) for c in param["components"])
        return f"({inner}){t[len('tuple') :]}"
    return t


def _normalise(value: Any, abi_type: str) -> Any:
    if abi_type == "address":
        return to_checksum_address(value)
    if abi_type.startswith("bytes") and isinstance(value, bytes):
        return "0x" + value.hex()
    return value


class RevertDecoder:
    """Maps 4-byte selectors of the custom errors in some ABIs to their names and parameters."""

    def __init__(self, abis: Iterable[list[dict[str, Any]]]) -> None:
        self._errors: dict[str, tuple[str, list[dict[str, Any]]]] = {}
        for abi in abis:
            for item in abi:
                if item.get("type") != "error":
                    continue
                types = ",".join(_canonical_type(p) for p in item["inputs"])
                selector = "0x" + keccak(text=f"{item['name']}({types})")[:4].hex()
                self._errors[selector] = (item["name"], item["inputs"])

    def error_names(self) -> list[str]:
        return sorted(name for name, _ in self._errors.values())

    def decode(self, data: str | bytes | None) -> ContractRevert | TransactionFailed:
        """The typed exception for revert ``data`` (hex string or bytes)."""
        if isinstance(data, bytes):
            data = "0x" + data.hex()
        if not data or data == "0x":
            return TransactionFailed("The transaction reverted without a reason (out of gas, or a bare revert).")
        data = data.lower()
        selector, payload = data[:10], bytes.fromhex(data[10:])
        if selector == _ERROR_STRING:
            (reason,) = abi_decode(["string"], payload)
            return ContractRevert("Error", {"reason": reason}, selector, f"reverted: {reason}")
        if selector == _PANIC:
            (code,) = abi_decode(["uint256"], payload)
            return ContractRevert("Panic", {"code": code}, selector, f"panic 0x{code:02x}")
        known = self._errors.get(selector)
        if known is None:
            return TransactionFailed(f"The transaction reverted with unknown error data {data[:74]}.")
        name, inputs = known
        types = [_canonical_type(p) for p in inputs]
        values = abi_decode(types, payload)
        arguments = {
            p["name"] or f"arg{i}": _normalise(v, t)
            for i, (p, v, t) in enumerate(zip(inputs, values, types, strict=True))
        }
        return ContractRevert(name, arguments, selector)
