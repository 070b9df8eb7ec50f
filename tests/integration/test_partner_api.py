"""The partner API over real HTTP against a real Anvil node (the session's ``gateway`` fixture).

Every operation endpoint is driven to ``confirmed`` and its ledger events are checked; bad input,
auth failures, idempotency, partner-signed (EIP-712) calls, reverts, SSE, webhooks and concurrent
partners are covered too. Crash and restart recovery live in ``test_partner_api_recovery.py``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import itertools
import json
import queue
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from unittest.mock import ANY

import httpx
import pytest
from eth_abi.abi import encode as abi_encode
from eth_utils.crypto import keccak
from sqlalchemy import func, select

from chain_client.eip712 import sign_call
from chain_client.events import ItemRegistered, SignedCallExecuted, SignedCallFailed
from chain_client.gs1 import gs1_check_digit
from chain_client.ledger import CustodyLedgerClient, object_id
from chain_client.models import ObjectKind, SignedCall, Status
from chain_client.signers import LocalSigner
from gateway.documents.cid import RAW, Cid, multihash_sha256
from gateway.partner.tables import SubmissionRow
from tests.conftest import Gateway

pytestmark = pytest.mark.integration

PROBLEM = "application/problem+json"
FINAL = ("confirmed", "failed")
GTIN = "00614141812349"  # company prefix 0614141, item reference 81234
ZERO_ID = "0x" + "00" * 32

_numbers = itertools.count(1)


def n() -> int:
    return next(_numbers)


def new_gln() -> str:
    body = f"0614143{n():05d}"
    return body + str(gs1_check_digit(body))


def new_serial(prefix: str = "PA") -> str:
    return f"{prefix}{n()}"


def item_urn(serial: str) -> str:
    return f"urn:epc:id:sgtin:0614141.081234.{serial}"


def lot_urn(lot: str) -> str:
    return f"urn:epc:class:lgtin:0614141.081234.{lot}"


def new_sscc() -> tuple[str, str]:
    """A fresh SSCC (18 digits, extension 1, company prefix 0614141) and its EPC URN."""
    ref = f"{n():09d}"
    body = f"10614141{ref}"
    return body + str(gs1_check_digit(body)), f"urn:epc:id:sscc:0614141.1{ref}"


def new_cid() -> Cid:
    return Cid(1, RAW, multihash_sha256(hashlib.sha256(f"document {n()}".encode()).digest()))


def reason_hex(text: str) -> bytes:
    return text.encode().ljust(32, b"\0")


# --- partners, onboarded through the admin API -----------------------------------------------------


@dataclass
class Party:
    id: int
    name: str
    key: str
    key_id: int
    client: httpx.Client
    account: str | None  # custodial account held by the gateway
    glns: list[str]
    signer: LocalSigner | None = None  # the partner's own key (non-custodial partners)


@dataclass
class Net:
    gateway: Gateway
    admin: httpx.Client
    parties: dict[str, Party] = field(default_factory=dict)

    def __getattr__(self, name: str) -> Party:
        try:
            return self.parties[name]
        except KeyError:
            raise AttributeError(name) from None

    @property
    def ledger(self) -> CustodyLedgerClient:
        return self.gateway.services.ledger

    def onboard(self, name: str, role: str, *, custodial: bool = True, glns: int = 1) -> Party:
        signer = None if custodial else LocalSigner.generate()
        locations = [new_gln() for _ in range(glns)]
        body = {
            "name": name, "role": role, "glns": locations, "custodial": custodial,
            "accounts": [signer.address] if signer else [],
        }  # fmt: skip
        response = self.admin.post("/v1/admin/partners", json=body)
        assert response.status_code == 201, response.text
        p = response.json()
        assert p["api_key"]["key"].startswith("ck_")
        client = self.gateway.client(p["api_key"]["key"])
        party = Party(p["partner_id"], name, p["api_key"]["key"], p["api_key"]["id"], client, p["custodial_account"],
                      locations, signer)  # fmt: skip
        self.parties[name] = party
        return party

    def close(self) -> None:
        for party in self.parties.values():
            party.client.close()
        self.admin.close()


@pytest.fixture(scope="module")
def net(gateway: Gateway) -> Iterator[Net]:
    net = Net(gateway, gateway.client(gateway.admin_key))
    net.onboard("maker", "manufacturer")
    net.onboard("maker2", "manufacturer")
    net.onboard("distributor", "distributor")
    net.onboard("pharmacy", "dispenser")
    net.onboard("auditor", "auditor", glns=0)
    net.onboard("self_signer", "manufacturer", custodial=False)
    yield net
    net.close()


# --- submitting and waiting ------------------------------------------------------------------------


def accepted(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 202, response.text
    body: dict[str, Any] = response.json()
    assert response.headers["location"] == f"/v1/submissions/{body['id']}"
    assert body["status"] == "pending"
    assert (body["tx_hash"], body["block_number"], body["error"], body["events"]) == (None, None, None, None)
    assert "idempotent-replayed" not in response.headers
    return body


def settle(client: httpx.Client, submission_id: str, timeout: float = 30.0) -> dict[str, Any]:
    """Polls the submission until it is confirmed or failed."""
    deadline = time.monotonic() + timeout
    while True:
        response = client.get(f"/v1/submissions/{submission_id}")
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        if body["status"] in FINAL:
            return body
        assert time.monotonic() < deadline, f"submission still {body['status']}: {body}"
        time.sleep(0.03)


def confirmed(party: Party, path: str, body: dict[str, Any]) -> dict[str, Any]:
    sub = accepted(party.client.post(path, json=body))
    final = settle(party.client, sub["id"])
    assert final["status"] == "confirmed", final
    assert final["error"] is None
    assert final["tx_hash"].startswith("0x") and final["block_number"] >= 1
    return final


def failed(party: Party, path: str, body: dict[str, Any]) -> dict[str, Any]:
    sub = accepted(party.client.post(path, json=body))
    final = settle(party.client, sub["id"])
    assert final["status"] == "failed", final
    assert final["events"] is None
    return final


def events(submission: dict[str, Any]) -> list[dict[str, Any]]:
    """The submission's events without their log indexes (checked to be increasing)."""
    found = submission["events"]
    indexes = [e["log_index"] for e in found]
    assert indexes == sorted(indexes) and len(set(indexes)) == len(indexes)
    return [{k: v for k, v in e.items() if k != "log_index"} for e in found]


def stored(net: Net, party: Party) -> int:
    """How many submissions the gateway stored for a partner."""
    with net.gateway.services.sessions() as session:
        return int(session.scalar(select(func.count()).where(SubmissionRow.partner_id == party.id)) or 0)


def problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body: dict[str, Any] = response.json()
    assert body["code"] == code, body
    assert body["status"] == status
    assert body["type"] == f"urn:custody:problem:{code}"
    return body


# --- prerequisites, made through the API too ---------------------------------------------------------


def new_items(net: Net, count: int = 1, by: Party | None = None, lot: str = "") -> list[tuple[str, str]]:
    """Registers fresh items; returns (serial, object id) of each."""
    serials = [new_serial() for _ in range(count)]
    items = [{"gtin": GTIN, "serial": s, **({"lot": lot} if lot else {})} for s in serials]
    confirmed(by or net.maker, "/v1/items", {"items": items})
    return [(s, object_id(item_urn(s))) for s in serials]


def new_lot(net: Net, quantity: int, unit: str = "KGM", by: Party | None = None) -> tuple[str, str]:
    lot = new_serial("LOT")
    confirmed(by or net.maker, "/v1/lots", {"lot": {"gtin": GTIN, "lot": lot, "quantity": quantity,
                                                    "unit_of_measure": unit}})  # fmt: skip
    return lot, object_id(lot_urn(lot))


def new_case(net: Net, by: Party | None = None) -> tuple[str, str]:
    sscc, urn = new_sscc()
    confirmed(by or net.maker, "/v1/logistic-units", {"ssccs": [sscc]})
    return sscc, object_id(urn)


def ship(net: Net, serial: str, to: Party, transfer_ownership: bool = False) -> int:
    sub = confirmed(net.maker, "/v1/shipments", {"objects": [{"gtin": GTIN, "serial": serial}], "receiver": to.id,
                                                 "transfer_ownership": transfer_ownership})  # fmt: skip
    return int(sub["events"][0]["shipment_id"])


# --- every operation endpoint: confirmed, with the right events ---------------------------------------


@dataclass
class Scenario:
    party: Party
    body: dict[str, Any]
    expected: list[dict[str, Any]]
    check: Callable[[], None] = lambda: None


