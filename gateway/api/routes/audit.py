"""Auditor ledger inspection under /v1/audit: chain of custody (JSON and a printable report),
backward and forward trace, recall scope and progress — read-only, for auditor (and admin) keys.
Starting a recall is the one write here: a POST by the recalling partner's key, submitted through
the partner outbox like every other operation. The work happens in :mod:`gateway.audit`."""

# No `from __future__ import annotations`: FastAPI resolves the handlers' annotations at runtime.

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Literal

from fastapi import APIRouter, Header, Query, Response
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy.orm import Session

from chain_client import gs1
from gateway.api.deps import AuditorDep, PartnerDep, ServicesDep
from gateway.api.routes.audit_exports import record_duration
from gateway.api.routes.partner import SubmissionPublic
from gateway.audit import custody, recall, trace
from gateway.audit.identifiers import resolve_object_id
from gateway.audit.report_html import render_custody_report
from gateway.core.services import Services
from gateway.partner import operations as ops

__all__ = ["router"]

router = APIRouter(prefix="/v1/audit", tags=["audit"])

ObjectParam = Annotated[
    str,
    Query(
        alias="id",
        min_length=1,
        max_length=2000,
        description="object id (0x…), EPC URN, GS1 Digital Link URI or GS1 element strings",
    ),
]
CompanyPrefixLength = Annotated[int, Query(ge=6, le=12, description="to turn Digital Link/element strings into EPCs")]
MaxDepth = Annotated[int | None, Query(description="edges from the root to follow (0..1000); all by default")]
Since = Annotated[dt.datetime | None, Query(description="keep events at or after this time (ISO 8601; naive = UTC)")]
Until = Annotated[dt.datetime | None, Query(description="keep events at or before this time")]


@contextmanager
def _session(services: Services) -> Iterator[Session]:
    with services.sessions() as session:
        yield session


def _resolve(session: Session, identifier: str, cpl: int, field: str = "id") -> str:
    return resolve_object_id(session, identifier, field=field, company_prefix_length=cpl)


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


# ------------------------------------------------------------------------------------------ custody


class PartnerRef(_Out):
    partner_id: int
    name: str
    role: str


class DocumentLinkPublic(_Out):
    document_id: str
    doc_type: str
    cid: str | None
    url: str | None = Field(description="path of the document on this gateway's /ipfs")
    anchored_at: dt.datetime
    partner_id: int
    shipment_id: int | None
    block_number: int
    tx_hash: str


class CustodyEventPublic(_Out):
    at: dt.datetime
    event: str
    partner: PartnerRef | None
    counterparty: PartnerRef | None
    custodian: PartnerRef | None
    owner: PartnerRef | None
    gln: str | None
    status: str | None
    reason: str | None
    shipment_id: int | None
    container_id: str | None
    documents: list[DocumentLinkPublic]
    block_number: int
    log_index: int
    tx_hash: str


class ObjectSummaryPublic(_Out):
    object_id: str
    kind: str
    epc: str
    gtin: str | None
    serial: str | None
    lot: str | None
    sscc: str | None
    lot_id: str | None
    quantity: int | None
    unit_of_measure: str | None
    expiry_date: dt.date | None
    production_date: dt.date | None
    origin_gln: str | None
    status: str
    own_status: str
    registrant: PartnerRef
    custodian: PartnerRef
    owner: PartnerRef
    parent_id: str | None
    root_id: str
    shipment_id: int | None
    registered_at: dt.datetime


class CustodyChainPublic(_Out):
    object: ObjectSummaryPublic
    events: list[CustodyEventPublic]
    documents: list[DocumentLinkPublic]


@router.get("/custody", response_model=CustodyChainPublic, summary="Chain of custody of one object")
def get_custody(
    identifier: ObjectParam, _: AuditorDep, services: ServicesDep, company_prefix_length: CompanyPrefixLength = 7
) -> CustodyChainPublic:
    with _session(services) as session:
        chain = custody.chain_of_custody(session, _resolve(session, identifier, company_prefix_length))
    return CustodyChainPublic.model_validate(chain)


@router.get(
    "/custody/report",
    response_class=HTMLResponse,
    summary="Chain of custody of one object as a printable HTML report",
    responses={200: {"content": {"text/html": {}}}},
)
def get_custody_report(
    identifier: ObjectParam, _: AuditorDep, services: ServicesDep, company_prefix_length: CompanyPrefixLength = 7
) -> HTMLResponse:
    with _session(services) as session:
        chain = custody.chain_of_custody(session, _resolve(session, identifier, company_prefix_length))
    headers = {"Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'", "Cache-Control": "no-store"}
    return HTMLResponse(render_custody_report(chain), headers=headers)


