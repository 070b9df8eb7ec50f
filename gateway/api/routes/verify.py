"""Public authenticity verification (no account, rate-limited), public product facts, QR codes,
DSCSA product identifier verification, consumer reports, and the suspect view for auditors and
manufacturers. Domain logic lives in gateway.verification; see docs/verification.md."""

from __future__ import annotations

import datetime as dt
import io
import threading
from collections.abc import Mapping
from typing import Annotated, Any, Literal

import segno
from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field, model_validator

from chain_client import gs1
from gateway.api.deps import PartnerDep, get_principal
from gateway.api.errors import ProblemError
from gateway.partner.apikeys import Principal
from gateway.partner.operations import InvalidInput
from gateway.verification import dscsa
from gateway.verification.products import ProductFactsIn, ProductFactsPublic, get_product, put_product
from gateway.verification.ratelimit import TokenBucketLimiter, client_key
from gateway.verification.scans import MAX_REPORT_CHARS, parse_place
from gateway.verification.service import Outcome, VerificationService, parse_label
from gateway.verification.verdict import LabelQuery, VerificationPublic

__all__ = [
    "RateLimited",
    "VerificationDep",
    "answer_now",
    "get_verification",
    "json_response",
    "router",
    "verification_of",
    "verify_query",
]

router = APIRouter(prefix="/v1", tags=["verification"])
_build_lock = threading.Lock()


def verification_of(app: Any) -> VerificationService:
    """The app's verification service, built on first use from its settings and database."""
    service: VerificationService | None = getattr(app.state, "verification", None)
    if service is None:
        with _build_lock:
            service = getattr(app.state, "verification", None)
            if service is None:
                services = app.state.services
                service = VerificationService(services.settings, services.engine)
                app.state.verification = service
    return service


async def get_verification(request: Request) -> VerificationService:
    """:func:`verification_of` as a dependency (async, like :func:`rate_limit`: FastAPI would run
    a sync one in the thread pool)."""
    return verification_of(request.app)


VerificationDep = Annotated[VerificationService, Depends(get_verification)]


def take_token(service: VerificationService, peer: str | None, forwarded_for: str | None) -> None:
    """One token of the client's bucket, else 429 ``rate_limited`` with Retry-After."""
    limiter: TokenBucketLimiter = service.limiter
    client = client_key(peer, forwarded_for, service.settings.verify_trust_forwarded_for)
    wait = limiter.take(client)
    if wait > 0:
        retry = limiter.retry_after(wait)
        raise ProblemError(
            429, "rate_limited", "Too many requests", f"Try again in {retry} s.", headers={"Retry-After": retry}
        )


async def rate_limit(request: Request, service: VerificationDep) -> None:
    take_token(service, request.client.host if request.client else None, request.headers.get("x-forwarded-for"))


RateLimited = Depends(rate_limit)


def json_response(model: BaseModel, status_code: int = 200, headers: dict[str, str] | None = None) -> Response:
    """Serialises once, without FastAPI's second validation pass (the hot path)."""
    return Response(model.model_dump_json(), status_code, headers, media_type="application/json")


async def run_verification(service: VerificationService, label: LabelQuery, place: str | None, channel: str) -> Outcome:
    """Verifies on the event loop when the lookup is cached or the database is a local SQLite file
    (sub-millisecond queries: a thread hop would cost more), else in the thread pool."""
    where = parse_place(place)
    if service.verifies_in_line(label.gtin, label.serial):
        return service.verify(label, where, channel)
    return await run_in_threadpool(service.verify, label, where, channel)


# ------------------------------------------------------------------------------------ verify

_RESPONSES: dict[int | str, dict[str, Any]] = {
    422: {"description": "Invalid GS1 data (problem+json with `code` and `field`)"},
    429: {"description": "Rate limited (problem+json `rate_limited`, Retry-After)"},
}


def _param(name: str, description: str, required: bool = False) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": required, "description": description, "schema": {"type": "string"}}


