"""Partner submissions under /v1: one endpoint per operation, answered 202 with a submission."""

# No `from __future__ import annotations`: the per-operation handlers below are built in a loop
# and FastAPI must see their body types as real classes.

import asyncio
import datetime as dt
import json
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request, Response
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

from chain_client.gs1 import GS1Error
from chain_client.models import SignedCall
from gateway.api.deps import PartnerDep, ReaderDep, ServicesDep
from gateway.partner import operations as ops
from gateway.partner.outbox import SubmissionView

ENDPOINT_PREFIX = "/v1"
router = APIRouter(prefix=ENDPOINT_PREFIX, tags=["partner"])

IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key", max_length=200)]


class SubmissionError(BaseModel):
    code: str
    name: str | None = None
    arguments: dict[str, Any] | None = None
    detail: str | None = None


class SubmissionPublic(BaseModel):
    """A submission and where it stands: pending → submitted → confirmed | failed."""

    id: str
    status: str
    operation: str
    partner_id: int
    mode: str = Field(description="custodial (the gateway signed) or signed (the partner signed, EIP-712)")
    signer: str
    object_ids: list[str]
    tx_hash: str | None
    block_number: int | None
    error: SubmissionError | None
    events: list[dict[str, Any]] | None = Field(description="ledger events the operation caused, once confirmed")
    created_at: dt.datetime
    updated_at: dt.datetime

    @classmethod
    def of(cls, v: SubmissionView) -> "SubmissionPublic":
        return cls(
            id=v.id, status=v.status, operation=v.operation, partner_id=v.partner_id, mode=v.mode, signer=v.signer,
            object_ids=v.object_ids, tx_hash=v.tx_hash, block_number=v.block_number,
            error=SubmissionError(**v.error) if v.error else None,
            events=(v.result or {}).get("events") if v.result else None, created_at=v.created_at,
            updated_at=v.updated_at,
        )  # fmt: skip


def _accepted(response: Response, view: SubmissionView) -> SubmissionPublic:
    response.status_code = 200 if view.replayed else 202
    response.headers["Location"] = f"/v1/submissions/{view.id}"
    if view.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return SubmissionPublic.of(view)


# (path, operation model, summary)
_ENDPOINTS: list[tuple[str, type[BaseModel], str]] = [
    ("/items", ops.RegisterItems, "Commission serialized items (SGTIN)"),
    ("/lots", ops.RegisterLot, "Commission a lot/batch with a quantity"),
    ("/logistic-units", ops.RegisterLogisticUnits, "Commission logistic units (SSCC)"),
    ("/shipments", ops.Ship, "Ship objects to a partner (two-phase custody)"),
    ("/receipts", ops.Receive, "Receive objects shipped to you"),
    ("/rejections", ops.Reject, "Reject objects shipped to you"),
    ("/shipment-cancellations", ops.CancelShipment, "Cancel a shipment before receipt"),
    ("/transfers", ops.Transfer, "Hand custody over in one step (pre-agreed hand-over)"),
    ("/ownership-transfers", ops.TransferOwnership, "Pass ownership (title) without moving goods"),
    ("/aggregations/pack", ops.Pack, "Pack objects into a case or pallet"),
    ("/aggregations/unpack", ops.Unpack, "Unpack objects from a case or pallet"),
    ("/lot-splits", ops.SplitLot, "Split a lot into new lots"),
    ("/lot-merges", ops.MergeLots, "Merge lots into a new lot"),
    ("/transformations", ops.Transform, "Transform inputs into new lots or serialized assemblies"),
    ("/status-changes", ops.SetStatus, "Quarantine, release, expire, dispense or decommission"),
    ("/recalls", ops.Recall, "Recall an object (usually a lot)"),
    ("/document-anchors", ops.AnchorDocument, "Anchor a stored document's CID to an object or shipment"),
]


def _make_handler(model: type[BaseModel]) -> Any:
    def handler(
        body: model,  # type: ignore[valid-type]
        principal: PartnerDep,
        services: ServicesDep,
        response: Response,
        idempotency_key: IdempotencyKey = None,
    ) -> SubmissionPublic:
        return _accepted(response, services.outbox.submit(principal, body, idempotency_key))

    return handler


for _path, _model, _summary in _ENDPOINTS:
    router.add_api_route(
        _path,
        _make_handler(_model),
        methods=["POST"],
        status_code=202,
        response_model=SubmissionPublic,
        summary=_summary,
        name=_model.__name__,
    )


class BatchIn(BaseModel):
    """Several operations at once; each becomes its own submission (accepted or rejected whole)."""

    operations: Annotated[list[ops.Operation], Field(min_length=1, max_length=1000)]


