"""EPCIS 2.0 capture over real HTTP against Anvil: documents in, confirmed ledger state out.

The gateway here is built like the session's ``gateway`` fixture, in its own data folder (so
its own ledger deployment and GLNs) and with its own admin and relayer accounts (Anvil dev
accounts 16 and 17, which nothing else uses), so it cannot race the session gateway's nonces.
"""

from __future__ import annotations

import copy
import itertools
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from pydantic import SecretStr
from sqlalchemy import select

from chain_client import gs1
from chain_client.errors import ContractRevert
from chain_client.ledger import object_id
from chain_client.models import ObjectKind, Status
from chain_client.node import ANVIL_DEFAULT_MNEMONIC, AnvilNode, free_port
from chain_client.signers import LocalSigner
from gateway.core.config import Settings
from gateway.core.services import Services
from gateway.main import create_app
from gateway.partner.tables import SubmissionRow
from gateway.stack import ensure_deployed
from tests.conftest import Gateway

pytestmark = pytest.mark.integration

EXAMPLES = Path(__file__).resolve().parents[1] / "data" / "epcis"  # written for this project, see its README
PREFIX = "4012345"  # GS1 Company Prefix of this module's objects and locations
_refs = itertools.count(1)


def gln(location_ref: str) -> str:
    body = PREFIX + location_ref
    return body + str(gs1.gs1_check_digit(body))


def sgln(location_ref: str) -> str:
    return f"urn:epc:id:sgln:{PREFIX}.{location_ref}.0"


def pgln(location_ref: str) -> str:
    return f"urn:epc:id:pgln:{PREFIX}.{location_ref}"


def item(serial: str | None = None) -> str:
    return f"urn:epc:id:sgtin:{PREFIX}.012345.{serial or f'E{next(_refs)}'}"


def lot(name: str | None = None) -> str:
    return f"urn:epc:class:lgtin:{PREFIX}.012345.{name or f'LOT{next(_refs)}'}"


def case() -> str:
    return f"urn:epc:id:sscc:{PREFIX}.{next(_refs):010d}"


def document(*events: dict[str, Any]) -> dict[str, Any]:
    return {
        "@context": ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"],
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": "2024-05-01T10:00:00Z",
        "epcisBody": {"eventList": list(events)},
    }


def event(kind: str = "ObjectEvent", **fields: Any) -> dict[str, Any]:
    return {"type": kind, "eventTime": "2024-05-01T10:00:00Z", "eventTimeZoneOffset": "+00:00", **fields}


def commissioning(*epcs: str, **fields: Any) -> dict[str, Any]:
    return event(action="ADD", bizStep="commissioning", epcList=list(epcs), **fields)


@dataclass
class Member:
    partner_id: int
    client: httpx.Client
    location_ref: str

    @property
    def gln(self) -> str:
        return gln(self.location_ref)


@dataclass
class Network:
    gateway: Gateway
    maker: Member
    distributor: Member
    pharmacy: Member

    @property
    def services(self) -> Services:
        return self.gateway.services


def _key(index: int) -> SecretStr:
    return SecretStr("0x" + LocalSigner.from_mnemonic(ANVIL_DEFAULT_MNEMONIC, index).private_key.hex())


