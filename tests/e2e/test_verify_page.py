"""The consumer verification page in a real headless Chromium against the real gateway (real Anvil).

Items are registered through the partner API and indexed; the page is opened the ways a consumer
reaches it (a Digital Link URL, typed codes, a pasted or scanned code) and read as a person would:
verdict words, product facts, field errors, the report confirmation. Every test also checks that
the page raised no console error, exception or Content-Security-Policy violation.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.conftest import Gateway
from tests.e2e.conftest import GTIN, BrowserPage, Maker, new_serial, open_page

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

LOCALE = {"locale": "en-GB", "timezone_id": "UTC"}


def digital_link(serial: str, lot: str | None = None, expiry: str | None = None) -> str:
    query = "&".join(f"{ai}={value}" for ai, value in (("10", lot), ("17", expiry)) if value)
    return f"/01/{GTIN}/21/{serial}" + (f"?{query}" if query else "")


def facts(page: Page) -> dict[str, str]:
    """The product facts shown with the verdict, as {term: value}."""
    terms = page.locator("#facts dt").all_inner_texts()
    values = page.locator("#facts dd").all_inner_texts()
    return dict(zip(terms, values, strict=True))


CONTRAST = """(selectors) => {
  const rgb = (css) => css.match(/[\\d.]+/g).slice(0, 3).map(Number);
  const luminance = (css) => {
    const linear = (v) => (v /= 255) <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
    const [r, g, b] = rgb(css).map(linear);
    return 0.2126 * r + 0.7152 * g + 0.0722 * b;
  };
  const background = getComputedStyle(document.getElementById("verdict")).backgroundColor;
  return selectors.map((selector) => {
    const [a, b] = [luminance(getComputedStyle(document.querySelector(selector)).color), luminance(background)];
    return (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
  });
}"""


def assert_verdict_readable(page: Page) -> None:
    """WCAG 2.2 AA contrast (4.5:1) for every text of the verdict card against its tinted background."""
    selectors = ["#verdict-label", "#verdict-title", "#verdict-message", "#verdict-advice"]
    ratios = page.evaluate(CONTRAST, selectors)
    assert all(ratio >= 4.5 for ratio in ratios), dict(zip(selectors, ratios, strict=True))


def type_codes(page: Page, gtin: str, serial: str, lot: str = "", expiry: str = "") -> None:
    page.get_by_label("Product number (GTIN)").fill(gtin)
    page.get_by_label("Serial number").fill(serial)
    page.get_by_label("Batch / lot").fill(lot)
    page.get_by_label("Expiry").fill(expiry)


@pytest.fixture
def gb(browser: Browser, gateway: Gateway) -> Iterator[BrowserPage]:
    """A desktop page with a fixed locale and time zone, so dates read the same everywhere."""
    context, page = open_page(browser, gateway.url, **LOCALE)
    yield page
    context.close()


# --- (1) a registered item's Digital Link --------------------------------------------------------


def test_digital_link_of_a_registered_item_shows_authentic_with_product_facts(gb: BrowserPage, maker: Maker) -> None:
    serial = new_serial()
    maker.register(serial, lot="L7", expiry_date="2031-03-31")
    page = gb.page

    with page.expect_request(lambda r: r.headers.get("accept") == "application/json" and "/21/" in r.url) as call:
        page.goto(digital_link(serial, "L7", "310331"))

    assert call.value.url.endswith(digital_link(serial, "L7", "310331"))  # the page asked its own URL for JSON
    verdict = page.locator("#verdict")
    expect(verdict).to_have_attribute("data-verdict", "authentic")
    expect(page.locator("#verdict-label")).to_have_text("Authentic")
    expect(page.get_by_role("heading", name="Genuine product")).to_be_visible()
    expect(verdict).to_have_class("verdict tone-ok")
    assert_verdict_readable(page)
    shown = facts(page)
    assert shown["GTIN"] == GTIN
    assert shown["Serial number"] == serial
    assert shown["Batch / lot"] == "L7"
    assert shown["Expiry"] == "31 March 2031"
    assert shown["Manufacturer"] == maker.name
    expect(page.locator("#result")).to_have_attribute("aria-live", "polite")
    expect(page.locator("#verdict-title")).to_be_focused()  # screen readers and small screens land on it
    page.get_by_text("What was checked").click()
    checks = page.locator("#checks li")
    expect(checks.filter(has_text="Serial number registered by the manufacturer")).to_have_class("pass")
    expect(checks.filter(has_text="Batch / lot matches the manufacturer's record")).to_have_class("pass")
    expect(checks.filter(has_text="Expiry date matches the manufacturer's record")).to_have_class("pass")
    # the codes are in the form too, ready for a report or a second check
    expect(page.get_by_label("Serial number")).to_have_value(serial)
    assert gb.log.problems() == []


# --- (2) an unknown serial ----------------------------------------------------------------------


def test_unknown_serial_typed_in_shows_the_counterfeit_warning(gb: BrowserPage) -> None:
    page = gb.page
    page.goto("/verify")
    serial = new_serial("NEVER")
    type_codes(page, GTIN, serial)

    with page.expect_response(lambda r: "/v1/verify?" in r.url) as answer:
        page.get_by_role("button", name="Check this product").click()

    assert answer.value.status == 200
    assert answer.value.json()["verdict"] == "unknown"
    verdict = page.locator("#verdict")
    expect(verdict).to_have_attribute("data-verdict", "unknown")
    expect(page.get_by_role("heading", name="Warning: possible counterfeit")).to_be_visible()
    expect(page.locator("#verdict-label")).to_have_text("Not found")
    expect(page.locator("#verdict-message")).to_have_text(answer.value.json()["message"])  # the server's words
    expect(page.locator("#verdict-advice")).to_contain_text("report it below")
    expect(verdict).to_have_class("verdict tone-bad")
    assert_verdict_readable(page)
    expect(page.locator("#result")).to_have_attribute("aria-live", "assertive")
    expect(page.get_by_role("button", name="Report a suspect product")).to_be_enabled()
    assert facts(page)["Serial number"] == serial
    assert gb.log.problems() == []


def test_a_digital_link_asking_for_this_page_still_gets_the_verdict(gb: BrowserPage) -> None:
    page = gb.page
    serial = new_serial("NEVER")
    with page.expect_response(lambda r: r.request.headers.get("accept") == "application/json") as answer:
        page.goto(digital_link(serial) + "?linkType=gs1:pip")  # the link type that names the product page

    assert "linkType" not in answer.value.url
    expect(page.locator("#verdict")).to_have_attribute("data-verdict", "unknown")
    assert gb.log.problems() == []


# --- (3) client-side validation -----------------------------------------------------------------


def test_bad_check_digit_is_caught_in_the_browser_without_a_request(gb: BrowserPage) -> None:
    page = gb.page
    page.goto("/verify")
    type_codes(page, GTIN[:-1] + "0", "ABC123")  # the right check digit is 9

    page.get_by_role("button", name="Check this product").click()

    error = page.locator("#gtin-error")
    expect(error).to_be_visible()
    expect(error).to_contain_text("check digit")
    expect(page.get_by_label("Product number (GTIN)")).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_label("Product number (GTIN)")).to_be_focused()
    expect(page.locator("#status")).to_have_text("Please correct the highlighted code.")
    expect(page.locator("#result")).to_be_hidden()
    assert gb.log.api_requests("/v1/verify") == []

    # corrected, the same form does send the check (so the assertion above could fail)
    page.get_by_label("Product number (GTIN)").fill(GTIN)
    with page.expect_request(lambda r: "/v1/verify?" in r.url):
        page.get_by_role("button", name="Check this product").click()
    expect(error).to_be_hidden()
    assert gb.log.problems() == []


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("Product number (GTIN)", "", "Enter the product number"),
        ("Product number (GTIN)", "06141418123", "this one has 11"),  # no GTIN has 11 digits
        ("Product number (GTIN)", "00614141A12349", "digits only"),
        ("Serial number", "", "Enter the serial number"),
        ("Serial number", "AB C", "may only contain"),
        ("Batch / lot", "L#7", "may only contain"),
        ("Expiry", "311331", "month must be between 01 and 12"),
        ("Expiry", "310230", "at most 28"),
        ("Expiry", "31/03/2031", "YYMMDD"),
    ],
)
def test_each_bad_code_gets_its_message_without_a_request(
    gb: BrowserPage, field: str, value: str, message: str
) -> None:
    page = gb.page
    page.goto("/verify")
    type_codes(page, GTIN, "ABC123")
    page.get_by_label(field).fill(value)

    page.get_by_role("button", name="Check this product").click()

    described_by = page.get_by_label(field).get_attribute("aria-describedby") or ""
    error_id = next(part for part in described_by.split() if part.endswith("-error"))
    expect(page.locator(f"#{error_id}")).to_contain_text(message)
    expect(page.get_by_label(field)).to_have_attribute("aria-invalid", "true")
    assert gb.log.api_requests("/v1/verify") == []


# --- (4) reporting a suspect product ------------------------------------------------------------


def test_report_form_posts_and_shows_a_confirmation(gb: BrowserPage) -> None:
    page = gb.page
    serial = new_serial("FAKE")
    page.goto(digital_link(serial, "LX1", "301231"))
    expect(page.locator("#verdict")).to_have_attribute("data-verdict", "unknown")

    page.get_by_role("button", name="Report a suspect product").click()
    form = page.locator("#report-form")
    expect(form).to_be_visible()
    expect(page.get_by_label("What looks wrong?")).to_be_focused()
    expect(page.locator("#report-codes")).to_contain_text(f"serial {serial}")

    # an empty description is refused in the browser
    form.get_by_role("button", name="Send report").click()
    expect(page.locator("#report-description-error")).to_contain_text("Describe what looks wrong")
    assert gb.log.api_requests("/v1/verify/reports") == []

    description = "Blister foil printed crooked, box smells of glue. Bought at a market stall."
    page.get_by_label("What looks wrong?").fill(description)
    page.get_by_label("Country where you got it").select_option(label="United Kingdom")
    with page.expect_response(lambda r: r.url.endswith("/v1/verify/reports")) as answer:
        form.get_by_role("button", name="Send report").click()

    response = answer.value
    assert response.status == 201
    sent: dict[str, Any] = json.loads(response.request.post_data or "{}")
    assert sent == {
        "gtin": GTIN, "serial": serial, "lot": "LX1", "expiry": "301231",
        "description": description, "place": "GB",
    }  # fmt: skip
    report_id = response.json()["report_id"]
    confirmation = page.locator("#report-confirmation")
    expect(confirmation).to_have_text(f"Thank you: your report has been sent. Its reference is {report_id}.")
    expect(confirmation).to_be_focused()
    expect(form).to_be_hidden()
    assert gb.log.problems() == []


# --- (5) a phone ---------------------------------------------------------------------------------


def assert_no_horizontal_scroll(page: Page) -> None:
    widths = page.evaluate(
        "() => ({doc: document.documentElement.scrollWidth, body: document.body.scrollWidth,"
        " viewport: window.innerWidth})"
    )
    assert widths["viewport"] == 390
    assert widths["doc"] <= widths["viewport"], widths
    assert widths["body"] <= widths["viewport"], widths


def test_phone_viewport_renders_without_horizontal_scroll(phone: BrowserPage, maker: Maker) -> None:
    page = phone.page
    page.goto("/verify")
    expect(page.get_by_role("heading", name="Verify a product")).to_be_visible()
    assert_no_horizontal_scroll(page)

    # the longest codes GS1 allows (20 characters of serial and lot) must wrap, not widen the page
    serial, lot = new_serial("LONGSERIAL").ljust(20, "9"), "LOT-ABCDEFGHIJKLMNOP"
    maker.register(serial, lot=lot, expiry_date="2031-03-31")
    page.goto(digital_link(serial, lot, "310331"))
    expect(page.locator("#verdict")).to_have_attribute("data-verdict", "authentic")
    assert_no_horizontal_scroll(page)

    page.get_by_role("button", name="Report a suspect product").click()
    expect(page.locator("#report-form")).to_be_visible()
    assert_no_horizontal_scroll(page)

    page.get_by_role("button", name="Cancel").click()
    page.get_by_label("Product number (GTIN)").fill("123")
    page.get_by_role("button", name="Check this product").click()
    expect(page.locator("#gtin-error")).to_be_visible()
    assert_no_horizontal_scroll(page)
    assert phone.log.problems() == []


# --- pasted and scanned codes --------------------------------------------------------------------


def test_pasted_gs1_element_string_is_read_and_checked(gb: BrowserPage, maker: Maker) -> None:
    serial = new_serial()
    maker.register(serial, lot="B42", expiry_date="2031-03-31")
    page = gb.page
    page.goto("/verify")

    page.get_by_label("Or paste a scanned code").fill(f"(01){GTIN}(17)310331(10)B42(21){serial}")
    with page.expect_request(lambda r: "/v1/verify?" in r.url) as call:
        page.get_by_role("button", name="Read the pasted code").click()

    assert f"serial={serial}" in call.value.url and "lot=B42" in call.value.url and "expiry=310331" in call.value.url
    expect(page.locator("#verdict")).to_have_attribute("data-verdict", "authentic")
    expect(page.get_by_label("Product number (GTIN)")).to_have_value(GTIN)
    expect(page.get_by_label("Batch / lot")).to_have_value("B42")
    assert gb.log.problems() == []


def test_a_pasted_code_that_is_not_gs1_gets_a_message_and_no_request(gb: BrowserPage) -> None:
    page = gb.page
    page.goto("/verify")
    page.get_by_label("Or paste a scanned code").fill("https://example.com/products/123")
    page.get_by_role("button", name="Read the pasted code").click()
    expect(page.locator("#scanned-error")).to_contain_text("not a GS1 Digital Link")
    assert gb.log.api_requests("/v1/verify") == []


def test_without_barcode_detector_there_is_no_scan_button(gb: BrowserPage) -> None:
    page = gb.page
    page.goto("/verify")
    assert page.evaluate("() => 'BarcodeDetector' in window") is False  # Chromium on Linux has none
    expect(page.get_by_label("Product number (GTIN)")).to_be_visible()
    expect(page.get_by_role("button", name="Scan the code with your camera")).to_be_hidden()


# Chromium on Linux has no BarcodeDetector: this test gives the page one that "sees" a Data Matrix
# carrying a raw GS1 element string (FNC1 group separators), on Chromium's fake camera.
FAKE_DETECTOR = """
window.BarcodeDetector = class {
  static async getSupportedFormats() { return ["qr_code", "data_matrix", "ean_13"]; }
  constructor(options) { window.__detectorFormats = options.formats; }
  async detect(source) { return source.videoWidth > 0 ? [{format: "data_matrix", rawValue: window.__scan}] : []; }
};
"""


def test_camera_scan_reads_a_gs1_data_matrix(browser: Browser, gateway: Gateway, maker: Maker) -> None:
    serial = new_serial()
    maker.register(serial, lot="DM1", expiry_date="2031-03-31")
    context, bp = open_page(browser, gateway.url, permissions=["camera"], **LOCALE)
    try:
        page = bp.page
        raw = f"]d201{GTIN}17310331" + f"10DM1\x1d21{serial}"
        page.add_init_script(FAKE_DETECTOR + f"window.__scan = {json.dumps(raw)};")
        page.goto("/verify")

        with page.expect_request(lambda r: "/v1/verify?" in r.url) as call:
            page.get_by_role("button", name="Scan the code with your camera").click()

        assert f"serial={serial}" in call.value.url and "lot=DM1" in call.value.url
        assert page.evaluate("() => window.__detectorFormats") == ["qr_code", "data_matrix"]
        expect(page.locator("#verdict")).to_have_attribute("data-verdict", "authentic")
        expect(page.locator("#scanner")).to_be_hidden()  # the camera is released after a read
        assert page.evaluate("() => document.getElementById('scan-video').srcObject") is None
        assert bp.log.problems() == []
    finally:
        context.close()


@pytest.mark.parametrize("path", ["/verify", digital_link("CSP1")])
def test_the_content_security_policy_is_enforced(gb: BrowserPage, path: str) -> None:
    """The page works under its CSP (asserted by every test: no violation) and the CSP does block inline code."""
    page = gb.page
    page.goto(path)
    expect(page.locator("#entry")).to_be_visible()
    assert gb.log.problems() == []
    page.evaluate(
        """() => { const s = document.createElement("script");
                   s.textContent = "window.__inline = true"; document.head.append(s); }"""
    )
    assert page.evaluate("() => window.__inline") is None
    assert any("Content Security Policy" in message for message in gb.log.console_errors)


# --- the code readers themselves (pure functions of verify.js, run in the browser) -------------


@pytest.fixture(scope="module")
def js(browser: Browser, gateway: Gateway) -> Iterator[Page]:
    context, bp = open_page(browser, gateway.url)
    bp.page.goto("/verify")
    yield bp.page
    context.close()


def parse(page: Page, text: str) -> dict[str, str] | str:
    """parseScanned's result, or the message of the CodeError it raised."""
    return page.evaluate(  # type: ignore[no-any-return]
        """(text) => {
            try { return window.CustodyVerify.parseScanned(text); }
            catch (err) { if (err instanceof window.CustodyVerify.CodeError) return err.message; throw err; }
        }""",
        text,
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("https://id.example.org/01/09506000134352/21/ABC123?10=LOT7&17=270331",
         {"gtin": "09506000134352", "serial": "ABC123", "lot": "LOT7", "expiry": "270331"}),
        ("https://example.com/dl/01/09506000134352/10/LOT7/21/A%2FB%25",  # lot in the path, encoded serial
         {"gtin": "09506000134352", "serial": "A/B%", "lot": "LOT7", "expiry": ""}),
        ("https://example.com/gtin/09506000134352/ser/X1?exp=270300",  # Digital Link 1.x short names
         {"gtin": "09506000134352", "serial": "X1", "lot": "", "expiry": "270300"}),
        ("/01/09506000134352/21/X2?linkType=gs1:pip",
         {"gtin": "09506000134352", "serial": "X2", "lot": "", "expiry": ""}),
        ("(01)09506000134352(17)270331(10)LOT7(21)ABC123",
         {"gtin": "09506000134352", "serial": "ABC123", "lot": "LOT7", "expiry": "270331"}),
        ("]d2010950600013435217270331" + "10LOT7\x1d21ABC123",  # raw, FNC1 as the GS character
         {"gtin": "09506000134352", "serial": "ABC123", "lot": "LOT7", "expiry": "270331"}),
        ("010950600013435221ABC123<GS>10LOT7",  # the separator as scanner apps print it
         {"gtin": "09506000134352", "serial": "ABC123", "lot": "LOT7", "expiry": ""}),
        ("0109506000134352" + "3103000250" + "21S1",  # a 4-digit AI (net weight) before the serial
         {"gtin": "09506000134352", "serial": "S1", "lot": "", "expiry": ""}),
        ("09506000134352", {"gtin": "09506000134352", "serial": "", "lot": "", "expiry": ""}),
        ("hello world", "This does not look like a GS1 code or a Digital Link."),
        ("https://example.com/products/123", "This link is not a GS1 Digital Link: it has no /01/ product number."),
        ("https://example.com/01/09506000134352/21", "This Digital Link is incomplete: a value is missing"),
        ("(00)106141410000000019", "This code identifies a shipping case (SSCC), not a single pack."),
        ("(01)0950600013435(21)X", "The code's (01) part must have 14 characters; it has 13."),
        ("(1)09506000134352(21)X", "This code could not be read: expected (AI)value pairs such as (01)…(21)…."),
        ("0109506000134352" + "1731033", "The code ends early: (17) needs 6 characters."),
        ("0109506000134352" + "4201234", "This code contains a part (starting “4201”) that this page cannot read."),
        ("0109506000134352" + "10" + "L" * 21, "The code's (10) part is too long; a separator may be missing"),
        ("(10)LOT7(21)X", "This code has no product number (GTIN, (01))."),
        ("   ", "Paste the text of a scanned code first."),
    ],
)  # fmt: skip
def test_scanned_code_reader(js: Page, text: str, expected: dict[str, str] | str) -> None:
    """Fields read from a code, or the start of the message for a code the page cannot use."""
    result = parse(js, text)
    if isinstance(expected, str):
        assert isinstance(result, str) and result.startswith(expected), result
    else:
        assert result == expected


@pytest.mark.parametrize(
    ("gtin", "valid"),
    [("09506000134352", True), ("9506000134352", True), ("96385074", True), ("614141812349", True),
     ("09506000134353", False), ("96385075", False), ("00614141812345", False)],
)  # fmt: skip
def test_gtin_check_digit_matches_the_server_side_rule(js: Page, gtin: str, valid: bool) -> None:
    from chain_client.gs1 import gs1_check_digit

    assert (gs1_check_digit(gtin[:-1]) == int(gtin[-1])) is valid  # the Python rule agrees with the case
    result = js.evaluate("(g) => window.CustodyVerify.validateGtin(g)", gtin)
    assert result["ok"] is valid
    if valid:
        assert result["value"] == gtin.zfill(14)