@router.post("/batch", status_code=202, response_model=list[SubmissionPublic], summary="Submit many operations")
def submit_batch(
    body: BatchIn,
    principal: PartnerDep,
    services: ServicesDep,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> list[SubmissionPublic]:
    for index, op in enumerate(body.operations):  # validate every field first: nothing is stored if one is bad
        try:
            ops.resolve(op)
        except (GS1Error, ops.InvalidInput) as exc:
            exc.field = f"operations[{index}].{exc.field}"  # name the field within the whole request
            raise
    views = services.outbox.submit_batch(principal, body.operations, idempotency_key)
    if views and views[0].replayed:
        response.status_code = 200
        response.headers["Idempotent-Replayed"] = "true"
    return [SubmissionPublic.of(v) for v in views]


class SignedCallIn(BaseModel):
    """A ledger call signed by the partner's own key (EIP-712 PartnerCall, see `custody sign`)."""

    signer: str = Field(pattern=r"^0x[0-9a-fA-F]{40}$")
    data: str = Field(pattern=r"^0x([0-9a-fA-F]{2})+$")
    nonce: int = Field(ge=0)
    deadline: int = Field(gt=0)
    signature: str = Field(pattern=r"^0x[0-9a-fA-F]{130}$")


@router.post("/signed-calls", status_code=202, response_model=SubmissionPublic, summary="Relay a partner-signed call")
def relay_signed(
    body: SignedCallIn,
    principal: PartnerDep,
    services: ServicesDep,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> SubmissionPublic:
    call = SignedCall(body.signer, bytes.fromhex(body.data[2:]), body.nonce, body.deadline,
                      bytes.fromhex(body.signature[2:]))  # fmt: skip
    return _accepted(response, services.outbox.submit_signed(principal, call, idempotency_key))


class RelayNoncePublic(BaseModel):
    """The relay nonce to sign a signer's next call with (EIP-712 PartnerCall ``nonce``)."""

    signer: str
    nonce: int = Field(description="sign the next call with this nonce")
    chain_nonce: int = Field(description="the CustodyRelay contract's nonce of the signer")
    in_outbox: int = Field(description="calls of the signer accepted here at or past chain_nonce, not yet mined")
    chain_id: int
    relay: str = Field(description="CustodyRelay address (the EIP-712 verifying contract)")


@router.get("/signed-calls/nonce", response_model=RelayNoncePublic, summary="A signer's next relay nonce")
def relay_nonce(
    principal: ReaderDep,
    services: ServicesDep,
    signer: Annotated[str, Query(pattern=r"^0x[0-9a-fA-F]{40}$")],
) -> RelayNoncePublic:
    n = services.outbox.next_nonce(principal, signer)
    return RelayNoncePublic(signer=n.signer, nonce=n.nonce, chain_nonce=n.chain_nonce, in_outbox=n.in_outbox,
                            chain_id=n.chain_id, relay=n.relay)  # fmt: skip


@router.get("/submissions/{submission_id}", response_model=SubmissionPublic, summary="A submission's status")
def get_submission(submission_id: str, principal: ReaderDep, services: ServicesDep) -> SubmissionPublic:
    return SubmissionPublic.of(services.outbox.get(principal, submission_id))


@router.get("/submissions", response_model=list[SubmissionPublic], summary="Recent submissions")
def list_submissions(
    principal: ReaderDep, services: ServicesDep, status: str | None = None, limit: int = 100
) -> list[SubmissionPublic]:
    return [SubmissionPublic.of(v) for v in services.outbox.list(principal, status, min(max(limit, 1), 1000))]


@router.get("/submissions/{submission_id}/events", summary="Server-Sent Events of a submission's status")
async def stream_submission(
    submission_id: str, principal: ReaderDep, services: ServicesDep, request: Request
) -> StreamingResponse:
    first = services.outbox.get(principal, submission_id)  # 404/403 before the stream starts

    async def events() -> AsyncIterator[bytes]:
        last: tuple[str, Any] | None = None
        view = first
        while True:
            state = (view.status, view.updated_at)
            if state != last:
                last = state
                payload = SubmissionPublic.of(view).model_dump(mode="json")
                yield f"event: status\ndata: {json.dumps(payload)}\n\n".encode()
            if view.status in ("confirmed", "failed") or await request.is_disconnected():
                return
            await asyncio.sleep(0.1)
            view = await asyncio.to_thread(services.outbox.get, principal, submission_id)

    return StreamingResponse(events(), media_type="text/event-stream", headers={"Cache-Control": "no-store"})


class WebhookIn(BaseModel):
    url: str = Field(pattern=r"^https?://", max_length=500)


class WebhookPublic(BaseModel):
    id: int
    url: str
    secret: str = Field(description="HMAC-SHA256 key of the X-Custody-Signature header; shown once")


@router.post("/webhooks", status_code=201, response_model=WebhookPublic, summary="Push status changes to a URL")
def add_webhook(body: WebhookIn, principal: PartnerDep, services: ServicesDep) -> WebhookPublic:
    assert principal.partner_id is not None
    hook_id, secret = services.notifier.add_webhook(principal.partner_id, body.url)
    return WebhookPublic(id=hook_id, url=body.url, secret=secret)
