"""Pure parts of the documents service: the upload form, media types, ranges, document ids."""

from __future__ import annotations

import pytest
from eth_abi.abi import encode as abi_encode
from eth_utils.crypto import keccak

from gateway.documents.anchors import document_id
from gateway.documents.cid import Cid
from gateway.documents.errors import InvalidRange
from gateway.documents.ranges import parse_range
from gateway.documents.service import UploadForm
from gateway.documents.service_errors import InvalidUpload
from gateway.documents.sniff import safe_media_type, sniff

URN = "urn:epc:id:sgtin:0614141.081234.A1"


def parse(**fields: str) -> UploadForm:
    return UploadForm.parse(fields, filename="f.pdf", content_type="application/pdf")


def test_form_with_an_epc_urn_or_gs1_keys() -> None:
    form = parse(document_type="invoice", object=URN)
    assert form.object is not None and form.object.epc == URN and form.cid_version == 1 and not form.confidential
    keys = parse(document_type="invoice", object='{"gtin": "00614141812349", "serial": "A1"}')
    assert keys.object is not None and keys.object.urn() == "urn:epc:id:sgtin:0614141.081234.A1"
    shipment = parse(document_type="bill_of_lading", shipment_id="12", confidential="true", recipients="3, 4,5")
    assert (shipment.shipment_id, shipment.confidential, shipment.recipients) == (12, True, (3, 4, 5))
    assert parse(document_type="photo", object=URN, cid_version="0").cid_version == 0


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"object": URN}, "document_type"),
        ({"document_type": "selfie", "object": URN}, "document_type"),
        ({"document_type": "invoice"}, "object"),
        ({"document_type": "invoice", "object": URN, "shipment_id": "3"}, "object"),
        ({"document_type": "invoice", "shipment_id": "three"}, "shipment_id"),
        ({"document_type": "invoice", "shipment_id": "-3"}, "shipment_id"),
        ({"document_type": "invoice", "object": URN, "confidential": "perhaps"}, "confidential"),
        ({"document_type": "invoice", "object": URN, "recipients": "1,x"}, "recipients"),
        ({"document_type": "invoice", "object": URN, "cid_version": "2"}, "cid_version"),
        ({"document_type": "invoice", "object": '{"gtin": "1"'}, "object"),
        ({"document_type": "invoice", "object": '{"gtin": "00614141812349"}'}, "object"),
        ({"document_type": "invoice", "object": URN, "colour": "red"}, "colour"),
    ],
)
def test_form_errors_name_the_field(fields: dict[str, str], field: str) -> None:
    with pytest.raises(InvalidUpload) as info:
        parse(**fields)
    assert info.value.field == field, str(info.value)
    assert info.value.code == "documents.invalid_upload"


@pytest.mark.parametrize(
    ("head", "media_type"),
    [
        (b"%PDF-1.7\n", "application/pdf"),
        (b"\x89PNG\r\n\x1a\n....", "image/png"),
        (b"\xff\xd8\xff\xe0JFIF", "image/jpeg"),
        (b"RIFF\x00\x00\x00\x00WEBPVP8 ", "image/webp"),
        (b"PK\x03\x04rest", "application/zip"),
        (b'<?xml version="1.0"?><EPCISDocument/>', "application/xml"),
        (b'  {"temperature": [2.1, 2.3]}', "application/json"),
        (b"lot;temp\n42;2.1\n", "text/plain; charset=utf-8"),
        (b"<html><script>x</script>", "text/plain; charset=utf-8"),
        (b'<?xml version="1.0"?><svg onload="x"/>', "text/plain; charset=utf-8"),
        (b"\x00\x01\x02binary", "application/octet-stream"),
        ("caf\u00e9".encode()[:-1], "text/plain; charset=utf-8"),  # a character cut by the sample's end
        (b"CUSTENC\x01\x00\x00", "application/octet-stream"),
    ],
)
def test_sniffing(head: bytes, media_type: str) -> None:
    assert sniff(head) == media_type


def test_declared_media_types_that_could_run_script_are_neutralised() -> None:
    assert safe_media_type("application/pdf") == "application/pdf"
    assert safe_media_type("text/html; charset=utf-8") == "text/plain; charset=utf-8"
    assert safe_media_type("image/svg+xml") == "text/plain; charset=utf-8"
    assert safe_media_type("nonsense") is None and safe_media_type(None) is None


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, None), ("bytes=0-0", (0, 0)), ("bytes=5-", (5, 99)), ("bytes=-10", (90, 99)), ("bytes=-500", (0, 99)),
        ("bytes=10-5000", (10, 99)), ("bytes=0-1,5-6", None), ("items=0-1", None), ("bytes=-", None),
    ],
)  # fmt: skip
def test_ranges(header: str | None, expected: tuple[int, int] | None) -> None:
    assert parse_range(header, 100) == expected


@pytest.mark.parametrize("header", ["bytes=100-", "bytes=150-200", "bytes=-0", "bytes=9-3"])
def test_unsatisfiable_ranges(header: str) -> None:
    with pytest.raises(InvalidRange):
        parse_range(header, 100)


def test_document_id_is_the_contracts() -> None:
    cid = Cid.parse("bafkreifjjcie6lypi6ny7amxnfftagclbuxndqonfipmb64f2km2devei4")
    subject = "0x" + "ab" * 32
    expected = keccak(abi_encode(["bytes32", "bytes32"], [bytes.fromhex("ab" * 32), keccak(cid.to_bytes())]))
    assert document_id(subject, cid) == "0x" + expected.hex()
    with pytest.raises(ValueError):
        document_id("0x1234", cid)
