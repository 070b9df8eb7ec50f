"""The auditor API (/v1/audit: custody, trace, recall) over real HTTP: the generated four-tier network
is built on the gateway's own ledger (partners onboarded through the admin API), indexed by the
gateway's indexer, and every answer compared with the generator's ground truth."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from chain_client import gs1
from chain_client.ledger import shipment_subject
from chain_client.models import DocumentType, PartnerRole, Status
from chain_client.node import AnvilNode
from chain_client.signers import LocalSigner
from tests.conftest import Gateway
from tests.supplynet import PHASE_GAP, TIERS, Actor, SupplyNet, build_supply_net, fund, new_gln

pytestmark = pytest.mark.integration

PROBLEM = "application/problem+json"
GTIN = "20614141000016"  # the product's GTIN (item reference 200001)
EVIL_NAME = 'Pharmacy <script>alert("x")</script> & Sons'


@dataclass
class Api:
    gateway: Gateway
    net: SupplyNet
    auditor: httpx.Client
    partner_clients: dict[str, httpx.Client]
    anonymous: httpx.Client

    def catch_up(self) -> None:
        self.gateway.services.indexer.catch_up()


def _role(role: PartnerRole) -> str:
    return role.name.lower()


@pytest.fixture(scope="module")
def api(gateway: Gateway, anvil: AnvilNode) -> Iterator[Api]:
    admin = gateway.client(gateway.admin_key)
    services, rpc_url = gateway.services, anvil.rpc_url
    actors: dict[str, Actor] = {}
    clients: dict[str, httpx.Client] = {}
    for name, role in TIERS:
        signer = LocalSigner.generate()
        fund(rpc_url, signer.address)
        display = EVIL_NAME if name == "pharmacy" else f"{name} (api)"
        body = {
            "name": display, "role": _role(role), "glns": [new_gln()], "accounts": [signer.address],
            "custodial": name == "manufacturer",  # it starts the recall through the outbox
        }  # fmt: skip
        response = admin.post("/v1/admin/partners", json=body)
        assert response.status_code == 201, response.text
        p = response.json()
        actor = Actor(display, role, signer, body["glns"][0], p["partner_id"], services.ledger.as_signer(signer))  # type: ignore[index]
        actors[name] = actor
        clients[name] = gateway.client(p["api_key"]["key"])
    key = admin.post("/v1/admin/api-keys", json={"kind": "auditor", "name": "audit test"})
    assert key.status_code == 201, key.text
    net = build_supply_net(actors, rpc_url)
    # documents: a certificate on the product lot's item I1, a bill of lading on C1's last shipment
    m = actors["manufacturer"].ledger
    m.anchor_document(
        net["I1"], DocumentType.CERTIFICATE_OF_ANALYSIS, bytes((0x12, 0x20)) + hashlib.sha256(b"coa").digest()
    )
    result = Api(gateway, net, gateway.client(key.json()["key"]), clients, gateway.client())
    result.catch_up()
    yield result
    for client in [admin, result.auditor, result.anonymous, *clients.values()]:
        client.close()


def problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    body: dict[str, Any] = response.json()
    assert body["code"] == code, body
    return body


def trace_ids(body: dict[str, Any]) -> dict[str, int]:
    return {o["object_id"]: o["depth"] for o in body["objects"]}


# ------------------------------------------------------------------------------------------ trace


def test_backward_trace_by_every_identifier_form(api: Api) -> None:
    net = api.net
    urn = net.epcs[net["I1"]]
    sgtin = gs1.parse_epc_urn(urn)
    assert isinstance(sgtin, gs1.Sgtin)
    expected = net.expected_trace("I1", "backward")
    for identifier in (net["I1"], urn, sgtin.digital_link(), f"(01){sgtin.gtin.value}(21){sgtin.serial}"):
        response = api.auditor.get("/v1/audit/trace/backward", params={"id": identifier})
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["root"] == net["I1"] and body["direction"] == "backward"
        assert trace_ids(body) == expected.depths
        assert {p["partner_id"] for p in body["partners"]} == expected.partners
        assert {loc["gln"] for loc in body["locations"]} == expected.glns
    assert {net.name_of(i) for i in expected.depths} == {"I1", "P", "C1", "A1", "B", "PL1", "A"}


def test_forward_trace_with_depth_and_window(api: Api) -> None:
    net = api.net
    full = api.auditor.get("/v1/audit/trace/forward", params={"id": net["A"]}).json()
    assert trace_ids(full) == net.expected_trace("A", "forward").depths
    shallow = api.auditor.get("/v1/audit/trace/forward", params={"id": net["A"], "max_depth": 2}).json()
    assert trace_ids(shallow) == net.expected_trace("A", "forward", max_depth=2).depths
    since = net.phase_started[3]
    windowed = api.auditor.get("/v1/audit/trace/backward", params={"id": net["I9"], "since": since.isoformat()}).json()
    assert trace_ids(windowed) == net.expected_trace("I9", "backward", since=since).depths
    assert {net.name_of(i) for i in trace_ids(windowed)} == {"I9", "C3", "PL2"}
    edges = {(net.name_of(e["source"]), net.name_of(e["target"]), e["relation"]) for e in full["edges"]}
    assert ("A", "A1", "split") in edges and ("C3", "PL2", "packed_in") in edges


def traced_requests(api: Api) -> dict[str, int]:
    body = api.auditor.get("/v1/audit/kpis").json()
    (kpi,) = [k for k in body["kpis"] if k["name"] == "traceability_response_time"]
    return dict(kpi["details"]["requests_by_kind"])


def test_trace_and_recall_scope_requests_count_in_the_response_time_kpi(api: Api) -> None:
    before = traced_requests(api)
    assert api.auditor.get("/v1/audit/trace/forward", params={"id": api.net["A"]}).status_code == 200
    assert api.auditor.get("/v1/audit/recalls/scope", params={"id": api.net["A"]}).status_code == 200
    after = traced_requests(api)
    assert after.get("trace", 0) == before.get("trace", 0) + 1
    assert after.get("recall_scope", 0) == before.get("recall_scope", 0) + 1


# ------------------------------------------------------------------------------------------ custody


def test_chain_of_custody_json_has_partners_places_documents_and_transactions(api: Api) -> None:
    net, a = api.net, api.net.actors
    body = api.auditor.get("/v1/audit/custody", params={"id": net.epcs[net["I1"]]}).json()
    assert body["object"]["object_id"] == net["I1"] and body["object"]["custodian"]["name"] == EVIL_NAME
    events = [(e["event"], e["custodian"]["partner_id"] if e["custodian"] else None, e["gln"]) for e in body["events"]]
    m, d, ph = a["manufacturer"], a["distributor"], a["pharmacy"]
    assert [x for x in events if x[0] in ("registered", "shipped", "received")] == [
        ("registered", m.id, None), ("shipped", m.id, m.gln), ("received", d.id, d.gln),
        ("shipped", d.id, d.gln), ("received", ph.id, ph.gln),
    ]  # fmt: skip
    anchored = [e for e in body["events"] if e["event"] == "document_anchored"]
    assert len(anchored) == 1 and anchored[0]["partner"]["partner_id"] == m.id
    doc = anchored[0]["documents"][0]
    assert doc["doc_type"] == "CERTIFICATE_OF_ANALYSIS" and doc["url"] == f"/ipfs/{doc['cid']}"
    assert doc["cid"].startswith("Qm") and body["documents"] == [doc]
    assert all(e["tx_hash"].startswith("0x") and e["block_number"] > 0 for e in body["events"])


def test_shipment_documents_are_linked_to_the_shipment_events(api: Api) -> None:
    net, a = api.net, api.net.actors
    shipped = api.auditor.get("/v1/audit/custody", params={"id": net["C2"]}).json()
    last_shipment = [e["shipment_id"] for e in shipped["events"] if e["event"] == "shipped"][-1]
    cid = bytes((0x12, 0x20)) + hashlib.sha256(b"bill of lading").digest()
    a["distributor"].ledger.anchor_document(shipment_subject(last_shipment), DocumentType.BILL_OF_LADING, cid)
    api.catch_up()
    body = api.auditor.get("/v1/audit/custody", params={"id": net["I5"]}).json()  # in C2
    linked = [e for e in body["events"] if e["shipment_id"] == last_shipment and e["event"] != "document_anchored"]
    assert {e["event"] for e in linked} >= {"shipped", "received"}
    assert all(doc["doc_type"] == "BILL_OF_LADING" for e in linked for doc in e["documents"])
    assert all(len(e["documents"]) == 1 for e in linked)


def test_printable_report_is_self_contained_and_escaped(api: Api) -> None:
    net = api.net
    response = api.auditor.get("/v1/audit/custody/report", params={"id": net["I1"]})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    html = response.text
    assert html.startswith("<!DOCTYPE html>") and net.epcs[net["I1"]] in html
    assert "<script" not in html and "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; Sons" in html
    assert "http://" not in html and "https://" not in html and " src=" not in html
    assert "/ipfs/Qm" in html and "CERTIFICATE_OF_ANALYSIS".lower() in html
    assert "default-src 'none'" in response.headers["content-security-policy"]


# ------------------------------------------------------------------------------------------ recall


def settle(client: httpx.Client, submission_id: str, timeout: float = 60.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        body: dict[str, Any] = client.get(f"/v1/submissions/{submission_id}").json()
        if body["status"] in ("confirmed", "failed"):
            return body
        assert time.monotonic() < deadline, body
        time.sleep(0.05)


def progress(api: Api) -> dict[str, Any]:
    api.catch_up()
    response = api.auditor.get("/v1/audit/recalls/progress", params={"id": api.net["P"]})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_recall_scope_start_and_completion(api: Api) -> None:
    net, a = api.net, api.net.actors
    subjects, containers, co_packed, holdings = net.expected_recall("P")
    lot = gs1.parse_epc_urn(net.epcs[net["P"]])
    assert isinstance(lot, gs1.Lgtin)
    by_id = api.auditor.get("/v1/audit/recalls/scope", params={"id": net["P"]}).json()
    day = net.production_day.isoformat()
    by_gtin = api.auditor.get(
        "/v1/audit/recalls/scope", params={"gtin": lot.gtin.value, "date_from": day, "date_to": day}
    ).json()
    for scope in (by_id, by_gtin):
        roles = {
            role: {o["object_id"] for o in scope["objects"] if o["role"] == role}
            for role in ("subject", "container", "co_packed")
        }
        assert roles == {"subject": subjects, "container": containers, "co_packed": co_packed}
        assert {h["partner"]["partner_id"]: set(h["holding"]) for h in scope["holdings"]} == holdings
    problem(api.auditor.get("/v1/audit/recalls/progress", params={"id": net["P"]}), 404, "audit.recall_not_found")

    maker = api.partner_clients["manufacturer"]
    started = maker.post("/v1/audit/recalls", json={"objects": [net.epcs[net["P"]]], "reason": "contaminated"})
    assert started.status_code == 202, started.text
    body = started.json()
    assert {s["object_ids"][0] for s in body["submissions"]} == subjects
    assert body["submissions"][0]["object_ids"] == [net["P"]] and body["skipped"] == []
    assert all(settle(maker, s["id"])["status"] == "confirmed" for s in body["submissions"])

    first = progress(api)
    assert first["initiated_by"] == a["manufacturer"].id and first["reason"] == "contaminated"
    assert (first["counts"]["returned"], first["counts"]["outstanding"]) == (1, 12)
    assert first["completion_percent"] == round(100 / 13, 2) and first["completed_at"] is None

    net.set_status([f"I{k}" for k in range(1, 5)], Status.DECOMMISSIONED, a["pharmacy"], "destroyed")
    net.set_status(["PL2"], Status.QUARANTINED, a["distributor"], "recall hold")
    second = progress(api)
    counts = second["counts"]
    assert (counts["destroyed"], counts["quarantined"], counts["returned"], counts["outstanding"]) == (4, 4, 1, 4)
    assert second["completion_percent"] == round(900 / 13, 2)
    states = {net.name_of(o["object_id"]): o["state"] for o in second["objects"]}
    assert states["I1"] == "destroyed" and states["I9"] == "quarantined" and states["I5"] == "outstanding"

    net.next_phase()  # chain time moves on: blocks mined within one second share a timestamp
    net.set_status(["C2"], Status.DECOMMISSIONED, a["retailer"], "destroyed")  # the case and all in it
    done = progress(api)
    assert done["completion_percent"] == 100.0 and done["time_to_completion_seconds"] >= PHASE_GAP
    assert done["completed_at"] is not None

    # started again: everything is recalled or destroyed already, so nothing is submitted
    again = maker.post("/v1/audit/recalls", json={"objects": [net["P"]], "reason": "again"})
    assert again.status_code == 202, again.text
    assert again.json()["submissions"] == []
    assert {x["reason"] for x in again.json()["skipped"]} == {"recalled", "decommissioned"}


# ------------------------------------------------------------------------------------------ bad requests


def test_bad_audit_queries_get_stable_problems(api: Api) -> None:
    net, auditor = api.net, api.auditor
    missing = "0x" + "cd" * 32
    problem(auditor.get("/v1/audit/trace/backward", params={"id": missing}), 404, "audit.object_not_found")
    problem(auditor.get("/v1/audit/custody", params={"id": missing}), 404, "audit.object_not_found")
    problem(auditor.get("/v1/audit/custody/report", params={"id": missing}), 404, "audit.object_not_found")
    unknown_urn = net.epcs[net["I1"]] + "Z"
    problem(auditor.get("/v1/audit/trace/forward", params={"id": unknown_urn}), 404, "audit.object_not_found")
    problem(auditor.get("/v1/audit/trace/forward", params={"id": "0x1234"}), 422, "audit.invalid_identifier")
    bad_gtin = problem(
        auditor.get("/v1/audit/custody", params={"id": f"(01){GTIN[:-1]}3(21)X"}), 422, "gs1.check_digit"
    )
    assert bad_gtin["field"] == "id"
    problem(auditor.get("/v1/audit/custody", params={"id": "urn:epc:id:sgtin:nope"}), 422, "gs1.epc_urn")
    problem(auditor.get("/v1/audit/custody", params={"id": f"(01){GTIN}"}), 422, "audit.identifier_incomplete")
    problem(
        auditor.get("/v1/audit/trace/forward", params={"id": net["A"], "max_depth": -1}), 422, "audit.invalid_depth"
    )
    problem(auditor.get("/v1/audit/trace/forward", params={"id": net["A"], "max_depth": "x"}), 422, "request.invalid")
    window = {"id": net["A"], "since": "2026-05-02T00:00:00Z", "until": "2026-05-01T00:00:00Z"}
    problem(auditor.get("/v1/audit/trace/forward", params=window), 422, "audit.invalid_window")
    problem(
        auditor.get("/v1/audit/trace/forward", params={"id": net["A"], "since": "yesterday"}), 422, "request.invalid"
    )
    problem(auditor.get("/v1/audit/trace/forward"), 422, "request.invalid")
    problem(auditor.get("/v1/audit/recalls/scope"), 422, "audit.recall_target")
    problem(auditor.get("/v1/audit/recalls/scope", params={"gtin": "123"}), 422, "gs1.length")


def test_audit_routes_need_an_auditor_key(api: Api) -> None:
    net = api.net
    partner = api.partner_clients["distributor"]
    for path in ("/v1/audit/custody", "/v1/audit/custody/report", "/v1/audit/trace/backward",
                 "/v1/audit/trace/forward", "/v1/audit/recalls/progress"):  # fmt: skip
        problem(partner.get(path, params={"id": net["A"]}), 403, "auth.forbidden")
        problem(api.anonymous.get(path, params={"id": net["A"]}), 401, "auth.missing_key")
    problem(partner.get("/v1/audit/recalls/scope", params={"id": net["A"]}), 403, "auth.forbidden")


def test_starting_a_recall_needs_the_registrants_partner_key(api: Api) -> None:
    net = api.net
    body = {"objects": [net["B"]], "reason": "contaminated"}
    problem(api.auditor.post("/v1/audit/recalls", json=body), 403, "auth.forbidden")  # auditors only read
    problem(api.anonymous.post("/v1/audit/recalls", json=body), 401, "auth.missing_key")
    maker = api.partner_clients["manufacturer"]
    problem(maker.post("/v1/audit/recalls", json=body), 422, "audit.not_registrant")  # supplier2 registered B
    both = {"objects": [net["B"]], "gtin": "00614141200001", "reason": "x"}
    problem(maker.post("/v1/audit/recalls", json=both), 422, "request.invalid")
    problem(maker.post("/v1/audit/recalls", json={"objects": [net["B"]], "reason": ""}), 422, "request.invalid")
    unknown = {"objects": ["0x" + "ef" * 32], "reason": "x"}
    problem(maker.post("/v1/audit/recalls", json=unknown), 404, "audit.object_not_found")
