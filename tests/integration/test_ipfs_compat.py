"""The gateway's IPFS face over real HTTP: the Kubo RPC subset (/api/v0) and the path gateway (/ipfs).

Clients are plain httpx and ipfshttpclient 0.7 (an independent Kubo client). CIDs are checked
against Kubo's published values and against the embedded importer, which the unit vectors tie to
Kubo byte for byte.
"""

from __future__ import annotations

import io
import itertools
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.documents.car import CarReader
from gateway.documents.cid import RAW, Cid
from gateway.documents.compat import CODE_HEADER
from gateway.documents.store import EmbeddedDocumentStore
from gateway.documents.unixfs import import_file
from tests.conftest import Gateway

pytestmark = pytest.mark.integration

HELLO = b"hello world\n"
HELLO_V0 = "QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o"  # `ipfs add`
HELLO_V1 = "bafkreifjjcie6lypi6ny7amxnfftagclbuxndqonfipmb64f2km2devei4"  # `ipfs add --cid-version=1`
PROBLEM = "application/problem+json"
_n = itertools.count(1)


def content(size: int, seed: int | None = None) -> bytes:
    """Distinct, incompressible-enough bytes for each call."""
    seed = next(_n) if seed is None else seed
    block = (f"{seed}:".encode() * 64)[:256]
    return (block * (size // len(block) + 1))[:size]


def expected_cid(data: bytes, cid_version: int = 0, raw_leaves: bool | None = None) -> str:
    class Sink:
        def put(self, cid: Cid, parts: Any) -> None:
            pass

    return str(import_file(data, Sink(), cid_version=cid_version, raw_leaves=raw_leaves).cid)


@dataclass
class Keys:
    partner: str
    auditor: str
    admin: str


def onboard(admin: httpx.Client, name: str, role: str) -> dict[str, Any]:
    """Onboards a partner through the admin API; returns the answer (``api_key.key``, ``partner_id``).

    The session's ``network`` fixture sends as the same admin account with its own nonce
    bookkeeping, so the gateway's first admin transaction after it may be refused with "nonce
    too low"; the gateway then resynchronises, and the (rejected, so never applied) call is retried.
    """
    for _ in range(3):
        response = admin.post("/v1/admin/partners", json={"name": name, "role": role, "custodial": True})
        if not (response.status_code == 500 and "nonce" in response.text):
            break
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


@pytest.fixture(scope="module")
def keys(gateway: Gateway) -> Keys:
    with gateway.client(gateway.admin_key) as admin:
        maker, auditor = onboard(admin, "ipfs-maker", "manufacturer"), onboard(admin, "ipfs-auditor", "auditor")
        return Keys(maker["api_key"]["key"], auditor["api_key"]["key"], gateway.admin_key)


@pytest.fixture
def writer(gateway: Gateway, keys: Keys) -> Iterator[httpx.Client]:
    with gateway.client(keys.partner) as client:
        yield client


@pytest.fixture
def anonymous(gateway: Gateway) -> Iterator[httpx.Client]:
    with gateway.client() as client:
        yield client


def add(client: httpx.Client, data: bytes, filename: str = "file.bin", **params: str | int) -> dict[str, Any]:
    response = client.post("/api/v0/add", params=params, files={"file": (filename, data)})
    assert response.status_code == 200, response.text
    lines: list[dict[str, Any]] = [json.loads(line) for line in response.text.splitlines()]
    assert len(lines) == 1
    return lines[0]


def kubo_error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert body["Type"] == "error" and isinstance(body["Message"], str) and body["Code"] in (0, 1)
    assert response.headers[CODE_HEADER] == code
    return body


# -- version and add -----------------------------------------------------------------------------


def test_version_answers_like_a_daemon_kubo_clients_accept(anonymous: httpx.Client) -> None:
    response = anonymous.post("/api/v0/version")
    assert response.status_code == 200
    body = response.json()
    assert body["Version"] == "0.7.0" and set(body) >= {"Version", "Commit", "Repo", "System"}


def test_get_is_refused_like_kubo_does(anonymous: httpx.Client) -> None:
    assert anonymous.get("/api/v0/version").status_code == 405


@pytest.mark.parametrize(
    ("params", "expected"),
    [({}, HELLO_V0), ({"cid-version": 1}, HELLO_V1), ({"cid-version": "1", "raw-leaves": "true"}, HELLO_V1)],
)
def test_add_hello_world_gives_kubos_cids(writer: httpx.Client, params: dict[str, Any], expected: str) -> None:
    line = add(writer, HELLO, "hello.txt", **params)
    assert line == {"Name": "hello.txt", "Hash": expected, "Size": "20" if expected == HELLO_V0 else "12"}


@pytest.mark.parametrize(
    ("size", "cid_version", "raw_leaves"),
    [(0, 0, None), (262144, 0, None), (3 * 262144 + 17, 0, None), (3 * 262144 + 17, 1, None),
     (3 * 262144 + 17, 0, True), (3 * 262144 + 17, 1, False), (175 * 262144 + 5, 0, None)],
)  # fmt: skip
def test_add_cids_equal_the_embedded_importers(
    writer: httpx.Client, gateway: Gateway, size: int, cid_version: int, raw_leaves: bool | None
) -> None:
    data = content(size)
    params: dict[str, Any] = {"cid-version": cid_version}
    if raw_leaves is not None:
        params["raw-leaves"] = str(raw_leaves).lower()
    line = add(writer, data, **params)
    assert line["Hash"] == expected_cid(data, cid_version, raw_leaves)
    store = gateway.services.documents.store
    assert int(line["Size"]) == store.stat(line["Hash"]).cumulative_size
    assert b"".join(store.cat(line["Hash"])) == data
    assert Cid.parse(line["Hash"]) in store.pins()


def test_add_several_files_in_one_request(writer: httpx.Client) -> None:
    a, b = content(1000), content(2000)
    response = writer.post("/api/v0/add", files=[("file", ("a.txt", a)), ("file", ("b.txt", b))])
    lines = [json.loads(line) for line in response.text.splitlines()]
    assert [(x["Name"], x["Hash"]) for x in lines] == [("a.txt", expected_cid(a)), ("b.txt", expected_cid(b))]


def test_add_only_hash_stores_nothing(writer: httpx.Client, gateway: Gateway) -> None:
    data = content(5000)
    line = add(writer, data, **{"only-hash": "true"})
    assert line["Hash"] == expected_cid(data)
    assert not gateway.services.documents.store.has(line["Hash"])


def test_add_without_pin_leaves_it_unpinned(writer: httpx.Client, gateway: Gateway) -> None:
    line = add(writer, content(3000), pin="false")
    store = gateway.services.documents.store
    assert store.has(line["Hash"]) and Cid.parse(line["Hash"]) not in store.pins()


def test_add_options_that_change_the_dag_are_refused(writer: httpx.Client) -> None:
    for params in ({"chunker": "rabin"}, {"trickle": "true"}, {"wrap-with-directory": "true"}, {"hash": "blake3"}):
        response = writer.post("/api/v0/add", params=params, files={"file": ("x", b"x")})
        body = kubo_error(response, 400, "documents.invalid_upload")
        assert body["Code"] == 1


def test_add_needs_a_partner_or_admin_key(anonymous: httpx.Client, gateway: Gateway, keys: Keys) -> None:
    kubo_error(anonymous.post("/api/v0/add", files={"file": ("x", b"x")}), 401, "auth.missing_key")
    with gateway.client(keys.auditor) as auditor:
        kubo_error(auditor.post("/api/v0/add", files={"file": ("x", b"x")}), 403, "auth.forbidden")
    with gateway.client("ck_nope_nope") as bogus:
        kubo_error(bogus.post("/api/v0/add", files={"file": ("x", b"x")}), 401, "auth.invalid_key")
    with gateway.client(keys.admin) as admin:
        assert add(admin, HELLO)["Hash"] == HELLO_V0


def test_every_write_needs_a_partner_or_admin_key(
    writer: httpx.Client, anonymous: httpx.Client, gateway: Gateway, keys: Keys, tmp_path: Path
) -> None:
    cid = add(writer, content(2000))["Hash"]
    local = EmbeddedDocumentStore(tmp_path / "src", durable=False)
    car = io.BytesIO()
    local.export_car(local.add(content(3000)).cid, car)
    writes = [
        ("/api/v0/pin/add", {"params": {"arg": cid}}),
        ("/api/v0/pin/rm", {"params": {"arg": cid}}),
        ("/api/v0/dag/import", {"files": {"file": ("x.car", car.getvalue())}}),
        ("/api/v0/repo/gc", {}),
    ]
    with gateway.client(keys.auditor) as auditor:
        for path, request in writes:
            kubo_error(anonymous.post(path, **request), 401, "auth.missing_key")  # type: ignore[arg-type]
            kubo_error(auditor.post(path, **request), 403, "auth.forbidden")  # type: ignore[arg-type]
    assert Cid.parse(cid) in gateway.services.documents.store.pins()  # nothing above changed anything


def test_add_that_is_not_multipart_is_a_client_error(writer: httpx.Client) -> None:
    response = writer.post("/api/v0/add", json={"file": "x"})
    assert kubo_error(response, 400, "documents.unsupported_media_type")["Code"] == 1
    empty = {"Content-Type": "multipart/form-data; boundary=b"}  # multipart without any part
    response = writer.post("/api/v0/add", content=b"--b--\r\n", headers=empty)
    assert kubo_error(response, 400, "documents.invalid_upload")["Code"] == 1


def test_add_over_the_limit_is_413(writer: httpx.Client, gateway: Gateway, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(gateway.services.documents, "max_upload_bytes", 300_000)
    data = content(300_001)
    kubo_error(writer.post("/api/v0/add", files={"file": ("big", data)}), 413, "ipfs.too_large")

    def chunked() -> Iterator[bytes]:  # no Content-Length: counted while streaming
        boundary = "b0undary"
        yield f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="big"\r\n\r\n'.encode()
        for i in range(0, len(data), 65536):
            yield data[i : i + 65536]
        yield f"\r\n--{boundary}--\r\n".encode()

    response = writer.post(
        "/api/v0/add", content=chunked(), headers={"Content-Type": "multipart/form-data; boundary=b0undary"}
    )
    kubo_error(response, 413, "ipfs.too_large")
    assert add(writer, data[:300_000])["Hash"] == expected_cid(data[:300_000])


# -- reading ---------------------------------------------------------------------------------------


def test_cat_round_trip_and_ranges(writer: httpx.Client, anonymous: httpx.Client) -> None:
    data = content(3 * 262144 + 999)
    cid = add(writer, data)["Hash"]
    assert anonymous.post("/api/v0/cat", params={"arg": cid}).content == data
    assert anonymous.post("/api/v0/cat", params={"arg": f"/ipfs/{cid}"}).content == data
    response = anonymous.post("/api/v0/cat", params={"arg": cid, "offset": 262140, "length": 10})
    assert response.content == data[262140:262150] and response.headers["x-content-length"] == "10"
    assert anonymous.post("/api/v0/cat", params={"arg": cid, "offset": len(data) + 5}).content == b""


def test_cat_errors_are_kubo_errors_with_our_code(anonymous: httpx.Client) -> None:
    kubo_error(anonymous.post("/api/v0/cat", params={"arg": "not-a-cid"}), 500, "ipfs.invalid_cid")
    unknown = expected_cid(b"never added anywhere")
    kubo_error(anonymous.post("/api/v0/cat", params={"arg": unknown}), 500, "ipfs.not_found")
    missing = kubo_error(anonymous.post("/api/v0/cat"), 400, "request.invalid")
    assert missing["Code"] == 1 and "arg" in missing["Message"]


def test_block_get_and_stat(writer: httpx.Client, anonymous: httpx.Client, gateway: Gateway) -> None:
    cid = add(writer, HELLO)["Hash"]
    block = anonymous.post("/api/v0/block/get", params={"arg": cid}).content
    assert block == b"\x0a\x12\x08\x02\x12\x0chello world\n\x18\x0c"
    assert anonymous.post("/api/v0/block/stat", params={"arg": cid}).json() == {"Key": cid, "Size": len(block)}
    leaf = str(gateway.services.documents.store.stat(add(writer, content(600_000))["Hash"]).cid)
    assert anonymous.post("/api/v0/block/get", params={"arg": leaf}).status_code == 200


def test_files_stat(writer: httpx.Client, anonymous: httpx.Client) -> None:
    data = content(2 * 262144 + 1)
    line = add(writer, data)
    stat = anonymous.post("/api/v0/files/stat", params={"arg": f"/ipfs/{line['Hash']}"}).json()
    assert stat == {"Hash": line["Hash"], "Size": len(data), "CumulativeSize": int(line["Size"]), "Blocks": 3,
                    "Type": "file"}  # fmt: skip


def test_pin_add_ls_rm(writer: httpx.Client, anonymous: httpx.Client) -> None:
    cid = add(writer, content(4000), pin="false")["Hash"]
    kubo_error(anonymous.post("/api/v0/pin/ls", params={"arg": cid}), 500, "ipfs.error")
    assert writer.post("/api/v0/pin/add", params={"arg": cid}).json() == {"Pins": [cid]}
    assert anonymous.post("/api/v0/pin/ls", params={"arg": cid}).json() == {"Keys": {cid: {"Type": "recursive"}}}
    everything = anonymous.post("/api/v0/pin/ls", params={"type": "recursive"}).json()["Keys"]
    assert everything[cid] == {"Type": "recursive"}
    assert writer.post("/api/v0/pin/rm", params={"arg": cid}).json() == {"Pins": [cid]}
    kubo_error(writer.post("/api/v0/pin/rm", params={"arg": cid}), 500, "ipfs.not_pinned")
    kubo_error(anonymous.post("/api/v0/pin/add", params={"arg": cid}), 401, "auth.missing_key")


def test_dag_export_is_a_verifiable_car_that_imports_back(
    writer: httpx.Client, anonymous: httpx.Client, tmp_path: Path
) -> None:
    # four distinct chunks (content() repeats a short block: one call's chunks can be equal)
    data = b"".join(content(262144, seed=900 + i) for i in range(3)) + b"tail!"
    cid = add(writer, data, **{"cid-version": "1"})["Hash"]
    car = anonymous.post("/api/v0/dag/export", params={"arg": cid})
    assert car.status_code == 200 and car.headers["content-type"] == "application/vnd.ipld.car"
    reader = CarReader(io.BytesIO(car.content))
    assert [str(r) for r in reader.roots] == [cid]
    assert len(list(reader)) == 5  # root + 4 leaves, each verified by the reader
    local = EmbeddedDocumentStore(tmp_path / "copy", durable=False)
    assert [str(r) for r in local.import_car(io.BytesIO(car.content)).roots] == [cid]
    assert b"".join(local.cat(cid)) == data
    kubo_error(anonymous.post("/api/v0/dag/export", params={"arg": expected_cid(b"absent")}), 500, "ipfs.not_found")


def test_dag_import_pins_the_roots(writer: httpx.Client, gateway: Gateway, tmp_path: Path) -> None:
    data = content(700_000)
    local = EmbeddedDocumentStore(tmp_path / "src", durable=False)
    cid = local.add(data).cid
    car = io.BytesIO()
    local.export_car(cid, car)
    response = writer.post("/api/v0/dag/import", params={"stats": "true"}, files={"file": ("x.car", car.getvalue())})
    lines = [json.loads(line) for line in response.text.splitlines()]
    assert lines == [{"Root": {"Cid": {"/": str(cid)}, "PinErrorMsg": ""}},
                     {"Stats": {"BlockCount": 4, "BlockBytesCount": 0}}]  # fmt: skip
    assert cid in gateway.services.documents.store.pins()
    damaged = bytearray(car.getvalue())
    damaged[-10] ^= 1
    response = writer.post("/api/v0/dag/import", files={"file": ("x.car", bytes(damaged))})
    kubo_error(response, 500, "ipfs.integrity")


def test_repo_gc_is_for_admins_and_keeps_pins(writer: httpx.Client, gateway: Gateway, keys: Keys) -> None:
    kept = add(writer, content(1000))["Hash"]
    dropped = add(writer, content(1000), pin="false")["Hash"]
    kubo_error(writer.post("/api/v0/repo/gc"), 403, "auth.forbidden")
    with gateway.client(keys.admin) as admin:
        response = admin.post("/api/v0/repo/gc")
    assert response.status_code == 200
    removed = {json.loads(line)["Key"]["/"] for line in response.text.splitlines()}
    assert str(Cid(1, RAW, Cid.parse(dropped).multihash)) in removed  # Kubo names removed blocks by multihash
    store = gateway.services.documents.store
    assert store.has(kept) and not store.has(dropped)


# -- ipfshttpclient, an independent Kubo client ---------------------------------------------------


@pytest.mark.filterwarnings("ignore:The 'strict' parameter:FutureWarning")  # urllib3 about ipfshttpclient
def test_ipfshttpclient_round_trips(gateway: Gateway, keys: Keys) -> None:
    ipfshttpclient = pytest.importorskip("ipfshttpclient")
    port = gateway.url.rsplit(":", 1)[1]
    with ipfshttpclient.connect(f"/ip4/127.0.0.1/tcp/{port}/http",
                                headers={"Authorization": f"Bearer {keys.partner}"}) as client:  # fmt: skip
        assert client.version()["Version"] == "0.7.0"
        data = content(2 * 262144 + 3)
        cid = client.add_bytes(data)
        assert cid == expected_cid(data)
        assert client.cat(cid) == data
        assert client.cat(cid, offset=5, length=7) == data[5:12]
        hello = client.add(io.BytesIO(HELLO))
        assert hello["Hash"] == HELLO_V0 and hello["Size"] == "20"
        assert client.block.get(HELLO_V0) == b"\x0a\x12\x08\x02\x12\x0chello world\n\x18\x0c"
        assert cid in client.pin.ls(type="recursive")["Keys"]
        client.pin.rm(cid)
        assert cid not in client.pin.ls(type="recursive")["Keys"]
        client.pin.add(cid)
        car = client.dag.export(cid)
        assert [str(r) for r in CarReader(io.BytesIO(car)).roots] == [cid]
        with pytest.raises(ipfshttpclient.exceptions.ErrorResponse):
            client.cat(expected_cid(b"nowhere"))


# -- the path gateway -------------------------------------------------------------------------------


def test_path_gateway_serves_immutable_content(writer: httpx.Client, anonymous: httpx.Client) -> None:
    pdf = b"%PDF-1.7\n" + content(1000)
    cid = add(writer, pdf, **{"cid-version": "1"})["Hash"]
    response = anonymous.get(f"/ipfs/{cid}")
    assert response.status_code == 200 and response.content == pdf
    assert response.headers["etag"] == f'"{cid}"'
    assert response.headers["cache-control"] == "public, max-age=29030400, immutable"
    assert response.headers["content-type"] == "application/pdf"
    assert response.headers["content-length"] == str(len(pdf))
    assert response.headers["x-content-type-options"] == "nosniff"
    assert anonymous.get(f"/ipfs/{cid}", headers={"If-None-Match": f'"{cid}"'}).status_code == 304
    head = anonymous.head(f"/ipfs/{cid}")
    assert head.status_code == 200 and head.content == b"" and head.headers["content-length"] == str(len(pdf))


@pytest.mark.parametrize(
    ("header", "start", "end"),
    [("bytes=0-9", 0, 9), ("bytes=262140-262149", 262140, 262149), ("bytes=-5", None, None),
     ("bytes=700000-", 700000, None)],
)  # fmt: skip
def test_path_gateway_ranges(
    writer: httpx.Client, anonymous: httpx.Client, header: str, start: int | None, end: int | None
) -> None:
    data = content(3 * 262144)
    cid = add(writer, data)["Hash"]
    response = anonymous.get(f"/ipfs/{cid}", headers={"Range": header})
    assert response.status_code == 206
    first = len(data) - 5 if start is None else start
    last = len(data) - 1 if end is None else end
    assert response.content == data[first : last + 1]
    assert response.headers["content-range"] == f"bytes {first}-{last}/{len(data)}"


def test_path_gateway_problems(writer: httpx.Client, anonymous: httpx.Client) -> None:
    cid = add(writer, content(100))["Hash"]
    unsatisfiable = anonymous.get(f"/ipfs/{cid}", headers={"Range": "bytes=100-"})
    assert unsatisfiable.status_code == 416 and unsatisfiable.headers["content-range"] == "bytes */100"
    bad = anonymous.get("/ipfs/not-a-cid")
    assert bad.status_code == 422 and bad.headers["content-type"] == PROBLEM
    assert bad.json()["code"] == "ipfs.invalid_cid"
    unknown = anonymous.get(f"/ipfs/{expected_cid(b'not here')}")
    assert unknown.status_code == 404 and unknown.json()["code"] == "ipfs.not_found"


def test_path_gateway_never_serves_html_as_html(writer: httpx.Client, anonymous: httpx.Client) -> None:
    cid = add(writer, b"<html><script>alert(1)</script></html>")["Hash"]
    response = anonymous.get(f"/ipfs/{cid}")
    assert response.headers["content-type"].startswith("text/plain")
    assert response.headers["content-security-policy"] == "sandbox"
