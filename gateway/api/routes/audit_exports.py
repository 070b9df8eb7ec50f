"""Auditor exports under /v1/audit: EPCIS 2.0 events, FSMA 204 spreadsheet, DSCSA transaction
history, KPIs, the integrity audit and the live feed. Read-only, for auditor (and admin) keys.

The work happens in ``gateway.audit`` (``exports``, ``fsma``, ``dscsa``, ``kpis``,
``integrity``, ``feed``); these handlers parse, authorise, time and format. Audit errors
(:class:`gateway.audit.errors.AuditError`) become problem+json here, with their stable codes.
"""

# No `from __future__ import annotations`: FastAPI resolves the handlers' annotations at runtime.

import asyncio
import datetime as dt
import json
import threading
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Header, Query, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse
from fastapi.routing import APIRoute

from gateway.api.deps import AuditorDep, ServicesDep
from gateway.api.errors import problem_response
from gateway.audit import dscsa, exports, feed, fsma, integrity, kpis
from gateway.audit.errors import AuditError, AuditInvalidQuery
from gateway.core.services import Services

__all__ = ["record_duration", "response_times", "router"]

_CSV = "text/csv; charset=utf-8"
_XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
_JSON_LD = "application/ld+json"
_STATE_LOCK = threading.Lock()


class AuditRoute(APIRoute):
    """problem+json for the audit modules' errors (status and code from the exception)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def problem_handler(request: Request) -> Response:
            try:
                return await handler(request)
            except AuditError as exc:
                extra = dict(exc.extra)
                if isinstance(exc, AuditInvalidQuery) and exc.code.startswith("epcis.query_parameter"):
                    extra["parameter"] = exc.field  # the EPCIS QueryParameterException names the parameter
                return problem_response(exc.status, exc.code, exc.title, exc.message, **extra)

        return problem_handler


router = APIRouter(prefix="/v1/audit", tags=["audit"], route_class=AuditRoute)


# -- response times (the traceability response time KPI) --------------------------------------


def response_times(app: FastAPI) -> kpis.ResponseTimes:
    """The app's rolling window of audit trace request durations (in memory, per process)."""
    with _STATE_LOCK:
        times: kpis.ResponseTimes | None = getattr(app.state, "audit_response_times", None)
        if times is None:
            times = kpis.ResponseTimes()
            app.state.audit_response_times = times
        return times


def record_duration(kind: str) -> Any:
    """A dependency that records how long the request's handler took under ``kind``: add
    ``Depends(record_duration("trace"))`` to a trace or recall-scope route."""

    def dependency(request: Request) -> Iterator[None]:
        with response_times(request.app).measure(kind):
            yield

    return Depends(dependency)


# -- helpers ----------------------------------------------------------------------------------


def _window(since: dt.datetime | None, until: dt.datetime | None) -> tuple[dt.datetime | None, dt.datetime | None]:
    def utc(value: dt.datetime | None) -> dt.datetime | None:
        return None if value is None else (value if value.tzinfo else value.replace(tzinfo=dt.UTC)).astimezone(dt.UTC)

    since, until = utc(since), utc(until)
    if since is not None and until is not None and until <= since:
        raise AuditInvalidQuery("audit.invalid_window", "until", "until is not after since")
    return since, until


def _format(requested: str | None, accept: str | None, allowed: tuple[str, ...]) -> str:
    if requested is not None:
        if requested not in allowed:
            raise AuditInvalidQuery("audit.invalid_format", "format", f"format is one of {', '.join(allowed)}")
        return requested
    accept = (accept or "").lower()
    for name, media in (("xlsx", _XLSX), ("csv", "text/csv"), ("json", "application/json")):
        if name in allowed and media in accept:
            return name
    return allowed[0]


def _attachment(content: str | bytes, media_type: str, filename: str) -> Response:
    return Response(content, media_type=media_type,
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})  # fmt: skip


Since = Annotated[dt.datetime | None, Query(description="start of the period (ISO 8601; naive is UTC)")]
Until = Annotated[dt.datetime | None, Query(description="end of the period, exclusive (default: now)")]
Format = Annotated[str | None, Query(alias="format", description="csv, xlsx or json (default from Accept)")]
Accept = Annotated[str | None, Header()]


