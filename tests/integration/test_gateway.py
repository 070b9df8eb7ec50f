"""The gateway skeleton over real HTTP."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import Gateway

pytestmark = pytest.mark.integration


def test_health_reports_chain_block_and_contracts(gateway: Gateway) -> None:
    response = httpx.get(f"{gateway.url}/health")
    assert response.status_code == 200
    body = response.json()
    assert body["chain_id"] == 31337
    assert isinstance(body["latest_block"], int) and body["latest_block"] >= 1
    assert set(body["contracts"]) == {"CustodyLedger", "CustodyRelay"}
    assert body["contracts"]["CustodyLedger"].startswith("0x")


def test_openapi_and_docs_are_served(gateway: Gateway) -> None:
    spec = httpx.get(f"{gateway.url}/openapi.json", timeout=120).json()
    assert "/health" in spec["paths"]
    docs = httpx.get(f"{gateway.url}/docs")
    assert docs.status_code == 200 and "swagger" in docs.text.lower()


def test_unknown_path_is_problem_json(gateway: Gateway) -> None:
    response = httpx.get(f"{gateway.url}/no/such/path")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "http.not_found"


def test_wrong_method_is_problem_json(gateway: Gateway) -> None:
    response = httpx.post(f"{gateway.url}/health")
    assert response.status_code == 405
    assert response.json()["code"] == "http.method_not_allowed"
