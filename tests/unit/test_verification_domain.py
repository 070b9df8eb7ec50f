"""Verification domain without a node: verdict precedence, signals, places, the rate limiter,
DSCSA responses, expiry parsing, the TTL cache, Digital Link parsing, negotiation and linksets."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest

from chain_client import gs1
from gateway.partner.operations import InvalidInput
from gateway.verification import dscsa
from gateway.verification.digital_link import Answer, negotiate, resolve_path
from gateway.verification.linkset import build_linkset, link_header
from gateway.verification.ratelimit import TokenBucketLimiter, client_key
from gateway.verification.records import GtinFacts, TtlCache, candidate_object_ids
from gateway.verification.scans import Place, ScanHistory, SignalSettings, compute_signals, parse_place
from gateway.verification.service import parse_expiry, parse_label
from gateway.verification.verdict import (
    ChecksPublic,
    ItemRecord,
    LabelQuery,
    ProductPublic,
    Verdict,
    VerificationPublic,
    decide,
)

GTIN = "00614141770014"
TODAY = dt.date(2026, 11, 27)
EXPIRY = dt.date(2027, 6, 30)


def test_gtin_fixture_is_valid() -> None:
    assert gs1.validate_gtin(GTIN) == GTIN


def record(**changes: object) -> ItemRecord:
    base: dict[str, object] = {
        "gtin": GTIN, "serial": "S1", "lot": "L1", "expiry": EXPIRY, "status": "ACTIVE", "own_status": "ACTIVE",
        "lot_status": None, "status_changed_at": None,
    }  # fmt: skip
    base.update(changes)
    return ItemRecord(**base)  # type: ignore[arg-type]


# ------------------------------------------------------------------------------------ verdicts


@pytest.mark.parametrize(
    ("rec", "label", "verdict"),
    [
        (record(), LabelQuery(GTIN, "S1", "L1", EXPIRY), Verdict.AUTHENTIC),
        (record(status="IN_TRANSIT"), LabelQuery(GTIN, "S1"), Verdict.AUTHENTIC),
        (None, LabelQuery(GTIN, "S1", "L1", EXPIRY), Verdict.UNKNOWN),
        (record(), LabelQuery(GTIN, "S1", "L2"), Verdict.MISMATCH),
        (record(), LabelQuery(GTIN, "S1", None, EXPIRY + dt.timedelta(days=1)), Verdict.MISMATCH),
        (record(own_status="RECALLED", status="RECALLED"), LabelQuery(GTIN, "S1", "L2"), Verdict.MISMATCH),
        (record(own_status="RECALLED", status="RECALLED"), LabelQuery(GTIN, "S1"), Verdict.RECALLED),
        (record(lot_status="RECALLED"), LabelQuery(GTIN, "S1"), Verdict.RECALLED),
        (record(own_status="DISPENSED", status="DISPENSED"), LabelQuery(GTIN, "S1"), Verdict.DISPENSED),
        (record(own_status="DECOMMISSIONED", status="DECOMMISSIONED"), LabelQuery(GTIN, "S1"), Verdict.DISPENSED),
        (record(own_status="QUARANTINED", status="QUARANTINED"), LabelQuery(GTIN, "S1"), Verdict.QUARANTINED),
        (record(own_status="EXPIRED", status="EXPIRED"), LabelQuery(GTIN, "S1"), Verdict.EXPIRED),
        (record(expiry=TODAY - dt.timedelta(days=1)), LabelQuery(GTIN, "S1"), Verdict.EXPIRED),
        (record(expiry=TODAY), LabelQuery(GTIN, "S1"), Verdict.AUTHENTIC),  # usable through its expiry date
    ],
)
def test_verdict_precedence(rec: ItemRecord | None, label: LabelQuery, verdict: Verdict) -> None:
    assert decide(rec, label, TODAY).verdict is verdict


def test_checks_say_what_was_compared() -> None:
    def checks(rec: ItemRecord | None, label: LabelQuery) -> tuple[str, str]:
        decision = decide(rec, label, TODAY)
        return decision.lot, decision.expiry

    assert checks(record(), LabelQuery(GTIN, "S1")) == ("not_provided", "not_provided")
    assert checks(record(lot=None, expiry=None), LabelQuery(GTIN, "S1", "L1", EXPIRY)) == ("not_recorded",) * 2
    assert checks(None, LabelQuery(GTIN, "S1", "L1")) == ("not_recorded", "not_provided")


def test_public_schema_has_exactly_the_public_fields() -> None:
    assert set(VerificationPublic.model_fields) == {
        "verdict", "message", "product", "checks", "suspect", "signals", "checked_at", "data_as_of_block",
    }  # fmt: skip
    assert set(ProductPublic.model_fields) == {"gtin", "product_name", "lot", "expiry", "manufacturer"}
    assert set(ChecksPublic.model_fields) == {
        "gtin_known", "serial_registered", "lot", "expiry", "status", "expired_by_date",
    }  # fmt: skip
    private = ("custodian", "owner", "partner", "registrant", "customer", "price", "gln", "holder")
    names = [*VerificationPublic.model_fields, *ProductPublic.model_fields, *ChecksPublic.model_fields]
    assert not [n for n in names if any(p in n for p in private)]


# ------------------------------------------------------------------------------------ signals, places

NOW = dt.datetime(2026, 11, 27, 12, tzinfo=dt.UTC)
SETTINGS = SignalSettings(clone_places=2, clone_window=dt.timedelta(hours=24), dispensed_scans=2)


def ago(hours: float) -> dt.datetime:
    return NOW - dt.timedelta(hours=hours)


def test_many_places_counts_distinct_places_in_the_window() -> None:
    three = [(ago(1), "DE"), (ago(2), "FR"), (NOW, "US")]
    assert compute_signals(Verdict.AUTHENTIC, True, ScanHistory.of(three), None, NOW, SETTINGS) == ["many_places"]
    old = [(ago(30), "DE"), (ago(2), "FR"), (NOW, "US")]  # DE is outside the window
    assert compute_signals(Verdict.AUTHENTIC, True, ScanHistory.of(old), None, NOW, SETTINGS) == []
    same = [(ago(1), "DE"), (ago(2), "DE"), (NOW, "DE"), (NOW, None)]
    assert compute_signals(Verdict.AUTHENTIC, True, ScanHistory.of(same), None, NOW, SETTINGS) == []


def test_scanned_after_dispense() -> None:
    dispensed = ago(5)
    once = [(ago(10), "DE"), (NOW, "DE")]
    assert compute_signals(Verdict.DISPENSED, True, ScanHistory.of(once), dispensed, NOW, SETTINGS) == []
    two_places = [(ago(1), "DE"), (NOW, "FR")]
    assert compute_signals(Verdict.DISPENSED, True, ScanHistory.of(two_places), dispensed, NOW, SETTINGS) == [
        "scanned_after_dispense"
    ]
    many = [(ago(3), None), (ago(2), None), (NOW, None)]  # more than 2 scans since the dispense
    assert compute_signals(Verdict.DISPENSED, True, ScanHistory.of(many), dispensed, NOW, SETTINGS) == [
        "scanned_after_dispense"
    ]
    assert compute_signals(Verdict.AUTHENTIC, True, ScanHistory.of(many), dispensed, NOW, SETTINGS) == []


def test_scans_after_dispense_count_from_the_first_scan_that_saw_it_dispensed() -> None:
    """The chain's block time of the dispense may run ahead of the clock scans are timed by: the
    scans that saw the serial dispensed decide, not a comparison across the two clocks."""
    chain_ahead = NOW + dt.timedelta(hours=2)
    history = ScanHistory()
    history.add(ago(30 / 3600), "DE", dispensed=True)
    history.add(NOW, "FR", dispensed=True)
    assert compute_signals(Verdict.DISPENSED, True, history, chain_ahead, NOW, SETTINGS) == ["scanned_after_dispense"]
    before = ScanHistory()
    before.add(ago(1), "DE")  # at the pharmacy, before the sale
    before.add(NOW, "FR", dispensed=True)
    assert compute_signals(Verdict.DISPENSED, True, before, chain_ahead, NOW, SETTINGS) == []


def test_unknown_and_mismatch_signals() -> None:
    assert compute_signals(Verdict.UNKNOWN, True, ScanHistory.of([]), None, NOW, SETTINGS) == [
        "unknown_serial_of_known_gtin"
    ]
    assert compute_signals(Verdict.UNKNOWN, False, ScanHistory.of([]), None, NOW, SETTINGS) == []
    assert compute_signals(Verdict.MISMATCH, True, ScanHistory.of([]), None, NOW, SETTINGS) == ["label_mismatch"]


@pytest.mark.parametrize(
    ("text", "place"),
    [
        ("DE", Place("DE")),
        ("de", Place("DE")),
        ("DE;52.5234,13.4011", Place("DE", 52.5, 13.4)),
        ("US:40.71,-74.01", Place("US", 40.7, -74.0)),
        ("FR@48.85, 2.35", Place("FR", 48.9, 2.4)),
        ("", None),
    ],
)
def test_places_are_coarse(text: str, place: Place | None) -> None:
    assert parse_place(text) == place


@pytest.mark.parametrize("text", ["Germany", "D", "DE;91,0", "DE;0,181", "DE;1", "DE;a,b", "192.168.1.1"])
def test_bad_places(text: str) -> None:
    with pytest.raises(InvalidInput) as info:
        parse_place(text)
    assert (info.value.code, info.value.field) == ("verify.invalid_place", "place")


def test_place_keys() -> None:
    assert Place("DE").key == "DE" and Place("DE", 52.5, 13.4).key == "DE:52.5,13.4"


# ------------------------------------------------------------------------------------ rate limiter


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_token_bucket_burst_refill_and_retry_after() -> None:
    clock = Clock()
    limiter = TokenBucketLimiter(rate=2.0, burst=3, clock=clock)
    assert [limiter.take("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    wait = limiter.take("a")
    assert wait == pytest.approx(0.5) and limiter.retry_after(wait) == "1"
    assert limiter.take("b") == 0.0  # separate bucket
    clock.now += 0.5
    assert limiter.take("a") == 0.0
    assert limiter.take("a") > 0
    clock.now += 100
    assert [limiter.take("a") for _ in range(3)] == [0.0, 0.0, 0.0]  # refilled to the burst, not beyond
    assert limiter.take("a") > 0
    slow = TokenBucketLimiter(rate=0.1, burst=1, clock=clock)
    slow.take("x")
    assert slow.retry_after(slow.take("x")) == "10"


def test_token_bucket_prunes_full_buckets() -> None:
    clock = Clock()
    limiter = TokenBucketLimiter(rate=1.0, burst=2, max_clients=3, clock=clock)
    for client in "abc":
        limiter.take(client)
    clock.now += 10  # every bucket is full again
    assert limiter.take("d") == 0.0
    assert set(limiter._buckets) == {"d"}
    with pytest.raises(ValueError):
        TokenBucketLimiter(rate=0, burst=1)


def test_client_key_trusts_forwarded_for_only_when_told() -> None:
    assert client_key("10.0.0.1", "203.0.113.7, 10.0.0.2", trust_forwarded=False) == "10.0.0.1"
    assert client_key("10.0.0.1", "203.0.113.7, 10.0.0.2", trust_forwarded=True) == "203.0.113.7"
    assert client_key("10.0.0.1", None, trust_forwarded=True) == "10.0.0.1"
    assert client_key(None, None, trust_forwarded=False) == "unknown"


# ------------------------------------------------------------------------------------ inputs, cache


def test_parse_expiry_forms() -> None:
    assert parse_expiry("270630") == EXPIRY
    assert parse_expiry("2027-06-30") == EXPIRY
    assert parse_expiry("270600") == EXPIRY  # DD=00: last day of the month
    assert parse_expiry(None) is None and parse_expiry("") is None
    for bad in ("2027-02-30", "271301", "27063", "30/06/2027"):
        with pytest.raises(gs1.GS1Error) as info:
            parse_expiry(bad)
        assert (info.value.code, info.value.field) == ("gs1.date", "expiry")


def test_parse_label_normalises_and_validates() -> None:
    assert parse_label("614141770014", "S1").gtin == GTIN  # GTIN-12 padded to 14
    with pytest.raises(gs1.GS1Error) as info:
        parse_label(GTIN[:-1] + "9", "S1")
    assert (info.value.code, info.value.field) == ("gs1.check_digit", "gtin")
    with pytest.raises(gs1.GS1Error) as info:
        parse_label(GTIN, "S 1")
    assert (info.value.code, info.value.field) == ("gs1.charset", "serial")


def test_ttl_cache() -> None:
    clock = Clock()
    cache: TtlCache[str, int] = TtlCache(2.0, max_entries=2, clock=clock)
    assert cache.get("a") == (False, None)
    cache.put("a", 1)
    assert cache.get("a") == (True, 1)
    clock.now += 2.5
    assert cache.get("a") == (False, None)
    cache.put("a", 1)
    cache.put("b", 2)
    cache.put("c", 3)  # full: cleared first
    assert cache.get("a") == (False, None) and cache.get("c") == (True, 3)
    off: TtlCache[str, int] = TtlCache(0.0, clock=clock)
    off.put("a", 1)
    assert off.get("a") == (False, None)


def test_candidate_ids_cover_every_company_prefix_length() -> None:
    ids = candidate_object_ids(GTIN, "S1")
    assert len(ids) == 7 and len(set(ids)) == 7 and candidate_object_ids(GTIN, "S1") is ids  # memoised
    expected = "0x" + gs1.Sgtin(gs1.Gtin(GTIN, 7), "S1").object_id.hex()
    assert expected in ids


# ------------------------------------------------------------------------------------ DSCSA


def _request(**changes: str) -> dscsa.VerificationRequest:
    body = {"corrUUID": str(uuid.uuid4()), "requestorGLN": "0614141000036", "gtin": GTIN, "serialNumber": "S1",
            "lotNumber": "L1", "expirationDate": "270630", **changes}  # fmt: skip
    return dscsa.VerificationRequest.model_validate(body)


@pytest.mark.parametrize(
    ("rec", "label", "known", "verified", "reason", "info"),
    [
        (record(), LabelQuery(GTIN, "S1", "L1", EXPIRY), True, True, None, []),
        (None, LabelQuery(GTIN, "S1", "L1", EXPIRY), False, False, "No_match_GTIN", []),
        (None, LabelQuery(GTIN, "S1", "L1", EXPIRY), True, False, "No_match_GTIN_Serial", []),
        (record(), LabelQuery(GTIN, "S1", "L2", EXPIRY), True, False, "No_match_GTIN_Serial_Lot", []),
        (record(lot=None), LabelQuery(GTIN, "S1", "L1", EXPIRY), True, False, "No_match_GTIN_Serial_Lot", []),
        (record(), LabelQuery(GTIN, "S1", "L1", TODAY), True, False, "No_match_GTIN_Serial_Expiry", []),
        (record(), LabelQuery(GTIN, "S1", "L2", TODAY), True, False, "No_match_GTIN_Serial_Lot_Expiry", []),
        (record(own_status="RECALLED"), LabelQuery(GTIN, "S1", "L1", EXPIRY), True, True, None, ["Recalled"]),
        (record(own_status="DISPENSED"), LabelQuery(GTIN, "S1", "L1", EXPIRY), True, True, None,
         ["Dispensed_Or_Decommissioned"]),
        (record(expiry=TODAY - dt.timedelta(days=1)), LabelQuery(GTIN, "S1", "L1", TODAY - dt.timedelta(days=1)),
         True, True, None, ["Expired"]),
    ],
)  # fmt: skip
def test_dscsa_response(
    rec: ItemRecord | None, label: LabelQuery, known: bool, verified: bool, reason: str | None, info: list[str]
) -> None:
    request = _request()
    now = dt.datetime(2026, 11, 27, tzinfo=dt.UTC)
    response = dscsa.respond(request, decide(rec, label, TODAY), known, False, responder_gln=None,
                             responder_name="net", as_of_block=7, now=now)  # fmt: skip
    body = response.model_dump(mode="json", by_alias=True)
    assert body["data"] == {"verified": verified, "verificationFailureReason": reason, "additionalInfo": info}
    assert (body["corrUUID"], body["requestorGLN"], body["verificationTimestamp"], body["dataAsOfBlock"]) == (
        str(request.corr_uuid), "0614141000036", "2026-11-27T00:00:00Z", 7,
    )  # fmt: skip


def test_dscsa_suspect_flag_and_request_schema() -> None:
    decision = decide(None, LabelQuery(GTIN, "S1"), TODAY)
    response = dscsa.respond(_request(), decision, True, True, responder_gln="0614141000005", responder_name="n",
                             as_of_block=None, now=NOW)  # fmt: skip
    assert response.data.additional_info == [dscsa.AdditionalInfo.SUSPECT]
    with pytest.raises(ValueError):
        _request(context="somethingElse")
    with pytest.raises(ValueError):
        _request(corrUUID="not-a-uuid")


# ------------------------------------------------------------------------------------ Digital Link

BASE = "https://id.example"


@pytest.mark.parametrize(
    ("path", "query", "serial", "lot", "expiry", "canonical"),
    [
        (f"/01/{GTIN}/21/S1", "", "S1", None, None, f"{BASE}/01/{GTIN}/21/S1"),
        (f"/01/{GTIN}/10/L1/21/S1", "17=270630", "S1", "L1", EXPIRY, f"{BASE}/01/{GTIN}/10/L1/21/S1?17=270630"),
        (f"/01/{GTIN}/21/S1", "10=L1&17=270630&linkType=all", "S1", "L1", EXPIRY,
         f"{BASE}/01/{GTIN}/10/L1/21/S1?17=270630"),
        (f"/01/{GTIN}/22/V2/10/L1", "", None, "L1", None, f"{BASE}/01/{GTIN}/22/V2/10/L1"),
        ("/01/614141770014/21/A%2FB", "", "A/B", None, None, f"{BASE}/01/{GTIN}/21/A%2FB"),
        (f"/01/{GTIN}", "", None, None, None, f"{BASE}/01/{GTIN}"),
    ],
)  # fmt: skip
def test_resolve_valid_paths(
    path: str, query: str, serial: str | None, lot: str | None, expiry: dt.date | None, canonical: str
) -> None:
    link = resolve_path(BASE, path, query)
    assert (link.gtin, link.data.serial, link.data.lot) == (GTIN, serial, lot)
    assert (None if link.data.expiry_date is None else link.data.expiry_date.date) == expiry
    assert link.uri == canonical


@pytest.mark.parametrize(
    ("path", "query", "code"),
    [
        (f"/01/{GTIN[:-1]}9/21/S1", "", "gs1.check_digit"),
        (f"/01/{GTIN}/21/S1/10/L1", "", "gs1.digital_link"),  # qualifiers out of order
        (f"/01/{GTIN}/21/S1/21/S2", "", "gs1.digital_link"),
        (f"/01/{GTIN}/21/S1", "21=S2", "gs1.digital_link"),  # a key qualifier in the query
        (f"/01/{GTIN}/10/L1/21/S1", "10=L2", "gs1.digital_link"),
        (f"/01/{GTIN}/21/S1", "17=271399", "gs1.date"),
        (f"/01/{GTIN}/21/S%ZZ", "", "gs1.digital_link"),
        (f"/01/{GTIN}/21/" + "S" * 21, "", "gs1.length"),
        (f"/01/{GTIN}/21/", "", "gs1.digital_link"),
        ("/00/106141412345678908", "", "gs1.digital_link"),  # an SSCC: not served by this resolver
    ],
)
def test_resolve_invalid_paths(path: str, query: str, code: str) -> None:
    with pytest.raises(gs1.GS1Error) as info:
        resolve_path(BASE, path, query)
    assert info.value.code == code


@pytest.mark.parametrize(
    ("accept", "link_type", "answer"),
    [
        ("application/json", None, Answer.JSON),
        ("application/linkset+json", None, Answer.LINKSET),
        ("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", None, Answer.HTML),
        ("application/json;q=0.5, text/html", None, Answer.HTML),
        ("text/html;q=0.1, application/json", None, Answer.JSON),
        ("text/html;q=0, application/json", None, Answer.JSON),
        ("*/*", None, Answer.JSON),
        (None, None, Answer.JSON),
        ("image/png", None, Answer.JSON),
        ("text/html", "all", Answer.LINKSET),
        ("text/html", "gs1:verificationService", Answer.JSON),
        ("text/html", "https://gs1.org/voc/recallStatus", Answer.JSON),
        ("application/json", "pip", Answer.HTML),
        ("application/json", "gs1:epil", Answer.LEAFLET),
        ("application/linkset+json", "gs1:defaultLink", Answer.LINKSET),
        ("application/json", "gs1:nutritionalInfo", Answer.NOT_FOUND),
    ],
)
def test_negotiation(accept: str | None, link_type: str | None, answer: Answer) -> None:
    assert negotiate(accept, link_type) is answer


def test_linkset_shape() -> None:
    link = resolve_path(BASE, f"/01/{GTIN}/10/L1/21/S1", "17=270630")
    facts = GtinFacts(GTIN, True, "Amoxicillin", "Acme", None, "https://acme.example/leaflet")
    body = build_linkset(link, facts, "http://gw.test/")
    (context,) = body["linkset"]
    assert context["anchor"] == f"{BASE}/01/{GTIN}/10/L1/21/S1?17=270630"
    rels = {k.removeprefix("https://gs1.org/voc/") for k in context if k != "anchor"}
    assert rels == {"defaultLink", "pip", "verificationService", "recallStatus", "certificationInfo", "epil", "qrCode"}
    for key, targets in context.items():
        if key == "anchor":
            continue
        assert key.startswith("https://gs1.org/voc/")
        (target,) = targets
        assert set(target) == {"href", "title", "type", "hreflang"}
    assert context["https://gs1.org/voc/verificationService"][0]["href"] == (
        f"http://gw.test/v1/verify?gtin={GTIN}&serial=S1&lot=L1"
    )
    assert context["https://gs1.org/voc/epil"][0]["href"] == "https://acme.example/leaflet"
    assert context["https://gs1.org/voc/pip"][0]["title"] == "About Amoxicillin"
    no_leaflet = build_linkset(resolve_path(BASE, f"/01/{GTIN}", ""), GtinFacts(GTIN, False, None, None, None, None),
                               "http://gw.test")["linkset"][0]  # fmt: skip
    assert "https://gs1.org/voc/epil" not in no_leaflet and "https://gs1.org/voc/qrCode" not in no_leaflet
    assert link_header(link) == (
        f'<{BASE}/01/{GTIN}/10/L1/21/S1?17=270630&linkType=all>; rel="linkset"; type="application/linkset+json"'
    )


def test_scan_history_keeps_the_latest_time_per_place_and_is_bounded() -> None:
    history = ScanHistory(max_times=3)
    for hours, place in [(5, "DE"), (4, "FR"), (1, "DE"), (3, None)]:
        history.add(ago(hours), place, max_places=2)
    assert history.places == {"DE": ago(1), "FR": ago(4)}
    assert list(history.times) == [ago(4), ago(1), ago(3)]
    history.add(NOW, "US", max_places=2)  # a third place evicts the oldest (FR)
    assert history.places == {"DE": ago(1), "US": NOW}
