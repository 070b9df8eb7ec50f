"""Administration under /v1/admin: partners (on chain) and API keys. Needs an admin API key."""

import datetime as dt
from typing import Annotated, Literal

from fastapi import APIRouter
from pydantic import BaseModel, Field

from chain_client.events import PartnerAccountAdded
from chain_client.models import PartnerRole
from chain_client.signers import LocalSigner
from gateway.api.deps import AdminDep, ServicesDep
from gateway.api.errors import ProblemError
from gateway.partner.apikeys import CreatedKey
from gateway.partner.directory import onboard_partner

router = APIRouter(prefix="/v1/admin", tags=["admin"])

RoleName = Literal["manufacturer", "distributor", "dispenser", "auditor"]
Address = Annotated[str, Field(pattern=r"^0x[0-9a-fA-F]{40}$")]


class PartnerIn(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    role: RoleName
    glns: list[str] = Field(default=[], max_length=100)
    accounts: list[Address] = Field(default=[], max_length=20, description="the partner's own signing accounts")
    custodial: bool = Field(default=True, description="the gateway creates and holds a key for the partner")


class ApiKeyPublic(BaseModel):
    id: int
    key: str | None = Field(default=None, description="the secret: shown once, at creation")
    prefix: str
    kind: str
    partner_id: int | None
    scopes: list[str]
    created_at: dt.datetime | None = None
    revoked_at: dt.datetime | None = None

    @classmethod
    def created(cls, k: CreatedKey) -> "ApiKeyPublic":
        return cls(id=k.id, key=k.key, prefix=k.prefix, kind=k.kind, partner_id=k.partner_id, scopes=list(k.scopes))


class PartnerPublic(BaseModel):
    partner_id: int
    name: str
    role: RoleName
    accounts: list[str]
    custodial_account: str | None
    api_key: ApiKeyPublic
    tx_hash: str


@router.post("/partners", status_code=201, response_model=PartnerPublic, summary="Onboard a partner")
def create_partner(body: PartnerIn, _: AdminDep, services: ServicesDep) -> PartnerPublic:
    p = onboard_partner(services, body.name, PartnerRole[body.role.upper()], body.glns, body.accounts, body.custodial)
    return PartnerPublic(
        partner_id=p.partner_id, name=p.name, role=body.role, accounts=p.accounts,
        custodial_account=p.custodial_account, api_key=ApiKeyPublic.created(p.api_key), tx_hash=p.tx_hash,
    )  # fmt: skip


class AccountIn(BaseModel):
    account: Address | None = Field(default=None, description="omit to have the gateway create a custodial key")


class AccountPublic(BaseModel):
    partner_id: int
    account: str
    custodial: bool
    tx_hash: str


@router.post("/partners/{partner_id}/accounts", status_code=201, response_model=AccountPublic, summary="Add a key")
def add_account(partner_id: int, body: AccountIn, _: AdminDep, services: ServicesDep) -> AccountPublic:
    key = None if body.account else LocalSigner.generate()
    if key is not None:
        services.keyring.require_passphrase()
    account = body.account or key.address  # type: ignore[union-attr]
    result = services.admin_ledger.add_partner_account(partner_id, account)
    services.keyring.owners.forget(account)  # accepting reads the ledger's new answer
    if key is not None:
        services.keyring.create(partner_id, key.private_key)
    added = result.of(PartnerAccountAdded)[0]
    return AccountPublic(
        partner_id=partner_id, account=added.account, custodial=key is not None, tx_hash=result.tx_hash
    )


@router.delete("/partners/{partner_id}/accounts/{account}", status_code=204, summary="Remove a key")
def remove_account(partner_id: int, account: Address, _: AdminDep, services: ServicesDep) -> None:
    if services.ledger.partner_of(account) != partner_id:  # the ledger removes it from whoever holds it
        raise LookupError(f"Partner {partner_id} has no account {account}.")
    services.admin_ledger.remove_partner_account(account)
    services.keyring.owners.forget(account)  # accepting reads the ledger's new answer


@router.post("/partners/{partner_id}/suspend", status_code=204, summary="Suspend a partner")
def suspend(partner_id: int, _: AdminDep, services: ServicesDep) -> None:
    services.admin_ledger.set_partner_active(partner_id, False)


@router.post("/partners/{partner_id}/reinstate", status_code=204, summary="Reinstate a partner")
def reinstate(partner_id: int, _: AdminDep, services: ServicesDep) -> None:
    services.admin_ledger.set_partner_active(partner_id, True)


class ApiKeyIn(BaseModel):
    kind: Literal["partner", "auditor", "admin"]
    partner_id: int | None = None
    scopes: list[Literal["submit", "read", "admin"]] | None = None
    name: str = ""


@router.post("/api-keys", status_code=201, response_model=ApiKeyPublic, summary="Create an API key")
def create_key(body: ApiKeyIn, _: AdminDep, services: ServicesDep) -> ApiKeyPublic:
    try:
        created = services.api_keys.create(body.kind, body.partner_id, tuple(body.scopes) if body.scopes else None,
                                           body.name)  # fmt: skip
    except ValueError as exc:
        raise ProblemError(422, "auth.invalid_key_request", "Invalid key request", str(exc)) from None
    return ApiKeyPublic.created(created)


@router.get("/api-keys", response_model=list[ApiKeyPublic], summary="List API keys (never their secrets)")
def list_keys(_: AdminDep, services: ServicesDep, partner_id: int | None = None) -> list[ApiKeyPublic]:
    return [
        ApiKeyPublic(
            id=r.id,
            prefix=r.prefix,
            kind=r.kind,
            partner_id=r.partner_id,
            scopes=r.scopes.split(),
            created_at=r.created_at,
            revoked_at=r.revoked_at,
        )
        for r in services.api_keys.list(partner_id)
    ]


@router.post("/api-keys/{key_id}/revoke", status_code=204, summary="Revoke an API key")
def revoke_key(key_id: int, _: AdminDep, services: ServicesDep) -> None:
    if not services.api_keys.revoke(key_id):
        raise LookupError(f"No active API key {key_id}.")


@router.post("/api-keys/{key_id}/rotate", status_code=201, response_model=ApiKeyPublic, summary="Rotate an API key")
def rotate_key(key_id: int, _: AdminDep, services: ServicesDep) -> ApiKeyPublic:
    return ApiKeyPublic.created(services.api_keys.rotate(key_id))