_VERIFY_PARAMETERS = [
    _param("gtin", "GTIN-8/12/13/14 as on the pack (AI 01)", required=True),
    _param("serial", "Serial number (AI 21)", required=True),
    _param("lot", "Lot or batch (AI 10)"),
    _param("expiry", "Expiry as YYMMDD (AI 17) or YYYY-MM-DD"),
    _param("place", "Coarse place: an ISO country code, optionally with lat,lon (DE or DE;52.5,13.4)"),
]


@router.get(
    "/verify",
    response_model=VerificationPublic,
    responses=_RESPONSES,
    summary="Is this product genuine? (GTIN, serial, lot, expiry as on the pack)",
    openapi_extra={"parameters": _VERIFY_PARAMETERS},
)
async def verify(request: Request) -> Response:
    """Normally answered by :class:`gateway.api.fastpath.VerifyFastPath` before routing; this
    route documents the operation and serves apps built without that middleware."""
    service = await get_verification(request)
    peer = request.client.host if request.client else None
    body = await verify_query(service, request.query_params, peer, request.headers.get("x-forwarded-for"))
    return Response(body, media_type="application/json")


async def verify_query(
    service: VerificationService, query: Mapping[str, str], peer: str | None, forwarded_for: str | None
) -> bytes:
    """``GET /v1/verify``: rate limit, the parameters read and validated by the GS1 rules (no
    parameter model: it costs more than the verification itself), the verification, its JSON.
    Raises ProblemError, GS1Error or InvalidInput for the app's problem+json handlers."""
    take_token(service, peer, forwarded_for)
    gtin, serial = query.get("gtin"), query.get("serial")
    if gtin is None or serial is None:
        missing = [{"field": f"query.{n}", "message": "Field required", "type": "missing"}
                   for n, v in (("gtin", gtin), ("serial", serial)) if v is None]  # fmt: skip
        detail = "The request does not match the schema."
        raise ProblemError(422, "request.invalid", "Invalid request", detail, errors=missing)
    label = parse_label(gtin, serial, query.get("lot"), query.get("expiry"))
    outcome = await run_verification(service, label, query.get("place"), "api")
    return outcome.json()


def answer_now(
    service: VerificationService, query: Mapping[str, str], peer: str | None, forwarded_for: str | None
) -> bytes | None:
    """:func:`verify_query`'s answer when it is a 200 that needs no wait, else None and nothing taken
    (no token, no scan): a missing or invalid parameter, a rate limit, a lookup to read from a
    database other than a local SQLite file. For callers that cannot wait (the HTTP protocol's
    fast path, :mod:`gateway.api.server`); what returns None there is answered by verify_query."""
    gtin, serial = query.get("gtin"), query.get("serial")
    if gtin is None or serial is None:
        return None
    try:  # validated before the token is taken: a refused request is answered by verify_query
        label = parse_label(gtin, serial, query.get("lot"), query.get("expiry"))
        where = parse_place(query.get("place"))
    except (gs1.GS1Error, InvalidInput):
        return None
    if not service.verifies_in_line(label.gtin, label.serial):
        return None
    client = client_key(peer, forwarded_for, service.settings.verify_trust_forwarded_for)
    if service.limiter.take(client) > 0:  # not taken: verify_query answers the 429
        return None
    return service.verify_json(label, where, "api")


class VerifyIn(BaseModel):
    """A label by its fields, or the scanned code: a GS1 Digital Link URI or GS1 element strings."""

    model_config = ConfigDict(extra="forbid")

    gtin: str | None = Field(default=None, max_length=14)
    serial: str | None = Field(default=None, max_length=20)
    lot: str | None = Field(default=None, max_length=20)
    expiry: str | None = Field(default=None, max_length=10)
    digital_link: str | None = Field(default=None, max_length=2000)
    element_string: str | None = Field(default=None, max_length=500)
    place: str | None = Field(default=None, max_length=40)

    @model_validator(mode="after")
    def _one_form(self) -> VerifyIn:
        forms = [self.gtin is not None, self.digital_link is not None, self.element_string is not None]
        if sum(forms) != 1:
            raise ValueError("give exactly one of: gtin (with serial), digital_link, element_string")
        if self.gtin is not None and self.serial is None:
            raise ValueError("with gtin, give serial too")
        return self


