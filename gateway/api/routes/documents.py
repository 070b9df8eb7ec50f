"""Documents under /v1/documents: upload and anchor, verified reads, metadata, retention report.

``POST /v1/documents`` (multipart: ``file`` plus ``document_type``, ``object`` or ``shipment_id``,
optional ``confidential``, ``recipients``, ``cid_version``) stores the bytes — sealed in an
envelope when confidential — and submits the ``AnchorDocument`` operation; it answers 202 with
the CID and the submission. ``GET /v1/documents/{cid}`` serves the bytes only after the access,
anchor and content checks of ``gateway.documents.service``. Errors are problem+json.
"""

import datetime as dt
from typing import IO, Any

import anyio.to_thread
from fastapi import APIRouter, Request, Response
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

from gateway.api.deps import AdminDep, PartnerDep, ServicesDep
from gateway.api.routes.ipfs import OptionalPrincipal, ProblemRoute, check_upload_size
from gateway.api.routes.partner import IdempotencyKey, SubmissionPublic
from gateway.documents.anchors import Anchor
from gateway.documents.service import UploadForm
from gateway.documents.service_errors import InvalidUpload
from gateway.documents.sniff import SAFE_HEADERS
from gateway.documents.uploads import ChunkSource, MultipartReader, read_field, spool_part

router = APIRouter(prefix="/v1/documents", tags=["documents"], route_class=ProblemRoute)

_MAX_FIELDS = 16

_UPLOAD_SCHEMA: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file", "document_type"],
                    "properties": {
                        "document_type": {"type": "string", "enum": [
                            "certificate_of_analysis", "bill_of_lading", "transaction_statement", "temperature_log",
                            "invoice", "photo", "recall_notice", "other"]},
                        "object": {"type": "string", "description": "EPC URN, or a JSON object of GS1 keys"},
                        "shipment_id": {"type": "integer"},
                        "confidential": {"type": "boolean", "default": False},
                        "recipients": {"type": "string", "description": "extra reader partner ids, comma-separated"},
                        "cid_version": {"type": "integer", "enum": [0, 1], "default": 1},
                        "file": {"type": "string", "format": "binary", "description": "send it last"},
                    },
                }
            }
        },
    }
}  # fmt: skip


class DocumentUploaded(BaseModel):
    cid: str
    size: int = Field(description="bytes uploaded")
    stored_size: int = Field(description="bytes stored (the envelope, when confidential)")
    confidential: bool
    content_type: str
    recipients: list[int] = Field(description="partners the data key is wrapped for (confidential only)")
    submission: SubmissionPublic
    links: dict[str, str]


class AnchorPublic(BaseModel):
    subject: str
    document_id: str
    partner_id: int
    document_type: str
    block_number: int
    tx_hash: str

    @classmethod
    def of(cls, a: Anchor) -> "AnchorPublic":
        return cls(subject=a.subject, document_id=a.document_id, partner_id=a.partner_id,
                   document_type=a.document_type, block_number=a.block_number, tx_hash=a.tx_hash)  # fmt: skip


class DocumentMetadata(BaseModel):
    cid: str
    stored: bool
    confidential: bool
    size: int | None = Field(description="plaintext bytes (hidden from non-recipients of a confidential document)")
    content_type: str | None
    filename: str | None
    recipients: list[int] | None
    anchors: list[AnchorPublic] = Field(description="DocumentAnchored events of this CID on chain")
    pending: list[dict[str, Any]] = Field(description="anchors submitted through this gateway, not yet on chain")


class MissingPublic(BaseModel):
    cid: str
    reason: str
    detail: str


class RetentionPublic(BaseModel):
    anchored: int
    present: int
    pinned_now: list[str]
    missing: list[MissingPublic]
    checked_at: dt.datetime


