"""Consumer verification over real HTTP: items registered on the gateway's own ledger (Anvil),
indexed by the gateway's indexer, verified through /v1/verify, the Digital Link resolver and the
DSCSA endpoint; products, QR codes, reports, suspects and rate limiting (a second app instance)."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import itertools
import json
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from chain_client.gs1 import gs1_check_digit
from chain_client.node import AnvilNode, free_port
from gateway.api import server as server_module
from gateway.api.server import server_config
from gateway.main import create_app
from gateway.verification.service import VerificationService
from gateway.verification.verdict import VerificationPublic
from tests.conftest import Gateway

pytestmark = pytest.mark.integration

PROBLEM = "application/problem+json"
_numbers = itertools.count(1)


def _gtin(item_ref: str) -> str:
    body = f"00614141{item_ref}"  # indicator 0, company prefix 0614141 (7 digits), 5-digit item reference
    return body + str(gs1_check_digit(body))


GTIN = _gtin("77001")  # this module's product
OTHER_GTIN = _gtin("77002")  # registered by another manufacturer
NEVER_GTIN = _gtin("77099")  # never registered
PUBLIC_KEYS = {"verdict", "message", "product", "checks", "suspect", "signals", "checked_at", "data_as_of_block"}
PRODUCT_KEYS = {"gtin", "product_name", "lot", "expiry", "manufacturer"}
CHECK_KEYS = {"gtin_known", "serial_registered", "lot", "expiry", "status", "expired_by_date"}
FUTURE = dt.date.today() + dt.timedelta(days=400)


def serial() -> str:
    return f"V{next(_numbers)}x{uuid.uuid4().hex[:6]}"


def yymmdd(day: dt.date) -> str:
    return day.strftime("%y%m%d")


@dataclass
class Party:
    id: int
    key: str
    client: httpx.Client


@dataclass
class World:
    gateway: Gateway
    app: FastAPI
    public: httpx.Client
    admin: httpx.Client
    maker: Party
    maker2: Party
    pharmacy: Party
    auditor: Party

    @property
    def verification(self) -> VerificationService:
        service: VerificationService = self.app.state.verification
        return service

    def settle(self, party: Party, path: str, body: dict[str, Any]) -> None:
        response = party.client.post(path, json=body)
        assert response.status_code == 202, response.text
        sub_id = response.json()["id"]
        deadline = time.monotonic() + 30
        while True:
            sub = party.client.get(f"/v1/submissions/{sub_id}").json()
            if sub["status"] in ("confirmed", "failed"):
                assert sub["status"] == "confirmed", sub
                return
            assert time.monotonic() < deadline, sub
            time.sleep(0.03)

    def register(self, lot: str = "LOTA", expiry: dt.date | None = FUTURE, by: Party | None = None,
                 gtin: str = GTIN) -> str:  # fmt: skip
        s = serial()
        item: dict[str, Any] = {"gtin": gtin, "serial": s, "lot": lot}
        if expiry is not None:
            item["expiry_date"] = expiry.isoformat()
        self.settle(by or self.maker, "/v1/items", {"items": [item]})
        return s

    def index(self) -> None:
        self.gateway.services.indexer.catch_up()
        if getattr(self.app.state, "verification", None) is not None:
            self.verification.records.clear()

    def verify(self, **params: str) -> dict[str, Any]:
        response = self.public.get("/v1/verify", params={"gtin": GTIN, **params})
        assert response.status_code == 200, response.text
        assert response.headers["content-type"] == "application/json"
        body: dict[str, Any] = response.json()
        assert set(body) == PUBLIC_KEYS
        # built without models: it must be valid and byte for byte the model's own JSON
        assert response.content == VerificationPublic.model_validate(body).model_dump_json().encode()
        return body


def problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body: dict[str, Any] = response.json()
    assert body["code"] == code, body
    return body


@pytest.fixture(scope="module")
def world(gateway: Gateway) -> Iterator[World]:
    admin = gateway.client(gateway.admin_key)

    def onboard(name: str, role: str) -> Party:
        body = {"name": name, "role": role, "glns": [], "custodial": True, "accounts": []}
        if role != "auditor":
            loc = f"06141427{next(_numbers):04d}"
            body["glns"] = [loc + str(gs1_check_digit(loc))]
        response = admin.post("/v1/admin/partners", json=body)
        assert response.status_code == 201, response.text
        p = response.json()
        return Party(p["partner_id"], p["api_key"]["key"], gateway.client(p["api_key"]["key"]))

    app = gateway.server.config.app
    assert isinstance(app, FastAPI)
    w = World(gateway, app, gateway.client(), admin, onboard("Acme Pharma", "manufacturer"),
              onboard("Other Labs", "manufacturer"), onboard("Corner Pharmacy", "dispenser"),
              onboard("Inspector", "auditor"))  # fmt: skip
    w.register(by=w.maker2, gtin=OTHER_GTIN)
    yield w
    for c in (w.public, w.admin, w.maker.client, w.maker2.client, w.pharmacy.client, w.auditor.client):
        c.close()


# --------------------------------------------------------------------------------- verdicts


def test_authentic_with_every_check_and_no_private_field(world: World) -> None:
    s = world.register(lot="LOTA", expiry=FUTURE)
    world.index()
    body = world.verify(serial=s, lot="LOTA", expiry=yymmdd(FUTURE))
    assert body["verdict"] == "authentic"
    assert body["suspect"] is False and body["signals"] == []
    assert set(body["product"]) == PRODUCT_KEYS
    assert body["product"] == {"gtin": GTIN, "product_name": None, "lot": "LOTA", "expiry": FUTURE.isoformat(),
                               "manufacturer": "Acme Pharma"}  # fmt: skip
    assert set(body["checks"]) == CHECK_KEYS
    assert body["checks"] == {"gtin_known": True, "serial_registered": True, "lot": "match", "expiry": "match",
                              "status": "active", "expired_by_date": False}  # fmt: skip
    assert body["data_as_of_block"] >= 1
    # the ISO form of the expiry is the same check; nothing names a partner, holder or GLN
    iso = world.verify(serial=s, lot="LOTA", expiry=FUTURE.isoformat())
    assert iso["verdict"] == "authentic"
    text = str(iso)
    assert str(world.maker.id) not in str(iso["checks"]) and "custodian" not in text and "owner" not in text
    assert "partner" not in text and "gln" not in text.lower()


def test_unknown_serial_and_unknown_gtin(world: World) -> None:
    body = world.verify(serial=serial())
    assert body["verdict"] == "unknown" and body["product"] is None
    assert body["checks"]["gtin_known"] is True and body["checks"]["serial_registered"] is False
    assert body["suspect"] is True and body["signals"] == ["unknown_serial_of_known_gtin"]
    never = world.public.get("/v1/verify", params={"gtin": NEVER_GTIN, "serial": "X1"})
    assert never.status_code == 200
    assert never.json()["verdict"] == "unknown" and never.json()["signals"] == []
    assert never.json()["checks"]["gtin_known"] is False


def test_mismatch_of_lot_or_expiry_hides_the_record(world: World) -> None:
    s = world.register(lot="LOTM", expiry=FUTURE)
    world.index()
    wrong_lot = world.verify(serial=s, lot="LOTX", expiry=yymmdd(FUTURE))
    assert wrong_lot["verdict"] == "mismatch" and wrong_lot["checks"]["lot"] == "mismatch"
    assert wrong_lot["product"]["lot"] is None and wrong_lot["product"]["expiry"] is None
    assert wrong_lot["signals"] == ["label_mismatch"] and wrong_lot["suspect"] is True
    wrong_expiry = world.verify(serial=s, lot="LOTM", expiry=yymmdd(FUTURE + dt.timedelta(days=1)))
    assert wrong_expiry["verdict"] == "mismatch" and wrong_expiry["checks"]["expiry"] == "mismatch"
    assert wrong_expiry["checks"]["lot"] == "match"


def test_recalled(world: World) -> None:
    s = world.register()
    world.settle(world.maker, "/v1/recalls", {"object": {"gtin": GTIN, "serial": s}, "reason": "contamination"})
    world.index()
    body = world.verify(serial=s, lot="LOTA")
    assert body["verdict"] == "recalled" and body["checks"]["status"] == "recalled"


def test_quarantined(world: World) -> None:
    s = world.register()
    world.settle(world.maker, "/v1/status-changes", {"objects": [{"gtin": GTIN, "serial": s}],
                                                      "status": "quarantined", "reason": "temperature"})  # fmt: skip
    world.index()
    assert world.verify(serial=s)["verdict"] == "quarantined"


def test_expired_by_date(world: World) -> None:
    past = dt.date.today() - dt.timedelta(days=3)
    s = world.register(expiry=past)
    world.index()
    body = world.verify(serial=s, expiry=yymmdd(past))
    assert body["verdict"] == "expired"
    assert body["checks"]["expired_by_date"] is True and body["checks"]["expiry"] == "match"


def test_dispensed_and_scans_after_dispense_are_a_clone_signal(world: World) -> None:
    s = world.register()
    world.settle(
        world.maker, "/v1/transfers", {"objects": [{"gtin": GTIN, "serial": s}], "receiver": world.pharmacy.id}
    )
    world.settle(world.pharmacy, "/v1/status-changes", {"objects": [{"gtin": GTIN, "serial": s}],
                                                         "status": "dispensed"})  # fmt: skip
    world.index()
    first = world.verify(serial=s, place="DE")
    assert first["verdict"] == "dispensed" and first["suspect"] is False
    second = world.verify(serial=s, place="FR")  # a second place after the dispense: a second sale
    assert second["verdict"] == "dispensed"
    assert second["signals"] == ["scanned_after_dispense"] and second["suspect"] is True


def test_many_places_signal(world: World) -> None:
    s = world.register()
    world.index()
    places = ["DE;52.52,13.40", "FR;48.85,2.35", "US;40.71,-74.00", "JP;35.68,139.69"]
    results = [world.verify(serial=s, place=p) for p in places]
    assert [r["verdict"] for r in results] == ["authentic"] * 4
    assert [r["suspect"] for r in results] == [False, False, False, True]  # more than 3 distinct places
    assert results[-1]["signals"] == ["many_places"]
    # the same place again is not a new place
    s2 = world.register()
    world.index()
    assert all(not world.verify(serial=s2, place="DE;52.52,13.40")["suspect"] for _ in range(5))


def test_status_change_reaches_the_answer_after_the_cache(world: World) -> None:
    s = world.register()
    world.index()
    assert world.verify(serial=s)["verdict"] == "authentic"
    world.settle(world.maker, "/v1/recalls", {"object": {"gtin": GTIN, "serial": s}, "reason": "recall"})
    world.index()  # clears the lookup cache as its TTL would
    assert world.verify(serial=s)["verdict"] == "recalled"


def test_the_fast_path_and_the_route_answer_alike(world: World) -> None:
    """GET /v1/verify is answered before routing (gateway.api.fastpath); under a root path (an
    app behind a path prefix) the route answers instead: the same verdicts and problems."""
    s = world.register()
    world.index()

    async def routed(params: dict[str, str]) -> httpx.Response:
        transport = httpx.ASGITransport(world.app, root_path="/gw")
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway.test") as client:
            return await client.get("/gw/v1/verify", params=params)

    cases: list[tuple[dict[str, str], int, str | None]] = [
        ({"gtin": GTIN, "serial": s, "lot": "LOTA", "expiry": yymmdd(FUTURE)}, 200, None),
        ({"gtin": GTIN, "serial": s, "lot": "OTHER"}, 200, None),
        ({"gtin": "00614141770010", "serial": "A"}, 422, "gs1.check_digit"),
        ({"gtin": GTIN, "serial": "A", "place": "Germany"}, 422, "verify.invalid_place"),
        ({"gtin": GTIN}, 422, "request.invalid"),
    ]
    for params, status, code in cases:
        fast, route = world.public.get("/v1/verify", params=params), asyncio.run(routed(params))
        assert fast.status_code == route.status_code == status, (fast.text, route.text)
        assert fast.headers["content-type"] == route.headers["content-type"]
        a, b = fast.json(), route.json()
        if code is None:
            assert a.pop("checked_at") <= b.pop("checked_at")
            assert a == b and set(a) == PUBLIC_KEYS - {"checked_at"}
        else:
            assert a["code"] == b["code"] == code and a.get("field") == b.get("field")


# ----------------------------------------------------------------- answered in the HTTP protocol


class _Connection:
    """One raw keep-alive HTTP/1.1 connection: what a scanner app's client sends, byte for byte."""

    def __init__(self, url: str) -> None:
        host, port = url.rsplit("/", 1)[1].rsplit(":", 1)
        self.sock = socket.create_connection((host, int(port)), timeout=10)
        self.buffer = b""

    def send(self, *requests: bytes) -> None:
        self.sock.sendall(b"".join(requests))  # one write: pipelined when several

    def _fill(self, size: int) -> None:
        while len(self.buffer) < size:
            chunk = self.sock.recv(65536)
            assert chunk, "the server closed the connection early"
            self.buffer += chunk

    def answer(self) -> tuple[bytes, dict[bytes, bytes], bytes]:
        """The next response: status line, headers (lower-case names), body."""
        while b"\r\n\r\n" not in self.buffer:
            self._fill(len(self.buffer) + 1)
        head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
        status, *lines = head.split(b"\r\n")
        headers = {name.strip().lower(): value.strip() for name, value in (h.split(b":", 1) for h in lines)}
        size = int(headers[b"content-length"])
        self._fill(size)
        body, self.buffer = self.buffer[:size], self.buffer[size:]
        return status, headers, body

    def closed_by_server(self) -> bool:
        self.sock.settimeout(1.0)
        try:
            return self.sock.recv(1) == b""
        except TimeoutError:
            return False

    def close(self) -> None:
        self.sock.close()


