"""The gateway's IPFS face: a Kubo-compatible RPC subset under ``/api/v0`` and a read-only path
gateway ``GET /ipfs/{cid}``, both backed by the configured document store.

Error format, by path (see ``gateway.documents.compat``):

* ``/api/v0/*`` answers like Kubo — ``{"Message", "Code", "Type": "error"}``, HTTP 400 for a
  bad argument and 500 otherwise — because Kubo clients parse exactly that; the stable problem
  code is in the ``X-Custody-Code`` header. Deliberate HTTP-level exceptions: 401/403 (API key),
  413 (upload too large).
* ``/ipfs/{cid}`` (read by browsers and plain HTTP clients) and ``/v1/documents`` use the
  gateway's problem+json with meaningful statuses (422, 404, 502…).

Access: ``add``, ``pin/add``, ``pin/rm``, ``dag/import`` need a partner key (submit scope) or an
admin key; ``repo/gc`` an admin key. Reads are open for public content; a confidential
document (an envelope) is readable only with a recipient's key — as ciphertext here, which
is what its CID names; ``/v1/documents/{cid}`` is where recipients get plaintext.
"""

import functools
import logging
from collections.abc import Callable, Coroutine
from typing import Annotated, Any, BinaryIO, cast

import anyio.to_thread
from fastapi import APIRouter, Depends, Header, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from fastapi.routing import APIRoute

from chain_client.errors import CustodyClientError
from gateway.api.deps import ServicesDep, get_principal
from gateway.api.errors import DOCUMENT_STATUS_BY_CODE, ProblemError, problem_response
from gateway.documents import compat
from gateway.documents.cid import RAW, Cid
from gateway.documents.errors import DocumentStoreError, InvalidRange, TooLarge
from gateway.documents.ranges import parse_range
from gateway.documents.service import DocumentService, Envelope
from gateway.documents.service_errors import (
    AccessDenied,
    AuthenticationRequired,
    DocumentsError,
    InvalidUpload,
    UnsupportedMediaType,
)
from gateway.documents.sniff import SAFE_HEADERS
from gateway.documents.uploads import ChunkSource, MultipartReader, PartFile
from gateway.partner.apikeys import Principal

__all__ = ["STATUS_BY_CODE", "OptionalPrincipal", "ProblemRoute", "router"]

log = logging.getLogger(__name__)

STATUS_BY_CODE = DOCUMENT_STATUS_BY_CODE
IMMUTABLE = "public, max-age=29030400, immutable"
_UPLOAD_SLACK = 64 * 1024  # multipart framing around the file bytes


# -- error rendering, per path family --------------------------------------------------------------


def _problem(exc: DocumentsError | DocumentStoreError) -> JSONResponse:
    extra: dict[str, Any] = {}
    if isinstance(exc, InvalidUpload) and exc.field:
        extra["field"] = exc.field
    pending = getattr(exc, "pending", None)
    if pending:
        extra["pending_submissions"] = pending
    headers = {"WWW-Authenticate": "Bearer"} if isinstance(exc, AuthenticationRequired) else None
    return problem_response(STATUS_BY_CODE.get(exc.code, 500), exc.code, type(exc).__name__, str(exc), headers,
                            **extra)  # fmt: skip


class ProblemRoute(APIRoute):
    """problem+json for the documents' domain errors, with the statuses of ``STATUS_BY_CODE``."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def problem_handler(request: Request) -> Response:
            try:
                return await handler(request)
            except (DocumentsError, DocumentStoreError) as exc:
                return _problem(exc)

        return problem_handler


def _kubo_error(exc: Exception) -> Response | None:
    status, code, message, problem = 500, compat.ERR_NORMAL, str(exc), getattr(exc, "code", None)
    headers: dict[str, str] = {}
    if isinstance(exc, RequestValidationError):
        status, code, problem = 400, compat.ERR_CLIENT, "request.invalid"
        message = "; ".join(f"{'.'.join(str(p) for p in e['loc'][1:])}: {e['msg']}" for e in exc.errors())
    elif isinstance(exc, ProblemError):
        status, message = exc.status, exc.detail or exc.title
        headers.update(exc.headers or {})
    elif isinstance(exc, UnsupportedMediaType | InvalidUpload):
        status, code = 400, compat.ERR_CLIENT
    elif isinstance(exc, AuthenticationRequired):
        status, headers["WWW-Authenticate"] = 401, "Bearer"
    elif isinstance(exc, AccessDenied):
        status = 403
    elif isinstance(exc, TooLarge):
        status = 413
    elif not isinstance(exc, DocumentStoreError | DocumentsError | CustodyClientError):
        return None
    if problem:
        headers[compat.CODE_HEADER] = str(problem)
    return JSONResponse(compat.error_body(message, code), status_code=status, headers=headers)


class KuboRoute(APIRoute):
    """Kubo's error format (module docstring) for everything a ``/api/v0`` handler raises."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def kubo_handler(request: Request) -> Response:
            try:
                return await handler(request)
            except Exception as exc:
                response = _kubo_error(exc)
                if response is None:
                    log.exception("unexpected error in %s", request.url.path)
                    response = JSONResponse(compat.error_body("internal error"), status_code=500)
                return response

        return kubo_handler