def _items(net: Net) -> Scenario:
    a, b = new_serial(), new_serial()
    gln = net.maker.glns[0]
    body = {"items": [
        {"gtin": GTIN, "serial": a, "lot": "L7", "expiry_date": "2031-03-31", "production_date": "2025-01-02",
         "origin_gln": gln},
        {"gtin": GTIN[1:], "serial": b},  # GTIN-13 spelling of the same product
    ]}  # fmt: skip
    m = net.maker.id

    def check() -> None:
        for serial in (a, b):
            view = net.ledger.custody_of(object_id(item_urn(serial)))
            assert (view.kind, view.custodian, view.owner, view.registrant) == (ObjectKind.ITEM, m, m, m)

    return Scenario(net.maker, body, [
        {"event": "ItemRegistered", "object_id": object_id(item_urn(a)), "lot_id": object_id(lot_urn("L7")),
         "partner_id": m, "epc": item_urn(a), "lot": "L7", "expiry_date": 20310331, "production_date": 20250102,
         "origin_gln": gln},
        {"event": "ItemRegistered", "object_id": object_id(item_urn(b)), "lot_id": ZERO_ID, "partner_id": m,
         "epc": item_urn(b), "lot": "", "expiry_date": 0, "production_date": 0, "origin_gln": None},
    ], check)  # fmt: skip


def _lots(net: Net) -> Scenario:
    lot = new_serial("LOT")
    oid = object_id(lot_urn(lot))
    body = {"lot": {"gtin": GTIN, "lot": lot, "quantity": 250, "unit_of_measure": "KGM", "expiry_date": "2030-06-30"}}
    return Scenario(net.maker, body, [
        {"event": "LotRegistered", "object_id": oid, "partner_id": net.maker.id, "epc": lot_urn(lot), "lot": lot,
         "expiry_date": 20300630, "production_date": 0, "origin_gln": None, "quantity": 250, "unit_of_measure": "KGM"},
    ], lambda: _eq(net.ledger.lot_balance(oid), (250, "KGM")))  # fmt: skip


def _logistic_units(net: Net) -> Scenario:
    (s1, u1), (s2, u2) = new_sscc(), new_sscc()
    d = net.distributor.id  # any partner that may hold goods registers cases, not only manufacturers
    return Scenario(net.distributor, {"ssccs": [s1, s2]}, [
        {"event": "LogisticUnitRegistered", "object_id": object_id(u1), "partner_id": d, "epc": u1},
        {"event": "LogisticUnitRegistered", "object_id": object_id(u2), "partner_id": d, "epc": u2},
    ], lambda: _eq(net.ledger.custody_of(object_id(u2)).kind, ObjectKind.LOGISTIC_UNIT))  # fmt: skip


def _shipments(net: Net) -> Scenario:
    ((serial, oid),) = new_items(net)
    m, d = net.maker, net.distributor
    body = {"objects": [{"epc": item_urn(serial)}], "receiver": d.id, "ship_from_gln": m.glns[0],
            "ship_to_gln": d.glns[0], "transfer_ownership": True}  # fmt: skip

    def check() -> None:
        view = net.ledger.custody_of(oid)
        assert (view.status, view.custodian, view.pending_receiver) == (Status.IN_TRANSIT, m.id, d.id)

    return Scenario(m, body, [
        {"event": "ShipmentDispatched", "shipment_id": ANY, "sender": m.id, "receiver": d.id,
         "ship_from_gln": m.glns[0], "ship_to_gln": d.glns[0], "transfer_ownership": True, "object_count": 1},
        {"event": "ObjectShipped", "object_id": oid, "shipment_id": ANY},
    ], check)  # fmt: skip


def _receipts(net: Net) -> Scenario:
    ((serial, oid),) = new_items(net)
    shipment = ship(net, serial, net.distributor, transfer_ownership=True)
    d = net.distributor
    body = {"objects": [{"gtin": GTIN, "serial": serial}], "gln": d.glns[0]}

    def check() -> None:
        view = net.ledger.custody_of(oid)
        assert (view.status, view.custodian, view.owner) == (Status.ACTIVE, d.id, d.id)

    return Scenario(d, body, [
        {"event": "ObjectReceived", "object_id": oid, "shipment_id": shipment, "receiver": d.id, "gln": d.glns[0]},
        {"event": "OwnershipTransferred", "object_id": oid, "previous_owner": net.maker.id, "new_owner": d.id},
    ], check)  # fmt: skip


def _rejections(net: Net) -> Scenario:
    ((serial, oid),) = new_items(net)
    shipment = ship(net, serial, net.distributor)
    d = net.distributor
    return Scenario(d, {"objects": [{"gtin": GTIN, "serial": serial}], "reason": "damaged"}, [
        {"event": "ObjectRejected", "object_id": oid, "shipment_id": shipment, "receiver": d.id, "reason": "damaged"},
    ], lambda: _eq(net.ledger.custody_of(oid).custodian, net.maker.id))  # fmt: skip


def _cancellations(net: Net) -> Scenario:
    ((serial, oid),) = new_items(net)
    shipment = ship(net, serial, net.pharmacy)
    return Scenario(net.maker, {"objects": [{"gtin": GTIN, "serial": serial}]}, [
        {"event": "ShipmentCancelled", "object_id": oid, "shipment_id": shipment, "sender": net.maker.id},
    ], lambda: _eq(net.ledger.custody_of(oid).status, Status.ACTIVE))  # fmt: skip


def _transfers(net: Net) -> Scenario:
    (a, oa), (b, ob) = new_items(net, 2)
    m, d = net.maker.id, net.distributor.id
    body = {"objects": [{"gtin": GTIN, "serial": a}, {"gtin": GTIN, "serial": b}], "receiver": d}
    return Scenario(net.maker, body, [
        {"event": "CustodyTransferred", "object_id": oa, "sender": m, "receiver": d},
        {"event": "CustodyTransferred", "object_id": ob, "sender": m, "receiver": d},
    ], lambda: _eq({net.ledger.custodian_of(oa), net.ledger.custodian_of(ob)}, {d}))  # fmt: skip


def _ownership(net: Net) -> Scenario:
    lot, oid = new_lot(net, 40)
    m, p = net.maker.id, net.pharmacy.id

    def check() -> None:
        view = net.ledger.custody_of(oid)
        assert (view.custodian, view.owner) == (m, p)  # title moved, the goods did not

    return Scenario(net.maker, {"objects": [{"gtin": GTIN, "lot": lot}], "new_owner": p}, [
        {"event": "OwnershipTransferred", "object_id": oid, "previous_owner": m, "new_owner": p},
    ], check)  # fmt: skip


def _pack(net: Net) -> Scenario:
    sscc, case = new_case(net)
    (a, oa), (b, ob) = new_items(net, 2)
    m = net.maker.id
    body = {"parent": {"sscc": sscc}, "children": [{"gtin": GTIN, "serial": a}, {"epc": item_urn(b)}]}
    return Scenario(net.maker, body, [
        {"event": "ObjectPacked", "child": oa, "parent": case, "partner_id": m},
        {"event": "ObjectPacked", "child": ob, "parent": case, "partner_id": m},
    ], lambda: _eq((net.ledger.custody_of(oa).parent, net.ledger.custody_of(ob).root), (case, case)))  # fmt: skip


def _unpack(net: Net) -> Scenario:
    sscc, case = new_case(net)
    (a, oa), (b, ob) = new_items(net, 2)
    children = [{"gtin": GTIN, "serial": a}, {"gtin": GTIN, "serial": b}]
    confirmed(net.maker, "/v1/aggregations/pack", {"parent": {"sscc": sscc}, "children": children})
    return Scenario(net.maker, {"parent": {"sscc": sscc}, "children": children[:1]}, [
        {"event": "ObjectUnpacked", "child": oa, "parent": case, "partner_id": net.maker.id},
    ], lambda: _eq((net.ledger.custody_of(oa).parent, net.ledger.custody_of(ob).parent), (None, case)))  # fmt: skip


def _split(net: Net) -> Scenario:
    lot, oid = new_lot(net, 100)
    out1, out2 = new_serial("SPL"), new_serial("SPL")
    m = net.maker.id
    body = {"lot": {"gtin": GTIN, "lot": lot}, "outputs": [
        {"gtin": GTIN, "lot": out1, "quantity": 30, "unit_of_measure": "KGM"},
        {"gtin": GTIN, "lot": out2, "quantity": 20, "unit_of_measure": "KGM"},
    ]}  # fmt: skip
    genealogy = {"genealogy_id": ANY}
    return Scenario(net.maker, body, [
        {"event": "GenealogyRecorded", **genealogy, "kind": "split", "partner_id": m},
        {"event": "GenealogyInputConsumed", **genealogy, "input": oid, "quantity": 50, "remaining": 50},
        _lot_registered(out1, m, 30),
        {"event": "GenealogyOutputProduced", **genealogy, "output": object_id(lot_urn(out1)), "quantity": 30},
        _lot_registered(out2, m, 20),
        {"event": "GenealogyOutputProduced", **genealogy, "output": object_id(lot_urn(out2)), "quantity": 20},
    ], lambda: _eq(net.ledger.lot_balance(oid), (50, "KGM")))  # fmt: skip


