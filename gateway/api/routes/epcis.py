"""GS1 EPCIS 2.0 capture under /v1/epcis, after the EPCIS 2.0 REST binding's ``/capture``.

``POST /v1/epcis/capture`` takes an EPCISDocument (``application/json`` or
``application/ld+json``) and answers 202 with the capture job and ``Location:
/v1/epcis/capture/{captureID}``; ``GET`` there reads the job. Deviations from the binding:
validation problems are 422 (the binding says 400 ``ValidationException``), carrying the stable
code, the JSON pointer and the event, as every problem of this gateway does; and
``GS1-Capture-Error-Behaviour`` accepts only ``rollback`` (see :mod:`gateway.epcis.capture`).
"""

# No `from __future__ import annotations`: FastAPI resolves the handlers' annotations at runtime.

import asyncio
import datetime as dt
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Request, Response
from pydantic import BaseModel, Field

from gateway.api.deps import PartnerDep, ReaderDep, ServicesDep
from gateway.api.errors import ProblemError
from gateway.api.routes.partner import SubmissionPublic
from gateway.core.services import Services
from gateway.epcis.capture import (
    CAPTURE_LIMIT,
    CBV_VERSION,
    EPCIS_VERSION,
    FILE_SIZE_LIMIT,
    MEDIA_TYPES,
    CaptureJob,
    CaptureService,
    check_headers,
    parse_document,
)
from gateway.epcis.errors import CaptureRejected, CaptureTooLarge, EpcisError
from gateway.epcis.locations import LedgerLocations

router = APIRouter(prefix="/v1/epcis", tags=["epcis"])

IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key", max_length=200)]
EpcisVersion = Annotated[str | None, Header(alias="GS1-EPCIS-Version", max_length=20)]
ErrorBehaviour = Annotated[str | None, Header(alias="GS1-Capture-Error-Behaviour", max_length=20)]

_VERSION_HEADERS = {"GS1-EPCIS-Version": EPCIS_VERSION, "GS1-CBV-Version": CBV_VERSION}
_LIMIT_HEADERS = {
    "GS1-EPCIS-Capture-Limit": str(CAPTURE_LIMIT),
    "GS1-EPCIS-Capture-File-Size-Limit": str(FILE_SIZE_LIMIT),
}


class CaptureErrorPublic(BaseModel):
    """A submission of the job that failed on chain, as an RFC 9457 problem."""

    type: str
    title: str
    status: int
    code: str
    detail: str | None
    submission_id: str
    event_index: int | None
    event_id: str | None


class CaptureJobPublic(BaseModel):
    """The capture job (EPCIS 2.0 REST binding ``CaptureJob``) with the submissions it created."""

    captureID: str
    createdAt: dt.datetime
    finishedAt: dt.datetime | None
    running: bool = Field(description="some submission is still pending or submitted")
    success: bool = Field(description="no submission failed")
    captureErrorBehaviour: Literal["rollback"] = "rollback"
    errors: list[CaptureErrorPublic]
    submissions: list[SubmissionPublic]

    @classmethod
    def of(cls, job: CaptureJob) -> "CaptureJobPublic":
        errors = [
            CaptureErrorPublic(
                type=f"urn:custody:problem:{(s.submission.error or {}).get('code', 'tx.failed')}",
                title="Submission failed",
                status=409,
                code=(s.submission.error or {}).get("code", "tx.failed"),
                detail=(s.submission.error or {}).get("detail"),
                submission_id=s.submission.id,
                event_index=s.event_index,
                event_id=s.event_id,
            )
            for s in job.failed
        ]
        submissions = [SubmissionPublic.of(s.submission) for s in job.submissions]
        return cls(
            captureID=job.capture_id, createdAt=job.created_at, finishedAt=job.finished_at, running=job.running,
            success=job.success, errors=errors, submissions=submissions,
        )  # fmt: skip


def _problem(exc: EpcisError) -> ProblemError:
    """The problem+json of an EPCIS error: the first problem in front, all of them in ``errors``."""
    if isinstance(exc, CaptureRejected):
        first = exc.first
        return ProblemError(
            422, first.code, "EPCIS capture rejected", first.detail, pointer=first.pointer,
            event_index=first.event_index, event_id=first.event_id, errors=[p.as_dict() for p in exc.problems],
        )  # fmt: skip
    headers = _LIMIT_HEADERS if isinstance(exc, CaptureTooLarge) else None
    return ProblemError(exc.status, exc.code, "EPCIS capture refused", str(exc), headers=headers)


def _service(services: Services) -> CaptureService:
    return CaptureService(services.sessions, services.outbox, lambda: LedgerLocations(services.ledger.contract))


_REQUEST_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": "An EPCISDocument (GS1 EPCIS 2.0 JSON/JSON-LD)",
        "content": {t: {"schema": {"type": "object"}} for t in MEDIA_TYPES},
    }
}


@router.options("/capture", status_code=204, summary="Capture interface settings (EPCIS discovery)")
def capture_options(response: Response) -> None:
    response.headers.update(
        {**_VERSION_HEADERS, **_LIMIT_HEADERS, "GS1-Capture-Error-Behaviour": "rollback", "Allow": "OPTIONS, POST"}
    )


@router.post(
    "/capture",
    status_code=202,
    response_model=CaptureJobPublic,
    summary="Capture an EPCIS 2.0 document",
    openapi_extra=_REQUEST_BODY,
)
async def capture(
    request: Request,
    principal: PartnerDep,
    services: ServicesDep,
    response: Response,
    idempotency_key: IdempotencyKey = None,
    epcis_version: EpcisVersion = None,
    error_behaviour: ErrorBehaviour = None,
) -> CaptureJobPublic:
    try:
        check_headers(request.headers.get("content-type"), epcis_version, error_behaviour)
        document = parse_document(await request.body())
        # schema, ledger reads and database writes block: keep them off the event loop
        job = await asyncio.to_thread(_service(services).capture, principal, document, idempotency_key)
    except EpcisError as exc:
        raise _problem(exc) from None
    response.status_code = 200 if job.replayed else 202
    response.headers.update({**_VERSION_HEADERS, "Location": f"/v1/epcis/capture/{job.capture_id}"})
    if job.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return CaptureJobPublic.of(job)


@router.get("/capture/{capture_id}", response_model=CaptureJobPublic, summary="A capture job and its submissions")
def get_capture(capture_id: str, principal: ReaderDep, services: ServicesDep, response: Response) -> CaptureJobPublic:
    response.headers.update(_VERSION_HEADERS)
    return CaptureJobPublic.of(_service(services).job(principal, capture_id))
