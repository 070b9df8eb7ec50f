"""Unit tests for chain_client.gs1 (GS1 keys, dates, EPC URNs, Digital Link, barcode scans)."""

from __future__ import annotations

import datetime as dt
import pickle
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from eth_utils.crypto import keccak
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chain_client.gs1 import (
    DEFAULT_DIGITAL_LINK_BASE,
    EPC_URN_ESCAPES,
    GS1_CSET82,
    DigitalLink,
    Gln,
    Gs1Data,
    Gs1Date,
    GS1Error,
    Gtin,
    Lgtin,
    Sgln,
    Sgtin,
    Sscc,
    build_digital_link,
    epc_escape,
    epc_unescape,
    format_gs1_date,
    gs1_check_digit,
    object_id,
    parse_digital_link,
    parse_element_strings,
    parse_epc_urn,
    parse_gs1_date,
    parse_scan,
    validate_company_prefix_length,
    validate_gln,
    validate_gtin,
    validate_lot,
    validate_serial,
    validate_sscc,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
GS1_FILE = REPO_ROOT / "chain_client" / "gs1.py"
TODAY = dt.date(2026, 5, 10)
GS = "\x1d"


@contextmanager
def expect(code: str, field: str | None = None) -> Iterator[pytest.ExceptionInfo[GS1Error]]:
    """pytest.raises(GS1Error) that also checks .code (and .field when given)."""
    with pytest.raises(GS1Error) as info:
        yield info
    assert info.value.code == code, f"code {info.value.code!r} != {code!r}: {info.value}"
    if field is not None:
        assert info.value.field == field, f"field {info.value.field!r} != {field!r}: {info.value}"


# --------------------------------------------------------------------------------------------
# Character set, error type, purity
# --------------------------------------------------------------------------------------------


def test_cset82_is_exactly_the_gs1_set() -> None:
    assert len(GS1_CSET82) == 82
    assert len(set(GS1_CSET82)) == 82
    assert list(GS1_CSET82) == sorted(GS1_CSET82)
    expected = set("!\"%&'()*+,-./:;<=>?_") | set("0123456789")
    expected |= {chr(c) for c in range(ord("A"), ord("Z") + 1)}
    expected |= {chr(c) for c in range(ord("a"), ord("z") + 1)}
    assert set(GS1_CSET82) == expected
    for excluded in " #$@[\\]^`{|}~":
        assert excluded not in GS1_CSET82


def test_gs1_error_is_value_error_with_stable_attributes_and_pickles() -> None:
    with pytest.raises(ValueError) as info:
        validate_gtin("09506000134353")
    err = info.value
    assert isinstance(err, GS1Error)
    assert (err.code, err.field) == ("gs1.check_digit", "gtin")
    assert "expected 2, got 3" in str(err)
    clone = pickle.loads(pickle.dumps(err))
    assert (clone.code, clone.field, str(clone)) == (err.code, err.field, str(err))
    assert "gs1.check_digit" in repr(err)


def test_module_does_not_import_web3() -> None:
    # Load the file on its own so that whatever chain_client/__init__.py imports does not count.
    code = (
        "import importlib.util, sys\n"
        f"spec = importlib.util.spec_from_file_location('gs1_standalone', {str(GS1_FILE)!r})\n"
        "module = importlib.util.module_from_spec(spec)\n"
        "sys.modules['gs1_standalone'] = module\n"
        "spec.loader.exec_module(module)\n"
        "assert 'web3' not in sys.modules, 'web3 imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, check=True)


# --------------------------------------------------------------------------------------------
# Check digits and keys: published vectors
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "digit"),
    [
        ("950110153100", 0),  # GS1 General Specifications 7.9.1 worked example (GTIN-13)
        ("9501234", 6),  # GTIN-8 95012346
        ("0950600013435", 2),  # GTIN 09506000134352 (GS1 example GTIN)
        ("952123454321", 3),  # GLN 9521234543213
        ("10614141234567890", 8),  # SSCC 106141412345678908
    ],
)
def test_check_digit_vectors(payload: str, digit: int) -> None:
    assert gs1_check_digit(payload) == digit


@pytest.mark.parametrize(
    ("gtin", "gtin14"),
    [
        ("09506000134352", "09506000134352"),  # GS1 example GTIN-14
        ("9506000134352", "09506000134352"),  # same, as GTIN-13
        ("614141123452", "00614141123452"),  # GS1 US GTIN-12 example
        ("95012346", "00000095012346"),  # GTIN-8
        ("96385074", "00000096385074"),  # GTIN-8 (biip docs)
        ("7032069804988", "07032069804988"),  # GTIN-13 (biip docs)
        ("80614141123458", "80614141123458"),  # Tag Data Standard SGTIN example
        ("70614141123451", "70614141123451"),  # Tag Data Standard escaping example
    ],
)
def test_gtin_normalised_to_gtin14(gtin: str, gtin14: str) -> None:
    assert validate_gtin(gtin) == gtin14
    assert Gtin(gtin).value == gtin14
    assert Gtin(gtin) == Gtin(gtin14)


def test_gln_and_sscc_vectors() -> None:
    assert validate_gln("9521234543213") == "9521234543213"
    assert validate_gln("0614141123452") == "0614141123452"
    assert validate_sscc("106141412345678908") == "106141412345678908"
    sscc = Sscc("106141412345678908")
    assert (sscc.extension_digit, sscc.company_prefix, sscc.serial_reference) == (
        "1",
        "0614141",
        "1234567890",
    )
    gln = Gln("0614141123452")
    assert (gln.company_prefix, gln.location_reference) == ("0614141", "12345")


