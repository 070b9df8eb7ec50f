"""EPCIS identifiers → ledger keys: EPC URNs, Digital Link URIs, SGLN/PGLN."""

from __future__ import annotations

import pytest

from gateway.epcis.errors import pointer
from gateway.epcis.identifiers import IdentifierError, parse_gln, parse_object


@pytest.mark.parametrize(
    ("value", "kind", "urn"),
    [
        ("urn:epc:id:sgtin:0614141.812345.A1", "sgtin", "urn:epc:id:sgtin:0614141.812345.A1"),
        ("https://id.gs1.org/01/80614141123458/21/A1", "sgtin", "urn:epc:id:sgtin:0614141.812345.A1"),
        ("https://example.com/shop/01/80614141123458/10/L7/21/A%2F1?17=270331", "sgtin",
         "urn:epc:id:sgtin:0614141.812345.A%2F1"),
        ("urn:epc:id:sscc:0614141.1234567890", "sscc", "urn:epc:id:sscc:0614141.1234567890"),
        ("https://id.gs1.org/00/106141412345678908", "sscc", "urn:epc:id:sscc:0614141.1234567890"),
        ("urn:epc:class:lgtin:0614141.812345.L7", "lgtin", "urn:epc:class:lgtin:0614141.812345.L7"),
        ("https://id.gs1.org/01/80614141123458/10/L7", "lgtin", "urn:epc:class:lgtin:0614141.812345.L7"),
    ],
)  # fmt: skip
def test_objects(value: str, kind: str, urn: str) -> None:
    epc = parse_object(value)
    assert (epc.kind, epc.urn) == (kind, urn)


@pytest.mark.parametrize(
    "value",
    [
        "urn:epc:idpat:sgtin:0614141.812345.*",  # a class without lot
        "https://id.gs1.org/01/80614141123458",  # the same as Digital Link
        "urn:epc:id:sgln:0614141.00000.0",  # a location
        "urn:epc:id:giai:0614141.1",  # another scheme
        "https://id.gs1.org/01/80614141123459/21/A1",  # wrong check digit
        "urn:epc:id:sgtin:0614141.812345.A/1",  # unescaped '/'
        "not an identifier",
    ],
)
def test_not_ledger_objects(value: str) -> None:
    with pytest.raises(IdentifierError):
        parse_object(value)


@pytest.mark.parametrize(
    ("value", "gln"),
    [
        ("urn:epc:id:sgln:0614141.00000.0", "0614141000005"),
        ("urn:epc:id:sgln:0614141.00002.dock-7", "0614141000029"),
        ("urn:epc:id:pgln:0614141.00002", "0614141000029"),
        ("urn:epc:id:pgln:061414100002.", "0614141000029"),
        ("https://id.gs1.org/414/0614141000029/254/7", "0614141000029"),
        ("https://id.gs1.org/417/0614141000029", "0614141000029"),
    ],
)
def test_glns(value: str, gln: str) -> None:
    assert parse_gln(value) == gln


@pytest.mark.parametrize(
    "value",
    [
        "urn:epc:id:pgln:0614141.0002",  # 11 digits
        "urn:epc:id:pgln:0614141",
        "https://id.gs1.org/417/0614141000028",  # check digit
        "https://id.gs1.org/01/80614141123458/21/A1",
        "urn:epc:id:sgtin:0614141.812345.A1",
    ],
)
def test_not_glns(value: str) -> None:
    with pytest.raises(IdentifierError):
        parse_gln(value)


def test_json_pointer_escapes() -> None:
    assert pointer("ilmd", "a/b~c", 0) == "/ilmd/a~1b~0c/0"