def _merge(net: Net) -> Scenario:
    (l1, o1), (l2, o2) = new_lot(net, 10), new_lot(net, 15)
    out = new_serial("MRG")
    m = net.maker.id
    body = {"lots": [{"gtin": GTIN, "lot": l1}, {"epc": lot_urn(l2)}],
            "output": {"gtin": GTIN, "lot": out, "quantity": 25, "unit_of_measure": "KGM"}}  # fmt: skip
    g = {"genealogy_id": ANY}
    return Scenario(net.maker, body, [
        {"event": "GenealogyRecorded", **g, "kind": "merge", "partner_id": m},
        {"event": "GenealogyInputConsumed", **g, "input": o1, "quantity": 10, "remaining": 0},
        {"event": "GenealogyInputConsumed", **g, "input": o2, "quantity": 15, "remaining": 0},
        _lot_registered(out, m, 25),
        {"event": "GenealogyOutputProduced", **g, "output": object_id(lot_urn(out)), "quantity": 25},
    ], lambda: _eq(net.ledger.lot_balance(object_id(lot_urn(out))), (25, "KGM")))  # fmt: skip


def _transform(net: Net) -> Scenario:
    lot, lot_id = new_lot(net, 100, "LTR")
    ((part, part_id),) = new_items(net)
    out_lot, out_item = new_serial("TRL"), new_serial("TRI")
    m = net.maker.id
    body = {
        "inputs": [{"object": {"gtin": GTIN, "lot": lot}, "quantity": 5}, {"object": {"gtin": GTIN, "serial": part}}],
        "lot_outputs": [{"gtin": GTIN, "lot": out_lot, "quantity": 5, "unit_of_measure": "LTR"}],
        "item_outputs": [{"gtin": GTIN, "serial": out_item}],
    }
    g = {"genealogy_id": ANY}
    return Scenario(net.maker, body, [
        {"event": "GenealogyRecorded", **g, "kind": "transform", "partner_id": m},
        {"event": "GenealogyInputConsumed", **g, "input": lot_id, "quantity": 5, "remaining": 95},
        {"event": "GenealogyInputConsumed", **g, "input": part_id, "quantity": 1, "remaining": 0},
        {"event": "StatusChanged", "object_id": part_id, "previous": "active", "status": "decommissioned",
         "reason": "consumed", "partner_id": m},
        _lot_registered(out_lot, m, 5, "LTR"),
        {"event": "GenealogyOutputProduced", **g, "output": object_id(lot_urn(out_lot)), "quantity": 5},
        {"event": "ItemRegistered", "object_id": object_id(item_urn(out_item)), "lot_id": ZERO_ID, "partner_id": m,
         "epc": item_urn(out_item), "lot": "", "expiry_date": 0, "production_date": 0, "origin_gln": None},
        {"event": "GenealogyOutputProduced", **g, "output": object_id(item_urn(out_item)), "quantity": 1},
    ], lambda: _eq(net.ledger.custody_of(part_id).status, Status.DECOMMISSIONED))  # fmt: skip


def _status(net: Net) -> Scenario:
    ((serial, oid),) = new_items(net)
    body = {"objects": [{"gtin": GTIN, "serial": serial}], "status": "quarantined", "reason": "temperature"}
    return Scenario(net.maker, body, [
        {"event": "StatusChanged", "object_id": oid, "previous": "active", "status": "quarantined",
         "reason": "temperature", "partner_id": net.maker.id},
    ], lambda: _eq(net.ledger.custody_of(oid).status, Status.QUARANTINED))  # fmt: skip


def _recall(net: Net) -> Scenario:
    lot, oid = new_lot(net, 7)
    m = net.maker.id
    return Scenario(net.maker, {"object": {"gtin": GTIN, "lot": lot}, "reason": "contamination"}, [
        {"event": "RecallInitiated", "object_id": oid, "partner_id": m, "reason": "contamination"},
        {"event": "StatusChanged", "object_id": oid, "previous": "active", "status": "recalled",
         "reason": "contamination", "partner_id": m},
    ], lambda: _eq(net.ledger.custody_of(oid).status, Status.RECALLED))  # fmt: skip


def _documents(net: Net) -> Scenario:
    ((serial, oid),) = new_items(net)
    cid = new_cid()
    document_id = "0x" + keccak(abi_encode(["bytes32", "bytes32"], [bytes.fromhex(oid[2:]),
                                                                     keccak(cid.to_bytes())])).hex()  # fmt: skip
    body = {"object": {"gtin": GTIN, "serial": serial}, "document_type": "certificate_of_analysis", "cid": str(cid)}
    return Scenario(net.maker, body, [
        {"event": "DocumentAnchored", "subject": oid, "document_id": document_id, "partner_id": net.maker.id,
         "doc_type": "certificate_of_analysis", "cid": "0x" + cid.to_bytes().hex()},
    ], lambda: _eq(net.ledger.document_anchored_at(document_id) > 0, True))  # fmt: skip


def _lot_registered(lot: str, partner: int, quantity: int, unit: str = "KGM") -> dict[str, Any]:
    return {"event": "LotRegistered", "object_id": object_id(lot_urn(lot)), "partner_id": partner,
            "epc": lot_urn(lot), "lot": lot, "expiry_date": 0, "production_date": 0, "origin_gln": None,
            "quantity": quantity, "unit_of_measure": unit}  # fmt: skip


def _eq(actual: Any, expected: Any) -> None:
    assert actual == expected


SCENARIOS: dict[str, Callable[[Net], Scenario]] = {
    "/v1/items": _items,
    "/v1/lots": _lots,
    "/v1/logistic-units": _logistic_units,
    "/v1/shipments": _shipments,
    "/v1/receipts": _receipts,
    "/v1/rejections": _rejections,
    "/v1/shipment-cancellations": _cancellations,
    "/v1/transfers": _transfers,
    "/v1/ownership-transfers": _ownership,
    "/v1/aggregations/pack": _pack,
    "/v1/aggregations/unpack": _unpack,
    "/v1/lot-splits": _split,
    "/v1/lot-merges": _merge,
    "/v1/transformations": _transform,
    "/v1/status-changes": _status,
    "/v1/recalls": _recall,
    "/v1/document-anchors": _documents,
}


def test_every_operation_endpoint_has_a_scenario(gateway: Gateway) -> None:
    spec = httpx.get(f"{gateway.url}/openapi.json", timeout=120).json()
    posts = {p for p, ops in spec["paths"].items() if "partner" in ops.get("post", {}).get("tags", [])}
    assert posts - {"/v1/batch", "/v1/signed-calls", "/v1/webhooks"} == set(SCENARIOS)


@pytest.mark.parametrize("path", list(SCENARIOS))
def test_operation_is_confirmed_with_its_events(net: Net, path: str) -> None:
    scenario = SCENARIOS[path](net)
    before = stored(net, scenario.party)
    sub = accepted(scenario.party.client.post(path, json=scenario.body))
    assert stored(net, scenario.party) == before + 1
    assert (sub["partner_id"], sub["mode"], sub["signer"]) == (scenario.party.id, "custodial", scenario.party.account)
    final = settle(scenario.party.client, sub["id"])
    assert final["status"] == "confirmed", final
    assert final["error"] is None
    assert final["created_at"] == sub["created_at"]
    assert events(final) == scenario.expected
    receipt = net.gateway.services.ledger.sender.w3.eth.get_transaction_receipt(final["tx_hash"])
    assert (receipt["status"], receipt["blockNumber"]) == (1, final["block_number"])
    assert receipt["to"] == net.ledger.relay_address  # relayed, paid by the gateway's relayer
    scenario.check()


def test_a_document_can_be_anchored_to_a_shipment(net: Net) -> None:
    ((serial, _),) = new_items(net)
    shipment = ship(net, serial, net.distributor)
    cid = new_cid()
    body = {"shipment_id": shipment, "document_type": "bill_of_lading", "cid": str(cid)}
    final = confirmed(net.distributor, "/v1/document-anchors", body)  # the receiver may anchor too
    (event,) = events(final)
    assert (event["event"], event["subject"], event["partner_id"], event["doc_type"]) == (
        "DocumentAnchored", "0x" + shipment.to_bytes(32, "big").hex(), net.distributor.id, "bill_of_lading",
    )  # fmt: skip


