"""The Kubo backend without a network: real Kubo's answers (recorded shapes) through a mock transport,
error mapping by message and by our ``X-Custody-Code``, and the backend chosen by configuration."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from gateway.core.config import Settings
from gateway.documents import BlockNotFound, InvalidCID, NotAFile, NotPinned, TooLarge
from gateway.documents.compat import CODE_HEADER, error_body, error_from_response, ndjson, version_body
from gateway.documents.errors import IntegrityError, RemoteError, Retained
from gateway.documents.factory import open_store
from gateway.documents.kubo import KuboDocumentStore
from gateway.documents.store import EmbeddedDocumentStore

HELLO_V0 = "QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o"
HELLO_BLOCK = b"\x0a\x12\x08\x02\x12\x0chello world\n\x18\x0c"


def kubo(handler: Callable[[httpx.Request], httpx.Response]) -> KuboDocumentStore:
    return KuboDocumentStore("http://kubo.invalid:5001", transport=httpx.MockTransport(handler), token="t0ken")


def kubo_failure(message: str, status: int = 500) -> Callable[[httpx.Request], httpx.Response]:
    return lambda request: httpx.Response(status, json=error_body(message))


@pytest.mark.parametrize(
    ("message", "error"),
    [
        ("block was not found locally (offline): ipld: could not find QmXyz", BlockNotFound),
        ("merkledag: not found", BlockNotFound),
        ('invalid path "nope": invalid cid: selected encoding not supported', InvalidCID),
        ("not pinned or pinned indirectly", NotPinned),
        ("this dag node is a directory", NotAFile),
        ("something unexpected", RemoteError),
    ],
)
def test_real_kubo_messages_map_to_typed_errors(message: str, error: type[Exception]) -> None:
    store = kubo(kubo_failure(message))
    with pytest.raises(error):
        store.pin(HELLO_V0)


def test_our_code_header_wins_over_the_message() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(500, json=error_body("kept: anchored"), headers={CODE_HEADER: "ipfs.retained"})

    with pytest.raises(Retained):
        kubo(handler).unpin(HELLO_V0)
    assert isinstance(error_from_response(413, {CODE_HEADER: "ipfs.too_large"}, b"{}"), TooLarge)
    assert isinstance(error_from_response(413, {}, b"request entity too large"), TooLarge)
    assert isinstance(error_from_response(502, {}, b"<html>bad gateway</html>"), RemoteError)


def test_requests_are_kubo_rpc_calls_with_the_token() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.path == "/api/v0/add":
            body = request.read()
            assert b'name="file"' in body and b"hello world\n" in body
            return httpx.Response(200, content=ndjson({"Name": "blob", "Hash": HELLO_V0, "Size": "20"}))
        if request.url.path == "/api/v0/pin/ls":  # Kubo's classic answer
            return httpx.Response(200, json={"Keys": {HELLO_V0: {"Type": "recursive"}}})
        if request.url.path == "/api/v0/block/get":
            return httpx.Response(200, content=HELLO_BLOCK)
        return httpx.Response(200, json={"Pins": [HELLO_V0]})

    store = kubo(handler)
    result = store.add(io.BytesIO(b"hello world\n"), cid_version=0)
    assert (str(result.cid), result.size, result.dag_size) == (HELLO_V0, 12, 20)
    assert [str(c) for c in store.pins()] == [HELLO_V0]
    assert store.get_block(HELLO_V0) == HELLO_BLOCK
    store.pin(HELLO_V0)
    assert all(r.method == "POST" and r.headers["authorization"] == "Bearer t0ken" for r in seen)
    assert seen[0].url.params["cid-version"] == "0" and seen[0].url.params["pin"] == "true"
    assert seen[-1].url.path == "/api/v0/pin/add" and seen[-1].url.params["arg"] == HELLO_V0


def test_streamed_pin_ls_lines_are_understood() -> None:
    lines = ndjson({"Cid": HELLO_V0, "Type": "recursive"})
    assert [str(c) for c in kubo(lambda r: httpx.Response(200, content=lines)).pins()] == [HELLO_V0]


def test_a_lying_node_is_caught() -> None:
    store = kubo(lambda request: httpx.Response(200, content=HELLO_BLOCK + b"!"))
    with pytest.raises(IntegrityError):
        store.get_block(HELLO_V0)


def test_gc_and_import_answers() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/v0/repo/gc":
            return httpx.Response(200, content=ndjson({"Key": {"/": "bafkreia"}}, {"Key": {"/": "bafkreib"}}))
        root = {"Root": {"Cid": {"/": HELLO_V0}, "PinErrorMsg": ""}}
        return httpx.Response(200, content=ndjson(root, {"Stats": {"BlockCount": 1, "BlockBytesCount": 20}}))

    store = kubo(handler)
    assert store.gc().removed_blocks == 2
    imported = store.import_car(io.BytesIO(b"car bytes"))
    assert [str(r) for r in imported.roots] == [HELLO_V0] and imported.blocks == 1
    failing = kubo(lambda r: httpx.Response(200, content=ndjson({"Error": "repo locked"})))
    with pytest.raises(RemoteError):
        failing.gc()


def test_version_body_is_what_ipfshttpclient_accepts() -> None:
    version = version_body()["Version"]
    assert tuple(int(x) for x in version.split("-")[0].split(".")) < (0, 8, 0)
    assert json.loads(json.dumps(version_body("0.29.0")))["Version"] == "0.29.0"


def test_backend_is_chosen_by_configuration_alone(tmp_path: Path) -> None:
    embedded = open_store(Settings(data_dir=tmp_path))
    assert isinstance(embedded, EmbeddedDocumentStore)
    assert embedded.root == tmp_path / "documents" / "store" and embedded.blocks.layout == "pack"
    flat = open_store(Settings(data_dir=tmp_path / "f", ipfs_blockstore="flatfs"))
    assert isinstance(flat, EmbeddedDocumentStore) and flat.blocks.layout == "flatfs"
    remote = open_store(Settings(data_dir=tmp_path, ipfs_api_url="http://127.0.0.1:5001",
                           ipfs_api_token=SecretStr("k")))  # fmt: skip
    assert isinstance(remote, KuboDocumentStore) and remote.api_url == "http://127.0.0.1:5001"
    assert isinstance(open_store(Settings(data_dir=tmp_path, ipfs_api_url="")), EmbeddedDocumentStore)