def test_gtin_parts() -> None:
    g = Gtin("80614141123458")
    assert (g.indicator, g.company_prefix, g.item_reference, g.check_digit) == ("8", "0614141", "12345", 8)
    assert g.epc_key == "0614141.812345"
    g9 = Gtin("80614141123458", company_prefix_length=9)
    assert (g9.company_prefix, g9.item_reference) == ("061414112", "345")
    assert g9 != g  # the prefix length is part of the EPC identity


@pytest.mark.parametrize(
    ("func", "value", "code", "field"),
    [
        (validate_gtin, "09506000134353", "gs1.check_digit", "gtin"),
        (validate_gtin, "9506000134351", "gs1.check_digit", "gtin"),
        (validate_gtin, "123456789", "gs1.length", "gtin"),
        (validate_gtin, "", "gs1.length", "gtin"),
        (validate_gtin, "095060001343521", "gs1.length", "gtin"),
        (validate_gtin, "0950600013435X", "gs1.charset", "gtin"),
        (validate_gtin, " 9506000134352", "gs1.charset", "gtin"),
        (
            validate_gtin,
            "\u0660\u0669\u0665\u0660\u0666\u0660\u0660\u0660\u0661\u0663\u0664\u0663\u0665\u0662",
            "gs1.charset",
            "gtin",
        ),  # Arabic-Indic digits: str.isdigit() but not GS1 digits
        (validate_gln, "9521234543214", "gs1.check_digit", "gln"),
        (validate_gln, "952123454321", "gs1.length", "gln"),
        (validate_gln, "95212345432-3", "gs1.charset", "gln"),
        (validate_sscc, "106141412345678909", "gs1.check_digit", "sscc"),
        (validate_sscc, "10614141234567890", "gs1.length", "sscc"),
        (validate_sscc, "10614141234567890a", "gs1.charset", "sscc"),
    ],
)
def test_key_errors(func: object, value: str, code: str, field: str) -> None:
    assert callable(func)
    with expect(code, field):
        func(value)


def test_check_digit_payload_must_be_ascii_digits() -> None:
    with expect("gs1.charset", "payload"):
        gs1_check_digit("12a")
    with expect("gs1.charset", "payload"):
        gs1_check_digit("")


def test_dataclasses_validate_on_construction() -> None:
    with expect("gs1.check_digit", "gtin"):
        Gtin("09506000134353")
    with expect("gs1.check_digit", "gln"):
        Gln("9521234543210")
    with expect("gs1.length", "sscc"):
        Sscc("1")
    with expect("gs1.charset", "serial"):
        Sgtin(Gtin("09506000134352"), "A B")
    with expect("gs1.length", "lot"):
        Lgtin(Gtin("09506000134352"), "")
    with expect("gs1.length", "gln_extension"):
        Sgln(Gln("9521234543213"), "x" * 21)
    with pytest.raises(AttributeError):
        Gtin("09506000134352").value = "1"  # type: ignore[misc]


# --------------------------------------------------------------------------------------------
# Serial / lot and company prefix length
# --------------------------------------------------------------------------------------------


def test_serial_and_lot_accept_all_of_cset82() -> None:
    for i in range(0, 82, 20):
        chunk = GS1_CSET82[i : i + 20]
        assert validate_serial(chunk) == chunk
        assert validate_lot(chunk) == chunk
    assert validate_serial("X") == "X"
    assert validate_lot("A" * 20) == "A" * 20


@pytest.mark.parametrize(
    ("value", "code"),
    [
        ("", "gs1.length"),
        ("A" * 21, "gs1.length"),
        ("AB#1", "gs1.charset"),
        ("with space", "gs1.charset"),
        ("caf\u00e9", "gs1.charset"),
        ("tab\t", "gs1.charset"),
        ("a~b", "gs1.charset"),
        ("GS\x1dX", "gs1.charset"),
    ],
)
def test_serial_and_lot_errors(value: str, code: str) -> None:
    with expect(code, "serial"):
        validate_serial(value)
    with expect(code, "lot"):
        validate_lot(value)


@pytest.mark.parametrize("length", [6, 7, 12])
def test_company_prefix_length_ok(length: int) -> None:
    assert validate_company_prefix_length(length) == length


@pytest.mark.parametrize("length", [0, 5, 13, -7, True])
def test_company_prefix_length_errors(length: int) -> None:
    with expect("gs1.company_prefix", "company_prefix_length"):
        validate_company_prefix_length(length)
    with expect("gs1.company_prefix", "company_prefix_length"):
        Gtin("09506000134352", company_prefix_length=length)


# --------------------------------------------------------------------------------------------
# Dates
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "today", "expected"),
    [
        ("201225", TODAY, dt.date(2020, 12, 25)),
        ("261231", TODAY, dt.date(2026, 12, 31)),
        ("000101", dt.date(2026, 1, 1), dt.date(2000, 1, 1)),
        ("751231", dt.date(2026, 1, 1), dt.date(2075, 12, 31)),  # +49
        ("760101", dt.date(2026, 1, 1), dt.date(2076, 1, 1)),  # +50: still this century
        ("770101", dt.date(2026, 1, 1), dt.date(1977, 1, 1)),  # +51: previous century
        ("990101", dt.date(2026, 1, 1), dt.date(1999, 1, 1)),
        ("250101", dt.date(2075, 6, 1), dt.date(2125, 1, 1)),  # -50: next century
        ("260101", dt.date(2075, 6, 1), dt.date(2026, 1, 1)),  # -49: this century
        ("240229", TODAY, dt.date(2024, 2, 29)),  # leap year
        ("240200", TODAY, dt.date(2024, 2, 29)),  # DD=00: last day of month (leap)
        ("250200", TODAY, dt.date(2025, 2, 28)),
        ("261100", TODAY, dt.date(2026, 11, 30)),
        ("261200", TODAY, dt.date(2026, 12, 31)),
    ],
)
def test_gs1_date_rules(value: str, today: dt.date, expected: dt.date) -> None:
    assert parse_gs1_date(value, today=today) == expected


