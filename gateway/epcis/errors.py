"""Why an EPCIS capture is refused, with a stable code and where in the document.

Exception tree::

    EpcisError (ValueError)
    ├── UnsupportedMediaType      415  epcis.unsupported_media_type
    ├── UnsupportedVersion        406  epcis.unsupported_version
    ├── MalformedDocument         400  epcis.malformed
    ├── CaptureTooLarge           413  epcis.too_large
    ├── UnsupportedErrorBehaviour 422  epcis.unsupported_error_behaviour
    └── CaptureRejected           422  one or more EventProblems (epcis.schema, epcis.invalid_epc, …)

A capture is all or nothing at validation time, so the mapper collects every problem of the
document before anything is stored; :class:`CaptureRejected` carries them all, the first one
being the headline. The HTTP layer (``gateway/api/routes/epcis.py``) turns these into
problem+json; this module has no web import so the mapping can be tested without the app.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, TypeAlias

__all__ = [
    "CaptureRejected",
    "CaptureTooLarge",
    "EpcisError",
    "EventProblem",
    "MalformedDocument",
    "ProblemCode",
    "UnsupportedErrorBehaviour",
    "UnsupportedMediaType",
    "UnsupportedVersion",
    "pointer",
]

ProblemCode: TypeAlias = Literal[
    "epcis.schema",  # the document fails the GS1 EPCIS 2.0 JSON schema
    "epcis.unsupported_document",  # neither EPCISDocument nor EPCISQueryDocument
    "epcis.unsupported_event",  # AssociationEvent, TransactionEvent, extension events
    "epcis.unsupported_bizstep",  # a bizStep the ledger has no operation for
    "epcis.unsupported_action",  # a known bizStep/event type with an action that does not fit
    "epcis.unsupported_field",  # a field whose meaning the ledger cannot record (errorDeclaration, part of a lot…)
    "epcis.missing_field",  # a field the mapping needs (destination, parentID, quantity…)
    "epcis.invalid_epc",  # not an SGTIN/SSCC/LGTIN, or a bad GS1 key
    "epcis.invalid_quantity",  # not a positive whole number
    "epcis.invalid_value",  # a bad ILMD date, a lot that contradicts the LGTIN, a reason too long…
    "epcis.unknown_location",  # a GLN no partner registered
    "epcis.unknown_party",  # a party GLN no partner registered
    "epcis.location_mismatch",  # a GLN registered to a partner other than the one the event needs
    "epcis.invalid_source",  # the source party is not the capturing partner
    "epcis.invalid_destination",  # destinations that disagree, repeat, or name the sender
]


def pointer(*parts: str | int) -> str:
    """A JSON pointer (RFC 6901) from path parts: ``pointer("a", 0, "b/c") == "/a/0/b~1c"``."""
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)


@dataclass(frozen=True)
class EventProblem:
    """One reason a document cannot be captured.

    ``pointer`` is the JSON pointer of the offending value; ``event_index`` and ``event_id`` name
    the event it belongs to (None for document-level problems).
    """

    code: ProblemCode
    pointer: str
    detail: str
    event_index: int | None = None
    event_id: str | None = None

    def as_dict(self) -> dict[str, object]:
        return {
            "code": self.code,
            "pointer": self.pointer,
            "detail": self.detail,
            "event_index": self.event_index,
            "event_id": self.event_id,
        }


class EpcisError(ValueError):
    """Root of the EPCIS capture errors; ``status`` and ``code`` say how HTTP reports it."""

    status = 400
    code = "epcis.error"


class UnsupportedMediaType(EpcisError):
    status = 415
    code = "epcis.unsupported_media_type"


class UnsupportedVersion(EpcisError):
    status = 406
    code = "epcis.unsupported_version"


class MalformedDocument(EpcisError):
    status = 400
    code = "epcis.malformed"


class CaptureTooLarge(EpcisError):
    status = 413
    code = "epcis.too_large"


class UnsupportedErrorBehaviour(EpcisError):
    """``GS1-Capture-Error-Behaviour`` other than ``rollback``: validation is all or nothing here."""

    status = 422
    code = "epcis.unsupported_error_behaviour"


class CaptureRejected(EpcisError):
    """Validation failed: nothing of the document was stored."""

    status = 422

    def __init__(self, problems: list[EventProblem]) -> None:
        if not problems:
            raise ValueError("a rejected capture has at least one problem")
        self.problems = problems
        super().__init__(problems[0].detail)

    @property
    def code(self) -> str:  # type: ignore[override]
        return self.problems[0].code

    @property
    def first(self) -> EventProblem:
        return self.problems[0]