# -- who is calling --------------------------------------------------------------------------------


def optional_principal(
    services: ServicesDep, authorization: Annotated[str | None, Header()] = None
) -> Principal | None:
    """The caller when an API key is sent (an invalid one is still 401), else None: anonymous."""
    return get_principal(services, authorization) if authorization else None


def writer(principal: Annotated[Principal, Depends(get_principal)]) -> Principal:
    if (principal.kind == "partner" and principal.has("submit")) or (
        principal.kind == "admin" and principal.has("admin")
    ):
        return principal
    raise ProblemError(403, "auth.forbidden", "Forbidden", "This needs a partner key (submit scope) or an admin key.")


def admin(principal: Annotated[Principal, Depends(get_principal)]) -> Principal:
    if principal.kind == "admin" and principal.has("admin"):
        return principal
    raise ProblemError(403, "auth.forbidden", "Forbidden", "This needs an admin API key.")


OptionalPrincipal = Annotated[Principal | None, Depends(optional_principal)]
WriterDep = Annotated[Principal, Depends(writer)]
GcDep = Annotated[Principal, Depends(admin)]
Arg = Annotated[str, Query(description="a CID, or /ipfs/<CID>")]


def _cid(arg: str) -> Cid:
    text = arg.strip()
    if text.startswith("/ipfs/"):
        text = text[len("/ipfs/") :]
    return Cid.parse(text.rstrip("/"))