def test_batch_endpoint_accepts_each_operation_as_its_own_submission(net: Net) -> None:
    a, b = new_serial(), new_serial()
    lot = new_serial("LOT")
    body = {"operations": [
        {"operation": "register_items", "items": [{"gtin": GTIN, "serial": a}]},
        {"operation": "register_lot", "lot": {"gtin": GTIN, "lot": lot, "quantity": 3}},
        {"operation": "register_items", "items": [{"gtin": GTIN, "serial": b}]},
    ]}  # fmt: skip
    before = stored(net, net.maker)
    response = net.maker.client.post("/v1/batch", json=body)
    assert response.status_code == 202, response.text
    subs = response.json()
    assert [s["operation"] for s in subs] == ["register_items", "register_lot", "register_items"]
    assert len({s["id"] for s in subs}) == 3 and stored(net, net.maker) == before + 3
    finals = [settle(net.maker.client, s["id"]) for s in subs]
    assert [f["status"] for f in finals] == ["confirmed"] * 3
    assert [f["object_ids"] for f in finals] == [[object_id(item_urn(a))], [object_id(lot_urn(lot))],
                                                 [object_id(item_urn(b))]]  # fmt: skip
    assert [e["event"] for f in finals for e in f["events"]] == ["ItemRegistered", "LotRegistered", "ItemRegistered"]


# --- bad input: 422 problem+json with code and field, nothing stored ---------------------------------

BAD_INPUT: list[tuple[str, dict[str, Any], str, str]] = [
    ("/v1/items", {"items": [{"gtin": "00614141812345", "serial": "A1"}]}, "gs1.check_digit", "items[0].gtin"),
    ("/v1/items", {"items": [{"gtin": GTIN, "serial": "A1"}, {"gtin": GTIN, "serial": "B 2"}]},
     "gs1.charset", "items[1].serial"),
    ("/v1/items", {"items": [{"gtin": GTIN, "serial": "A1", "origin_gln": "0614141000006"}]},
     "gs1.check_digit", "items[0].origin_gln"),
    ("/v1/lots", {"lot": {"gtin": GTIN, "lot": "L" * 21, "quantity": 5}}, "gs1.length", "lot.lot"),
    ("/v1/logistic-units", {"ssccs": ["106141411234567897", "106141411234567890"]}, "gs1.check_digit", "ssccs[1]"),
    ("/v1/shipments", {"objects": [{"epc": "urn:epc:id:sgtin:0614141.081234.A/1"}], "receiver": 3},
     "gs1.epc_urn", "objects[0].epc"),
    ("/v1/shipments", {"objects": [{"gtin": GTIN, "serial": "A1"}], "receiver": 3, "ship_to_gln": "123"},
     "gs1.length", "ship_to_gln"),
    ("/v1/receipts", {"objects": [{"gtin": GTIN, "serial": "A1"}], "gln": "0614141000006"}, "gs1.check_digit", "gln"),
    ("/v1/rejections", {"objects": [{"sscc": "10614141123456789"}]}, "gs1.length", "objects[0].sscc"),
    ("/v1/shipment-cancellations", {"objects": [{"gtin": GTIN, "lot": "L\u00e91"}]}, "gs1.charset", "objects[0].lot"),
    ("/v1/transfers", {"objects": [{"gtin": "0061414181234", "serial": "A"}], "receiver": 3},
     "gs1.check_digit", "objects[0].gtin"),
    ("/v1/ownership-transfers", {"objects": [{"epc": "urn:epc:id:sgtin:1.2.3"}], "new_owner": 3},
     "gs1.company_prefix", "objects[0].epc"),
    ("/v1/aggregations/pack", {"parent": {"sscc": "106141411234567890"}, "children": [{"gtin": GTIN, "serial": "A"}]},
     "gs1.check_digit", "parent.sscc"),
    ("/v1/aggregations/unpack", {"parent": {"sscc": "106141411234567897"}, "children": [{"gtin": "1", "serial": "A"}]},
     "gs1.length", "children[0].gtin"),
    ("/v1/lot-splits", {"lot": {"gtin": GTIN, "lot": "L1"}, "outputs": [
        {"gtin": GTIN, "lot": "OK", "quantity": 1}, {"gtin": GTIN, "lot": "NOT OK", "quantity": 1}]},
     "gs1.charset", "outputs[1].lot"),
    ("/v1/lot-merges", {"lots": [{"gtin": GTIN, "lot": "L1"}], "output": {"gtin": "123", "lot": "M", "quantity": 1}},
     "gs1.length", "output.gtin"),
    ("/v1/transformations", {"inputs": [{"object": {"gtin": "00614141812345", "lot": "L"}}],
                             "lot_outputs": [{"gtin": GTIN, "lot": "M", "quantity": 1}]},
     "gs1.check_digit", "inputs[0].object.gtin"),
    ("/v1/status-changes", {"objects": [{"gtin": GTIN, "serial": "S" * 21}], "status": "quarantined"},
     "gs1.length", "objects[0].serial"),
    ("/v1/recalls", {"object": {"gtin": GTIN, "serial": "A#1"}, "reason": "x"}, "gs1.charset", "object.serial"),
    ("/v1/document-anchors", {"object": {"gtin": GTIN, "serial": "A1"}, "document_type": "invoice", "cid": "bafyxx"},
     "ipfs.invalid_cid", "cid"),
    ("/v1/batch", {"operations": [
        {"operation": "register_items", "items": [{"gtin": GTIN, "serial": "OK1"}]},
        {"operation": "register_items", "items": [{"gtin": "00614141812345", "serial": "A"}]},
    ]}, "gs1.check_digit", "operations[1].items[0].gtin"),
]  # fmt: skip


def test_every_operation_endpoint_has_a_bad_input_case() -> None:
    assert {path for path, *_ in BAD_INPUT} == {*SCENARIOS, "/v1/batch"}


@pytest.mark.parametrize(("path", "body", "code", "field"), BAD_INPUT, ids=[f"{p}-{f}" for p, _, _, f in BAD_INPUT])
def test_bad_gs1_input_is_422_with_code_and_field_and_nothing_is_stored(
    net: Net, path: str, body: dict[str, Any], code: str, field: str
) -> None:
    before = stored(net, net.maker)
    response = net.maker.client.post(path, json=body, headers={"Idempotency-Key": f"bad-{n()}"})
    found = problem(response, 422, code)
    assert found["field"] == field
    assert found["detail"]
    assert stored(net, net.maker) == before


SCHEMA_ERRORS: list[tuple[str, Any, str]] = [
    ("/v1/shipments", {"objects": [{"gtin": GTIN, "serial": "A"}], "receiver": 0}, "body.receiver"),
    ("/v1/shipments", {"objects": [], "receiver": 2}, "body.objects"),
    ("/v1/items", {"items": [{"gtin": GTIN, "serial": "A", "colour": "red"}]}, "body.items.0.colour"),
    ("/v1/items", {"items": [{"gtin": GTIN, "serial": "A", "expiry_date": "2030-02-30"}]},
     "body.items.0.expiry_date"),
    ("/v1/lots", {"lot": {"gtin": GTIN, "lot": "L", "quantity": 0}}, "body.lot.quantity"),
    ("/v1/receipts", {"objects": [{"gtin": GTIN, "serial": "A", "sscc": "106141411234567897"}]}, "body.objects.0"),
    ("/v1/status-changes", {"objects": [{"gtin": GTIN, "serial": "A"}], "status": "recalled"}, "body.status"),
    ("/v1/rejections", {"objects": [{"gtin": GTIN, "serial": "A"}], "reason": "x" * 33}, "body.reason"),
    ("/v1/signed-calls", {"signer": "0x12", "data": "0x", "nonce": -1, "deadline": 0, "signature": "0x"},
     "body.signer"),
    ("/v1/items", "not json", "body"),
]  # fmt: skip


@pytest.mark.parametrize(("path", "body", "where"), SCHEMA_ERRORS, ids=[w for _, _, w in SCHEMA_ERRORS])
def test_schema_errors_are_422_naming_the_field_and_nothing_is_stored(
    net: Net, path: str, body: Any, where: str
) -> None:
    before = stored(net, net.maker)
    if isinstance(body, str):
        response = net.maker.client.post(path, content=body, headers={"content-type": "application/json"})
    else:
        response = net.maker.client.post(path, json=body)
    found = problem(response, 422, "request.invalid")
    fields = [e["field"] for e in found["errors"]]
    assert any(f.startswith(where) for f in fields), fields
    assert stored(net, net.maker) == before


# --- auth -----------------------------------------------------------------------------------------


def test_no_key_is_401_with_a_bearer_challenge(gateway: Gateway) -> None:
    with gateway.client() as anonymous:
        for method, path in [("POST", "/v1/items"), ("GET", "/v1/submissions"), ("GET", "/v1/admin/api-keys"),
                             ("GET", "/v1/submissions/x/events")]:  # fmt: skip
            response = anonymous.request(method, path, json={"items": [{"gtin": GTIN, "serial": "A"}]})
            problem(response, 401, "auth.missing_key")
            assert response.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize(
    "authorization",
    ["Bearer nonsense", "Bearer ck_abc", "Bearer ck_000000000000_" + "A" * 43, "Basic dXNlcjpwYXNz", "Bearer",
     "Token ck_000000000000_secret"],
)  # fmt: skip
def test_malformed_or_unknown_key_is_401(gateway: Gateway, authorization: str) -> None:
    response = httpx.get(f"{gateway.url}/v1/submissions", headers={"Authorization": authorization})
    problem(response, 401, "auth.invalid_key")
    assert response.headers["www-authenticate"] == "Bearer"


