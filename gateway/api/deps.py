"""Dependency shortcuts shared by the routers: settings, chain, services, and who is calling.

FastAPI runs a plain ``def`` dependency in its thread pool, one hop out of the event loop and
back per dependency and request. The dependencies here that do no I/O are ``async def`` so they
run in the loop at no such cost; only :func:`get_principal`, which reads the API key's row, runs
in the pool (with the endpoint, two hops per request instead of four or five).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Header, Request

from gateway.api.errors import ProblemError
from gateway.core.chain import ChainContext
from gateway.core.config import Settings, get_settings
from gateway.core.services import Services
from gateway.partner.apikeys import ApiKeyError, Principal

__all__ = ["AdminDep", "AuditorDep", "ChainDep", "PartnerDep", "ReaderDep", "ServicesDep", "SettingsDep"]


async def get_chain(request: Request) -> ChainContext:
    chain: ChainContext = request.app.state.chain
    return chain


async def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


SettingsDep = Annotated[Settings, Depends(get_settings)]
ChainDep = Annotated[ChainContext, Depends(get_chain)]
ServicesDep = Annotated[Services, Depends(get_services)]


def get_principal(services: ServicesDep, authorization: Annotated[str | None, Header()] = None) -> Principal:
    challenge = {"WWW-Authenticate": "Bearer"}
    if not authorization:
        detail = "Send `Authorization: Bearer <API key>`."
        raise ProblemError(401, "auth.missing_key", "Authentication required", detail, headers=challenge)
    scheme, _, key = authorization.partition(" ")
    if scheme.lower() != "bearer" or not key:
        raise ProblemError(401, "auth.invalid_key", "Invalid credentials", "Use the Bearer scheme.", headers=challenge)
    try:
        return services.api_keys.authenticate(key.strip())
    except ApiKeyError as exc:
        raise ProblemError(
            401, exc.code, "Invalid credentials", str(exc), headers={"WWW-Authenticate": "Bearer"}
        ) from None


def require(scope: str, kind: str | None = None) -> Callable[[Principal], Awaitable[Principal]]:
    async def check(principal: Annotated[Principal, Depends(get_principal)]) -> Principal:
        if kind is not None and principal.kind != kind:
            raise ProblemError(403, "auth.forbidden", "Forbidden", f"This needs a {kind} API key.")
        if not principal.has(scope):
            raise ProblemError(403, "auth.scope", "Forbidden", f"This API key lacks the {scope!r} scope.")
        return principal

    return check


PartnerDep = Annotated[Principal, Depends(require("submit", "partner"))]
ReaderDep = Annotated[Principal, Depends(require("read"))]
AdminDep = Annotated[Principal, Depends(require("admin", "admin"))]


async def require_auditor(principal: Annotated[Principal, Depends(get_principal)]) -> Principal:
    """Auditors (and admins) read the whole ledger; a partner's key sees only its own submissions."""
    if principal.kind not in ("auditor", "admin"):
        raise ProblemError(403, "auth.forbidden", "Forbidden", "This needs an auditor (or admin) API key.")
    if not principal.has("read"):
        raise ProblemError(403, "auth.scope", "Forbidden", "This API key lacks the 'read' scope.")
    return principal


AuditorDep = Annotated[Principal, Depends(require_auditor)]