def test_gs1_date_day_unspecified_round_trips() -> None:
    gdate = Gs1Date.parse("261100", today=TODAY)
    assert gdate == Gs1Date(dt.date(2026, 11, 30), day_specified=False)
    assert gdate.yymmdd == "261100"
    assert format_gs1_date(gdate, today=TODAY) == "261100"
    assert format_gs1_date(dt.date(2026, 11, 30), today=TODAY) == "261130"
    with expect("gs1.date"):
        Gs1Date(dt.date(2026, 11, 29), day_specified=False)


@pytest.mark.parametrize(
    "value",
    [
        "201300",
        "200015",
        "210230",
        "230229",
        "250431",
        "2101",
        "2101011",
        "21013A",
        "",
        " 10101",
        "\uff12\uff11\uff10\uff11\uff10\uff11",
    ],
)
def test_gs1_date_errors(value: str) -> None:
    with expect("gs1.date", "expiry_date"):
        parse_gs1_date(value, field="expiry_date", today=TODAY)


def test_format_gs1_date_rejects_years_outside_window() -> None:
    assert format_gs1_date(dt.date(2076, 1, 1), today=dt.date(2026, 1, 1)) == "760101"
    assert format_gs1_date(dt.date(1977, 1, 1), today=dt.date(2026, 1, 1)) == "770101"
    with expect("gs1.date", "best_before_date"):
        format_gs1_date(dt.date(2077, 1, 1), field="best_before_date", today=dt.date(2026, 1, 1))
    with expect("gs1.date"):
        format_gs1_date(dt.date(1976, 12, 31), today=dt.date(2026, 1, 1))


@given(
    today=st.dates(min_value=dt.date(1950, 1, 1), max_value=dt.date(2150, 12, 31)),
    yy=st.integers(0, 99),
    mm=st.integers(1, 12),
    dd=st.integers(0, 28),
)
def test_century_window_property(today: dt.date, yy: int, mm: int, dd: int) -> None:
    value = f"{yy:02d}{mm:02d}{dd:02d}"
    parsed = parse_gs1_date(value, today=today)
    assert today.year - 49 <= parsed.year <= today.year + 50
    assert parsed.year % 100 == yy
    assert format_gs1_date(Gs1Date.parse(value, today=today), today=today) == value


# --------------------------------------------------------------------------------------------
# Check digit properties
# --------------------------------------------------------------------------------------------

payloads = st.sampled_from([7, 11, 12, 13, 17]).flatmap(
    lambda n: st.text(alphabet="0123456789", min_size=n, max_size=n)
)
_VALIDATORS = {8: validate_gtin, 12: validate_gtin, 13: validate_gtin, 14: validate_gtin, 18: validate_sscc}


@given(payload=payloads, data=st.data())
def test_check_digit_detects_every_single_digit_error(payload: str, data: st.DataObject) -> None:
    key = payload + str(gs1_check_digit(payload))
    validate = _VALIDATORS[len(key)]
    validate(key)  # valid as computed
    if len(key) == 13:
        validate_gln(key)
    pos = data.draw(st.integers(0, len(key) - 1), label="position")
    new_digit = data.draw(st.sampled_from([d for d in "0123456789" if d != key[pos]]), label="digit")
    broken = key[:pos] + new_digit + key[pos + 1 :]
    with expect("gs1.check_digit"):
        validate(broken)


@given(payload=payloads, data=st.data())
def test_check_digit_detects_adjacent_transpositions(payload: str, data: st.DataObject) -> None:
    key = payload + str(gs1_check_digit(payload))
    pos = data.draw(st.integers(0, len(key) - 2), label="position")
    a, b = int(key[pos]), int(key[pos + 1])
    swapped = key[:pos] + key[pos + 1] + key[pos] + key[pos + 2 :]
    if abs(a - b) in (0, 5):  # the mod-10 scheme cannot see these
        _VALIDATORS[len(key)](swapped)
    else:
        with expect("gs1.check_digit"):
            _VALIDATORS[len(key)](swapped)


# --------------------------------------------------------------------------------------------
# EPC URNs (Tag Data Standard)
# --------------------------------------------------------------------------------------------


def test_epc_urn_tag_data_standard_vectors() -> None:
    sgtin = Sgtin(Gtin("80614141123458"), "6789")
    assert sgtin.epc_urn == "urn:epc:id:sgtin:0614141.812345.6789"
    escaped = Sgtin(Gtin("70614141123451"), "32a/b")
    assert escaped.epc_urn == "urn:epc:id:sgtin:0614141.712345.32a%2Fb"
    assert Sscc("106141412345678908").epc_urn == "urn:epc:id:sscc:0614141.1234567890"
    assert Sgln(Gln("0614141123452"), "5678").epc_urn == "urn:epc:id:sgln:0614141.12345.5678"
    assert Gln("0614141123452").epc_urn == "urn:epc:id:sgln:0614141.12345.0"
    assert Sgln(Gln("0614141123452")).epc_urn == "urn:epc:id:sgln:0614141.12345.0"
    assert Gtin("80614141123458").epc_urn == "urn:epc:idpat:sgtin:0614141.812345.*"
    lgtin = parse_epc_urn("urn:epc:class:lgtin:4012345.012345.998877")
    assert lgtin == Lgtin(Gtin("04012345123456"), "998877")