def test_the_bearer_scheme_is_case_insensitive(net: Net) -> None:
    response = httpx.get(f"{net.gateway.url}/v1/submissions", headers={"Authorization": f"bearer {net.maker.key}"})
    assert response.status_code == 200


def test_a_revoked_key_is_401(net: Net) -> None:
    created = net.admin.post("/v1/admin/api-keys", json={"kind": "partner", "partner_id": net.maker.id})
    assert created.status_code == 201
    key = created.json()
    with net.gateway.client(key["key"]) as client:
        assert client.get("/v1/submissions").status_code == 200
        assert net.admin.post(f"/v1/admin/api-keys/{key['id']}/revoke").status_code == 204
        before = stored(net, net.maker)
        response = client.post("/v1/items", json={"items": [{"gtin": GTIN, "serial": new_serial()}]})
        problem(response, 401, "auth.invalid_key")
        assert response.headers["www-authenticate"] == "Bearer"
        assert stored(net, net.maker) == before
    problem(net.admin.post(f"/v1/admin/api-keys/{key['id']}/revoke"), 404, "resource.not_found")
    listed = {k["id"]: k for k in net.admin.get("/v1/admin/api-keys", params={"partner_id": net.maker.id}).json()}
    assert listed[key["id"]]["revoked_at"] is not None
    assert all(k["key"] is None for k in listed.values())  # secrets are never listed


def test_rotation_retires_the_old_key_and_the_new_one_works(net: Net) -> None:
    created = net.admin.post("/v1/admin/api-keys", json={"kind": "partner", "partner_id": net.maker2.id,
                                                          "name": "erp"}).json()  # fmt: skip
    rotated = net.admin.post(f"/v1/admin/api-keys/{created['id']}/rotate")
    assert rotated.status_code == 201
    new = rotated.json()
    assert new["id"] != created["id"] and new["key"] != created["key"]
    assert (new["kind"], new["partner_id"], set(new["scopes"])) == ("partner", net.maker2.id, {"submit", "read"})
    with net.gateway.client(created["key"]) as old_client:
        response = old_client.get("/v1/submissions")
        problem(response, 401, "auth.invalid_key")
        assert response.headers["www-authenticate"] == "Bearer"
    with net.gateway.client(new["key"]) as new_client:
        sub = accepted(new_client.post("/v1/items", json={"items": [{"gtin": GTIN, "serial": new_serial()}]}))
        assert sub["partner_id"] == net.maker2.id
        assert settle(new_client, sub["id"])["status"] == "confirmed"
    with net.gateway.services.sessions() as session:  # attributed to the key that made it
        row = session.scalar(select(SubmissionRow).where(SubmissionRow.id == sub["id"]))
        assert row is not None and (row.partner_id, row.api_key_id) == (net.maker2.id, new["id"])
    problem(net.admin.post(f"/v1/admin/api-keys/{created['id']}/rotate"), 404, "resource.not_found")


def test_an_auditor_key_reads_but_cannot_submit(net: Net) -> None:
    (final,) = [confirmed(net.maker, "/v1/items", {"items": [{"gtin": GTIN, "serial": new_serial()}]})]
    auditor = net.auditor.client
    before = stored(net, net.auditor)
    for path in SCENARIOS:
        problem(auditor.post(path, json={}), 403, "auth.forbidden")
    problem(auditor.post("/v1/webhooks", json={"url": "http://127.0.0.1:1/x"}), 403, "auth.forbidden")
    assert stored(net, net.auditor) == before
    seen = auditor.get(f"/v1/submissions/{final['id']}")  # auditors read every partner's submissions
    assert seen.status_code == 200 and seen.json()["status"] == "confirmed"
    assert final["id"] in {s["id"] for s in auditor.get("/v1/submissions").json()}
    problem(auditor.get("/v1/admin/api-keys"), 403, "auth.forbidden")


def test_auditor_keys_cannot_be_given_submit(net: Net) -> None:
    body = {"kind": "auditor", "partner_id": net.auditor.id, "scopes": ["read", "submit"]}
    problem(net.admin.post("/v1/admin/api-keys", json=body), 422, "auth.invalid_key_request")
    body = {"kind": "partner", "scopes": ["submit"]}
    problem(net.admin.post("/v1/admin/api-keys", json=body), 422, "auth.invalid_key_request")


def test_a_read_only_partner_key_cannot_submit(net: Net) -> None:
    key = net.admin.post("/v1/admin/api-keys", json={"kind": "partner", "partner_id": net.maker.id,
                                                      "scopes": ["read"]}).json()  # fmt: skip
    with net.gateway.client(key["key"]) as reader:
        problem(reader.post("/v1/items", json={"items": [{"gtin": GTIN, "serial": "A"}]}), 403, "auth.scope")
        assert reader.get("/v1/submissions").status_code == 200


def test_admin_endpoints_refuse_partner_keys(net: Net) -> None:
    client = net.maker.client
    problem(client.get("/v1/admin/api-keys"), 403, "auth.forbidden")
    problem(client.post("/v1/admin/api-keys", json={"kind": "admin"}), 403, "auth.forbidden")
    problem(client.post(f"/v1/admin/api-keys/{net.maker.key_id}/rotate"), 403, "auth.forbidden")
    problem(client.post("/v1/admin/partners", json={"name": "x", "role": "manufacturer"}), 403, "auth.forbidden")
    problem(client.post(f"/v1/admin/partners/{net.maker2.id}/suspend"), 403, "auth.forbidden")
    assert net.ledger.partner(net.maker2.id)[1] is True


def test_an_admin_key_cannot_submit_as_a_partner(net: Net) -> None:
    problem(net.admin.post("/v1/items", json={"items": [{"gtin": GTIN, "serial": "A"}]}), 403, "auth.forbidden")


def test_a_partner_cannot_see_another_partners_submission(net: Net) -> None:
    final = confirmed(net.maker, "/v1/items", {"items": [{"gtin": GTIN, "serial": new_serial()}]})
    other = net.maker2.client
    problem(other.get(f"/v1/submissions/{final['id']}"), 403, "auth.forbidden")
    problem(other.get(f"/v1/submissions/{final['id']}/events"), 403, "auth.forbidden")
    assert final["id"] not in {s["id"] for s in other.get("/v1/submissions", params={"limit": 1000}).json()}
    assert all(s["partner_id"] == net.maker2.id for s in other.get("/v1/submissions").json())
    mine = net.maker.client.get("/v1/submissions", params={"status": "confirmed", "limit": 1000}).json()
    assert final["id"] in {s["id"] for s in mine}
    assert {s["status"] for s in mine} == {"confirmed"}


def test_custodial_keys_are_scrypt_keystores_held_by_the_gateway(net: Net) -> None:
    party = net.maker
    assert party.account is not None
    path = net.gateway.settings.keys_dir / str(party.id) / f"{party.account}.json"
    keystore = json.loads(path.read_text())
    assert keystore["version"] == 3 and keystore["crypto"]["kdf"] == "scrypt"
    assert "0x" + keystore["address"].lower().removeprefix("0x") == party.account.lower()
    final = confirmed(party, "/v1/items", {"items": [{"gtin": GTIN, "serial": new_serial()}]})
    assert final["signer"] == party.account  # the gateway signed with the partner's own custodial key
    assert net.ledger.partner_of(party.account) == party.id


# --- admin: partners and their accounts ----------------------------------------------------------------


def test_onboarding_checks_glns_before_registering(net: Net) -> None:
    body = {"name": "x", "role": "distributor", "glns": ["0614141000006"]}
    found = problem(net.admin.post("/v1/admin/partners", json=body), 422, "gs1.check_digit")
    assert found["field"] == "glns[0]"
    problem(net.admin.post("/v1/admin/partners", json={"name": "x", "role": "pirate"}), 422, "request.invalid")


def test_a_suspended_partner_fails_on_chain_until_reinstated(net: Net) -> None:
    party = net.onboard(f"suspended-{n()}", "manufacturer", glns=0)
    assert net.admin.post(f"/v1/admin/partners/{party.id}/suspend").status_code == 204
    assert net.ledger.partner(party.id)[1] is False
    final = failed(party, "/v1/items", {"items": [{"gtin": GTIN, "serial": new_serial()}]})
    assert (final["error"]["code"], final["error"]["arguments"]) == (
        "custody.partner_suspended",
        {"partnerId": party.id},
    )
    assert net.admin.post(f"/v1/admin/partners/{party.id}/reinstate").status_code == 204
    confirmed(party, "/v1/items", {"items": [{"gtin": GTIN, "serial": new_serial()}]})