@pytest.fixture(scope="module")
def epcis_gateway(anvil: AnvilNode, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    settings = Settings(
        data_dir=tmp_path_factory.mktemp("epcis-gateway"), gateway_port=free_port(),
        keystore_passphrase=SecretStr("test-passphrase"), keystore_scrypt_n=2**12,
        deployer_key=_key(16), relayer_key=_key(17),
    )  # fmt: skip
    ensure_deployed(settings, anvil.rpc_url)
    app = create_app(settings, rpc_url=anvil.rpc_url)
    services: Services = app.state.services
    admin_key = services.api_keys.create("admin", name="epcis test admin").key
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=settings.gateway_port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the EPCIS test gateway did not start")
        time.sleep(0.02)
    yield Gateway(f"http://127.0.0.1:{settings.gateway_port}", settings, server, services, admin_key)
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def net(epcis_gateway: Gateway) -> Iterator[Network]:
    admin = epcis_gateway.client(epcis_gateway.admin_key)
    members = []
    for name, role, location_ref in [
        ("EPCIS maker", "manufacturer", "00001"),
        ("EPCIS distributor", "distributor", "00002"),
        ("EPCIS pharmacy", "dispenser", "00003"),
    ]:
        response = admin.post("/v1/admin/partners", json={"name": name, "role": role, "glns": [gln(location_ref)]})
        assert response.status_code == 201, response.text
        body = response.json()
        members.append(Member(body["partner_id"], epcis_gateway.client(body["api_key"]["key"]), location_ref))
    yield Network(epcis_gateway, *members)
    for member in members:
        member.client.close()
    admin.close()


def capture(member: Member, doc: dict[str, Any], **headers: str) -> httpx.Response:
    headers.setdefault("Content-Type", "application/ld+json")
    return member.client.post("/v1/epcis/capture", content=json.dumps(doc), headers=headers)


def captured(member: Member, doc: dict[str, Any], timeout: float = 60) -> dict[str, Any]:
    """Captures ``doc`` (202) and waits until the job has finished; returns the job."""
    response = capture(member, doc)
    assert response.status_code == 202, response.text
    job: dict[str, Any] = response.json()
    assert response.headers["Location"] == f"/v1/epcis/capture/{job['captureID']}"
    assert response.headers["GS1-EPCIS-Version"] == "2.0.0"
    deadline = time.monotonic() + timeout
    while job["running"]:
        assert time.monotonic() < deadline, f"capture job still running: {job}"
        time.sleep(0.05)
        job = member.client.get(response.headers["Location"]).json()
    return job


def confirmed(member: Member, doc: dict[str, Any]) -> dict[str, Any]:
    job = captured(member, doc)
    assert job["success"] is True, job["errors"]
    assert job["finishedAt"] is not None
    assert {s["status"] for s in job["submissions"]} == {"confirmed"}
    return job


def custody(net: Network, urn: str) -> Any:
    return net.services.ledger.custody_of(object_id(urn))


# -- mappings, confirmed on chain ----------------------------------------------------------------


def test_commissioning_registers_items_and_lots_on_chain(net: Network) -> None:
    a, b, batch = item(), item(), lot()
    job = confirmed(
        net.maker,
        document(
            commissioning(a, b, bizLocation={"id": sgln(net.maker.location_ref)},
                          ilmd={"cbvmda:lotNumber": "L42", "cbvmda:itemExpirationDate": "2030-06-30"}),
            event(action="ADD", bizStep="commissioning", quantityList=[{"epcClass": batch, "quantity": 500,
                                                                        "uom": "KGM"}]),
        ),
    )  # fmt: skip
    assert [s["operation"] for s in job["submissions"]] == ["register_items", "register_lot"]
    for urn in (a, b):
        view = custody(net, urn)
        assert (view.kind, view.status, view.custodian, view.owner) == (
            ObjectKind.ITEM, Status.ACTIVE, net.maker.partner_id, net.maker.partner_id,
        )  # fmt: skip
        assert str(view.expiry_date) == "2030-06-30"
    assert net.services.ledger.lot_balance(object_id(batch)) == (500, "KGM")
    events = job["submissions"][0]["events"]
    assert [e["event"] for e in events] == ["ItemRegistered", "ItemRegistered"]
    assert events[0]["lot"] == "L42" and str(events[0]["origin_gln"]) == net.maker.gln


def test_shipping_and_receiving_between_two_partners(net: Network) -> None:
    a, b = item(), item()
    po = {"type": "po", "bizTransaction": "urn:epcglobal:cbv:bt:4012345000016:PO-77"}
    shipping = event(
        action="OBSERVE", bizStep="shipping", disposition="in_transit", epcList=[a, b], bizTransactionList=[po],
        sourceList=[{"type": "location", "source": sgln(net.maker.location_ref)}],
        destinationList=[{"type": "owning_party", "destination": pgln(net.distributor.location_ref)},
                         {"type": "location", "destination": sgln(net.distributor.location_ref)}],
    )  # fmt: skip
    job = confirmed(net.maker, document(commissioning(a, b), shipping))
    assert [s["operation"] for s in job["submissions"]] == ["register_items", "ship"]
    view = custody(net, a)
    assert (view.status, view.custodian, view.pending_receiver) == (
        Status.IN_TRANSIT, net.maker.partner_id, net.distributor.partner_id,
    )  # fmt: skip
    [dispatched] = [e for e in job["submissions"][1]["events"] if e["event"] == "ShipmentDispatched"]
    assert (str(dispatched["ship_from_gln"]), str(dispatched["ship_to_gln"]), dispatched["transfer_ownership"]) == (
        net.maker.gln, net.distributor.gln, True,
    )  # fmt: skip
    with net.services.sessions.begin() as session:
        ship_row = session.scalar(select(SubmissionRow).where(SubmissionRow.id == job["submissions"][1]["id"]))
        assert ship_row is not None
        assert ship_row.request["epcis"]["event"]["bizTransactionList"] == [po]
        assert ship_row.request["epcis"]["capture_id"] == job["captureID"]

    receiving = event(action="OBSERVE", bizStep="receiving", disposition="in_progress", epcList=[a, b],
                      bizLocation={"id": sgln(net.distributor.location_ref)})  # fmt: skip
    confirmed(net.distributor, document(receiving))
    for urn in (a, b):
        view = custody(net, urn)
        assert (view.status, view.custodian, view.owner, view.pending_receiver) == (
            Status.ACTIVE, net.distributor.partner_id, net.distributor.partner_id, 0,
        )  # fmt: skip


def test_aggregation_packs_and_unpacks(net: Network) -> None:
    parent, a, b = case(), item(), item()
    confirmed(
        net.maker,
        document(
            commissioning(parent, a, b),
            event("AggregationEvent", action="ADD", bizStep="packing", parentID=parent, childEPCs=[a, b]),
        ),
    )
    assert custody(net, a).parent == object_id(parent)
    confirmed(net.maker, document(event("AggregationEvent", action="DELETE", parentID=parent, childEPCs=[a])))
    assert custody(net, a).parent is None
    assert custody(net, b).parent == object_id(parent)


def test_transformation_consumes_inputs_and_produces_outputs(net: Network) -> None:
    flour, mix, bar = lot(), lot(), item()
    job = confirmed(
        net.maker,
        document(
            event(action="ADD", bizStep="commissioning", quantityList=[{"epcClass": flour, "quantity": 100,
                                                                        "uom": "KGM"}]),
            event("TransformationEvent", bizStep="commissioning",
                  inputQuantityList=[{"epcClass": flour, "quantity": 40, "uom": "KGM"}],
                  outputQuantityList=[{"epcClass": mix, "quantity": 35, "uom": "KGM"}], outputEPCList=[bar],
                  ilmd={"cbvmda:itemExpirationDate": "2031-01-31"}),
        ),
    )  # fmt: skip
    assert [s["operation"] for s in job["submissions"]] == ["register_lot", "transform"]
    assert net.services.ledger.lot_balance(object_id(flour)) == (60, "KGM")
    assert net.services.ledger.lot_balance(object_id(mix)) == (35, "KGM")
    assert custody(net, bar).kind == ObjectKind.ITEM


def test_status_events(net: Network) -> None:
    broken, held = item(), item()
    confirmed(net.maker, document(commissioning(broken, held)))
    confirmed(
        net.maker,
        document(
            event(action="OBSERVE", bizStep="destroying", disposition="destroyed", epcList=[broken]),
            event(action="OBSERVE", bizStep="holding", disposition="non_sellable_other", epcList=[held]),
        ),
    )
    assert custody(net, broken).status == Status.DECOMMISSIONED
    assert custody(net, held).status == Status.QUARANTINED


# -- capture jobs ------------------------------------------------------------------------------


def test_a_failure_on_chain_shows_in_the_capture_job(net: Network) -> None:
    never_shipped = item()
    confirmed(net.maker, document(commissioning(never_shipped)))
    receiving = event(action="OBSERVE", bizStep="receiving", epcList=[never_shipped],
                      eventID="urn:uuid:0f0e0d0c-0000-4000-8000-000000000001")  # fmt: skip
    job = captured(net.distributor, document(receiving))
    assert (job["running"], job["success"], job["captureErrorBehaviour"]) == (False, False, "rollback")
    [error] = job["errors"]
    [submission] = job["submissions"]
    assert error["submission_id"] == submission["id"]
    assert error["code"] == submission["error"]["code"] and error["code"].startswith("custody.")
    assert (error["event_index"], error["event_id"]) == (0, "urn:uuid:0f0e0d0c-0000-4000-8000-000000000001")


def test_capture_jobs_are_private_and_ids_checked(net: Network) -> None:
    job = confirmed(net.maker, document(commissioning(item())))
    assert net.distributor.client.get(f"/v1/epcis/capture/{job['captureID']}").status_code == 404
    assert net.maker.client.get(f"/v1/epcis/capture/{job['captureID']}").json()["success"] is True
    for unknown in ("0c3f2e4a-0000-4000-8000-000000000000", "not-a-uuid", "%25"):
        response = net.maker.client.get(f"/v1/epcis/capture/{unknown}")
        assert (response.status_code, response.json()["code"]) == (404, "resource.not_found")
    admin = net.gateway.client(net.gateway.admin_key)
    assert admin.get(f"/v1/epcis/capture/{job['captureID']}").json()["captureID"] == job["captureID"]


def test_an_idempotent_capture_replays_and_conflicts(net: Network) -> None:
    doc = document(commissioning(item()))
    first = capture(net.maker, doc, **{"Idempotency-Key": "epcis-replay-1"})
    again = capture(net.maker, doc, **{"Idempotency-Key": "epcis-replay-1"})
    assert (first.status_code, again.status_code, again.headers["Idempotent-Replayed"]) == (202, 200, "true")
    assert again.json()["captureID"] == first.json()["captureID"]
    assert [s["id"] for s in again.json()["submissions"]] == [s["id"] for s in first.json()["submissions"]]
    other = capture(net.maker, document(commissioning(item())), **{"Idempotency-Key": "epcis-replay-1"})
    assert (other.status_code, other.json()["code"]) == (409, "idempotency.conflict")


def test_options_describes_the_capture_interface(net: Network) -> None:
    response = net.maker.client.options("/v1/epcis/capture")
    assert response.status_code == 204
    assert response.headers["GS1-EPCIS-Capture-Limit"] == "1000"
    assert response.headers["GS1-Capture-Error-Behaviour"] == "rollback"


# -- refusals: nothing stored --------------------------------------------------------------------


def _submission_count(net: Network, member: Member) -> int:
    return len(member.client.get("/v1/submissions", params={"limit": 1000}).json())


def test_one_bad_event_rejects_the_whole_capture(net: Network) -> None:
    good = item()
    before = _submission_count(net, net.maker)
    bad = event("AssociationEvent", action="ADD", parentID=case(), childEPCs=[item()],
                eventID="urn:uuid:7e57e57e-0000-4000-8000-0000000b0d01")  # fmt: skip
    response = capture(net.maker, document(commissioning(good), bad))
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert (body["code"], body["pointer"], body["event_index"], body["event_id"]) == (
        "epcis.unsupported_event", "/epcisBody/eventList/1/type", 1, "urn:uuid:7e57e57e-0000-4000-8000-0000000b0d01",
    )  # fmt: skip
    assert [e["code"] for e in body["errors"]] == ["epcis.unsupported_event"]
    assert _submission_count(net, net.maker) == before
    with pytest.raises(ContractRevert) as unknown:
        custody(net, good)
    assert unknown.value.name == "CustodyUnknownObject"


def _shipping_to(destination: dict[str, str]) -> dict[str, Any]:
    return document(event(action="OBSERVE", bizStep="shipping", epcList=[item()], destinationList=[destination]))


@pytest.mark.parametrize(
    ("who", "doc", "code", "pointer"),
    [
        ("maker", _shipping_to({"type": "owning_party", "destination": pgln("00099")}), "epcis.unknown_party",
         "/epcisBody/eventList/0/destinationList/0/destination"),
        ("maker", _shipping_to({"type": "location", "destination": sgln("00099")}), "epcis.unknown_location",
         "/epcisBody/eventList/0/destinationList/0/destination"),
        ("maker", _shipping_to({"type": "location", "destination": sgln("00001")}), "epcis.invalid_destination",
         "/epcisBody/eventList/0/destinationList/0/destination"),
        ("distributor", document(event(action="OBSERVE", bizStep="receiving", epcList=[item()],
                                       bizLocation={"id": sgln("00001")})),
         "epcis.location_mismatch", "/epcisBody/eventList/0/bizLocation/id"),
        ("maker", document(commissioning("urn:epc:id:grai:4012345.00001.1")), "epcis.invalid_epc",
         "/epcisBody/eventList/0/epcList/0"),
        ("maker", document(event(action="OBSERVE", bizStep="inspecting", epcList=[item()])),
         "epcis.unsupported_bizstep", "/epcisBody/eventList/0/bizStep"),
        ("maker", {**document(commissioning(item())), "creationDate": "now"}, "epcis.schema", "/creationDate"),
    ],
)  # fmt: skip
def test_bad_documents(net: Network, who: str, doc: dict[str, Any], code: str, pointer: str) -> None:
    member: Member = getattr(net, who)
    before = _submission_count(net, member)
    response = capture(member, doc)
    assert (response.status_code, response.json()["code"], response.json()["pointer"]) == (422, code, pointer)
    assert _submission_count(net, member) == before


@pytest.mark.parametrize(
    ("content", "headers", "status", "code"),
    [
        (json.dumps(document(commissioning(item()))), {"Content-Type": "application/xml"}, 415,
         "epcis.unsupported_media_type"),
        ("{oops", {"Content-Type": "application/json"}, 400, "epcis.malformed"),
        (json.dumps(document(commissioning(item()))), {"Content-Type": "application/json",
                                                       "GS1-Capture-Error-Behaviour": "proceed"}, 422,
         "epcis.unsupported_error_behaviour"),
        (json.dumps(document(commissioning(item()))), {"Content-Type": "application/json",
                                                       "GS1-EPCIS-Version": "1.2.0"}, 406, "epcis.unsupported_version"),
    ],
)  # fmt: skip
def test_refused_requests(net: Network, content: str, headers: dict[str, str], status: int, code: str) -> None:
    response = net.maker.client.post("/v1/epcis/capture", content=content, headers=headers)
    assert (response.status_code, response.json()["code"]) == (status, code)


def test_only_partners_capture(net: Network) -> None:
    response = httpx.post(f"{net.gateway.url}/v1/epcis/capture", json=document(commissioning(item())))
    assert (response.status_code, response.json()["code"]) == (401, "auth.missing_key")
    admin = net.gateway.client(net.gateway.admin_key)
    assert admin.post("/v1/epcis/capture", json=document(commissioning(item()))).json()["code"] == "auth.forbidden"


def test_an_example_document_is_refused_over_http(net: Network) -> None:
    """Its pack and unpack events map; the stock count (AggregationEvent OBSERVE) refuses the whole document."""
    before = _submission_count(net, net.maker)
    doc = json.loads((EXAMPLES / "aggregation.jsonld").read_text())
    response = capture(net.maker, copy.deepcopy(doc))
    body = response.json()
    stock_count = doc["epcisBody"]["eventList"][2]
    assert (response.status_code, body["code"], body["pointer"], body["event_index"], body["event_id"]) == (
        422, "epcis.unsupported_action", "/epcisBody/eventList/2/action", 2, stock_count["eventID"],
    )  # fmt: skip
    assert [(e["code"], e["pointer"]) for e in body["errors"]] == [
        ("epcis.unsupported_action", "/epcisBody/eventList/2/action")
    ]
    assert _submission_count(net, net.maker) == before
