"""Building, signing and sending transactions; nonces; receipts.

:class:`NonceManager` hands out nonces per account under a lock and keeps the lock while the
signed transaction is handed to the node, so that concurrent senders of one account reach the
node in nonce order (Anvil leaves out-of-order nonces pending). A failed hand-off resynchronises
the account's nonce from the node.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from eth_utils.address import to_checksum_address
from web3 import Web3
from web3.exceptions import ContractLogicError, TimeExhausted, TransactionNotFound, Web3RPCError

from chain_client.errors import (
    ContractRevert,
    NodeNotReachable,
    TransactionFailed,
    TransactionRejected,
    TransactionTimeout,
)
from chain_client.reverts import RevertDecoder
from chain_client.signers import Signer

__all__ = ["NonceManager", "Receipt", "TxSender", "connect"]


class NonceManager:
    """Thread-safe next-nonce bookkeeping for the accounts this process sends from."""

    def __init__(self, w3: Web3) -> None:
        self._w3 = w3
        self._next: dict[str, int] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def lock(self, address: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(address, threading.Lock())

    def take(self, address: str) -> int:
        """The next nonce of ``address``; call with :meth:`lock` held."""
        if address not in self._next:
            self._next[address] = self._w3.eth.get_transaction_count(to_checksum_address(address), "pending")
        nonce = self._next[address]
        self._next[address] = nonce + 1
        return nonce

    def resync(self, address: str) -> None:
        """Forgets the local count so the next :meth:`take` asks the node; call with the lock held."""
        self._next.pop(address, None)


@dataclass(frozen=True)
class Receipt:
    """The parts of a transaction receipt the client uses, plus the raw receipt."""

    tx_hash: str
    block_number: int
    block_hash: str
    gas_used: int
    status: int
    logs: Sequence[Any]
    raw: Any


class TxSender:
    """Sends transactions for one signer: estimate gas (decoding reverts), sign, send, wait."""

    def __init__(
        self,
        w3: Web3,
        signer: Signer,
        decoder: RevertDecoder,
        nonces: NonceManager | None = None,
        *,
        gas_headroom: float = 1.2,
        priority_fee_wei: int = 1_000_000_000,
        receipt_timeout: float = 60.0,
        poll_interval: float = 0.01,
    ) -> None:
        self.w3 = w3
        self.signer = signer
        self.decoder = decoder
        self.nonces = nonces or NonceManager(w3)
        self.gas_headroom = gas_headroom
        self.priority_fee_wei = priority_fee_wei
        self.receipt_timeout = receipt_timeout
        self.poll_interval = poll_interval
        self._chain_id: int | None = None

    @property
    def address(self) -> str:
        return self.signer.address

    @property
    def chain_id(self) -> int:
        if self._chain_id is None:
            self._chain_id = int(self.w3.eth.chain_id)
        return self._chain_id

    def _revert(self, exc: ContractLogicError) -> ContractRevert | TransactionFailed:
        return self.decoder.decode(exc.data if isinstance(exc.data, str) else None)

    def estimate_gas(self, tx: dict[str, Any]) -> int:
        try:
            estimate = int(self.w3.eth.estimate_gas({**tx, "from": self.address}))  # type: ignore[typeddict-item]
        except ContractLogicError as exc:
            raise self._revert(exc) from None
        except Web3RPCError as exc:  # e.g. "gas required exceeds allowance": too big for a block
            raise TransactionRejected(f"The node refused to run the transaction: {_rpc_message(exc)}") from None
        return self.with_headroom(estimate)

    def with_headroom(self, estimate: int) -> int:
        """``estimate`` plus the headroom, but never above the block gas limit: the node found the
        estimate within that limit, and a transaction asking for more is refused outright."""
        limit = int(self.w3.eth.get_block("latest")["gasLimit"])
        return min(int(estimate * self.gas_headroom), limit)

    def send(self, tx: dict[str, Any], *, gas: int | None = None) -> str:
        """Signs and sends ``tx`` (to/data/value); returns the transaction hash at once."""
        tx = {k: v for k, v in tx.items() if k not in ("from", "nonce", "gas", "gasPrice")}
        block = self.w3.eth.get_block("latest")
        if gas is None:
            # headroom, but never above what a block can hold
            gas = min(self.estimate_gas(tx), int(block["gasLimit"]))
        base_fee = int(block.get("baseFeePerGas", 0) or 0)
        tx["gas"] = gas
        tx["chainId"] = self.chain_id
        tx["maxFeePerGas"] = 2 * base_fee + self.priority_fee_wei
        tx["maxPriorityFeePerGas"] = self.priority_fee_wei
        lock = self.nonces.lock(self.address)
        with lock:
            for attempt in range(3):
                tx["nonce"] = self.nonces.take(self.address)
                raw = self.signer.sign_transaction(tx)
                try:
                    tx_hash = self.w3.eth.send_raw_transaction(raw)
                    break
                except ContractLogicError as exc:
                    self.nonces.resync(self.address)
                    raise self._revert(exc) from None
                except Web3RPCError as exc:
                    self.nonces.resync(self.address)
                    # another sender of this account (another process, another client) moved its
                    # nonce on: take the node's count and try again
                    if "nonce too low" in _rpc_message(exc).lower() and attempt < 2:
                        continue
                    raise TransactionRejected(f"The node refused the transaction: {_rpc_message(exc)}") from None
                except Exception:
                    self.nonces.resync(self.address)
                    raise
        return "0x" + bytes(tx_hash).hex()

    def wait(self, tx_hash: str, timeout: float | None = None) -> Receipt:
        """Waits for the receipt; a reverted transaction raises its decoded custom error."""
        timeout = self.receipt_timeout if timeout is None else timeout
        try:
            raw = self.w3.eth.wait_for_transaction_receipt(tx_hash, timeout=timeout, poll_latency=self.poll_interval)  # type: ignore[arg-type]
        except TimeExhausted:
            raise TransactionTimeout(
                f"Transaction {tx_hash} was not mined within {timeout:.0f}s. It may still be mined; "
                "check the node's mining mode and the fee, then wait again."
            ) from None
        receipt = Receipt(
            tx_hash=tx_hash,
            block_number=int(raw["blockNumber"]),
            block_hash="0x" + bytes(raw["blockHash"]).hex(),
            gas_used=int(raw["gasUsed"]),
            status=int(raw["status"]),
            logs=raw["logs"],
            raw=raw,
        )
        if receipt.status != 1:
            raise self._replay_failure(tx_hash, receipt.block_number)
        return receipt

    def _replay_failure(self, tx_hash: str, block_number: int) -> ContractRevert | TransactionFailed:
        """Re-runs a failed transaction as a call at its block to recover the revert data."""
        try:
            tx = self.w3.eth.get_transaction(tx_hash)  # type: ignore[arg-type]
            self.w3.eth.call(
                {"from": tx["from"], "to": tx["to"], "data": tx["input"], "value": tx["value"], "gas": tx["gas"]},
                block_identifier=block_number - 1,
            )
        except ContractLogicError as exc:
            return self._revert(exc)
        except (TransactionNotFound, ValueError):
            pass
        return TransactionFailed(f"Transaction {tx_hash} reverted in block {block_number} (likely out of gas).")

    def transact(self, tx: dict[str, Any], *, gas: int | None = None, timeout: float | None = None) -> Receipt:
        return self.wait(self.send(tx, gas=gas), timeout=timeout)

    def call(self, tx: dict[str, Any], decode: Callable[[bytes], Any]) -> Any:
        try:
            result = self.w3.eth.call({**tx, "from": self.address})  # type: ignore[typeddict-item]
        except ContractLogicError as exc:
            raise self._revert(exc) from None
        return decode(bytes(result))


def connect(rpc_url: str, *, timeout: float = 30.0) -> Web3:
    """A Web3 connected over HTTP; raises :class:`NodeNotReachable` with the fix if nobody answers."""
    w3 = Web3(Web3.HTTPProvider(rpc_url, request_kwargs={"timeout": timeout}))
    try:
        w3.eth.chain_id  # noqa: B018 - a cheap liveness probe
    except Exception as exc:
        raise NodeNotReachable(
            f"No EVM node answers at {rpc_url} ({type(exc).__name__}). Start one (./scripts/start) "
            "or set CUSTODY_RPC_URL to a reachable node."
        ) from exc
    return w3


def _rpc_message(exc: Web3RPCError) -> str:
    response = exc.rpc_response
    error = response.get("error") if isinstance(response, dict) else None
    message = error.get("message") if isinstance(error, dict) else None
    return str(message or exc)