def test_accounts_are_added_to_and_removed_from_their_own_partner_only(net: Net) -> None:
    party = net.onboard(f"accounts-{n()}", "manufacturer", custodial=False, glns=0)
    extra = LocalSigner.generate()
    added = net.admin.post(f"/v1/admin/partners/{party.id}/accounts", json={"account": extra.address})
    assert added.status_code == 201, added.text
    assert (added.json()["account"], added.json()["custodial"]) == (extra.address, False)
    assert net.ledger.partner_of(extra.address) == party.id
    call = register_call(net, new_serial(), signer=extra)  # the new key signs for the partner
    assert settle(party.client, accepted(party.client.post("/v1/signed-calls", json=as_json(call)))["id"])[
        "status"] == "confirmed"  # fmt: skip

    custodial = net.admin.post(f"/v1/admin/partners/{party.id}/accounts", json={})
    assert custodial.status_code == 201 and custodial.json()["custodial"] is True
    assert net.gateway.services.keyring.accounts(party.id) == [custodial.json()["account"]]

    wrong = net.admin.delete(f"/v1/admin/partners/{net.maker.id}/accounts/{extra.address}")  # not maker's
    problem(wrong, 404, "resource.not_found")
    assert net.ledger.partner_of(extra.address) == party.id
    assert net.admin.delete(f"/v1/admin/partners/{party.id}/accounts/{extra.address}").status_code == 204
    assert net.ledger.partner_of(extra.address) == 0
    stale = register_call(net, new_serial(), signer=extra, nonce=call.nonce + 1)
    problem(party.client.post("/v1/signed-calls", json=as_json(stale)), 403, "auth.forbidden")


def test_an_unknown_submission_is_404(net: Net) -> None:
    problem(net.maker.client.get("/v1/submissions/00000000-0000-0000-0000-000000000000"), 404, "resource.not_found")
    problem(net.maker.client.get("/v1/submissions/nope/events"), 404, "resource.not_found")


# --- idempotency ----------------------------------------------------------------------------------


def test_same_idempotency_key_and_body_returns_the_original_submission(net: Net) -> None:
    key = f"idem-{n()}"
    body = {"items": [{"gtin": GTIN, "serial": new_serial()}]}
    before = stored(net, net.maker)
    first = accepted(net.maker.client.post("/v1/items", json=body, headers={"Idempotency-Key": key}))
    again = net.maker.client.post("/v1/items", json={"operation": "register_items", **body},  # same request, spelt
                                  headers={"Idempotency-Key": key})  # fmt: skip
    assert again.status_code == 200
    assert again.headers["idempotent-replayed"] == "true"
    assert again.headers["location"] == f"/v1/submissions/{first['id']}"
    assert again.json()["id"] == first["id"]
    assert stored(net, net.maker) == before + 1
    final = settle(net.maker.client, first["id"])
    later = net.maker.client.post("/v1/items", json=body, headers={"Idempotency-Key": key})
    assert later.status_code == 200 and later.json()["status"] == final["status"] == "confirmed"
    assert later.json()["tx_hash"] == final["tx_hash"]
    assert stored(net, net.maker) == before + 1


def test_same_idempotency_key_with_another_body_is_409(net: Net) -> None:
    key = f"idem-{n()}"
    first = accepted(net.maker.client.post("/v1/items", json={"items": [{"gtin": GTIN, "serial": new_serial()}]},
                                           headers={"Idempotency-Key": key}))  # fmt: skip
    before = stored(net, net.maker)
    response = net.maker.client.post("/v1/items", json={"items": [{"gtin": GTIN, "serial": new_serial()}]},
                                     headers={"Idempotency-Key": key})  # fmt: skip
    found = problem(response, 409, "idempotency.conflict")
    assert first["id"] in found["detail"]
    other_endpoint = net.maker.client.post("/v1/lots", json={"lot": {"gtin": GTIN, "lot": "L1", "quantity": 1}},
                                           headers={"Idempotency-Key": key})  # fmt: skip
    problem(other_endpoint, 409, "idempotency.conflict")
    assert stored(net, net.maker) == before


def test_idempotency_keys_are_per_partner(net: Net) -> None:
    key = f"idem-{n()}"
    mine = accepted(net.maker.client.post("/v1/items", json={"items": [{"gtin": GTIN, "serial": new_serial()}]},
                                          headers={"Idempotency-Key": key}))  # fmt: skip
    theirs = accepted(net.maker2.client.post("/v1/items", json={"items": [{"gtin": GTIN, "serial": new_serial()}]},
                                             headers={"Idempotency-Key": key}))  # fmt: skip
    assert mine["id"] != theirs["id"]
    assert settle(net.maker2.client, theirs["id"])["status"] == "confirmed"


def test_concurrent_requests_with_one_idempotency_key_store_one_submission(net: Net) -> None:
    key = f"idem-{n()}"
    body = {"items": [{"gtin": GTIN, "serial": new_serial()}]}
    before = stored(net, net.maker)

    def post(_: int) -> httpx.Response:
        with net.gateway.client(net.maker.key) as client:
            return client.post("/v1/items", json=body, headers={"Idempotency-Key": key})

    with ThreadPoolExecutor(max_workers=6) as pool:
        responses = list(pool.map(post, range(6)))
    assert sorted(r.status_code for r in responses) == [200] * 5 + [202]
    assert len({r.json()["id"] for r in responses}) == 1
    assert stored(net, net.maker) == before + 1


# --- partner-signed calls (non-custodial) --------------------------------------------------------------


def signed(net: Net, function: str, *args: Any, signer: LocalSigner | None = None, **kw: Any) -> SignedCall:
    return net.ledger.sign(signer or net.self_signer.signer, function, *args, **kw)  # type: ignore[arg-type]


def register_call(net: Net, serial: str, **kw: Any) -> SignedCall:
    return signed(net, "registerItems", [(item_urn(serial), "", 0, 0, 0)], **kw)


def as_json(call: SignedCall) -> dict[str, Any]:
    return {"signer": call.signer, "data": "0x" + call.data.hex(), "nonce": call.nonce, "deadline": call.deadline,
            "signature": "0x" + call.signature.hex()}  # fmt: skip


def test_a_partner_signed_call_is_relayed_and_confirmed(net: Net) -> None:
    party = net.self_signer
    assert party.account is None and party.signer is not None
    serial = new_serial()
    nonce = net.ledger.relay_nonce(party.signer.address)
    sub = accepted(party.client.post("/v1/signed-calls", json=as_json(register_call(net, serial))))
    assert (sub["mode"], sub["signer"], sub["operation"]) == ("signed", party.signer.address, "registerItems")
    final = settle(party.client, sub["id"])
    assert final["status"] == "confirmed", final
    (event,) = events(final)
    assert (event["event"], event["object_id"], event["partner_id"]) == (
        "ItemRegistered", object_id(item_urn(serial)), party.id,
    )  # fmt: skip
    assert net.ledger.relay_nonce(party.signer.address) == nonce + 1
    assert net.ledger.custodian_of(object_id(item_urn(serial))) == party.id


def test_a_non_custodial_partner_cannot_use_custodial_endpoints(net: Net) -> None:
    before = stored(net, net.self_signer)
    response = net.self_signer.client.post("/v1/items", json={"items": [{"gtin": GTIN, "serial": new_serial()}]})
    problem(response, 409, "keyring.unavailable")
    assert stored(net, net.self_signer) == before


def _wrong_key(net: Net, call: SignedCall) -> SignedCall:
    other = LocalSigner.generate()
    typed_call = sign_call(other, chain_id=net.ledger.sender.chain_id, relay=net.ledger.relay_address,
                           data=call.data, nonce=call.nonce, deadline=call.deadline)  # fmt: skip
    return SignedCall(call.signer, call.data, call.nonce, call.deadline, typed_call.signature)


def _domain(net: Net, call: SignedCall, chain_id: int, relay: str) -> SignedCall:
    signer = net.self_signer.signer
    assert signer is not None
    return sign_call(signer, chain_id=chain_id, relay=relay, data=call.data, nonce=call.nonce, deadline=call.deadline)


SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


def _high_s(net: Net, call: SignedCall) -> SignedCall:
    """The same signature in its malleable twin form (s -> n - s, v flipped): valid for ecrecover."""
    r, s, v = call.signature[:32], int.from_bytes(call.signature[32:64], "big"), call.signature[64]
    twin = r + (SECP256K1_N - s).to_bytes(32, "big") + bytes([55 - v if v in (27, 28) else 1 - v])
    return SignedCall(call.signer, call.data, call.nonce, call.deadline, twin)


