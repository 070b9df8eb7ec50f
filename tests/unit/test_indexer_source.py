"""RpcSource over a mock transport: requests, batches, errors; AdaptiveRange; EPC splitting."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from gateway.indexer.epc import EpcParts, split_epc
from gateway.indexer.errors import NodeUnavailable, RpcError
from gateway.indexer.ranges import AdaptiveRange
from gateway.indexer.source import BlockHeader, RpcSource

Handler = Callable[[dict[str, Any]], dict[str, Any]]


def node(answer: Handler, seen: list[Any] | None = None, *, reverse: bool = False) -> RpcSource:
    """An RpcSource whose node answers each call with ``answer`` (batches in reverse order if asked)."""

    def handle(request: httpx.Request) -> httpx.Response:
        payload = json.loads(request.content)
        if seen is not None:
            seen.append(payload)
        if isinstance(payload, list):
            replies = [{"jsonrpc": "2.0", "id": p["id"], **answer(p)} for p in payload]
            return httpx.Response(200, json=replies[::-1] if reverse else replies)
        return httpx.Response(200, json={"jsonrpc": "2.0", "id": payload["id"], **answer(payload)})

    return RpcSource("http://node.test", transport=httpx.MockTransport(handle), max_batch=2)


def block(number: int) -> dict[str, Any]:
    return {
        "number": hex(number),
        "hash": f"0x{number:064x}",
        "parentHash": f"0x{number - 1:064x}",
        "timestamp": hex(1000 + number),
    }


def test_headers_are_fetched_in_batches_and_matched_by_id() -> None:
    seen: list[Any] = []
    source = node(
        lambda p: {"result": block(int(p["params"][0], 16)) if p["params"][0] != "0x9" else None}, seen, reverse=True
    )
    headers = source.headers([1, 2, 3, 9])
    assert headers == {n: BlockHeader(n, f"0x{n:064x}", f"0x{n - 1:064x}", 1000 + n) for n in (1, 2, 3)}
    assert [len(batch) for batch in seen] == [2, 2]  # max_batch per HTTP request
    assert seen[0][0]["params"] == ["0x1", False]


def test_logs_head_chain_id_and_call_are_plain_requests() -> None:
    seen: list[Any] = []
    results = {
        "eth_getLogs": [{"logIndex": "0x0"}],
        "eth_blockNumber": "0x10",
        "eth_chainId": "0x7a69",
        "eth_call": "0x" + "00" * 31 + "01",
    }
    source = node(lambda p: {"result": results[p["method"]]}, seen)
    assert source.logs(["0xaa", "0xbb"], 5, 16) == [{"logIndex": "0x0"}]
    assert seen[0]["params"] == [{"address": ["0xaa", "0xbb"], "fromBlock": "0x5", "toBlock": "0x10"}]
    assert (source.head(), source.chain_id()) == (16, 31337)
    assert source.call("0xaa", "0x1234").endswith("01")


def test_node_errors_carry_code_and_message() -> None:
    source = node(lambda p: {"error": {"code": -32005, "message": "query returned more than 10000 results"}})
    with pytest.raises(RpcError) as info:
        source.logs(["0xaa"], 0, 100)
    assert (info.value.method, info.value.code) == ("eth_getLogs", -32005)
    with pytest.raises(RpcError, match="more than 10000"):
        source.headers([1])


def test_http_errors_and_refused_batches_are_rpc_errors() -> None:
    source = RpcSource("http://node.test", transport=httpx.MockTransport(lambda r: httpx.Response(429, text="slow")))
    with pytest.raises(RpcError, match="HTTP 429"):
        source.head()
    refuse = httpx.MockTransport(
        lambda r: httpx.Response(200, json={"jsonrpc": "2.0", "id": None, "error": {"code": -1, "message": "no"}})
    )
    with pytest.raises(RpcError, match="batch request refused"):
        RpcSource("http://node.test", transport=refuse).headers([1, 2])


def test_a_node_that_does_not_answer_is_unavailable() -> None:
    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    with pytest.raises(NodeUnavailable) as info:
        RpcSource("http://node.test", transport=httpx.MockTransport(down)).head()
    assert isinstance(info.value, ConnectionError) and info.value.code == 0


# ------------------------------------------------------------------------------------------ ranges


def test_ranges_aim_at_the_target_number_of_logs() -> None:
    ranges = AdaptiveRange(size=1000, target_logs=5000)
    ranges.observed(blocks=1000, logs=50_000)  # ten times too dense
    assert ranges.size == 100
    ranges.observed(blocks=100, logs=100)  # sparse: grows, but at most twofold per step
    assert ranges.size == 200
    ranges.observed(blocks=3, logs=0)  # a short range at the head does not shrink it
    assert ranges.size == 400
    assert ranges.end(10, limit=1000) == 409 and ranges.end(10, limit=50) == 50


def test_refused_ranges_halve_down_to_the_minimum() -> None:
    ranges = AdaptiveRange(size=8, minimum=2, maximum=10)
    assert ranges.refused(8) and ranges.size == 4
    assert ranges.refused(4) and ranges.size == 2
    assert not ranges.refused(2) and ranges.size == 2
    ranges.observed(blocks=2, logs=0)
    ranges.observed(blocks=4, logs=0)
    ranges.observed(blocks=8, logs=0)
    assert ranges.size == 10  # the maximum


def test_range_bounds_are_checked() -> None:
    with pytest.raises(ValueError):
        AdaptiveRange(minimum=0)
    assert AdaptiveRange(size=10**9, maximum=50).size == 50


# ------------------------------------------------------------------------------------------ EPC URNs


@pytest.mark.parametrize(
    ("urn", "parts"),
    [
        ("urn:epc:id:sgtin:0614141.812345.6789", EpcParts(gtin="80614141123458", serial="6789")),
        ("urn:epc:id:sgtin:0614141.812345.a%2Fb", EpcParts(gtin="80614141123458", serial="a/b")),
        ("urn:epc:class:lgtin:4012345.012345.998877", EpcParts(gtin="04012345123456", lot="998877")),
        ("urn:epc:idpat:sgtin:0614141.812345.*", EpcParts(gtin="80614141123458")),
        ("urn:epc:id:sscc:0614141.1234567890", EpcParts(sscc="106141412345678908")),
    ],
)
def test_valid_urns_are_split_into_gs1_keys(urn: str, parts: EpcParts) -> None:
    assert split_epc(urn) == parts


@pytest.mark.parametrize(
    "urn",
    [
        "",
        "not a urn",
        "urn:epc:id:sgtin:0614141.812345",  # no serial
        "urn:epc:id:sgtin:061414x.812345.1",  # not digits
        "urn:epc:id:sgtin:0614141.812345." + "x" * 21,  # serial too long
        "urn:epc:id:sgtin:0614141.812345.a/b",  # unescaped
        "URN:EPC:ID:SGTIN:0614141.812345.1",  # not lowercase
        "urn:epc:id:sgln:0614141.00001.0",  # a place, not an object
        "urn:epc:id:sgtin:\ufffd\ufffd",
    ],
)
def test_invalid_urns_give_nulls(urn: str) -> None:
    assert split_epc(urn) == EpcParts()
