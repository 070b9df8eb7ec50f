"""The capture job: an EPCIS document validated whole, then stored as outbox submissions.

Following the EPCIS 2.0 REST binding's ``/capture``: a capture answers at once with a capture
id, and the job's state is read later. Here the job *is* its submissions: each operation of the
document is stored through :meth:`Outbox.submit` under the idempotency key
``epcis:{captureID}:{event index}:{n}``, so the job needs no table of its own and its state is
derived from theirs:

* ``running``: some submission is still ``pending`` or ``submitted``;
* ``success``: no submission ``failed``; ``errors`` lists the failed ones as problems;
* ``captureErrorBehaviour`` is ``rollback``, and holds for *validation*: a document with any bad
  event stores nothing. The ledger cannot roll back, though: if one submission fails on chain
  (e.g. the object was never registered), those that were mined stay recorded.

With an ``Idempotency-Key`` the capture id is derived from the partner and the key, so the same
document sent again maps to the same submissions (replayed, 200), and a different document under
the same key conflicts (409), as on the partner endpoints. Without one every capture is new.

Submissions are stored in event order, and the worker relays each partner's submissions in
order, so a document that commissions items and then ships them works as one capture.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from gateway.epcis.document import check_type, event_list
from gateway.epcis.errors import (
    CaptureTooLarge,
    MalformedDocument,
    UnsupportedErrorBehaviour,
    UnsupportedMediaType,
    UnsupportedVersion,
)
from gateway.epcis.locations import LocationOwners
from gateway.epcis.mapping import MappedEvent, map_events
from gateway.epcis.operations import EventContext, with_context
from gateway.epcis.schema import check_document
from gateway.partner.apikeys import Principal
from gateway.partner.outbox import IdempotencyConflict, Outbox, SubmissionView, view
from gateway.partner.tables import SubmissionRow

__all__ = [
    "CAPTURE_LIMIT",
    "CBV_VERSION",
    "EPCIS_VERSION",
    "FILE_SIZE_LIMIT",
    "MEDIA_TYPES",
    "CaptureJob",
    "CaptureService",
    "JobSubmission",
    "check_headers",
    "parse_document",
]

EPCIS_VERSION: Final = "2.0.0"
CBV_VERSION: Final = "2.0.0"
MEDIA_TYPES: Final = ("application/json", "application/ld+json")
CAPTURE_LIMIT: Final = 1000  # events per capture (GS1-EPCIS-Capture-Limit)
FILE_SIZE_LIMIT: Final = 8 * 1024 * 1024  # bytes per capture (GS1-EPCIS-Capture-File-Size-Limit)
_KEY_PREFIX: Final = "epcis:"
_CAPTURE_NAMESPACE: Final = uuid.UUID("6f1c8f2e-5d0b-4f55-9c1e-2b7f0d3a9e41")  # uuid5 namespace of capture ids


def check_headers(content_type: str | None, epcis_version: str | None, error_behaviour: str | None) -> None:
    """The request headers the binding defines for ``POST /capture``."""
    media_type = (content_type or "").split(";", 1)[0].strip().lower()
    if media_type not in MEDIA_TYPES:
        raise UnsupportedMediaType(f"Send the EPCIS document as {' or '.join(MEDIA_TYPES)}, not {media_type!r}.")
    if epcis_version is not None and epcis_version.strip().split(".", 1)[0] != "2":
        raise UnsupportedVersion(f"This capture interface speaks EPCIS {EPCIS_VERSION}, not {epcis_version}.")
    if error_behaviour is not None and error_behaviour.strip() != "rollback":
        raise UnsupportedErrorBehaviour(
            f"GS1-Capture-Error-Behaviour {error_behaviour!r} is not supported: a capture is validated whole "
            "(rollback); send the valid events on their own to capture them"
        )


def parse_document(body: bytes) -> dict[str, Any]:
    """The JSON object of a request body, within the file size limit."""
    if len(body) > FILE_SIZE_LIMIT:
        raise CaptureTooLarge(f"The document has {len(body)} bytes; a capture takes at most {FILE_SIZE_LIMIT}.")
    try:
        document = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise MalformedDocument(f"The body is not JSON: {exc}") from None
    if not isinstance(document, dict):
        raise MalformedDocument("The body is not a JSON object (an EPCISDocument).")
    return document


@dataclass(frozen=True)
class JobSubmission:
    """A submission of a capture job and the event it records."""

    submission: SubmissionView
    event_index: int | None
    event_id: str | None


@dataclass(frozen=True)
class CaptureJob:
    capture_id: str
    submissions: list[JobSubmission]
    replayed: bool = False

    @property
    def running(self) -> bool:
        return any(s.submission.status in ("pending", "submitted") for s in self.submissions)

    @property
    def success(self) -> bool:
        return not any(s.submission.status == "failed" for s in self.submissions)

    @property
    def created_at(self) -> dt.datetime:
        return min(s.submission.created_at for s in self.submissions)

    @property
    def finished_at(self) -> dt.datetime | None:
        return None if self.running else max(s.submission.updated_at for s in self.submissions)

    @property
    def failed(self) -> list[JobSubmission]:
        return [s for s in self.submissions if s.submission.status == "failed"]


class CaptureService:
    """Validates, maps and stores captures; reads capture jobs back."""

    def __init__(
        self, sessions: sessionmaker[Session], outbox: Outbox, locations: Callable[[], LocationOwners]
    ) -> None:
        self._sessions = sessions
        self._outbox = outbox
        self._locations = locations

    def validate(self, principal: Principal, document: dict[str, Any]) -> list[MappedEvent]:
        """Every event's operations, or an :class:`~gateway.epcis.errors.EpcisError`; stores nothing."""
        assert principal.partner_id is not None
        check_type(document)
        check_document(document)
        events = event_list(document)
        if len(events.events) > CAPTURE_LIMIT:
            raise CaptureTooLarge(
                f"The document has {len(events.events)} events; a capture takes at most {CAPTURE_LIMIT}."
            )
        return map_events(events, principal.partner_id, self._locations())

    def capture(self, principal: Principal, document: dict[str, Any], idempotency_key: str | None = None) -> CaptureJob:
        """Validates the whole document, then stores its operations in order."""
        assert principal.partner_id is not None
        mapped = self.validate(principal, document)
        if idempotency_key is None:
            capture_id = str(uuid.uuid4())
        else:
            capture_id = str(uuid.uuid5(_CAPTURE_NAMESPACE, f"{principal.partner_id}\n{idempotency_key}"))
        planned = [(event, n, op) for event in mapped for n, op in enumerate(event.operations)]
        if idempotency_key is not None and self._count(principal.partner_id, capture_id) > len(planned):
            raise IdempotencyConflict(f"Idempotency-Key {idempotency_key!r} was used for a different capture.")
        stored: list[JobSubmission] = []
        for event, n, op in planned:
            event_id = event.event_id or f"urn:uuid:{uuid.uuid5(uuid.UUID(capture_id), str(event.index))}"
            context = EventContext(capture_id=capture_id, event_index=event.index, event_id=event_id, event=event.event)
            key = f"{_KEY_PREFIX}{capture_id}:{event.index}:{n}"
            submission = self._outbox.submit(principal, with_context(op, context), key)
            stored.append(JobSubmission(submission, event.index, event_id))
        return CaptureJob(capture_id, stored, replayed=all(s.submission.replayed for s in stored))

    def job(self, principal: Principal, capture_id: str) -> CaptureJob:
        """A capture job by id (a partner sees only its own)."""
        try:
            capture_id = str(uuid.UUID(capture_id))
        except ValueError:
            raise LookupError(f"No capture job {capture_id}.") from None
        with self._sessions.begin() as session:
            query = (
                select(SubmissionRow)
                .where(SubmissionRow.idempotency_key.startswith(f"{_KEY_PREFIX}{capture_id}:", autoescape=True))
                .order_by(SubmissionRow.seq)
            )
            if principal.kind == "partner":
                query = query.where(SubmissionRow.partner_id == principal.partner_id)
            submissions = [_job_submission(row) for row in session.scalars(query)]
        if not submissions:
            raise LookupError(f"No capture job {capture_id}.")
        return CaptureJob(capture_id, submissions)

    def _count(self, partner_id: int, capture_id: str) -> int:
        with self._sessions.begin() as session:
            query = select(SubmissionRow.id).where(
                SubmissionRow.partner_id == partner_id,
                SubmissionRow.idempotency_key.startswith(f"{_KEY_PREFIX}{capture_id}:", autoescape=True),
            )
            return len(session.scalars(query).all())


def _job_submission(row: SubmissionRow) -> JobSubmission:
    context = row.request.get("epcis") or {}
    index = context.get("event_index")
    event_id = context.get("event_id")
    return JobSubmission(
        view(row), index if isinstance(index, int) else None, event_id if isinstance(event_id, str) else None
    )