SIGNATURE_ERRORS: dict[str, tuple[Callable[[Net, SignedCall], SignedCall], str]] = {
    "signed-by-another-key": (_wrong_key, "signature.wrong_signer"),
    "signed-for-another-chain": (lambda net, c: _domain(net, c, 1, net.ledger.relay_address), "signature.wrong_signer"),
    "signed-for-another-relay": (lambda net, c: _domain(net, c, net.ledger.sender.chain_id, net.ledger.address),
                                 "signature.wrong_signer"),
    "tampered-data": (lambda net, c: SignedCall(c.signer, c.data[:-1] + b"\x01", c.nonce, c.deadline, c.signature),
                      "signature.wrong_signer"),
    "tampered-nonce": (lambda net, c: SignedCall(c.signer, c.data, c.nonce + 1, c.deadline, c.signature),
                       "signature.wrong_signer"),
    "expired": (lambda net, c: _domain(net, SignedCall(c.signer, c.data, c.nonce, int(time.time()) - 5),
                                       net.ledger.sender.chain_id, net.ledger.relay_address), "signature.expired"),
    "high-s-signature": (_high_s, "signature.malleable"),
    "undecodable-signature": (lambda net, c: SignedCall(c.signer, c.data, c.nonce, c.deadline, b"\0" * 65),
                              "signature.invalid"),
    "unknown-function": (lambda net, c: _domain(net, SignedCall(c.signer, b"\xde\xad\xbe\xef", c.nonce, c.deadline),
                                                net.ledger.sender.chain_id, net.ledger.relay_address),
                         "signature.unknown_function"),
}  # fmt: skip


@pytest.mark.parametrize("case", list(SIGNATURE_ERRORS))
def test_invalid_signed_calls_are_422_and_not_stored(net: Net, case: str) -> None:
    make, code = SIGNATURE_ERRORS[case]
    call = make(net, register_call(net, new_serial()))
    before = stored(net, net.self_signer)
    found = problem(net.self_signer.client.post("/v1/signed-calls", json=as_json(call)), 422, code)
    assert found["detail"]
    assert stored(net, net.self_signer) == before


def test_a_signed_call_of_another_partners_account_is_403(net: Net) -> None:
    call = register_call(net, new_serial())  # signed by self_signer's own key
    before = stored(net, net.maker)
    problem(net.maker.client.post("/v1/signed-calls", json=as_json(call)), 403, "auth.forbidden")
    outsider = LocalSigner.generate()  # an account that belongs to no partner at all
    foreign = register_call(net, new_serial(), signer=outsider, nonce=0)
    problem(net.maker.client.post("/v1/signed-calls", json=as_json(foreign)), 403, "auth.forbidden")
    assert stored(net, net.maker) == before


def test_out_of_order_nonces_wait_for_the_missing_one(net: Net) -> None:
    party = net.self_signer
    assert party.signer is not None
    nonce = net.ledger.relay_nonce(party.signer.address)
    a, b = new_serial(), new_serial()
    first = register_call(net, a, nonce=nonce)
    second = register_call(net, b, nonce=nonce + 1)
    later = accepted(party.client.post("/v1/signed-calls", json=as_json(second)))
    time.sleep(0.5)  # many worker rounds: nonce n+1 must be held, not failed and not sent
    held = party.client.get(f"/v1/submissions/{later['id']}").json()
    assert held["status"] == "pending", held
    assert net.ledger.relay_nonce(party.signer.address) == nonce
    earlier = accepted(party.client.post("/v1/signed-calls", json=as_json(first)))
    done_earlier, done_later = settle(party.client, earlier["id"]), settle(party.client, later["id"])
    assert (done_earlier["status"], done_later["status"]) == ("confirmed", "confirmed"), (done_earlier, done_later)
    assert done_earlier["block_number"] <= done_later["block_number"]
    assert net.ledger.relay_nonce(party.signer.address) == nonce + 2
    assert {net.ledger.custodian_of(object_id(item_urn(s))) for s in (a, b)} == {party.id}


def test_a_reused_nonce_fails_with_invalid_nonce(net: Net) -> None:
    party = net.self_signer
    assert party.signer is not None
    nonce = net.ledger.relay_nonce(party.signer.address)
    used = register_call(net, new_serial(), nonce=nonce)
    assert settle(party.client, accepted(party.client.post("/v1/signed-calls", json=as_json(used)))["id"])[
        "status"] == "confirmed"  # fmt: skip
    serial = new_serial()
    again = register_call(net, serial, nonce=nonce)  # a different call signed with the spent nonce
    final = settle(party.client, accepted(party.client.post("/v1/signed-calls", json=as_json(again)))["id"])
    assert final["status"] == "failed"
    assert final["error"]["code"] == "signature.invalid_nonce"
    assert final["error"]["arguments"] == {"account": party.signer.address, "currentNonce": nonce + 1}
    assert net.ledger.relay_nonce(party.signer.address) == nonce + 1
    with pytest.raises(Exception, match="CustodyUnknownObject"):
        net.ledger.custody_of(object_id(item_urn(serial)))


def test_signed_calls_honour_idempotency_keys(net: Net) -> None:
    party = net.self_signer
    call = register_call(net, new_serial())
    key = f"idem-{n()}"
    first = accepted(party.client.post("/v1/signed-calls", json=as_json(call), headers={"Idempotency-Key": key}))
    again = party.client.post("/v1/signed-calls", json=as_json(call), headers={"Idempotency-Key": key})
    assert again.status_code == 200 and again.headers["idempotent-replayed"] == "true"
    assert again.json()["id"] == first["id"]
    other = register_call(net, new_serial(), nonce=call.nonce + 1)
    problem(party.client.post("/v1/signed-calls", json=as_json(other), headers={"Idempotency-Key": key}), 409,
            "idempotency.conflict")  # fmt: skip
    assert settle(party.client, first["id"])["status"] == "confirmed"


# --- a ledger call that reverts ---------------------------------------------------------------------


def test_a_reverting_call_fails_with_the_decoded_custom_error(net: Net) -> None:
    ((serial, oid),) = new_items(net)
    confirmed(
        net.maker, "/v1/transfers", {"objects": [{"gtin": GTIN, "serial": serial}], "receiver": net.distributor.id}
    )
    final = failed(
        net.maker, "/v1/shipments", {"objects": [{"gtin": GTIN, "serial": serial}], "receiver": net.pharmacy.id}
    )
    assert final["error"] == {
        "code": "custody.not_custodian",
        "name": "CustodyNotCustodian",
        "arguments": {"objectId": oid, "partnerId": net.maker.id, "custodian": net.distributor.id},
        "detail": ANY,
    }
    assert final["tx_hash"] and final["block_number"]  # the relay transaction ran; this entry failed in it
    assert net.ledger.custodian_of(oid) == net.distributor.id


def test_reverts_carry_the_ledgers_own_error_codes(net: Net) -> None:
    ((serial, oid),) = new_items(net)
    again = failed(net.maker, "/v1/items", {"items": [{"gtin": GTIN, "serial": serial}]})
    assert (again["error"]["code"], again["error"]["arguments"]) == ("custody.already_registered", {"objectId": oid})
    role = failed(net.distributor, "/v1/items", {"items": [{"gtin": GTIN, "serial": new_serial()}]})
    assert (role["error"]["code"], role["error"]["arguments"]) == (
        "custody.role_not_allowed", {"partnerId": net.distributor.id, "role": 1},
    )  # fmt: skip
    receiver = failed(net.maker, "/v1/transfers", {"objects": [{"gtin": GTIN, "serial": serial}],
                                                   "receiver": net.auditor.id})  # fmt: skip
    assert (receiver["error"]["code"], receiver["error"]["arguments"]) == (
        "custody.invalid_receiver", {"receiver": net.auditor.id},
    )  # fmt: skip


def test_a_failing_entry_does_not_sink_the_others(net: Net) -> None:
    ((serial, _),) = new_items(net)
    good_a, good_b = new_serial(), new_serial()
    body = {"operations": [
        {"operation": "register_items", "items": [{"gtin": GTIN, "serial": good_a}]},
        {"operation": "register_items", "items": [{"gtin": GTIN, "serial": serial}]},  # already registered
        {"operation": "register_items", "items": [{"gtin": GTIN, "serial": good_b}]},
    ]}  # fmt: skip
    response = net.maker.client.post("/v1/batch", json=body)
    assert response.status_code == 202
    finals = [settle(net.maker.client, s["id"]) for s in response.json()]
    assert [f["status"] for f in finals] == ["confirmed", "failed", "confirmed"]
    assert finals[1]["error"]["code"] == "custody.already_registered"
    assert {net.ledger.custodian_of(object_id(item_urn(s))) for s in (good_a, good_b)} == {net.maker.id}


# --- timestamps ------------------------------------------------------------------------------------


