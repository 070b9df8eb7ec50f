"""Browser fixtures for the end-to-end tests: Debian's headless Chromium driven by Playwright.

Playwright's own browser builds cannot be downloaded here; ``scripts/ensure-chromium`` installs
Debian's ``chromium`` and these fixtures launch it by path. Every page records what went wrong
in it (console errors, uncaught exceptions, Content-Security-Policy violations) and every
request it made, so tests can assert that nothing failed and that nothing was sent.
"""

from __future__ import annotations

import itertools
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, Playwright, Request, sync_playwright

from chain_client.gs1 import gs1_check_digit
from tests.conftest import Gateway

GTIN = "00614141812349"  # company prefix 0614141, item reference 81234 (the partner API tests' product)

_numbers = itertools.count(1)


# Package scope: Playwright's sync API keeps an asyncio loop running in the main thread until it
# stops, which would break later tests that start their own loop (anyio.run).
@pytest.fixture(scope="package")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="package")
def browser(playwright: Playwright) -> Iterator[Browser]:
    executable = shutil.which("chromium")
    if executable is None:
        pytest.fail("Chromium is not installed: run scripts/ensure-chromium (the e2e tests drive Debian's chromium).")
    # a synthetic camera (a test pattern), granted without a prompt: the scanning test needs a video stream
    fake_camera = ["--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"]
    browser = playwright.chromium.launch(executable_path=executable, headless=True, args=fake_camera)
    yield browser
    browser.close()


@dataclass
class PageLog:
    """What a page did: requests it sent and everything that went wrong in it."""

    requests: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)

    def api_requests(self, path: str) -> list[str]:
        return [url for url in self.requests if path in url]

    def problems(self, *, expected_http_errors: tuple[int, ...] = ()) -> list[str]:
        """Console errors and exceptions, minus Chromium's notes on expected HTTP error statuses."""
        allowed = tuple(f"status of {status}" for status in expected_http_errors)

        def expected(message: str) -> bool:
            return "Failed to load resource" in message and any(a in message for a in allowed)

        return [m for m in self.console_errors if not expected(m)] + self.page_errors


@dataclass
class BrowserPage:
    page: Page
    log: PageLog


def open_page(browser: Browser, base_url: str, **context_args: Any) -> tuple[Any, BrowserPage]:
    context = browser.new_context(base_url=base_url, **context_args)
    page = context.new_page()
    log = PageLog()
    page.on("request", lambda request: log.requests.append(_describe(request)))
    page.on("console", lambda message: _console(log, message))
    page.on("pageerror", lambda error: log.page_errors.append(str(error)))
    return context, BrowserPage(page, log)


def _describe(request: Request) -> str:
    return f"{request.method} {request.url}"


def _console(log: PageLog, message: ConsoleMessage) -> None:
    if message.type == "error":
        log.console_errors.append(message.text)


@pytest.fixture
def web(browser: Browser, gateway: Gateway) -> Iterator[BrowserPage]:
    """A fresh page (its own browser context: no shared cache or storage) on the real gateway."""
    context, page = open_page(browser, gateway.url)
    yield page
    context.close()


@pytest.fixture
def phone(browser: Browser, gateway: Gateway) -> Iterator[BrowserPage]:
    """A page in a phone-sized viewport (390x844 CSS pixels, touch, 3x pixel ratio)."""
    context, page = open_page(
        browser, gateway.url, viewport={"width": 390, "height": 844}, device_scale_factor=3, is_mobile=True,
        has_touch=True,
    )  # fmt: skip
    yield page
    context.close()


# --- data: a manufacturer onboarded through the admin API, items registered through the partner API


def new_gln() -> str:
    body = f"0614145{next(_numbers):05d}"
    return body + str(gs1_check_digit(body))


def new_serial(prefix: str = "E2E") -> str:
    return f"{prefix}{next(_numbers)}"


@dataclass
class Maker:
    name: str
    client: httpx.Client
    gateway: Gateway

    def register(self, serial: str, *, lot: str = "", expiry_date: str | None = None) -> None:
        """Registers one item of GTIN on the ledger, waits for it and brings the read model up to date."""
        item: dict[str, Any] = {"gtin": GTIN, "serial": serial}
        if lot:
            item["lot"] = lot
        if expiry_date:
            item["expiry_date"] = expiry_date
        response = self.client.post("/v1/items", json={"items": [item]})
        assert response.status_code == 202, response.text
        submission = response.json()["id"]
        deadline = time.monotonic() + 30
        while True:
            status = self.client.get(f"/v1/submissions/{submission}").json()
            if status["status"] in ("confirmed", "failed"):
                break
            assert time.monotonic() < deadline, status
            time.sleep(0.05)
        assert status["status"] == "confirmed", status
        self.gateway.services.indexer.catch_up()


@pytest.fixture(scope="session")
def maker(gateway: Gateway) -> Iterator[Maker]:
    name = "E2E Pharma Manufacturing"
    with gateway.client(gateway.admin_key) as admin:
        body = {"name": name, "role": "manufacturer", "glns": [new_gln()], "custodial": True, "accounts": []}
        response = admin.post("/v1/admin/partners", json=body)
        assert response.status_code == 201, response.text
        key = response.json()["api_key"]["key"]
    with gateway.client(key) as client:
        yield Maker(name, client, gateway)