@pytest.mark.parametrize(
    "urn",
    [
        "urn:epc:id:sgtin:0614141.812345.6789",
        "urn:epc:id:sgtin:0614141.712345.32a%2Fb",
        "urn:epc:id:sgtin:950600.0013435.A.B:C",  # 6-digit prefix; "." and ":" are literal in the serial
        "urn:epc:id:sgtin:950600013435.0.1",  # 12-digit prefix: only the indicator is left
        "urn:epc:id:sscc:0614141.1234567890",
        "urn:epc:id:sscc:952123454321.00001",
        "urn:epc:id:sgln:0614141.12345.400",
        "urn:epc:id:sgln:0614141.12345.0",
        "urn:epc:id:sgln:952123454321..0",  # 12-digit prefix: empty location reference
        "urn:epc:class:lgtin:4012345.012345.998877",
        "urn:epc:class:lgtin:4012345.012345.%22%25%26%2F%3C%3E%3F",
        "urn:epc:idpat:sgtin:0614141.812345.*",
    ],
)
def test_epc_urn_round_trip(urn: str) -> None:
    ident = parse_epc_urn(urn)
    assert ident.epc_urn == urn
    assert type(ident).from_epc_urn(urn) == ident


def test_epc_urn_parsed_values() -> None:
    sgtin = Sgtin.from_epc_urn("urn:epc:id:sgtin:0614141.712345.32a%2Fb")
    assert sgtin.serial == "32a/b"
    assert sgtin.gtin == Gtin("70614141123451")
    sgln = Sgln.from_epc_urn("urn:epc:id:sgln:952123454321..0")
    assert sgln == Sgln(Gln("9521234543213", company_prefix_length=12), None)
    assert Sgln(Gln("9521234543213"), "0").extension is None  # "0" means "no extension" in TDS
    sscc = Sscc.from_epc_urn("urn:epc:id:sscc:0614141.1234567890")
    assert sscc == Sscc("106141412345678908")
    assert Gtin.from_epc_urn("urn:epc:idpat:sgtin:0614141.812345.*") == Gtin("80614141123458")


def test_epc_escaping_rules() -> None:
    assert epc_escape('"%&/<>?') == "%22%25%26%2F%3C%3E%3F"
    untouched = "!'()*+,-.:;=_09AZaz"
    assert epc_escape(untouched) == untouched
    assert set(EPC_URN_ESCAPES) == set('"%&/<>?')
    assert epc_unescape("%22%25%26%2F%3C%3E%3F") == '"%&/<>?'
    assert Sgtin(Gtin("09506000134352"), "a%b").epc_urn.endswith(".a%25b")


@pytest.mark.parametrize(
    ("urn", "code", "field"),
    [
        ("urn:epc:id:giai:0614141.12345", "gs1.epc_urn", "epc_urn"),
        ("URN:EPC:ID:SGTIN:0614141.812345.6789", "gs1.epc_urn", "epc_urn"),
        ("urn:epc:id:sgtin:0614141.812345", "gs1.epc_urn", "epc_urn"),
        ("urn:epc:id:sgtin:0614141.81234.6789", "gs1.epc_urn", "epc_urn"),  # 12 digits, not 13
        ("urn:epc:id:sgtin:0614141.81234X.6789", "gs1.epc_urn", "epc_urn"),
        ("urn:epc:id:sgtin:06141A1.812345.6789", "gs1.epc_urn", "epc_urn"),
        ("urn:epc:id:sgtin:06141.8123456.6789", "gs1.company_prefix", "company_prefix"),
        ("urn:epc:id:sgtin:0614141123456..6789", "gs1.company_prefix", "company_prefix"),
        ("urn:epc:id:sgtin:0614141.812345.32a/b", "gs1.epc_urn", "serial"),  # must be escaped
        ("urn:epc:id:sgtin:0614141.812345.32a%2fb", "gs1.epc_urn", "serial"),  # TDS escapes are uppercase
        ("urn:epc:id:sgtin:0614141.812345.a%41", "gs1.epc_urn", "serial"),  # not a TDS escape
        ("urn:epc:id:sgtin:0614141.812345.a%2", "gs1.epc_urn", "serial"),
        ("urn:epc:id:sgtin:0614141.812345.", "gs1.length", "serial"),
        ("urn:epc:id:sgtin:0614141.812345." + "9" * 21, "gs1.length", "serial"),
        ("urn:epc:id:sgtin:0614141.812345.a#b", "gs1.charset", "serial"),
        ("urn:epc:id:sscc:0614141.1234567890.1", "gs1.epc_urn", "epc_urn"),
        ("urn:epc:id:sscc:0614141.123456789", "gs1.epc_urn", "epc_urn"),
        ("urn:epc:id:sgln:0614141.1234.0", "gs1.epc_urn", "epc_urn"),
        ("urn:epc:id:sgln:0614141.12345.a b", "gs1.charset", "gln_extension"),
        ("urn:epc:class:lgtin:4012345.012345.", "gs1.length", "lot"),
        ("urn:epc:idpat:sgtin:0614141.812345.6789", "gs1.epc_urn", "epc_urn"),
    ],
)
def test_epc_urn_errors(urn: str, code: str, field: str) -> None:
    with expect(code, field):
        parse_epc_urn(urn)


def test_from_epc_urn_checks_the_kind() -> None:
    with expect("gs1.epc_urn", "epc_urn"):
        Sgtin.from_epc_urn("urn:epc:id:sscc:0614141.1234567890")
    with expect("gs1.epc_urn", "epc_urn"):
        Lgtin.from_epc_urn("urn:epc:id:sgtin:0614141.812345.6789")


