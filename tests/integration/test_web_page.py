"""The verification page's HTTP surface on the real gateway: /verify, /static and their headers.

What a browser makes of the page is in tests/e2e/test_verify_page.py; here: security headers,
cache headers (content-versioned assets cached for a year, everything else revalidated),
conditional requests, and the status + code of every bad request.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator

import httpx
import pytest

from gateway.web import STATIC_DIR
from tests.conftest import Gateway

pytestmark = pytest.mark.integration

PROBLEM = "application/problem+json"


@pytest.fixture(scope="module")
def client(gateway: Gateway) -> Iterator[httpx.Client]:
    with gateway.client() as c:
        yield c


def asset_links(html: str) -> dict[str, str]:
    """{file name: its versioned URL} for every /static link of the page."""
    return {m[1]: m[0] for m in re.finditer(r"/static/([A-Za-z0-9._-]+)\?v=[0-9a-f]+", html)}


def test_verify_page_is_served_with_security_and_cache_headers(client: httpx.Client) -> None:
    response = client.get("/verify")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    csp = response.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp
    assert response.headers["cache-control"] == "no-cache"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["permissions-policy"].startswith("camera=(self)")
    assert re.fullmatch(r'"[0-9a-f]{32}"', response.headers["etag"])
    assert "<script>" not in response.text and " style=" not in response.text  # CSP: no inline code or styles
    linked = re.findall(r'\b(?:src|href)="([^"#][^"]*)"', response.text)
    assert linked and all(url.startswith("/static/") for url in linked), linked  # nothing from another origin


def test_page_links_each_asset_by_its_content_hash(client: httpx.Client) -> None:
    links = asset_links(client.get("/verify").text)
    assert set(links) == {"verify.js", "verify.css", "verify-icon.svg"}
    for name, url in links.items():
        digest = hashlib.sha256((STATIC_DIR / name).read_bytes()).hexdigest()[:16]
        assert url == f"/static/{name}?v={digest}"


def test_a_current_copy_of_the_page_is_not_sent_again(client: httpx.Client) -> None:
    etag = client.get("/verify").headers["etag"]
    again = client.get("/verify", headers={"If-None-Match": etag})
    assert (again.status_code, again.content, again.headers["etag"]) == (304, b"", etag)
    stale = client.get("/verify", headers={"If-None-Match": '"0123"'})
    assert stale.status_code == 200 and stale.text.startswith("<!doctype html>")


@pytest.mark.parametrize(
    ("name", "media_type"),
    [("verify.js", "text/javascript"), ("verify.css", "text/css"), ("verify-icon.svg", "image/svg+xml")],
)
def test_versioned_assets_are_cached_for_a_year_unversioned_ones_revalidated(
    client: httpx.Client, name: str, media_type: str
) -> None:
    versioned = client.get(asset_links(client.get("/verify").text)[name])
    assert versioned.status_code == 200
    assert versioned.headers["content-type"].split(";")[0] == media_type
    assert versioned.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert versioned.headers["x-content-type-options"] == "nosniff"
    assert versioned.content == (STATIC_DIR / name).read_bytes()

    plain = client.get(f"/static/{name}")
    assert plain.headers["cache-control"] == "public, no-cache"
    revalidated = client.get(f"/static/{name}", headers={"If-None-Match": plain.headers["etag"]})
    assert revalidated.status_code == 304
    assert revalidated.headers["cache-control"] == "public, no-cache"


@pytest.mark.parametrize(
    "path",
    ["/static/nope.js", "/static/../api/routes/web.py", "/static/%2e%2e/api/routes/web.py", "/static/"],
)
def test_missing_or_outside_static_files_are_404_not_found(client: httpx.Client, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 404
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["code"] == "http.not_found"


def test_the_page_is_get_only(client: httpx.Client) -> None:
    response = client.post("/verify", content=b"x")
    assert response.status_code == 405
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["code"] == "http.method_not_allowed"
