"""POST /v1/batch with an Idempotency-Key: the same key and body answer the original submissions;
another body under the key is a 409 problem. Against the session's gateway (HTTP + Anvil)."""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from gateway.partner.tables import BatchRequestRow, SubmissionRow
from tests.conftest import Gateway

pytestmark = pytest.mark.integration

GTIN = "00614141812349"
PROBLEM = "application/problem+json"
_serials = itertools.count(1)


def items(*serials: str) -> dict[str, Any]:
    return {"operations": [{"operation": "register_items", "items": [{"gtin": GTIN, "serial": s}]} for s in serials]}


def serial() -> str:
    return f"BI{time.time_ns() % 10**8}x{next(_serials)}"


def stored(gateway: Gateway, partner_id: int) -> int:
    with gateway.services.sessions() as session:
        return int(session.scalar(select(func.count()).where(SubmissionRow.partner_id == partner_id)) or 0)


def conflict(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 409, response.text
    assert response.headers["content-type"] == PROBLEM
    body: dict[str, Any] = response.json()
    assert (body["code"], body["status"], body["type"]) == (
        "idempotency.conflict", 409, "urn:custody:problem:idempotency.conflict",
    )  # fmt: skip
    return body


@pytest.fixture(scope="module")
def partners(gateway: Gateway) -> Iterator[list[tuple[int, httpx.Client]]]:
    clients: list[tuple[int, httpx.Client]] = []
    with gateway.client(gateway.admin_key) as admin:
        for index in range(2):
            response = admin.post("/v1/admin/partners", json={"name": f"batcher-{index}-{serial()}",
                                                              "role": "manufacturer"})  # fmt: skip
            assert response.status_code == 201, response.text
            body = response.json()
            clients.append((body["partner_id"], gateway.client(body["api_key"]["key"])))
    yield clients
    for _, client in clients:
        client.close()


def test_the_same_key_and_body_answer_the_original_submissions(
    gateway: Gateway, partners: list[tuple[int, httpx.Client]]
) -> None:
    (pid, client), (other_pid, other) = partners
    body = items(serial(), serial(), serial())
    first = client.post("/v1/batch", json=body, headers={"Idempotency-Key": "batch-1"})
    assert first.status_code == 202 and "idempotent-replayed" not in first.headers
    ids = [s["id"] for s in first.json()]
    assert len(set(ids)) == 3
    count = stored(gateway, pid)

    again = client.post("/v1/batch", json=body, headers={"Idempotency-Key": "batch-1"})
    assert again.status_code == 200 and again.headers["idempotent-replayed"] == "true"
    assert [s["id"] for s in again.json()] == ids  # the same ones, in the same order
    assert stored(gateway, pid) == count

    # the submissions go on; a later replay shows where they stand now
    deadline = time.monotonic() + 30
    while {client.get(f"/v1/submissions/{i}").json()["status"] for i in ids} != {"confirmed"}:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    late = client.post("/v1/batch", json=body, headers={"Idempotency-Key": "batch-1"})
    assert late.status_code == 200
    assert [(s["id"], s["status"]) for s in late.json()] == [(i, "confirmed") for i in ids]

    # keys belong to a partner: another one may use the same key for its own batch
    theirs = other.post("/v1/batch", json=body | items(serial()), headers={"Idempotency-Key": "batch-1"})
    assert theirs.status_code == 202 and stored(gateway, other_pid) == 1
    # without a key, every request is new
    bodies = items(serial())
    plain = [client.post("/v1/batch", json=bodies).json()[0]["id"] for _ in range(2)]
    assert plain[0] != plain[1]


def test_the_same_key_with_another_body_is_a_conflict(
    gateway: Gateway, partners: list[tuple[int, httpx.Client]]
) -> None:
    (pid, client), _ = partners
    a, b = serial(), serial()
    assert client.post("/v1/batch", json=items(a, b), headers={"Idempotency-Key": "batch-2"}).status_code == 202
    count = stored(gateway, pid)
    for changed in (items(a), items(a, b, serial()), items(b, a), items(a, serial())):
        body = conflict(client.post("/v1/batch", json=changed, headers={"Idempotency-Key": "batch-2"}))
        assert "batch-2" in body["detail"]
    assert stored(gateway, pid) == count  # nothing stored by a conflicting request
    with gateway.services.sessions() as session:
        (batch,) = session.scalars(
            select(BatchRequestRow).where(
                BatchRequestRow.partner_id == pid, BatchRequestRow.idempotency_key == "batch-2"
            )
        )
        assert len(batch.submission_ids) == 2


def test_a_key_names_either_one_submission_or_one_batch(
    gateway: Gateway, partners: list[tuple[int, httpx.Client]]
) -> None:
    (_, client), _ = partners
    single = client.post("/v1/items", json={"items": [{"gtin": GTIN, "serial": serial()}]},
                         headers={"Idempotency-Key": "used-by-one"})  # fmt: skip
    assert single.status_code == 202
    conflict(client.post("/v1/batch", json=items(serial()), headers={"Idempotency-Key": "used-by-one"}))

    assert (
        client.post("/v1/batch", json=items(serial()), headers={"Idempotency-Key": "used-by-batch"}).status_code == 202
    )
    conflict(client.post("/v1/items", json={"items": [{"gtin": GTIN, "serial": serial()}]},
                         headers={"Idempotency-Key": "used-by-batch"}))  # fmt: skip


def test_a_refused_batch_does_not_use_up_its_key(gateway: Gateway, partners: list[tuple[int, httpx.Client]]) -> None:
    (pid, client), _ = partners
    count = stored(gateway, pid)
    bad = items(serial(), serial())
    bad["operations"][1]["items"][0]["gtin"] = "00614141812340"  # wrong check digit
    refused = client.post("/v1/batch", json=bad, headers={"Idempotency-Key": "batch-3"})
    assert refused.status_code == 422 and refused.json()["field"] == "operations[1].items[0].gtin"
    assert stored(gateway, pid) == count
    good = client.post("/v1/batch", json=items(serial()), headers={"Idempotency-Key": "batch-3"})
    assert good.status_code == 202
    too_long = client.post("/v1/batch", json=items(serial()), headers={"Idempotency-Key": "k" * 201})
    assert (too_long.status_code, too_long.json()["code"]) == (422, "request.invalid")