cset82_text = st.text(alphabet=GS1_CSET82, min_size=1, max_size=20)
gtins = st.text(alphabet="0123456789", min_size=13, max_size=13).map(lambda p: p + str(gs1_check_digit(p)))
glns = st.text(alphabet="0123456789", min_size=12, max_size=12).map(lambda p: p + str(gs1_check_digit(p)))
ssccs = st.text(alphabet="0123456789", min_size=17, max_size=17).map(lambda p: p + str(gs1_check_digit(p)))
prefix_lengths = st.integers(6, 12)


@given(gtin=gtins, cpl=prefix_lengths, serial=cset82_text, lot=cset82_text)
def test_sgtin_and_lgtin_urn_round_trip(gtin: str, cpl: int, serial: str, lot: str) -> None:
    g = Gtin(gtin, cpl)
    for ident in (Sgtin(g, serial), Lgtin(g, lot), g):
        urn = ident.epc_urn
        assert urn.isascii()
        assert not set(urn) & set('"&/<>?')  # escaped characters never appear raw
        parsed = parse_epc_urn(urn)
        assert parsed == ident
        assert parsed.epc_urn == urn
        assert object_id(urn) == ident.object_id


@given(sscc=ssccs, gln=glns, cpl=prefix_lengths, ext=st.none() | cset82_text)
def test_sscc_and_sgln_urn_round_trip(sscc: str, gln: str, cpl: int, ext: str | None) -> None:
    s = Sscc(sscc, cpl)
    assert parse_epc_urn(s.epc_urn) == s
    sgln = Sgln(Gln(gln, cpl), ext)
    assert parse_epc_urn(sgln.epc_urn) == sgln
    assert parse_epc_urn(sgln.epc_urn).epc_urn == sgln.epc_urn


@given(text=st.text(alphabet=GS1_CSET82, max_size=40))
def test_epc_escape_round_trip(text: str) -> None:
    assert epc_unescape(epc_escape(text)) == text


# --------------------------------------------------------------------------------------------
# object_id
# --------------------------------------------------------------------------------------------


def test_object_id_is_keccak256_of_utf8_urn() -> None:
    urn = "urn:epc:id:sgtin:0614141.812345.6789"
    oid = object_id(urn)
    assert isinstance(oid, bytes)
    assert len(oid) == 32
    assert oid == keccak(urn.encode("utf-8"))
    assert oid == Sgtin(Gtin("80614141123458"), "6789").object_id
    # Known keccak256 vector (empty input), hashing without validation.
    assert object_id("", validate=False).hex() == ("c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470")


def test_object_id_depends_on_company_prefix_length() -> None:
    a = Sgtin(Gtin("80614141123458", 7), "6789")
    b = Sgtin(Gtin("80614141123458", 8), "6789")
    assert a.epc_urn != b.epc_urn
    assert a.object_id != b.object_id


def test_object_id_validates_the_urn_by_default() -> None:
    with expect("gs1.epc_urn", "serial"):
        object_id("urn:epc:id:sgtin:0614141.812345.32a/b")
    with expect("gs1.epc_urn", "epc_urn"):
        object_id("hello")
    assert len(object_id("hello", validate=False)) == 32


# --------------------------------------------------------------------------------------------
# GS1 Digital Link
# --------------------------------------------------------------------------------------------


def test_digital_link_example_from_brief() -> None:
    link = parse_digital_link("https://example.com/01/09506000134352/21/XYZ?17=201225&10=LOT", today=TODAY)
    assert isinstance(link, DigitalLink)
    assert link.base == "https://example.com"
    data = link.data
    assert data.gtin == Gtin("09506000134352")
    assert data.serial == "XYZ"
    assert data.lot == "LOT"
    assert data.expiry_date == Gs1Date(dt.date(2020, 12, 25))
    assert data.sgtin == Sgtin(Gtin("09506000134352"), "XYZ")
    assert data.lgtin == Lgtin(Gtin("09506000134352"), "LOT")
    # Canonical form puts the lot (a key qualifier) in the path.
    assert link.uri == "https://example.com/01/09506000134352/10/LOT/21/XYZ?17=201225"
    assert build_digital_link(data, base=link.base, lot_in_query=True) == (
        "https://example.com/01/09506000134352/21/XYZ?10=LOT&17=201225"
    )


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        (
            "https://id.gs1.org/01/09506000134352/10/ABC123/21/12345",
            Gs1Data(gtin=Gtin("09506000134352"), lot="ABC123", serial="12345"),
        ),
        (
            "https://id.gs1.org/01/09506000134352/22/V1/10/L1/21/S1",
            Gs1Data(gtin=Gtin("09506000134352"), cpv="V1", lot="L1", serial="S1"),
        ),
        ("https://id.gs1.org/00/106141412345678908", Gs1Data(sscc=Sscc("106141412345678908"))),
        ("https://id.gs1.org/414/9521234543213", Gs1Data(gln=Gln("9521234543213"))),
        (
            "https://id.gs1.org/414/9521234543213/254/DOCK%2F7",
            Gs1Data(gln=Gln("9521234543213"), gln_extension="DOCK/7"),
        ),
        (
            "https://id.gs1.org/01/09506000134352/21/32a%2Fb%25c",
            Gs1Data(gtin=Gtin("09506000134352"), serial="32a/b%c"),
        ),
        (
            "https://id.gs1.org/01/09506000134352/21/A+B?10=C+D",  # "+" is a literal character
            Gs1Data(gtin=Gtin("09506000134352"), serial="A+B", lot="C+D"),
        ),
        (
            "https://id.gs1.org/01/9506000134352",  # GTIN-13 in the path is normalised
            Gs1Data(gtin=Gtin("09506000134352")),
        ),
        (
            "HTTPS://id.gs1.org/01/09506000134352?linkType=gs1:pip&11=260100&15=261231#frag",
            Gs1Data(
                gtin=Gtin("09506000134352"),
                production_date=Gs1Date(dt.date(2026, 1, 31), day_specified=False),
                best_before_date=Gs1Date(dt.date(2026, 12, 31)),
            ),
        ),
    ],
)
def test_digital_link_parse(uri: str, expected: Gs1Data) -> None:
    assert parse_digital_link(uri, today=TODAY).data == expected


