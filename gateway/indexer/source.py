"""Where the indexer reads the chain: a small protocol, and its JSON-RPC implementation.

The indexer needs six reads (chain id, head, finalized block, block headers, logs, one call), so it depends on
:class:`ChainSource` only; tests drive it with an in-memory chain, production with
:class:`RpcSource`. ``RpcSource`` speaks JSON-RPC over one keep-alive ``httpx`` connection and
returns the node's JSON as is (hex strings): skipping web3's result formatting matters when a
range brings back tens of thousands of logs, and headers are fetched in batched requests.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import httpx

from gateway.indexer.decode import RawLog
from gateway.indexer.errors import NodeUnavailable, RpcError

__all__ = ["BlockHeader", "ChainSource", "RpcSource"]


@dataclass(frozen=True, slots=True)
class BlockHeader:
    number: int
    hash: str
    parent_hash: str
    timestamp: int


class ChainSource(Protocol):
    """The reads the indexer makes of a chain."""

    def chain_id(self) -> int: ...

    def head(self) -> int:
        """The latest block number."""
        ...

    def finalized(self) -> int | None:
        """The latest finalized block (the ``finalized`` tag), None when the chain names none."""
        ...

    def headers(self, numbers: Sequence[int]) -> dict[int, BlockHeader]:
        """Headers of these blocks; a block the chain does not have (yet, or any more) is left out."""
        ...

    def logs(self, addresses: Sequence[str], from_block: int, to_block: int) -> Sequence[RawLog]:
        """Logs of these contracts in ``[from_block, to_block]``, in chain order (``eth_getLogs``)."""
        ...

    def call(self, to: str, data: str) -> str:
        """``eth_call`` at the latest block; returns the 0x-hex result."""
        ...


def _header(raw: dict[str, Any]) -> BlockHeader:
    return BlockHeader(
        int(raw["number"], 16), raw["hash"].lower(), raw["parentHash"].lower(), int(raw["timestamp"], 16)
    )


class RpcSource:
    """A :class:`ChainSource` over HTTP JSON-RPC."""

    def __init__(
        self, url: str, *, timeout: float = 60.0, max_batch: int = 200, transport: httpx.BaseTransport | None = None
    ) -> None:
        self.url = url
        self.max_batch = max_batch
        self._client = httpx.Client(timeout=timeout, headers={"Content-Type": "application/json"}, transport=transport)
        self._ids = itertools.count(1)

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> RpcSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- transport ------------------------------------------------------------------------------

    def _post(self, method: str, payload: Any) -> Any:
        try:
            response = self._client.post(self.url, json=payload)
        except httpx.HTTPError as exc:
            raise NodeUnavailable(method, f"no answer from {self.url}: {exc!r}") from exc
        if response.status_code != 200:
            raise RpcError(method, response.status_code, f"HTTP {response.status_code}: {response.text[:200]}")
        return response.json()

    @staticmethod
    def _result(method: str, reply: dict[str, Any]) -> Any:
        error = reply.get("error")
        if error is not None:
            raise RpcError(method, int(error.get("code", 0)), str(error.get("message", error)))
        return reply.get("result")

    def request(self, method: str, params: list[Any]) -> Any:
        reply = self._post(method, {"jsonrpc": "2.0", "id": next(self._ids), "method": method, "params": params})
        return self._result(method, reply)

    def batch(self, method: str, params: Sequence[list[Any]]) -> list[Any]:
        """Many calls of one method, sent ``max_batch`` per HTTP request; results in order."""
        results: list[Any] = []
        for start in range(0, len(params), self.max_batch):
            chunk = params[start : start + self.max_batch]
            ids = [next(self._ids) for _ in chunk]
            payload = [
                {"jsonrpc": "2.0", "id": i, "method": method, "params": p} for i, p in zip(ids, chunk, strict=True)
            ]
            replies = self._post(method, payload)
            if not isinstance(replies, list):  # a node that rejects batches answers with one error
                raise RpcError(method, 0, f"batch request refused: {str(replies)[:200]}")
            by_id = {r.get("id"): r for r in replies}
            results.extend(self._result(method, by_id.get(i, {"error": {"message": "no reply"}})) for i in ids)
        return results

    # -- ChainSource ----------------------------------------------------------------------------

    def chain_id(self) -> int:
        return int(self.request("eth_chainId", []), 16)

    def head(self) -> int:
        return int(self.request("eth_blockNumber", []), 16)

    def finalized(self) -> int | None:
        try:
            raw = self.request("eth_getBlockByNumber", ["finalized", False])
        except RpcError:  # a node that predates the tag, or a chain without finality
            return None
        return int(raw["number"], 16) if raw else None

    def headers(self, numbers: Sequence[int]) -> dict[int, BlockHeader]:
        raws = self.batch("eth_getBlockByNumber", [[hex(n), False] for n in numbers])
        return {h.number: h for h in (_header(r) for r in raws if r is not None)}

    def logs(self, addresses: Sequence[str], from_block: int, to_block: int) -> list[RawLog]:
        params = {"address": list(addresses), "fromBlock": hex(from_block), "toBlock": hex(to_block)}
        result: list[RawLog] = self.request("eth_getLogs", [params])
        return result

    def call(self, to: str, data: str) -> str:
        return str(self.request("eth_call", [{"to": to, "data": data}, "latest"]))