# ------------------------------------------------------------------------------------------ trace


class TraceObjectPublic(_Out):
    object_id: str
    kind: str
    identifiers: dict[str, str]
    depth: int
    status: str
    custodian: int


class TraceEdgePublic(_Out):
    source: str
    target: str
    relation: str
    at: dt.datetime
    block_number: int
    tx_hash: str
    genealogy_id: str | None


class TraceLocationPublic(_Out):
    gln: str
    partner_id: int | None


class TracePublic(_Out):
    root: str
    direction: str
    max_depth: int | None
    since: dt.datetime | None
    until: dt.datetime | None
    objects: list[TraceObjectPublic]
    edges: list[TraceEdgePublic]
    partners: list[PartnerRef]
    locations: list[TraceLocationPublic]


def _trace(
    direction: Literal["backward", "forward"],
    services: Services,
    identifier: str,
    cpl: int,
    max_depth: int | None,
    since: dt.datetime | None,
    until: dt.datetime | None,
) -> TracePublic:
    trace.validate_window(max_depth, since, until)  # 422 before the identifier is looked up
    run = trace.backward_trace if direction == "backward" else trace.forward_trace
    with _session(services) as session:
        result = run(session, _resolve(session, identifier, cpl), max_depth=max_depth, since=since, until=until)
    return TracePublic.model_validate(result)


@router.get(
    "/trace/backward",
    response_model=TracePublic,
    dependencies=[record_duration("trace")],
    summary="Trace an item or lot back to its sources",
)
def get_backward_trace(
    identifier: ObjectParam,
    _: AuditorDep,
    services: ServicesDep,
    max_depth: MaxDepth = None,
    since: Since = None,
    until: Until = None,
    company_prefix_length: CompanyPrefixLength = 7,
) -> TracePublic:
    return _trace("backward", services, identifier, company_prefix_length, max_depth, since, until)


@router.get(
    "/trace/forward",
    response_model=TracePublic,
    dependencies=[record_duration("trace")],
    summary="Trace a lot forward to everything derived from it",
)
def get_forward_trace(
    identifier: ObjectParam,
    _: AuditorDep,
    services: ServicesDep,
    max_depth: MaxDepth = None,
    since: Since = None,
    until: Until = None,
    company_prefix_length: CompanyPrefixLength = 7,
) -> TracePublic:
    return _trace("forward", services, identifier, company_prefix_length, max_depth, since, until)


# ------------------------------------------------------------------------------------------ recall


class AffectedPublic(_Out):
    object_id: str
    kind: str
    epc: str
    role: str = Field(description="subject (recalled goods), container (holds them now) or co_packed")
    depth: int | None
    status: str
    own_status: str
    registrant: int
    custodian: int
    owner: int
    root_id: str
    parent_id: str | None
    shipment_id: int | None
    pending_receiver: int | None


class HoldingPublic(_Out):
    partner: PartnerRef
    holding: list[str]
    incoming: list[str]


class RecallScopePublic(_Out):
    roots: list[str]
    counts: dict[str, int]
    objects: list[AffectedPublic]
    holdings: list[HoldingPublic] = Field(description="the partners to notify and what each holds now")


def _scope_public(scope: recall.RecallScope) -> RecallScopePublic:
    counts = {role: len(scope.ids(role)) for role in ("subject", "container", "co_packed")}
    return RecallScopePublic(
        roots=scope.roots,
        counts=counts,
        objects=[AffectedPublic.model_validate(o) for o in scope.objects],
        holdings=[HoldingPublic.model_validate(h) for h in scope.holdings],
    )


def _roots(
    session: Session,
    identifiers: list[str] | None,
    gtin: str | None,
    date_from: dt.date | None,
    date_to: dt.date | None,
    basis: Literal["production", "registration"],
    cpl: int,
) -> list[str]:
    if identifiers and gtin is None:
        return [_resolve(session, value, cpl, f"id[{i}]") for i, value in enumerate(identifiers)]
    if gtin is not None and not identifiers:
        valid = gs1.validate_gtin(gtin, field="gtin")
        return recall.objects_of_gtin(session, valid, date_from=date_from, date_to=date_to, basis=basis)
    raise ops.InvalidInput("audit.recall_target", "id", "name the lots by id, or give a gtin (with a date range)")