def test_digital_link_attributes_validated_by_biip() -> None:
    link = parse_digital_link(
        "https://id.gs1.org/00/106141412345678908?02=00614141123452&37=25&3103=000195", today=TODAY
    )
    assert link.data.sscc == Sscc("106141412345678908")
    assert link.data.attributes == (("02", "00614141123452"), ("3103", "000195"), ("37", "25"))
    assert link.data.attribute("37") == "25"
    assert link.data.attribute("99") is None
    assert link.uri == "https://id.gs1.org/00/106141412345678908?02=00614141123452&3103=000195&37=25"


def test_digital_link_path_prefix_is_kept_in_base() -> None:
    uri = "https://brand.example:8443/a/00/b/01/09506000134352/21/ABC"
    link = parse_digital_link(uri)
    assert link.base == "https://brand.example:8443/a/00/b"
    assert link.data.serial == "ABC"
    assert link.uri == uri


def test_digital_link_day_unspecified_survives_round_trip() -> None:
    uri = "https://id.gs1.org/01/09506000134352/10/L?17=261100"
    link = parse_digital_link(uri, today=TODAY)
    assert link.data.expiry_date is not None
    assert link.data.expiry_date.date == dt.date(2026, 11, 30)
    assert link.uri == uri


def test_digital_link_build_encodes_reserved_characters() -> None:
    data = Gs1Data(gtin=Gtin("09506000134352"), lot="a/b?c", serial="x%y&z")
    uri = build_digital_link(data, base="https://example.com/r/")
    assert uri == "https://example.com/r/01/09506000134352/10/a%2Fb%3Fc/21/x%25y%26z"
    assert parse_digital_link(uri).data == data


def test_identifier_digital_links() -> None:
    sgtin = Sgtin(Gtin("09506000134352"), "XYZ")
    assert sgtin.digital_link() == f"{DEFAULT_DIGITAL_LINK_BASE}/01/09506000134352/21/XYZ"
    assert Lgtin(Gtin("09506000134352"), "L1").digital_link("https://x.test") == (
        "https://x.test/01/09506000134352/10/L1"
    )
    assert Sscc("106141412345678908").digital_link() == "https://id.gs1.org/00/106141412345678908"
    assert Gln("9521234543213").digital_link() == "https://id.gs1.org/414/9521234543213"
    assert Sgln(Gln("9521234543213"), "7").digital_link() == "https://id.gs1.org/414/9521234543213/254/7"
    assert Gtin("9506000134352").digital_link() == "https://id.gs1.org/01/09506000134352"


@pytest.mark.parametrize(
    ("uri", "code", "field"),
    [
        ("ftp://example.com/01/09506000134352", "gs1.digital_link", "digital_link"),
        ("example.com/01/09506000134352", "gs1.digital_link", "digital_link"),
        ("https:///01/09506000134352", "gs1.digital_link", "digital_link"),
        ("https://example.com", "gs1.digital_link", "digital_link"),
        ("https://example.com/", "gs1.digital_link", "digital_link"),
        ("https://example.com/products/123", "gs1.digital_link", "digital_link"),
        ("https://example.com/01/09506000134352/", "gs1.digital_link", "digital_link"),
        ("https://example.com//01/09506000134352", "gs1.digital_link", "digital_link"),
        ("https://example.com/01/09506000134352/21", "gs1.digital_link", "digital_link"),
        ("https://example.com/01/09506000134352/21/S/10/L", "gs1.digital_link", "digital_link"),
        ("https://example.com/01/09506000134352/10/L/22/V", "gs1.digital_link", "digital_link"),
        ("https://example.com/01/09506000134352/21/S/21/T", "gs1.digital_link", "digital_link"),
        ("https://example.com/01/09506000134352/254/X", "gs1.digital_link", "digital_link"),
        ("https://example.com/00/106141412345678908/21/S", "gs1.digital_link", "digital_link"),
        ("https://example.com/414/9521234543213/21/S", "gs1.digital_link", "digital_link"),
        ("https://example.com/8004/0614141ABC", "gs1.digital_link", "digital_link"),
        ("https://example.com/01/09506000134352?21=S", "gs1.digital_link", "digital_link"),
        ("https://example.com/01/09506000134352?22=V", "gs1.digital_link", "digital_link"),
        ("https://example.com/01/09506000134352?01=09506000134352", "gs1.digital_link", "digital_link"),
        ("https://example.com/00/106141412345678908?10=L", "gs1.digital_link", "digital_link"),
        ("https://example.com/01/09506000134352/10/L?10=L", "gs1.digital_link", "digital_link"),
        ("https://example.com/01/09506000134352?17=201225&17=201226", "gs1.digital_link", "digital_link"),
        ("https://example.com/01/09506000134352?17=", "gs1.digital_link", "digital_link"),
        ("https://example.com/01/09506000134352?17", "gs1.digital_link", "digital_link"),
        ("https://example.com/01/09506000134352/21/A%2", "gs1.digital_link", "digital_link"),
        ("https://example.com/01/09506000134352/21/A%ZZ", "gs1.digital_link", "digital_link"),
        ("https://example.com/01/09506000134352/21/%FF", "gs1.digital_link", "digital_link"),
        ("https://example.com/01/09506000134352/21/A B", "gs1.digital_link", "digital_link"),
        ("https://example.com/01/09506000134352/21/\u00e9", "gs1.digital_link", "digital_link"),
        ("https://example.com/01/09506000134352/21/A\tB", "gs1.digital_link", "digital_link"),
        ("", "gs1.digital_link", "digital_link"),
        ("https://example.com/01/09506000134353", "gs1.check_digit", "gtin"),
        ("https://example.com/01/0950600013", "gs1.length", "gtin"),
        ("https://example.com/00/106141412345678909", "gs1.check_digit", "sscc"),
        ("https://example.com/414/9521234543214", "gs1.check_digit", "gln"),
        ("https://example.com/01/09506000134352/21/" + "S" * 21, "gs1.length", "serial"),
        ("https://example.com/01/09506000134352/21/A%23B", "gs1.charset", "serial"),
        ("https://example.com/01/09506000134352/10/%E2%82%AC", "gs1.charset", "lot"),
        ("https://example.com/01/09506000134352?17=201300", "gs1.date", "expiry_date"),
        ("https://example.com/01/09506000134352?11=210230", "gs1.date", "production_date"),
        ("https://example.com/01/09506000134352?15=2012", "gs1.date", "best_before_date"),
        ("https://example.com/01/09506000134352?3103=12", "gs1.ai", "ai.3103"),
        ("https://example.com/01/09506000134352?123=4", "gs1.ai", "ai.123"),
        ("https://example.com/00/106141412345678908?02=00614141123453", "gs1.check_digit", "ai.02"),
    ],
)
def test_digital_link_errors(uri: str, code: str, field: str) -> None:
    with expect(code, field):
        parse_digital_link(uri, today=TODAY)