# -- EPCIS ------------------------------------------------------------------------------------


@router.get(
    "/epcis/events",
    summary="Ledger events as an EPCIS 2.0 EPCISQueryDocument (SimpleEventQuery parameters)",
    responses={200: {"content": {_JSON_LD: {}}}},
)
def epcis_events(request: Request, _: AuditorDep, services: ServicesDep) -> Response:
    params: dict[str, str] = {}
    for name, value in request.query_params.multi_items():
        params[name] = f"{params[name]},{value}" if name in params else value
    query = exports.EventQuery.parse(params)
    with response_times(request.app).measure("epcis_query"), services.sessions() as session:
        page = exports.export_events(session, query)
    # Not validated per request: the schema check costs ~20 ms an event (jsonschema); the tests
    # validate every document the mapping produces against the EPCIS 2.0 schema instead.
    document = exports.query_document(page.events)
    headers = dict(exports.VERSION_HEADERS)
    if page.next_token is not None:
        nxt = request.url.include_query_params(nextPageToken=page.next_token)
        headers["Link"] = f'<{nxt}>; rel="next"'
        headers["GS1-Next-Page-Token"] = page.next_token
    media = "application/json" if "application/json" in (request.headers.get("accept") or "") else _JSON_LD
    return JSONResponse(document, media_type=media, headers=headers)


# -- FSMA 204 ---------------------------------------------------------------------------------


@router.get("/fsma204", summary="FSMA 204 electronic sortable spreadsheet of a traceability lot (CSV, XLSX)")
def fsma204(
    request: Request,
    _: AuditorDep,
    services: ServicesDep,
    tlc: Annotated[str, Query(description="traceability lot code: LGTIN URN, Digital Link or (01)…(10)…")],
    since: Since = None,
    until: Until = None,
    fmt: Format = None,
    accept: Accept = None,
) -> Response:
    kind = _format(fmt, accept, ("csv", "xlsx", "json"))
    lot = fsma.parse_tlc(tlc)
    start, end = _window(since, until)
    with response_times(request.app).measure("fsma204"), services.sessions() as session:
        rows = fsma.fsma_rows(session, lot, start, end)
    name = f"fsma204-{lot.gtin}-{lot.lot}".replace('"', "")
    if kind == "json":
        columns = [{"key": c.key, "header": c.header, "description": c.description} for c in fsma.COLUMNS]
        return JSONResponse({"traceability_lot_code": lot.code, "columns": columns, "rows": rows})
    if kind == "xlsx":
        return _attachment(fsma.to_xlsx("FSMA 204", fsma.HEADERS, fsma.KEYS, rows), _XLSX, f"{name}.xlsx")
    return _attachment(fsma.to_csv(fsma.HEADERS, fsma.KEYS, rows), _CSV, f"{name}.csv")


# -- DSCSA ------------------------------------------------------------------------------------


@router.get("/dscsa/transaction-history", summary="DSCSA-style transaction history of a product (JSON, CSV)")
def dscsa_history(
    request: Request,
    _: AuditorDep,
    services: ServicesDep,
    gtin: str | None = None,
    lot: str | None = None,
    serial: str | None = None,
    fmt: Format = None,
    accept: Accept = None,
) -> Response:
    kind = _format(fmt, accept, ("json", "csv"))
    key = dscsa.parse_product(gtin, lot, serial)
    with response_times(request.app).measure("dscsa"), services.sessions() as session:
        history = dscsa.transaction_history(session, key)
    if kind == "csv":
        headers, keys = [h for _, h in dscsa.CSV_COLUMNS], [k for k, _ in dscsa.CSV_COLUMNS]
        name = f"dscsa-{key.gtin}-{key.lot or key.serial}".replace('"', "")
        return _attachment(fsma.to_csv(headers, keys, dscsa.csv_rows(history)), _CSV, f"{name}.csv")
    return JSONResponse(history)


# -- KPIs -------------------------------------------------------------------------------------

_KPI_COLUMNS = ("name", "value", "unit", "numerator", "denominator", "definition")


