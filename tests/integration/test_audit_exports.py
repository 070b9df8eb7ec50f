"""Auditor exports over real HTTP against a real Anvil node: EPCIS 2.0, FSMA 204, DSCSA, KPIs,
the integrity audit and the live feed.

The module runs its own gateway (own ledger, database and document store; Anvil dev accounts 12
and 13 as admin and relayer) so that the KPIs see this module's supply flow and nothing else. The
flow goes through the partner API: items packed in a case, a lot transformed into another, both
shipped with two-phase custody (one rejected and shipped again), an anchored bill of lading and
transaction statement, a cancelled shipment, a failed submission, a recall resolved by quarantine.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import itertools
import json
import queue
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import openpyxl
import pytest
import uvicorn
from pydantic import SecretStr
from sqlalchemy import update

from chain_client import gs1
from chain_client.ledger import object_id
from chain_client.node import ANVIL_DEFAULT_MNEMONIC, AnvilNode, free_port
from chain_client.signers import LocalSigner
from gateway.audit import fsma
from gateway.core.config import Settings
from gateway.core.services import Services
from gateway.documents.cid import Cid
from gateway.documents.store import EmbeddedDocumentStore
from gateway.epcis.document import EventList
from gateway.epcis.locations import LedgerLocations
from gateway.epcis.mapping import map_events
from gateway.epcis.schema import check_document
from gateway.indexer import tables as t
from gateway.main import create_app
from gateway.partner import operations as ops
from gateway.stack import ensure_deployed
from tests.conftest import Gateway

pytestmark = pytest.mark.integration

PROBLEM = "application/problem+json"
MAKER_GLN, DISTRIBUTOR_GLN, PHARMACY_GLN = "0614141000005", "0614141000029", "0614141000036"
_n = itertools.count(1)


def gtin(reference: str) -> str:
    body = "00614141" + reference
    return body + str(gs1.gs1_check_digit(body))


ITEM_GTIN, RAW_GTIN, FOOD_GTIN = gtin("81234"), gtin("71234"), gtin("61234")
RAW_URN, FOOD_URN = gs1.Lgtin(gs1.Gtin(RAW_GTIN), "TLC1").epc_urn, gs1.Lgtin(gs1.Gtin(FOOD_GTIN), "TLC2").epc_urn


def sscc(serial: int) -> str:
    body = f"00614141{serial:09d}"
    return body + str(gs1.gs1_check_digit(body))


def sgtin_urn(serial: str) -> str:
    return gs1.Sgtin(gs1.Gtin(ITEM_GTIN), serial).epc_urn


def sgln(gln: str) -> str:
    return gs1.Gln(gln).epc_urn


def _key(index: int) -> SecretStr:
    return SecretStr("0x" + LocalSigner.from_mnemonic(ANVIL_DEFAULT_MNEMONIC, index).private_key.hex())


@pytest.fixture(scope="module")
def audit_gateway(anvil: AnvilNode, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    settings = Settings(
        data_dir=tmp_path_factory.mktemp("audit-exports-gateway"), gateway_port=free_port(),
        keystore_passphrase=SecretStr("test-passphrase"), keystore_scrypt_n=2**12, deployer_key=_key(12),
        relayer_key=_key(13), ipfs_blockstore="flatfs",
    )  # fmt: skip
    ensure_deployed(settings, anvil.rpc_url)
    app = create_app(settings, rpc_url=anvil.rpc_url)
    services: Services = app.state.services
    admin_key = services.api_keys.create("admin", name="audit exports admin").key
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=settings.gateway_port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the audit exports gateway did not start")
        time.sleep(0.02)
    yield Gateway(f"http://127.0.0.1:{settings.gateway_port}", settings, server, services, admin_key)
    server.should_exit = True
    thread.join(timeout=10)


@dataclass
class Party:
    id: int
    key: str
    client: httpx.Client


@dataclass
class Flow:
    gateway: Gateway
    maker: Party
    distributor: Party
    pharmacy: Party
    auditor: httpx.Client
    ids: dict[str, str] = field(default_factory=dict)  # name -> object id
    subs: dict[str, dict[str, Any]] = field(default_factory=dict)  # step -> final submission
    shipments: dict[str, int] = field(default_factory=dict)
    submissions: int = 0  # finished submissions made (confirmed or failed)
    failed: int = 0
    corrections: int = 0
    documents: dict[str, str] = field(default_factory=dict)  # name -> CID
    trace_requests: int = 0

    def time_of(self, step: str) -> dt.datetime:
        block = self.gateway.services.chain.w3.eth.get_block(self.subs[step]["block_number"])
        return dt.datetime.fromtimestamp(block["timestamp"], dt.UTC)

    def tx(self, step: str) -> str:
        return str(self.subs[step]["tx_hash"])

    def catch_up(self) -> None:
        self.gateway.services.indexer.catch_up()


def settle(client: httpx.Client, submission_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 30
    while True:
        body: dict[str, Any] = client.get(f"/v1/submissions/{submission_id}").json()
        if body["status"] in ("confirmed", "failed"):
            return body
        assert time.monotonic() < deadline, body
        time.sleep(0.03)


def step(flow: Flow, name: str, party: Party, path: str, body: dict[str, Any], ok: bool = True) -> dict[str, Any]:
    response = party.client.post(path, json=body)
    assert response.status_code == 202, response.text
    final = settle(party.client, response.json()["id"])
    assert final["status"] == ("confirmed" if ok else "failed"), final
    flow.subs[name] = final
    flow.submissions += 1
    return final


def onboard(admin: httpx.Client, gateway: Gateway, name: str, role: str, glns: list[str]) -> Party:
    response = admin.post("/v1/admin/partners", json={"name": name, "role": role, "glns": glns})
    assert response.status_code == 201, response.text
    body = response.json()
    return Party(body["partner_id"], body["api_key"]["key"], gateway.client(body["api_key"]["key"]))


def shipment_of(final: dict[str, Any]) -> int:
    return int(next(e for e in final["events"] if e["event"] == "ShipmentDispatched")["shipment_id"])


@pytest.fixture(scope="module")
def flow(audit_gateway: Gateway) -> Iterator[Flow]:
    admin = audit_gateway.client(audit_gateway.admin_key)
    maker = onboard(admin, audit_gateway, "Acme Farms & Packing", "manufacturer", [MAKER_GLN])
    distributor = onboard(admin, audit_gateway, "Fresh Distribution", "distributor", [DISTRIBUTOR_GLN])
    pharmacy = onboard(admin, audit_gateway, "Corner Pharmacy", "dispenser", [PHARMACY_GLN])
    auditor = onboard(admin, audit_gateway, "FDA Auditor", "auditor", [])
    f = Flow(audit_gateway, maker, distributor, pharmacy, auditor.client)
    expiry = "2031-03-31"
    items = [{"gtin": ITEM_GTIN, "serial": s, "lot": "LA", "expiry_date": expiry, "origin_gln": MAKER_GLN}
             for s in ("A1", "A2")]  # fmt: skip
    step(f, "register_items", maker, "/v1/items", {"items": items})
    step(f, "register_raw", maker, "/v1/lots", {"lot": {"gtin": RAW_GTIN, "lot": "TLC1", "quantity": 1000,
         "unit_of_measure": "KGM", "origin_gln": MAKER_GLN, "production_date": "2026-11-01"}})  # fmt: skip
    case = sscc(next(_n) + 100)
    step(f, "register_case", maker, "/v1/logistic-units", {"ssccs": [case]})
    f.ids |= {"A1": object_id(sgtin_urn("A1")), "A2": object_id(sgtin_urn("A2")),
              "case": object_id(gs1.Sscc(case).epc_urn), "raw": object_id(RAW_URN),
              "food": object_id(FOOD_URN)}  # fmt: skip
    f.ids["case_urn"] = gs1.Sscc(case).epc_urn
    step(f, "pack", maker, "/v1/aggregations/pack", {"parent": {"sscc": case},
         "children": [{"gtin": ITEM_GTIN, "serial": "A1"}, {"gtin": ITEM_GTIN, "serial": "A2"}]})  # fmt: skip
    step(f, "transform", maker, "/v1/transformations", {
        "inputs": [{"object": {"gtin": RAW_GTIN, "lot": "TLC1"}, "quantity": 300}],
        "lot_outputs": [{"gtin": FOOD_GTIN, "lot": "TLC2", "quantity": 300, "unit_of_measure": "KGM",
                         "origin_gln": MAKER_GLN}],
    })  # fmt: skip
    final = step(f, "ship_case", maker, "/v1/shipments", {"objects": [{"sscc": case}], "receiver": distributor.id,
                 "ship_from_gln": MAKER_GLN, "ship_to_gln": DISTRIBUTOR_GLN, "transfer_ownership": True})  # fmt: skip
    f.shipments["case"] = shipment_of(final)
    final = step(f, "ship_food", maker, "/v1/shipments", {"objects": [{"gtin": FOOD_GTIN, "lot": "TLC2"}],
                 "receiver": distributor.id, "ship_from_gln": MAKER_GLN, "ship_to_gln": DISTRIBUTOR_GLN})  # fmt: skip
    f.shipments["food"] = shipment_of(final)
    for name, cid_step, doc_type in (
        ("bol", "anchor_bol", "bill_of_lading"),
        ("ts", "anchor_ts", "transaction_statement"),
    ):
        data = f"{name} of shipment {f.shipments['case']} {time.time()}".encode()
        form = {"document_type": doc_type, "shipment_id": str(f.shipments["case"])}
        response = maker.client.post("/v1/documents", data=form, files={"file": (f"{name}.txt", data)})
        assert response.status_code == 202, response.text
        f.documents[name] = response.json()["cid"]
        final = settle(maker.client, response.json()["submission"]["id"])
        assert final["status"] == "confirmed", final
        f.subs[cid_step] = final
        f.submissions += 1
    step(f, "receive_case", distributor, "/v1/receipts", {"objects": [{"sscc": case}], "gln": DISTRIBUTOR_GLN})
    step(f, "receive_food", distributor, "/v1/receipts", {"objects": [{"gtin": FOOD_GTIN, "lot": "TLC2"}],
         "gln": DISTRIBUTOR_GLN})  # fmt: skip
    final = step(f, "ship_case_2", distributor, "/v1/shipments", {"objects": [{"sscc": case}], "receiver": pharmacy.id})
    f.shipments["case_2"] = shipment_of(final)
    step(f, "reject_case", pharmacy, "/v1/rejections", {"objects": [{"sscc": case}], "reason": "damaged"})
    final = step(f, "ship_case_3", distributor, "/v1/shipments", {"objects": [{"sscc": case}], "receiver": pharmacy.id})
    f.shipments["case_3"] = shipment_of(final)
    step(f, "receive_case_3", pharmacy, "/v1/receipts", {"objects": [{"sscc": case}], "gln": PHARMACY_GLN})
    # a correction (a shipment withdrawn) and a failure (receiving what was withdrawn)
    step(f, "register_a3", maker, "/v1/items", {"items": [{"gtin": ITEM_GTIN, "serial": "A3"}]})
    f.ids["A3"] = object_id(sgtin_urn("A3"))
    final = step(f, "ship_a3", maker, "/v1/shipments", {"objects": [{"gtin": ITEM_GTIN, "serial": "A3"}],
                 "receiver": pharmacy.id})  # fmt: skip
    f.shipments["a3"] = shipment_of(final)
    step(f, "cancel_a3", maker, "/v1/shipment-cancellations", {"objects": [{"gtin": ITEM_GTIN, "serial": "A3"}]})
    f.corrections += 1
    step(f, "receive_a3", pharmacy, "/v1/receipts", {"objects": [{"gtin": ITEM_GTIN, "serial": "A3"}]}, ok=False)
    f.failed += 1
    # a recall of the raw lot: it is at the maker's; its output (at the distributor's) gets quarantined
    step(f, "recall", maker, "/v1/recalls", {"object": {"gtin": RAW_GTIN, "lot": "TLC1"}, "reason": "listeria"})
    step(f, "quarantine", distributor, "/v1/status-changes", {"objects": [{"gtin": FOOD_GTIN, "lot": "TLC2"}],
         "status": "quarantined", "reason": "recalled_input"})  # fmt: skip
    f.catch_up()
    yield f
    for client in (maker.client, distributor.client, pharmacy.client, auditor.client, admin):
        client.close()


# ------------------------------------------------------------------------------------------ EPCIS


def epcis(flow: Flow, **params: str) -> dict[str, Any]:
    response = flow.auditor.get("/v1/audit/epcis/events", params=params)
    assert response.status_code == 200, response.text
    flow.trace_requests += 1
    assert response.headers["gs1-epcis-version"] == "2.0.0"
    document: dict[str, Any] = response.json()
    check_document(document)  # the GS1 EPCIS 2.0 JSON schema the capture uses
    assert document["type"] == "EPCISQueryDocument"
    events: list[dict[str, Any]] = document["epcisBody"]["queryResults"]["resultsBody"]["eventList"]
    return {"document": document, "events": events, "response": response}


def summary(events: list[dict[str, Any]]) -> list[tuple[str, str | None, str]]:
    return [(e["type"], e.get("bizStep"), e["custody:txHash"]) for e in events]


def expected_events(flow: Flow) -> list[tuple[str, str | None, str]]:
    """Every EPCIS event of the flow, in chain order, as (type, bizStep, transaction)."""
    o, a, tr = "ObjectEvent", "AggregationEvent", "TransformationEvent"
    return [
        (o, "commissioning", flow.tx("register_items")), (o, "commissioning", flow.tx("register_raw")),
        (o, "commissioning", flow.tx("register_case")), (a, "packing", flow.tx("pack")),
        (tr, "commissioning", flow.tx("transform")), (o, "shipping", flow.tx("ship_case")),
        (o, "shipping", flow.tx("ship_food")), (o, "receiving", flow.tx("receive_case")),
        (o, "receiving", flow.tx("receive_food")), (o, "shipping", flow.tx("ship_case_2")),
        (o, "inspecting", flow.tx("reject_case")), (o, "shipping", flow.tx("ship_case_3")),
        (o, "receiving", flow.tx("receive_case_3")), (o, "commissioning", flow.tx("register_a3")),
        (o, "shipping", flow.tx("ship_a3")), (o, "void_shipping", flow.tx("cancel_a3")),
        (o, "holding", flow.tx("recall")), (o, "holding", flow.tx("quarantine")),
    ]  # fmt: skip


def test_epcis_export_has_every_event_of_the_flow_and_validates(flow: Flow) -> None:
    found = epcis(flow)
    assert summary(found["events"]) == expected_events(flow)
    assert found["response"].headers["content-type"].startswith("application/ld+json")
    by_step = {(e["bizStep"], e["custody:txHash"]): e for e in found["events"]}
    ship = by_step[("shipping", flow.tx("ship_case"))]
    assert ship["epcList"] == [flow.ids["case_urn"]] and ship["disposition"] == "in_transit"
    assert {"type": "location", "source": sgln(MAKER_GLN)} in ship["sourceList"]
    assert {"type": "location", "destination": sgln(DISTRIBUTOR_GLN)} in ship["destinationList"]
    assert {"type": "owning_party", "destination": "urn:epc:id:pgln:0614141.00002"} in ship["destinationList"]
    receive = by_step[("receiving", flow.tx("receive_food"))]
    assert receive["quantityList"] == [{"epcClass": FOOD_URN}]
    assert receive["bizLocation"] == {"id": sgln(DISTRIBUTOR_GLN)}
    transform = by_step[("commissioning", flow.tx("transform"))]
    assert transform["inputQuantityList"] == [{"epcClass": RAW_URN, "quantity": 300, "uom": "KGM"}]
    assert transform["outputQuantityList"] == [{"epcClass": FOOD_URN, "quantity": 300, "uom": "KGM"}]
    recall = by_step[("holding", flow.tx("recall"))]
    assert (recall["disposition"], recall["custody:reason"]) == ("recalled", "listeria")
    commission = by_step[("commissioning", flow.tx("register_items"))]
    assert commission["ilmd"] == {"cbvmda:lotNumber": "LA", "cbvmda:itemExpirationDate": "2031-03-31"}
    assert len({e["eventID"] for e in found["events"]}) == len(found["events"])
    assert epcis(flow)["events"] == found["events"]  # stable event ids


def test_epcis_query_filters_select_exactly_the_matching_events(flow: Flow) -> None:
    every = expected_events(flow)
    a1 = sgtin_urn("A1")
    assert summary(epcis(flow, eventType="AggregationEvent")["events"]) == [e for e in every if e[1] == "packing"]
    assert summary(epcis(flow, eventType="AggregationEvent,TransformationEvent")["events"]) == [
        e for e in every if e[0] != "ObjectEvent"
    ]
    assert summary(epcis(flow, MATCH_epc=a1)["events"]) == [
        ("ObjectEvent", "commissioning", flow.tx("register_items")), ("AggregationEvent", "packing", flow.tx("pack")),
    ]  # fmt: skip
    pattern = gs1.Gtin(ITEM_GTIN).epc_urn  # urn:epc:idpat:sgtin:0614141.081234.*
    assert summary(epcis(flow, MATCH_epc=pattern)["events"]) == [
        e for e in every if e[2] in (flow.tx("register_items"), flow.tx("pack"), flow.tx("register_a3"),
                                     flow.tx("ship_a3"), flow.tx("cancel_a3"))
    ]  # fmt: skip
    case_steps = ("register_case", "pack", "ship_case", "receive_case", "ship_case_2", "reject_case", "ship_case_3",
                  "receive_case_3")  # fmt: skip
    assert summary(epcis(flow, MATCH_anyEPC=flow.ids["case_urn"])["events"]) == [
        e for e in every if e[2] in {flow.tx(s) for s in case_steps}
    ]
    assert summary(epcis(flow, EQ_bizStep="receiving")["events"]) == [e for e in every if e[1] == "receiving"]
    assert summary(epcis(flow, EQ_bizStep="urn:epcglobal:cbv:bizstep:void_shipping")["events"]) == [
        ("ObjectEvent", "void_shipping", flow.tx("cancel_a3"))
    ]
    assert summary(epcis(flow, EQ_bizLocation=sgln(DISTRIBUTOR_GLN))["events"]) == [
        ("ObjectEvent", "receiving", flow.tx("receive_case")), ("ObjectEvent", "receiving", flow.tx("receive_food")),
    ]  # fmt: skip
    start, end = flow.time_of("ship_case"), flow.time_of("receive_case") + dt.timedelta(seconds=1)
    window = {"GE_eventTime": start.isoformat(), "LT_eventTime": end.isoformat()}
    times = {s: flow.time_of(s) for s in flow.subs}
    in_window = {flow.tx(s) for s, at in times.items() if start <= at < end}
    assert summary(epcis(flow, **window)["events"]) == [e for e in every if e[2] in in_window]
    assert epcis(flow, eventType="ObjectEvent", EQ_bizStep="packing")["events"] == []


def test_epcis_pages_follow_the_next_page_token(flow: Flow) -> None:
    whole = epcis(flow)["events"]
    pages, params = [], {"perPage": "4"}
    while True:
        found = epcis(flow, **params)
        pages.append(found["events"])
        token = found["response"].headers.get("gs1-next-page-token")
        if token is None:
            assert "link" not in found["response"].headers
            break
        assert 'rel="next"' in found["response"].headers["link"]
        params = {"perPage": "4", "nextPageToken": token}
    assert [len(p) for p in pages[:-1]] == [4] * (len(pages) - 1) and len(pages) > 2
    assert [e for p in pages for e in p] == whole


def test_exported_events_capture_back_into_the_same_operations(flow: Flow) -> None:
    """The export reads the way the capture mapping writes: capture would record the same operations."""
    events = epcis(flow)["events"]
    pick = {(e["bizStep"], e["custody:txHash"]): e for e in events}
    locations = LedgerLocations(flow.gateway.services.ledger.contract)

    def capture(event: dict[str, Any], partner: Party) -> list[Any]:
        mapped = map_events(EventList(("epcisBody", "eventList"), [event]), partner.id, locations)
        return [op for m in mapped for op in m.operations]

    [register] = capture(pick[("commissioning", flow.tx("register_items"))], flow.maker)
    assert isinstance(register, ops.RegisterItems)
    assert [(i.gtin, i.serial, i.lot, i.expiry_date, i.origin_gln) for i in register.items] == [
        (ITEM_GTIN, s, "LA", dt.date(2031, 3, 31), MAKER_GLN) for s in ("A1", "A2")
    ]
    [ship] = capture(pick[("shipping", flow.tx("ship_case"))], flow.maker)
    assert isinstance(ship, ops.Ship)
    assert (ship.receiver, ship.ship_from_gln, ship.ship_to_gln, ship.transfer_ownership) == (
        flow.distributor.id, MAKER_GLN, DISTRIBUTOR_GLN, True,
    )  # fmt: skip
    assert [o.urn() for o in ship.objects] == [flow.ids["case_urn"]]
    [receive] = capture(pick[("receiving", flow.tx("receive_food"))], flow.distributor)
    assert isinstance(receive, ops.Receive) and receive.gln == DISTRIBUTOR_GLN
    [pack] = capture(pick[("packing", flow.tx("pack"))], flow.maker)
    assert isinstance(pack, ops.Pack) and [c.urn() for c in pack.children] == [sgtin_urn("A1"), sgtin_urn("A2")]
    [transform] = capture(pick[("commissioning", flow.tx("transform"))], flow.maker)
    assert isinstance(transform, ops.Transform)
    assert [(i.object.urn(), i.quantity) for i in transform.inputs] == [(RAW_URN, 300)]
    assert [(x.gtin, x.lot, x.quantity, x.unit_of_measure, x.origin_gln) for x in transform.lot_outputs] == [
        (FOOD_GTIN, "TLC2", 300, "KGM", MAKER_GLN)
    ]
    [recall] = capture(pick[("holding", flow.tx("recall"))], flow.maker)
    assert isinstance(recall, ops.Recall) and recall.reason == "recalled"


# ------------------------------------------------------------------------------------------ FSMA 204


def fsma_get(flow: Flow, **params: str) -> httpx.Response:
    response = flow.auditor.get("/v1/audit/fsma204", params=params)
    if response.status_code == 200:
        flow.trace_requests += 1
    return response


def read_csv(response: httpx.Response) -> list[list[str]]:
    assert response.headers["content-type"].startswith("text/csv")
    return list(csv.reader(io.StringIO(response.text)))


def read_xlsx(response: httpx.Response) -> list[list[str]]:
    assert response.headers["content-type"].startswith("application/vnd.openxmlformats")
    sheet = openpyxl.load_workbook(io.BytesIO(response.content)).active
    assert sheet is not None
    return [["" if v is None else str(v) for v in row] for row in sheet.iter_rows(values_only=True)]


def test_fsma_spreadsheet_of_a_transformed_lot(flow: Flow) -> None:
    rows = read_csv(fsma_get(flow, tlc=FOOD_URN, format="csv"))
    assert tuple(rows[0]) == fsma.HEADERS
    records = [dict(zip(fsma.KEYS, r, strict=True)) for r in rows[1:]]
    view = [(r["cte"], r["traceability_lot_code"], r["quantity"], r["unit_of_measure"],
             r["input_traceability_lot_code"], r["input_quantity"], r["ship_from_gln"], r["recipient_gln"],
             r["receiving_gln"], r["tlc_source_gln"], r["ledger_tx_hash"]) for r in records]  # fmt: skip
    food, raw = f"(01){FOOD_GTIN}(10)TLC2", f"(01){RAW_GTIN}(10)TLC1"
    assert view == [
        ("transformation", food, "300", "KGM", raw, "300", "", "", "", MAKER_GLN, flow.tx("transform")),
        ("shipping", food, "300", "KGM", "", "", MAKER_GLN, DISTRIBUTOR_GLN, "", MAKER_GLN, flow.tx("ship_food")),
        ("receiving", food, "300", "KGM", "", "", "", "", DISTRIBUTOR_GLN, MAKER_GLN, flow.tx("receive_food")),
    ]
    shipping, receiving = records[1], records[2]
    assert shipping["event_date"] == flow.time_of("ship_food").date().isoformat()
    assert (shipping["ship_from_description"], shipping["recipient_description"]) == (
        "Acme Farms & Packing", "Fresh Distribution",
    )  # fmt: skip
    assert (receiving["previous_source_description"], receiving["receiving_description"]) == (
        "Acme Farms & Packing", "Fresh Distribution",
    )  # fmt: skip
    # what the ledger does not know stays empty
    assert all(r["product_description"] == "" and r["commodity_variety"] == "" for r in records)


def test_fsma_spreadsheet_of_items_and_of_a_source_lot_csv_equals_xlsx(flow: Flow) -> None:
    tlc = f"(01){ITEM_GTIN}(10)LA"
    as_csv, as_xlsx = read_csv(fsma_get(flow, tlc=tlc)), read_xlsx(fsma_get(flow, tlc=tlc, format="xlsx"))
    assert as_csv == as_xlsx
    records = [dict(zip(fsma.KEYS, r, strict=True)) for r in as_csv[1:]]
    view = [(r["cte"], r["quantity"], r["unit_of_measure"], r["ledger_tx_hash"]) for r in records]
    assert view == [
        ("initial_packing", "2", "EA", flow.tx("register_items")), ("shipping", "2", "EA", flow.tx("ship_case")),
        ("receiving", "2", "EA", flow.tx("receive_case")), ("shipping", "2", "EA", flow.tx("ship_case_2")),
        ("shipping", "2", "EA", flow.tx("ship_case_3")), ("receiving", "2", "EA", flow.tx("receive_case_3")),
    ]  # fmt: skip
    shipping = records[1]
    assert shipping["reference_document_type"] == "bill_of_lading; transaction_statement"
    assert shipping["reference_document_number"] == f"{flow.documents['bol']}; {flow.documents['ts']}"
    raw = read_csv(fsma_get(flow, tlc=f"https://id.gs1.org/01/{RAW_GTIN}/10/TLC1"))
    packed = [dict(zip(fsma.KEYS, r, strict=True)) for r in raw[1:]]
    assert [(r["cte"], r["event_date"], r["quantity"], r["tlc_source_description"]) for r in packed] == [
        ("initial_packing", "2026-11-01", "1000", "Acme Farms & Packing"), ("transformation", flow.time_of(
            "transform").date().isoformat(), "300", "Acme Farms & Packing"),
    ]  # fmt: skip
    accept = flow.auditor.get("/v1/audit/fsma204", params={"tlc": tlc}, headers={"Accept": fsma_xlsx()})
    assert read_xlsx(accept) == as_xlsx
    flow.trace_requests += 1


def fsma_xlsx() -> str:
    return "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def test_fsma_date_range_keeps_the_events_inside_it(flow: Flow) -> None:
    tlc = f"(01){ITEM_GTIN}(10)LA"
    # blocks a second apart may share a timestamp: the window ends a second after the last receipt
    since, until = flow.time_of("ship_case_2"), flow.time_of("receive_case_3") + dt.timedelta(seconds=1)
    rows = read_csv(fsma_get(flow, tlc=tlc, since=since.isoformat(), until=until.isoformat()))
    hashes = [dict(zip(fsma.KEYS, r, strict=True))["ledger_tx_hash"] for r in rows[1:]]
    inside = [s for s in ("register_items", "ship_case", "receive_case", "ship_case_2", "ship_case_3",
                          "receive_case_3") if since <= flow.time_of(s) < until]  # fmt: skip
    assert hashes == [flow.tx(s) for s in inside] and flow.tx("ship_case_2") in hashes


# ------------------------------------------------------------------------------------------ DSCSA


def test_dscsa_transaction_history_of_a_serialized_item(flow: Flow) -> None:
    response = flow.auditor.get("/v1/audit/dscsa/transaction-history", params={"gtin": ITEM_GTIN, "serial": "A1"})
    assert response.status_code == 200, response.text
    flow.trace_requests += 1
    history = response.json()
    product = history["product"]
    assert (product["gtin"], product["lot"], product["serial"], product["expiry_date"], product["product_name"]) == (
        ITEM_GTIN, "LA", "A1", "2031-03-31", None,
    )  # fmt: skip
    assert product["manufacturer"]["business_name"] == "Acme Farms & Packing"
    view = [(e["shipment_id"], e["status"], e["transaction"], e["sender"]["business_name"],
             e["receiver"]["business_name"], e["quantity"]) for e in history["transactions"]]  # fmt: skip
    s = flow.shipments
    assert view == [
        (s["case"], "received", True, "Acme Farms & Packing", "Fresh Distribution", 1),
        (s["case_2"], "rejected", False, "Fresh Distribution", "Corner Pharmacy", 1),
        (s["case_3"], "received", False, "Fresh Distribution", "Corner Pharmacy", 1),
    ]
    first = history["transactions"][0]
    assert first["shipment_date"] == flow.time_of("ship_case").isoformat()
    assert first["transaction_date"] == flow.time_of("receive_case").isoformat()
    assert (first["sender"]["gln"], first["receiver"]["gln"]) == (MAKER_GLN, DISTRIBUTOR_GLN)
    assert [x["cid"] for x in first["transaction_statements"]] == [flow.documents["ts"]]
    assert [x["cid"] for x in history["transaction_statements"]] == [flow.documents["ts"]]
    lot = flow.auditor.get("/v1/audit/dscsa/transaction-history", params={"gtin": ITEM_GTIN, "lot": "LA",
                                                                          "format": "csv"})  # fmt: skip
    rows = list(csv.DictReader(io.StringIO(lot.text)))
    flow.trace_requests += 1
    assert [(r["Shipment ID"], r["Quantity"], r["Status"]) for r in rows] == [
        (str(s["case"]), "2", "received"), (str(s["case_2"]), "2", "rejected"), (str(s["case_3"]), "2", "received"),
    ]  # fmt: skip
    assert rows[0]["Transaction Statement CIDs"] == flow.documents["ts"]


# ------------------------------------------------------------------------------------------ KPIs


def test_kpis_equal_the_flow_computed_by_hand(flow: Flow) -> None:
    # block times and the gateway's clock may differ (other modules move the node's time forward):
    # the period ends after both, so that every submission, request and event of the flow is in it
    end = max(dt.datetime.now(dt.UTC), flow.time_of("quarantine")) + dt.timedelta(seconds=5)
    params = {"until": end.isoformat()}
    response = flow.auditor.get("/v1/audit/kpis", params=params)
    assert response.status_code == 200, response.text
    found = {k["name"]: k for k in response.json()["kpis"]}
    # response time: the EPCIS, FSMA and DSCSA requests this module made (timings themselves are not asserted)
    rt = found["traceability_response_time"]
    assert rt["denominator"] == flow.trace_requests > 0
    assert rt["value"] == pytest.approx(rt["numerator"] / rt["denominator"])
    # recall: the raw lot was at the maker's (resolved at once); its output was quarantined later
    recall = found["recall_completion_time"]
    seconds = (flow.time_of("quarantine") - flow.time_of("recall")).total_seconds()
    assert (recall["numerator"], recall["denominator"], recall["value"]) == (seconds, 1, seconds)
    assert recall["details"]["recalls"][0]["affected"] == 2
    accuracy = found["data_accuracy"]
    accurate = flow.submissions - flow.failed - flow.corrections
    assert (accuracy["numerator"], accuracy["denominator"]) == (accurate, flow.submissions)
    assert (accuracy["details"]["failed"], accuracy["details"]["corrections"]) == (1, 1)
    scans = found["scanning_compliance"]  # case received, food received, case rejected, case received
    assert (scans["numerator"], scans["denominator"], scans["value"]) == (3, 4, 0.75)
    # visibility at the end of the flow: objects whose last event is not older than the last receipt
    until = flow.time_of("quarantine") + dt.timedelta(seconds=1)
    horizon = flow.time_of("receive_case_3")
    days = (until - horizon).total_seconds() / 86400
    at_end = flow.auditor.get("/v1/audit/kpis", params={"until": until.isoformat(), "visibility_days": str(days)})
    visibility = {k["name"]: k for k in at_end.json()["kpis"]}["visibility_coverage"]
    last_events = {"A1": "receive_case_3", "A2": "receive_case_3", "case": "receive_case_3", "raw": "recall",
                   "food": "quarantine", "A3": "cancel_a3"}  # fmt: skip
    seen = sum(1 for s in last_events.values() if flow.time_of(s) >= horizon)
    assert (visibility["numerator"], visibility["denominator"]) == (seen, len(last_events))
    as_csv = flow.auditor.get("/v1/audit/kpis", params={**params, "format": "csv"})
    rows = list(csv.DictReader(io.StringIO(as_csv.text)))
    assert [r["name"] for r in rows] == list(found)
    assert all(r["definition"] and r["denominator"] != "" for r in rows)
    assert float(rows[3]["value"]) == 0.75


# ------------------------------------------------------------------------------------------ integrity


def test_integrity_audit_finds_a_tampered_document_and_a_corrupted_row(flow: Flow) -> None:
    clean = flow.auditor.post("/v1/audit/integrity")
    assert clean.status_code == 200, clean.text
    report = clean.json()
    assert report["ok"], report
    assert (report["objects_checked"], report["objects_total"], report["documents_checked"]) == (6, 6, 2)
    services = flow.gateway.services
    store = services.documents.store
    assert isinstance(store, EmbeddedDocumentStore)
    cid = Cid.parse(flow.documents["bol"])
    path = store.blocks.path_of(cid.multihash)
    original = path.read_bytes()
    path.write_bytes(original[:-1] + bytes([original[-1] ^ 1]))
    with services.sessions.begin() as session:
        session.execute(update(t.ObjectRow).where(t.ObjectRow.object_id == flow.ids["A2"]).values(custodian=999))
    try:
        report = flow.auditor.post("/v1/audit/integrity", params={"sample": "6"}).json()
        assert not report["ok"]
        assert [(d["object_id"], d["field"], d["indexed"], d["chain"]) for d in report["differences"]] == [
            (flow.ids["A2"], "custodian", 999, flow.pharmacy.id)
        ]
        assert [(d["cid"], d["state"]) for d in report["documents"]] == [(flow.documents["bol"], "tampered")]
        assert report["tampered_documents"] == 1
        path.unlink()
        report = flow.auditor.post("/v1/audit/integrity", params={"documents": "true"}).json()
        assert [(d["cid"], d["state"]) for d in report["documents"]] == [(flow.documents["bol"], "missing")]
        assert report["missing_documents"] == 1
    finally:
        path.write_bytes(original)
        with services.sessions.begin() as session:
            session.execute(
                update(t.ObjectRow).where(t.ObjectRow.object_id == flow.ids["A2"]).values(custodian=flow.pharmacy.id)
            )
    assert flow.auditor.post("/v1/audit/integrity").json()["ok"]


# ------------------------------------------------------------------------------------------ live feed


class SseReader:
    """Reads a Server-Sent Events stream in a thread; events arrive in :attr:`events`."""

    def __init__(self, flow: Flow, params: dict[str, str], last_event_id: str | None = None) -> None:
        headers = {"Authorization": f"Bearer {flow.auditor.headers['authorization'].split()[1]}"}
        if last_event_id:
            headers["Last-Event-ID"] = last_event_id
        self.events: queue.Queue[dict[str, Any]] = queue.Queue()
        self._client = httpx.Client(base_url=flow.gateway.url, headers=headers, timeout=httpx.Timeout(30, read=60))
        self._ready = threading.Event()
        self._response: httpx.Response | None = None
        self._thread = threading.Thread(target=self._run, args=(params,), daemon=True)
        self._thread.start()
        assert self._ready.wait(10), "the feed did not start"

    def _run(self, params: dict[str, str]) -> None:
        try:
            with self._client.stream("GET", "/v1/audit/feed", params=params) as response:
                self._response = response
                assert response.status_code == 200
                data: dict[str, str] = {}
                for line in response.iter_lines():
                    self._ready.set()
                    if line.startswith(("id:", "event:", "data:")):
                        name, _, value = line.partition(":")
                        data[name] = value.strip()
                    elif line == "" and "data" in data:
                        self.events.put({"id": data["id"], **json.loads(data["data"])})
                        data = {}
        except Exception:  # closed under the reader by close()
            return

    def take(self, count: int, timeout: float = 20) -> list[dict[str, Any]]:
        """The next ``count`` events of the ledger (the relay's own SignedCall* events are skipped)."""
        found: list[dict[str, Any]] = []
        while len(found) < count:
            event = self.events.get(timeout=timeout)
            if not event["event"].startswith("SignedCall"):
                found.append(event)
        return found

    def close(self) -> None:
        """Closes the connection, so that the server sees the client go and ends the stream."""
        if self._response is not None:
            self._response.close()
        self._thread.join(timeout=10)
        self._client.close()


def test_feed_delivers_new_events_with_filters_and_resumes(flow: Flow) -> None:
    b1, b2 = f"B{next(_n)}", f"B{next(_n)}"
    b1_id, b2_id = object_id(sgtin_urn(b1)), object_id(sgtin_urn(b2))
    only_b1 = SseReader(flow, {"object_id": b1_id})
    to_distributor = SseReader(flow, {"partner_id": str(flow.distributor.id)})
    try:
        step(flow, "feed_b1", flow.maker, "/v1/items", {"items": [{"gtin": ITEM_GTIN, "serial": b1}]})
        step(flow, "feed_b2", flow.maker, "/v1/items", {"items": [{"gtin": ITEM_GTIN, "serial": b2}]})
        step(flow, "feed_q", flow.maker, "/v1/status-changes", {"objects": [{"gtin": ITEM_GTIN, "serial": b1}],
             "status": "quarantined", "reason": "check"})  # fmt: skip
        step(flow, "feed_ship", flow.maker, "/v1/shipments", {"objects": [{"gtin": ITEM_GTIN, "serial": b2}],
             "receiver": flow.distributor.id})  # fmt: skip
        flow.catch_up()
        registered, quarantined = only_b1.take(2)
        assert (registered["event"], registered["args"]["object_id"]) == ("ItemRegistered", b1_id)
        assert (quarantined["event"], quarantined["args"]["object_id"]) == ("StatusChanged", b1_id)
        assert registered["tx_hash"] == flow.tx("feed_b1") and quarantined["tx_hash"] == flow.tx("feed_q")
        dispatched, shipped = to_distributor.take(2)  # the maker's registrations do not concern the distributor
        assert (dispatched["event"], shipped["event"]) == ("ShipmentDispatched", "ObjectShipped")
        assert shipped["args"]["object_id"] == b2_id
        resumed = SseReader(flow, {}, last_event_id=registered["id"])
        try:
            after = resumed.take(4)
            assert [(e["event"], e["tx_hash"]) for e in after] == [
                ("ItemRegistered", flow.tx("feed_b2")), ("StatusChanged", flow.tx("feed_q")),
                ("ShipmentDispatched", flow.tx("feed_ship")), ("ObjectShipped", flow.tx("feed_ship")),
            ]  # fmt: skip
            assert after[0]["args"]["object_id"] == b2_id
        finally:
            resumed.close()
        assert only_b1.events.empty() and to_distributor.events.empty()  # filters pass nothing else
    finally:
        only_b1.close()
        to_distributor.close()


# ------------------------------------------------------------------------------------------ bad requests, auth


def problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body: dict[str, Any] = response.json()
    assert body["code"] == code, body
    return body


@pytest.mark.parametrize(
    ("params", "code", "parameter"),
    [
        ({"GE_eventTime": "yesterday"}, "epcis.query_parameter_invalid", "GE_eventTime"),
        ({"LT_eventTime": "2026-01-01T00:00:00"}, "epcis.query_parameter_invalid", "LT_eventTime"),
        ({"GE_eventTime": "2026-02-01T00:00:00Z", "LT_eventTime": "2026-01-01T00:00:00Z"},
         "epcis.query_parameter_invalid", "LT_eventTime"),
        ({"eventType": "ObjectEvent,ShippingEvent"}, "epcis.query_parameter_invalid", "eventType"),
        ({"MATCH_epc": "not an epc"}, "epcis.query_parameter_invalid", "MATCH_epc"),
        ({"MATCH_anyEPC": "urn:epc:idpat:sgtin:0614141.8*.*"}, "epcis.query_parameter_invalid", "MATCH_anyEPC"),
        ({"EQ_bizLocation": "urn:epc:id:sgtin:0614141.812345.1"}, "epcis.query_parameter_invalid", "EQ_bizLocation"),
        ({"EQ_bizStep": ""}, "epcis.query_parameter_invalid", "EQ_bizStep"),
        ({"perPage": "0"}, "epcis.query_parameter_invalid", "perPage"),
        ({"nextPageToken": "page-two"}, "epcis.query_parameter_invalid", "nextPageToken"),
        ({"EQ_action": "ADD"}, "epcis.query_parameter_unknown", "EQ_action"),
    ],
)  # fmt: skip
def test_bad_epcis_queries_are_422_naming_the_parameter(
    flow: Flow, params: dict[str, str], code: str, parameter: str
) -> None:
    body = problem(flow.auditor.get("/v1/audit/epcis/events", params=params), 422, code)
    assert body["parameter"] == parameter == body["field"]


@pytest.mark.parametrize(
    ("path", "params", "status", "code"),
    [
        ("/v1/audit/fsma204", {}, 422, "request.invalid"),
        ("/v1/audit/fsma204", {"tlc": "(01)00614141812349"}, 422, "fsma.invalid_tlc"),
        ("/v1/audit/fsma204", {"tlc": "urn:epc:id:sgtin:0614141.812345.1"}, 422, "fsma.invalid_tlc"),
        ("/v1/audit/fsma204", {"tlc": "nonsense"}, 422, "fsma.invalid_tlc"),
        ("/v1/audit/fsma204", {"tlc": f"(01){RAW_GTIN}(10)NOPE"}, 404, "fsma.tlc_not_found"),
        ("/v1/audit/fsma204", {"tlc": f"(01){RAW_GTIN}(10)TLC1", "format": "pdf"}, 422, "audit.invalid_format"),
        ("/v1/audit/fsma204", {"tlc": f"(01){RAW_GTIN}(10)TLC1", "since": "2026-02-01", "until": "2026-01-01"},
         422, "audit.invalid_window"),
        ("/v1/audit/dscsa/transaction-history", {"lot": "LA"}, 422, "dscsa.gtin_required"),
        ("/v1/audit/dscsa/transaction-history", {"gtin": ITEM_GTIN}, 422, "dscsa.lot_or_serial"),
        ("/v1/audit/dscsa/transaction-history", {"gtin": ITEM_GTIN, "lot": "LA", "serial": "A1"}, 422,
         "dscsa.lot_or_serial"),
        ("/v1/audit/dscsa/transaction-history", {"gtin": "00614141812340", "serial": "A1"}, 422, "dscsa.invalid_gtin"),
        ("/v1/audit/dscsa/transaction-history", {"gtin": ITEM_GTIN, "serial": "ZZ"}, 404, "dscsa.product_not_found"),
        ("/v1/audit/kpis", {"since": "2026-02-01T00:00:00Z", "until": "2026-01-01T00:00:00Z"}, 422,
         "audit.invalid_window"),
        ("/v1/audit/kpis", {"visibility_days": "0"}, 422, "request.invalid"),
        ("/v1/audit/kpis", {"format": "xlsx"}, 422, "audit.invalid_format"),
        ("/v1/audit/feed", {"object_id": "0x12"}, 422, "request.invalid"),
    ],
)  # fmt: skip
def test_bad_audit_requests(flow: Flow, path: str, params: dict[str, str], status: int, code: str) -> None:
    problem(flow.auditor.get(path, params=params), status, code)


def test_bad_integrity_and_feed_requests(flow: Flow) -> None:
    problem(flow.auditor.post("/v1/audit/integrity", params={"sample": "0"}), 422, "request.invalid")
    response = flow.auditor.get("/v1/audit/feed", headers={"Last-Event-ID": "yesterday"})
    body = problem(response, 422, "feed.invalid_last_event_id")
    assert body["field"] == "Last-Event-ID"


_ENDPOINTS = [
    ("GET", "/v1/audit/epcis/events", {}),
    ("GET", "/v1/audit/fsma204", {"tlc": f"(01){RAW_GTIN}(10)TLC1"}),
    ("GET", "/v1/audit/dscsa/transaction-history", {"gtin": ITEM_GTIN, "serial": "A1"}),
    ("GET", "/v1/audit/kpis", {}),
    ("POST", "/v1/audit/integrity", {}),
    ("GET", "/v1/audit/feed", {}),
]


@pytest.mark.parametrize(("method", "path", "params"), _ENDPOINTS)
def test_partner_keys_are_refused_and_a_key_is_required(
    flow: Flow, method: str, path: str, params: dict[str, str]
) -> None:
    problem(flow.maker.client.request(method, path, params=params), 403, "auth.forbidden")
    problem(httpx.request(method, flow.gateway.url + path, params=params), 401, "auth.missing_key")