def test_digital_link_error_messages_are_precise() -> None:
    with pytest.raises(GS1Error, match=r"order 01 -> 22 -> 10 -> 21; \(10\) comes after \(21\)"):
        parse_digital_link("https://example.com/01/09506000134352/21/S/10/L")
    with pytest.raises(GS1Error, match=r"key qualifier \(21\) belongs in the path"):
        parse_digital_link("https://example.com/01/09506000134352?21=S")
    with pytest.raises(GS1Error, match=r"primary key \(8004\) is not supported"):
        parse_digital_link("https://example.com/8004/0614141ABC")


@pytest.mark.parametrize(
    ("data", "base"),
    [
        (Gs1Data(), DEFAULT_DIGITAL_LINK_BASE),
        (Gs1Data(gtin=Gtin("09506000134352"), sscc=Sscc("106141412345678908")), DEFAULT_DIGITAL_LINK_BASE),
        (Gs1Data(sscc=Sscc("106141412345678908"), serial="S"), DEFAULT_DIGITAL_LINK_BASE),
        (Gs1Data(gtin=Gtin("09506000134352"), gln_extension="1"), DEFAULT_DIGITAL_LINK_BASE),
        (Gs1Data(gtin=Gtin("09506000134352")), "https://example.com/?q=1"),
        (Gs1Data(gtin=Gtin("09506000134352")), "https://example.com#x"),
        (Gs1Data(gtin=Gtin("09506000134352")), "mailto:x@example.com"),
        (Gs1Data(gtin=Gtin("09506000134352")), "https://example.com/a//b"),
        (Gs1Data(gtin=Gtin("09506000134352")), "https://exa mple.com"),
    ],
)
def test_build_digital_link_errors(data: Gs1Data, base: str) -> None:
    with expect("gs1.digital_link", "digital_link"):
        build_digital_link(data, base=base)


def test_build_digital_link_date_outside_window() -> None:
    data = Gs1Data(gtin=Gtin("09506000134352"), expiry_date=Gs1Date(dt.date(2099, 1, 1)))
    with expect("gs1.date", "expiry_date"):
        build_digital_link(data, today=TODAY)


def test_gs1_data_validates_attributes() -> None:
    with expect("gs1.ai", "ai.17"):
        Gs1Data(attributes=(("17", "201225"),))  # has a dedicated field
    with expect("gs1.ai", "ai.37"):
        Gs1Data(attributes=(("37", "1"), ("37", "2")))
    with expect("gs1.ai", "attributes"):
        Gs1Data(attributes=(("x1", "1"),))
    with expect("gs1.ai", "ai.3103"):
        Gs1Data(attributes=(("3103", "abc"),))
    assert Gs1Data(attributes=(("37", "5"), ("3103", "000195"))).attributes == (
        ("3103", "000195"),
        ("37", "5"),
    )


dl_dates = st.none() | st.builds(
    Gs1Date,
    st.dates(min_value=dt.date(TODAY.year - 49, 1, 1), max_value=dt.date(TODAY.year + 50, 12, 31)),
)