@router.get("/kpis", summary="Traceability KPIs over a period, with numerators and denominators (JSON, CSV)")
def audit_kpis(
    request: Request,
    _: AuditorDep,
    services: ServicesDep,
    since: Since = None,
    until: Until = None,
    visibility_days: Annotated[float, Query(gt=0, le=3650)] = 30,
    fmt: Format = None,
    accept: Accept = None,
) -> Response:
    kind = _format(fmt, accept, ("json", "csv"))
    start, end = _window(since, until)
    end = end or dt.datetime.now(dt.UTC)
    if start is not None and end <= start:
        raise AuditInvalidQuery("audit.invalid_window", "since", "since is not before now")
    with services.sessions() as session:
        found = kpis.compute_kpis(session, response_times(request.app), start, end, visibility_days)
    if kind == "csv":
        rows = [k.as_dict() for k in found]
        return _attachment(fsma.to_csv(_KPI_COLUMNS, _KPI_COLUMNS, rows), _CSV, "kpis.csv")
    return JSONResponse({"since": start.isoformat() if start else None, "until": end.isoformat(),
                         "kpis": [k.as_dict() for k in found]})  # fmt: skip


# -- integrity ---------------------------------------------------------------------------------


def _document_verifier(services: Services) -> integrity.DocumentVerifier:
    from gateway.documents.cid import Cid
    from gateway.documents.errors import BlockNotFound, DocumentStoreError

    documents = services.documents

    def verify(cid_text: str) -> tuple[integrity.DocumentState, str | None]:
        try:
            cid = Cid.parse(cid_text)
            documents.verify_content(cid, documents.catalog.get(str(cid)))
        except BlockNotFound as exc:
            return "missing", str(exc)
        except DocumentStoreError as exc:  # a block that no longer hashes to its CID, or a broken DAG
            return "tampered", str(exc)
        return "ok", None

    return verify


@router.post("/integrity", summary="Re-verify anchored documents and compare the index with on-chain state")
def audit_integrity(
    _: AuditorDep,
    services: ServicesDep,
    sample: Annotated[int | None, Query(ge=1, le=100_000, description="objects at random; omit for all")] = None,
    documents: bool = True,
) -> JSONResponse:
    def catch_up() -> int:
        return services.indexer.catch_up().to_block

    report = integrity.audit_integrity(
        services.sessions, services.ledger, _document_verifier(services) if documents else None, sample=sample,
        documents=documents, catch_up=catch_up,
    )  # fmt: skip
    return JSONResponse(report.as_dict())


# -- live feed ---------------------------------------------------------------------------------


@router.get("/feed", summary="Server-Sent Events of new ledger events (resume with Last-Event-ID)")
async def audit_feed(
    request: Request,
    _: AuditorDep,
    services: ServicesDep,
    object_id: Annotated[str | None, Query(pattern=r"^0x[0-9a-fA-F]{64}$")] = None,
    partner_id: Annotated[int | None, Query(ge=0)] = None,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID")] = None,
) -> StreamingResponse:
    where = feed.FeedFilter(object_id.lower() if object_id else None, partner_id)
    if last_event_id is not None and last_event_id.strip():
        cursor = feed.parse_cursor(last_event_id)
    else:
        cursor = await asyncio.to_thread(_head, services)

    async def events() -> AsyncIterator[bytes]:
        position, idle = cursor, 0.0
        yield b": ledger events follow\n\n"
        while not await request.is_disconnected():
            found, position = await asyncio.to_thread(_poll, services, position, where)
            for event in found:
                yield event.sse(json.dumps(event.payload(), default=str))
            if found:
                idle = 0.0
                continue
            await asyncio.sleep(0.2)
            idle += 0.2
            if idle >= 15:
                idle = 0.0
                yield b": keep-alive\n\n"

    return StreamingResponse(events(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})  # fmt: skip


def _head(services: Services) -> tuple[int, int]:
    with services.sessions() as session:
        return feed.head_position(session)


def _poll(services: Services, after: tuple[int, int], where: feed.FeedFilter) -> tuple[list[feed.FeedEvent], Any]:
    with services.sessions() as session:
        return feed.poll(session, after, where)
