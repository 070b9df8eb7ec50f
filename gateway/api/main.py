"""All routers, collected in one place."""

from fastapi import APIRouter

from gateway.api.routes import admin, audit, audit_exports, documents, epcis, health, ipfs, partner

api_router = APIRouter()
api_router.include_router(health.router)
api_router.include_router(partner.router)
api_router.include_router(admin.router)
api_router.include_router(epcis.router)
api_router.include_router(ipfs.router)
api_router.include_router(documents.router)
api_router.include_router(audit_exports.router)
api_router.include_router(audit.router)