def check_upload_size(request: Request, limit: int) -> None:
    """Refuses at once a body whose declared length cannot fit (chunked bodies are counted)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit + _UPLOAD_SLACK:
        raise TooLarge(f"the upload is larger than the {limit}-byte limit", limit=limit)


def _readable(documents: DocumentService, cid: Cid, principal: Principal | None) -> Envelope:
    return documents.check_readable(cid, principal, lenient=True)


def _ndjson(*items: dict[str, Any]) -> Response:
    return Response(compat.ndjson(*items), media_type="application/json", headers={"X-Chunked-Output": "1"})


_rpc = APIRouter(prefix="/api/v0", route_class=KuboRoute)


@_rpc.post("/version", summary="Daemon version (Kubo clients check it)")
def version(services: ServicesDep) -> JSONResponse:
    return JSONResponse(compat.version_body(services.documents.compat_version))


@_rpc.post("/add", summary="Add files (multipart), like `ipfs add`")
async def add(
    request: Request,
    principal: WriterDep,
    services: ServicesDep,
    cid_version: Annotated[int, Query(alias="cid-version", ge=0, le=1)] = 0,
    raw_leaves: Annotated[bool | None, Query(alias="raw-leaves")] = None,
    pin: bool = True,
    only_hash: Annotated[bool, Query(alias="only-hash")] = False,
    chunker: str | None = None,
    hash_name: Annotated[str | None, Query(alias="hash")] = None,
    trickle: bool = False,
    wrap_with_directory: Annotated[bool, Query(alias="wrap-with-directory")] = False,
) -> Response:
    if chunker not in (None, "", "size-262144") or hash_name not in (None, "", "sha2-256") or trickle:
        raise InvalidUpload("only the default chunker (size-262144), hash (sha2-256) and balanced layout are supported")
    if wrap_with_directory:
        raise InvalidUpload("wrap-with-directory is not supported: add files one by one")
    documents = services.documents
    check_upload_size(request, documents.max_upload_bytes)
    reader = MultipartReader(request.headers.get("content-type"), request.stream())
    lines = []
    while (part := await reader.next_part()) is not None:
        if part.content_type == "application/x-directory":
            raise InvalidUpload("directories are not supported: add files one by one")
        source = ChunkSource(reader, documents.max_upload_bytes)
        add_part = functools.partial(
            documents.add_raw, source, cid_version=cid_version, raw_leaves=raw_leaves, pin=pin, only_hash=only_hash
        )
        result = await anyio.to_thread.run_sync(add_part)
        name = (part.filename or "").rsplit("/", 1)[-1] or str(result.cid)
        lines.append(compat.add_line(name, result.cid, result.dag_size))
    if not lines:
        raise InvalidUpload("file argument 'path' is required")
    return _ndjson(*lines)


@_rpc.post("/cat", summary="File bytes, like `ipfs cat`")
def cat(
    arg: Arg,
    principal: OptionalPrincipal,
    services: ServicesDep,
    offset: Annotated[int, Query(ge=0)] = 0,
    length: Annotated[int | None, Query(ge=0)] = None,
) -> StreamingResponse:
    documents = services.documents
    cid = _cid(arg)
    _readable(documents, cid, principal)
    size = documents.store.stat(cid).size
    body = documents.store.cat(cid, offset, length)
    served = max(0, min(size - offset, length if length is not None else size))
    headers = {"X-Stream-Output": "1", "X-Content-Length": str(served), "Content-Length": str(served)}
    return StreamingResponse(body, media_type="text/plain", headers=headers)


@_rpc.post("/block/get", summary="One raw block, like `ipfs block get`")
def block_get(arg: Arg, principal: OptionalPrincipal, services: ServicesDep) -> Response:
    documents = services.documents
    cid = _cid(arg)
    _readable(documents, cid, principal)
    store: Any = documents.store
    return Response(store.get_block(cid), media_type="text/plain", headers={"X-Stream-Output": "1"})


@_rpc.post("/block/stat", summary="A block's size, like `ipfs block stat`")
def block_stat(arg: Arg, principal: OptionalPrincipal, services: ServicesDep) -> JSONResponse:
    documents = services.documents
    cid = _cid(arg)
    _readable(documents, cid, principal)
    store: Any = documents.store
    return JSONResponse({"Key": str(cid), "Size": len(store.get_block(cid))})


@_rpc.post("/files/stat", summary="Size and type of /ipfs/<CID>, like `ipfs files stat`")
def files_stat(arg: Arg, principal: OptionalPrincipal, services: ServicesDep) -> JSONResponse:
    documents = services.documents
    cid = _cid(arg)
    _readable(documents, cid, principal)
    stat = documents.store.stat(cid)
    return JSONResponse({"Hash": str(cid), "Size": stat.size, "CumulativeSize": stat.cumulative_size,
                         "Blocks": stat.blocks, "Type": stat.type})  # fmt: skip


@_rpc.post("/pin/add", summary="Pin recursively, like `ipfs pin add`")
def pin_add(arg: Arg, principal: WriterDep, services: ServicesDep) -> JSONResponse:
    cid = _cid(arg)
    services.documents.store.pin(cid)
    return JSONResponse({"Pins": [str(cid)]})


@_rpc.post("/pin/rm", summary="Unpin, like `ipfs pin rm` (anchored CIDs stay pinned)")
def pin_rm(arg: Arg, principal: WriterDep, services: ServicesDep) -> JSONResponse:
    cid = _cid(arg)
    services.documents.unpin(cid)
    return JSONResponse({"Pins": [str(cid)]})


@_rpc.post("/pin/ls", summary="Pinned roots, like `ipfs pin ls` (pins here are recursive)")
def pin_ls(services: ServicesDep, arg: str | None = None, type: str = "all") -> JSONResponse:
    pins = {str(c) for c in services.documents.store.pins()}
    if arg:
        cid = str(_cid(arg))
        if cid not in pins:
            raise DocumentStoreError(f"path '{arg}' is not pinned")
        pins = {cid}
    if type not in ("all", "recursive"):
        pins = set()
    return JSONResponse({"Keys": {c: {"Type": "recursive"} for c in sorted(pins)}})


@_rpc.post("/dag/export", summary="A DAG as CAR v1, like `ipfs dag export`")
def dag_export(arg: Arg, principal: OptionalPrincipal, services: ServicesDep) -> StreamingResponse:
    documents = services.documents
    cid = _cid(arg)
    _readable(documents, cid, principal)
    return StreamingResponse(documents.export_stream(cid), media_type="application/vnd.ipld.car",
                             headers={"X-Stream-Output": "1"})  # fmt: skip


@_rpc.post("/dag/import", summary="Import CAR files (multipart), like `ipfs dag import`")
async def dag_import(
    request: Request,
    principal: WriterDep,
    services: ServicesDep,
    pin_roots: Annotated[bool, Query(alias="pin-roots")] = True,
    stats: bool = False,
) -> Response:
    documents = services.documents
    check_upload_size(request, documents.max_upload_bytes)
    reader = MultipartReader(request.headers.get("content-type"), request.stream())
    lines: list[dict[str, Any]] = []
    blocks = 0
    while await reader.next_part() is not None:
        source = ChunkSource(reader, documents.max_upload_bytes)
        car = cast(BinaryIO, PartFile(source))
        result = await anyio.to_thread.run_sync(documents.store.import_car, car)
        blocks += result.blocks
        lines += [{"Root": {"Cid": {"/": str(root)}, "PinErrorMsg": ""}} for root in result.roots]
    if stats:
        lines.append({"Stats": {"BlockCount": blocks, "BlockBytesCount": 0}})
    return _ndjson(*lines)


@_rpc.post("/repo/gc", summary="Garbage-collect unpinned blocks (anchored CIDs are kept); admin only")
def repo_gc(principal: GcDep, services: ServicesDep) -> Response:
    removed: list[dict[str, Any]] = []
    services.documents.gc(lambda multihash: removed.append({"Key": {"/": str(Cid(1, RAW, multihash))}}))
    return _ndjson(*removed)


# -- the path gateway ------------------------------------------------------------------------------

_paths = APIRouter(route_class=ProblemRoute)


@_paths.get("/ipfs/{cid}", summary="Content by CID (path gateway, read-only; HEAD too)")
def path_gateway(
    cid: str,
    request: Request,
    principal: OptionalPrincipal,
    services: ServicesDep,
    range_header: Annotated[str | None, Header(alias="Range")] = None,
    if_none_match: Annotated[str | None, Header(alias="If-None-Match")] = None,
) -> Response:
    documents = services.documents
    parsed = Cid.parse(cid)
    envelope = documents.check_readable(parsed, principal)
    etag = f'"{parsed}"'
    headers = {
        "ETag": etag,
        # access-controlled content must not sit in shared caches
        "Cache-Control": IMMUTABLE.replace("public", "private") if envelope.confidential else IMMUTABLE,
        "Accept-Ranges": "bytes",
        "X-Ipfs-Path": f"/ipfs/{parsed}",
        **SAFE_HEADERS,
    }
    if if_none_match and etag in [t.strip().removeprefix("W/") for t in if_none_match.split(",")]:
        return Response(status_code=304, headers=headers)
    size = documents.store.stat(parsed).size
    media_type = documents.media_type(parsed, envelope)
    try:
        wanted = parse_range(range_header, size)
    except InvalidRange as exc:
        return problem_response(416, exc.code, "Range Not Satisfiable", str(exc),
                                headers={"Content-Range": f"bytes */{size}"})  # fmt: skip
    status, offset, length = 200, 0, size
    if wanted is not None:
        status, offset, length = 206, wanted[0], wanted[1] - wanted[0] + 1
        headers["Content-Range"] = f"bytes {wanted[0]}-{wanted[1]}/{size}"
    headers["Content-Length"] = str(length)
    if request.method == "HEAD":
        return Response(status_code=status, headers=headers, media_type=media_type)
    body = documents.store.cat(parsed, offset, length)
    return StreamingResponse(body, status_code=status, headers=headers, media_type=media_type)


_paths.add_api_route("/ipfs/{cid}", path_gateway, methods=["HEAD"], name="path_gateway_head", include_in_schema=False)

router = APIRouter(tags=["ipfs"])
router.include_router(_rpc)
router.include_router(_paths)
