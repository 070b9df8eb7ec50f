"""The GS1 Digital Link resolver at the root: ``/01/{gtin}[/22/…][/10/{lot}][/21/{serial}]``.

Only paths under ``/01/`` are served, so nothing here can shadow ``/v1``, ``/ipfs``,
``/api/v0``, ``/health`` or ``/docs``. What a request gets (see
gateway.verification.digital_link.negotiate): the verification JSON (``Accept:
application/json``, ``linkType=gs1:verificationService`` or ``gs1:recallStatus``), the RFC 9264
linkset (``Accept: application/linkset+json`` or ``linkType=all``), the verification page
(browsers, ``linkType=gs1:pip``), or a redirect to the manufacturer's leaflet (``gs1:epil``).
"""

from __future__ import annotations

import json

from fastapi import APIRouter, Request, Response
from fastapi.responses import RedirectResponse

from gateway.api.errors import ProblemError
from gateway.api.routes.verify import (
    RateLimited,
    VerificationDep,
    digital_link_base,
    json_response,
    run_verification,
)
from gateway.api.routes.web import verify_page_response
from gateway.verification.digital_link import LINKSET_JSON, Answer, ResolvedLink, negotiate, resolve_path
from gateway.verification.linkset import build_linkset, link_header
from gateway.verification.products import get_product
from gateway.verification.scans import parse_place
from gateway.verification.service import VerificationService
from gateway.verification.verdict import LabelQuery

__all__ = ["router"]

router = APIRouter(tags=["digital link"])


@router.get(
    "/01/{path:path}",
    dependencies=[RateLimited],
    summary="GS1 Digital Link resolver (verification JSON, linkset or the verification page)",
    responses={
        200: {"content": {"application/json": {}, LINKSET_JSON: {}, "text/html": {}}},
        307: {"description": "Redirect to the leaflet (linkType=gs1:epil)"},
        422: {"description": "Not a valid GS1 Digital Link (problem+json, code gs1.*)"},
    },
)
async def resolve(request: Request, service: VerificationDep, path: str) -> Response:
    del path  # the raw path is parsed instead: it keeps %2F inside values
    raw_path = request.scope.get("raw_path", request.url.path.encode()).decode("latin-1")
    query = request.url.query
    base = digital_link_base(request, service)
    link = resolve_path(base, raw_path, query)
    link_type = request.query_params.get("linkType")
    answer = negotiate(request.headers.get("accept"), link_type)
    headers = {"Link": link_header(link), "Vary": "Accept"}
    if answer is Answer.NOT_FOUND:
        raise ProblemError(
            404,
            "digital_link.link_type_not_found",
            "Not found",
            f"No {link_type!r} link here; try linkType=all.",
        )
    if answer is Answer.LINKSET:
        facts = service.records.gtin(link.gtin)
        body = build_linkset(link, facts, str(request.base_url))
        return Response(json.dumps(body), media_type=LINKSET_JSON, headers=headers)
    if answer is Answer.LEAFLET:
        facts = service.records.gtin(link.gtin)
        if not facts.leaflet_url:
            raise ProblemError(404, "digital_link.link_type_not_found", "Not found", "No leaflet for this product.")
        return RedirectResponse(facts.leaflet_url, status_code=307, headers=headers)
    if answer is Answer.HTML:
        response = verify_page_response(request)
        response.headers.update(headers)
        return response
    return await _json(request, service, link, headers)


async def _json(
    request: Request, service: VerificationService, link: ResolvedLink, headers: dict[str, str]
) -> Response:
    data = link.data
    expiry = None if data.expiry_date is None else data.expiry_date.date
    place = request.query_params.get("place")
    if data.serial is not None:
        label = LabelQuery(link.gtin, data.serial, data.lot, expiry)
        outcome = await run_verification(service, label, place, "digital_link")
        return json_response(outcome.public, headers=headers)
    if data.lot is not None:
        outcome = service.verify_lot(link.gtin, data.lot, expiry, parse_place(place), "digital_link")
        return json_response(outcome.public, headers=headers)
    facts = get_product(service.engine, link.gtin)
    if facts is None:
        raise ProblemError(404, "products.not_found", "Not found", "No public product facts for this GTIN.")
    return json_response(facts, headers=headers)
