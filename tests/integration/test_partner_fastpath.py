"""The partner submissions' fast path (gateway/api/fastpath.py) answers as the route does.

Each request is sent twice, in-process, to the session gateway's app: once as it is served (the
fast path first) and once straight to FastAPI's routing (the route alone); status, headers and
body must match byte for byte, successes (compared on idempotent replays, which answer the same
submission) and every kind of refusal alike. The decision itself (``_accept``) is checked too: it
stores the happy path and hands everything else to the route having stored nothing.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select
from starlette.types import Receive, Scope, Send

from gateway.api import fastpath
from gateway.api.routes.partner import _ENDPOINTS
from gateway.partner import operations as ops
from gateway.partner.tables import SubmissionRow
from tests.conftest import Gateway

pytestmark = pytest.mark.integration

GTIN = "00614141812349"
_serials = itertools.count(1)


def serial() -> str:
    return f"FP{time.time_ns() % 10**8}x{next(_serials)}"


def transfer(receiver: int, *serials: str) -> dict[str, Any]:
    return {"objects": [{"gtin": GTIN, "serial": s} for s in serials], "receiver": receiver}


def send(app: Any, method: str, path: str, headers: dict[str, str], content: bytes) -> httpx.Response:
    async def go() -> httpx.Response:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw") as client:
            return await client.request(method, path, headers=headers, content=content)

    return asyncio.run(go())


def both(gateway: Gateway, path: str, headers: dict[str, str], body: bytes | dict[str, Any]) -> list[httpx.Response]:
    """The answers of the app as served and of its routes alone (idempotent replays when keyed)."""
    app = gateway.server.config.app
    assert isinstance(app, fastpath.GatewayApp)

    async def route_only(scope: Scope, receive: Receive, send_: Send) -> None:
        await FastAPI.__call__(app, scope, receive, send_)

    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = {"content-type": "application/json", **headers}
    return [send(app, "POST", path, headers, content), send(route_only, "POST", path, headers, content)]


def assert_same(fast: httpx.Response, route: httpx.Response) -> None:
    assert fast.status_code == route.status_code, (fast.text, route.text)
    assert fast.headers.multi_items() == route.headers.multi_items()
    assert fast.content == route.content


def stored(gateway: Gateway) -> int:
    with gateway.services.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(SubmissionRow)) or 0)


@pytest.fixture(scope="module")
def keys(gateway: Gateway) -> dict[str, Any]:
    with gateway.client(gateway.admin_key) as admin:
        made = {}
        for role in ("manufacturer", "distributor"):
            r = admin.post("/v1/admin/partners", json={"name": f"fastpath-{role}-{serial()}", "role": role})
            assert r.status_code == 201, r.text
            made[role] = r.json()
    auditor = gateway.services.api_keys.create("auditor", name="fastpath auditor").key
    read_only = gateway.services.api_keys.create(
        "partner", made["manufacturer"]["partner_id"], ("read",), name="fastpath reader"
    ).key
    return {
        "partner": made["manufacturer"]["api_key"]["key"],
        "receiver": made["distributor"]["partner_id"],
        "auditor": auditor,
        "read_only": read_only,
        "admin": gateway.admin_key,
    }


def test_every_one_operation_endpoint_is_on_the_fast_path() -> None:
    assert set(fastpath.PARTNER_PATHS) == {"/v1" + path for path, _, _ in _ENDPOINTS}
    assert "/v1/batch" not in fastpath.PARTNER_PATHS and "/v1/signed-calls" not in fastpath.PARTNER_PATHS


def test_an_accepted_submission_answers_as_the_route(gateway: Gateway, keys: dict[str, Any]) -> None:
    auth = {"Authorization": f"Bearer {keys['partner']}", "content-type": "application/json"}
    body = transfer(keys["receiver"], serial(), serial())
    before = stored(gateway)
    first = send(gateway.server.config.app, "POST", "/v1/transfers", {**auth, "Idempotency-Key": "fp-1"},
                 json.dumps(body).encode())  # fmt: skip
    assert first.status_code == 202, first.text
    assert first.headers["location"] == f"/v1/submissions/{first.json()['id']}"
    assert "idempotent-replayed" not in first.headers
    assert stored(gateway) == before + 1
    # the replays answer that same submission: the fast path's and the route's bytes are equal
    fast, route = both(gateway, "/v1/transfers", {**auth, "Idempotency-Key": "fp-1"}, body)
    assert fast.status_code == 200 and fast.headers["idempotent-replayed"] == "true"
    assert fast.json()["id"] == first.json()["id"]
    assert_same(fast, route)
    assert stored(gateway) == before + 1  # nothing stored twice

    # a new submission each: the same status, headers (but the Location) and fields
    fast, route = both(gateway, "/v1/transfers", auth, body)
    assert fast.status_code == route.status_code == 202
    assert [k for k, _ in fast.headers.multi_items()] == [k for k, _ in route.headers.multi_items()]
    assert fast.json().keys() == route.json().keys()
    assert {k: v for k, v in fast.json().items() if k not in ("id", "created_at", "updated_at")} == {
        k: v for k, v in route.json().items() if k not in ("id", "created_at", "updated_at")
    }
    assert stored(gateway) == before + 3


def test_the_happy_path_is_answered_by_the_fast_path(gateway: Gateway, keys: dict[str, Any]) -> None:
    auth = f"Bearer {keys['partner']}".encode()
    body = json.dumps(transfer(keys["receiver"], serial())).encode()
    view = fastpath._accept(gateway.services, ops.Transfer, auth, body, None)
    assert view is not None and view.status == "pending" and view.operation == "transfer"


def _refusals(keys: dict[str, Any]) -> list[tuple[str, dict[str, str], bytes | dict[str, Any], int]]:
    partner = {"Authorization": f"Bearer {keys['partner']}"}
    good = transfer(keys["receiver"], "R1")
    anchor = {"object": {"gtin": GTIN, "serial": "1"}, "cid": "nope", "document_type": "invoice"}
    return [
        ("/v1/transfers", {}, good, 401),
        ("/v1/transfers", {"Authorization": "Basic abc"}, good, 401),
        ("/v1/transfers", {"Authorization": "Bearer "}, good, 401),
        ("/v1/transfers", {"Authorization": "Bearer ck_nope_nope"}, good, 401),
        ("/v1/transfers", {"Authorization": "Bearer garbage"}, good, 401),
        ("/v1/transfers", {"Authorization": f"Bearer {keys['auditor']}"}, good, 403),
        ("/v1/transfers", {"Authorization": f"Bearer {keys['admin']}"}, good, 403),
        ("/v1/transfers", {"Authorization": f"Bearer {keys['read_only']}"}, good, 403),
        ("/v1/transfers", {}, b"{not json", 422),  # the route reads the JSON before the key
        ("/v1/transfers", partner, b"{not json", 422),
        ("/v1/transfers", partner, b"", 422),
        ("/v1/transfers", partner, {"objects": [], "receiver": keys["receiver"]}, 422),
        ("/v1/transfers", partner, {"objects": [{"gtin": GTIN}], "receiver": 1}, 422),
        ("/v1/transfers", partner, {**good, "extra": 1}, 422),
        ("/v1/transfers", partner, transfer(keys["receiver"], "bad serial"), 422),  # GS1
        ("/v1/transfers", partner, {"objects": [{"gtin": "00614141812345", "serial": "1"}], "receiver": 2}, 422),
        ("/v1/document-anchors", partner, anchor, 422),  # not a CID
        ("/v1/transfers", {**partner, "Idempotency-Key": "k" * 201}, good, 422),
        ("/v1/transfers", {**partner, "content-type": "text/plain"}, good, 422),
    ]


@pytest.mark.parametrize("case", range(19))
def test_a_refused_request_answers_as_the_route(gateway: Gateway, keys: dict[str, Any], case: int) -> None:
    refusals = _refusals(keys)
    assert len(refusals) == 19
    path, headers, body, status = refusals[case]
    before = stored(gateway)
    fast, route = both(gateway, path, headers, body)
    assert fast.status_code == status, fast.text
    if status in (401, 403, 422) and fast.headers.get("content-type") == "application/problem+json":
        assert fast.json()["status"] == status
    assert_same(fast, route)
    assert stored(gateway) == before
    header_refusal = "Idempotency-Key" in headers or "content-type" in headers  # refused before _accept
    if "Authorization" in headers and not isinstance(body, bytes) and not header_refusal:
        model = fastpath.PARTNER_PATHS[path]
        assert fastpath._accept(gateway.services, model, headers["Authorization"].encode(),
                                json.dumps(body).encode(), None) is None  # fmt: skip
        assert stored(gateway) == before


def test_an_idempotency_conflict_answers_as_the_route(gateway: Gateway, keys: dict[str, Any]) -> None:
    auth = {"Authorization": f"Bearer {keys['partner']}", "Idempotency-Key": "fp-conflict"}
    first = both(gateway, "/v1/transfers", auth, transfer(keys["receiver"], serial()))[0]
    assert first.status_code == 202, first.text
    before = stored(gateway)
    fast, route = both(gateway, "/v1/transfers", auth, transfer(keys["receiver"], serial()))
    assert fast.status_code == 409 and fast.json()["code"] == "idempotency.conflict"
    assert_same(fast, route)
    assert stored(gateway) == before
