"""One mapping from domain exceptions to RFC 9457 ``application/problem+json`` responses.

Routes raise domain exceptions; they never build HTTPExceptions by hand. Every problem carries
a stable ``code`` that clients can switch on.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from chain_client import errors as ce
from chain_client.gs1 import GS1Error
from gateway.audit.errors import AuditError
from gateway.documents.errors import DocumentStoreError
from gateway.documents.service_errors import DocumentsError
from gateway.partner.apikeys import ApiKeyError
from gateway.partner.keyring import KeyringError
from gateway.partner.operations import InvalidInput
from gateway.partner.outbox import IdempotencyConflict, NotYourSubmission, SignedCallInvalid

__all__ = ["ProblemError", "install_error_handlers", "problem_response"]

PROBLEM_JSON = "application/problem+json"


class ProblemError(Exception):
    """A gateway-level problem with an HTTP status and a stable code."""

    def __init__(
        self,
        status: int,
        code: str,
        title: str,
        detail: str | None = None,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail or title)
        self.status = status
        self.code = code
        self.title = title
        self.detail = detail
        self.headers = headers
        self.extra = extra


def problem_response(
    status: int, code: str, title: str, detail: str | None = None, headers: dict[str, str] | None = None, **extra: Any
) -> JSONResponse:
    body: dict[str, Any] = {"type": f"urn:custody:problem:{code}", "title": title, "status": status, "code": code}
    if detail:
        body["detail"] = detail
    body.update(extra)
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


# Domain exceptions of the gateway's own modules (each carries a stable `code`).
_DOMAIN: dict[type[Exception], tuple[int, str]] = {
    IdempotencyConflict: (409, "Idempotency-Key reused"),
    NotYourSubmission: (403, "Forbidden"),
    SignedCallInvalid: (422, "Invalid signed call"),
    KeyringError: (409, "No custodial key"),
    ApiKeyError: (401, "Invalid credentials"),
}
# Statuses of the document store's and documents service's error codes (one table for the
# problem+json handlers here and the Kubo-format errors of /api/v0).
DOCUMENT_STATUS_BY_CODE = {
    "ipfs.invalid_cid": 422, "ipfs.not_found": 404, "ipfs.integrity": 502, "ipfs.too_large": 413,
    "ipfs.unsupported": 422, "ipfs.invalid_range": 416, "ipfs.not_pinned": 404, "ipfs.malformed": 422,
    "ipfs.not_a_file": 422, "ipfs.invalid_car": 422, "ipfs.busy": 503, "ipfs.storage": 507,
    "ipfs.retained": 409, "ipfs.remote": 502,
    "documents.unsupported_media_type": 415, "documents.invalid_upload": 422, "documents.auth_required": 401,
    "documents.forbidden": 403, "documents.not_anchored": 409, "documents.decryption_failed": 502,
    "documents.no_key": 409,
}  # fmt: skip


def _status_of(exc: ce.CustodyClientError) -> int:
    if isinstance(exc, ce.NodeError | ce.NotDeployed):
        return 503
    if isinstance(exc, ce.TransactionTimeout):
        return 504
    if isinstance(exc, ce.ContractRevert):
        return 409
    return 500


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ProblemError)
    async def _problem(_: Request, exc: ProblemError) -> JSONResponse:
        return problem_response(exc.status, exc.code, exc.title, exc.detail, exc.headers, **exc.extra)

    @app.exception_handler(GS1Error)
    async def _gs1(_: Request, exc: GS1Error) -> JSONResponse:
        return problem_response(422, exc.code, "Invalid GS1 data", exc.message, field=exc.field)

    @app.exception_handler(AuditError)
    async def _audit(_: Request, exc: AuditError) -> JSONResponse:
        return problem_response(exc.status, exc.code, exc.title, exc.message, **exc.extra)

    @app.exception_handler(InvalidInput)
    async def _invalid_input(_: Request, exc: InvalidInput) -> JSONResponse:
        return problem_response(422, exc.code, "Invalid request", exc.message, field=exc.field)

    @app.exception_handler(LookupError)
    async def _lookup(_: Request, exc: LookupError) -> JSONResponse:
        return problem_response(404, "resource.not_found", "Not found", str(exc))

    @app.exception_handler(DocumentStoreError)
    @app.exception_handler(DocumentsError)
    async def _documents(_: Request, exc: DocumentStoreError | DocumentsError) -> JSONResponse:
        code = getattr(exc, "code", "ipfs.error")
        return problem_response(DOCUMENT_STATUS_BY_CODE.get(code, 500), code, type(exc).__name__, str(exc))

    for exc_type, (status, title) in _DOMAIN.items():
        app.add_exception_handler(exc_type, _domain_handler(status, title))

    @app.exception_handler(ce.CustodyClientError)
    async def _client_error(_: Request, exc: ce.CustodyClientError) -> JSONResponse:
        extra: dict[str, Any] = {}
        if isinstance(exc, ce.ContractRevert):
            extra = {"error": exc.name, "arguments": exc.arguments}
        return problem_response(_status_of(exc), exc.code, type(exc).__name__, str(exc), **extra)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"field": ".".join(str(p) for p in e["loc"]), "message": e["msg"], "type": e["type"]} for e in exc.errors()
        ]
        return problem_response(
            422, "request.invalid", "Invalid request", "The request does not match the schema.", errors=errors
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "http.not_found", 405: "http.method_not_allowed"}.get(exc.status_code, f"http.{exc.status_code}")
        return problem_response(exc.status_code, code, str(exc.detail))


def _domain_handler(status: int, title: str) -> Any:
    async def handler(_: Request, exc: Exception) -> JSONResponse:
        return problem_response(status, getattr(exc, "code", "error"), title, str(exc))

    return handler