@settings(suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(
    gtin=gtins,
    cpl=prefix_lengths,
    cpv=st.none() | cset82_text,
    lot=st.none() | cset82_text,
    serial=st.none() | cset82_text,
    expiry=dl_dates,
    best_before=dl_dates,
    count=st.none() | st.integers(1, 99_999_999),
    lot_in_query=st.booleans(),
    base=st.sampled_from(["https://id.gs1.org", "http://example.com/p/q", "https://h.test:8080/00"]),
)
def test_digital_link_round_trip_property(
    gtin: str,
    cpl: int,
    cpv: str | None,
    lot: str | None,
    serial: str | None,
    expiry: Gs1Date | None,
    best_before: Gs1Date | None,
    count: int | None,
    lot_in_query: bool,
    base: str,
) -> None:
    data = Gs1Data(
        gtin=Gtin(gtin, cpl),
        cpv=cpv,
        lot=lot,
        serial=serial,
        expiry_date=expiry,
        best_before_date=best_before,
        attributes=(("30", str(count)),) if count is not None else (),
    )
    uri = build_digital_link(data, base=base, today=TODAY, lot_in_query=lot_in_query)
    link = parse_digital_link(uri, company_prefix_length=cpl, today=TODAY)
    assert link.data == data
    assert link.base == base
    if not lot_in_query:
        assert link.uri == uri


@given(sscc=ssccs, gln=glns, ext=st.none() | cset82_text)
def test_digital_link_round_trip_sscc_and_gln(sscc: str, gln: str, ext: str | None) -> None:
    for data in (Gs1Data(sscc=Sscc(sscc)), Gs1Data(gln=Gln(gln), gln_extension=ext)):
        assert parse_digital_link(build_digital_link(data)).data == data


@given(gtin=gtins, cpl=prefix_lengths, serial=cset82_text)
def test_epc_urn_to_digital_link_and_back(gtin: str, cpl: int, serial: str) -> None:
    sgtin = Sgtin(Gtin(gtin, cpl), serial)
    back = parse_digital_link(sgtin.digital_link(), company_prefix_length=cpl).data.sgtin
    assert back == sgtin
    assert back.epc_urn == sgtin.epc_urn


# --------------------------------------------------------------------------------------------
# Barcode scans (element strings via biip)
# --------------------------------------------------------------------------------------------

EXPECTED_SCAN = Gs1Data(
    gtin=Gtin("09506000134352"),
    lot="ABC123",
    serial="XYZ",
    expiry_date=Gs1Date(dt.date(2020, 12, 25)),
)


@pytest.mark.parametrize(
    "scan",
    [
        "(01)09506000134352(17)201225(10)ABC123(21)XYZ",
        "(01) 09506000134352 (17) 201225 (10) ABC123 (21) XYZ",
        f"01095060001343521720122510ABC123{GS}21XYZ",
        f"]C101095060001343521720122510ABC123{GS}21XYZ",
        f"]d2{GS}010950600013435217201225{GS}10ABC123{GS}21XYZ\r\n",
        f"]Q3010950600013435217201225{GS}21XYZ{GS}10ABC123",
        f"010950600013435217201225{GS}10ABC123{GS}21XYZ{GS}",
    ],
)
def test_parse_element_strings(scan: str) -> None:
    assert parse_element_strings(scan, today=TODAY) == EXPECTED_SCAN
    assert parse_scan(scan, today=TODAY) == EXPECTED_SCAN


def test_parse_element_strings_custom_separator_and_attributes() -> None:
    data = parse_element_strings(
        "00106141412345678908|0200614141123452|3725|10LOT9|15261200", separator_chars=("|",), today=TODAY
    )
    assert data.sscc == Sscc("106141412345678908")
    assert data.gtin is None  # (02) is the content GTIN, not the identity of the unit
    assert data.attributes == (("02", "00614141123452"), ("37", "25"))
    assert data.lot == "LOT9"
    assert data.best_before_date == Gs1Date(dt.date(2026, 12, 31), day_specified=False)
    assert data.sgtin is None and data.lgtin is None


def test_parse_element_strings_gln_and_company_prefix_length() -> None:
    data = parse_element_strings("(414)9521234543213(254)A1", company_prefix_length=9)
    assert data.sgln == Sgln(Gln("9521234543213", 9), "A1")
    assert data.sgln is not None
    assert data.sgln.epc_urn == "urn:epc:id:sgln:952123454.321.A1"


def test_identical_repeated_ai_is_accepted() -> None:
    data = parse_element_strings("(01)09506000134352(21)XYZ(21)XYZ")
    assert data.serial == "XYZ"


@pytest.mark.parametrize(
    ("scan", "code", "field"),
    [
        ("", "gs1.element_string", "element_string"),
        ("]C1", "gs1.element_string", "element_string"),
        ("hello", "gs1.element_string", "element_string"),
        ("(01)09506000134352(21)XYZ(21)ABC", "gs1.element_string", "element_string"),
        ("(99999)1", "gs1.element_string", "element_string"),
        ("]E09506000134352", "gs1.element_string", "element_string"),  # EAN-13 symbol: not element strings
        ("]X0010950600013435217201225", "gs1.element_string", "element_string"),
        ("(01)09506000134353(21)XYZ", "gs1.check_digit", "gtin"),
        ("0109506000134353", "gs1.check_digit", "gtin"),
        ("(00)106141412345678909", "gs1.check_digit", "sscc"),
        ("(01)09506000134352(17)210230", "gs1.date", "expiry_date"),
        ("(01)09506000134352(11)200230", "gs1.date", "production_date"),
        ("(01)09506000134352(02)09506000134353", "gs1.check_digit", "ai.02"),
    ],
)
def test_parse_element_strings_errors(scan: str, code: str, field: str) -> None:
    with expect(code, field):
        parse_element_strings(scan, today=TODAY)


def test_parse_scan_dispatch() -> None:
    dl = parse_scan("]Q1https://example.com/01/09506000134352/21/XYZ?17=201225&10=ABC123", today=TODAY)
    assert dl == EXPECTED_SCAN
    assert parse_scan("https://id.gs1.org/00/106141412345678908") == Gs1Data(sscc=Sscc("106141412345678908"))
    assert parse_scan("]E09506000134352") == Gs1Data(gtin=Gtin("09506000134352"))  # EAN-13
    assert parse_scan("]E495012346") == Gs1Data(gtin=Gtin("95012346"))  # EAN-8
    assert parse_scan("]I109506000134352") == Gs1Data(gtin=Gtin("09506000134352"))  # ITF-14
    with expect("gs1.check_digit", "gtin"):
        parse_scan("]E09506000134353")
    with expect("gs1.element_string", "element_string"):
        parse_scan("]A0HELLO")  # Code 39, not GS1 data