async def _read_upload(request: Request, limit: int) -> tuple[dict[str, str], IO[bytes], str | None, str | None]:
    """Text fields and the file (spooled, within ``limit``) of a multipart upload."""
    reader = MultipartReader(request.headers.get("content-type"), request.stream())
    fields: dict[str, str] = {}
    spool: IO[bytes] | None = None
    filename = content_type = None
    try:
        while (part := await reader.next_part()) is not None:
            if part.name == "file" or part.filename is not None:
                if spool is not None:
                    raise InvalidUpload("send exactly one file", field="file")
                spool = await anyio.to_thread.run_sync(spool_part, ChunkSource(reader, limit))
                filename, content_type = part.filename, part.content_type
            else:
                if len(fields) >= _MAX_FIELDS or part.name in fields:
                    raise InvalidUpload(f"unexpected or repeated form field {part.name!r}", field=part.name)
                fields[part.name] = await read_field(reader, part.name)
    except BaseException:
        if spool is not None:
            spool.close()
        raise
    if spool is None:
        raise InvalidUpload("the form field file is required", field="file")
    return fields, spool, filename, content_type


@router.post("", status_code=202, response_model=DocumentUploaded, summary="Upload a document and anchor its CID",
             openapi_extra=_UPLOAD_SCHEMA)  # fmt: skip
async def upload(
    request: Request,
    principal: PartnerDep,
    services: ServicesDep,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> DocumentUploaded:
    documents = services.documents
    check_upload_size(request, documents.max_upload_bytes)
    fields, spool, filename, content_type = await _read_upload(request, documents.max_upload_bytes)
    with spool:
        form = UploadForm.parse(fields, filename=filename, content_type=content_type)
        done = await anyio.to_thread.run_sync(documents.upload, principal, form, spool, idempotency_key)
    response.status_code = 200 if done.submission.replayed else 202
    response.headers["Location"] = f"/v1/submissions/{done.submission.id}"
    cid = str(done.cid)
    return DocumentUploaded(
        cid=cid, size=done.size, stored_size=done.stored_size, confidential=done.confidential,
        content_type=done.content_type, recipients=list(done.recipients),
        submission=SubmissionPublic.of(done.submission),
        links={"document": f"/v1/documents/{cid}", "metadata": f"/v1/documents/{cid}/metadata", "ipfs": f"/ipfs/{cid}"},
    )  # fmt: skip


@router.get("/retention", response_model=RetentionPublic, summary="Anchored CIDs missing from the store (admin)")
def retention(_: AdminDep, services: ServicesDep, deep: bool = False) -> RetentionPublic:
    report = services.documents.retention.ensure_pinned(deep=deep)
    return RetentionPublic(
        anchored=report.anchored, present=report.present, pinned_now=report.pinned_now,
        missing=[MissingPublic(cid=m.cid, reason=m.reason, detail=m.detail) for m in report.missing],
        checked_at=dt.datetime.now(dt.UTC),
    )  # fmt: skip


@router.get("/{cid}", summary="The document's bytes, verified against its CID and its on-chain anchor")
def read(
    cid: str,
    principal: OptionalPrincipal,
    services: ServicesDep,
) -> Response:
    opened = services.documents.open(cid, principal)
    text = str(opened.cid)
    headers = {
        "ETag": f'"{text}"',
        "Cache-Control": "private, no-cache" if opened.confidential else "no-cache",  # re-verified each time
        "Content-Length": str(opened.size),
        "X-Custody-Verified": "content; anchor",
        "X-Custody-Document-Ids": ",".join(a.document_id for a in opened.anchors),
        **SAFE_HEADERS,
    }
    if opened.filename:
        safe = "".join(c for c in opened.filename if c.isprintable() and c not in '"\\')[:200]
        headers["Content-Disposition"] = f'inline; filename="{safe}"'
    return StreamingResponse(opened.body, media_type=opened.content_type, headers=headers)


@router.get("/{cid}/metadata", response_model=DocumentMetadata, summary="Anchors and metadata of a CID")
def metadata(cid: str, principal: OptionalPrincipal, services: ServicesDep) -> DocumentMetadata:
    info = services.documents.info(cid, principal)
    return DocumentMetadata(
        cid=info.cid, stored=info.stored, confidential=info.confidential, size=info.size,
        content_type=info.content_type, filename=info.filename, recipients=info.recipients,
        anchors=[AnchorPublic.of(a) for a in info.anchors], pending=info.pending,
    )  # fmt: skip