@router.get(
    "/recalls/scope",
    response_model=RecallScopePublic,
    dependencies=[record_duration("recall_scope")],
    summary="Affected objects and partners of a recall",
)
def get_recall_scope(
    _: AuditorDep,
    services: ServicesDep,
    identifiers: Annotated[list[str] | None, Query(alias="id", description="lots or items (repeatable)")] = None,
    gtin: str | None = None,
    date_from: dt.date | None = None,
    date_to: dt.date | None = None,
    basis: Literal["production", "registration"] = "production",
    company_prefix_length: CompanyPrefixLength = 7,
) -> RecallScopePublic:
    with _session(services) as session:
        roots = _roots(session, identifiers, gtin, date_from, date_to, basis, company_prefix_length)
        return _scope_public(recall.recall_scope(session, roots))


class RecallIn(BaseModel):
    """What to recall: lots or items by identifier, or a GTIN's lots and items in a date range."""

    model_config = ConfigDict(extra="forbid")

    objects: Annotated[list[str], Field(max_length=100)] = []
    gtin: str | None = None
    date_from: dt.date | None = None
    date_to: dt.date | None = None
    basis: Literal["production", "registration"] = "production"
    reason: ops.Reason = Field(min_length=1)
    company_prefix_length: int = Field(default=7, ge=6, le=12)

    @model_validator(mode="after")
    def _one_target(self) -> "RecallIn":
        if bool(self.objects) == (self.gtin is not None):
            raise ValueError("give either objects or a gtin (with a date range)")
        return self


class SkippedPublic(BaseModel):
    object_id: str
    epc: str
    reason: str


class RecallStartedPublic(BaseModel):
    scope: RecallScopePublic
    submissions: list[SubmissionPublic] = Field(description="one recall operation per object, root first")
    skipped: list[SkippedPublic]


@router.post(
    "/recalls",
    status_code=202,
    response_model=RecallStartedPublic,
    summary="Start a recall (the registrant's partner key): recall the lot and everything derived from it",
)
def start_recall(
    body: RecallIn,
    principal: PartnerDep,
    services: ServicesDep,
    response: Response,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key", max_length=120)] = None,
) -> RecallStartedPublic:
    assert principal.partner_id is not None
    with _session(services) as session:
        roots = _roots(
            session, body.objects or None, body.gtin, body.date_from, body.date_to, body.basis,
            body.company_prefix_length,
        )  # fmt: skip
        plan = recall.recall_plan(session, roots, principal.partner_id)
    submissions: list[SubmissionPublic] = []
    skipped = [SkippedPublic(object_id=a.object_id, epc=a.epc, reason=why) for a, why in plan.skipped]
    for obj in plan.to_recall:
        try:
            operation = ops.Recall(object=ops.ObjectRef(epc=obj.epc), reason=body.reason)
            ops.resolve(operation)
        except (gs1.GS1Error, ValueError):
            skipped.append(SkippedPublic(object_id=obj.object_id, epc=obj.epc, reason="epc_not_gs1"))
            continue
        key = f"{idempotency_key}:{obj.object_id}" if idempotency_key else None
        submissions.append(SubmissionPublic.of(services.outbox.submit(principal, operation, key)))
    response.headers["Location"] = f"/v1/audit/recalls/progress?id={roots[0]}"
    return RecallStartedPublic(scope=_scope_public(plan.scope), submissions=submissions, skipped=skipped)


class TrackedPublic(_Out):
    object_id: str
    epc: str
    state: str = Field(description="destroyed, quarantined, returned, dispensed or outstanding")
    custodian: int
    resolved_at: dt.datetime | None


class RecallProgressPublic(BaseModel):
    root: str
    initiated_by: int
    initiated_at: dt.datetime
    reason: str
    counts: dict[str, int]
    completion_percent: float
    completed_at: dt.datetime | None
    time_to_completion_seconds: float | None
    objects: list[TrackedPublic]
    holdings: list[HoldingPublic]


@router.get("/recalls/progress", response_model=RecallProgressPublic, summary="Completion of a recall")
def get_recall_progress(
    identifier: ObjectParam, _: AuditorDep, services: ServicesDep, company_prefix_length: CompanyPrefixLength = 7
) -> RecallProgressPublic:
    with _session(services) as session:
        p = recall.recall_progress(session, _resolve(session, identifier, company_prefix_length))
    ttc = p.time_to_completion.total_seconds() if p.time_to_completion is not None else None
    return RecallProgressPublic(
        root=p.root, initiated_by=p.initiated_by, initiated_at=p.initiated_at, reason=p.reason, counts=p.counts,
        completion_percent=p.completion, completed_at=p.completed_at, time_to_completion_seconds=ttc,
        objects=[TrackedPublic.model_validate(o) for o in p.objects],
        holdings=[HoldingPublic.model_validate(h) for h in p.scope.holdings],
    )  # fmt: skip