def _get(target: str, *headers: str, version: str = "1.1", body: bytes = b"") -> bytes:
    lines = [f"GET {target} HTTP/{version}", "Host: gateway.test", *headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


@pytest.fixture
def answered_here(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    """The bodies the HTTP protocol wrote itself (gateway.api.server), rather than the app."""
    answers: list[bytes] = []
    original = server_module.answer_now

    def spy(*args: Any) -> bytes | None:
        body = original(*args)
        if body is not None:
            answers.append(body)
        return body

    monkeypatch.setattr(server_module, "answer_now", spy)
    return answers


def _verify_target(**params: str) -> str:
    return "/v1/verify?" + urlencode({"gtin": GTIN, **params})


def test_the_protocol_answers_plain_verifications_on_a_kept_alive_connection(
    world: World, answered_here: list[bytes]
) -> None:
    """A plain GET /v1/verify is written by the protocol, head and body at once, with uvicorn's
    own headers; other requests on the same connection go to the app; the connection stays open."""
    s = world.register()
    world.index()
    conn = _Connection(world.gateway.url)
    try:
        conn.send(_get(_verify_target(serial=s, lot="LOTA", expiry=yymmdd(FUTURE))))
        status, headers, body = conn.answer()
        assert status == b"HTTP/1.1 200 OK"
        assert headers[b"content-type"] == b"application/json" and headers[b"server"] == b"uvicorn"
        assert b"date" in headers and b"connection" not in headers
        assert json.loads(body)["verdict"] == "authentic" and answered_here == [body]
        conn.send(_get("/health"))  # the app's
        status, _, health = conn.answer()
        assert status == b"HTTP/1.1 200 OK" and "status" in json.loads(health)
        conn.send(_get(_verify_target(serial=s, lot="OTHER")))
        status, _, body = conn.answer()
        assert json.loads(body)["verdict"] == "mismatch" and answered_here[1:] == [body]
        assert not conn.closed_by_server()
    finally:
        conn.close()


def test_pipelined_requests_are_answered_in_order(world: World, answered_here: list[bytes]) -> None:
    """Four requests in one write: the first is answered by the protocol; the ones behind the
    app's answer wait for it (a verification is not answered before an earlier request)."""
    s = world.register()
    world.index()
    conn = _Connection(world.gateway.url)
    try:
        conn.send(
            _get(_verify_target(serial=s)),
            _get("/health"),
            _get(_verify_target(serial=s)),
            _get(_verify_target(serial="A", place="Germany")),
        )
        answers = [conn.answer() for _ in range(4)]
    finally:
        conn.close()
    assert [a[0] for a in answers] == [b"HTTP/1.1 200 OK"] * 3 + [b"HTTP/1.1 422 Unprocessable Entity"]
    assert json.loads(answers[0][2])["verdict"] == json.loads(answers[2][2])["verdict"] == "authentic"
    assert "status" in json.loads(answers[1][2])
    assert answers[3][1][b"content-type"] == PROBLEM.encode()
    assert json.loads(answers[3][2])["code"] == "verify.invalid_place"
    assert answered_here and answered_here[0] == answers[0][2]


@pytest.mark.parametrize(
    ("request_line", "headers"),
    [("1.1", ("Connection: close",)), ("1.0", ()), ("1.0", ("Connection: keep-alive",))],
    ids=["connection-close", "http-1.0", "http-1.0-keep-alive"],  # uvicorn keeps no HTTP/1.0 connection
)
def test_connection_close_and_http_1_0_end_the_connection(
    world: World, answered_here: list[bytes], request_line: str, headers: tuple[str, ...]
) -> None:
    s = world.register()
    world.index()
    conn = _Connection(world.gateway.url)
    try:
        conn.send(_get(_verify_target(serial=s), *headers, version=request_line))
        status, answer_headers, body = conn.answer()
        assert status == b"HTTP/1.1 200 OK" and answer_headers[b"connection"] == b"close"
        assert json.loads(body)["verdict"] == "authentic" and answered_here == [body]
        assert conn.closed_by_server()
    finally:
        conn.close()


def test_a_get_with_a_body_and_expect_continue(world: World, answered_here: list[bytes]) -> None:
    """A body sent with the GET is skipped (the next request on the connection is read right);
    ``Expect: 100-continue`` is left to uvicorn, which answers it its way."""
    s = world.register()
    world.index()
    conn = _Connection(world.gateway.url)
    try:
        conn.send(_get(_verify_target(serial=s), "Content-Length: 5", body=b"hello"), _get(_verify_target(serial=s)))
        first, second = conn.answer(), conn.answer()
        assert first[0] == second[0] == b"HTTP/1.1 200 OK" and answered_here == [first[2], second[2]]
        conn.send(_get(_verify_target(serial=s), "Expect: 100-continue", "Content-Length: 0"))
        status, _, body = conn.answer()
        assert status == b"HTTP/1.1 200 OK" and json.loads(body)["verdict"] == "authentic"
        assert len(answered_here) == 2  # the app answered that one
    finally:
        conn.close()


def test_what_the_protocol_does_not_answer_gets_the_apps_answer(world: World, answered_here: list[bytes]) -> None:
    """Bad input, a missing parameter and a path under the verify path are the app's: the
    same problem+json as ever, and nothing answered by the protocol."""
    conn = _Connection(world.gateway.url)
    try:
        conn.send(_get(_verify_target(serial="A B")))
        status, headers, body = conn.answer()
        assert status.startswith(b"HTTP/1.1 422") and headers[b"content-type"] == PROBLEM.encode()
        assert json.loads(body)["code"] == "gs1.charset"
        conn.send(_get("/v1/verify?" + urlencode({"gtin": GTIN})))
        assert json.loads(conn.answer()[2])["code"] == "request.invalid"
        conn.send(_get("/v1/verify/extra?" + urlencode({"gtin": GTIN, "serial": "A"})))
        assert conn.answer()[0].startswith(b"HTTP/1.1 404")
    finally:
        conn.close()
    assert answered_here == []
    # an unknown serial is a plain 200 answer: the protocol's
    body = world.public.get("/v1/verify", params={"gtin": NEVER_GTIN, "serial": "NOPE1"}).json()
    assert body["verdict"] == "unknown" and len(answered_here) == 1


# --------------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("params", "code", "field"),
    [
        ({"gtin": "00614141770010", "serial": "A"}, "gs1.check_digit", "gtin"),
        ({"gtin": "0061414", "serial": "A"}, "gs1.length", "gtin"),
        ({"gtin": "0" * 15, "serial": "A"}, "gs1.length", "gtin"),
        ({"serial": "A", "lot": "L" * 21}, "gs1.length", "lot"),
        ({"gtin": "0061414177001X", "serial": "A"}, "gs1.charset", "gtin"),
        ({"serial": "A B"}, "gs1.charset", "serial"),
        ({"serial": "A", "lot": "L#1"}, "gs1.charset", "lot"),
        ({"serial": "A", "expiry": "261332"}, "gs1.date", "expiry"),
        ({"serial": "A", "expiry": "2026-02-30"}, "gs1.date", "expiry"),
        ({"serial": "A", "place": "Germany"}, "verify.invalid_place", "place"),
        ({"serial": "A", "place": "DE;95.0,10.0"}, "verify.invalid_place", "place"),
    ],
)
def test_bad_input_is_422_with_a_stable_code(world: World, params: dict[str, str], code: str, field: str) -> None:
    body = problem(world.public.get("/v1/verify", params={"gtin": GTIN, **params}), 422, code)
    assert body["field"] == field


def test_missing_or_overlong_parameters_are_request_invalid(world: World) -> None:
    problem(world.public.get("/v1/verify", params={"gtin": GTIN}), 422, "request.invalid")
    missing = problem(world.public.get("/v1/verify", params={"serial": "A"}), 422, "request.invalid")
    assert [e["field"] for e in missing["errors"]] == ["query.gtin"]
    too_long = problem(world.public.get("/v1/verify", params={"gtin": GTIN, "serial": "S" * 21}), 422, "gs1.length")
    assert too_long["field"] == "serial"


# --------------------------------------------------------------------------------- POST forms


def test_post_by_fields_digital_link_and_element_string(world: World) -> None:
    s = world.register(lot="LOTP", expiry=FUTURE)
    world.index()
    forms = [
        {"gtin": GTIN, "serial": s, "lot": "LOTP", "expiry": yymmdd(FUTURE)},
        {"digital_link": f"https://id.example/01/{GTIN}/10/LOTP/21/{s}?17={yymmdd(FUTURE)}"},
        {"element_string": f"(01){GTIN}(17){yymmdd(FUTURE)}(10)LOTP(21){s}"},
    ]
    for body in forms:
        response = world.public.post("/v1/verify", json=body)
        assert response.status_code == 200, response.text
        assert response.json()["verdict"] == "authentic"
        assert response.json()["checks"]["lot"] == "match" and response.json()["checks"]["expiry"] == "match"
    problem(world.public.post("/v1/verify", json={"digital_link": f"https://id.example/01/{GTIN[:-1]}1/21/A"}),
            422, "gs1.check_digit")  # fmt: skip
    problem(world.public.post("/v1/verify", json={"digital_link": f"https://id.example/21/A/01/{GTIN}"}),
            422, "gs1.digital_link")  # fmt: skip
    problem(world.public.post("/v1/verify", json={"element_string": f"(01){GTIN}"}), 422, "gs1.element_string")
    problem(world.public.post("/v1/verify", json={"gtin": GTIN}), 422, "request.invalid")
    problem(world.public.post("/v1/verify", json={"gtin": GTIN, "serial": "A", "digital_link": "x"}), 422,
            "request.invalid")  # fmt: skip


# --------------------------------------------------------------------------------- Digital Link


def test_digital_link_json_linkset_and_html(world: World) -> None:
    s = world.register(lot="LOTD", expiry=FUTURE)
    world.index()
    path = f"/01/{GTIN}/10/LOTD/21/{s}?17={yymmdd(FUTURE)}"
    as_json = world.public.get(path, headers={"Accept": "application/json"})
    assert as_json.status_code == 200 and as_json.headers["content-type"] == "application/json"
    assert as_json.json()["verdict"] == "authentic" and as_json.json()["checks"]["expiry"] == "match"
    assert 'rel="linkset"' in as_json.headers["link"]
    # query form of the lot, serial-only path
    query_form = world.public.get(f"/01/{GTIN}/21/{s}?10=LOTX", headers={"Accept": "application/json"})
    assert query_form.json()["verdict"] == "mismatch"

    linkset = world.public.get(path, headers={"Accept": "application/linkset+json"})
    assert linkset.status_code == 200 and linkset.headers["content-type"] == "application/linkset+json"
    (context,) = linkset.json()["linkset"]
    base = world.gateway.url
    assert context["anchor"] == f"{base}/01/{GTIN}/10/LOTD/21/{s}?17={yymmdd(FUTURE)}"
    for rel in ("defaultLink", "pip", "verificationService", "recallStatus", "certificationInfo"):
        (target,) = context[f"https://gs1.org/voc/{rel}"]
        assert target["href"].startswith(base) and target["type"] and target["title"]
    assert context["https://gs1.org/voc/verificationService"][0]["href"].startswith(f"{base}/v1/verify?gtin={GTIN}")
    same = world.public.get(path + "&linkType=all")
    assert same.json() == linkset.json()

    html = world.public.get(path, headers={"Accept": "text/html,application/xhtml+xml;q=0.9,*/*;q=0.8"})
    assert html.status_code == 200 and html.headers["content-type"].startswith("text/html")
    assert "<html" in html.text.lower()
    assert world.public.get(path + "&linkType=gs1:pip").headers["content-type"].startswith("text/html")
    recall = world.public.get(path + "&linkType=gs1:recallStatus", headers={"Accept": "text/html"})
    assert recall.json()["verdict"] == "authentic"
    problem(world.public.get(path + "&linkType=gs1:nutritionalInfo"), 404, "digital_link.link_type_not_found")
    problem(world.public.get(path + "&linkType=gs1:epil"), 404, "digital_link.link_type_not_found")


def test_digital_link_lot_and_bad_paths(world: World) -> None:
    world.register(lot="LOTL")
    world.index()
    lot = world.public.get(f"/01/{GTIN}/10/LOTL", headers={"Accept": "application/json"})
    assert lot.status_code == 200 and lot.json()["verdict"] == "authentic"
    assert lot.json()["checks"]["serial_registered"] is False
    unknown_lot = world.public.get(f"/01/{GTIN}/10/NOSUCHLOT", headers={"Accept": "application/json"})
    assert unknown_lot.json()["verdict"] == "unknown"
    problem(world.public.get(f"/01/{GTIN}/21/A/10/L"), 422, "gs1.digital_link")  # qualifiers out of order
    problem(world.public.get(f"/01/{GTIN[:-1]}0/21/A"), 422, "gs1.check_digit")
    problem(world.public.get(f"/01/{GTIN}/21/A?17=991399"), 422, "gs1.date")
    problem(world.public.get(f"/01/{GTIN}/99/A"), 422, "gs1.digital_link")
    # the resolver does not shadow the other root routes
    assert world.public.get("/health").status_code == 200
    assert world.public.get("/docs").status_code == 200


# --------------------------------------------------------------------------------- products, QR


def test_public_product_facts_only_by_the_registrant(world: World) -> None:
    body = {"product_name": "Amoxicillin 500 mg", "manufacturer": "Acme", "leaflet_url": "https://acme.example/l.pdf"}
    problem(world.public.put(f"/v1/products/{GTIN}", json=body), 401, "auth.missing_key")
    problem(world.maker2.client.put(f"/v1/products/{GTIN}", json=body), 403, "products.not_registrant")
    problem(world.maker.client.put(f"/v1/products/{NEVER_GTIN}", json=body), 403, "products.not_registrant")
    problem(world.maker.client.put(f"/v1/products/{GTIN[:-1]}0", json=body), 422, "gs1.check_digit")
    problem(world.public.get(f"/v1/products/{NEVER_GTIN}"), 404, "products.not_found")
    put = world.maker.client.put(f"/v1/products/{GTIN}", json=body)
    assert put.status_code == 200, put.text
    got = world.public.get(f"/v1/products/{GTIN}").json()
    assert set(got) == {"gtin", "product_name", "manufacturer", "image_url", "leaflet_url", "updated_at"}
    assert (got["product_name"], got["manufacturer"]) == ("Amoxicillin 500 mg", "Acme")
    s = world.register()
    world.index()
    product = world.verify(serial=s)["product"]
    assert (product["product_name"], product["manufacturer"]) == ("Amoxicillin 500 mg", "Acme")
    leaflet = world.public.get(f"/01/{GTIN}/21/{s}?linkType=gs1:epil", follow_redirects=False)
    assert leaflet.status_code == 307 and leaflet.headers["location"] == "https://acme.example/l.pdf"


def test_qr_code_of_a_registered_item_only(world: World) -> None:
    s = world.register()
    world.index()
    svg = world.public.get(f"/v1/products/{GTIN}/items/{s}/qr", params={"format": "svg"})
    assert svg.status_code == 200 and svg.headers["content-type"] == "image/svg+xml"
    assert svg.text.lstrip().startswith("<?xml") and "<svg" in svg.text
    png = world.public.get(f"/v1/products/{GTIN}/items/{s}/qr", params={"format": "png"})
    assert png.status_code == 200 and png.content.startswith(b"\x89PNG")
    problem(world.public.get(f"/v1/products/{GTIN}/items/NOPE{s}/qr"), 404, "verify.not_registered")
    problem(world.public.get(f"/v1/products/{GTIN}/items/{s}/qr", params={"format": "gif"}), 422, "request.invalid")


# --------------------------------------------------------------------------------- DSCSA


def _dscsa(world: World, **fields: str) -> dict[str, Any]:
    corr = str(uuid.uuid4())
    body = {"corrUUID": corr, "requestorGLN": "0614141000036", "gtin": GTIN, **fields}
    response = world.public.post("/v1/dscsa/verify", json=body)
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    assert answer["corrUUID"] == corr and answer["requestorGLN"] == "0614141000036"
    assert answer["context"] == "dscsaSaleableReturn" and answer["verificationTimestamp"]
    return answer


def test_dscsa_verification_true_and_false_with_reasons(world: World) -> None:
    s = world.register(lot="LOTS", expiry=FUTURE)
    recalled = world.register(lot="LOTS", expiry=FUTURE)
    world.settle(world.maker, "/v1/recalls", {"object": {"gtin": GTIN, "serial": recalled}, "reason": "r"})
    world.index()
    ok = _dscsa(world, serialNumber=s, lotNumber="LOTS", expirationDate=yymmdd(FUTURE))
    assert ok["data"] == {"verified": True, "verificationFailureReason": None, "additionalInfo": []}
    cases = [
        ({"serialNumber": s, "lotNumber": "LOTX", "expirationDate": yymmdd(FUTURE)}, "No_match_GTIN_Serial_Lot"),
        ({"serialNumber": s, "lotNumber": "LOTS", "expirationDate": "300101"}, "No_match_GTIN_Serial_Expiry"),
        ({"serialNumber": s, "lotNumber": "X", "expirationDate": "300101"}, "No_match_GTIN_Serial_Lot_Expiry"),
        ({"serialNumber": "NOPE" + s, "lotNumber": "LOTS", "expirationDate": "300101"}, "No_match_GTIN_Serial"),
    ]
    for fields, reason in cases:
        data = _dscsa(world, **fields)["data"]
        assert (data["verified"], data["verificationFailureReason"]) == (False, reason)
    unknown = world.public.post("/v1/dscsa/verify", json={"corrUUID": str(uuid.uuid4()), "requestorGLN":
                                "0614141000036", "gtin": NEVER_GTIN, "serialNumber": "A", "lotNumber": "L",
                                "expirationDate": "300101"})  # fmt: skip
    assert unknown.json()["data"]["verificationFailureReason"] == "No_match_GTIN"
    flagged = _dscsa(world, serialNumber=recalled, lotNumber="LOTS", expirationDate=FUTURE.isoformat())["data"]
    assert flagged == {"verified": True, "verificationFailureReason": None, "additionalInfo": ["Recalled"]}
    bad = {"corrUUID": str(uuid.uuid4()), "requestorGLN": "0614141000037", "gtin": GTIN, "serialNumber": s,
           "lotNumber": "LOTS", "expirationDate": "300101"}  # fmt: skip
    assert problem(world.public.post("/v1/dscsa/verify", json=bad), 422, "gs1.check_digit")["field"] == "requestorGLN"
    problem(world.public.post("/v1/dscsa/verify", json={**bad, "corrUUID": "nope"}), 422, "request.invalid")


# --------------------------------------------------------------------------------- reports, suspects


def test_reports_and_suspects_by_key(world: World) -> None:
    mine = world.register()
    world.index()
    report = {"gtin": GTIN, "serial": mine, "description": "Pills look odd", "place": "DE"}
    created = world.public.post("/v1/verify/reports", json=report)
    assert created.status_code == 201, created.text
    report_id = created.json()["report_id"]
    assert set(created.json()) == {"report_id"}
    other = world.public.post("/v1/verify/reports", json={"gtin": OTHER_GTIN, "serial": "FAKE1", "description": "x"})
    assert other.status_code == 201
    problem(world.public.post("/v1/verify/reports", json={"gtin": GTIN, "serial": "A", "description": "x" * 2001}),
            422, "request.invalid")  # fmt: skip
    problem(world.public.post("/v1/verify/reports", json={"gtin": GTIN, "serial": "A", "description": ""}),
            422, "request.invalid")  # fmt: skip
    world.verify(serial="NEVER" + mine)  # an unknown serial of a known GTIN: a suspect scan

    problem(world.public.get("/v1/audit/suspects"), 401, "auth.missing_key")
    everything = world.auditor.client.get("/v1/audit/suspects")
    assert everything.status_code == 200, everything.text
    seen = everything.json()
    assert seen["scope"] == "all" and seen["gtins"] is None
    ids = {r["report_id"] for r in seen["reports"]}
    assert report_id in ids and other.json()["report_id"] in ids
    mine_report = next(r for r in seen["reports"] if r["report_id"] == report_id)
    assert (mine_report["description"], mine_report["country"], mine_report["verdict"]) == ("Pills look odd", "DE",
                                                                                           "authentic")  # fmt: skip
    assert any(x["serial"] == "NEVER" + mine and "unknown_serial_of_known_gtin" in x["signals"]
               for x in seen["suspect_serials"])  # fmt: skip

    scoped = world.maker.client.get("/v1/audit/suspects").json()
    assert scoped["scope"] == "registered_gtins" and GTIN in scoped["gtins"] and OTHER_GTIN not in scoped["gtins"]
    assert {r["gtin"] for r in scoped["reports"]} == {GTIN}
    assert report_id in {r["report_id"] for r in scoped["reports"]}
    assert {x["gtin"] for x in scoped["suspect_serials"]} <= {*scoped["gtins"]}
    other_view = world.maker2.client.get("/v1/audit/suspects").json()
    assert report_id not in {r["report_id"] for r in other_view["reports"]}


# --------------------------------------------------------------------------------- rate limiting


@contextlib.contextmanager
def _limited_gateway(gateway: Gateway, anvil: AnvilNode, trust_forwarded_for: bool) -> Iterator[str]:
    """A second app on the same database with a tiny bucket (3 requests, then 1 per 100 s)."""
    settings = gateway.settings.model_copy(update={
        "gateway_port": free_port(), "run_worker": False, "run_indexer": False,
        "verify_rate_per_second": 0.01, "verify_rate_burst": 3, "verify_trust_forwarded_for": trust_forwarded_for,
    })  # fmt: skip
    app = create_app(settings, rpc_url=anvil.rpc_url)
    server = uvicorn.Server(server_config(app, host="127.0.0.1", port=settings.gateway_port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "the throttled gateway did not start"
        time.sleep(0.02)
    yield f"http://127.0.0.1:{settings.gateway_port}"
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def throttled(gateway: Gateway, anvil: AnvilNode) -> Iterator[str]:
    """Limited per client by the first X-Forwarded-For hop (CUSTODY_VERIFY_TRUST_FORWARDED_FOR)."""
    with _limited_gateway(gateway, anvil, trust_forwarded_for=True) as url:
        yield url


def test_rate_limit_429_with_retry_after_per_client(throttled: str) -> None:
    with httpx.Client(base_url=throttled) as client:
        params = {"gtin": NEVER_GTIN, "serial": "RL1"}
        a = {"X-Forwarded-For": "203.0.113.7, 10.0.0.1"}
        statuses = [client.get("/v1/verify", params=params, headers=a).status_code for _ in range(4)]
        assert statuses == [200, 200, 200, 429]
        limited = client.get(f"/01/{NEVER_GTIN}/21/RL1", headers={**a, "Accept": "application/json"})
        body = problem(limited, 429, "rate_limited")
        assert int(limited.headers["retry-after"]) >= 1 and body["status"] == 429
        # another client (by X-Forwarded-For, trusted here) has its own bucket
        b = {"X-Forwarded-For": "198.51.100.9"}
        assert client.get("/v1/verify", params=params, headers=b).status_code == 200
        # the partner and health routes are not limited
        assert client.get("/health", headers=a).status_code == 200


def test_rate_limit_by_the_client_uvicorn_takes_from_a_trusted_proxy(
    gateway: Gateway, anvil: AnvilNode, answered_here: list[bytes]
) -> None:
    """Without trusting X-Forwarded-For for the limit, a request from a proxy uvicorn trusts
    (127.0.0.1) counts against the client uvicorn's proxy-headers middleware names; answered by the
    protocol or by the app, the same client and the same bucket."""
    with _limited_gateway(gateway, anvil, trust_forwarded_for=False) as url, httpx.Client(base_url=url) as client:
        params = {"gtin": NEVER_GTIN, "serial": "RL2"}
        a = {"X-Forwarded-For": "203.0.113.8"}
        assert [client.get("/v1/verify", params=params, headers=a).status_code for _ in range(4)] == [200] * 3 + [429]
        assert len(answered_here) == 3  # the 429 is the app's
        assert client.get("/v1/verify", params=params, headers={"X-Forwarded-For": "198.51.100.10"}).status_code == 200
        assert client.get("/v1/verify", params=params).status_code == 200  # 127.0.0.1 itself