def test_timestamps_are_utc_and_stable(net: Net) -> None:
    sub = accepted(net.maker.client.post("/v1/items", json={"items": [{"gtin": GTIN, "serial": new_serial()}]}))
    final = settle(net.maker.client, sub["id"])
    assert sub["created_at"] == final["created_at"]
    for stamp in (sub["created_at"], final["created_at"], final["updated_at"]):
        assert stamp.endswith(("Z", "+00:00")), stamp
    assert dt.datetime.fromisoformat(final["updated_at"]) >= dt.datetime.fromisoformat(final["created_at"])


# --- Server-Sent Events -----------------------------------------------------------------------------


def read_sse(response: httpx.Response) -> Iterator[dict[str, Any]]:
    event: str | None = None
    for line in response.iter_lines():
        if line.startswith("event: "):
            event = line.removeprefix("event: ")
        elif line.startswith("data: "):
            assert event == "status"
            yield json.loads(line.removeprefix("data: "))


def test_sse_streams_a_submission_until_confirmed(net: Net) -> None:
    party = net.self_signer
    assert party.signer is not None
    nonce = net.ledger.relay_nonce(party.signer.address)
    held = accepted(
        party.client.post("/v1/signed-calls", json=as_json(register_call(net, new_serial(), nonce=nonce + 1)))
    )
    seen: queue.Queue[dict[str, Any] | None] = queue.Queue()
    content_type: list[str] = []

    def listen() -> None:
        with party.client.stream("GET", f"/v1/submissions/{held['id']}/events") as response:
            content_type.append(response.headers["content-type"])
            for status in read_sse(response):
                seen.put(status)
        seen.put(None)  # the server closed the stream

    thread = threading.Thread(target=listen, daemon=True)
    thread.start()
    first = seen.get(timeout=10)
    assert first is not None and first["status"] == "pending" and first["id"] == held["id"]
    time.sleep(0.3)
    assert seen.empty()  # nothing changed, nothing streamed
    accepted(party.client.post("/v1/signed-calls", json=as_json(register_call(net, new_serial(), nonce=nonce))))
    statuses = ["pending"]
    last = first
    while (item := seen.get(timeout=30)) is not None:
        statuses.append(item["status"])
        last = item
    thread.join(timeout=5)
    assert content_type[0].startswith("text/event-stream")
    order = ["pending", "submitted", "confirmed"]
    assert statuses == sorted(set(statuses), key=order.index), statuses  # forward only, each state once
    assert statuses[-1] == "confirmed"
    assert last["tx_hash"] and last["block_number"] and last["events"][0]["event"] == "ItemRegistered"


def test_sse_of_a_finished_submission_sends_one_event_and_closes(net: Net) -> None:
    final = confirmed(net.maker, "/v1/items", {"items": [{"gtin": GTIN, "serial": new_serial()}]})
    with net.maker.client.stream("GET", f"/v1/submissions/{final['id']}/events") as response:
        assert response.status_code == 200
        streamed = list(read_sse(response))
    assert [s["status"] for s in streamed] == ["confirmed"]
    assert streamed[0]["tx_hash"] == final["tx_hash"]


# --- webhooks -------------------------------------------------------------------------------------


class _Receiver(BaseHTTPRequestHandler):
    def do_POST(self) -> None:  # http.server's naming
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.received.put((dict(self.headers), body))  # type: ignore[attr-defined]
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def hook_server() -> Iterator[tuple[str, queue.Queue[tuple[dict[str, str], bytes]]]]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    server.received = queue.Queue()  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook", server.received  # type: ignore[attr-defined]
    server.shutdown()
    server.server_close()


def test_webhooks_are_hmac_signed_and_only_for_their_partner(
    net: Net, hook_server: tuple[str, queue.Queue[tuple[dict[str, str], bytes]]]
) -> None:
    url, received = hook_server
    party = net.onboard(f"hooked-{n()}", "manufacturer")
    response = party.client.post("/v1/webhooks", json={"url": url})
    assert response.status_code == 201
    hook = response.json()
    assert hook["url"] == url and len(hook["secret"]) >= 32
    other = confirmed(net.maker, "/v1/items", {"items": [{"gtin": GTIN, "serial": new_serial()}]})
    final = confirmed(party, "/v1/items", {"items": [{"gtin": GTIN, "serial": new_serial()}]})
    deliveries: list[dict[str, Any]] = []
    deadline = time.monotonic() + 20
    while not any(d["submission"]["status"] == "confirmed" for d in deliveries):
        headers, body = received.get(timeout=max(0.1, deadline - time.monotonic()))
        timestamp = headers["X-Custody-Timestamp"]
        expected = hmac.new(hook["secret"].encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
        assert hmac.compare_digest(headers["X-Custody-Signature"], f"sha256={expected}")
        wrong = hmac.new(b"another secret", f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
        assert headers["X-Custody-Signature"] != f"sha256={wrong}"
        assert abs(int(timestamp) - time.time()) < 60
        assert headers["Content-Type"] == "application/json"
        deliveries.append(json.loads(body))
    assert all(d["type"] == "submission.status" for d in deliveries)
    assert {d["submission"]["id"] for d in deliveries} == {final["id"]}  # never the other partner's
    assert other["id"] not in {d["submission"]["id"] for d in deliveries}
    last = deliveries[-1]["submission"]
    assert (last["status"], last["tx_hash"], last["block_number"], last["object_ids"]) == (
        "confirmed", final["tx_hash"], final["block_number"], final["object_ids"],
    )  # fmt: skip


def test_webhook_urls_must_be_http(net: Net) -> None:
    problem(net.maker.client.post("/v1/webhooks", json={"url": "ftp://example.org/x"}), 422, "request.invalid")


# --- many partners at once ---------------------------------------------------------------------------


def test_concurrent_submissions_of_eight_partners_are_each_confirmed_exactly_once(net: Net) -> None:
    parties = [net.onboard(f"busy-{n()}", "manufacturer", glns=0) for _ in range(8)]
    per_party = 3
    w3 = net.ledger.sender.w3
    start_block = int(w3.eth.block_number)

    def work(party: Party) -> list[tuple[str, list[str]]]:
        out = []
        with net.gateway.client(party.key) as client:
            for _ in range(per_party):
                serials = [new_serial("C"), new_serial("C")]
                body = {"items": [{"gtin": GTIN, "serial": s} for s in serials]}
                out.append((accepted(client.post("/v1/items", json=body))["id"], serials))
        return out

    with ThreadPoolExecutor(max_workers=8) as pool:
        submitted = dict(zip([p.id for p in parties], pool.map(work, parties), strict=True))

    by_party = {p.id: p for p in parties}
    finals: dict[str, dict[str, Any]] = {}
    for partner_id, subs in submitted.items():
        for sid, serials in subs:
            final = settle(by_party[partner_id].client, sid, timeout=60)
            assert final["status"] == "confirmed", final
            assert [e["object_id"] for e in final["events"]] == [object_id(item_urn(s)) for s in serials]
            finals[sid] = final

    ledger = net.ledger
    for partner_id, subs in submitted.items():
        party = by_party[partner_id]
        assert party.account is not None
        assert ledger.relay_nonce(party.account) == per_party  # one relay nonce per submission
        for _, serials in subs:
            for s in serials:
                assert ledger.custodian_of(object_id(item_urn(s))) == partner_id

    # every submission's transaction holds its objects exactly once, attributed to its own entry
    with net.gateway.services.sessions() as session:
        rows = {r.id: r for r in session.scalars(select(SubmissionRow).where(SubmissionRow.id.in_(finals)))}
    decoded: dict[str, list[Any]] = {}
    for sid, final in finals.items():
        if final["tx_hash"] not in decoded:
            decoded[final["tx_hash"]] = ledger.events.decode_logs(
                w3.eth.get_transaction_receipt(final["tx_hash"])["logs"]
            )
        tx_events = decoded[final["tx_hash"]]
        registered = Counter(e.object_id for e in tx_events if isinstance(e, ItemRegistered))
        assert all(registered[oid] == 1 for oid in final["object_ids"])
        (marker,) = [e for e in tx_events if isinstance(e, SignedCallExecuted) and e.index == rows[sid].batch_index]
        assert (marker.signer, marker.nonce) == (rows[sid].signer, rows[sid].relay_nonce)

    # and the chain as a whole saw each object registered once, and no entry of these signers failed
    all_events = ledger.get_events(start_block)
    oids = [oid for f in finals.values() for oid in f["object_ids"]]
    counts = Counter(e.object_id for e in all_events if isinstance(e, ItemRegistered))
    assert [counts[oid] for oid in oids] == [1] * len(oids) == [1] * 8 * per_party * 2
    accounts = {p.account for p in parties}
    executed = Counter(
        (e.signer, e.nonce) for e in all_events if isinstance(e, SignedCallExecuted) and e.signer in accounts
    )
    assert executed == Counter({(a, k): 1 for a in accounts for k in range(per_party)})
    assert not [e for e in all_events if isinstance(e, SignedCallFailed) and e.signer in accounts]