def _label_of(body: VerifyIn) -> LabelQuery:
    if body.gtin is not None:
        assert body.serial is not None
        return parse_label(body.gtin, body.serial, body.lot, body.expiry)
    if body.digital_link is not None:
        data = gs1.parse_digital_link(body.digital_link).data
        field = "digital_link"
    else:
        assert body.element_string is not None
        data = gs1.parse_element_strings(body.element_string)
        field = "element_string"
    if data.gtin is None or data.serial is None:
        code: gs1.GS1ErrorCode = "gs1.digital_link" if field == "digital_link" else "gs1.element_string"
        raise gs1.GS1Error(code, field, "the code must carry a GTIN (01) and a serial number (21)")
    return LabelQuery(
        data.gtin.value, data.serial, data.lot, None if data.expiry_date is None else data.expiry_date.date
    )


@router.post(
    "/verify",
    response_model=VerificationPublic,
    responses=_RESPONSES,
    dependencies=[RateLimited],
    summary="Verify by fields, GS1 Digital Link URI or element string",
)
async def verify_post(service: VerificationDep, body: VerifyIn) -> Response:
    outcome = await run_verification(service, _label_of(body), body.place, "api")
    return json_response(outcome.public)


class ReportIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    gtin: str = Field(max_length=14)
    serial: str = Field(max_length=20)
    lot: str | None = Field(default=None, max_length=20)
    expiry: str | None = Field(default=None, max_length=10)
    description: str = Field(min_length=1, max_length=MAX_REPORT_CHARS)
    place: str | None = Field(default=None, max_length=40)


class ReportCreated(BaseModel):
    report_id: str


@router.post(
    "/verify/reports",
    status_code=201,
    response_model=ReportCreated,
    responses=_RESPONSES,
    dependencies=[RateLimited],
    summary="Report a suspect product (anonymous; no contact data)",
)
def report(service: VerificationDep, body: ReportIn) -> ReportCreated:
    label = parse_label(body.gtin, body.serial, body.lot, body.expiry)
    place = parse_place(body.place)
    outcome = service.verify(label, place, "report")
    report_id = service.scans.report(
        gtin=label.gtin, serial=label.serial, lot=label.lot, expiry=label.expiry,
        description=body.description.strip() or body.description, place=place, verdict=outcome.decision.verdict,
    )  # fmt: skip
    return ReportCreated(report_id=report_id)


# ------------------------------------------------------------------------------------ DSCSA


@router.post(
    "/dscsa/verify",
    response_model=dscsa.VerificationResponse,
    responses=_RESPONSES,
    dependencies=[RateLimited],
    summary="DSCSA product identifier verification (GS1 Lightweight Messaging Standard)",
)
def dscsa_verify(service: VerificationDep, body: dscsa.VerificationRequest) -> dscsa.VerificationResponse:
    return service.dscsa(body)


# ------------------------------------------------------------------------------------ products


def _gtin(value: str) -> str:
    return gs1.Gtin(gs1.validate_gtin(value)).value


@router.get(
    "/products/{gtin}",
    response_model=ProductFactsPublic,
    dependencies=[RateLimited],
    summary="What the manufacturer made public about a product",
)
def product(service: VerificationDep, gtin: str) -> ProductFactsPublic:
    found = get_product(service.engine, _gtin(gtin))
    if found is None:
        raise ProblemError(404, "products.not_found", "Not found", "No public product facts for this GTIN.")
    return found


