"""All routers, collected in one place."""

from fastapi import APIRouter

from gateway.api.routes import (
    admin,
    audit,
    audit_exports,
    digital_link,
    documents,
    epcis,
    health,
    ipfs,
    partner,
    verify,
    web,
)

api_router = APIRouter()
api_router.include_router(health.router)
api_router.include_router(verify.router)
api_router.include_router(verify.audit_router)
api_router.include_router(digital_link.router)
api_router.include_router(partner.router)
api_router.include_router(admin.router)
api_router.include_router(epcis.router)
api_router.include_router(ipfs.router)
api_router.include_router(documents.router)
api_router.include_router(web.router)
api_router.include_router(audit_exports.router)
api_router.include_router(audit.router)
