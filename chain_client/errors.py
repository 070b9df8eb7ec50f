"""Exceptions of the chain client.

One root, combined with the matching built-in where one fits, so callers can catch broadly or
precisely. Every exception has a stable ``code`` (the gateway maps it to problem+json) and a
message that names the fix::

    CustodyClientError
    ├── ToolchainError
    │   └── CompilerMissing
    ├── NodeError
    │   ├── NodeNotReachable
    │   ├── PortInUse
    │   ├── ChainIdMismatch
    │   └── NodeStartFailed
    ├── DeploymentError
    │   ├── UnknownContract (LookupError)
    │   ├── CorruptDeployment (ValueError)
    │   └── NotDeployed (LookupError)
    └── TransactionError
        ├── TransactionTimeout (TimeoutError)
        ├── TransactionFailed
        ├── TransactionRejected
        └── ContractRevert
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = [
    "ChainIdMismatch",
    "CompilerMissing",
    "ContractRevert",
    "CorruptDeployment",
    "CustodyClientError",
    "DeploymentError",
    "NodeError",
    "NodeNotReachable",
    "NodeStartFailed",
    "NotDeployed",
    "PortInUse",
    "ToolchainError",
    "TransactionError",
    "TransactionFailed",
    "TransactionRejected",
    "TransactionTimeout",
    "UnknownContract",
    "did_you_mean",
]


def did_you_mean(name: str, candidates: Iterable[str]) -> str:
    """A " Did you mean X?" hint when a close candidate exists, else ""."""
    close = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.6)
    return f" Did you mean {close[0]!r}?" if close else ""


class CustodyClientError(Exception):
    """Root of every error raised by chain_client."""

    code = "client.error"


class ToolchainError(CustodyClientError):
    code = "toolchain.error"


class CompilerMissing(ToolchainError, FileNotFoundError):
    code = "toolchain.compiler_missing"


class NodeError(CustodyClientError, ConnectionError):
    code = "node.error"


class NodeNotReachable(NodeError):
    code = "node.unreachable"


class PortInUse(NodeError):
    code = "node.port_in_use"


class ChainIdMismatch(NodeError):
    code = "node.chain_id_mismatch"


class NodeStartFailed(NodeError):
    code = "node.start_failed"


class DeploymentError(CustodyClientError):
    code = "deployment.error"


class UnknownContract(DeploymentError, LookupError):
    code = "deployment.unknown_contract"


class CorruptDeployment(DeploymentError, ValueError):
    code = "deployment.corrupt"


class NotDeployed(DeploymentError, LookupError):
    code = "deployment.not_deployed"


class TransactionError(CustodyClientError):
    code = "tx.error"


class TransactionTimeout(TransactionError, TimeoutError):
    code = "tx.timeout"


class TransactionFailed(TransactionError):
    """A transaction was mined but reverted without decodable reason (e.g. out of gas)."""

    code = "tx.failed"


class TransactionRejected(TransactionError):
    """The node refused the transaction before running it (too big for a block, fees, nonce…)."""

    code = "tx.rejected"


class ContractRevert(TransactionError):
    """A call or transaction reverted with a Solidity custom error.

    ``name`` is the error's name (``CustodyNotCustodian``), ``arguments`` its decoded arguments
    by parameter name, and ``code`` a stable snake-case code derived from the name
    (``custody.not_custodian``; errors of other components such as OpenZeppelin's
    ``AccessControlUnauthorizedAccount`` become ``access_control.unauthorized_account``).
    """

    def __init__(self, name: str, arguments: Mapping[str, Any], selector: str, message: str | None = None):
        self.name = name
        self.arguments = dict(arguments)
        self.selector = selector
        self.code = revert_code(name)
        rendered = ", ".join(f"{k}={_render(v)}" for k, v in self.arguments.items())
        super().__init__(message or f"{name}({rendered})")


_COMPONENTS = ("Custody", "AccessControl", "ERC721", "ERC1155", "ECDSA", "EIP712", "Pausable", "Nonces")
# OpenZeppelin errors that carry no component prefix in their name.
_UNPREFIXED = {
    "InvalidAccountNonce": "signature.invalid_nonce",
    "EnforcedPause": "pausable.enforced_pause",
    "ExpectedPause": "pausable.expected_pause",
}


def revert_code(name: str) -> str:
    """Stable error code of a Solidity custom error name: component prefix + snake case."""
    if name in _UNPREFIXED:
        return _UNPREFIXED[name]
    for component in _COMPONENTS:
        if name.startswith(component) and len(name) > len(component):
            return f"{_snake(component)}.{_snake(name[len(component) :])}"
    return f"contract.{_snake(name)}"


def _snake(camel: str) -> str:
    out: list[str] = []
    for i, ch in enumerate(camel):
        if ch.isupper() and i and (not camel[i - 1].isupper() or (i + 1 < len(camel) and camel[i + 1].islower())):
            out.append("_")
        out.append(ch.lower())
    return "".join(out)


def _render(value: Any) -> str:
    if isinstance(value, bytes):
        return "0x" + value.hex()
    return repr(value)