@router.put("/products/{gtin}", response_model=ProductFactsPublic, summary="Set a product's public facts")
def put_product_facts(
    service: VerificationDep, principal: PartnerDep, gtin: str, body: ProductFactsIn
) -> ProductFactsPublic:
    code = _gtin(gtin)
    assert principal.partner_id is not None
    if not service.records.is_registrant(code, principal.partner_id):
        raise ProblemError(
            403, "products.not_registrant", "Forbidden", "Only the partner that registered this GTIN's items may."
        )
    facts = put_product(service.engine, code, body, principal.partner_id)
    service.records.gtins.clear()
    return facts


@router.get(
    "/products/{gtin}/items/{serial:path}/qr",
    dependencies=[RateLimited],
    responses={200: {"content": {"image/png": {}, "image/svg+xml": {}}}, 404: {"description": "Not registered"}},
    summary="QR code of a registered item's GS1 Digital Link",
)
def item_qr(
    request: Request,
    service: VerificationDep,
    gtin: str,
    serial: str,
    format: Literal["png", "svg"] = "svg",
    scale: Annotated[int, Query(ge=1, le=40)] = 8,
) -> Response:
    code, serial = _gtin(gtin), gs1.validate_serial(serial)
    if service.records.item(code, serial).record is None:
        raise ProblemError(404, "verify.not_registered", "Not found", "No registered item has this GTIN and serial.")
    link = gs1.build_digital_link(
        gs1.Gs1Data(gtin=gs1.Gtin(code), serial=serial), base=digital_link_base(request, service)
    )
    qr = segno.make(link, error="m", micro=False)
    out = io.BytesIO()
    qr.save(out, kind=format, scale=scale, border=4)
    media = "image/png" if format == "png" else "image/svg+xml"
    return Response(out.getvalue(), media_type=media, headers={"Cache-Control": "public, max-age=86400"})


def digital_link_base(request: Request, service: VerificationService) -> str:
    """The configured Digital Link base, else this gateway's own URL."""
    return service.settings.digital_link_base or str(request.base_url).rstrip("/")


# ------------------------------------------------------------------------------------ suspects

audit_router = APIRouter(prefix="/v1/audit", tags=["audit"])


class SuspectReportPublic(BaseModel):
    report_id: str
    gtin: str
    serial: str
    lot: str | None
    expiry: dt.date | None
    description: str
    country: str | None
    latitude: float | None
    longitude: float | None
    verdict: str
    reported_at: dt.datetime


class SuspectSerial(BaseModel):
    gtin: str
    serial: str | None
    scans: int
    signals: list[str]
    verdicts: list[str]
    countries: list[str]
    first_scan_at: dt.datetime
    last_scan_at: dt.datetime


class SuspectsPublic(BaseModel):
    scope: Literal["all", "registered_gtins"]
    gtins: list[str] | None  # the GTINs a partner key sees (None: all)
    reports: list[SuspectReportPublic]
    suspect_serials: list[SuspectSerial]


@audit_router.get("/suspects", response_model=SuspectsPublic, summary="Suspect-product reports and clone signals")
def suspects(
    service: VerificationDep,
    principal: Annotated[Principal, Depends(get_principal)],
    since: dt.datetime | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> SuspectsPublic:
    """Auditor and admin keys see everything; a partner key sees the GTINs it registered objects of."""
    if not principal.has("read"):
        raise ProblemError(403, "auth.scope", "Forbidden", "This API key lacks the 'read' scope.")
    gtins: list[str] | None = None
    if principal.kind == "partner":
        assert principal.partner_id is not None
        gtins = service.records.registered_gtins(principal.partner_id)
    start = since or dt.datetime.now(dt.UTC) - dt.timedelta(days=30)
    if start.tzinfo is None:
        start = start.replace(tzinfo=dt.UTC)
    found = service.scans.suspects(gtins, start, limit)
    return SuspectsPublic(scope="all" if gtins is None else "registered_gtins", gtins=gtins, **found)
